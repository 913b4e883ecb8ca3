/* Kernel choice by shape and device, the launch of a validated request, forward or backward, and the buffers entry points. */
#include <string.h>

#include "internal.h"

static clsm_family_id choose_family(const clsm_context *ctx, clsm_shape shape)
{
    if (ctx->forced_family != CLSM_FAMILY_AUTO && clsm_family_of(ctx->forced_family)->fits(shape))
        return ctx->forced_family;
    /* The device class's table (tuning.c): on a CPU row, columns, and split for too few long
     * slices to give every core a few; on a GPU regs. */
    const clsm_tuning *t = ctx->tuning;
    if (shape.inner == 1 && shape.outer < t->few_per_unit * ctx->info.compute_units &&
        shape.axis >= t->few_min_axis)
        return t->few_long;
    return shape.inner == 1 ? t->contiguous : t->strided;
}

/* The family of a backward pass: the forward's, or where it has no backward kernels, the
 * one it gives its backward pass to. */
static clsm_family_id choose_backward_family(const clsm_context *ctx, clsm_shape shape)
{
    clsm_family_id family = choose_family(ctx, shape);
    const clsm_family *f = clsm_family_of(family);
    return f->backward_family ? f->backward_family(ctx, shape) : family;
}

const char *clsm_kernel_name(const clsm_context *ctx, clsm_dtype dtype, clsm_shape shape)
{
    (void)dtype;
    if (!ctx)
        return NULL;
    return clsm_family_of(choose_family(ctx, shape))->name;
}

/* Whether outputs go past the cache, where the kernel can: once an input and the output
 * together would fill half of it (clsm_common.stream_divisor, tuning.c). */
static int streams(const clsm_context *ctx, const clsm_request *r)
{
    return clsm_common.stream_divisor * r->bytes >= ctx->info.cache_size;
}

/* The built program of a variant, with its geometry: a kernel may allow smaller work-groups
 * than its device, and a family that compiles its size in is then built again for the size
 * the kernel allows. */
static const clsm_program *program_for(clsm_context *ctx, clsm_shape shape, clsm_variant v,
                                       clsm_geometry *g, clsm_status *status)
{
    const clsm_family *f = clsm_family_of(v.family);
    size_t limit = ctx->info.max_group_size, most = f->max_group[v.dtype];
    if (most && limit > most)
        limit = most;
    for (;;) {
        g->local = limit;
        f->geometry(ctx, shape, g);
        v.group_size = f->compiles_group_size ? g->local : 0;
        v.items = g->items;
        const clsm_program *p = clsm_program_get(ctx, &v, status);
        if (!p || p->max_group_size >= g->local)
            return p;
        limit = p->max_group_size;
    }
}

/* The scale as the kernels take it (scale_of in softmax_entries.cl): a double's bits for F64,
 * else a float's in the low half. */
static cl_ulong scale_bits(const clsm_request *r)
{
    if (r->dtype == CLSM_F64) {
        double d = r->scale;
        cl_ulong bits;
        memcpy(&bits, &d, sizeof bits);
        return bits;
    }
    float f = (float)r->scale;
    cl_uint bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* Sets the arguments of one kernel: a clsm_kernel_args or a clsm_backward_args. */
typedef cl_int (*set_args_fn)(cl_kernel kernel, const void *args);

static cl_int set_forward(cl_kernel kernel, const void *args)
{
    return clsm_set_kernel_args(kernel, args);
}

static cl_int set_backward(cl_kernel kernel, const void *args)
{
    return clsm_set_backward_args(kernel, args);
}

static cl_int set_sample(cl_kernel kernel, const void *args)
{
    return clsm_set_sample_args(kernel, args);
}

/* Enqueues first (unless NULL), then last; the event between them orders the two on an
 * out-of-order queue too. */
static cl_int enqueue_kernels(clsm_context *ctx, cl_kernel first, cl_kernel last,
                              set_args_fn set_args, const void *args, const clsm_geometry *g,
                              cl_uint num_events, const cl_event *events, cl_event *event)
{
    cl_int err = CL_SUCCESS;
    cl_event reduced = NULL;
    pthread_mutex_lock(&ctx->lock);
    if (first) {
        err = set_args(first, args);
        if (err == CL_SUCCESS)
            err = clEnqueueNDRangeKernel(ctx->queue, first, 1, NULL, &g->global, &g->local,
                                         num_events, events, &reduced);
    }
    if (err == CL_SUCCESS)
        err = set_args(last, args);
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(ctx->queue, last, 1, NULL, &g->global, &g->local,
                                     reduced ? 1 : num_events, reduced ? &reduced : events,
                                     event);
    pthread_mutex_unlock(&ctx->lock);
    if (reduced)
        clReleaseEvent(reduced);
    return err;
}

/* The scratch of a family whose first kernel reduces chunks of slices: 3 reals per chunk.
 * Released by the caller once enqueued: OpenCL keeps it until the kernels using it are done. */
static cl_mem chunk_scratch(clsm_context *ctx, const clsm_request *r, const clsm_geometry *g,
                            cl_int *err)
{
    return clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE,
                          3 * r->shape.outer * r->shape.inner * g->chunks *
                              clsm_real_size(r->dtype),
                          NULL, err);
}

/* An argument list's option tensors in a, from the request r and its options o (validation
 * cleared those not used), with offsets in elements. */
#define SET_TENSOR(kind, type, name) SET_TENSOR_##kind(name)
#define SET_TENSOR_in(name)
#define SET_TENSOR_out(name)
#define SET_TENSOR_val(name)
#define SET_TENSOR_oval(name)
#define SET_TENSOR_opt_in(name)                                                             \
    a.name = o->name.buffer;                                                                \
    a.name##_off = o->name.offset / r->extent[CLSM_TENSOR_##name].element;
#define SET_TENSOR_opt_out(name) SET_TENSOR_opt_in(name)
#define SET_TENSOR_scratch(name)

clsm_status clsm_launch(clsm_context *ctx, const clsm_request *r, cl_mem x, size_t x_offset,
                        cl_mem y, size_t y_offset, size_t first, cl_uint num_events,
                        const cl_event *events, cl_event *event)
{
    clsm_family_id family = choose_family(ctx, r->shape);
    const clsm_family *f = clsm_family_of(family);
    const clsm_options *o = &r->opt;
    size_t element = clsm_dtype_size(r->dtype);
    clsm_geometry g = {0};
    clsm_status status;
    const clsm_program *p =
        program_for(ctx, r->shape, clsm_variant_of(r, family, y != NULL), &g, &status);
    if (!p)
        return status;

    clsm_kernel_args a = {
        .x = x, .x_off = x_offset / element, .y = y, .y_off = y_offset / element,
        .outer = r->shape.outer, .axis = r->shape.axis, .inner = r->shape.inner,
        .scale_bits = scale_bits(r), .bundle = g.bundle,
        .stream = streams(ctx, r),
        .first = first,
        .mask_stride = {{o->mask_stride[0], o->mask_stride[1], o->mask_stride[2],
                         o->mask_stride[3]}},
        .heads = o->heads, .rows = o->rows, .causal_offset = o->causal_offset,
        .window = o->window, .softcap = o->softcap,
        .chunk = g.chunk, .chunks = g.chunks,
    };
    CLSM_FORWARD_ARGS(SET_TENSOR, )
    cl_int err = CL_SUCCESS;
    int reduce_first =
        f->kernels[1] && !o->stats_in.buffer && !(f->one_chunk_alone && g.chunks == 1);
    if (reduce_first) {
        a.scratch = chunk_scratch(ctx, r, &g, &err);
        if (err != CL_SUCCESS)
            return clsm_status_from_cl(err);
    }
    err = enqueue_kernels(ctx, reduce_first ? p->kernels[0] : NULL,
                          p->kernels[f->kernels[1] ? 1 : 0], set_forward, &a, &g, num_events,
                          events, event);
    if (a.scratch)
        clReleaseMemObject(a.scratch);
    return clsm_status_from_cl(err);
}

clsm_status clsm_launch_backward(clsm_context *ctx, const clsm_request *r, cl_mem x,
                                 size_t x_offset, cl_mem y, size_t y_offset, cl_mem dy,
                                 size_t dy_offset, cl_mem dx, size_t dx_offset, size_t first,
                                 cl_uint num_events, const cl_event *events, cl_event *event)
{
    clsm_family_id family = choose_backward_family(ctx, r->shape);
    const clsm_family *f = clsm_family_of(family);
    const clsm_options *o = &r->opt;
    size_t element = clsm_dtype_size(r->dtype);
    clsm_variant v = clsm_variant_of(r, family, 1);
    v.backward = 1;
    /* The kernels test the scale at run time: a zero scale needs no build of its own. */
    v.zero_scale = 0;
    clsm_geometry g = {0};
    clsm_status status;
    const clsm_program *p = program_for(ctx, r->shape, v, &g, &status);
    if (!p)
        return status;

    clsm_backward_args a = {
        .x = x, .x_off = x_offset / element, .y = y, .y_off = y_offset / element,
        .dy = dy, .dy_off = dy_offset / element, .dx = dx, .dx_off = dx_offset / element,
        .outer = r->shape.outer, .axis = r->shape.axis, .inner = r->shape.inner,
        .scale_bits = scale_bits(r), .bundle = g.bundle,
        .stream = streams(ctx, r),
        .first = first,
        .mask_stride = {{o->mask_stride[0], o->mask_stride[1], o->mask_stride[2],
                         o->mask_stride[3]}},
        .heads = o->heads, .rows = o->rows, .causal_offset = o->causal_offset,
        .window = o->window, .softcap = o->softcap,
        .chunk = g.chunk, .chunks = g.chunks,
    };
    CLSM_BACKWARD_ARGS(SET_TENSOR, )
    cl_int err = CL_SUCCESS;
    int two = f->backward_kernels[1] != NULL;
    if (two) {
        a.scratch = chunk_scratch(ctx, r, &g, &err);
        if (err != CL_SUCCESS)
            return clsm_status_from_cl(err);
    }
    err = enqueue_kernels(ctx, two ? p->kernels[0] : NULL, p->kernels[two ? 1 : 0],
                          set_backward, &a, &g, num_events, events, event);
    if (a.scratch)
        clReleaseMemObject(a.scratch);
    return clsm_status_from_cl(err);
}

/* Sampling's work-group: CLSM_SAMPLE_GROUP work-items a row for the GPU families, where the
 * group's chunks read in parallel; one on a CPU, whose work-group runs on one thread anyway,
 * so that rows spread over the cores and no barrier splits the loops. */
static size_t sample_group_size(const clsm_context *ctx)
{
    clsm_family_id family = ctx->forced_family != CLSM_FAMILY_AUTO ? ctx->forced_family
                            : ctx->tuning->contiguous;
    return family == CLSM_FAMILY_GROUP || family == CLSM_FAMILY_REGS ||
                   family == CLSM_FAMILY_ITEM
               ? CLSM_SAMPLE_GROUP
               : 1;
}

clsm_status clsm_launch_sample(clsm_context *ctx, const clsm_request *r, const clsm_sampling *s,
                               unsigned flags, cl_mem logits, size_t logits_offset,
                               const clsm_tensor *tensors, size_t first, cl_uint num_events,
                               const cl_event *events, cl_event *event)
{
    clsm_variant v = clsm_variant_of(r, CLSM_FAMILY_GROUP, 0);
    v.sample = 1;
    v.group_size = (long)sample_group_size(ctx);
    if (r->dtype == CLSM_F64 && v.group_size > CLSM_SAMPLE_GROUP_F64)
        v.group_size = CLSM_SAMPLE_GROUP_F64;
    if ((size_t)v.group_size > ctx->info.max_group_size)
        v.group_size = (long)ctx->info.max_group_size;
    clsm_status status;
    const clsm_program *p;
    while ((p = clsm_program_get(ctx, &v, &status)) && p->max_group_size < (size_t)v.group_size)
        v.group_size = (long)p->max_group_size;
    if (!p)
        return status;
    const clsm_options *o = &r->opt;
    size_t groups = r->shape.outer, most = clsm_common.groups_per_unit * ctx->info.compute_units;
    clsm_geometry g = {.local = (size_t)v.group_size};
    g.global = g.local * (groups < most ? groups : most);
    size_t element = clsm_dtype_size(r->dtype), real = clsm_real_size(r->dtype);
    clsm_sample_args a = {
        .x = logits, .x_off = logits_offset / element,
        .outer = r->shape.outer, .axis = r->shape.axis, .inner = 1,
        .scale_bits = scale_bits(r), .first = first,
        .mask_stride = {{o->mask_stride[0], o->mask_stride[1], o->mask_stride[2],
                         o->mask_stride[3]}},
        .heads = o->heads, .rows = o->rows, .causal_offset = o->causal_offset,
        .window = o->window, .softcap = o->softcap,
        .tokens = tensors[CLSM_SAMPLE_T_TOKENS].buffer,
        .tokens_off = tensors[CLSM_SAMPLE_T_TOKENS].offset / sizeof(cl_int),
        .logprobs = tensors[CLSM_SAMPLE_T_LOGPROBS].buffer,
        .logprobs_off = tensors[CLSM_SAMPLE_T_LOGPROBS].offset / real,
        .temperatures = tensors[CLSM_SAMPLE_T_TEMPERATURES].buffer,
        .temperatures_off = tensors[CLSM_SAMPLE_T_TEMPERATURES].offset / sizeof(cl_float),
        .top_ks = tensors[CLSM_SAMPLE_T_TOP_KS].buffer,
        .top_ks_off = tensors[CLSM_SAMPLE_T_TOP_KS].offset / sizeof(cl_uint),
        .top_ps = tensors[CLSM_SAMPLE_T_TOP_PS].buffer,
        .top_ps_off = tensors[CLSM_SAMPLE_T_TOP_PS].offset / sizeof(cl_float),
        .min_ps = tensors[CLSM_SAMPLE_T_MIN_PS].buffer,
        .min_ps_off = tensors[CLSM_SAMPLE_T_MIN_PS].offset / sizeof(cl_float),
        .seeds = tensors[CLSM_SAMPLE_T_SEEDS].buffer,
        .seeds_off = tensors[CLSM_SAMPLE_T_SEEDS].offset / sizeof(cl_ulong),
        .flags = flags, .temperature = s->temperature, .top_k = s->top_k, .top_p = s->top_p,
        .min_p = s->min_p, .seed = s->seed, .offset = s->offset,
    };
    CLSM_FORWARD_ARGS(SET_TENSOR, )
    return clsm_status_from_cl(enqueue_kernels(ctx, NULL, p->kernels[0], set_sample, &a, &g,
                                               num_events, events, event));
}

/* The checks every buffers entry point starts with; *done where the call ends here, with
 * the status returned: on a failed check, and for an empty tensor, which has nothing to
 * compute but whose caller may still be waiting on the event. */
static clsm_status start_buffers_call(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                      clsm_shape shape, double scale, const clsm_options *options,
                                      cl_uint num_events, const cl_event *events,
                                      cl_event *event, clsm_request *r, int *done)
{
    *done = 1;
    clsm_status status = clsm_validate_request(ctx, op, dtype, shape, scale, options, r);
    if (status == CLSM_SUCCESS)
        status = clsm_validate_wait_list(ctx, num_events, events);
    if (status != CLSM_SUCCESS)
        return status;
    if (r->bytes == 0)
        return event ? clsm_status_from_cl(
                           clEnqueueMarkerWithWaitList(ctx->queue, num_events, events, event))
                     : CLSM_SUCCESS;
    *done = 0;
    return CLSM_SUCCESS;
}

clsm_status clsm_softmax_buffers_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                    clsm_shape shape, double scale, const clsm_options *options,
                                    cl_mem x, size_t x_offset, cl_mem y, size_t y_offset,
                                    cl_uint num_events_in_wait_list,
                                    const cl_event *event_wait_list, cl_event *event)
{
    clsm_request r;
    int done;
    clsm_status status = start_buffers_call(ctx, op, dtype, shape, scale, options,
                                            num_events_in_wait_list, event_wait_list, event, &r,
                                            &done);
    if (done)
        return status;
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

clsm_status clsm_softmax_backward_buffers_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                             clsm_shape shape, double scale,
                                             const clsm_options *options, cl_mem x,
                                             size_t x_offset, cl_mem y, size_t y_offset, cl_mem dy,
                                             size_t dy_offset, cl_mem dx, size_t dx_offset,
                                             cl_uint num_events_in_wait_list,
                                             const cl_event *event_wait_list, cl_event *event)
{
    clsm_request r;
    int done;
    clsm_status status = start_buffers_call(ctx, op, dtype, shape, scale, options,
                                            num_events_in_wait_list, event_wait_list, event, &r,
                                            &done);
    if (done)
        return status;
    /* x is read only for the cap's derivative. */
    if (!(r.opt.softcap > 0))
        x = NULL;
    status = clsm_validate_backward_buffers(ctx, &r, x, x_offset, y, y_offset, dy, dy_offset, dx,
                                            dx_offset);
    if (status != CLSM_SUCCESS)
        return status;
    return clsm_launch_backward(ctx, &r, x, x_offset, y, y_offset, dy, dy_offset, dx, dx_offset,
                                0, num_events_in_wait_list, event_wait_list, event);
}

clsm_status clsm_softmax_backward_buffers(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                          clsm_shape shape, float scale, cl_mem y,
                                          size_t y_offset, cl_mem dy, size_t dy_offset,
                                          cl_mem dx, size_t dx_offset,
                                          cl_uint num_events_in_wait_list,
                                          const cl_event *event_wait_list, cl_event *event)
{
    return clsm_softmax_backward_buffers_ex(ctx, op, dtype, shape, scale, NULL, NULL, 0, y,
                                            y_offset, dy, dy_offset, dx, dx_offset,
                                            num_events_in_wait_list, event_wait_list, event);
}
