/* Correctness: results against an f64 reference, in the contract's F32 error bounds. */
#ifndef BENCH_CHECK_H
#define BENCH_CHECK_H

#include <stddef.h>

#include <clsoftmax.h>

/* The contract's F32 bounds against an f64 reference. */
#define TOL 1e-5
#define TINY_REF 1e-30
#define TINY_ABS 1e-35
/* The backward bound's absolute floor, for results in f32's subnormal range. */
#define BACKWARD_FLOOR 0x1p-147

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

/* The backward pass (dx from y and dy) against an f64 reference of the contract's rule, with
 * its F32 bound |dx_j - ref_j| <= TOL*|scale|*B_j + BACKWARD_FLOOR*(|scale| + 1), where B_j is
 * |y_j|*(|dy_j| + sum_k |dy_k*y_k|) for softmax and |dy_j| + exp(y_j)*sum_k |dy_k| for
 * log-softmax, times the cap's factor 1 - tanh^2(scale*x_j/softcap) with soft-capping.
 * max_err is the largest |dx_j - ref_j| / (|scale|*B_j), so that it too compares against
 * TOL. A slice with a NaN in y or dy must be NaN throughout. opt (NULL: the plain call) as
 * for check(); an entry it masks must be exactly 0. x is read only with softcap. */
check_result check_backward(clsm_op op, clsm_shape s, float scale, const clsm_options *opt,
                            const float *x, const float *y, const float *dy, const float *dx);

#endif
