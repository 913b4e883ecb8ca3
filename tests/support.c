/* Test support: contexts per kernel variant, seeded data, f16/bf16 conversion and result checks. */
#define _POSIX_C_SOURCE 200809L

#include "support.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "reference.h"

const char *const ts_variants[] = {"item", "group", "row", "columns", "split", NULL};

clsm_context *ts_ctx[TS_MAX_CONFIGS];

size_t ts_num_configs(void)
{
    size_t n = 0;
    while (ts_variants[n] != NULL)
        n++;
    return n + 1;
}

const char *ts_config_variant(size_t i)
{
    return ts_variants[i];
}

const char *ts_config_name(size_t i)
{
    return ts_variants[i] != NULL ? ts_variants[i] : "auto";
}

clsm_status ts_context_create_variant(clsm_context **out, const char *variant)
{
    if (variant != NULL)
        setenv("CLSM_KERNEL", variant, 1);
    else
        unsetenv("CLSM_KERNEL");
    return clsm_context_create(out);
}

void ts_open_all(void)
{
    cr_assert_leq(ts_num_configs(), TS_MAX_CONFIGS, "raise TS_MAX_CONFIGS");
    for (size_t i = 0; i < ts_num_configs(); i++) {
        clsm_status st = ts_context_create_variant(&ts_ctx[i], ts_config_variant(i));
        cr_assert_eq(st, CLSM_SUCCESS, "creating the %s context: %s (build log: %s)",
                     ts_config_name(i), clsm_status_string(st),
                     clsm_context_build_log(ts_ctx[i]));
        cr_assert_not_null(ts_ctx[i], "the %s context is NULL after success", ts_config_name(i));
    }
}

void ts_close_all(void)
{
    for (size_t i = 0; i < ts_num_configs(); i++) {
        clsm_context_release(ts_ctx[i]);
        ts_ctx[i] = NULL;
    }
}

ts_rng ts_rng_seed(uint64_t seed)
{
    ts_rng r = {seed};
    return r;
}

uint64_t ts_rng_next(ts_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

double ts_rng_uniform(ts_rng *r, double lo, double hi)
{
    double u = (double)(ts_rng_next(r) >> 11) * 0x1.0p-53;
    return lo + (hi - lo) * u;
}

size_t ts_rng_below(ts_rng *r, size_t n)
{
    return (size_t)(ts_rng_next(r) % n);
}

size_t ts_count(clsm_shape s)
{
    return s.outer * s.axis * s.inner;
}

size_t ts_dtype_size(clsm_dtype dtype)
{
    switch (dtype) {
    case CLSM_F16:
    case CLSM_BF16:
        return 2;
    case CLSM_F64:
        return 8;
    default:
        return 4;
    }
}

const char *ts_dtype_name(clsm_dtype dtype)
{
    static const char *const names[] = {"F32", "F16", "BF16", "F64"};
    return (unsigned)dtype < 4 ? names[dtype] : "?";
}

const char *ts_op_name(clsm_op op)
{
    return op == CLSM_SOFTMAX ? "softmax" : op == CLSM_LOG_SOFTMAX ? "log-softmax" : "?";
}

double ts_dtype_max(clsm_dtype dtype)
{
    switch (dtype) {
    case CLSM_F16:
        return 65504.0;
    case CLSM_BF16:
        return ldexp(2.0 - ldexp(1.0, -7), 127);
    case CLSM_F64:
        return DBL_MAX;
    default:
        return FLT_MAX;
    }
}

double ts_dtype_denorm_min(clsm_dtype dtype)
{
    switch (dtype) {
    case CLSM_F16:
        return ldexp(1.0, -24);
    case CLSM_BF16:
        return ldexp(1.0, -133);
    case CLSM_F64:
        return ldexp(1.0, -1074);
    default:
        return ldexp(1.0, -149);
    }
}

/* Round to nearest even into a binary format with mbits stored mantissa and ebits exponent bits. */
static uint16_t narrow_from_double(double v, int mbits, int ebits)
{
    int bias = (1 << (ebits - 1)) - 1;
    int emin = 1 - bias;
    uint16_t sign = signbit(v) ? (uint16_t)(1u << (mbits + ebits)) : 0;
    uint16_t exp_ones = (uint16_t)(((1u << ebits) - 1) << mbits);
    if (isnan(v))
        return sign | exp_ones | (uint16_t)(1u << (mbits - 1));
    double a = fabs(v);
    if (isinf(a))
        return sign | exp_ones;
    if (a == 0)
        return sign;

    int e;
    frexp(a, &e);
    int ex = e - 1 < emin ? emin : e - 1;
    /* a / quantum is exact: both are powers of two apart, far from double's limits. */
    double quantum = ldexp(1.0, ex - mbits);
    double r = nearbyint(a / quantum) * quantum;
    if (r > ldexp(2.0 - ldexp(1.0, -mbits), bias))
        return sign | exp_ones;
    if (r < ldexp(1.0, emin))
        return sign | (uint16_t)(r / ldexp(1.0, emin - mbits));
    frexp(r, &e);
    ex = e - 1;
    uint16_t mant = (uint16_t)((uint32_t)(r / ldexp(1.0, ex - mbits)) - (1u << mbits));
    return sign | (uint16_t)((unsigned)(ex + bias) << mbits) | mant;
}

static double narrow_to_double(uint16_t h, int mbits, int ebits)
{
    int bias = (1 << (ebits - 1)) - 1;
    unsigned e = (h >> mbits) & ((1u << ebits) - 1);
    unsigned m = h & ((1u << mbits) - 1);
    double sign = (h >> (mbits + ebits)) & 1 ? -1.0 : 1.0;
    if (e == (1u << ebits) - 1)
        return m != 0 ? NAN : sign * INFINITY;
    if (e == 0)
        return sign * ldexp((double)m, 1 - bias - mbits);
    return sign * ldexp((double)(m + (1u << mbits)), (int)e - bias - mbits);
}

uint16_t ts_f16_from_double(double v)
{
    return narrow_from_double(v, 10, 5);
}

double ts_f16_to_double(uint16_t h)
{
    return narrow_to_double(h, 10, 5);
}

uint16_t ts_bf16_from_double(double v)
{
    return narrow_from_double(v, 7, 8);
}

double ts_bf16_to_double(uint16_t b)
{
    return narrow_to_double(b, 7, 8);
}

double ts_load(clsm_dtype dtype, const void *p, size_t i)
{
    switch (dtype) {
    case CLSM_F16:
        return ts_f16_to_double(((const uint16_t *)p)[i]);
    case CLSM_BF16:
        return ts_bf16_to_double(((const uint16_t *)p)[i]);
    case CLSM_F64:
        return ((const double *)p)[i];
    default:
        return ((const float *)p)[i];
    }
}

void ts_store(clsm_dtype dtype, void *p, size_t i, double v)
{
    switch (dtype) {
    case CLSM_F16:
        ((uint16_t *)p)[i] = ts_f16_from_double(v);
        break;
    case CLSM_BF16:
        ((uint16_t *)p)[i] = ts_bf16_from_double(v);
        break;
    case CLSM_F64:
        ((double *)p)[i] = v;
        break;
    default:
        ((float *)p)[i] = (float)v;
        break;
    }
}

void *ts_alloc(clsm_dtype dtype, size_t n)
{
    void *p = malloc(n * ts_dtype_size(dtype) + 1);
    cr_assert_not_null(p, "out of host memory for %zu elements", n);
    return p;
}

void ts_fill_uniform(ts_rng *r, clsm_dtype dtype, void *p, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        ts_store(dtype, p, i, ts_rng_uniform(r, lo, hi));
}

void *ts_random(clsm_dtype dtype, size_t n, double lo, double hi, uint64_t seed)
{
    ts_rng r = ts_rng_seed(seed);
    void *x = ts_alloc(dtype, n);
    ts_fill_uniform(&r, dtype, x, n, lo, hi);
    return x;
}

void ts_fill_sentinel(void *p, size_t bytes)
{
    memset(p, TS_SENTINEL_BYTE, bytes);
}

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

uint64_t ts_canonical_nan(clsm_dtype dtype)
{
    switch (dtype) {
    case CLSM_F16:
        return 0x7e00u;
    case CLSM_BF16:
        return 0x7fc0u;
    case CLSM_F64:
        return 0x7ff8000000000000u;
    default:
        return 0x7fc00000u;
    }
}

static bool element_ok(clsm_op op, clsm_dtype dtype, const void *got, size_t i, double ref,
                       bool exact)
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
        uint16_t want = dtype == CLSM_F16 ? ts_f16_from_double(ref) : ts_bf16_from_double(ref);
        long d = ordered16((uint16_t)raw_bits(dtype, got, i)) - ordered16(want);
        return labs(d) <= 1;
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
    double rel = f64 ? 1e-13 : 1e-5;
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

ts_report ts_check(clsm_op op, clsm_dtype dtype, clsm_shape shape, const void *got,
                   const double *expected)
{
    ts_report r = {true, ""};
    size_t n = ts_count(shape);
    bool exact = shape.axis == 1;
    for (size_t i = 0; i < n; i++) {
        if (element_ok(op, dtype, got, i, expected[i], exact))
            continue;
        size_t bad = 0;
        for (size_t j = i; j < n; j++)
            bad += !element_ok(op, dtype, got, j, expected[j], exact);
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
    ts_report r = {true, ""};
    const clsm_dtype sd = dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    const double rel = dtype == CLSM_F64 ? 1e-13 : 1e-5;
    for (size_t i = 0; i < 2 * slices; i++) {
        double g = ts_load(sd, got, i), w = want[i];
        bool ok;
        if (isnan(w) || isnan(g))
            ok = isnan(w) && stat_nan_ok(dtype, got, i);
        else if (i % 2 == 0 || isinf(w) || w == 0)
            ok = g == w;
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
                 clsm_shape shape, float scale)
{
    snprintf(buf, size, "%s %s %s [%zu,%zu,%zu] scale=%g", config, ts_op_name(op),
             ts_dtype_name(dtype), shape.outer, shape.axis, shape.inner, (double)scale);
}

void ts_run_and_check(clsm_context *ctx, const char *config, clsm_op op, clsm_dtype dtype,
                      clsm_shape shape, float scale, const void *x, const double *expected)
{
    char what[160];
    ts_describe(what, sizeof what, config, op, dtype, shape, scale);
    size_t n = ts_count(shape);
    size_t bytes = n * ts_dtype_size(dtype);
    void *y = ts_alloc(dtype, n);
    void *x_before = ts_alloc(dtype, n);
    ts_fill_sentinel(y, bytes);
    memcpy(x_before, x, bytes);

    clsm_status st = clsm_softmax_host(ctx, op, dtype, shape, scale, x, y);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    cr_assert(memcmp(x, x_before, bytes) == 0, "%s: the input was modified", what);

    double *ref = NULL;
    if (expected == NULL) {
        ref = malloc(n * sizeof *ref + 1);
        cr_assert_not_null(ref, "out of host memory for the reference");
        ref_softmax(op, dtype, shape, scale, x, ref);
        expected = ref;
    }
    ts_report r = ts_check(op, dtype, shape, y, expected);
    cr_assert(r.ok, "%s: %s", what, r.msg);
    free(ref);
    free(x_before);
    free(y);
}

void ts_check_random(clsm_dtype dtype, clsm_shape shape, float scale, double lo, double hi,
                     uint64_t seed)
{
    size_t n = ts_count(shape);
    void *x = ts_random(dtype, n, lo, hi, seed);
    double *ref = malloc(n * sizeof *ref + 1);
    cr_assert_not_null(ref, "out of host memory for the reference");
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        ref_softmax((clsm_op)op, dtype, shape, scale, x, ref);
        for (size_t c = 0; c < ts_num_configs(); c++)
            ts_run_and_check(ts_ctx[c], ts_config_name(c), (clsm_op)op, dtype, shape, scale, x,
                             ref);
    }
    free(ref);
    free(x);
}

void ts_cl_open(ts_cl *cl, cl_command_queue_properties properties)
{
    cl_int err = clGetPlatformIDs(1, &cl->platform, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clGetPlatformIDs: %d", err);
    err = clGetDeviceIDs(cl->platform, CL_DEVICE_TYPE_ALL, 1, &cl->device, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clGetDeviceIDs: %d", err);
    cl->context = clCreateContext(NULL, 1, &cl->device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateContext: %d", err);
    cl->queue = clCreateCommandQueue(cl->context, cl->device, properties, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateCommandQueue: %d", err);
}

void ts_cl_close(ts_cl *cl)
{
    if (cl->queue != NULL)
        clReleaseCommandQueue(cl->queue);
    if (cl->context != NULL)
        clReleaseContext(cl->context);
    cl->queue = NULL;
    cl->context = NULL;
}

cl_mem ts_cl_buffer(cl_context context, cl_mem_flags flags, size_t bytes, const void *host)
{
    cl_int err;
    cl_mem m = clCreateBuffer(context, flags | (host != NULL ? CL_MEM_COPY_HOST_PTR : 0), bytes,
                              (void *)host, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer of %zu bytes: %d", bytes, err);
    return m;
}

void ts_cl_read(cl_command_queue queue, cl_mem buffer, size_t offset, size_t bytes, void *host)
{
    cl_int err = clEnqueueReadBuffer(queue, buffer, CL_TRUE, offset, bytes, host, 0, NULL, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clEnqueueReadBuffer: %d", err);
}
