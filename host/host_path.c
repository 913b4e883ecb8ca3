/* The blocking host-memory entry points, forward and backward, built on the buffers path through reusable staging buffers. */
#include <stdlib.h>

#include "internal.h"

clsm_staging *clsm_staging_take(clsm_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    clsm_staging *s = ctx->idle_staging;
    if (s)
        ctx->idle_staging = s->next;
    pthread_mutex_unlock(&ctx->lock);
    return s ? s : calloc(1, sizeof *s);
}

void clsm_staging_return(clsm_context *ctx, clsm_staging *s)
{
    pthread_mutex_lock(&ctx->lock);
    s->next = ctx->idle_staging;
    ctx->idle_staging = s;
    pthread_mutex_unlock(&ctx->lock);
}

static void staging_free_buffers(clsm_staging *s)
{
    for (int i = 0; i < 3; ++i) {
        if (s->buffers[i])
            clReleaseMemObject(s->buffers[i]);
        s->buffers[i] = NULL;
    }
    s->capacity = 0;
}

clsm_status clsm_staging_reserve(clsm_context *ctx, clsm_staging *s, size_t bytes, int count)
{
    if (s->capacity < bytes) {
        staging_free_buffers(s);
        s->capacity = bytes;
    }
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < count && err == CL_SUCCESS; ++i)
        if (!s->buffers[i])
            s->buffers[i] = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, s->capacity, NULL, &err);
    if (err != CL_SUCCESS) {
        staging_free_buffers(s);
        return clsm_status_from_cl(err);
    }
    return CLSM_SUCCESS;
}

void clsm_staging_release_all(clsm_context *ctx)
{
    clsm_staging *s = ctx->idle_staging;
    while (s) {
        clsm_staging *next = s->next;
        staging_free_buffers(s);
        free(s);
        s = next;
    }
    ctx->idle_staging = NULL;
}

clsm_status clsm_options_to_device(clsm_context *ctx, clsm_request *r)
{
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < CLSM_OPTION_TENSORS; ++i) {
        clsm_tensor *t = clsm_option_tensor(&r->opt, i);
        int written = clsm_option_tensor_written(i);
        t->buffer = NULL;
        t->offset = 0;
        if (!t->host || r->extent[i].bytes == 0 || err != CL_SUCCESS)
            continue;
        t->buffer = clCreateBuffer(ctx->cl,
                                   written ? CL_MEM_WRITE_ONLY
                                           : CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                   r->extent[i].bytes, written ? NULL : t->host, &err);
    }
    return clsm_status_from_cl(err);
}

void clsm_options_release(clsm_request *r)
{
    for (int i = 0; i < CLSM_OPTION_TENSORS; ++i) {
        cl_mem buffer = clsm_option_tensor(&r->opt, i)->buffer;
        if (buffer)
            clReleaseMemObject(buffer);
    }
}

/* Tensors larger than one device allocation go through in runs of whole outer slices, of
 * *slice_bytes each, *per_run at a time; the check up front matters because some drivers
 * accept oversized buffers and fail only when they are used. */
static clsm_status plan_runs(const clsm_context *ctx, const clsm_request *r,
                             size_t *slice_bytes, size_t *per_run)
{
    *slice_bytes = r->bytes / r->shape.outer;
    if (*slice_bytes > ctx->info.max_alloc)
        return CLSM_ERROR_OUT_OF_MEMORY;
    *per_run = (size_t)(ctx->info.max_alloc / *slice_bytes);
    if (*per_run > r->shape.outer)
        *per_run = r->shape.outer;
    return CLSM_SUCCESS;
}

/* One round trip of outer slices first to first + run.outer of x through the staging
 * buffers into y; the statistics stay on the device until the end. */
static clsm_status forward_run(clsm_context *ctx, clsm_staging *s, const clsm_request *whole,
                               clsm_shape run, size_t first, const char *x, char *y)
{
    clsm_request r = *whole;
    r.shape = run;
    r.bytes = run.outer * run.axis * run.inner * clsm_dtype_size(r.dtype);
    size_t stats_skip = first * run.inner * 2 * clsm_real_size(r.dtype);
    r.opt.stats_in.offset += stats_skip;
    r.opt.stats_out.offset += stats_skip;
    /* Not blocking: on a CPU device each wait for the queue is a thread handoff, which is
     * most of a small call's time, so the call waits once, for the read. The kernel waits
     * for the write by its event (the queue may be out of order). */
    cl_event written;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, s->buffers[0], CL_FALSE, 0, r.bytes, x, 0,
                                      NULL, &written);
    if (err != CL_SUCCESS)
        return clsm_status_from_cl(err);
    cl_event computed;
    clsm_status status = clsm_launch(ctx, &r, s->buffers[0], 0, y ? s->buffers[1] : NULL, 0,
                                     first, 1, &written, &computed);
    if (status != CLSM_SUCCESS) {
        /* x must be no longer needed when the call returns. */
        clWaitForEvents(1, &written);
        clReleaseEvent(written);
        return status;
    }
    clReleaseEvent(written);
    err = y ? clEnqueueReadBuffer(ctx->queue, s->buffers[1], CL_TRUE, 0, r.bytes, y, 1,
                                  &computed, NULL)
            : clWaitForEvents(1, &computed);
    clReleaseEvent(computed);
    return clsm_status_from_cl(err);
}

clsm_status clsm_softmax_host_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                 clsm_shape shape, double scale, const clsm_options *options,
                                 const void *x, void *y)
{
    clsm_request r;
    clsm_status status = clsm_validate_request(ctx, op, dtype, shape, scale, options, &r);
    if (status != CLSM_SUCCESS || r.bytes == 0)
        return status;
    status = clsm_validate_host(&r, x, y);
    if (status != CLSM_SUCCESS)
        return status;

    size_t slice_bytes, per_run;
    status = plan_runs(ctx, &r, &slice_bytes, &per_run);
    if (status != CLSM_SUCCESS)
        return status;

    void *stats_out = r.opt.stats_out.host;
    status = clsm_options_to_device(ctx, &r);
    clsm_staging *s = status == CLSM_SUCCESS ? clsm_staging_take(ctx) : NULL;
    if (status == CLSM_SUCCESS && !s)
        status = CLSM_ERROR_OUT_OF_MEMORY;
    if (status == CLSM_SUCCESS)
        status = clsm_staging_reserve(ctx, s, per_run * slice_bytes, 2);
    for (size_t first = 0; status == CLSM_SUCCESS && first < shape.outer; first += per_run) {
        clsm_shape run = shape;
        run.outer = shape.outer - first < per_run ? shape.outer - first : per_run;
        status = forward_run(ctx, s, &r, run, first, (const char *)x + first * slice_bytes,
                             y ? (char *)y + first * slice_bytes : NULL);
    }
    if (status == CLSM_SUCCESS && stats_out)
        status = clsm_status_from_cl(clEnqueueReadBuffer(ctx->queue, r.opt.stats_out.buffer,
                                                         CL_TRUE, 0,
                                                         r.extent[CLSM_TENSOR_stats_out].bytes,
                                                         stats_out,
                                                         0, NULL, NULL));
    if (s)
        clsm_staging_return(ctx, s);
    clsm_options_release(&r);
    return status;
}

clsm_status clsm_softmax_host(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                              clsm_shape shape, float scale, const void *x, void *y)
{
    return clsm_softmax_host_ex(ctx, op, dtype, shape, scale, NULL, x, y);
}

/* One round trip of outer slices first to first + run.outer: y, dy and (with a cap) x into
 * the staging buffers, dx computed over the staged dy and read back from it. */
static clsm_status backward_run(clsm_context *ctx, clsm_staging *s, const clsm_request *whole,
                                clsm_shape run, size_t first, const char *x, const char *y,
                                const char *dy, char *dx)
{
    clsm_request r = *whole;
    r.shape = run;
    r.bytes = run.outer * run.axis * run.inner * clsm_dtype_size(r.dtype);
    /* Not blocking, as in forward_run; but the inputs must be no longer needed when the call
     * returns, whatever fails: dx may be y or dy. */
    const char *const inputs[3] = {y, dy, x};
    cl_event written[3];
    cl_uint n = 0;
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < 3 && inputs[i] && err == CL_SUCCESS; ++i) {
        err = clEnqueueWriteBuffer(ctx->queue, s->buffers[i], CL_FALSE, 0, r.bytes, inputs[i], 0,
                                   NULL, &written[n]);
        n += err == CL_SUCCESS;
    }
    clsm_status status = clsm_status_from_cl(err);
    cl_event computed;
    if (status == CLSM_SUCCESS)
        status = clsm_launch_backward(ctx, &r, x ? s->buffers[2] : NULL, 0, s->buffers[0], 0,
                                      s->buffers[1], 0, s->buffers[1], 0, first, n, written,
                                      &computed);
    if (status != CLSM_SUCCESS && n)
        clWaitForEvents(n, written);
    for (cl_uint i = 0; i < n; i++)
        clReleaseEvent(written[i]);
    if (status != CLSM_SUCCESS)
        return status;
    err = clEnqueueReadBuffer(ctx->queue, s->buffers[1], CL_TRUE, 0, r.bytes, dx, 1, &computed,
                              NULL);
    clReleaseEvent(computed);
    return clsm_status_from_cl(err);
}

clsm_status clsm_softmax_backward_host_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                          clsm_shape shape, double scale,
                                          const clsm_options *options, const void *x,
                                          const void *y, const void *dy, void *dx)
{
    clsm_request r;
    clsm_status status = clsm_validate_request(ctx, op, dtype, shape, scale, options, &r);
    if (status != CLSM_SUCCESS || r.bytes == 0)
        return status;
    /* x is read only for the cap's derivative. */
    if (!(r.opt.softcap > 0))
        x = NULL;
    status = clsm_validate_backward_host(&r, x, y, dy, dx);
    if (status != CLSM_SUCCESS)
        return status;

    size_t slice_bytes, per_run;
    status = plan_runs(ctx, &r, &slice_bytes, &per_run);
    if (status != CLSM_SUCCESS)
        return status;

    status = clsm_options_to_device(ctx, &r);
    clsm_staging *s = status == CLSM_SUCCESS ? clsm_staging_take(ctx) : NULL;
    if (status == CLSM_SUCCESS && !s)
        status = CLSM_ERROR_OUT_OF_MEMORY;
    if (status == CLSM_SUCCESS)
        status = clsm_staging_reserve(ctx, s, per_run * slice_bytes, x ? 3 : 2);
    for (size_t first = 0; status == CLSM_SUCCESS && first < shape.outer; first += per_run) {
        clsm_shape run = shape;
        run.outer = shape.outer - first < per_run ? shape.outer - first : per_run;
        size_t skip = first * slice_bytes;
        status = backward_run(ctx, s, &r, run, first, x ? (const char *)x + skip : NULL,
                              (const char *)y + skip, (const char *)dy + skip, (char *)dx + skip);
    }
    if (s)
        clsm_staging_return(ctx, s);
    clsm_options_release(&r);
    return status;
}

clsm_status clsm_softmax_backward_host(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                       clsm_shape shape, float scale, const void *y,
                                       const void *dy, void *dx)
{
    return clsm_softmax_backward_host_ex(ctx, op, dtype, shape, scale, NULL, NULL, y, dy, dx);
}
