/* The fuzzer's status model: which statuses the contract allows for a decoded request, from every problem it has. */
#include <math.h>
#include <stdlib.h>

#include "request.h"

unsigned option_violations(const request *q)
{
    const clsm_options *o = &q->opt;
    if (!q->options)
        return 0;
    unsigned v = 0;
    if (struct_size_status(q) != CLSM_SUCCESS)
        v |= BIT(struct_size_status(q));
    size_t product;
    int dims_set = o->batch || o->heads || o->rows;
    int rows_matter = o->mask_type != CLSM_MASK_NONE || o->causal || q->set[T_SINKS] ||
                      q->set[T_ALIBI] || q->set[T_KV];
    if (!mask_type_valid(o->mask_type) || (o->window && !o->causal) ||
        !(isfinite(o->softcap) && o->softcap >= 0) || (rows_matter && q->shape.inner != 1) ||
        (dims_set && (mul_overflows(o->batch, o->heads, &product) ||
                      mul_overflows(product, o->rows, &product) || product != q->shape.outer)))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    return v;
}

/* Whether y may be left out: a statistics-only call. */
static int y_optional(const request *q)
{
    return q->options && q->set[T_STATS_OUT];
}

/* The backward pass drops the sinks and ALiBi slopes unread, once their sizes are known: their
 * buffers are not checked. */
static int unread(const request *q, int k)
{
    return q->backward && (k == T_SINKS || k == T_ALIBI);
}

/* The status a spoilt buffer (BAD_*) of a tensor the call reads gets, as a bit; 0 for none. */
static unsigned bad_kind_status(int kind)
{
    switch (kind) {
    case BAD_MISALIGNED:
    case BAD_FOREIGN:
    case BAD_FLAGS:
        return BIT(CLSM_ERROR_INVALID_ARGUMENT);
    case BAD_SMALL:
    case BAD_HUGE_OFFSET:
        return BIT(CLSM_ERROR_INVALID_SHAPE);
    default:
        return 0;
    }
}

/* What the tensors of the options bring: which are set together, and how large they are. */
static unsigned tensor_violations(const request *q)
{
    unsigned v = 0;
    if (!q->options)
        return 0;
    /* The gradient has no statistics. */
    if ((q->opt.mask_type != CLSM_MASK_NONE && !q->set[T_MASK]) ||
        (q->set[T_STATS_IN] && (q->set[T_SINKS] || q->set[T_STATS_OUT])) ||
        (q->backward && (q->set[T_STATS_IN] || q->set[T_STATS_OUT])))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    /* The library sizes the mask from its type and strides before it looks for the tensor. */
    for (int k = 0; k < TENSORS; k++)
        if ((q->set[k] || (k == T_MASK && q->opt.mask_type != CLSM_MASK_NONE)) &&
            q->need_overflows[k])
            v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    /* A buffer of the harness holds a token in place of a tensor too large to hold (dx's
     * buffer, too small for it, where the tensor is over dx). */
    for (int k = 0; k < TENSORS; k++)
        if (q->buffers && q->set[k] && token_tensor(q, k) && !unread(q, k))
            v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    if (!q->buffers || q->bad_tensor < 0 || q->bad_tensor >= TENSORS ||
        !q->set[q->bad_tensor] || unread(q, q->bad_tensor) || q->bad_tensor == q->over_dx)
        return v;
    return v | bad_kind_status(q->bad_kind);
}

/* The host path reads the lengths and slopes it is handed, and refuses what the buffers path
 * would clamp (a length) or spread as NaN (a slope). */
static unsigned host_value_violations(const request *q)
{
    if (!q->options || q->buffers)
        return 0;
    if (q->set[T_KV] && !token_tensor(q, T_KV)) {
        const int32_t *len = (const int32_t *)(const void *)q->tensor[T_KV];
        for (size_t b = 0; b < q->need[T_KV] / sizeof *len; b++)
            if (len[b] < 0 || (uint64_t)len[b] > q->shape.axis)
                return BIT(CLSM_ERROR_INVALID_ARGUMENT);
    }
    if (q->set[T_ALIBI] && !token_tensor(q, T_ALIBI) && !unread(q, T_ALIBI)) {
        const clsm_dtype sd = q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
        for (size_t h = 0; h < q->need[T_ALIBI] / ts_dtype_size(sd); h++)
            if (!isfinite(ts_load(sd, q->tensor[T_ALIBI], h)))
                return BIT(CLSM_ERROR_INVALID_ARGUMENT);
    }
    return 0;
}

static unsigned request_violations(const request *q)
{
    unsigned v = 0;
    /* A finite scale must also be finite as the float a call other than F64 rounds it to. */
    if (q->ctx_index == CTX_NULL || (q->op != CLSM_SOFTMAX && q->op != CLSM_LOG_SOFTMAX) ||
        !dtype_valid(q->dtype) || !isfinite(q->scale) || !isfinite(compute_scale(q)))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (q->count_overflows || q->bytes_overflow)
        v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    return v | option_violations(q);
}

/* Where the two byte ranges [a, a+n) and [b, b+n) share bytes without being the same. */
static int partially_overlap(size_t a, size_t b, size_t n)
{
    return a != b && (a < b ? b - a < n : a - b < n);
}

/* A tensor of bytes (overflows: more than size_t holds) in a root, as a sub-buffer or not. */
static unsigned extent_violations(const request *q, int root, int sub, size_t origin,
                                  size_t offset, cl_mem_flags forbidden, size_t element,
                                  size_t bytes, int overflows)
{
    unsigned v = 0;
    if (offset % element != 0)
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    /* F is of another OpenCL context, and the library's own context has one no root is of. */
    if (root == ROOT_F || q->ctx_index == CTX_OWN || (q->root_flags[root] & forbidden))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    size_t size = root_size(q, root) - (sub ? origin : 0);
    if (overflows || offset > size || bytes > size - offset)
        v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    return v;
}

static unsigned buffer_violations(const request *q, int root, int sub, size_t origin,
                                  size_t offset, cl_mem_flags forbidden)
{
    if (root == NO_ROOT)
        return BIT(CLSM_ERROR_INVALID_ARGUMENT);
    return extent_violations(q, root, sub, origin, offset, forbidden,
                             ts_dtype_size((clsm_dtype)q->dtype), q->bytes, 0);
}

/* The harness's events belong to the OpenCL context of its own queue. */
static int wait_list_invalid(const request *q)
{
    return q->wait == WAIT_COUNT_WITHOUT_LIST || q->wait == WAIT_LIST_WITHOUT_COUNT ||
           (q->wait == WAIT_VALID && (q->ctx_index == CTX_OWN || q->null_event));
}

/* Where [a, a+n) and [b, b+n) share a byte. */
static int overlap(size_t a, size_t b, size_t n)
{
    return a < b ? b - a < n : a - b < n;
}

/* The mask and kv_lengths of a backward _ex call may share no byte with dx; the sinks and
 * slopes are dropped unread and unchecked. Over dx on the buffers path, a tensor must also
 * fit in dx's buffer from dx's offset. */
static unsigned over_dx_violations(const request *q)
{
    const int k = q->over_dx;
    if (k < 0 || unread(q, k))
        return 0;
    unsigned v = BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (q->buffers && q->y_root != NO_ROOT) {
        const size_t size = root_size(q, q->y_root) - (q->y_sub ? q->y_origin : 0);
        if (q->y_offset > size || q->need[k] > size - q->y_offset)
            v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    }
    return v;
}

/* A backward call's tensors: none NULL, y and dy not write-only and dx not read-only, and dx
 * exactly y or dy or apart from both (y and dy may overlap as they like). The _ex calls' x
 * is looked at only with a cap: then it follows y's rules and may share no byte with dx. */
static unsigned backward_violations(const request *q)
{
    unsigned v = over_dx_violations(q);
    const int cap = q->options && q->opt.softcap > 0;
    if (!q->buffers) {
        host_layout l;
        layout_host(q, &l);
        if (q->host_null_x || q->host_null_y || q->host_dy == HDY_NULL ||
            (cap && q->fx_host == HX_NULL))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        for (int t = H_IN; t <= H_DY; t += H_DY - H_IN)
            if (l.block[t] == l.block[H_OUT] && partially_overlap(l.at[t], l.at[H_OUT], q->bytes))
                v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        if (cap && l.block[H_X] == l.block[H_OUT] && overlap(l.at[H_X], l.at[H_OUT], q->bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        return v | host_value_violations(q);
    }
    if (cap && q->fx_root == NO_ROOT)
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (cap && q->fx_root != NO_ROOT) {
        v |= buffer_violations(q, q->fx_root, q->fx_sub, q->fx_origin, q->fx_offset,
                               CL_MEM_WRITE_ONLY);
        if (q->fx_root == q->y_root &&
            overlap(q->fx_origin + q->fx_offset, q->y_origin + q->y_offset, q->bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    }
    if (wait_list_invalid(q))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    v |= buffer_violations(q, q->x_root, q->x_sub, q->x_origin, q->x_offset, CL_MEM_WRITE_ONLY);
    v |= buffer_violations(q, q->dy_root, q->dy_sub, q->dy_origin, q->dy_offset,
                           CL_MEM_WRITE_ONLY);
    v |= buffer_violations(q, q->y_root, q->y_sub, q->y_origin, q->y_offset, CL_MEM_READ_ONLY);
    const int roots[2] = {q->x_root, q->dy_root};
    const size_t starts[2] = {q->x_origin + q->x_offset, q->dy_origin + q->dy_offset};
    for (int k = 0; k < 2; k++)
        if (roots[k] != NO_ROOT && roots[k] == q->y_root &&
            partially_overlap(starts[k], q->y_origin + q->y_offset, q->bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    return v;
}

static unsigned call_violations(const request *q)
{
    unsigned v = 0;
    v |= tensor_violations(q);
    if (q->backward) {
        v |= backward_violations(q);
    } else if (!q->buffers) {
        if (q->host_null_x || (q->host_null_y && !y_optional(q)) ||
            (q->host_layout == HOST_OVERLAP && (size_t)labs(q->overlap) < q->bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        v |= host_value_violations(q);
    } else {
        if (wait_list_invalid(q))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        v |= buffer_violations(q, q->x_root, q->x_sub, q->x_origin, q->x_offset,
                               CL_MEM_WRITE_ONLY);
        if (q->y_root != NO_ROOT || !y_optional(q))
            v |= buffer_violations(q, q->y_root, q->y_sub, q->y_origin, q->y_offset,
                                   CL_MEM_READ_ONLY);
        if (q->x_root != NO_ROOT && q->x_root == q->y_root &&
            partially_overlap(q->x_origin + q->x_offset, q->y_origin + q->y_offset, q->bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    }
    if (q->dtype == CLSM_F64 && !q->dev.has_fp64)
        v |= BIT(CLSM_ERROR_UNSUPPORTED);
    return v;
}

/* ---- sampling ---- */

/* Whether two byte ranges of one memory share a byte, as the library judges it: a range of
 * no bytes strictly inside another counts. */
static int shares(size_t a, size_t na, size_t b, size_t nb)
{
    return a < b + nb && b < a + na;
}

static int bad_temperature(float t)
{
    return !(t >= 0) || isinf(t);
}

static int bad_fraction(float p)
{
    return !(p >= 0 && p <= 1);
}

/* The sampling struct and its scalars, then the request as validate.c takes it: the shape's
 * counts and the options' extents only for a call with logits, the vocabulary's limit for
 * any. */
static unsigned sample_request_violations(const request *q)
{
    unsigned v = 0;
    const clsm_sampling *s = &q->sampling;
    if (q->ctx_index == CTX_NULL || q->null_sampling)
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (!q->null_sampling && sampling_size_status(q) != CLSM_SUCCESS)
        v |= BIT(sampling_size_status(q));
    if (!q->null_sampling && (bad_temperature(s->temperature) || bad_fraction(s->top_p) ||
                              bad_fraction(s->min_p)))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (!dtype_valid(q->dtype) || !isfinite(q->scale) || !isfinite(compute_scale(q)))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    v |= option_violations(q);
    if (!q->empty && (q->count_overflows || q->bytes_overflow))
        v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    for (int k = 0; !q->empty && q->options && k < TENSORS; k++)
        if ((q->set[k] || (k == T_MASK && q->opt.mask_type != CLSM_MASK_NONE)) &&
            q->need_overflows[k])
            v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    if (!q->empty && q->dtype == CLSM_F64 && !q->dev.has_fp64)
        v |= BIT(CLSM_ERROR_UNSUPPORTED);
    if (q->shape.axis > INT32_MAX)
        v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    return v;
}

/* A per-row value the host path refuses. */
static int bad_row_value(const request *q, int k, size_t i)
{
    const float *f = (const float *)(const void *)q->s_tensor[k];
    return (k == S_TEMPS && bad_temperature(f[i])) ||
           ((k == S_TOP_PS || k == S_MIN_PS) && bad_fraction(f[i]));
}

/* A per-row tensor's own buffer: too small where the harness holds a token in its place,
 * or spoilt as s_bad_kind says. */
static unsigned sample_buffer_violations(const request *q, int k)
{
    if (!q->s_set[k] || (k == S_LOGPROBS && q->lp_place != LP_OWN))
        return 0;
    unsigned v = q->ctx_index == CTX_OWN ? BIT(CLSM_ERROR_INVALID_ARGUMENT) : 0;
    if (q->s_need_overflows[k] || q->shape.outer > MAX_ROWS)
        v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    if (k != q->s_bad_tensor)
        return v;
    return v | bad_kind_status(q->s_bad_kind);
}

/*
 * The tensors: logits needed with a vocabulary, tokens with rows; tokens and logprobs
 * sharing no byte with another tensor; the buffers' own rules; the host path's per-row
 * values; and, with logits, the options' tensors (an empty call drops the options unread)
 * without sinks or statistics.
 */
static unsigned sample_call_violations(const request *q)
{
    unsigned v = 0;
    const int rows = q->shape.outer > 0, logits = !q->empty;
    const size_t lp_bytes = q->s_need[S_LOGPROBS], logits_bytes = q->empty ? 0 : q->bytes;
    const int lp = q->s_set[S_LOGPROBS] && q->lp_place != LP_OWN;
    if (q->options && logits) {
        v |= tensor_violations(q) | host_value_violations(q);
        if (q->set[T_SINKS] || q->set[T_STATS_IN] || q->set[T_STATS_OUT])
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    }
    if (!q->buffers) {
        host_layout l;
        layout_host(q, &l);
        const int x = !q->host_null_x, y = !q->host_null_y;
        if ((!x && logits) || (!y && rows))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        if (x && y && l.block[H_IN] == l.block[H_OUT] &&
            shares(l.at[H_OUT], q->out_bytes, l.at[H_IN], logits_bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        if (lp && ((y && shares(l.at[H_LP], lp_bytes, l.at[H_OUT], q->out_bytes)) ||
                   (x && l.block[H_IN] == l.block[H_LP] &&
                    shares(l.at[H_LP], lp_bytes, l.at[H_IN], logits_bytes))))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        for (int k = 0; k < S_LOGPROBS && q->shape.outer <= MAX_ROWS; k++)
            for (size_t i = 0; q->s_set[k] && i < q->shape.outer; i++)
                if (bad_row_value(q, k, i))
                    v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        return v;
    }
    if (wait_list_invalid(q))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    const size_t x_at = q->x_origin + q->x_offset, y_at = q->y_origin + q->y_offset;
    if (q->x_root == NO_ROOT && logits)
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (q->x_root != NO_ROOT)
        v |= extent_violations(q, q->x_root, q->x_sub, q->x_origin, q->x_offset,
                               CL_MEM_WRITE_ONLY, ts_dtype_size((clsm_dtype)q->dtype),
                               logits_bytes, 0);
    if (q->y_root == NO_ROOT && rows)
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (q->y_root != NO_ROOT) {
        v |= extent_violations(q, q->y_root, q->y_sub, q->y_origin, q->y_offset,
                               CL_MEM_READ_ONLY, sizeof(int32_t), q->out_bytes,
                               q->out_overflows);
        if (q->x_root == q->y_root && shares(y_at, q->out_bytes, x_at, logits_bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    }
    /* Logprobs in the tokens' buffer: NULL without one. */
    if (lp && q->y_root != NO_ROOT) {
        const size_t at = y_at + lp_delta(q);
        v |= extent_violations(q, q->y_root, q->y_sub, q->y_origin, q->y_offset + lp_delta(q),
                               CL_MEM_READ_ONLY, sample_element_size(q, S_LOGPROBS), lp_bytes,
                               q->s_need_overflows[S_LOGPROBS]);
        if (shares(at, lp_bytes, y_at, q->out_bytes) ||
            (q->x_root == q->y_root && shares(at, lp_bytes, x_at, logits_bytes)))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    }
    for (int k = 0; k < S_TENSORS; k++)
        v |= sample_buffer_violations(q, k);
    return v;
}

static unsigned sample_statuses(const request *q)
{
    unsigned v = sample_request_violations(q);
    if (!v)
        v = sample_call_violations(q);
    else if (!q->count_overflows && dtype_valid(q->dtype))
        v |= sample_call_violations(q);
    return v ? v : BIT(CLSM_SUCCESS);
}

/* Any status that one of the problems of the call explains; success only without one. */
unsigned expected_statuses(const request *q)
{
    if (q->sample)
        return sample_statuses(q);
    unsigned v = request_violations(q);
    if (!v && q->empty) {
        /* An empty tensor does nothing, but its wait list is checked like any other. */
        if (q->buffers && wait_list_invalid(q))
            return BIT(CLSM_ERROR_INVALID_ARGUMENT);
        return BIT(CLSM_SUCCESS);
    }
    if (!v)
        v = call_violations(q);
    else if (!q->empty && !q->count_overflows && dtype_valid(q->dtype))
        v |= call_violations(q);
    return v ? v : BIT(CLSM_SUCCESS);
}
