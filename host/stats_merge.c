/* clsm_stats_merge: (max, sum) pairs of two parts of a slice merged into those of the whole. */
#include <math.h>

#include "internal.h"

/* In double for f32 pairs, so that the f32 result is rounded once. */
static void merge_pair(double a_max, double a_sum, double b_max, double b_sum, double *max,
                       double *sum)
{
    if (isnan(a_max) || isnan(a_sum) || isnan(b_max) || isnan(b_sum)) {
        *max = *sum = NAN;
        return;
    }
    double m = a_max > b_max ? a_max : b_max;
    double s = 0;
    /* A -inf side adds 0; an infinite max keeps only the sums of the sides that reach it,
     * where exp(inf - inf) would be NaN. */
    if (a_max != -INFINITY)
        s += isinf(m) ? (a_max == m ? a_sum : 0) : a_sum * exp(a_max - m);
    if (b_max != -INFINITY)
        s += isinf(m) ? (b_max == m ? b_sum : 0) : b_sum * exp(b_max - m);
    *max = m;
    *sum = s;
}

void clsm_stats_merge(clsm_dtype dtype, size_t count, const void *in, void *inout)
{
    if (!in || !inout)
        return;
    double m, s;
    if (dtype == CLSM_F64) {
        const double *a = in;
        double *b = inout;
        for (size_t i = 0; i < count; ++i) {
            merge_pair(a[2 * i], a[2 * i + 1], b[2 * i], b[2 * i + 1], &m, &s);
            b[2 * i] = m;
            b[2 * i + 1] = s;
        }
    } else if (dtype == CLSM_F32 || dtype == CLSM_F16 || dtype == CLSM_BF16) {
        const float *a = in;
        float *b = inout;
        for (size_t i = 0; i < count; ++i) {
            merge_pair(a[2 * i], a[2 * i + 1], b[2 * i], b[2 * i + 1], &m, &s);
            b[2 * i] = (float)m;
            b[2 * i + 1] = (float)s;
        }
    }
}
