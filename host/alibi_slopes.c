/* clsm_alibi_slopes: the per-head ALiBi slopes, computed on the host for the caller to pass. */
#include <math.h>

#include "internal.h"

/* The largest power of two not above heads (heads > 0). */
static size_t power_of_two_below(size_t heads)
{
    size_t n = 1;
    while (n <= heads / 2)
        n *= 2;
    return n;
}

/* m0^(h+1) and m1^(2(h-n)+1) as one exp2 of the exponent they reach: pow of a rounded m0
 * would multiply m0's rounding error by the power, up to heads_total, past F64's 1e-13 from a
 * few thousand heads on. The exponent's one rounding moves the result by at most
 * |exponent|*ln(2)*2^-53, under 1e-13 wherever the result is a normal double; the divisor is
 * a power of two, so the division adds none. */
static double slope(size_t head, size_t n, double max_bias)
{
    if (head < n)
        return exp2(-(max_bias * (double)(head + 1)) / (double)n);
    return exp2(-(max_bias * (double)(2 * (head - n) + 1)) / (2.0 * (double)n));
}

clsm_status clsm_alibi_slopes(clsm_dtype dtype, size_t heads_total, double max_bias,
                              size_t first_head, size_t count, void *slopes)
{
    if (dtype != CLSM_F32 && dtype != CLSM_F16 && dtype != CLSM_BF16 && dtype != CLSM_F64)
        return CLSM_ERROR_INVALID_ARGUMENT;
    /* Written so that NaN is refused as well. */
    if (heads_total == 0 || !(isfinite(max_bias) && max_bias > 0))
        return CLSM_ERROR_INVALID_ARGUMENT;
    /* first_head + count could wrap around. */
    if (first_head > heads_total || count > heads_total - first_head)
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (count == 0)
        return CLSM_SUCCESS;
    if (!slopes)
        return CLSM_ERROR_INVALID_ARGUMENT;
    const size_t n = power_of_two_below(heads_total);
    if (dtype == CLSM_F64) {
        double *out = slopes;
        for (size_t i = 0; i < count; ++i)
            out[i] = slope(first_head + i, n, max_bias);
    } else {
        float *out = slopes;
        for (size_t i = 0; i < count; ++i)
            out[i] = (float)slope(first_head + i, n, max_bias);
    }
    return CLSM_SUCCESS;
}
