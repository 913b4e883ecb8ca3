/* The single f64 reference of the clsoftmax contract, against which every result is checked. */
#ifndef CLSM_TEST_REFERENCE_H
#define CLSM_TEST_REFERENCE_H

#include <clsoftmax.h>

/*
 * Softmax or log-softmax of x (outer*axis*inner elements of dtype, along the
 * middle dimension) into y as doubles, following every rule of the contract:
 * NaN slices, +inf mass sharing, fully masked slices and the uniform result
 * of a zero scale. scale*x is formed exactly for F32/F16/BF16 data.
 */
void ref_softmax(clsm_op op, clsm_dtype dtype, clsm_shape shape, float scale, const void *x,
                 double *y);

/*
 * ref_softmax with the options of clsm_softmax_host_ex (their host tensors;
 * NULL options is ref_softmax): masks, causal window, sinks and stats_in. y
 * may be NULL. stats, if not NULL, receives each slice's (max, sum) at
 * 2*(o*inner + i) with the contract's special values; the max is formed as
 * the compute type forms u (so it can be checked exactly), the sum from exact u.
 */
void ref_softmax_ex(clsm_op op, clsm_dtype dtype, clsm_shape shape, float scale,
                    const clsm_options *options, const void *x, double *y, double *stats);

#endif
