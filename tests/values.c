/* Test data: a seeded generator, the dtypes' facts, f16/bf16 rounding, element access and sentinels; no Criterion, so that the fuzzer and the drivers link it too. */
#define _POSIX_C_SOURCE 200809L

#include "values.h"

#include <float.h>
#include <math.h>
#include <string.h>

const char *const ts_families[TS_FAMILIES] = {"item", "group", "row", "columns", "split", "regs"};
const clsm_dtype ts_dtypes[TS_DTYPES] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
const clsm_op ts_ops[TS_OPS] = {CLSM_SOFTMAX, CLSM_LOG_SOFTMAX};

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

void ts_fill_uniform(ts_rng *r, clsm_dtype dtype, void *p, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        ts_store(dtype, p, i, ts_rng_uniform(r, lo, hi));
}

void ts_fill_sentinel(void *p, size_t bytes)
{
    memset(p, TS_SENTINEL_BYTE, bytes);
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
