/* Kernel choice by shape and device, and the asynchronous buffers entry point. */
#include "internal.h"

/* Caps the NDRange; kernels loop over the slices beyond it. */
#define CLSM_MAX_GROUPS 65536u
#define CLSM_ITEM_LOCAL_SIZE 64u

static size_t floor_pow2(size_t n)
{
    size_t p = 1;
    while (p * 2 <= n)
        p *= 2;
    return p;
}

/* Whether a kernel family handles this layout at all. */
static int kind_fits(clsm_kernel_kind kind, clsm_shape shape)
{
    switch (kind) {
    case CLSM_KERNEL_ROW:
    case CLSM_KERNEL_SPLIT:
        return shape.inner == 1;
    case CLSM_KERNEL_COLUMNS:
        return shape.inner > 1;
    default:
        return 1;
    }
}

static clsm_kernel_kind choose_kind(const clsm_context *ctx, clsm_shape shape)
{
    if (ctx->forced_kind != CLSM_KERNEL_AUTO && kind_fits(ctx->forced_kind, shape))
        return ctx->forced_kind;
    size_t slices = shape.outer * shape.inner;
    /* A CPU runs a work-group on one thread, a barrier splitting it into loops: slices
     * go to work-items whole, walked with vectors along the slice where it is contiguous
     * and across neighbouring slices where there are a vector's worth of them. */
    size_t units = ctx->info.compute_units;
    if (!(ctx->info.type & CL_DEVICE_TYPE_GPU)) {
        /* Too few long slices to give every core a few: split them. */
        if (shape.inner == 1 && shape.outer < 4 * units && shape.axis >= 16384)
            return CLSM_KERNEL_SPLIT;
        if (shape.inner == 1)
            return CLSM_KERNEL_ROW;
        return shape.inner >= CLSM_F32_LANES ? CLSM_KERNEL_COLUMNS : CLSM_KERNEL_ITEM;
    }
    /* Fewer long slices than compute units would leave most of them idle. */
    if (shape.inner == 1 && shape.outer < units && shape.axis >= 65536)
        return CLSM_KERNEL_SPLIT;
    /* A work-group and its barriers cost more than a short slice is worth. */
    if (shape.axis <= 64)
        return CLSM_KERNEL_ITEM;
    /* Strided slices read coalesced across work-items, once there are enough of them. */
    if (shape.inner > 1 && slices >= 1024)
        return CLSM_KERNEL_ITEM;
    return CLSM_KERNEL_GROUP;
}

const char *clsm_kind_name(clsm_kernel_kind kind)
{
    static const char *const names[] = {"auto", "item", "group", "row", "columns", "split"};
    return names[kind];
}

const char *clsm_kernel_name(const clsm_context *ctx, clsm_dtype dtype, clsm_shape shape)
{
    (void)dtype;
    if (!ctx)
        return NULL;
    return clsm_kind_name(choose_kind(ctx, shape));
}

/* Slices a row work-item finishes together: a vector's worth of short ones, once every
 * core still gets 16 work-items; a long slice alone, so that it stays in cache for its
 * last pass. */
static cl_uint row_batch(const clsm_context *ctx, clsm_shape shape)
{
    if (shape.axis <= 1024 &&
        shape.outer >= CLSM_F32_LANES * 16 * (size_t)ctx->info.compute_units)
        return CLSM_F32_LANES;
    return 1;
}

/* Work-items for the kinds without work-group cooperation. */
static size_t work_items(const clsm_context *ctx, clsm_kernel_kind kind, clsm_shape shape)
{
    if (kind == CLSM_KERNEL_COLUMNS)
        return shape.outer *
               ((shape.inner + CLSM_F32_LANES - 1) / CLSM_F32_LANES);
    if (kind == CLSM_KERNEL_SPLIT) {
        size_t chunk;
        return shape.outer * clsm_split_chunks(ctx, shape, &chunk);
    }
    if (kind != CLSM_KERNEL_ROW)
        return shape.outer * shape.inner;
    cl_uint batch = row_batch(ctx, shape);
    return (shape.outer + batch - 1) / batch;
}

static size_t local_size(const clsm_context *ctx, clsm_kernel_kind kind, clsm_shape shape)
{
    size_t wanted = CLSM_ITEM_LOCAL_SIZE;
    if (kind == CLSM_KERNEL_GROUP) {
        wanted = (ctx->info.type & CL_DEVICE_TYPE_GPU) ? 256 : 64;
    } else if (!(ctx->info.type & CL_DEVICE_TYPE_GPU)) {
        /* A CPU thread takes whole work-groups: a few per core balance the load. */
        size_t per_group = work_items(ctx, kind, shape) / (4 * (size_t)ctx->info.compute_units);
        wanted = per_group < 1 ? 1 : per_group < wanted ? per_group : wanted;
    }
    return floor_pow2(wanted < ctx->info.max_group_size ? wanted : ctx->info.max_group_size);
}

static size_t global_size(const clsm_context *ctx, clsm_kernel_kind kind, clsm_shape shape,
                          size_t local)
{
    size_t groups = kind == CLSM_KERNEL_GROUP
                        ? shape.outer * shape.inner
                        : (work_items(ctx, kind, shape) + local - 1) / local;
    return (groups < CLSM_MAX_GROUPS ? groups : CLSM_MAX_GROUPS) * local;
}

clsm_status clsm_launch(clsm_context *ctx, clsm_op op, clsm_dtype dtype, clsm_shape shape,
                        float scale, cl_mem x, size_t x_offset, cl_mem y, size_t y_offset,
                        cl_uint num_events, const cl_event *events, cl_event *event)
{
    clsm_kernel_kind kind = choose_kind(ctx, shape);
    size_t local = local_size(ctx, kind, shape);
    clsm_variant key = {kind, dtype, op, scale == 0.0f, kind == CLSM_KERNEL_GROUP ? local : 0};
    size_t element = clsm_dtype_size(dtype);
    cl_ulong args[5] = {x_offset / element, y_offset / element, shape.outer, shape.axis,
                        shape.inner};
    clsm_status status;

    const clsm_program *p = clsm_program_get(ctx, &key, &status);
    /* A kernel may allow smaller work-groups than its device; the group kernel has its
     * size compiled in, so it is built again for the size the kernel allows. */
    while (p && p->max_group_size < local) {
        local = floor_pow2(p->max_group_size);
        if (kind == CLSM_KERNEL_GROUP) {
            key.group_size = local;
            p = clsm_program_get(ctx, &key, &status);
        }
    }
    if (!p)
        return status;
    /* Outputs larger than the cache go past it, where the kernel can. */
    cl_uint stream = shape.outer * shape.axis * shape.inner * element >= ctx->info.cache_size;
    pthread_mutex_lock(&ctx->lock);
    if (kind == CLSM_KERNEL_SPLIT) {
        status = clsm_enqueue_split(ctx, p, dtype, shape, scale, x, args[0], y, args[1], stream,
                                    local, num_events, events, event);
        goto unlock;
    }
    cl_kernel kernel = p->kernels[0];
    size_t global = global_size(ctx, kind, shape, local);
    cl_int err = clSetKernelArg(kernel, 0, sizeof x, &x);
    if (err == CL_SUCCESS)
        err = clSetKernelArg(kernel, 1, sizeof args[0], &args[0]);
    if (err == CL_SUCCESS)
        err = clSetKernelArg(kernel, 2, sizeof y, &y);
    for (cl_uint i = 1; i < 5 && err == CL_SUCCESS; ++i)
        err = clSetKernelArg(kernel, 2 + i, sizeof args[i], &args[i]);
    if (err == CL_SUCCESS)
        err = clSetKernelArg(kernel, 7, sizeof scale, &scale);
    if (err == CL_SUCCESS && kind == CLSM_KERNEL_ROW) {
        cl_uint batch = row_batch(ctx, shape);
        err = clSetKernelArg(kernel, 8, sizeof batch, &batch);
        if (err == CL_SUCCESS)
            err = clSetKernelArg(kernel, 9, sizeof stream, &stream);
    }
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(ctx->queue, kernel, 1, NULL, &global, &local, num_events,
                                     events, event);
    status = clsm_status_from_cl(err);
unlock:
    pthread_mutex_unlock(&ctx->lock);
    return status;
}

clsm_status clsm_softmax_buffers(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                 clsm_shape shape, float scale, cl_mem x, size_t x_offset,
                                 cl_mem y, size_t y_offset, cl_uint num_events_in_wait_list,
                                 const cl_event *event_wait_list, cl_event *event)
{
    size_t bytes;
    clsm_status status = clsm_validate_request(ctx, op, dtype, shape, scale, &bytes);
    if (status == CLSM_SUCCESS)
        status = clsm_validate_wait_list(ctx, num_events_in_wait_list, event_wait_list);
    if (status != CLSM_SUCCESS)
        return status;
    if (bytes == 0) {
        /* Nothing to compute, but the caller may still be waiting on the event. */
        if (!event)
            return CLSM_SUCCESS;
        return clsm_status_from_cl(clEnqueueMarkerWithWaitList(
            ctx->queue, num_events_in_wait_list, event_wait_list, event));
    }
    status = clsm_validate_buffers(ctx, dtype, bytes, x, x_offset, y, y_offset);
    if (status != CLSM_SUCCESS)
        return status;
    return clsm_launch(ctx, op, dtype, shape, scale, x, x_offset, y, y_offset,
                       num_events_in_wait_list, event_wait_list, event);
}

clsm_status clsm_softmax_buffers_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                    clsm_shape shape, float scale, const clsm_options *options,
                                    cl_mem x, size_t x_offset, cl_mem y, size_t y_offset,
                                    cl_uint num_events_in_wait_list,
                                    const cl_event *event_wait_list, cl_event *event)
{
    if (options)
        return CLSM_ERROR_UNSUPPORTED;
    return clsm_softmax_buffers(ctx, op, dtype, shape, scale, x, x_offset, y, y_offset,
                                num_events_in_wait_list, event_wait_list, event);
}
