/* Correctness: results against an f64 reference, in the contract's F32 error bounds. */
#ifndef BENCH_CHECK_H
#define BENCH_CHECK_H

#include <stddef.h>

#include <clsoftmax.h>

/* The contract's F32 bounds against an f64 reference. */
#define TOL 1e-5
#define TINY_REF 1e-30
#define TINY_ABS 1e-35

typedef struct check_result {
    double max_err;
    size_t bad; /* elements outside the bound */
} check_result;

/* Errors in the contract's metric (softmax: relative; log-softmax: absolute over
 * max(1, |ref|)), so both compare against TOL. NaN output counts as bad. A masked entry's
 * reference is 0 (softmax: the tiny-reference bound) or -inf (log-softmax: only -inf matches,
 * and adds nothing to max_err).
 * opt: NULL for the plain call, else the call's options as far as the benchmark uses them:
 * batch, heads, rows, causal, causal_offset, and a CLSM_MASK_ADD_F16 mask read from
 * mask.host with mask_stride. */
check_result check(clsm_op op, clsm_shape s, const clsm_options *opt, const float *x,
                   const float *y);

#endif
