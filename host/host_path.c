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

    clsm_staging *s = staging_take(ctx);
    if (!s)
        return CLSM_ERROR_OUT_OF_MEMORY;
    status = staging_reserve(ctx, s, bytes);
    if (status != CLSM_SUCCESS)
        goto done;
    /* Blocking, so that x is no longer needed whatever fails next. */
    cl_int err = clEnqueueWriteBuffer(ctx->queue, s->x, CL_TRUE, 0, bytes, x, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        status = clsm_status_from_cl(err);
        goto done;
    }
    cl_event computed;
    status = clsm_launch(ctx, op, dtype, shape, scale, s->x, 0, s->y, 0, 0, NULL, &computed);
    if (status != CLSM_SUCCESS)
        goto done;
    err = clEnqueueReadBuffer(ctx->queue, s->y, CL_TRUE, 0, bytes, y, 1, &computed, NULL);
    clReleaseEvent(computed);
    status = clsm_status_from_cl(err);
done:
    staging_return(ctx, s);
    return status;
}
