/* Test support: contexts per kernel variant, seeded data, f16/bf16 conversion and result checks. */
#ifndef CLSM_TEST_SUPPORT_H
#define CLSM_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clsoftmax.h>

/* Kernel variants forced through CLSM_KERNEL, NULL-terminated. */
extern const char *const ts_variants[];

/* A configuration is one forced variant or, as the last one, the automatic choice. */
#define TS_MAX_CONFIGS 8
size_t ts_num_configs(void);
/* The CLSM_KERNEL value of configuration i; NULL for the automatic choice. */
const char *ts_config_variant(size_t i);
/* A printable name of configuration i ("auto" for the automatic choice). */
const char *ts_config_name(size_t i);

/* Sets or (for NULL) unsets CLSM_KERNEL, then calls clsm_context_create. */
clsm_status ts_context_create_variant(clsm_context **out, const char *variant);

/* Suite fixture: one context per configuration in ts_ctx; creation failure fails the test. */
extern clsm_context *ts_ctx[TS_MAX_CONFIGS];
void ts_open_all(void);
void ts_close_all(void);

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

/* Allocates n elements (aborting the test when memory runs out); free with free(). */
void *ts_alloc(clsm_dtype dtype, size_t n);
/* Fills n elements with values uniform in [lo, hi], rounded to the dtype. */
void ts_fill_uniform(ts_rng *r, clsm_dtype dtype, void *p, size_t n, double lo, double hi);
/* n new elements of seeded values uniform in [lo, hi]; free with free(). */
void *ts_random(clsm_dtype dtype, size_t n, double lo, double hi, uint64_t seed);

/* A byte pattern no result of these tests produces, to see what a call wrote. */
#define TS_SENTINEL_BYTE 0xA5
void ts_fill_sentinel(void *p, size_t bytes);

/* The bits of the one NaN the library writes in a dtype. */
uint64_t ts_canonical_nan(clsm_dtype dtype);

/* The outcome of a check: ok, or a message naming the first bad element. */
typedef struct ts_report {
    bool ok;
    char msg[512];
} ts_report;

/*
 * Checks a result against expected f64 values with the contract's bounds:
 * NaN (as the canonical NaN), infinities and zeros exactly; F32 softmax relative 1e-5 (absolute
 * 1e-35 below 1e-30), F32 log-softmax absolute 1e-5*max(1,|ref|); F64 the
 * same with 1e-13 (absolute 1e-300 below 1e-290); F16/BF16 at most one unit
 * in the last place from the reference rounded to nearest even. On an axis
 * of length 1 every element must equal the reference exactly (softmax 1,
 * log-softmax 0, or the special values).
 */
ts_report ts_check(clsm_op op, clsm_dtype dtype, clsm_shape shape, const void *got,
                   const double *expected);
/*
 * Checks a backward result against ref_softmax_backward's values and bounds:
 * NaN as the canonical NaN, infinities exactly, every other element within
 * its bound (exactly where the bound is 0).
 */
ts_report ts_check_backward(clsm_dtype dtype, clsm_shape shape, const void *got,
                            const double *expected, const double *bound);
/* Checks that a and b hold the same bytes. */
ts_report ts_check_identical(clsm_dtype dtype, size_t n, const void *got, const void *want);
/* Checks that every byte is TS_SENTINEL_BYTE. */
ts_report ts_check_sentinel(const void *p, size_t bytes);
/*
 * Checks per-slice (max, sum) statistics of a call of dtype (f32 pairs, f64
 * for F64) against the reference's: the max exactly (it is one u as the
 * compute type forms it), the sum within relative 1e-5 (1e-13 for F64), NaN
 * as the canonical NaN.
 */
ts_report ts_check_stats(clsm_dtype dtype, size_t slices, const void *got, const double *want);
/* Checks that no element is NaN. */
ts_report ts_check_no_nan(clsm_dtype dtype, size_t n, const void *p);

/* "item softmax F32 [3,257,1] scale=0.5" into buf. */
void ts_describe(char *buf, size_t size, const char *config, clsm_op op, clsm_dtype dtype,
                 clsm_shape shape, float scale);

/*
 * Runs the host path out of place and asserts success, an untouched input,
 * and a result matching the reference (or expected, if not NULL).
 */
void ts_run_and_check(clsm_context *ctx, const char *config, clsm_op op, clsm_dtype dtype,
                      clsm_shape shape, float scale, const void *x, const double *expected);

/*
 * Fills a tensor with seeded values uniform in [lo, hi] and checks both ops
 * on every configuration in ts_ctx, computing the reference once per op.
 */
void ts_check_random(clsm_dtype dtype, clsm_shape shape, float scale, double lo, double hi,
                     uint64_t seed);

/* The first OpenCL device (platform 0, device 0), with its own context and queue. */
typedef struct ts_cl {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
} ts_cl;
void ts_cl_open(ts_cl *cl, cl_command_queue_properties properties);
void ts_cl_close(ts_cl *cl);
/* A buffer of the given size holding a copy of host (or uninitialised when host is NULL). */
cl_mem ts_cl_buffer(cl_context context, cl_mem_flags flags, size_t bytes, const void *host);
/* Blocking read of a whole region of a buffer. */
void ts_cl_read(cl_command_queue queue, cl_mem buffer, size_t offset, size_t bytes, void *host);

#endif
