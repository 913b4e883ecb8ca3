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

#endif
