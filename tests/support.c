/* Criterion test support: a context per kernel family, allocation that fails the test when memory runs out, reference runs, and OpenCL setup. */
#define _POSIX_C_SOURCE 200809L

#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "reference.h"

clsm_context *ts_ctx[TS_CONFIGS];

const char *ts_config_family(size_t i)
{
    return i < TS_FAMILIES ? ts_families[i] : NULL;
}

const char *ts_config_name(size_t i)
{
    return i < TS_FAMILIES ? ts_families[i] : "auto";
}

clsm_status ts_context_create_family(clsm_context **out, const char *family)
{
    if (family != NULL)
        setenv("CLSM_KERNEL", family, 1);
    else
        unsetenv("CLSM_KERNEL");
    return clsm_context_create(out);
}

void ts_open_all(void)
{
    for (size_t i = 0; i < TS_CONFIGS; i++) {
        clsm_status st = ts_context_create_family(&ts_ctx[i], ts_config_family(i));
        cr_assert_eq(st, CLSM_SUCCESS, "creating the %s context: %s (build log: %s)",
                     ts_config_name(i), clsm_status_string(st),
                     clsm_context_build_log(ts_ctx[i]));
        cr_assert_not_null(ts_ctx[i], "the %s context is NULL after success", ts_config_name(i));
    }
}

void ts_close_all(void)
{
    for (size_t i = 0; i < TS_CONFIGS; i++) {
        clsm_context_release(ts_ctx[i]);
        ts_ctx[i] = NULL;
    }
}

void *ts_malloc(size_t bytes)
{
    void *p = malloc(bytes + 1);
    cr_assert_not_null(p, "out of host memory for %zu bytes", bytes);
    return p;
}

void *ts_alloc(clsm_dtype dtype, size_t n)
{
    return ts_malloc(n * ts_dtype_size(dtype));
}

void *ts_random(clsm_dtype dtype, size_t n, double lo, double hi, uint64_t seed)
{
    ts_rng r = ts_rng_seed(seed);
    void *x = ts_alloc(dtype, n);
    ts_fill_uniform(&r, dtype, x, n, lo, hi);
    return x;
}

void ts_run_and_check(clsm_context *ctx, const char *config, clsm_op op, clsm_dtype dtype,
                      clsm_shape shape, double scale, const void *x, const double *expected)
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
        ref = ts_malloc(n * sizeof *ref);
        ref_softmax(op, dtype, shape, scale, x, ref);
        expected = ref;
    }
    ts_report r = ts_check(op, dtype, shape, y, expected);
    cr_assert(r.ok, "%s: %s", what, r.msg);
    free(ref);
    free(x_before);
    free(y);
}

void ts_check_random(clsm_dtype dtype, clsm_shape shape, double scale, double lo, double hi,
                     uint64_t seed)
{
    size_t n = ts_count(shape);
    void *x = ts_random(dtype, n, lo, hi, seed);
    double *ref = ts_malloc(n * sizeof *ref);
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        ref_softmax((clsm_op)op, dtype, shape, scale, x, ref);
        for (size_t c = 0; c < TS_CONFIGS; c++)
            ts_run_and_check(ts_ctx[c], ts_config_name(c), (clsm_op)op, dtype, shape, scale, x,
                             ref);
    }
    free(ref);
    free(x);
}

void ts_run_checked(const ts_entry *e, clsm_context *ctx, const ts_data *d, void *out,
                    const char *what)
{
    clsm_status st;
    ts_report r = ts_run(e, ctx, d, TS_APART, out, &st);
    cr_assert(r.ok, "%s %s: %s", e->name, what, r.msg);
    cr_assert_eq(st, CLSM_SUCCESS, "%s %s: %s", e->name, what, clsm_status_string(st));
    r = ts_check_result(e, d, out);
    cr_assert(r.ok, "%s %s: %s", e->name, what, r.msg);
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

cl_context ts_cl_context_of(const clsm_context *ctx)
{
    cl_context c;
    cl_int err = clGetCommandQueueInfo(clsm_context_queue(ctx), CL_QUEUE_CONTEXT, sizeof c, &c,
                                       NULL);
    cr_assert_eq(err, CL_SUCCESS, "CL_QUEUE_CONTEXT: %d", err);
    return c;
}

cl_mem ts_cl_sentinel_buffer(cl_context context, cl_mem_flags flags, size_t bytes)
{
    unsigned char *init = ts_malloc(bytes);
    ts_fill_sentinel(init, bytes);
    cl_mem b = ts_cl_buffer(context, flags, bytes, init);
    free(init);
    return b;
}

void ts_cl_read(cl_command_queue queue, cl_mem buffer, size_t offset, size_t bytes, void *host)
{
    cl_int err = clEnqueueReadBuffer(queue, buffer, CL_TRUE, offset, bytes, host, 0, NULL, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clEnqueueReadBuffer: %d", err);
}
