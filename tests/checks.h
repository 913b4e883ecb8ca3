/* The comparisons every test makes: results against the f64 reference with the contract's bounds, bitwise equality, sentinels and statistics. No Criterion. */
#ifndef CLSM_TEST_CHECKS_H
#define CLSM_TEST_CHECKS_H

#include "values.h"

/* The outcome of a check: ok, or a message naming the first bad element. */
typedef struct ts_report {
    bool ok;
    char msg[512];
} ts_report;

/*
 * Checks a result against expected f64 values with the contract's bounds:
 * NaN (as the canonical NaN), infinities and zeros exactly; F32 softmax relative 1e-5 (absolute
 * 1e-35 below 1e-30), F32 log-softmax absolute 1e-5*max(1,|ref|); F64 the
 * same with 1e-13 (absolute 1e-300 below 1e-290); F16/BF16 at most one unit
 * in the last place from the reference rounded to nearest even. On an axis
 * of length 1 every element must equal the reference exactly (softmax 1,
 * log-softmax 0, or the special values).
 */
ts_report ts_check(clsm_op op, clsm_dtype dtype, clsm_shape shape, const void *got,
                   const double *expected);
/* ts_check with allowance added to the relative bound of softmax and the absolute one of
 * log-softmax (F16/BF16: one unit from the rounding of any value it admits). */
ts_report ts_check_within(clsm_op op, clsm_dtype dtype, clsm_shape shape, const void *got,
                          const double *expected, double allowance);
/* The contract's allowance for soft-capping, 8*eps*softcap (eps of the compute type), or 0
 * without it: the compute type's tanh is free to differ from the reference's. */
double ts_softcap_allowance(clsm_dtype dtype, const clsm_options *o);
/*
 * Checks a backward result against ref_softmax_backward's values and bounds:
 * NaN as the canonical NaN, infinities exactly, every other element within
 * its bound (exactly where the bound is 0).
 */
ts_report ts_check_backward(clsm_dtype dtype, clsm_shape shape, const void *got,
                            const double *expected, const double *bound);
/* Checks that a and b hold the same bytes. */
ts_report ts_check_identical(clsm_dtype dtype, size_t n, const void *got, const void *want);
/* Checks that every byte is TS_SENTINEL_BYTE. */
ts_report ts_check_sentinel(const void *p, size_t bytes);
/*
 * Checks per-slice (max, sum) statistics of a call of dtype (f32 pairs, f64
 * for F64) against the reference's: the max exactly (it is one u as the
 * compute type forms it), the sum within relative 1e-5 (1e-13 for F64), NaN
 * as the canonical NaN.
 */
ts_report ts_check_stats(clsm_dtype dtype, size_t slices, const void *got, const double *want);
/* ts_check_stats with the max within allowance and the sum within 2*allowance more. */
ts_report ts_check_stats_within(clsm_dtype dtype, size_t slices, const void *got,
                                const double *want, double allowance);
/* Checks that no element is NaN. */
ts_report ts_check_no_nan(clsm_dtype dtype, size_t n, const void *p);

/* "item softmax F32 [3,257,1] scale=0.5" into buf. */
void ts_describe(char *buf, size_t size, const char *config, clsm_op op, clsm_dtype dtype,
                 clsm_shape shape, double scale);

#endif
