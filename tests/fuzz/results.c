/* Whether a successful call's results are right: the forward against tests/reference.c with the shared checks, the backward against an oracle of the fuzzer's own, sampling against tests/sample_reference.c through the entries table's check. */
#include <float.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "entries.h"
#include "reference.h"
#include "request.h"

static ts_report failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static ts_report failed(const char *fmt, ...)
{
    ts_report r = {false, ""};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.msg, sizeof r.msg, fmt, ap);
    va_end(ap);
    return r;
}

/* The spacing of a 16-bit dtype's values at |v|. */
static double narrow_ulp(clsm_dtype dtype, double v)
{
    const int mbits = dtype == CLSM_F16 ? 10 : 7, emin = dtype == CLSM_F16 ? -14 : -126;
    int e;
    frexp(v, &e);
    return ldexp(1.0, (e - 1 < emin ? emin : e - 1) - mbits);
}

static int canonical_nan(clsm_dtype dtype, const void *p, size_t i)
{
    const size_t size = ts_dtype_size(dtype);
    uint64_t bits = 0, want = ts_canonical_nan(dtype);
    memcpy(&bits, (const unsigned char *)p + i * size, size); /* little-endian */
    return bits == want;
}

/*
 * tests/reference.c takes causal_offset and window in ptrdiff_t arithmetic, which the
 * fuzzer's extreme values overflow: it gets the pair that masks the same entries of every
 * slice. Row r of batch entry b keeps j in (c + offset - window, c + offset] with c = r, or
 * with kv_lengths c = r + len_b - rows, within [0, axis): each edge is held within where it
 * still cuts, [-rows, axis] (with kv_lengths [-(axis + rows), axis + rows], as c reaches
 * further). ALiBi also measures distances from c + offset, which the library bounds at
 * 2^60 (host/validate.c); there the offset is held there, and only the window moved.
 */
static void reach_causal(const request *q, clsm_options *o)
{
    const long double far = 0x1p60L;
    const int alibi = q->set[T_ALIBI];
    if (!o->causal) {
        /* Without causal the offset aligns ALiBi only. */
        const long double given = (long double)o->causal_offset;
        o->causal_offset = alibi ? (ptrdiff_t)fminl(fmaxl(given, -far), far) : 0;
        return;
    }
    size_t d[3];
    row_dims(q, d);
    const long double rows = (long double)d[2], axis = (long double)q->shape.axis;
    const long double low = q->set[T_KV] ? -(axis + rows) : -rows;
    const long double high = q->set[T_KV] ? axis + rows : axis;
    const long double given = (long double)o->causal_offset;
    long double last = fminl(fmaxl(given, low), high);
    long double first = fminl(fmaxl(given - (long double)o->window, low), high);
    /* A window that masks every entry needs causal to mask them instead; so does an offset
     * below every entry, where ALiBi's distances no longer matter. */
    if ((o->window && first == last) || last == low) {
        o->causal_offset = (ptrdiff_t)low;
        o->window = 0;
        return;
    }
    if (alibi)
        last = fminl(fmaxl(given, -far), far);
    o->causal_offset = (ptrdiff_t)last;
    o->window = o->window ? (size_t)(last - first) : 0;
}

void reference_options(const request *q, clsm_options *o)
{
    *o = q->opt;
    for (int k = 0; k < TENSORS; k++)
        option_tensor(o, k)->host = k != T_STATS_OUT && q->set[k] ? q->tensor[k] : NULL;
    if (!o->mask.host)
        o->mask_type = CLSM_MASK_NONE;
    reach_causal(q, o);
}

/* The kernels form u in the compute type once an additive mask, a sink or statistics meet
 * it (the contract's u), where tests/reference.c keeps scale*x exact but for the mask: it
 * gets the rounded products as x, with scale 1. A zero scale keeps its own rule. */
typedef struct handed {
    clsm_dtype dtype;
    double scale;
    const void *x;
    void *rounded;
} handed;

static handed hand_x(const request *q)
{
    const int type = q->opt.mask_type;
    const double scale = compute_scale(q);
    handed h = {(clsm_dtype)q->dtype, scale, q->x, NULL};
    if (!q->options || scale == 0 ||
        !((type >= CLSM_MASK_ADD_F32 && type <= CLSM_MASK_ADD_BF16) || q->set[T_SINKS] ||
          q->set[T_STATS_OUT] || q->set[T_STATS_IN]))
        return h;
    h.dtype = q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    h.scale = 1;
    h.x = h.rounded = xmalloc(q->count * ts_dtype_size(h.dtype));
    for (size_t i = 0; i < q->count; i++)
        ts_store(h.dtype, h.rounded, i, scale * ts_load((clsm_dtype)q->dtype, q->x, i));
    return h;
}

/* Past the storage's largest value its rounding may give the infinity. */
static int beyond_storage(clsm_dtype dtype, double ref)
{
    return fabs(ref) > ts_dtype_max(dtype) * (1 - 0x1p-8);
}

/*
 * y from given statistics, which may be anything (a negative or infinite sum, a max far
 * from the slice's own), so the contract's bounds, made for a slice's own, do not hold:
 * each element is held to the rounding of the terms that meet in it, and an entry above
 * the given max, whose exp may overflow the compute type on the way, only to not being NaN.
 */
static ts_report check_given(const request *q, const handed *h, clsm_options *o, const void *y)
{
    const size_t n = q->count, slices = q->slices, axis = q->shape.axis, inner = q->shape.inner;
    const clsm_dtype dtype = (clsm_dtype)q->dtype, sd = dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    const int narrow = dtype == CLSM_F16 || dtype == CLSM_BF16;
    const double rel = dtype == CLSM_F64 ? 1e-13 : 1e-5;
    const double tiny = dtype == CLSM_F64 ? 1e-290 : 1e-30;
    const double floor = dtype == CLSM_F64 ? 1e-300 : 1e-35;
    const void *given = o->stats_in.host;
    const double cap = ts_softcap_allowance(dtype, o);
    double *want = xmalloc(n * sizeof *want), *d = xmalloc(n * sizeof *d);
    double *bound = xmalloc(n * sizeof *bound);
    /* The library takes a max of -inf as a slice without mass, whatever the sum, where the
     * reference would divide exp(+inf). */
    unsigned char *stats = xmalloc(2 * slices * ts_dtype_size(sd));
    for (size_t k = 0; k < 2 * slices; k += 2) {
        const double gm = ts_load(sd, given, k);
        ts_store(sd, stats, k, gm);
        ts_store(sd, stats, k + 1, gm == -INFINITY ? 0 : ts_load(sd, given, k + 1));
    }
    o->stats_in.host = stats;
    ref_softmax_ex((clsm_op)q->op, h->dtype, q->shape, h->scale, o, h->x, want, NULL);
    /* A sum of 1 makes log-softmax u_j - max. */
    for (size_t k = 1; k < 2 * slices; k += 2)
        ts_store(sd, stats, k, 1.0);
    ref_softmax_ex(CLSM_LOG_SOFTMAX, h->dtype, q->shape, h->scale, o, h->x, d, NULL);
    for (size_t k = 1; k < 2 * slices; k += 2)
        ts_store(sd, stats, k, ts_load(sd, given, k - 1) == -INFINITY ? 0 : ts_load(sd, given, k));

    for (size_t i = 0; i < n; i++) {
        const size_t k = i / (axis * inner) * inner + i % inner;
        const double gm = ts_load(sd, stats, 2 * k), gs = ts_load(sd, stats, 2 * k + 1);
        const double ref = want[i];
        bound[i] = 0;
        /* The special rules ask exactly; a +inf max leaves 1/sum at its +inf entries. */
        if (isnan(ref) || isinf(ref) || gs == 0 || isinf(gs) || gm == -INFINITY ||
            (gm == INFINITY && d[i] != 0))
            continue;
        if (d[i] > 0 || beyond_storage(dtype, ref)) {
            want[i] = 0;
            bound[i] = INFINITY;
            continue;
        }
        if (narrow)
            bound[i] = 2.5 * narrow_ulp(dtype, fabs(ref));
        else if (q->op == CLSM_LOG_SOFTMAX)
            bound[i] = rel * fmax(1.0, fabs(ref));
        else
            bound[i] = ref >= tiny ? rel * ref : floor;
        const double terms = q->op == CLSM_SOFTMAX ? fabs(ref) * (1 + fabs(d[i]))
                                                   : 1 + fabs(d[i]) + fabs(log(fabs(gs)));
        if (gm != INFINITY)
            bound[i] = fmax(bound[i], 4 * rel * terms);
        /* The cap's allowance on u moves exp(u - max) by that factor. */
        bound[i] += q->op == CLSM_SOFTMAX ? expm1(cap) * fabs(ref) : cap;
    }
    ts_report r = ts_check_backward(dtype, q->shape, y, want, bound);
    o->stats_in.host = (void *)given;
    free(stats);
    free(bound);
    free(d);
    free(want);
    return r;
}

ts_report check_forward(const request *q, const void *y, const void *stats)
{
    clsm_options o;
    reference_options(q, &o);
    handed h = hand_x(q);
    const clsm_options *ro = q->options ? &o : NULL;
    if (q->options && q->set[T_STATS_IN]) {
        ts_report r = check_given(q, &h, &o, y);
        free(h.rounded);
        return r;
    }
    const size_t n = q->count;
    const clsm_dtype dtype = (clsm_dtype)q->dtype;
    double *want = xmalloc(n * sizeof *want), *want_stats = xmalloc(2 * q->slices * sizeof *want_stats + 1);
    ref_softmax_ex((clsm_op)q->op, h.dtype, q->shape, h.scale, ro, h.x, want, want_stats);
    /* ts_check asks a softmax of 0 exactly, which F64 data near exp's underflow do not meet:
     * where log-softmax is finite, the 0 is the nearest subnormal rounded away, and the
     * smallest subnormal in its place holds it to the contract's absolute bound. */
    if (dtype == CLSM_F64 && q->op == CLSM_SOFTMAX) {
        double *log_want = xmalloc(n * sizeof *log_want);
        ref_softmax_ex(CLSM_LOG_SOFTMAX, h.dtype, q->shape, h.scale, ro, h.x, log_want, NULL);
        for (size_t i = 0; i < n; i++)
            if (want[i] == 0 && isfinite(log_want[i]))
                want[i] = 0x1p-1074;
        free(log_want);
    }
    ts_report r = {true, ""};
    if (y) {
        /* With a sink a slice's single entry is no longer exactly 1 (0): ts_check's exactness
         * on an axis of 1 does not apply, so the slices are checked as one long one. */
        clsm_shape checked = q->shape;
        if (checked.axis == 1 && q->options && q->set[T_SINKS])
            checked = (clsm_shape){1, q->shape.outer, q->shape.inner};
        r = ts_check_within((clsm_op)q->op, dtype, checked, y, want,
                            ts_softcap_allowance(dtype, ro));
    }
    if (r.ok && stats) {
        r = ts_check_stats_within(dtype, q->slices, stats, want_stats,
                                  ts_softcap_allowance(dtype, ro));
        if (!r.ok) {
            char msg[sizeof r.msg];
            snprintf(msg, sizeof msg, "stats_out: %.480s", r.msg);
            memcpy(r.msg, msg, sizeof msg);
        }
    }
    free(want_stats);
    free(want);
    free(h.rounded);
    return r;
}

/*
 * The backward keeps its own oracle: tests/reference.c's has no compute type (no overflow
 * of finite intermediates or of exp(y) in f32, no storage overflow of F16/BF16), makes
 * dx_j NaN where an inf*0 product meets y_j = 0, and floors its bounds without the
 * slice's length, and fuzz data reach all of these.
 *
 * The rule for one slice, from y and dy as the call saw them, evaluated in long double
 * with IEEE special values: softmax S = sum_k (y_k == 0 ? 0 : y_k*dy_k), dx_j =
 * (y_j == 0 || s == 0) ? 0 : s*y_j*(dy_j - S); log-softmax S = sum_k dy_k, dx_j = s == 0 ?
 * 0 : s*(dy_j - (p_j == 0 ? 0 : p_j*S)) with p_j = exp(y_j) in the compute type; a NaN in y
 * or dy makes the slice NaN. Bound: the contract's, rel*|s|*B_j (F16/BF16 plus one unit in
 * the last place), with a floor for the compute type's subnormals: each of the n products
 * of S may round there (softmax), and so may exp(y_j) (log-softmax).
 * Left unchecked, but for the NaN rules: elements where a finite intermediate comes near
 * the compute type's largest value (its rounding then decides between a finite result, an
 * infinity and NaN), where exp(y_j) comes near underflowing to 0 or overflowing to inf and
 * that matters, and where an infinite p_j meets an S whose sign long double cannot settle.
 *
 * The _ex calls' options, from tests/reference.c (ref_backward_factors): dx_j = +0 exactly
 * where an option masks the entry to -inf, also in a NaN slice; elsewhere the rule above
 * times the cap's factor f_j, and so the relative bound. The floor stays whole, as the last
 * roundings come after the factor, and grows where f_j is subnormal in the compute type (or
 * underflows there): its own rounding there reaches |s|*B_j times a few of the smallest
 * subnormals.
 */
static ts_report check_backward_slice(const request *q, const void *dx, const void *y,
                                      const void *dy, const unsigned char *drop,
                                      const double *factor, size_t base, size_t stride)
{
    const size_t n = q->shape.axis;
    const clsm_dtype dtype = (clsm_dtype)q->dtype;
    const int op = q->op, f64 = dtype == CLSM_F64;
    const int narrow = dtype == CLSM_F16 || dtype == CLSM_BF16;
    const double rel = f64 ? 1e-13 : 1e-5;
    const double big = (f64 ? DBL_MAX : FLT_MAX) * 0x1p-8;
    /* Half the compute type's smallest subnormal, its largest rounding error there. */
    const long double eta = f64 ? 0x1p-1075L : 0x1p-150L;
    const double normal_min = f64 ? DBL_MIN : FLT_MIN;
    const long double s = compute_scale(q), as = fabsl(s), grow = as > 1 ? as : 1;
    long double S = 0, mag = 0;
    int has_nan = 0;
    for (size_t k = 0; k < n; k++) {
        double yk = ts_load(dtype, y, base + k * stride), dyk = ts_load(dtype, dy, base + k * stride);
        has_nan |= isnan(yk) || isnan(dyk);
        long double t = op == CLSM_LOG_SOFTMAX ? (long double)dyk
                        : yk == 0              ? 0.0L
                                               : (long double)yk * dyk;
        S += t;
        if (isfinite(t))
            mag += fabsl(t);
    }
    const int sign_settled = !isfinite(S) || mag == 0 || fabsl(S) > mag * 0x1p-30L;
    for (size_t j = 0; j < n; j++) {
        const size_t i = base + j * stride;
        const double got = ts_load(dtype, dx, i);
        const double yj = ts_load(dtype, y, i), dyj = ts_load(dtype, dy, i);
        const char *rule = NULL;
        double want = 0;
        if (isnan(got) && !canonical_nan(dtype, dx, i)) {
            rule = "every NaN written is the canonical one", want = NAN;
        } else if (drop && drop[i]) {
            if (got != 0 || signbit(got))
                rule = "+0 where an option masks the entry";
        } else if (has_nan) {
            if (!isnan(got))
                rule = "NaN in the slice's y or dy", want = NAN;
        } else if (s == 0 || (op == CLSM_SOFTMAX && yj == 0)) {
            if (got != 0)
                rule = "a zero factor";
        } else {
            const long double dyf = isfinite(dyj) ? fabs(dyj) : 0;
            long double ref, b, envelope, floor = 4 * eta * (as + 1);
            if (op == CLSM_SOFTMAX) {
                ref = s * yj * (dyj - S);
                b = fabsl((long double)yj) * (fabs(dyj) + mag);
                envelope = dyf + mag;
                if (isfinite(yj) && fabs(yj) > 1)
                    envelope *= fabs(yj);
                floor += 2 * eta * as * fabs(yj) * (long double)(n + 1);
            } else {
                const long double pe = expl(yj), max = f64 ? DBL_MAX : FLT_MAX;
                if (pe > max * (1 - 0x1p-20L) && pe < max * (1 + 0x1p-20L))
                    continue;
                const long double p = f64 ? (long double)(double)pe : (long double)(float)pe;
                if (pe > 0 && pe < normal_min) {
                    if (!isfinite(S) && pe < (f64 ? 0x1p-1071 : 0x1p-146))
                        continue;
                    floor += 8 * eta * as * mag;
                }
                if (isinf(p) && !sign_settled)
                    continue;
                ref = s * (dyj - (p == 0 ? 0.0L : p * S));
                b = fabs(dyj) + p * mag;
                envelope = dyf + (isfinite(p) ? p * mag : 0);
            }
            if (mag > envelope)
                envelope = mag;
            if (envelope * grow >= big)
                continue;
            const long double f = factor ? factor[i] : 1;
            if (f < 4 * normal_min)
                floor += 16 * eta * as * b;
            ref *= f;
            want = (double)ref;
            if (isnan(ref)) {
                if (!isnan(got))
                    rule = "IEEE arithmetic on infinite dy or y";
            } else if (isinf(ref)) {
                if (got != want)
                    rule = "an infinite result";
            } else {
                long double bound = rel * as * b * f + floor;
                if (narrow) {
                    bound += narrow_ulp(dtype, fabs(want));
                    /* Past the storage's largest value, rounding may give the infinity. */
                    if (isinf(got) && (got > 0) == (ref > 0) &&
                        fabsl(ref) + bound >= ts_dtype_max(dtype))
                        continue;
                }
                if (!(fabsl(got - ref) <= bound))
                    rule = "the backward bound";
            }
        }
        if (rule)
            return failed("element %zu (slice base %zu, j=%zu): got %.17g, want %.17g (%s)", i,
                          base, j, got, want, rule);
    }
    return (ts_report){true, ""};
}

ts_report check_backward(const request *q, const void *dx, const void *y, const void *dy,
                         const void *x)
{
    unsigned char *drop = NULL;
    double *factor = NULL;
    if (q->options) {
        clsm_options o;
        reference_options(q, &o);
        drop = xmalloc(q->count);
        factor = xmalloc(q->count * sizeof *factor);
        ref_backward_factors((clsm_dtype)q->dtype, q->shape, compute_scale(q), &o, x, drop,
                             factor);
    }
    ts_report r = {true, ""};
    for (size_t o = 0; o < q->shape.outer && r.ok; o++)
        for (size_t i = 0; i < q->shape.inner && r.ok; i++)
            r = check_backward_slice(q, dx, y, dy, drop, factor,
                                     o * q->shape.axis * q->shape.inner + i, q->shape.inner);
    free(factor);
    free(drop);
    return r;
}

/*
 * ts_check_result's judge, as the concern suites have it: tokens in [-1, vocab), greedy rows
 * the first argmax and the others inside the f64 kept set but where a cut lies within the
 * compute type's rounding of flipping (ref_sample_judge), -1 for rows of NaN or only -inf and
 * for the buffers path's bad temperatures, logprobs within the log-softmax bound. An empty
 * call drops its options unread.
 */
ts_report check_sample(const request *q, const int32_t *tokens, const void *logprobs,
                       const void *logits)
{
    clsm_options o;
    reference_options(q, &o);
    clsm_sampling s = q->sampling;
    for (int k = 0; k < S_LOGPROBS; k++)
        sample_tensor(&s, k)->host = q->s_set[k] ? q->s_tensor[k] : NULL;
    s.logprobs.host = (void *)logprobs;
    const ts_data d = {CLSM_SOFTMAX, (clsm_dtype)q->dtype, q->shape, q->scale,
                       q->options && !q->empty ? &o : NULL, {logits}, &s};
    const ts_entry *e = ts_entries;
    while (!e->sample)
        e++;
    return ts_check_result(e, &d, tokens);
}
