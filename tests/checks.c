/* The comparisons every test makes: results against the reference with the contract's bounds, bitwise equality, sentinels and statistics; no Criterion. */
#include "checks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t raw_bits(clsm_dtype dtype, const void *p, size_t i)
{
    switch (ts_dtype_size(dtype)) {
    case 2:
        return ((const uint16_t *)p)[i];
    case 8: {
        uint64_t b;
        memcpy(&b, (const char *)p + 8 * i, 8);
        return b;
    }
    default: {
        uint32_t b;
        memcpy(&b, (const char *)p + 4 * i, 4);
        return b;
    }
    }
}

/* Position in the 16-bit format's value order, so neighbours differ by one (+0 and -0 are both 0). */
static long ordered16(uint16_t b)
{
    return b & 0x8000u ? -(long)(b & 0x7FFFu) : (long)b;
}

static bool element_ok(clsm_op op, clsm_dtype dtype, const void *got, size_t i, double ref,
                       bool exact, double allowance)
{
    double g = ts_load(dtype, got, i);
    /* One NaN only, so that results compare bitwise whatever produced them. */
    if (isnan(ref) || isnan(g))
        return isnan(ref) && raw_bits(dtype, got, i) == ts_canonical_nan(dtype);
    /*
     * On an axis of length 1 the single entry is its own shift, so every
     * correct evaluation gives exactly 1 (softmax) and 0 (log-softmax), or
     * the special values, however large the scaled value.
     */
    if (exact)
        return g == ref;
    /*
     * Infinities, and softmax zeros, of the reference come from the special
     * rules or from differences so large that every correct f32/f64
     * evaluation gives them as well; the test data keep finite differences
     * away from exp's underflow threshold, so exactness is fair. A
     * log-softmax of 0 on a longer axis (the others underflow) keeps the
     * contract's tolerance.
     */
    if (isinf(ref) || (ref == 0 && op == CLSM_SOFTMAX))
        return g == ref;

    if (dtype == CLSM_F16 || dtype == CLSM_BF16) {
        /* With an allowance, within one unit of the rounding of any value it admits. */
        double spread = allowance * (op == CLSM_SOFTMAX ? ref : 1.0);
        for (int k = -1; k <= 1; k++) {
            double v = ref + k * spread;
            uint16_t want = dtype == CLSM_F16 ? ts_f16_from_double(v) : ts_bf16_from_double(v);
            long d = ordered16((uint16_t)raw_bits(dtype, got, i)) - ordered16(want);
            if (labs(d) <= 1)
                return true;
        }
        return false;
    }

    bool f64 = dtype == CLSM_F64;
    /* A finite reference beyond FLT_MAX is -inf once rounded to f32 (log-softmax of ±FLT_MAX data). */
    if (!f64 && isinf(g))
        return g == (double)(float)ref;
    /*
     * PoCL 3.1's CPU device keeps subnormals in f32 and f64 (softmax of
     * [0,-100] gives 3.78e-44 in F32, of [0,-720] 2.03e-313 in F64, and
     * scaled subnormal inputs count), but OpenCL makes them optional, so
     * results below 1e-30 (1e-290 for F64) are held to an absolute bound only.
     * F64 log-softmax takes F32's form of bound: near 0 no f64 evaluation of
     * t - m - log(sum) has relative accuracy.
     */
    double err = fabs(g - ref);
    double rel = (f64 ? 1e-13 : 1e-5) + allowance;
    if (op == CLSM_LOG_SOFTMAX)
        return err <= rel * fmax(1.0, fabs(ref));
    if (ref >= (f64 ? 1e-290 : 1e-30))
        return err <= rel * ref;
    return err <= (f64 ? 1e-300 : 1e-35);
}

static void format_value(char *buf, size_t size, clsm_dtype dtype, const void *p, size_t i)
{
    int hex_digits = (int)ts_dtype_size(dtype) * 2;
    snprintf(buf, size, "%.17g (0x%0*llx)", ts_load(dtype, p, i), hex_digits,
             (unsigned long long)raw_bits(dtype, p, i));
}

double ts_softcap_allowance(clsm_dtype dtype, const clsm_options *o)
{
    if (o == NULL || !(o->softcap > 0))
        return 0;
    return 8 * (dtype == CLSM_F64 ? 0x1p-53 : 0x1p-24) * o->softcap;
}

ts_report ts_check(clsm_op op, clsm_dtype dtype, clsm_shape shape, const void *got,
                   const double *expected)
{
    return ts_check_within(op, dtype, shape, got, expected, 0);
}

ts_report ts_check_within(clsm_op op, clsm_dtype dtype, clsm_shape shape, const void *got,
                          const double *expected, double allowance)
{
    ts_report r = {true, ""};
    size_t n = ts_count(shape);
    bool exact = shape.axis == 1;
    for (size_t i = 0; i < n; i++) {
        if (element_ok(op, dtype, got, i, expected[i], exact, allowance))
            continue;
        size_t bad = 0;
        for (size_t j = i; j < n; j++)
            bad += !element_ok(op, dtype, got, j, expected[j], exact, allowance);
        char g[64];
        format_value(g, sizeof g, dtype, got, i);
        size_t plane = shape.axis * shape.inner;
        r.ok = false;
        snprintf(r.msg, sizeof r.msg,
                 "element %zu [outer %zu, axis %zu, inner %zu]: got %s, expected %.17g "
                 "(%zu of %zu elements wrong)",
                 i, i / plane, i % plane / shape.inner, i % shape.inner, g, expected[i], bad, n);
        return r;
    }
    return r;
}

static bool backward_element_ok(clsm_dtype dtype, const void *got, size_t i, double ref,
                                double bound)
{
    double g = ts_load(dtype, got, i);
    if (isnan(ref) || isnan(g))
        return isnan(ref) && raw_bits(dtype, got, i) == ts_canonical_nan(dtype);
    if (isinf(ref) || bound == 0)
        return g == ref;
    return fabs(g - ref) <= bound;
}

ts_report ts_check_backward(clsm_dtype dtype, clsm_shape shape, const void *got,
                            const double *expected, const double *bound)
{
    ts_report r = {true, ""};
    size_t n = ts_count(shape);
    for (size_t i = 0; i < n; i++) {
        if (backward_element_ok(dtype, got, i, expected[i], bound[i]))
            continue;
        size_t bad = 0;
        for (size_t j = i; j < n; j++)
            bad += !backward_element_ok(dtype, got, j, expected[j], bound[j]);
        char g[64];
        format_value(g, sizeof g, dtype, got, i);
        size_t plane = shape.axis * shape.inner;
        r.ok = false;
        snprintf(r.msg, sizeof r.msg,
                 "element %zu [outer %zu, axis %zu, inner %zu]: got %s, expected %.17g within "
                 "%.3g (%zu of %zu elements wrong)",
                 i, i / plane, i % plane / shape.inner, i % shape.inner, g, expected[i], bound[i],
                 bad, n);
        return r;
    }
    return r;
}

ts_report ts_check_identical(clsm_dtype dtype, size_t n, const void *got, const void *want)
{
    ts_report r = {true, ""};
    for (size_t i = 0; i < n; i++) {
        if (raw_bits(dtype, got, i) == raw_bits(dtype, want, i))
            continue;
        char g[64], w[64];
        format_value(g, sizeof g, dtype, got, i);
        format_value(w, sizeof w, dtype, want, i);
        r.ok = false;
        snprintf(r.msg, sizeof r.msg, "element %zu differs: %s vs %s", i, g, w);
        return r;
    }
    return r;
}

ts_report ts_check_sentinel(const void *p, size_t bytes)
{
    ts_report r = {true, ""};
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++) {
        if (b[i] == TS_SENTINEL_BYTE)
            continue;
        r.ok = false;
        snprintf(r.msg, sizeof r.msg, "byte %zu of %zu was written (0x%02x)", i, bytes, b[i]);
        return r;
    }
    return r;
}

/* One NaN only, as for y, so that statistics compare bitwise whatever produced them. */
static bool stat_nan_ok(clsm_dtype dtype, const void *got, size_t i)
{
    if (dtype == CLSM_F64) {
        uint64_t b;
        memcpy(&b, (const char *)got + 8 * i, 8);
        return b == ts_canonical_nan(CLSM_F64);
    }
    uint32_t b;
    memcpy(&b, (const char *)got + 4 * i, 4);
    return b == ts_canonical_nan(CLSM_F32);
}

ts_report ts_check_stats(clsm_dtype dtype, size_t slices, const void *got, const double *want)
{
    return ts_check_stats_within(dtype, slices, got, want, 0);
}

ts_report ts_check_stats_within(clsm_dtype dtype, size_t slices, const void *got,
                                const double *want, double allowance)
{
    ts_report r = {true, ""};
    const clsm_dtype sd = dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    const double rel = (dtype == CLSM_F64 ? 1e-13 : 1e-5) + 2 * allowance;
    for (size_t i = 0; i < 2 * slices; i++) {
        double g = ts_load(sd, got, i), w = want[i];
        bool ok;
        if (isnan(w) || isnan(g))
            ok = isnan(w) && stat_nan_ok(dtype, got, i);
        else if (isinf(w) || (i % 2 == 1 && w == 0))
            ok = g == w;
        else if (i % 2 == 0)
            ok = fabs(g - w) <= allowance;
        else
            ok = fabs(g - w) <= rel * w;
        if (ok)
            continue;
        r.ok = false;
        snprintf(r.msg, sizeof r.msg, "slice %zu %s: got %.17g, expected %.17g", i / 2,
                 i % 2 == 0 ? "max" : "sum", g, w);
        return r;
    }
    return r;
}

ts_report ts_check_no_nan(clsm_dtype dtype, size_t n, const void *p)
{
    ts_report r = {true, ""};
    for (size_t i = 0; i < n; i++) {
        if (!isnan(ts_load(dtype, p, i)))
            continue;
        r.ok = false;
        snprintf(r.msg, sizeof r.msg, "element %zu of %zu is NaN", i, n);
        return r;
    }
    return r;
}

void ts_describe(char *buf, size_t size, const char *config, clsm_op op, clsm_dtype dtype,
                 clsm_shape shape, double scale)
{
    snprintf(buf, size, "%s %s %s [%zu,%zu,%zu] scale=%g", config, ts_op_name(op),
             ts_dtype_name(dtype), shape.outer, shape.axis, shape.inner, (double)scale);
}
