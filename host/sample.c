/* The sampling entry points: clsm_sampling read and checked, then launched on buffers or staged from host memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The bytes of the sampling struct v2.0 knew; fields appended later leave it as it is. */
#define SAMPLING_V2_0_SIZE sizeof(clsm_sampling)

/* One sampling call, validated up to its tensors. */
typedef struct sample_call {
    clsm_request r; /* shape {rows, vocab, 1}; r.bytes == 0 for an empty one */
    clsm_sampling s;
    clsm_tensor tensors[CLSM_SAMPLE_TENSORS]; /* clsm_sample_tensor_id; tokens set by the caller */
    unsigned flags;                           /* the host path's CLSM_SAMPLE_* (flags_of) */
} sample_call;

static clsm_status start_call(clsm_context *ctx, clsm_dtype dtype, size_t rows, size_t vocab,
                              double scale, const clsm_options *options,
                              const clsm_sampling *sampling, sample_call *c)
{
    static const clsm_sampling none = CLSM_SAMPLING_INIT;
    c->s = none;
    if (!ctx || !sampling)
        return CLSM_ERROR_INVALID_ARGUMENT;
    clsm_status status = clsm_read_grown(sampling, &c->s, sizeof c->s, SAMPLING_V2_0_SIZE);
    if (status != CLSM_SUCCESS)
        return status;
    const clsm_sampling *s = &c->s;
    if (!clsm_temperature_ok(s->temperature) || !clsm_fraction_ok(s->top_p) ||
        !clsm_fraction_ok(s->min_p))
        return CLSM_ERROR_INVALID_ARGUMENT;
    clsm_shape shape = {rows, vocab, 1};
    status = clsm_validate_request(ctx, CLSM_SOFTMAX, dtype, shape, scale, options, &c->r);
    if (status != CLSM_SUCCESS)
        return status;
    /* The per-row tensors' bytes (seeds: 8 a row) must not overflow. */
    if (vocab > INT32_MAX || rows > SIZE_MAX / sizeof(uint64_t))
        return CLSM_ERROR_INVALID_SHAPE;
    if (c->r.bytes == 0) {
        /* Nothing is read: the options' tensors are not looked at. */
        static const clsm_options no_options = CLSM_OPTIONS_INIT;
        c->r.opt = no_options;
        for (int t = 0; t < CLSM_OPTION_TENSORS; ++t)
            c->r.extent[t] = (clsm_extent){0, 1};
    }
    const clsm_tensor *given[CLSM_SAMPLE_TENSORS] = {
        [CLSM_SAMPLE_T_LOGPROBS] = &s->logprobs, [CLSM_SAMPLE_T_TEMPERATURES] = &s->temperatures,
        [CLSM_SAMPLE_T_TOP_KS] = &s->top_ks,     [CLSM_SAMPLE_T_TOP_PS] = &s->top_ps,
        [CLSM_SAMPLE_T_MIN_PS] = &s->min_ps,     [CLSM_SAMPLE_T_SEEDS] = &s->seeds};
    for (int t = 0; t < CLSM_SAMPLE_TENSORS; ++t)
        c->tensors[t] = given[t] ? *given[t] : (clsm_tensor){0};
    return CLSM_SUCCESS;
}

/* The flags of the tensors a path set: host members or buffers. */
static unsigned flags_of(const clsm_tensor *tensors, int host)
{
    static const unsigned bits[CLSM_SAMPLE_TENSORS] = {
        [CLSM_SAMPLE_T_LOGPROBS] = CLSM_SAMPLE_LOGPROBS,
        [CLSM_SAMPLE_T_TEMPERATURES] = CLSM_SAMPLE_TEMPERATURES,
        [CLSM_SAMPLE_T_TOP_KS] = CLSM_SAMPLE_TOP_KS, [CLSM_SAMPLE_T_TOP_PS] = CLSM_SAMPLE_TOP_PS,
        [CLSM_SAMPLE_T_MIN_PS] = CLSM_SAMPLE_MIN_PS, [CLSM_SAMPLE_T_SEEDS] = CLSM_SAMPLE_SEEDS};
    unsigned flags = 0;
    for (int t = 0; t < CLSM_SAMPLE_TENSORS; ++t)
        if (host ? tensors[t].host != NULL : tensors[t].buffer != NULL)
            flags |= bits[t];
    return flags;
}

/* vocab = 0: every row -1, logprob -inf. */
static void empty_rows_host(const sample_call *c, int32_t *tokens)
{
    void *logprobs = c->tensors[CLSM_SAMPLE_T_LOGPROBS].host;
    for (size_t i = 0; i < c->r.shape.outer; ++i) {
        tokens[i] = -1;
        if (logprobs && c->r.dtype == CLSM_F64)
            ((double *)logprobs)[i] = -INFINITY;
        else if (logprobs)
            ((float *)logprobs)[i] = -INFINITY;
    }
}

static clsm_status empty_rows_buffers(clsm_context *ctx, const sample_call *c, cl_uint n,
                                      const cl_event *events, cl_event *event)
{
    const cl_int minus_one = -1;
    const float f = -INFINITY;
    const double d = -INFINITY;
    const clsm_tensor *tokens = &c->tensors[CLSM_SAMPLE_T_TOKENS],
                      *logprobs = &c->tensors[CLSM_SAMPLE_T_LOGPROBS];
    size_t real = clsm_real_size(c->r.dtype), rows = c->r.shape.outer;
    cl_event filled[2] = {NULL, NULL};
    cl_int err = clEnqueueFillBuffer(ctx->queue, tokens->buffer, &minus_one, sizeof minus_one,
                                     tokens->offset, rows * sizeof minus_one, n, events,
                                     &filled[0]);
    if (err == CL_SUCCESS && logprobs->buffer)
        err = clEnqueueFillBuffer(ctx->queue, logprobs->buffer,
                                  c->r.dtype == CLSM_F64 ? (const void *)&d : (const void *)&f,
                                  real, logprobs->offset, rows * real, n, events, &filled[1]);
    if (err == CL_SUCCESS && event)
        err = clEnqueueMarkerWithWaitList(ctx->queue, filled[1] ? 2 : 1, filled, event);
    for (int i = 0; i < 2; ++i)
        if (filled[i])
            clReleaseEvent(filled[i]);
    return clsm_status_from_cl(err);
}

clsm_status clsm_sample_buffers(clsm_context *ctx, clsm_dtype dtype, size_t rows, size_t vocab,
                                double scale, const clsm_options *options,
                                const clsm_sampling *sampling, cl_mem logits,
                                size_t logits_offset, cl_mem tokens, size_t tokens_offset,
                                cl_uint num_events_in_wait_list, const cl_event *event_wait_list,
                                cl_event *event)
{
    sample_call c;
    clsm_status status =
        start_call(ctx, dtype, rows, vocab, scale, options, sampling, &c);
    if (status == CLSM_SUCCESS)
        status = clsm_validate_wait_list(ctx, num_events_in_wait_list, event_wait_list);
    if (status != CLSM_SUCCESS)
        return status;
    for (int t = 0; t < CLSM_SAMPLE_TENSORS; ++t)
        c.tensors[t].host = NULL;
    c.tensors[CLSM_SAMPLE_T_TOKENS] = (clsm_tensor){NULL, tokens, tokens_offset};
    status = clsm_validate_sample_buffers(ctx, &c.r, logits, logits_offset, c.tensors);
    if (status != CLSM_SUCCESS)
        return status;
    if (rows == 0)
        return event ? clsm_status_from_cl(clEnqueueMarkerWithWaitList(
                           ctx->queue, num_events_in_wait_list, event_wait_list, event))
                     : CLSM_SUCCESS;
    if (vocab == 0)
        return empty_rows_buffers(ctx, &c, num_events_in_wait_list, event_wait_list, event);
    return clsm_launch_sample(ctx, &c.r, &c.s, flags_of(c.tensors, 0), logits, logits_offset,
                              c.tensors, 0, num_events_in_wait_list, event_wait_list, event);
}

/* The host path's device copies of the per-row tensors (inputs copied in, tokens and
 * logprobs to be read back), with byte offsets 0. */
static clsm_status tensors_to_device(clsm_context *ctx, const sample_call *c, clsm_tensor *dev)
{
    cl_int err = CL_SUCCESS;
    for (int t = 0; t < CLSM_SAMPLE_TENSORS && err == CL_SUCCESS; ++t) {
        dev[t] = (clsm_tensor){0};
        void *host = c->tensors[t].host;
        if (!host)
            continue;
        int written = t == CLSM_SAMPLE_T_TOKENS || t == CLSM_SAMPLE_T_LOGPROBS;
        size_t element = clsm_sample_element(c->r.dtype, t);
        dev[t].buffer = clCreateBuffer(
            ctx->cl, written ? CL_MEM_WRITE_ONLY : CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
            c->r.shape.outer * element, written ? NULL : host, &err);
    }
    return clsm_status_from_cl(err);
}

static void tensors_release(clsm_tensor *dev)
{
    for (int t = 0; t < CLSM_SAMPLE_TENSORS; ++t)
        if (dev[t].buffer)
            clReleaseMemObject(dev[t].buffer);
}

/* Rows first .. first + count - 1: their logits copied into staging and sampled, the per-row
 * tensors at their first row. Returns when the kernel is done, so that the tokens may be read
 * on any queue and the logits are no longer needed. (Reading the caller's memory in place,
 * CL_MEM_USE_HOST_PTR, saved the copy on PoCL, but oclgrind saw such a buffer as
 * uninitialised.) */
static clsm_status sample_run(clsm_context *ctx, const sample_call *c, cl_mem staging,
                              const clsm_tensor *dev, size_t first, size_t count,
                              const char *logits)
{
    clsm_request r = c->r;
    r.shape.outer = count;
    r.bytes = count * r.shape.axis * clsm_dtype_size(r.dtype);
    cl_event written;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, staging, CL_FALSE, 0, r.bytes, logits, 0, NULL,
                                      &written);
    if (err != CL_SUCCESS)
        return clsm_status_from_cl(err);
    clsm_tensor at[CLSM_SAMPLE_TENSORS];
    for (int t = 0; t < CLSM_SAMPLE_TENSORS; ++t) {
        at[t] = dev[t];
        size_t element = clsm_sample_element(r.dtype, t);
        at[t].offset = first * element;
    }
    cl_event done;
    clsm_status status =
        clsm_launch_sample(ctx, &r, &c->s, c->flags, staging, 0, at, first, 1, &written, &done);
    if (status == CLSM_SUCCESS) {
        status = clsm_status_from_cl(clWaitForEvents(1, &done));
        clReleaseEvent(done);
    } else {
        clWaitForEvents(1, &written);
    }
    clReleaseEvent(written);
    return status;
}

clsm_status clsm_sample_host(clsm_context *ctx, clsm_dtype dtype, size_t rows, size_t vocab,
                             double scale, const clsm_options *options,
                             const clsm_sampling *sampling, const void *logits, int32_t *tokens)
{
    sample_call c;
    clsm_status status = start_call(ctx, dtype, rows, vocab, scale, options, sampling, &c);
    if (status != CLSM_SUCCESS)
        return status;
    /* The host path reads the tensors' host members, as the options'. */
    for (int t = 0; t < CLSM_SAMPLE_TENSORS; ++t)
        c.tensors[t] = (clsm_tensor){c.tensors[t].host, NULL, 0};
    c.tensors[CLSM_SAMPLE_T_TOKENS] = (clsm_tensor){tokens, NULL, 0};
    status = clsm_validate_sample_host(&c.r, logits, c.tensors);
    if (status != CLSM_SUCCESS || rows == 0)
        return status;
    if (vocab == 0) {
        empty_rows_host(&c, tokens);
        return CLSM_SUCCESS;
    }
    c.flags = flags_of(c.tensors, 1);

    /* Logits larger than one device allocation go through in runs of whole rows. */
    size_t row_bytes = c.r.bytes / rows;
    if (row_bytes > ctx->info.max_alloc)
        return CLSM_ERROR_OUT_OF_MEMORY;
    size_t per_run = (size_t)(ctx->info.max_alloc / row_bytes);
    if (per_run > rows)
        per_run = rows;
    clsm_tensor dev[CLSM_SAMPLE_TENSORS];
    status = clsm_options_to_device(ctx, &c.r);
    if (status == CLSM_SUCCESS)
        status = tensors_to_device(ctx, &c, dev);
    else
        memset(dev, 0, sizeof dev);
    /* The logits go through the context's reused staging buffers, as the forward's x does: a
     * new buffer each call cost its pages' first touch. */
    clsm_staging *staging = status == CLSM_SUCCESS ? clsm_staging_take(ctx) : NULL;
    if (status == CLSM_SUCCESS && !staging)
        status = CLSM_ERROR_OUT_OF_MEMORY;
    if (status == CLSM_SUCCESS)
        status = clsm_staging_reserve(ctx, staging, per_run * row_bytes, 1);
    for (size_t first = 0; status == CLSM_SUCCESS && first < rows; first += per_run)
        status = sample_run(ctx, &c, staging->buffers[0], dev, first,
                            rows - first < per_run ? rows - first : per_run,
                            (const char *)logits + first * row_bytes);
    /* Read into scratch first, so that a failure leaves the caller's memory untouched. */
    size_t real = clsm_real_size(dtype);
    void *logprobs = c.tensors[CLSM_SAMPLE_T_LOGPROBS].host;
    char *out = status == CLSM_SUCCESS ? malloc(rows * (sizeof(int32_t) + real)) : NULL;
    if (status == CLSM_SUCCESS && !out)
        status = CLSM_ERROR_OUT_OF_MEMORY;
    if (status == CLSM_SUCCESS)
        status = clsm_status_from_cl(clEnqueueReadBuffer(
            ctx->queue, dev[CLSM_SAMPLE_T_TOKENS].buffer, CL_TRUE, 0, rows * sizeof(int32_t),
            out, 0, NULL, NULL));
    if (status == CLSM_SUCCESS && logprobs)
        status = clsm_status_from_cl(clEnqueueReadBuffer(
            ctx->queue, dev[CLSM_SAMPLE_T_LOGPROBS].buffer, CL_TRUE, 0, rows * real,
            out + rows * sizeof(int32_t), 0, NULL, NULL));
    if (status == CLSM_SUCCESS) {
        memcpy(tokens, out, rows * sizeof(int32_t));
        if (logprobs)
            memcpy(logprobs, out + rows * sizeof(int32_t), rows * real);
    }
    free(out);
    if (staging)
        clsm_staging_return(ctx, staging);
    tensors_release(dev);
    clsm_options_release(&c.r);
    return status;
}
