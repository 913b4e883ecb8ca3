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
void ref_softmax(clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale, const void *x,
                 double *y);

/*
 * ref_softmax with the options of clsm_softmax_host_ex (their host tensors;
 * NULL options is ref_softmax): masks, causal window, sinks and stats_in. y
 * may be NULL. stats, if not NULL, receives each slice's (max, sum) at
 * 2*(o*inner + i) with the contract's special values; the max is formed as
 * the compute type forms u (so it can be checked exactly), the sum from exact u.
 */
void ref_softmax_ex(clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale,
                    const clsm_options *options, const void *x, double *y, double *stats);

/*
 * u of every element (outer*axis*inner of dtype) as the compute type forms it, which the
 * sampling entry points rank and weigh: scale*x rounded there, then the cap, an additive
 * mask and ALiBi's bias as the options apply them, -inf where an option masks the entry.
 * Where ref_softmax_ex keeps scale*x exact, this rounds it, so that the order of the entries
 * and their ties are the kernels'.
 */
void ref_logits(clsm_dtype dtype, clsm_shape shape, double scale, const clsm_options *options,
                const void *x, double *u);

/*
 * The gradient of softmax or log-softmax with respect to x, from the forward
 * output y and the upstream gradient dy (outer*axis*inner elements of dtype),
 * into dx as doubles, with the contract's rules: a NaN slice of y or dy gives
 * NaN everywhere in that slice; products with a zero factor from y (softmax
 * y_k = 0, log-softmax exp(y_k) = 0 in the compute type) count as 0; softmax
 * dx_j = 0 where y_j = 0; scale 0 gives 0. bound receives each element's
 * tolerance: the contract's (1e-5*|scale|*B_j for F32, 1e-13 for F64, plus
 * one unit in the last place of the dtype for F16/BF16), with a floor of a
 * few of the compute type's smallest subnormals, scaled by the factors they
 * may meet, for results in the subnormal range. A bound of 0 asks for the
 * reference exactly (zeros forced by a rule or by zero data); infinities and
 * NaN are always asked exactly.
 */
void ref_softmax_backward(clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale,
                          const void *y, const void *dy, double *dx, double *bound);

/*
 * ref_softmax_backward with the options of clsm_softmax_backward_host_ex (their host
 * tensors; NULL options is ref_softmax_backward): dx_j and its bound times the cap's
 * derivative 1 - tanh^2(u_j/softcap), u_j = scale*x_j as the compute type forms it (x is read
 * only with softcap > 0), and dx_j = 0 exactly, whatever y, dy and x hold, at each entry an
 * option masks to -inf (a keep-mask's 0, an additive -inf, causal, window, kv_lengths, which
 * are clamped to [0, axis]). The sums still take every entry.
 */
void ref_softmax_backward_ex(clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale,
                             const clsm_options *options, const void *x, const void *y,
                             const void *dy, double *dx, double *bound);

/*
 * What the options of ref_softmax_backward_ex make of each element's dx, for oracles of
 * their own: drop[i] 1 where an option masks the entry to -inf (dx_i is +0), else 0, and
 * factor[i] the cap's derivative there as ref_softmax_backward_ex takes it (1 without a cap,
 * 0 where dropped).
 */
void ref_backward_factors(clsm_dtype dtype, clsm_shape shape, double scale,
                          const clsm_options *options, const void *x, unsigned char *drop,
                          double *factor);

#endif
