/* The single f64 reference of the clsoftmax contract, against which every result is checked. */
#include "reference.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "values.h"

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
    double *y; /* NULL: statistics only */
    size_t base, stride, axis;
    double scale;
    /* The options (NULL for v1) and what they make of this slice: its row in
     * [batch, heads, rows], the mask index of its entry 0, and its head's sink,
     * which takes part as one more entry, j == axis, that gets no output. */
    const clsm_options *opt;
    size_t row, mask_base;
    bool has_sink;
    double sink;
    /* Where row r is aligned (r + off_b: the causal offset, moved to the bottom right of the
     * kept columns with kv_lengths), the kept columns [0, kept), and the head's ALiBi slope. */
    ptrdiff_t offset;
    size_t kept;
    double slope;
} slice;

/* scale*x exactly, as hi + lo; an infinity where the product overflows the compute type,
 * as the contract forms it there (f32 for F32/F16/BF16, whose products fit in a double). */
typedef struct product {
    double hi, lo;
} product;

static size_t mask_index(const slice *s, size_t j)
{
    return s->mask_base + j * s->opt->mask_stride[3];
}

/* Set to -inf by a keep-mask byte of 0, or by causal, window and kv_lengths. */
static bool masked(const slice *s, size_t j)
{
    const clsm_options *o = s->opt;
    if (o == NULL)
        return false;
    if (o->mask_type == CLSM_MASK_KEEP_U8 &&
        ((const unsigned char *)o->mask.host)[mask_index(s, j)] == 0)
        return true;
    if (j >= s->kept)
        return true;
    if (!o->causal)
        return false;
    ptrdiff_t last_seen = (ptrdiff_t)s->row + s->offset, at = (ptrdiff_t)j;
    return at > last_seen || (o->window > 0 && at <= last_seen - (ptrdiff_t)o->window);
}

static double additive_mask(const slice *s, size_t j)
{
    const clsm_options *o = s->opt;
    if (o == NULL)
        return 0;
    switch (o->mask_type) {
    case CLSM_MASK_ADD_F32:
        return ts_load(CLSM_F32, o->mask.host, mask_index(s, j));
    case CLSM_MASK_ADD_F16:
        return ts_load(CLSM_F16, o->mask.host, mask_index(s, j));
    case CLSM_MASK_ADD_BF16:
        return ts_load(CLSM_BF16, o->mask.host, mask_index(s, j));
    default:
        return 0;
    }
}

/* Where u overflows the compute type it is that infinity (F64's overflows by itself). */
static double overflow_to_inf(clsm_dtype dtype, double u)
{
    return dtype != CLSM_F64 && isinf((float)u) ? (double)(float)u : u;
}

static double compute_type_entry(const slice *s, size_t j);

/* u_j: scale*x_j exactly, or with an additive mask as the compute type forms it; -inf where
 * masked; the sink at j == axis. */
static product entry(const slice *s, size_t j)
{
    if (j == s->axis)
        return (product){s->sink, 0};
    if (masked(s, j))
        return (product){-INFINITY, 0};
    /* An additive mask, the cap and ALiBi's bias are applied to u as the compute type forms
     * it (the contract's u = scale*x + mask): near FLT_MAX the mask may vanish in that sum. */
    if (s->opt != NULL && ((s->opt->mask_type >= CLSM_MASK_ADD_F32 &&
                            s->opt->mask_type <= CLSM_MASK_ADD_BF16) ||
                           s->opt->softcap > 0 || s->opt->alibi_slopes.host != NULL))
        return (product){compute_type_entry(s, j), 0};
    double v = ts_load(s->dtype, s->x, s->base + j * s->stride);
    product p = {0, 0};
    /* The limit of scale -> 0 is 0, also where scale*x would be 0*inf. */
    if (s->scale != 0 || isnan(v)) {
        p.hi = overflow_to_inf(s->dtype, s->scale * v);
        if (isfinite(p.hi))
            p.lo = fma(s->scale, v, -p.hi);
    }
    return p;
}

/* u_j rounded as the compute type forms it: the value a reported max must have exactly.
 * f32 products and sums are formed in double and rounded once, which equals f32
 * arithmetic (double holds more than twice f32's precision). */
static double compute_type_entry(const slice *s, size_t j)
{
    if (j == s->axis)
        return s->sink;
    if (masked(s, j))
        return -INFINITY;
    const bool f32 = s->dtype != CLSM_F64;
    double v = ts_load(s->dtype, s->x, s->base + j * s->stride);
    double u = s->scale != 0 || isnan(v) ? s->scale * v : 0;
    if (f32)
        u = (float)u;
    /* The compute type's own tanh may differ from this one by a few units of its last place
     * of softcap: the contract's 8*eps*softcap, which ref_softcap_allowance gives. */
    if (s->opt != NULL && s->opt->softcap > 0) {
        u = s->opt->softcap * tanh(u / s->opt->softcap);
        if (f32)
            u = (float)u;
    }
    u += additive_mask(s, j);
    if (f32)
        u = (float)u;
    if (s->opt != NULL && s->opt->alibi_slopes.host != NULL) {
        double d = fabs((double)((ptrdiff_t)j - ((ptrdiff_t)s->row + s->offset)));
        double bias = f32 ? (double)((float)s->slope * (float)d) : s->slope * d;
        /* A slope that is not finite makes every kept entry NaN (the kernels' rule). */
        u = isfinite(s->slope) ? u - bias : NAN;
        if (f32)
            u = (float)u;
    }
    return u;
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
    if (s->y != NULL)
        s->y[s->base + j * s->stride] = (double)v;
}

/* What a slice's own statistics come from: its entries with the sink among them. */
typedef struct summary {
    bool has_nan;
    size_t n_pos_inf, argmax;
    double max; /* in the compute type */
    long double rest; /* the sum of every term but the max's own 1 */
} summary;

static summary summarise(const slice *s)
{
    const size_t n = s->axis + s->has_sink;
    summary sum = {false, 0, 0, -INFINITY, 0};
    for (size_t j = 0; j < n; j++) {
        product t = entry(s, j);
        sum.has_nan |= isnan(t.hi) != 0;
        sum.n_pos_inf += t.hi == INFINITY;
        if (product_greater(t, entry(s, sum.argmax)))
            sum.argmax = j;
        sum.max = fmax(sum.max, compute_type_entry(s, j));
    }
    if (sum.has_nan || sum.n_pos_inf > 0 || entry(s, sum.argmax).hi == -INFINITY)
        return sum;

    /* Neumaier summation; all terms are in [0, 1]. */
    product m = entry(s, sum.argmax);
    long double rest = 0, comp = 0;
    for (size_t j = 0; j < n; j++) {
        if (j == sum.argmax)
            continue;
        product t = entry(s, j);
        long double e = t.hi == -INFINITY ? 0.0L : expl(product_minus(t, m));
        long double next = rest + e;
        comp += fabsl(rest) >= fabsl(e) ? (rest - next) + e : (e - next) + rest;
        rest = next;
    }
    sum.rest = rest + comp;
    return sum;
}

static void put_all(clsm_op op, const slice *s, long double soft, long double log_soft)
{
    for (size_t j = 0; j < s->axis; j++)
        put(s, j, op == CLSM_SOFTMAX ? soft : log_soft);
}

/* y from the slice's own statistics. */
static void put_softmax(clsm_op op, const slice *s, const summary *sum)
{
    if (sum->has_nan) {
        put_all(op, s, NAN, NAN);
        return;
    }
    if (sum->n_pos_inf > 0) {
        long double k = (long double)sum->n_pos_inf;
        for (size_t j = 0; j < s->axis; j++) {
            bool hit = entry(s, j).hi == INFINITY;
            if (op == CLSM_SOFTMAX)
                put(s, j, hit ? 1.0L / k : 0.0L);
            else
                put(s, j, hit ? -logl(k) : -INFINITY);
        }
        return;
    }
    product m = entry(s, sum->argmax);
    if (m.hi == -INFINITY) {
        put_all(op, s, 0.0L, -INFINITY);
        return;
    }
    long double log_sum = log1pl(sum->rest);
    for (size_t j = 0; j < s->axis; j++) {
        product t = entry(s, j);
        long double d = t.hi == -INFINITY ? -INFINITY : product_minus(t, m);
        put(s, j, op == CLSM_SOFTMAX ? expl(d) / (1 + sum->rest) : d - log_sum);
    }
}

/* y from given statistics (stats_in), with the contract's special rules. No reduction sees
 * the slice, so a NaN entry of x makes a NaN at that entry only, whatever the statistics. */
static void put_from_statistics(clsm_op op, const slice *s, double max, double total)
{
    if (isnan(max) || isnan(total)) {
        put_all(op, s, NAN, NAN);
        return;
    }
    const product m = {max, 0};
    for (size_t j = 0; j < s->axis; j++) {
        product t = entry(s, j);
        long double d;
        if (isnan(t.hi)) {
            put(s, j, NAN);
            continue;
        }
        if (total == 0 || isinf(total)) {
            put(s, j, op == CLSM_SOFTMAX ? 0.0L : -INFINITY);
            continue;
        }
        if (max == INFINITY)
            d = t.hi == INFINITY ? 0.0L : -INFINITY;
        else
            d = t.hi == -INFINITY ? -INFINITY : product_minus(t, m);
        put(s, j, op == CLSM_SOFTMAX ? expl(d) / total : d - logl(total));
    }
}

static void put_statistics(const summary *sum, double *stats)
{
    if (sum->has_nan) {
        stats[0] = stats[1] = NAN;
    } else if (sum->n_pos_inf > 0) {
        stats[0] = INFINITY;
        stats[1] = (double)sum->n_pos_inf;
    } else if (sum->max == -INFINITY) {
        stats[0] = -INFINITY;
        stats[1] = 0;
    } else {
        stats[0] = sum->max;
        stats[1] = (double)(1 + sum->rest);
    }
}

/* The options' view of outer as [batch, heads, rows]; all 0 is [1, 1, outer]. */
static void outer_dims(const clsm_options *o, clsm_shape shape, size_t *heads, size_t *rows)
{
    bool unset = o == NULL || (o->batch == 0 && o->heads == 0 && o->rows == 0);
    *heads = unset ? 1 : o->heads;
    *rows = unset ? shape.outer : o->rows;
}

/* What the options make of outer slice o's slices: row, alignment, kept columns, mask row,
 * ALiBi slope and sink. */
static void slice_options(slice *s, clsm_shape shape, size_t o)
{
    const clsm_options *options = s->opt;
    size_t heads, rows;
    outer_dims(options, shape, &heads, &rows);
    const bool f64 = s->dtype == CLSM_F64;
    size_t r = o % rows, h = o / rows % heads, b = o / rows / heads;
    s->row = r;
    if (options == NULL)
        return;
    s->offset = options->causal_offset;
    if (options->kv_lengths.host != NULL) {
        /* The buffers path clamps a length to [0, axis]; the host path refuses it. */
        int32_t len = ((const int32_t *)options->kv_lengths.host)[b];
        s->kept = len < 0 ? 0 : (size_t)len > shape.axis ? shape.axis : (size_t)len;
        s->offset += (ptrdiff_t)s->kept - (ptrdiff_t)rows;
    }
    if (options->alibi_slopes.host != NULL)
        s->slope = f64 ? ((const double *)options->alibi_slopes.host)[h]
                       : ((const float *)options->alibi_slopes.host)[h];
    const size_t *st = options->mask_stride;
    s->mask_base = b * st[0] + h * st[1] + r * st[2];
    s->has_sink = options->sinks.host != NULL;
    if (s->has_sink)
        s->sink = f64 ? ((const double *)options->sinks.host)[h]
                      : ((const float *)options->sinks.host)[h];
}

void ref_softmax_ex(clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale,
                    const clsm_options *options, const void *x, double *y, double *stats)
{
    const bool f64 = dtype == CLSM_F64;
    slice s = {dtype, x, y, 0, shape.inner, shape.axis, scale, options, 0, 0, false, 0,
               0, shape.axis, 0};
    for (size_t o = 0; o < shape.outer; o++) {
        slice_options(&s, shape, o);
        for (size_t i = 0; i < shape.inner; i++) {
            const size_t at = 2 * (o * shape.inner + i);
            s.base = o * shape.axis * shape.inner + i;
            summary sum = summarise(&s);
            if (options != NULL && options->stats_in.host != NULL) {
                const void *given = options->stats_in.host;
                double max = f64 ? ((const double *)given)[at] : ((const float *)given)[at];
                double total =
                    f64 ? ((const double *)given)[at + 1] : ((const float *)given)[at + 1];
                put_from_statistics(op, &s, max, total);
            } else {
                put_softmax(op, &s, &sum);
            }
            if (stats != NULL)
                put_statistics(&sum, stats + at);
        }
    }
}

void ref_softmax(clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale, const void *x,
                 double *y)
{
    ref_softmax_ex(op, dtype, shape, scale, NULL, x, y, NULL);
}

void ref_logits(clsm_dtype dtype, clsm_shape shape, double scale, const clsm_options *options,
                const void *x, double *u)
{
    slice s = {dtype, x, NULL, 0, shape.inner, shape.axis, scale, options, 0, 0, false, 0,
               0, shape.axis, 0};
    for (size_t o = 0; o < shape.outer; o++) {
        slice_options(&s, shape, o);
        for (size_t i = 0; i < shape.inner; i++) {
            s.base = o * shape.axis * shape.inner + i;
            for (size_t j = 0; j < shape.axis; j++)
                u[s.base + j * s.stride] = compute_type_entry(&s, j);
        }
    }
}

/* The spacing of dtype's values at |v|: its unit in the last place there. */
static double dtype_ulp(clsm_dtype dtype, double v)
{
    int mbits, emin;
    switch (dtype) {
    case CLSM_F16:
        mbits = 10, emin = -14;
        break;
    case CLSM_BF16:
        mbits = 7, emin = -126;
        break;
    case CLSM_F64:
        mbits = 52, emin = -1022;
        break;
    default:
        mbits = 23, emin = -126;
        break;
    }
    int e = emin + 1;
    if (v != 0)
        frexp(v, &e);
    return ldexp(1.0, (e - 1 < emin ? emin : e - 1) - mbits);
}

/* exp(y) as the compute type holds it: 0 where it underflows there, which masks the entry. */
static double compute_type_exp(clsm_dtype dtype, double y)
{
    double p = exp(y);
    return dtype != CLSM_F64 && (float)p == 0 ? 0 : p;
}

/* The sums of a slice: S as the rule forms it, and the sum of the magnitudes of its terms,
 * which sizes the bound. */
typedef struct backward_sums {
    bool nan;
    double sum, magnitude;
} backward_sums;

/*
 * Finite terms add up in long double, far more accurately than F64's bound asks even over
 * 2^24 terms; infinite ones are only counted, and NaN only noted: x87 arithmetic on
 * infinities and NaN runs hundreds of times slower, which long slices would feel.
 */
static backward_sums slice_sums(clsm_op op, clsm_dtype dtype, const void *y, const void *dy,
                                size_t base, size_t stride, size_t n)
{
    backward_sums r = {false, 0, 0};
    long double sum = 0, magnitude = 0;
    bool pos_inf = false, neg_inf = false;
    for (size_t k = 0; k < n; k++) {
        const size_t at = base + k * stride;
        const double yk = ts_load(dtype, y, at), dyk = ts_load(dtype, dy, at);
        r.nan |= isnan(yk) || isnan(dyk);
        if (r.nan || (op == CLSM_SOFTMAX && yk == 0))
            continue;
        const double factor = op == CLSM_SOFTMAX ? yk : 1;
        if (isinf(factor) || isinf(dyk)) {
            const double t = factor * dyk;
            r.nan |= isnan(t);
            pos_inf |= t > 0;
            neg_inf |= t < 0;
            continue;
        }
        const long double t = (long double)factor * dyk;
        sum += t;
        magnitude += fabsl(t);
    }
    if (r.nan || (pos_inf && neg_inf))
        r.sum = NAN;
    else
        r.sum = pos_inf ? INFINITY : neg_inf ? -INFINITY : (double)sum;
    r.magnitude = pos_inf || neg_inf ? INFINITY : (double)magnitude;
    return r;
}

/* The cap's derivative 1 - tanh^2(u/softcap) = 1/cosh^2 at u = scale*x_j as the compute type
 * forms it (1 without a cap): cosh keeps its relative accuracy where 1 - tanh^2 cancels. */
static double cap_factor(const slice *s, size_t j)
{
    if (s->opt == NULL || !(s->opt->softcap > 0))
        return 1;
    double v = ts_load(s->dtype, s->x, s->base + j * s->stride);
    double u = s->scale * v;
    if (s->dtype != CLSM_F64)
        u = (float)u;
    double c = cosh(u / s->opt->softcap);
    return 1 / (c * c);
}

/* Whether an option masks entry j to -inf whatever x holds: its gradient is 0. */
static bool dropped(const slice *s, size_t j)
{
    return masked(s, j) || additive_mask(s, j) == -INFINITY;
}

void ref_softmax_backward_ex(clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale,
                             const clsm_options *options, const void *x, const void *y,
                             const void *dy, double *dx, double *bound)
{
    const bool f64 = dtype == CLSM_F64, narrow = dtype == CLSM_F16 || dtype == CLSM_BF16;
    const double rel = f64 ? 1e-13 : 1e-5;
    const long double tiny = ts_dtype_denorm_min(f64 ? CLSM_F64 : CLSM_F32);
    const double s = scale;
    slice sl = {dtype, x, NULL, 0, shape.inner, shape.axis, scale, options, 0, 0, false, 0,
                0, shape.axis, 0};
    for (size_t o = 0; o < shape.outer; o++) {
        slice_options(&sl, shape, o);
        for (size_t i = 0; i < shape.inner; i++) {
            const size_t base = o * shape.axis * shape.inner + i;
            sl.base = base;
            const backward_sums sums = slice_sums(op, dtype, y, dy, base, shape.inner, shape.axis);
            const double S = sums.sum, M = sums.magnitude;
            for (size_t j = 0; j < shape.axis; j++) {
                const size_t at = base + j * shape.inner;
                const double yj = ts_load(dtype, y, at), dyj = ts_load(dtype, dy, at);
                /* d: the result; b: the contract's B_j; reach: how far the other factors
                 * may carry the error of a subnormal intermediate. d in double, whose few
                 * roundings stay far below F64's bound; b in long double, as in double it
                 * can underflow to 0 beside a subnormal y_j, which would ask d exactly. The
                 * cap's factor f multiplies d and b. */
                double d = 0, reach = 0;
                long double b = 0;
                const bool drop = dropped(&sl, j);
                const double f = drop ? 0 : cap_factor(&sl, j);
                if (drop) {
                    d = 0;
                } else if (sums.nan) {
                    d = NAN;
                } else if (op == CLSM_SOFTMAX) {
                    if (yj != 0 && s != 0) {
                        d = s * (yj * (dyj - S) * f);
                        b = fabsl(yj) * ((long double)fabs(dyj) + M) * f;
                        reach = fabs(dyj) + M;
                    }
                } else if (s != 0) {
                    const double p = compute_type_exp(dtype, yj);
                    d = s * ((dyj - (p == 0 ? 0 : p * S)) * f);
                    b = (fabs(dyj) + (p == 0 ? 0 : (long double)p * M)) * f;
                    reach = fabs(dyj) + (p == 0 ? 0 : M);
                }
                dx[at] = d;
                /*
                 * The floor: a subnormal intermediate (s*y_j, p_j*S, ...) is off by up to
                 * half the smallest subnormal, which |s| and |dy_j - S| may then enlarge,
                 * beyond any relative bound of a subnormal result. In long double, where
                 * F64's subnormals are normal numbers (arithmetic on subnormals is slow).
                 * Infinite and NaN results are asked exactly.
                 */
                double tol = 0;
                if (b != 0 && isfinite(d)) {
                    tol = (double)(rel * fabs(s) * b +
                                   4 * tiny * (fabs(s) + 1) * (1 + (long double)reach));
                    if (narrow)
                        tol += dtype_ulp(dtype, d);
                }
                bound[at] = tol;
            }
        }
    }
}

void ref_backward_factors(clsm_dtype dtype, clsm_shape shape, double scale,
                          const clsm_options *options, const void *x, unsigned char *drop,
                          double *factor)
{
    slice sl = {dtype, x, NULL, 0, shape.inner, shape.axis, scale, options, 0, 0, false, 0,
                0, shape.axis, 0};
    for (size_t o = 0; o < shape.outer; o++) {
        slice_options(&sl, shape, o);
        for (size_t i = 0; i < shape.inner; i++) {
            sl.base = o * shape.axis * shape.inner + i;
            for (size_t j = 0; j < shape.axis; j++) {
                const size_t at = sl.base + j * shape.inner;
                drop[at] = dropped(&sl, j);
                factor[at] = drop[at] ? 0 : cap_factor(&sl, j);
            }
        }
    }
}

void ref_softmax_backward(clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale,
                          const void *y, const void *dy, double *dx, double *bound)
{
    ref_softmax_backward_ex(op, dtype, shape, scale, NULL, NULL, y, dy, dx, bound);
}
