/* The single f64 reference of the clsoftmax contract, against which every result is checked. */
#include "reference.h"

#include <math.h>
#include <stdbool.h>

#include "support.h"

/*
 * Sums and exponentials run in long double with compensated summation, so
 * the reference stays far more accurate than the 1e-13 asked of F64 results
 * even for 2^24-element slices. For F32/F16/BF16 data scale*x needs at most
 * 48 bits, so it is exact here, as it would be in plain double.
 */
typedef struct slice {
    clsm_dtype dtype;
    const void *x;
    double *y;
    size_t base, stride, axis;
    long double scale;
} slice;

static long double scaled(const slice *s, size_t j)
{
    return s->scale * (long double)ts_load(s->dtype, s->x, s->base + j * s->stride);
}

static void put(const slice *s, size_t j, long double v)
{
    s->y[s->base + j * s->stride] = (double)v;
}

static void ref_slice(clsm_op op, const slice *s)
{
    bool has_nan = false;
    for (size_t j = 0; j < s->axis; j++)
        has_nan |= isnan(ts_load(s->dtype, s->x, s->base + j * s->stride)) != 0;
    if (has_nan) {
        for (size_t j = 0; j < s->axis; j++)
            put(s, j, NAN);
        return;
    }

    /* The limit of scale -> 0 is uniform, also where scale*x would be 0*inf. */
    if (s->scale == 0) {
        long double n = (long double)s->axis;
        for (size_t j = 0; j < s->axis; j++)
            put(s, j, op == CLSM_SOFTMAX ? 1.0L / n : -logl(n));
        return;
    }

    size_t n_pos_inf = 0;
    long double m = -INFINITY;
    for (size_t j = 0; j < s->axis; j++) {
        long double t = scaled(s, j);
        n_pos_inf += t == INFINITY;
        if (t > m)
            m = t;
    }

    if (n_pos_inf > 0) {
        long double k = (long double)n_pos_inf;
        for (size_t j = 0; j < s->axis; j++) {
            bool hit = scaled(s, j) == INFINITY;
            if (op == CLSM_SOFTMAX)
                put(s, j, hit ? 1.0L / k : 0.0L);
            else
                put(s, j, hit ? -logl(k) : -INFINITY);
        }
        return;
    }

    if (m == -INFINITY) {
        for (size_t j = 0; j < s->axis; j++)
            put(s, j, op == CLSM_SOFTMAX ? 0.0L : -INFINITY);
        return;
    }

    /* Neumaier summation: every term is in [0, 1] and one of them is 1. */
    long double sum = 0, comp = 0;
    for (size_t j = 0; j < s->axis; j++) {
        long double e = expl(scaled(s, j) - m);
        long double t = sum + e;
        comp += fabsl(sum) >= fabsl(e) ? (sum - t) + e : (e - t) + sum;
        sum = t;
    }
    sum += comp;

    long double log_sum = logl(sum);
    for (size_t j = 0; j < s->axis; j++) {
        long double d = scaled(s, j) - m;
        put(s, j, op == CLSM_SOFTMAX ? expl(d) / sum : d - log_sum);
    }
}

void ref_softmax(clsm_op op, clsm_dtype dtype, clsm_shape shape, float scale, const void *x,
                 double *y)
{
    slice s = {dtype, x, y, 0, shape.inner, shape.axis, scale};
    for (size_t o = 0; o < shape.outer; o++) {
        for (size_t i = 0; i < shape.inner; i++) {
            s.base = o * shape.axis * shape.inner + i;
            ref_slice(op, &s);
        }
    }
}
