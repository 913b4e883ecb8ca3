/* Kernel choice by shape and device, the launch of a validated request, and the buffers entry points. */
#include "internal.h"

static clsm_kernel_kind choose_kind(const clsm_context *ctx, clsm_shape shape)
{
    if (ctx->forced_kind != CLSM_KERNEL_AUTO && clsm_family_of(ctx->forced_kind)->fits(shape))
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

const char *clsm_kernel_name(const clsm_context *ctx, clsm_dtype dtype, clsm_shape shape)
{
    (void)dtype;
    if (!ctx)
        return NULL;
    return clsm_family_of(choose_kind(ctx, shape))->name;
}

/* The built program of the request's variant and its geometry: a kernel may allow smaller
 * work-groups than its device, and the group family, which compiles its size in, is then
 * built again for the size the kernel allows. */
static const clsm_program *program_for(clsm_context *ctx, const clsm_request *r,
                                       clsm_kernel_kind kind, int write_y, clsm_geometry *g,
                                       clsm_status *status)
{
    const clsm_family *f = clsm_family_of(kind);
    size_t limit = ctx->info.max_group_size;
    for (;;) {
        g->local = limit;
        f->geometry(ctx, r->shape, g);
        clsm_variant v =
            clsm_variant_of(r, kind, kind == CLSM_KERNEL_GROUP ? g->local : 0, write_y);
        const clsm_program *p = clsm_program_get(ctx, &v, status);
        if (!p || p->max_group_size >= g->local)
            return p;
        limit = p->max_group_size;
    }
}

clsm_status clsm_launch(clsm_context *ctx, const clsm_request *r, cl_mem x, size_t x_offset,
                        cl_mem y, size_t y_offset, size_t first, cl_uint num_events,
                        const cl_event *events, cl_event *event)
{
    clsm_kernel_kind kind = choose_kind(ctx, r->shape);
    const clsm_family *f = clsm_family_of(kind);
    const clsm_options *o = &r->opt;
    size_t element = clsm_dtype_size(r->dtype), real = clsm_real_size(r->dtype);
    clsm_geometry g = {0};
    clsm_status status;
    const clsm_program *p = program_for(ctx, r, kind, y != NULL, &g, &status);
    if (!p)
        return status;

    clsm_kernel_args a = {
        .x = x, .x_off = x_offset / element, .y = y, .y_off = y_offset / element,
        .outer = r->shape.outer, .axis = r->shape.axis, .inner = r->shape.inner,
        .scale = r->scale, .batch = g.batch,
        /* Outputs larger than the cache go past it, where the kernel can. */
        .stream = r->bytes >= ctx->info.cache_size,
        .first = first,
        .mask = o->mask_type != CLSM_MASK_NONE ? o->mask.buffer : NULL,
        .mask_off = o->mask.offset / clsm_mask_element_size(o->mask_type),
        .mask_stride = {{o->mask_stride[0], o->mask_stride[1], o->mask_stride[2],
                         o->mask_stride[3]}},
        .heads = o->heads, .rows = o->rows, .causal_offset = o->causal_offset,
        .window = o->window,
        .sinks = o->sinks.buffer, .sinks_off = o->sinks.offset / real,
        .stats_out = o->stats_out.buffer, .stats_out_off = o->stats_out.offset / real,
        .stats_in = o->stats_in.buffer, .stats_in_off = o->stats_in.offset / real,
        .chunk = g.chunk, .chunks = g.chunks,
    };
    cl_int err = CL_SUCCESS;
    int reduce_first = f->kernels[1] && !o->stats_in.buffer;
    if (reduce_first) {
        /* Released once enqueued: OpenCL keeps it until the kernels using it are done. */
        a.scratch = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE,
                                   3 * r->shape.outer * g.chunks * real, NULL, &err);
        if (err != CL_SUCCESS)
            return clsm_status_from_cl(err);
    }
    cl_kernel last = p->kernels[f->kernels[1] ? 1 : 0];
    cl_event reduced = NULL;
    pthread_mutex_lock(&ctx->lock);
    if (reduce_first) {
        err = clsm_set_kernel_args(p->kernels[0], &a);
        if (err == CL_SUCCESS)
            err = clEnqueueNDRangeKernel(ctx->queue, p->kernels[0], 1, NULL, &g.global, &g.local,
                                         num_events, events, &reduced);
    }
    if (err == CL_SUCCESS)
        err = clsm_set_kernel_args(last, &a);
    /* The event orders the two on an out-of-order queue too. */
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(ctx->queue, last, 1, NULL, &g.global, &g.local,
                                     reduced ? 1 : num_events, reduced ? &reduced : events, event);
    pthread_mutex_unlock(&ctx->lock);
    if (reduced)
        clReleaseEvent(reduced);
    if (a.scratch)
        clReleaseMemObject(a.scratch);
    return clsm_status_from_cl(err);
}

clsm_status clsm_softmax_buffers_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                    clsm_shape shape, float scale, const clsm_options *options,
                                    cl_mem x, size_t x_offset, cl_mem y, size_t y_offset,
                                    cl_uint num_events_in_wait_list,
                                    const cl_event *event_wait_list, cl_event *event)
{
    clsm_request r;
    clsm_status status = clsm_validate_request(ctx, op, dtype, shape, scale, options, &r);
    if (status == CLSM_SUCCESS)
        status = clsm_validate_wait_list(ctx, num_events_in_wait_list, event_wait_list);
    if (status != CLSM_SUCCESS)
        return status;
    if (r.bytes == 0) {
        /* Nothing to compute, but the caller may still be waiting on the event. */
        if (!event)
            return CLSM_SUCCESS;
        return clsm_status_from_cl(clEnqueueMarkerWithWaitList(
            ctx->queue, num_events_in_wait_list, event_wait_list, event));
    }
    status = clsm_validate_buffers(ctx, &r, x, x_offset, y, y_offset);
    if (status != CLSM_SUCCESS)
        return status;
    return clsm_launch(ctx, &r, x, x_offset, y, y_offset, 0, num_events_in_wait_list,
                       event_wait_list, event);
}

clsm_status clsm_softmax_buffers(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                 clsm_shape shape, float scale, cl_mem x, size_t x_offset,
                                 cl_mem y, size_t y_offset, cl_uint num_events_in_wait_list,
                                 const cl_event *event_wait_list, cl_event *event)
{
    return clsm_softmax_buffers_ex(ctx, op, dtype, shape, scale, NULL, x, x_offset, y, y_offset,
                                   num_events_in_wait_list, event_wait_list, event);
}
