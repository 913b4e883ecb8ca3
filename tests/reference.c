/* The single f64 reference of the clsoftmax contract, against which every result is checked. */
#include "reference.h"

#include <math.h>
#include <stdbool.h>

#include "support.h"

/*
 * Sums and exponentials run in long double with compensated summation, so
 * the reference stays far more accurate than the 1e-13 asked of F64 results
 * even for 2^24-element slices. scale*x is kept exactly as a pair hi + lo of
 * doubles (lo = 0 for F32/F16/BF16 data, whose products fit in a double), so
 * differences to the max stay exact however large the products are, unless the
 * product overflows the compute type. The sum
 * is kept as 1 + rest, the max's own term apart, so that log-softmax near 0
 * comes from log1p(rest) and keeps its relative precision.
 */
typedef struct slice {
    clsm_dtype dtype;
    const void *x;
    double *y;
    size_t base, stride, axis;
    double scale;
} slice;

/* scale*x exactly, as hi + lo; an infinity where the product overflows the compute type,
 * as the contract forms it there (f32 for F32/F16/BF16, whose products fit in a double). */
typedef struct product {
    double hi, lo;
} product;

static product scaled(const slice *s, size_t j)
{
    double v = ts_load(s->dtype, s->x, s->base + j * s->stride);
    product p = {s->scale * v, 0};
    if (s->dtype != CLSM_F64 && isinf((float)p.hi))
        p.hi = (float)p.hi;
    if (isfinite(p.hi))
        p.lo = fma(s->scale, v, -p.hi);
    return p;
}

static bool product_greater(product a, product b)
{
    return a.hi > b.hi || (a.hi == b.hi && a.lo > b.lo);
}

/* a - b for finite products; exact whenever the result is not far below -1e4. */
static long double product_minus(product a, product b)
{
    return ((long double)a.hi - b.hi) + ((long double)a.lo - b.lo);
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

    size_t n_pos_inf = 0, argmax = 0;
    for (size_t j = 0; j < s->axis; j++) {
        product t = scaled(s, j);
        n_pos_inf += t.hi == INFINITY;
        if (product_greater(t, scaled(s, argmax)))
            argmax = j;
    }
    product m = scaled(s, argmax);

    if (n_pos_inf > 0) {
        long double k = (long double)n_pos_inf;
        for (size_t j = 0; j < s->axis; j++) {
            bool hit = scaled(s, j).hi == INFINITY;
            if (op == CLSM_SOFTMAX)
                put(s, j, hit ? 1.0L / k : 0.0L);
            else
                put(s, j, hit ? -logl(k) : -INFINITY);
        }
        return;
    }

    if (m.hi == -INFINITY) {
        for (size_t j = 0; j < s->axis; j++)
            put(s, j, op == CLSM_SOFTMAX ? 0.0L : -INFINITY);
        return;
    }

    /* Neumaier summation of every term but the max's own 1; all are in [0, 1]. */
    long double rest = 0, comp = 0;
    for (size_t j = 0; j < s->axis; j++) {
        if (j == argmax)
            continue;
        product t = scaled(s, j);
        long double e = t.hi == -INFINITY ? 0.0L : expl(product_minus(t, m));
        long double sum = rest + e;
        comp += fabsl(rest) >= fabsl(e) ? (rest - sum) + e : (e - sum) + rest;
        rest = sum;
    }
    rest += comp;

    long double log_sum = log1pl(rest);
    for (size_t j = 0; j < s->axis; j++) {
        product t = scaled(s, j);
        long double d = t.hi == -INFINITY ? -INFINITY : product_minus(t, m);
        put(s, j, op == CLSM_SOFTMAX ? expl(d) / (1 + rest) : d - log_sum);
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
