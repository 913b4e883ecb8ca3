/* libFuzzer target over the public API, forward, backward and sampling: makes each decoded request's call on the host or buffers path, and checks its outcome against the contract. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* The process-wide state: contexts are costly, so they live as long as the fuzzer. */
static struct {
    cl_context cl, foreign_cl;
    cl_command_queue queue, foreign_queue;
    fuzz_device dev;
    clsm_context *ctx[CTX_COUNT];
    const uint8_t *input;
    size_t input_size;
} g;

static void save_input_and_trap(void)
{
    /* FNV-1a names the file, so a failure found twice is saved once. */
    uint64_t hash = 0xcbf29ce484222325u;
    for (size_t i = 0; i < g.input_size; i++)
        hash = (hash ^ g.input[i]) * 0x100000001b3u;
    const char *dir = getenv("FUZZ_CRASH_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/crash-%016llx", dir && *dir ? dir : ".",
             (unsigned long long)hash);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(g.input, 1, g.input_size, f);
        fclose(f);
        fprintf(stderr, "fuzz_softmax: input saved to %s\n", path);
    } else {
        fprintf(stderr, "fuzz_softmax: could not save the input to %s\n", path);
    }
    /* LLVM inside PoCL takes SIGABRT over, so libFuzzer would not see an abort(). */
    __builtin_trap();
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_softmax: contract violated: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    save_input_and_trap();
}

static void setup_failed(const char *what, long code)
{
    fprintf(stderr, "fuzz_softmax: setup: %s (%ld)\n", what, code);
    exit(1);
}

static const char *context_name(int index)
{
    return index == CTX_AUTO  ? "auto"
           : index == CTX_OWN ? "own"
           : index == CTX_NULL ? "NULL"
                               : ts_families[index - CTX_FAMILY];
}

/* "split buffers_ex softmax F32 [3,257,1] scale=0.5", to name a failing call. */
static const char *describe(const request *q)
{
    static char buf[160];
    char config[64];
    snprintf(config, sizeof config, "%s %s%s%s", context_name(q->ctx_index),
             q->backward ? "backward_" : q->sample ? "sample_" : "",
             q->buffers ? "buffers" : "host", q->ex && !q->sample ? "_ex" : "");
    ts_describe(buf, sizeof buf, config, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape, q->scale);
    return buf;
}

/* ---- One call and everything it could write ---- */

typedef struct outcome {
    clsm_status status;
    /* Every byte the call could have written: the host blocks or the roots. */
    unsigned char *memory[BLOCKS];
    size_t size[BLOCKS];
    /* Where y is inside memory[y_block]; none for a statistics-only call. */
    int y_block, no_y;
    size_t y_at;
    /* stats_out as the call left it, in its buffer's pads on the buffers path, at stats_at;
     * NULL where the call sets none. */
    unsigned char *stats;
    size_t stats_size, stats_at;
    /* Sampling's logprobs of their own likewise, at lp_at in lp; NULL where they lie with the
     * tokens, or the call sets none. */
    unsigned char *lp;
    size_t lp_size, lp_at;
} outcome;

static void outcome_free(outcome *o)
{
    for (int i = 0; i < BLOCKS; i++)
        free(o->memory[i]);
    free(o->stats);
    free(o->lp);
}

/* The host path, in the blocks of layout_host(). */
static void call_host(const request *q, clsm_context *ctx, outcome *o)
{
    host_layout l;
    layout_host(q, &l);
    unsigned char *at[H_TENSORS] = {NULL, NULL, NULL, NULL, NULL};
    /* A block of an empty tensor too, so that the call gets pointers it must not touch. */
    for (int t = 0; t < H_TENSORS; t++) {
        const int b = l.block[t];
        if (b < 0)
            continue;
        if (!o->memory[b]) {
            o->size[b] = l.size[b];
            o->memory[b] = initial_block(q, b, l.size[b]);
        }
        at[t] = o->memory[b] + l.at[t];
    }
    unsigned char *x = at[H_IN], *y = at[H_OUT];
    o->y_block = l.block[H_OUT];
    o->y_at = l.at[H_OUT];
    o->no_y = q->host_null_y;
    if (q->backward && !q->ex) {
        o->status = clsm_softmax_backward_host(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype,
                                               q->shape, (float)q->scale,
                                               q->host_null_x ? NULL : x,
                                               q->host_dy == HDY_NULL ? NULL : at[H_DY],
                                               q->host_null_y ? NULL : y);
        return;
    }
    if (!q->ex && !q->sample) {
        o->status = clsm_softmax_host(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape,
                                      (float)q->scale, q->host_null_x ? NULL : x,
                                      q->host_null_y ? NULL : y);
        return;
    }
    /* Each tensor exactly as large as it must be, so that ASan sees overruns. */
    clsm_options opt = q->opt;
    for (int k = 0; k < T_STATS_OUT; k++)
        option_tensor(&opt, k)->host = q->set[k] ? q->tensor[k] : NULL;
    if (q->options && q->set[T_STATS_OUT]) {
        o->stats_size = token_tensor(q, T_STATS_OUT) ? TOKEN_BYTES : q->need[T_STATS_OUT];
        o->stats = xmalloc(o->stats_size);
        ts_fill_sentinel(o->stats, o->stats_size);
        opt.stats_out.host = o->stats;
    }
    if (q->over_dx >= 0)
        option_tensor(&opt, q->over_dx)->host = y;
    options_block b;
    const clsm_options *passed = q->null_options ? NULL : pass_options(q, &opt, &b);
    if (q->sample) {
        /* The options as the _ex calls', given with byte 28 bit 0. */
        clsm_sampling s = q->sampling;
        for (int k = 0; k < S_LOGPROBS; k++)
            sample_tensor(&s, k)->host = q->s_set[k] ? q->s_tensor[k] : NULL;
        if (q->s_set[S_LOGPROBS] && q->lp_place != LP_OWN) {
            s.logprobs.host = at[H_LP];
        } else if (q->s_set[S_LOGPROBS]) {
            o->lp_size = q->out_small ? q->s_need[S_LOGPROBS] : TOKEN_BYTES;
            o->lp = xmalloc(o->lp_size);
            ts_fill_sentinel(o->lp, o->lp_size);
            s.logprobs.host = o->lp;
        }
        sampling_block sb;
        o->status = clsm_sample_host(ctx, (clsm_dtype)q->dtype, q->shape.outer, q->shape.axis,
                                     q->scale, q->options ? passed : NULL,
                                     q->null_sampling ? NULL : pass_sampling(q, &s, &sb),
                                     q->host_null_x ? NULL : x,
                                     q->host_null_y ? NULL : (int32_t *)(void *)y);
        return;
    }
    if (q->backward)
        o->status = clsm_softmax_backward_host_ex(
            ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape, q->scale, passed, at[H_X],
            q->host_null_x ? NULL : x, q->host_dy == HDY_NULL ? NULL : at[H_DY],
            q->host_null_y ? NULL : y);
    else
        o->status = clsm_softmax_host_ex(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape,
                                         q->scale, passed, q->host_null_x ? NULL : x,
                                         q->host_null_y ? NULL : y);
}

static cl_mem make_root(const request *q, int root, cl_context cl, cl_command_queue queue)
{
    size_t size = root_size(q, root);
    cl_int err;
    cl_mem m = clCreateBuffer(cl, q->root_flags[root], size, NULL, &err);
    if (err != CL_SUCCESS)
        setup_failed("clCreateBuffer", err);
    unsigned char *init = initial_block(q, root, size);
    err = clEnqueueWriteBuffer(queue, m, CL_TRUE, 0, size, init, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        setup_failed("clEnqueueWriteBuffer", err);
    free(init);
    return m;
}

static cl_mem view_of(cl_mem root, int sub, size_t origin, size_t root_bytes)
{
    if (!root || !sub)
        return root;
    cl_buffer_region region = {origin, root_bytes - origin};
    cl_int err;
    cl_mem m = clCreateSubBuffer(root, 0, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (err != CL_SUCCESS)
        setup_failed("clCreateSubBuffer", err);
    return m;
}

/* A buffer of bytes between pads of lead and tail (or as bad, a BAD_* or BAD_KINDS, spoils
 * it), holding data (NULL for a tensor the call writes), sentinel around it. */
static cl_mem padded_buffer(size_t lead, size_t bytes, size_t tail, int bad, const void *data,
                            size_t *offset, size_t *size)
{
    *size = lead + bytes + tail - (bad == BAD_SMALL ? tail + 1 : 0);
    *offset = bad == BAD_MISALIGNED    ? lead + 1
              : bad == BAD_HUGE_OFFSET ? SIZE_MAX - 7
                                       : lead;
    cl_mem_flags flags = bad != BAD_FLAGS ? CL_MEM_READ_WRITE
                         : data           ? CL_MEM_WRITE_ONLY
                                          : CL_MEM_READ_ONLY;
    unsigned char *init = xmalloc(*size);
    ts_fill_sentinel(init, *size);
    if (data)
        memcpy(init + lead, data, bytes < *size - lead ? bytes : *size - lead);
    cl_int err;
    cl_mem m = clCreateBuffer(bad == BAD_FOREIGN ? g.foreign_cl : g.cl,
                              flags | CL_MEM_COPY_HOST_PTR, *size, init, &err);
    free(init);
    if (err != CL_SUCCESS)
        setup_failed("clCreateBuffer of a tensor", err);
    return m;
}

/* A buffer for option tensor k between its pads (or as q->bad_kind spoils it), holding its
 * host data, sentinel around it; NULL where the call does not set it. */
static cl_mem tensor_buffer(const request *q, int k, size_t *offset, size_t *size)
{
    if (!q->set[k])
        return NULL;
    size_t bytes = token_tensor(q, k) ? TOKEN_BYTES : q->need[k], lead, tail;
    tensor_pads(q, k, &lead, &tail);
    return padded_buffer(lead, bytes, tail, q->bad_tensor == k ? q->bad_kind : BAD_KINDS,
                         k == T_STATS_OUT ? NULL : q->tensor[k], offset, size);
}

/* Likewise for sampling's per-row tensor k (a token past the rows held), and its logprobs
 * where they have their own. */
static cl_mem sample_buffer(const request *q, int k, size_t *offset, size_t *size)
{
    if (!q->s_set[k] || (k == S_LOGPROBS && q->lp_place != LP_OWN))
        return NULL;
    const int held = q->shape.outer <= MAX_ROWS;
    size_t lead, tail;
    sample_pads(q, k, &lead, &tail);
    return padded_buffer(lead, held ? q->s_need[k] : TOKEN_BYTES, tail,
                         q->s_bad_tensor == k ? q->s_bad_kind : BAD_KINDS,
                         k == S_LOGPROBS ? NULL : q->s_tensor[k], offset, size);
}

static void call_buffers(const request *q, clsm_context *ctx, outcome *o)
{
    cl_mem roots[ROOTS] = {NULL, NULL, NULL};
    const int dy_root = q->backward ? q->dy_root : NO_ROOT;
    for (int i = 0; i < ROOTS; i++) {
        if (q->x_root == i || q->y_root == i || dy_root == i || q->fx_root == i)
            roots[i] = make_root(q, i, i == ROOT_F ? g.foreign_cl : g.cl,
                                 i == ROOT_F ? g.foreign_queue : g.queue);
    }
    cl_mem x = q->x_root == NO_ROOT ? NULL
                                    : view_of(roots[q->x_root], q->x_sub, q->x_origin,
                                              root_size(q, q->x_root));
    cl_mem y = q->y_root == NO_ROOT ? NULL
                                    : view_of(roots[q->y_root], q->y_sub, q->y_origin,
                                              root_size(q, q->y_root));
    cl_mem dy = dy_root == NO_ROOT ? NULL
                                   : view_of(roots[dy_root], q->dy_sub, q->dy_origin,
                                             root_size(q, dy_root));
    cl_mem fx = q->fx_root == NO_ROOT ? NULL
                                      : view_of(roots[q->fx_root], q->fx_sub, q->fx_origin,
                                                root_size(q, q->fx_root));

    cl_event wait = NULL, waits[2] = {NULL, NULL};
    cl_uint n_waits = 0;
    const cl_event *wait_list = NULL;
    cl_int err = CL_SUCCESS;
    if (q->wait == WAIT_VALID || q->wait == WAIT_LIST_WITHOUT_COUNT) {
        wait = clCreateUserEvent(g.cl, &err);
        if (err != CL_SUCCESS)
            setup_failed("clCreateUserEvent", err);
        if (!q->wait_pending || q->wait == WAIT_LIST_WITHOUT_COUNT)
            clSetUserEventStatus(wait, CL_COMPLETE);
        waits[0] = wait;
        n_waits = q->wait == WAIT_VALID ? 1 + q->null_event : 0;
        wait_list = waits;
    } else if (q->wait == WAIT_COUNT_WITHOUT_LIST) {
        n_waits = q->mismatch_count;
    }

    cl_event done = NULL;
    clsm_options opt = q->opt;
    clsm_tensor *t[TENSORS];
    size_t sizes[TENSORS] = {0};
    for (int k = 0; k < TENSORS; k++) {
        t[k] = option_tensor(&opt, k);
        if (q->options && k != q->over_dx)
            t[k]->buffer = tensor_buffer(q, k, &t[k]->offset, &sizes[k]);
    }
    if (q->over_dx >= 0) {
        t[q->over_dx]->buffer = y;
        t[q->over_dx]->offset = q->y_offset;
    }
    clsm_sampling s = q->sampling;
    size_t s_sizes[S_TENSORS] = {0};
    for (int k = 0; q->sample && k < S_TENSORS; k++) {
        clsm_tensor *st = sample_tensor(&s, k);
        st->buffer = sample_buffer(q, k, &st->offset, &s_sizes[k]);
    }
    if (q->sample && q->s_set[S_LOGPROBS] && q->lp_place != LP_OWN)
        s.logprobs = (clsm_tensor){NULL, y, q->y_offset + lp_delta(q)};
    options_block b;
    sampling_block sb;
    if (q->sample)
        o->status = clsm_sample_buffers(
            ctx, (clsm_dtype)q->dtype, q->shape.outer, q->shape.axis, q->scale,
            q->options ? pass_options(q, &opt, &b) : NULL,
            q->null_sampling ? NULL : pass_sampling(q, &s, &sb), x, q->x_offset, y, q->y_offset,
            n_waits, wait_list, q->want_event ? &done : NULL);
    else if (q->backward && !q->ex)
        o->status = clsm_softmax_backward_buffers(
            ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape, (float)q->scale, x,
            q->x_offset, dy, q->dy_offset, y, q->y_offset, n_waits, wait_list,
            q->want_event ? &done : NULL);
    else if (q->backward)
        o->status = clsm_softmax_backward_buffers_ex(
            ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape, q->scale,
            q->null_options ? NULL : pass_options(q, &opt, &b), fx, q->fx_offset, x,
            q->x_offset, dy, q->dy_offset, y, q->y_offset, n_waits, wait_list,
            q->want_event ? &done : NULL);
    else if (!q->ex)
        o->status = clsm_softmax_buffers(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape,
                                         (float)q->scale, x, q->x_offset, y, q->y_offset, n_waits,
                                         wait_list, q->want_event ? &done : NULL);
    else
        o->status = clsm_softmax_buffers_ex(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape,
                                            q->scale,
                                            q->null_options ? NULL : pass_options(q, &opt, &b), x,
                                            q->x_offset, y, q->y_offset, n_waits, wait_list,
                                            q->want_event ? &done : NULL);
    if (wait) {
        clSetUserEventStatus(wait, CL_COMPLETE);
        clReleaseEvent(wait);
    }
    if (o->status == CLSM_SUCCESS && q->want_event) {
        if (!done)
            fail("%s: success without the event that was asked for", describe(q));
        if (clWaitForEvents(1, &done) != CL_SUCCESS)
            fail("%s: waiting for the returned event failed", describe(q));
        clReleaseEvent(done);
    } else if (done) {
        fail("%s: %s, yet an event was returned", describe(q), clsm_status_string(o->status));
    }
    err = clFinish(g.queue);
    if (err != CL_SUCCESS)
        setup_failed("clFinish", err);

    for (int i = 0; i < ROOTS; i++) {
        if (!roots[i])
            continue;
        o->size[i] = root_size(q, i);
        o->memory[i] = xmalloc(o->size[i]);
        err = clEnqueueReadBuffer(i == ROOT_F ? g.foreign_queue : g.queue, roots[i], CL_TRUE, 0,
                                  o->size[i], o->memory[i], 0, NULL, NULL);
        if (err != CL_SUCCESS)
            setup_failed("clEnqueueReadBuffer", err);
    }
    o->y_block = q->y_root == NO_ROOT ? ROOT_A : q->y_root;
    o->no_y = q->y_root == NO_ROOT;
    o->y_at = q->y_origin + q->y_offset;
    if (opt.stats_out.buffer) {
        size_t tail;
        tensor_pads(q, T_STATS_OUT, &o->stats_at, &tail);
        o->stats_size = sizes[T_STATS_OUT];
        o->stats = xmalloc(o->stats_size);
        err = clEnqueueReadBuffer(q->bad_tensor == T_STATS_OUT && q->bad_kind == BAD_FOREIGN
                                      ? g.foreign_queue
                                      : g.queue,
                                  opt.stats_out.buffer, CL_TRUE, 0, o->stats_size, o->stats, 0,
                                  NULL, NULL);
        if (err != CL_SUCCESS)
            setup_failed("reading stats_out", err);
    }
    if (q->sample && q->s_set[S_LOGPROBS] && q->lp_place == LP_OWN) {
        size_t tail;
        sample_pads(q, S_LOGPROBS, &o->lp_at, &tail);
        o->lp_size = s_sizes[S_LOGPROBS];
        o->lp = xmalloc(o->lp_size);
        err = clEnqueueReadBuffer(q->s_bad_tensor == S_LOGPROBS && q->s_bad_kind == BAD_FOREIGN
                                      ? g.foreign_queue
                                      : g.queue,
                                  s.logprobs.buffer, CL_TRUE, 0, o->lp_size, o->lp, 0, NULL,
                                  NULL);
        if (err != CL_SUCCESS)
            setup_failed("reading logprobs", err);
    }
    for (int k = 0; q->sample && k < S_TENSORS; k++)
        if (sample_tensor(&s, k)->buffer && (k != S_LOGPROBS || q->lp_place == LP_OWN))
            clReleaseMemObject(sample_tensor(&s, k)->buffer);
    for (int k = 0; k < TENSORS; k++)
        if (t[k]->buffer && k != q->over_dx)
            clReleaseMemObject(t[k]->buffer);
    if (x && x != roots[q->x_root])
        clReleaseMemObject(x);
    if (y && y != roots[q->y_root])
        clReleaseMemObject(y);
    if (dy && dy != roots[dy_root])
        clReleaseMemObject(dy);
    if (fx && fx != roots[q->fx_root])
        clReleaseMemObject(fx);
    for (int i = 0; i < ROOTS; i++)
        if (roots[i])
            clReleaseMemObject(roots[i]);
}

static void call(const request *q, outcome *o)
{
    memset(o, 0, sizeof *o);
    clsm_context *ctx = g.ctx[q->ctx_index];
    if (q->buffers)
        call_buffers(q, ctx, o);
    else
        call_host(q, ctx, o);
}

/* ---- Checks of an outcome ---- */

/* Bytes [from, to) of block hold what they held before the call. */
static int untouched(const request *q, const outcome *o, int block, size_t from, size_t to)
{
    unsigned char *want = initial_block(q, block, o->size[block]);
    int same = to <= from || memcmp(o->memory[block] + from, want + from, to - from) == 0;
    free(want);
    return same;
}

static void check_stats_untouched(const request *q, const outcome *o, size_t from, size_t to)
{
    if (!o->stats || to <= from)
        return;
    ts_report r = ts_check_sentinel(o->stats + from, to - from);
    if (!r.ok)
        fail("%s: %s, yet stats_out's buffer changed from byte %zu: %s", describe(q),
             clsm_status_string(o->status), from, r.msg);
}

static void check_lp_untouched(const request *q, const outcome *o, size_t from, size_t to)
{
    if (!o->lp || to <= from)
        return;
    ts_report r = ts_check_sentinel(o->lp + from, to - from);
    if (!r.ok)
        fail("%s: %s, yet the logprobs' own memory changed from byte %zu: %s", describe(q),
             clsm_status_string(o->status), from, r.msg);
}

static void check_nothing_written(const request *q, const outcome *o)
{
    for (int b = 0; b < BLOCKS; b++)
        if (o->memory[b] && !untouched(q, o, b, 0, o->size[b]))
            fail("%s: %s, yet memory changed (block %d)", describe(q),
                 clsm_status_string(o->status), b);
}

/* What a successful call writes from y's first byte: y (sampling's tokens, and its logprobs
 * where they lie right after them). */
static size_t written_extent(const request *q)
{
    if (q->sample && q->s_set[S_LOGPROBS] && q->lp_place != LP_OWN)
        return lp_delta(q) + q->s_need[S_LOGPROBS];
    return q->out_bytes;
}

static void check_only_y_written(const request *q, const outcome *o)
{
    for (int b = 0; b < BLOCKS; b++) {
        if (!o->memory[b])
            continue;
        if (b != o->y_block) {
            if (!untouched(q, o, b, 0, o->size[b]))
                fail("%s: success, but memory other than y changed (block %d)", describe(q), b);
            continue;
        }
        if (!untouched(q, o, b, 0, o->y_at) ||
            !untouched(q, o, b, o->y_at + written_extent(q), o->size[b]))
            fail("%s: success, but bytes next to y changed", describe(q));
    }
}

/* An aligned copy of n bytes, as the shared checks read whole elements. */
static void *aligned_copy(const void *p, size_t n)
{
    return p ? memcpy(xmalloc(n), p, n) : NULL;
}

/* y (or dx) and stats_out against the reference; y, dy and x of a backward call as it saw
 * them, where they overlapped each other. */
static void check_results(const request *q, const outcome *o, const unsigned char *y,
                          const unsigned char *dy, const unsigned char *x)
{
    void *got = o->no_y ? NULL : aligned_copy(o->memory[o->y_block] + o->y_at, q->bytes);
    void *stats = o->stats ? aligned_copy(o->stats + o->stats_at, q->need[T_STATS_OUT]) : NULL;
    ts_report r = q->backward ? check_backward(q, got, y, dy, x) : check_forward(q, got, stats);
    if (!r.ok)
        fail("%s: %s", describe(q), r.msg);
    free(stats);
    free(got);
}

static void check_same(const request *q, const outcome *a, const outcome *b, const char *what)
{
    if (a->status != b->status)
        fail("%s: %s: %s, then %s", describe(q), what, clsm_status_string(a->status),
             clsm_status_string(b->status));
    for (int i = 0; i < BLOCKS; i++)
        if (a->size[i] != b->size[i] ||
            (a->size[i] && memcmp(a->memory[i], b->memory[i], a->size[i]) != 0))
            fail("%s: %s: the memory differs (block %d)", describe(q), what, i);
    if (a->stats_size != b->stats_size ||
        (a->stats && memcmp(a->stats, b->stats, a->stats_size) != 0))
        fail("%s: %s: stats_out differs", describe(q), what);
    if (a->lp_size != b->lp_size || (a->lp && memcmp(a->lp, b->lp, a->lp_size) != 0))
        fail("%s: %s: the logprobs differ", describe(q), what);
}

/* Where sampling's logprobs are in an outcome: their own memory, or the tokens' block; NULL
 * without them. */
static const unsigned char *logprobs_of(const request *q, const outcome *o)
{
    if (!q->s_set[S_LOGPROBS])
        return NULL;
    if (q->lp_place == LP_OWN)
        return o->lp ? o->lp + o->lp_at : NULL;
    return o->no_y ? NULL : o->memory[o->y_block] + o->y_at + lp_delta(q);
}

/* A per-row value the buffers path takes by its rules and the host path refuses. */
static int host_refuses_rows(const request *q)
{
    for (size_t i = 0; q->shape.outer <= MAX_ROWS && i < q->shape.outer; i++) {
        const float *t = (const float *)(const void *)q->s_tensor[S_TEMPS],
                    *p = (const float *)(const void *)q->s_tensor[S_TOP_PS],
                    *m = (const float *)(const void *)q->s_tensor[S_MIN_PS];
        if ((t && (!(t[i] >= 0) || isinf(t[i]))) || (p && !(p[i] >= 0 && p[i] <= 1)) ||
            (m && !(m[i] >= 0 && m[i] <= 1)))
            return 1;
    }
    return 0;
}

/* Out of place on the host path, the plain call every other form must equal bitwise; y, dy
 * and x of a backward call are as it saw them, where they overlapped each other. */
static void check_equals_plain_call(const request *q, const outcome *o, unsigned char *y,
                                    unsigned char *dy, unsigned char *x)
{
    if (q->sample && host_refuses_rows(q))
        return;
    /* The host path refuses a slope that is not finite, which the buffers path spreads as
     * NaN over its head: there is no plain call to compare with. The backward reads none. */
    if (!q->backward && q->options && q->set[T_ALIBI] && !token_tensor(q, T_ALIBI)) {
        const clsm_dtype sd = q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
        for (size_t h = 0; h < q->need[T_ALIBI] / ts_dtype_size(sd); h++)
            if (!isfinite(ts_load(sd, q->tensor[T_ALIBI], h)))
                return;
    }
    request plain = *q;
    /* The buffers path clamps each length to [0, axis], which the host path asks for. */
    int32_t *lengths = NULL;
    if (q->options && q->set[T_KV] && !token_tensor(q, T_KV)) {
        const size_t batch = q->need[T_KV] / sizeof *lengths;
        const int32_t *given = (const int32_t *)(const void *)q->tensor[T_KV];
        lengths = xmalloc(q->need[T_KV]);
        for (size_t b = 0; b < batch; b++)
            lengths[b] = given[b] < 0 ? 0
                         : (uint64_t)given[b] > q->shape.axis ? (int32_t)q->shape.axis
                                                              : given[b];
        plain.tensor[T_KV] = (unsigned char *)lengths;
    }
    plain.buffers = 0;
    plain.host_layout = HOST_SEPARATE;
    plain.host_null_x = 0;
    plain.host_null_y = o->no_y;
    plain.misalign = 0;
    plain.lp_place = LP_OWN;
    if (q->backward) {
        plain.x = y;
        plain.dy = dy;
        plain.host_dy = HDY_SEPARATE;
        plain.fx = x;
        plain.fx_host = x ? HX_SEPARATE : HX_NULL;
        plain.fx_root = NO_ROOT;
        plain.over_dx = -1;
    }
    outcome p;
    call(&plain, &p);
    if (p.status != CLSM_SUCCESS)
        fail("%s: the plain host call failed: %s", describe(q), clsm_status_string(p.status));
    if (!o->no_y && q->sample) {
        if (memcmp(o->memory[o->y_block] + o->y_at, p.memory[p.y_block] + p.y_at,
                   q->out_bytes) != 0)
            fail("%s: other tokens than the out-of-place host call's", describe(q));
        const unsigned char *lp = logprobs_of(q, o), *plain_lp = logprobs_of(&plain, &p);
        if (lp && memcmp(lp, plain_lp, q->s_need[S_LOGPROBS]) != 0)
            fail("%s: other logprobs than the out-of-place host call's", describe(q));
    } else if (!o->no_y) {
        void *got = aligned_copy(o->memory[o->y_block] + o->y_at, q->bytes);
        ts_report r = ts_check_identical((clsm_dtype)q->dtype, q->count, got,
                                         p.memory[p.y_block] + p.y_at);
        if (!r.ok)
            fail("%s: not bitwise equal to the out-of-place host call: %s", describe(q), r.msg);
        free(got);
    }
    if (o->stats) {
        void *got = aligned_copy(o->stats + o->stats_at, q->need[T_STATS_OUT]);
        ts_report r = ts_check_identical(q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32,
                                         2 * q->slices, got, p.stats);
        if (!r.ok)
            fail("%s: stats_out not bitwise equal to the out-of-place host call's: %s",
                 describe(q), r.msg);
        free(got);
    }
    outcome_free(&p);
    free(lengths);
}

/* The rest of the API with bad or borrowed arguments; none may crash. */
static void extra_calls(const request *q)
{
    clsm_context *c = (clsm_context *)&c;
    if (clsm_context_create(NULL) != CLSM_ERROR_INVALID_ARGUMENT ||
        clsm_context_create_with_queue(NULL, g.queue) != CLSM_ERROR_INVALID_ARGUMENT)
        fail("a NULL out pointer was not refused");
    if (clsm_context_create_with_queue(&c, NULL) != CLSM_ERROR_INVALID_ARGUMENT || c != NULL)
        fail("a NULL queue was not refused, or *out was not set to NULL");
    if (clsm_context_create_with_queue(&c, g.queue) != CLSM_SUCCESS || !c)
        fail("borrowing the queue failed");
    clsm_context_release(c);
    clsm_context_release(NULL);
    if (clsm_context_queue(NULL) != NULL || clsm_kernel_name(NULL, CLSM_F32, q->shape) != NULL)
        fail("a getter answered a NULL context");
    if (!clsm_status_string((clsm_status)q->op) || !clsm_context_build_log(NULL) ||
        !clsm_version())
        fail("a string getter returned NULL");
}

static void check_kernel_name(const request *q)
{
    clsm_context *ctx = g.ctx[q->ctx_index];
    const char *name = clsm_kernel_name(ctx, (clsm_dtype)q->dtype, q->shape);
    if (!ctx) {
        if (name)
            fail("clsm_kernel_name answered a NULL context");
        return;
    }
    for (int i = 0; i < TS_FAMILIES; i++)
        if (name && strcmp(name, ts_families[i]) == 0)
            return;
    fail("clsm_kernel_name gave %s", name ? name : "NULL");
}

/* A sampling request: its status, nothing written on failure or without rows, else only
 * the tokens and logprobs, right ones (check_sample); the same again, and the plain host
 * call's where the call took another form. */
static void test_sample(const request *q)
{
    outcome first, again;
    call(q, &first);
    unsigned want = expected_statuses(q);
    if (!(want & BIT(first.status)))
        fail("%s: got %s (status set wanted: %#x)", describe(q), clsm_status_string(first.status),
             want);
    check_stats_untouched(q, &first, 0, first.stats_size);
    const int writes = first.status == CLSM_SUCCESS && q->shape.outer > 0;
    if (!writes) {
        check_nothing_written(q, &first);
        check_lp_untouched(q, &first, 0, first.lp_size);
    } else {
        check_only_y_written(q, &first);
        check_lp_untouched(q, &first, 0, first.lp_at);
        check_lp_untouched(q, &first, first.lp_at + q->s_need[S_LOGPROBS], first.lp_size);
        void *tokens = aligned_copy(first.memory[first.y_block] + first.y_at, q->out_bytes);
        void *lp = aligned_copy(logprobs_of(q, &first), q->s_need[S_LOGPROBS]);
        ts_report r = check_sample(q, tokens, lp, q->x);
        if (!r.ok)
            fail("%s: %s", describe(q), r.msg);
        free(lp);
        free(tokens);
    }
    call(q, &again);
    check_same(q, &first, &again, "a second identical call");
    if (writes && (q->buffers || q->host_layout != HOST_SEPARATE || q->misalign ||
                   (q->s_set[S_LOGPROBS] && q->lp_place != LP_OWN)))
        check_equals_plain_call(q, &first, NULL, NULL, NULL);
    outcome_free(&again);
    outcome_free(&first);
}

/* ---- libFuzzer entry points ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cl_platform_id platform;
    cl_device_id device = NULL;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    if (err != CL_SUCCESS)
        setup_failed("no OpenCL device", err);
    g.cl = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    if (err == CL_SUCCESS)
        g.queue = clCreateCommandQueue(g.cl, device, 0, &err);
    if (err == CL_SUCCESS)
        g.foreign_cl = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    if (err == CL_SUCCESS)
        g.foreign_queue = clCreateCommandQueue(g.foreign_cl, device, 0, &err);
    if (err != CL_SUCCESS)
        setup_failed("OpenCL context or queue", err);
    cl_uint align_bits;
    cl_device_fp_config fp64 = 0;
    err = clGetDeviceInfo(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits,
                          NULL);
    if (err != CL_SUCCESS)
        setup_failed("CL_DEVICE_MEM_BASE_ADDR_ALIGN", err);
    g.dev.base_align = align_bits / 8;
    clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    g.dev.has_fp64 = fp64 != 0;

    /* Every family forced on the harness's queue, the automatic choice, and one context
     * of the library's own making, whose OpenCL context no buffer here belongs to. */
    for (int i = CTX_AUTO; i < CTX_OWN; i++) {
        if (i == CTX_AUTO)
            unsetenv("CLSM_KERNEL");
        else
            setenv("CLSM_KERNEL", ts_families[i - CTX_FAMILY], 1);
        clsm_status st = clsm_context_create_with_queue(&g.ctx[i], g.queue);
        if (st != CLSM_SUCCESS)
            setup_failed(clsm_status_string(st), i);
    }
    unsetenv("CLSM_KERNEL");
    clsm_status st = clsm_context_create(&g.ctx[CTX_OWN]);
    if (st != CLSM_SUCCESS)
        setup_failed(clsm_status_string(st), CTX_OWN);
    g.ctx[CTX_NULL] = NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g.input = data;
    g.input_size = size;
    request q;
    decode(data, size, &g.dev, &q);
    if (q.extra_calls)
        extra_calls(&q);
    check_kernel_name(&q);
    /* A host array as large as a huge mask's reach cannot be made; a call that took the
     * token in its place would read past it. */
    for (int k = 0; k < T_STATS_OUT; k++)
        if (!q.buffers && q.options && q.set[k] && token_tensor(&q, k) &&
            !q.need_overflows[k] && expected_statuses(&q) == BIT(CLSM_SUCCESS)) {
            free_request(&q);
            return 0;
        }

    if (q.sample) {
        test_sample(&q);
        free_request(&q);
        return 0;
    }
    outcome first, again;
    unsigned char *y = q.backward ? effective_input(&q, H_IN) : NULL;
    unsigned char *dy = q.backward ? effective_input(&q, H_DY) : NULL;
    unsigned char *x = q.backward ? effective_input(&q, H_X) : NULL;
    call(&q, &first);
    unsigned want = expected_statuses(&q);
    if (!(want & BIT(first.status)))
        fail("%s: got %s (status set wanted: %#x)", describe(&q),
             clsm_status_string(first.status), want);
    if (first.status != CLSM_SUCCESS || q.empty) {
        check_nothing_written(&q, &first);
        check_stats_untouched(&q, &first, 0, first.stats_size);
    } else {
        if (first.no_y)
            check_nothing_written(&q, &first);
        else
            check_only_y_written(&q, &first);
        if (first.stats) {
            check_stats_untouched(&q, &first, 0, first.stats_at);
            check_stats_untouched(&q, &first, first.stats_at + q.need[T_STATS_OUT],
                                  first.stats_size);
        }
        check_results(&q, &first, y, dy, x);
    }
    call(&q, &again);
    check_same(&q, &first, &again, "a second identical call");
    if (first.status == CLSM_SUCCESS && !q.empty &&
        (q.buffers || q.host_layout != HOST_SEPARATE || q.misalign ||
         (q.backward && q.host_dy != HDY_SEPARATE) || q.fx_host == HX_SAME_AS_Y ||
         q.fx_host == HX_OVERLAP_DX || q.over_dx >= 0))
        check_equals_plain_call(&q, &first, y, dy, x);
    outcome_free(&again);
    outcome_free(&first);
    free(x);
    free(dy);
    free(y);
    free_request(&q);
    return 0;
}
