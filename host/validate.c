/* Argument checks, all done before anything is enqueued so that a refused call leaves y untouched. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

size_t clsm_dtype_size(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? 8 : dtype == CLSM_F32 ? 4 : 2;
}

size_t clsm_real_size(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? 8 : 4;
}

size_t clsm_mask_element_size(clsm_mask_type type)
{
    return type == CLSM_MASK_ADD_F32 ? 4 : type == CLSM_MASK_KEEP_U8 ? 1 : 2;
}

static int mul_overflows(size_t a, size_t b, size_t *product)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 1;
    *product = a * b;
    return 0;
}

static int add_overflows(size_t a, size_t b, size_t *sum)
{
    if (b > SIZE_MAX - a)
        return 1;
    *sum = a + b;
    return 0;
}

/* The bytes the mask spans: up to its largest index, (batch-1)*s[0] + ... + (axis-1)*s[3]. */
static clsm_status mask_extent(const clsm_options *o, size_t axis, size_t *bytes)
{
    const size_t last[4] = {o->batch - 1, o->heads - 1, o->rows - 1, axis - 1};
    size_t largest = 0, term;
    for (int d = 0; d < 4; ++d)
        if (mul_overflows(last[d], o->mask_stride[d], &term) ||
            add_overflows(largest, term, &largest))
            return CLSM_ERROR_INVALID_SHAPE;
    if (add_overflows(largest, 1, &largest) ||
        mul_overflows(largest, clsm_mask_element_size(o->mask_type), bytes))
        return CLSM_ERROR_INVALID_SHAPE;
    return CLSM_SUCCESS;
}

/* The structure of the options, which no entry point's tensors change. */
static clsm_status check_options(const clsm_options *o, clsm_shape shape)
{
    if (o->mask_type < CLSM_MASK_NONE || o->mask_type > CLSM_MASK_KEEP_U8)
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (o->window && !o->causal)
        return CLSM_ERROR_INVALID_ARGUMENT;
    /* Written so that NaN is refused too. */
    if (!(isfinite(o->softcap) && o->softcap >= 0))
        return CLSM_ERROR_INVALID_ARGUMENT;
    int rows_matter = o->mask_type != CLSM_MASK_NONE || o->causal || o->sinks.host ||
                      o->sinks.buffer || o->alibi_slopes.host || o->alibi_slopes.buffer ||
                      o->kv_lengths.host || o->kv_lengths.buffer;
    if (rows_matter && shape.inner != 1)
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (o->batch || o->heads || o->rows) {
        size_t product;
        if (mul_overflows(o->batch, o->heads, &product) ||
            mul_overflows(product, o->rows, &product) || product != shape.outer)
            return CLSM_ERROR_INVALID_ARGUMENT;
    }
    return CLSM_SUCCESS;
}

/* causal_offset held within [lowest, highest] and the window within widest. An offset above
 * highest comes down to it with the window shortened by the excess, so that the window's
 * lower edge stays; a window within the excess keeps nothing (lowest, no window). */
static void hold_offset(clsm_options *o, ptrdiff_t lowest, ptrdiff_t highest, size_t widest)
{
    if (o->causal_offset > highest) {
        size_t excess = (size_t)o->causal_offset - (size_t)highest;
        if (o->window && o->window <= excess) {
            o->causal_offset = lowest;
            o->window = 0;
            return;
        }
        if (o->window)
            o->window -= excess;
        o->causal_offset = highest;
    }
    if (o->causal_offset < lowest)
        o->causal_offset = lowest;
    if (o->window > widest)
        o->window = widest;
}

/* The request with the batch, heads and rows the kernels index by, and causal bounds
 * that the kernels' signed arithmetic cannot overflow. Row r of batch entry b keeps
 * entries j with r + off - window < j <= r + off, and every entry lies in [0, axis) (with
 * kv_lengths, [0, len_b), where off = len_b - rows + offset): so r + off - offset lies in
 * [0, rows), or with kv_lengths in [-rows, axis). An offset past the point where every
 * row's end lies beyond its last entry moves both bounds up, which the window can take in
 * part; one before the point where none keeps entry 0, or a window that ends before entry
 * 0, keeps nothing; a window longer than any row's reach cuts nothing. ALiBi measures
 * distances from r + off, so there the offset stays as given, bounded only far beyond any
 * tensor (2^60; the window keeps its lower edge), and the window too (2^61). */
static void normalise_options(clsm_request *r)
{
    clsm_options *o = &r->opt;
    if (!o->batch && !o->heads && !o->rows) {
        o->batch = o->heads = 1;
        o->rows = r->shape.outer;
    }
    const ptrdiff_t far = (ptrdiff_t)1 << 60;
    if (o->alibi_slopes.host || o->alibi_slopes.buffer) {
        hold_offset(o, -far, far, (size_t)far * 2);
        return;
    }
    if (!o->causal)
        return;
    const int kv = o->kv_lengths.host || o->kv_lengths.buffer;
    const size_t axis = r->shape.axis, rows = o->rows;
    const ptrdiff_t all_kept = (ptrdiff_t)(kv ? axis + rows : axis),
                    none_kept = kv ? -(ptrdiff_t)(axis + rows) - 1 : -(ptrdiff_t)rows - 1;
    const size_t cuts_nothing = kv ? 2 * (axis + rows) + 1 : axis + rows + 1;
    hold_offset(o, none_kept, all_kept, cuts_nothing);
}

/* The bytes of options v2.0 knew. Options appended later leave it as it is, so that a
 * caller compiled against v2.0 keeps working. */
#define OPTIONS_V2_0_SIZE sizeof(clsm_options)

/* A caller's growing struct (clsoftmax.h) as this library's, of own bytes, which starts
 * with its struct_size: at least min_size, fields past it read as zero, and what the
 * caller knows past this library's struct must be zero. */
clsm_status clsm_read_grown(const void *given, void *out, size_t own, size_t min_size)
{
    size_t size;
    memcpy(&size, given, sizeof size);
    if (size < min_size)
        return CLSM_ERROR_INVALID_ARGUMENT;
    for (size_t i = own; i < size; ++i)
        if (((const unsigned char *)given)[i] != 0)
            return CLSM_ERROR_UNSUPPORTED;
    memcpy(out, given, size < own ? size : own);
    return CLSM_SUCCESS;
}

static clsm_status read_options(const clsm_options *given, clsm_options *o)
{
    static const clsm_options none = CLSM_OPTIONS_INIT;
    *o = none;
    return given ? clsm_read_grown(given, o, sizeof *o, OPTIONS_V2_0_SIZE) : CLSM_SUCCESS;
}

/* The scale a call computes with: as given for F64, else rounded once to float, which a
 * finite scale must not overflow. */
static int round_scale(clsm_dtype dtype, double scale, double *rounded)
{
    *rounded = dtype == CLSM_F64 ? scale : (double)(float)scale;
    return isfinite(scale) && isfinite(*rounded);
}

clsm_status clsm_validate_request(const clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                  clsm_shape shape, double scale, const clsm_options *options,
                                  clsm_request *r)
{
    size_t count;
    if (!ctx || (op != CLSM_SOFTMAX && op != CLSM_LOG_SOFTMAX) ||
        (dtype != CLSM_F32 && dtype != CLSM_F16 && dtype != CLSM_BF16 && dtype != CLSM_F64) ||
        !round_scale(dtype, scale, &r->scale))
        return CLSM_ERROR_INVALID_ARGUMENT;
    r->op = op;
    r->dtype = dtype;
    r->shape = shape;
    clsm_status status = read_options(options, &r->opt);
    if (status != CLSM_SUCCESS)
        return status;
    status = check_options(&r->opt, shape);
    if (status != CLSM_SUCCESS)
        return status;
    /* A zero anywhere makes the tensor empty, however large the other dimensions. */
    r->bytes = 0;
    if (shape.outer == 0 || shape.axis == 0 || shape.inner == 0)
        return CLSM_SUCCESS;
    if (mul_overflows(shape.outer, shape.axis, &count) ||
        mul_overflows(count, shape.inner, &count) ||
        mul_overflows(count, clsm_dtype_size(dtype), &r->bytes))
        return CLSM_ERROR_INVALID_SHAPE;
    normalise_options(r);
    clsm_options *o = &r->opt;
    size_t real = clsm_real_size(dtype);
    for (int t = 0; t < CLSM_OPTION_TENSORS; ++t)
        r->extent[t] = (clsm_extent){0, real};
    if (o->mask_type != CLSM_MASK_NONE) {
        r->extent[CLSM_TENSOR_mask].element = clsm_mask_element_size(o->mask_type);
        status = mask_extent(o, shape.axis, &r->extent[CLSM_TENSOR_mask].bytes);
        if (status != CLSM_SUCCESS)
            return status;
    } else {
        o->mask = (clsm_tensor){0};
    }
    r->extent[CLSM_TENSOR_kv_lengths].element = sizeof(int32_t);
    if (mul_overflows(o->heads, real, &r->extent[CLSM_TENSOR_sinks].bytes) ||
        mul_overflows(o->heads, real, &r->extent[CLSM_TENSOR_alibi_slopes].bytes) ||
        mul_overflows(o->batch, sizeof(int32_t), &r->extent[CLSM_TENSOR_kv_lengths].bytes) ||
        mul_overflows(shape.outer * shape.inner, 2 * real,
                      &r->extent[CLSM_TENSOR_stats_out].bytes))
        return CLSM_ERROR_INVALID_SHAPE;
    r->extent[CLSM_TENSOR_stats_in].bytes = r->extent[CLSM_TENSOR_stats_out].bytes;
    return dtype == CLSM_F64 && !ctx->info.has_fp64 ? CLSM_ERROR_UNSUPPORTED : CLSM_SUCCESS;
}

/* The tensors of a call, each as the entry point sees it. */
typedef struct tensor_use {
    const void *host;
    cl_mem buffer;
    size_t offset, bytes, element;
    int written;
    unsigned same_ok; /* bits of the uses it may be the very same range as (in place) */
} tensor_use;

/* The forward's x and y, the backward's x, y, dy and dx, or sampling's logits (x) and its
 * tensors, then the option tensors in the order of their ids. */
typedef enum { CALL_FORWARD, CALL_BACKWARD, CALL_SAMPLE } call_kind;

enum {
    USE_X, USE_Y, USE_DY, USE_DX,
    USE_SAMPLE, /* the clsm_sample_tensor ids from here */
    USE_OPTIONS = USE_SAMPLE + CLSM_SAMPLE_TENSORS,
    USES = USE_OPTIONS + CLSM_OPTION_TENSORS
};
#define USE_OF(name) (USE_OPTIONS + CLSM_TENSOR_##name)
#define USE_BIT(use) (1u << (use))

/* What sampling's tensors hold per row, and which it writes. */
size_t clsm_sample_element(clsm_dtype dtype, clsm_sample_tensor_id t)
{
    static const size_t sizes[CLSM_SAMPLE_TENSORS] = {
        [CLSM_SAMPLE_T_TOKENS] = sizeof(int32_t), [CLSM_SAMPLE_T_TEMPERATURES] = sizeof(float),
        [CLSM_SAMPLE_T_TOP_KS] = sizeof(uint32_t), [CLSM_SAMPLE_T_TOP_PS] = sizeof(float),
        [CLSM_SAMPLE_T_MIN_PS] = sizeof(float), [CLSM_SAMPLE_T_SEEDS] = sizeof(uint64_t)};
    return t == CLSM_SAMPLE_T_LOGPROBS ? clsm_real_size(dtype) : sizes[t];
}

/* given: the USE_OPTIONS tensors before the options, as the entry point has them; those it
 * does not take unset. */
static void list_uses(const clsm_request *r, call_kind kind, const clsm_tensor *given,
                      tensor_use *u)
{
    size_t element = clsm_dtype_size(r->dtype);
    for (int t = 0; t < USE_OPTIONS; ++t)
        u[t] = (tensor_use){given[t].host, given[t].buffer, given[t].offset, r->bytes, element,
                            0, 0};
    for (int t = 0; t < CLSM_SAMPLE_TENSORS; ++t) {
        u[USE_SAMPLE + t].element = clsm_sample_element(r->dtype, t);
        u[USE_SAMPLE + t].bytes = r->shape.outer * u[USE_SAMPLE + t].element;
        u[USE_SAMPLE + t].written =
            t == CLSM_SAMPLE_T_TOKENS || t == CLSM_SAMPLE_T_LOGPROBS;
    }
    if (kind == CALL_BACKWARD) {
        u[USE_DX].written = 1;
        u[USE_DX].same_ok = USE_BIT(USE_Y) | USE_BIT(USE_DY);
    } else {
        u[USE_Y].written = 1;
        u[USE_Y].same_ok = USE_BIT(USE_X);
    }
    for (int t = 0; t < CLSM_OPTION_TENSORS; ++t) {
        const clsm_tensor *ot = clsm_option_tensor(&r->opt, t);
        u[USE_OPTIONS + t] = (tensor_use){ot->host, ot->buffer, ot->offset, r->extent[t].bytes,
                                          r->extent[t].element, clsm_option_tensor_written(t),
                                          0};
    }
}

/* Two byte ranges that share a byte. */
static int ranges_overlap(uintptr_t a, size_t a_bytes, uintptr_t b, size_t b_bytes)
{
    return a < b + b_bytes && b < a + a_bytes;
}

/* What is written may share no byte with anything else, but may be the very same range as
 * the inputs it may overwrite (in place). */
static int uses_overlap(const tensor_use *u, const uintptr_t *start, const void *const *space)
{
    for (int w = 0; w < USES; ++w) {
        if (!u[w].written || !space[w])
            continue;
        for (int t = 0; t < USES; ++t) {
            if (t == w || !space[t] || space[t] != space[w])
                continue;
            if ((u[w].same_ok & USE_BIT(t)) && start[w] == start[t])
                continue;
            if (ranges_overlap(start[w], u[w].bytes, start[t], u[t].bytes))
                return 1;
        }
    }
    return 0;
}

/* The rules every set tensor follows on both paths, and the ones each entry point needs set. */
static clsm_status check_set(const clsm_request *r, call_kind kind, const int *set)
{
    const clsm_options *o = &r->opt;
    if (kind == CALL_SAMPLE) {
        /* No sink token to draw, and no statistics to give or take. */
        if ((r->bytes && !set[USE_X]) || (r->shape.outer && !set[USE_SAMPLE + CLSM_SAMPLE_T_TOKENS]) ||
            set[USE_OF(sinks)] || set[USE_OF(stats_in)] || set[USE_OF(stats_out)])
            return CLSM_ERROR_INVALID_ARGUMENT;
    } else if (kind == CALL_BACKWARD) {
        /* The gradient has no statistics; x is read for the cap's derivative. */
        if (!set[USE_Y] || !set[USE_DY] || !set[USE_DX] || (o->softcap > 0 && !set[USE_X]) ||
            set[USE_OF(stats_in)] || set[USE_OF(stats_out)])
            return CLSM_ERROR_INVALID_ARGUMENT;
    } else if (!set[USE_X] || (!set[USE_Y] && !set[USE_OF(stats_out)])) {
        return CLSM_ERROR_INVALID_ARGUMENT;
    }
    if (o->mask_type != CLSM_MASK_NONE && !set[USE_OF(mask)])
        return CLSM_ERROR_INVALID_ARGUMENT;
    /* A slice with given statistics is not reduced, so it has none of its own to report. */
    if ((set[USE_OF(sinks)] || set[USE_OF(stats_out)]) && set[USE_OF(stats_in)])
        return CLSM_ERROR_INVALID_ARGUMENT;
    return CLSM_SUCCESS;
}

/* The host path reads the values it is handed whole: each length within [0, axis], each
 * slope finite. */
static clsm_status check_host_values(const clsm_request *r)
{
    const clsm_options *o = &r->opt;
    const int32_t *lengths = o->kv_lengths.host;
    for (size_t b = 0; lengths && b < o->batch; ++b)
        if (lengths[b] < 0 || (uint64_t)lengths[b] > r->shape.axis)
            return CLSM_ERROR_INVALID_ARGUMENT;
    for (size_t h = 0; o->alibi_slopes.host && h < o->heads; ++h) {
        double slope = r->dtype == CLSM_F64 ? ((const double *)o->alibi_slopes.host)[h]
                                            : ((const float *)o->alibi_slopes.host)[h];
        if (!isfinite(slope))
            return CLSM_ERROR_INVALID_ARGUMENT;
    }
    return CLSM_SUCCESS;
}

/* The per-row values of a host sampling call, checked as the scalars are. */
static clsm_status check_sample_values(const clsm_request *r, const tensor_use *u)
{
    const float *t = u[USE_SAMPLE + CLSM_SAMPLE_T_TEMPERATURES].host,
                *p = u[USE_SAMPLE + CLSM_SAMPLE_T_TOP_PS].host,
                *m = u[USE_SAMPLE + CLSM_SAMPLE_T_MIN_PS].host;
    for (size_t i = 0; i < r->shape.outer; ++i)
        if ((t && !clsm_temperature_ok(t[i])) || (p && !clsm_fraction_ok(p[i])) ||
            (m && !clsm_fraction_ok(m[i])))
            return CLSM_ERROR_INVALID_ARGUMENT;
    return CLSM_SUCCESS;
}

static clsm_status validate_host(const clsm_request *r, call_kind kind, const clsm_tensor *given)
{
    tensor_use u[USES];
    list_uses(r, kind, given, u);
    int set[USES];
    uintptr_t start[USES];
    const void *space[USES];
    static const char host_memory = 0;
    for (int i = 0; i < USES; ++i) {
        set[i] = u[i].host != NULL;
        start[i] = (uintptr_t)u[i].host;
        space[i] = set[i] ? &host_memory : NULL;
    }
    clsm_status status = check_set(r, kind, set);
    if (status != CLSM_SUCCESS)
        return status;
    if (uses_overlap(u, start, space))
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (kind == CALL_SAMPLE && (status = check_sample_values(r, u)) != CLSM_SUCCESS)
        return status;
    return check_host_values(r);
}

clsm_status clsm_validate_host(const clsm_request *r, const void *x, void *y)
{
    const clsm_tensor given[USE_OPTIONS] = {{(void *)x, NULL, 0}, {y, NULL, 0}};
    return validate_host(r, CALL_FORWARD, given);
}

/* Sinks and ALiBi move u by what does not depend on x, so the gradient never reads them: they
 * are dropped unread, neither staged nor compiled in. */
static void drop_unread_options(clsm_request *r)
{
    r->opt.sinks = r->opt.alibi_slopes = (clsm_tensor){0};
}

clsm_status clsm_validate_backward_host(clsm_request *r, const void *x, const void *y,
                                        const void *dy, void *dx)
{
    drop_unread_options(r);
    const clsm_tensor given[USE_OPTIONS] = {
        {(void *)x, NULL, 0}, {(void *)y, NULL, 0}, {(void *)dy, NULL, 0}, {dx, NULL, 0}};
    return validate_host(r, CALL_BACKWARD, given);
}

/* A buffer's root allocation and the offset of offset within it, so that sub-buffers of
 * one parent can be compared; checks its context, flags and size. */
static clsm_status check_buffer(const clsm_context *ctx, const tensor_use *u,
                                cl_mem_flags forbidden, cl_mem *root, uintptr_t *start)
{
    cl_context owner;
    cl_mem_object_type type;
    cl_mem_flags flags;
    size_t size, origin;
    cl_mem parent;
    if (u->offset % u->element != 0)
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (clGetMemObjectInfo(u->buffer, CL_MEM_CONTEXT, sizeof owner, &owner, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(u->buffer, CL_MEM_TYPE, sizeof type, &type, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(u->buffer, CL_MEM_FLAGS, sizeof flags, &flags, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(u->buffer, CL_MEM_SIZE, sizeof size, &size, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(u->buffer, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent,
                           NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(u->buffer, CL_MEM_OFFSET, sizeof origin, &origin, NULL) != CL_SUCCESS)
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (owner != ctx->cl || type != CL_MEM_OBJECT_BUFFER || (flags & forbidden))
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (u->offset > size || u->bytes > size - u->offset)
        return CLSM_ERROR_INVALID_SHAPE;
    *root = parent ? parent : u->buffer;
    *start = (parent ? origin : 0) + u->offset;
    return CLSM_SUCCESS;
}

static clsm_status validate_buffers(const clsm_context *ctx, const clsm_request *r, call_kind kind,
                                    const clsm_tensor *given)
{
    tensor_use u[USES];
    list_uses(r, kind, given, u);
    int set[USES];
    for (int i = 0; i < USES; ++i)
        set[i] = u[i].buffer != NULL;
    clsm_status status = check_set(r, kind, set);
    if (status != CLSM_SUCCESS)
        return status;
    cl_mem root[USES] = {NULL};
    uintptr_t start[USES] = {0};
    for (int i = 0; i < USES; ++i) {
        if (!set[i])
            continue;
        status = check_buffer(ctx, &u[i], u[i].written ? CL_MEM_READ_ONLY : CL_MEM_WRITE_ONLY,
                              &root[i], &start[i]);
        if (status != CLSM_SUCCESS)
            return status;
    }
    const void *space[USES];
    for (int i = 0; i < USES; ++i)
        space[i] = root[i];
    return uses_overlap(u, start, space) ? CLSM_ERROR_INVALID_ARGUMENT : CLSM_SUCCESS;
}

clsm_status clsm_validate_buffers(const clsm_context *ctx, const clsm_request *r, cl_mem x,
                                  size_t x_offset, cl_mem y, size_t y_offset)
{
    const clsm_tensor given[USE_OPTIONS] = {{NULL, x, x_offset}, {NULL, y, y_offset}};
    return validate_buffers(ctx, r, CALL_FORWARD, given);
}

clsm_status clsm_validate_backward_buffers(const clsm_context *ctx, clsm_request *r, cl_mem x,
                                           size_t x_offset, cl_mem y, size_t y_offset, cl_mem dy,
                                           size_t dy_offset, cl_mem dx, size_t dx_offset)
{
    drop_unread_options(r);
    const clsm_tensor given[USE_OPTIONS] = {{NULL, x, x_offset},
                                            {NULL, y, y_offset},
                                            {NULL, dy, dy_offset},
                                            {NULL, dx, dx_offset}};
    return validate_buffers(ctx, r, CALL_BACKWARD, given);
}

/* Sampling's logits (x) and tensors (clsm_sample_tensor_id), as host memory or buffers. */
static void sample_given(const void *logits, cl_mem logits_buffer, size_t logits_offset,
                         const clsm_tensor *tensors, clsm_tensor *given)
{
    for (int i = 0; i < USE_OPTIONS; ++i)
        given[i] = (clsm_tensor){0};
    given[USE_X] = (clsm_tensor){(void *)logits, logits_buffer, logits_offset};
    for (int t = 0; t < CLSM_SAMPLE_TENSORS; ++t)
        given[USE_SAMPLE + t] = tensors[t];
}

clsm_status clsm_validate_sample_host(const clsm_request *r, const void *logits,
                                      const clsm_tensor *tensors)
{
    clsm_tensor given[USE_OPTIONS];
    sample_given(logits, NULL, 0, tensors, given);
    return validate_host(r, CALL_SAMPLE, given);
}

clsm_status clsm_validate_sample_buffers(const clsm_context *ctx, const clsm_request *r,
                                         cl_mem logits, size_t logits_offset,
                                         const clsm_tensor *tensors)
{
    clsm_tensor given[USE_OPTIONS];
    sample_given(NULL, logits, logits_offset, tensors, given);
    return validate_buffers(ctx, r, CALL_SAMPLE, given);
}

/* OpenCL leaves a NULL event, or one of another context, in a wait list undefined, and
 * PoCL enqueues it without a word. */
clsm_status clsm_validate_wait_list(const clsm_context *ctx, cl_uint num_events,
                                    const cl_event *events)
{
    if ((num_events == 0) != (events == NULL))
        return CLSM_ERROR_INVALID_ARGUMENT;
    for (cl_uint i = 0; i < num_events; ++i) {
        cl_context owner;
        if (!events[i] ||
            clGetEventInfo(events[i], CL_EVENT_CONTEXT, sizeof owner, &owner, NULL) !=
                CL_SUCCESS ||
            owner != ctx->cl)
            return CLSM_ERROR_INVALID_ARGUMENT;
    }
    return CLSM_SUCCESS;
}
