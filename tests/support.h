/* Criterion test support: a context per kernel family, allocation that fails the test when memory runs out, reference runs, and OpenCL setup. */
#ifndef CLSM_TEST_SUPPORT_H
#define CLSM_TEST_SUPPORT_H

#include "checks.h"
#include "entries.h"
#include "values.h"

/* A configuration is one family of ts_families forced through CLSM_KERNEL or, as the last
 * one, the automatic choice. */
#define TS_CONFIGS (TS_FAMILIES + 1)
/* The CLSM_KERNEL value of configuration i; NULL for the automatic choice. */
const char *ts_config_family(size_t i);
/* A printable name of configuration i ("auto" for the automatic choice). */
const char *ts_config_name(size_t i);

/* Sets or (for NULL) unsets CLSM_KERNEL, then calls clsm_context_create. */
clsm_status ts_context_create_family(clsm_context **out, const char *family);

/* Suite fixture: one context per configuration in ts_ctx; creation failure fails the test. */
extern clsm_context *ts_ctx[TS_CONFIGS];
void ts_open_all(void);
void ts_close_all(void);

/* bytes of host memory (at least 1), failing the test when there are none; free with free(). */
void *ts_malloc(size_t bytes);
/* n elements of a dtype, as ts_malloc. */
void *ts_alloc(clsm_dtype dtype, size_t n);
/* n new elements of seeded values uniform in [lo, hi]; free with free(). */
void *ts_random(clsm_dtype dtype, size_t n, double lo, double hi, uint64_t seed);

/*
 * Runs the host path out of place and asserts success, an untouched input,
 * and a result matching the reference (or expected, if not NULL).
 */
void ts_run_and_check(clsm_context *ctx, const char *config, clsm_op op, clsm_dtype dtype,
                      clsm_shape shape, double scale, const void *x, const double *expected);

/*
 * Fills a tensor with seeded values uniform in [lo, hi] and checks both ops
 * on every configuration in ts_ctx, computing the reference once per op.
 */
void ts_check_random(clsm_dtype dtype, clsm_shape shape, double scale, double lo, double hi,
                     uint64_t seed);

/* ts_run of d on entry e, out of place into out, asserting success, a clean run (no write
 * outside the output, inputs unchanged) and the reference's result; what names the call. */
void ts_run_checked(const ts_entry *e, clsm_context *ctx, const ts_data *d, void *out,
                    const char *what);

/* The first OpenCL device (platform 0, device 0), with its own context and queue. */
typedef struct ts_cl {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
} ts_cl;
void ts_cl_open(ts_cl *cl, cl_command_queue_properties properties);
void ts_cl_close(ts_cl *cl);
/* The OpenCL context of a clsoftmax context's queue, where its buffers belong. */
cl_context ts_cl_context_of(const clsm_context *ctx);
/* A buffer of the given size holding a copy of host (or uninitialised when host is NULL). */
cl_mem ts_cl_buffer(cl_context context, cl_mem_flags flags, size_t bytes, const void *host);
/* A buffer of the given size filled with TS_SENTINEL_BYTE. */
cl_mem ts_cl_sentinel_buffer(cl_context context, cl_mem_flags flags, size_t bytes);
/* Blocking read of a whole region of a buffer. */
void ts_cl_read(cl_command_queue queue, cl_mem buffer, size_t offset, size_t bytes, void *host);

#endif
