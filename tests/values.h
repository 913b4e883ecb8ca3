/* Test data: the families, dtypes and ops every suite, the oclgrind driver and the fuzzer iterate over; a seeded generator; dtype facts, f16/bf16 rounding, element access and sentinels. No Criterion. */
#ifndef CLSM_TEST_VALUES_H
#define CLSM_TEST_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clsoftmax.h>

/* The kernel families, as CLSM_KERNEL names them. */
#define TS_FAMILIES 6
extern const char *const ts_families[TS_FAMILIES];
#define TS_DTYPES 4
extern const clsm_dtype ts_dtypes[TS_DTYPES];
#define TS_OPS 2
extern const clsm_op ts_ops[TS_OPS];

/* splitmix64: small, seedable, identical on every platform. */
typedef struct ts_rng {
    uint64_t state;
} ts_rng;
ts_rng ts_rng_seed(uint64_t seed);
uint64_t ts_rng_next(ts_rng *r);
double ts_rng_uniform(ts_rng *r, double lo, double hi);
size_t ts_rng_below(ts_rng *r, size_t n);

/* Elements of a shape; the caller keeps shapes small enough not to overflow. */
size_t ts_count(clsm_shape s);
size_t ts_dtype_size(clsm_dtype dtype);
const char *ts_dtype_name(clsm_dtype dtype);
const char *ts_op_name(clsm_op op);
/* The largest finite value and the smallest positive subnormal of a dtype. */
double ts_dtype_max(clsm_dtype dtype);
double ts_dtype_denorm_min(clsm_dtype dtype);

/* Round-to-nearest-even conversions of IEEE binary16 and bfloat16 bit patterns. */
uint16_t ts_f16_from_double(double v);
double ts_f16_to_double(uint16_t h);
uint16_t ts_bf16_from_double(double v);
double ts_bf16_to_double(uint16_t b);

/* Element i of a dtype array, read as or written from a double (rounded to nearest even). */
double ts_load(clsm_dtype dtype, const void *p, size_t i);
void ts_store(clsm_dtype dtype, void *p, size_t i, double v);

/* Fills n elements with values uniform in [lo, hi], rounded to the dtype. */
void ts_fill_uniform(ts_rng *r, clsm_dtype dtype, void *p, size_t n, double lo, double hi);

/* A byte pattern no result of these tests produces, to see what a call wrote. */
#define TS_SENTINEL_BYTE 0xA5
void ts_fill_sentinel(void *p, size_t bytes);

/* The bits of the one NaN the library writes in a dtype. */
uint64_t ts_canonical_nan(clsm_dtype dtype);

#endif
