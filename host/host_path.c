/* The blocking host-memory entry point, built on the buffers path through reusable staging buffers. */
#include <stdlib.h>

#include "internal.h"

/* Takes an idle staging pair, or a new empty one; each thread in flight holds its own. */
static clsm_staging *staging_take(clsm_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    clsm_staging *s = ctx->idle_staging;
    if (s)
        ctx->idle_staging = s->next;
    pthread_mutex_unlock(&ctx->lock);
    return s ? s : calloc(1, sizeof *s);
}

static void staging_return(clsm_context *ctx, clsm_staging *s)
{
    pthread_mutex_lock(&ctx->lock);
    s->next = ctx->idle_staging;
    ctx->idle_staging = s;
    pthread_mutex_unlock(&ctx->lock);
}

static void staging_free_buffers(clsm_staging *s)
{
    if (s->x)
        clReleaseMemObject(s->x);
    if (s->y)
        clReleaseMemObject(s->y);
    s->x = s->y = NULL;
    s->capacity = 0;
}

static clsm_status staging_reserve(clsm_context *ctx, clsm_staging *s, size_t bytes)
{
    if (s->capacity >= bytes)
        return CLSM_SUCCESS;
    staging_free_buffers(s);
    cl_int err;
    s->x = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err == CL_SUCCESS)
        s->y = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        staging_free_buffers(s);
        return clsm_status_from_cl(err);
    }
    s->capacity = bytes;
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

/* One round trip of x through the staging buffers into y. */
static clsm_status run_chunk(clsm_context *ctx, clsm_staging *s, clsm_op op, clsm_dtype dtype,
                             clsm_shape shape, float scale, const char *x, char *y)
{
    size_t bytes = shape.outer * shape.axis * shape.inner * clsm_dtype_size(dtype);
    /* Blocking, so that x is no longer needed whatever fails next. */
    cl_int err = clEnqueueWriteBuffer(ctx->queue, s->x, CL_TRUE, 0, bytes, x, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return clsm_status_from_cl(err);
    cl_event computed;
    clsm_status status =
        clsm_launch(ctx, op, dtype, shape, scale, s->x, 0, s->y, 0, 0, NULL, &computed);
    if (status != CLSM_SUCCESS)
        return status;
    err = clEnqueueReadBuffer(ctx->queue, s->y, CL_TRUE, 0, bytes, y, 1, &computed, NULL);
    clReleaseEvent(computed);
    return clsm_status_from_cl(err);
}

clsm_status clsm_softmax_host(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                              clsm_shape shape, float scale, const void *x, void *y)
{
    size_t bytes;
    clsm_status status = clsm_validate_request(ctx, op, dtype, shape, scale, &bytes);
    if (status != CLSM_SUCCESS || bytes == 0)
        return status;
    status = clsm_validate_host(ctx, dtype, bytes, x, y);
    if (status != CLSM_SUCCESS)
        return status;

    /* Tensors larger than one device allocation go through in runs of whole outer
     * slices; the check up front matters because some drivers accept oversized
     * buffers and fail only when they are used. */
    size_t slice_bytes = bytes / shape.outer;
    if (slice_bytes > ctx->info.max_alloc)
        return CLSM_ERROR_OUT_OF_MEMORY;
    size_t per_chunk = (size_t)(ctx->info.max_alloc / slice_bytes);
    if (per_chunk > shape.outer)
        per_chunk = shape.outer;

    clsm_staging *s = staging_take(ctx);
    if (!s)
        return CLSM_ERROR_OUT_OF_MEMORY;
    status = staging_reserve(ctx, s, per_chunk * slice_bytes);
    for (size_t first = 0; status == CLSM_SUCCESS && first < shape.outer; first += per_chunk) {
        clsm_shape chunk = shape;
        chunk.outer = shape.outer - first < per_chunk ? shape.outer - first : per_chunk;
        status = run_chunk(ctx, s, op, dtype, chunk, scale, (const char *)x + first * slice_bytes,
                           (char *)y + first * slice_bytes);
    }
    staging_return(ctx, s);
    return status;
}

clsm_status clsm_softmax_host_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                 clsm_shape shape, float scale, const clsm_options *options,
                                 const void *x, void *y)
{
    if (options)
        return CLSM_ERROR_UNSUPPORTED;
    return clsm_softmax_host(ctx, op, dtype, shape, scale, x, y);
}
