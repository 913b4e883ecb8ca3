/* The public entry points as one table, and the runner that stages a call's host data for any of them, each tensor at an offset and before a pad of its own. */
#include "entries.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "sample_reference.h"

static clsm_status call_host(const ts_args *a)
{
    return clsm_softmax_host(a->ctx, a->op, a->dtype, a->shape, (float)a->scale, a->in[0], a->out);
}

static clsm_status call_buffers(const ts_args *a)
{
    return clsm_softmax_buffers(a->ctx, a->op, a->dtype, a->shape, (float)a->scale, a->in_buffer[0],
                                a->in_offset[0], a->out_buffer, a->out_offset, a->num_events,
                                a->events, a->event);
}

static clsm_status call_host_ex(const ts_args *a)
{
    return clsm_softmax_host_ex(a->ctx, a->op, a->dtype, a->shape, a->scale, a->options,
                                a->in[0], a->out);
}

static clsm_status call_buffers_ex(const ts_args *a)
{
    return clsm_softmax_buffers_ex(a->ctx, a->op, a->dtype, a->shape, a->scale, a->options,
                                   a->in_buffer[0], a->in_offset[0], a->out_buffer,
                                   a->out_offset, a->num_events, a->events, a->event);
}

static clsm_status call_backward_host(const ts_args *a)
{
    return clsm_softmax_backward_host(a->ctx, a->op, a->dtype, a->shape, (float)a->scale, a->in[0],
                                      a->in[1], a->out);
}

static clsm_status call_backward_buffers(const ts_args *a)
{
    return clsm_softmax_backward_buffers(a->ctx, a->op, a->dtype, a->shape, (float)a->scale,
                                         a->in_buffer[0], a->in_offset[0], a->in_buffer[1],
                                         a->in_offset[1], a->out_buffer, a->out_offset,
                                         a->num_events, a->events, a->event);
}

static clsm_status call_backward_host_ex(const ts_args *a)
{
    return clsm_softmax_backward_host_ex(a->ctx, a->op, a->dtype, a->shape, a->scale, a->options,
                                         a->in[2], a->in[0], a->in[1], a->out);
}

static clsm_status call_backward_buffers_ex(const ts_args *a)
{
    return clsm_softmax_backward_buffers_ex(
        a->ctx, a->op, a->dtype, a->shape, a->scale, a->options, a->in_buffer[2], a->in_offset[2],
        a->in_buffer[0], a->in_offset[0], a->in_buffer[1], a->in_offset[1], a->out_buffer,
        a->out_offset, a->num_events, a->events, a->event);
}

static clsm_status call_sample_host(const ts_args *a)
{
    return clsm_sample_host(a->ctx, a->dtype, a->shape.outer, a->shape.axis, a->scale,
                            a->options, a->sampling, a->in[0], a->out);
}

static clsm_status call_sample_buffers(const ts_args *a)
{
    return clsm_sample_buffers(a->ctx, a->dtype, a->shape.outer, a->shape.axis, a->scale,
                               a->options, a->sampling, a->in_buffer[0], a->in_offset[0],
                               a->out_buffer, a->out_offset, a->num_events, a->events,
                               a->event);
}

const ts_entry ts_entries[TS_ENTRIES] = {
    {"host", 1, false, false, call_host, false},
    {"buffers", 1, true, false, call_buffers, false},
    {"host_ex", 1, false, true, call_host_ex, false},
    {"buffers_ex", 1, true, true, call_buffers_ex, false},
    {"backward_host", 2, false, false, call_backward_host, false},
    {"backward_buffers", 2, true, false, call_backward_buffers, false},
    {"backward_host_ex", 2, false, true, call_backward_host_ex, false},
    {"backward_buffers_ex", 2, true, true, call_backward_buffers_ex, false},
    {"sample_host", 1, false, true, call_sample_host, true},
    {"sample_buffers", 1, true, true, call_sample_buffers, true},
};

const size_t ts_entry_indices[TS_ENTRIES] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

/* The tensors of a call, and where each sits on the buffers path: its offset and the pad
 * after it, in its own elements, no two alike, so that a kernel reading one tensor's offset
 * for another's reads the wrong elements. */
enum {
    IN0, IN1, OUT, IN2, MASK, SINKS, STATS_IN, ALIBI, KV, STATS_OUT, /* options: MASK .. */
    TEMPS, TOP_KS, TOP_PS, MIN_PS, SEEDS, LOGPROBS, SLOTS             /* sampling: TEMPS .. */
};
_Static_assert(SLOTS == TS_SLOTS, "ts_staged holds every slot");
static const struct {
    size_t offset, pad;
} places[SLOTS] = {
    [IN0] = {3, 5},  [IN1] = {7, 2},       [OUT] = {5, 3},        [IN2] = {12, 10},
    [MASK] = {11, 4}, [SINKS] = {2, 6},    [STATS_IN] = {13, 1},  [ALIBI] = {6, 9},
    [KV] = {4, 8},   [STATS_OUT] = {9, 7}, [TEMPS] = {8, 11},     [TOP_KS] = {10, 12},
    [TOP_PS] = {14, 13}, [MIN_PS] = {1, 14}, [SEEDS] = {15, 16},  [LOGPROBS] = {16, 15},
};

static ts_report failed(const char *fmt, const char *detail)
{
    ts_report r = {false, ""};
    snprintf(r.msg, sizeof r.msg, fmt, detail);
    return r;
}

clsm_dtype ts_stats_dtype(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
}

size_t ts_mask_element_size(clsm_mask_type type)
{
    return type == CLSM_MASK_ADD_F32 ? 4 : type == CLSM_MASK_KEEP_U8 ? 1 : 2;
}

size_t ts_mask_elements(const clsm_options *o, clsm_shape shape)
{
    const size_t batch = o->batch ? o->batch : 1, heads = o->heads ? o->heads : 1;
    const size_t rows = o->rows ? o->rows : shape.outer;
    const size_t *s = o->mask_stride;
    return (batch - 1) * s[0] + (heads - 1) * s[1] + (rows - 1) * s[2] + (shape.axis - 1) * s[3] +
           1;
}

size_t ts_output_bytes(const ts_entry *e, const ts_data *d)
{
    return e->sample ? d->shape.outer * sizeof(int32_t)
                     : ts_count(d->shape) * ts_dtype_size(d->dtype);
}

/* Where a sampling struct holds the tensor of each slot TEMPS .. LOGPROBS. */
static const size_t sampling_members[SLOTS] = {
    [TEMPS] = offsetof(clsm_sampling, temperatures),
    [TOP_KS] = offsetof(clsm_sampling, top_ks),
    [TOP_PS] = offsetof(clsm_sampling, top_ps),
    [MIN_PS] = offsetof(clsm_sampling, min_ps),
    [SEEDS] = offsetof(clsm_sampling, seeds),
    [LOGPROBS] = offsetof(clsm_sampling, logprobs)};

static const clsm_tensor *sampling_tensor(const clsm_sampling *s, int slot)
{
    return (const clsm_tensor *)(const void *)((const char *)s + sampling_members[slot]);
}

/* Each tensor's element size and byte count for d; 0 bytes where the call has no such tensor. */
static void tensor_sizes(const ts_entry *e, const ts_data *d, const void *out, size_t elem[SLOTS],
                         size_t bytes[SLOTS])
{
    const size_t es = ts_dtype_size(d->dtype), rs = ts_dtype_size(ts_stats_dtype(d->dtype));
    const size_t n = ts_count(d->shape), slices = d->shape.outer * d->shape.inner;
    const clsm_options *o = e->options ? d->options : NULL;
    memset(bytes, 0, SLOTS * sizeof *bytes);
    elem[IN0] = elem[IN1] = elem[IN2] = elem[OUT] = es;
    elem[SINKS] = elem[STATS_IN] = elem[STATS_OUT] = elem[ALIBI] = rs;
    elem[KV] = sizeof(int32_t);
    elem[MASK] = o ? ts_mask_element_size(o->mask_type) : 1;
    elem[TEMPS] = elem[TOP_PS] = elem[MIN_PS] = sizeof(float);
    elem[TOP_KS] = sizeof(uint32_t);
    elem[SEEDS] = sizeof(uint64_t);
    elem[LOGPROBS] = rs;
    bytes[IN0] = n * es;
    bytes[IN1] = e->inputs == 2 ? n * es : 0;
    bytes[OUT] = out ? ts_output_bytes(e, d) : 0;
    if (e->sample) {
        elem[OUT] = sizeof(int32_t);
        for (int slot = TEMPS; slot < SLOTS; slot++)
            if (sampling_tensor(d->sampling, slot)->host)
                bytes[slot] = d->shape.outer * elem[slot];
    }
    if (!o)
        return;
    bytes[IN2] = e->inputs == 2 && d->in[2] ? n * es : 0;
    if (o->mask_type != CLSM_MASK_NONE && o->mask.host)
        bytes[MASK] = ts_mask_elements(o, d->shape) * elem[MASK];
    if (o->sinks.host)
        bytes[SINKS] = (o->heads ? o->heads : 1) * rs;
    if (o->stats_in.host)
        bytes[STATS_IN] = 2 * slices * rs;
    if (o->stats_out.host)
        bytes[STATS_OUT] = 2 * slices * rs;
    if (o->alibi_slopes.host)
        bytes[ALIBI] = (o->heads ? o->heads : 1) * rs;
    if (o->kv_lengths.host)
        bytes[KV] = (o->batch ? o->batch : 1) * sizeof(int32_t);
}

/* The host data of each input slot. */
static const void *input_data(const ts_data *d, int slot)
{
    const clsm_options *o = d->options;
    if (slot >= TEMPS)
        return sampling_tensor(d->sampling, slot)->host;
    switch (slot) {
    case IN0:
        return d->in[0];
    case IN1:
        return d->in[1];
    case IN2:
        return d->in[2];
    case MASK:
        return o->mask.host;
    case SINKS:
        return o->sinks.host;
    case ALIBI:
        return o->alibi_slopes.host;
    case KV:
        return o->kv_lengths.host;
    default:
        return o->stats_in.host;
    }
}

/* The host array that receives a written tensor other than the output: the statistics or the
 * log-probabilities. */
static void *written_host(const ts_data *d, int slot)
{
    return slot == STATS_OUT ? d->options->stats_out.host : d->sampling->logprobs.host;
}

static bool written_beside_output(int slot)
{
    return slot == STATS_OUT || slot == LOGPROBS;
}

/* The slot whose memory the output is, OUT itself when apart. */
static int output_slot(const ts_staged *s)
{
    if (s->alias == TS_ON_IN0 || s->alias == TS_ON_BOTH)
        return IN0;
    return s->alias == TS_ON_IN1 ? IN1 : OUT;
}

static ts_report stage_host(ts_staged *s, ts_args *a, const size_t bytes[SLOTS])
{
    const ts_data *d = s->data;
    for (int slot = 0; slot < SLOTS; slot++) {
        if (bytes[slot] == 0 || (slot == IN1 && s->alias == TS_ON_BOTH))
            continue;
        s->bytes[slot] = s->total[slot] = bytes[slot];
        s->before[slot] = malloc(bytes[slot]);
        if (!s->before[slot])
            return failed("%s", "out of host memory");
        if (slot == OUT) {
            if (s->alias != TS_APART)
                memcpy(s->out, input_data(d, output_slot(s)), bytes[OUT]);
            else
                ts_fill_sentinel(s->out, bytes[OUT]);
            memcpy(s->before[OUT], s->out, bytes[OUT]);
        } else if (written_beside_output(slot)) {
            ts_fill_sentinel(written_host(d, slot), bytes[slot]);
            ts_fill_sentinel(s->before[slot], bytes[slot]);
        } else {
            memcpy(s->before[slot], input_data(d, slot), bytes[slot]);
        }
    }
    a->in[0] = s->alias == TS_APART || s->alias == TS_ON_IN1 ? d->in[0] : s->out;
    a->in[1] = s->alias == TS_ON_IN1 || s->alias == TS_ON_BOTH ? s->out : d->in[1];
    a->in[2] = d->in[2];
    return (ts_report){true, ""};
}

/* A buffer of the slot's offset in sentinels, the data (sentinels where NULL), and the slot's
 * pad in sentinels. */
static ts_report stage_buffer(ts_staged *s, cl_context c, int slot, const void *data,
                              size_t bytes, size_t elem, cl_mem_flags flags)
{
    const size_t offset = places[slot].offset * elem;
    const size_t total = offset + bytes + places[slot].pad * elem;
    unsigned char *all = malloc(total);
    if (!all)
        return failed("%s", "out of host memory");
    ts_fill_sentinel(all, total);
    if (data)
        memcpy(all + offset, data, bytes);
    cl_int err;
    s->buffer[slot] = clCreateBuffer(c, flags | CL_MEM_COPY_HOST_PTR, total, all, &err);
    s->before[slot] = all;
    s->offset[slot] = offset;
    s->bytes[slot] = bytes;
    s->total[slot] = total;
    if (err != CL_SUCCESS) {
        char detail[32];
        snprintf(detail, sizeof detail, "%d", err);
        return failed("clCreateBuffer: %s", detail);
    }
    return (ts_report){true, ""};
}

static ts_report stage_buffers(ts_staged *s, clsm_context *ctx, ts_args *a,
                               const size_t elem[SLOTS], const size_t bytes[SLOTS])
{
    const ts_data *d = s->data;
    cl_context c;
    s->queue = clsm_context_queue(ctx);
    if (clGetCommandQueueInfo(s->queue, CL_QUEUE_CONTEXT, sizeof c, &c, NULL) != CL_SUCCESS)
        return failed("%s", "CL_QUEUE_CONTEXT failed");
    const int out_slot = output_slot(s);
    ts_report r = {true, ""};
    for (int slot = 0; slot < SLOTS && r.ok; slot++) {
        if (bytes[slot] == 0 || (slot == OUT && out_slot != OUT) ||
            (slot == IN1 && s->alias == TS_ON_BOTH))
            continue;
        const bool written = slot == out_slot || written_beside_output(slot);
        const void *data = slot == OUT || written_beside_output(slot) ? NULL : input_data(d, slot);
        r = stage_buffer(s, c, slot, data, bytes[slot], elem[slot],
                         written ? CL_MEM_READ_WRITE : CL_MEM_READ_ONLY);
    }
    if (!r.ok)
        return r;
    for (unsigned k = 0; k < 3; k++) {
        const int slot = k == 2 ? IN2 : k == 1 && s->alias == TS_ON_BOTH ? IN0 : (int)k;
        a->in_buffer[k] = s->buffer[slot];
        a->in_offset[k] = s->offset[slot];
    }
    a->out_buffer = s->buffer[out_slot];
    a->out_offset = s->offset[out_slot];
    if (d->options && s->entry->options) {
        s->options = *d->options;
        clsm_tensor *tensors[] = {[MASK] = &s->options.mask, [SINKS] = &s->options.sinks,
                                  [STATS_IN] = &s->options.stats_in,
                                  [ALIBI] = &s->options.alibi_slopes,
                                  [KV] = &s->options.kv_lengths,
                                  [STATS_OUT] = &s->options.stats_out};
        for (int slot = MASK; slot <= STATS_OUT; slot++) {
            tensors[slot]->host = NULL;
            tensors[slot]->buffer = s->buffer[slot];
            tensors[slot]->offset = s->offset[slot];
        }
        a->options = &s->options;
    }
    if (d->sampling) {
        s->sampling = *d->sampling;
        for (int slot = TEMPS; slot < SLOTS; slot++) {
            clsm_tensor *t = (clsm_tensor *)(void *)((char *)&s->sampling + sampling_members[slot]);
            *t = (clsm_tensor){NULL, s->buffer[slot], s->offset[slot]};
        }
        a->sampling = &s->sampling;
    }
    return r;
}

ts_report ts_stage(const ts_entry *e, clsm_context *ctx, const ts_data *d, ts_alias alias,
                   void *out, ts_staged *s, ts_args *a)
{
    *s = (ts_staged){.entry = e, .data = d, .alias = alias, .out = out};
    *a = (ts_args){.ctx = ctx, .op = d->op, .dtype = d->dtype, .shape = d->shape,
                   .scale = d->scale, .options = e->options ? d->options : NULL, .out = out,
                   .sampling = d->sampling};
    if (d->options && !e->options)
        return failed("%s takes no options", e->name);
    if (e->sample != (d->sampling != NULL))
        return failed("%s: a sampling struct is for the sampling entries, which need one",
                      e->name);
    if (e->sample && (d->shape.inner != 1 || alias != TS_APART))
        return failed("%s takes [rows, vocab, 1] apart from its output", e->name);
    if (alias != TS_APART && !out)
        return failed("%s", "an output in place needs out");
    if (e->inputs == 1 && (alias == TS_ON_IN1 || alias == TS_ON_BOTH))
        return failed("%s has one input", e->name);
    size_t elem[SLOTS], bytes[SLOTS];
    tensor_sizes(e, d, out, elem, bytes);
    return e->buffers ? stage_buffers(s, ctx, a, elem, bytes) : stage_host(s, a, bytes);
}

/* Compares a host tensor with its snapshot; what names it. */
static ts_report compare(const void *now, const void *before, size_t bytes, const char *what)
{
    const unsigned char *p = now, *q = before;
    for (size_t i = 0; i < bytes; i++) {
        if (p[i] == q[i])
            continue;
        char detail[96];
        snprintf(detail, sizeof detail, "%s: byte %zu of %zu", what, i, bytes);
        return failed("%s was written", detail);
    }
    return (ts_report){true, ""};
}

static const char *const slot_names[SLOTS] = {
    [IN0] = "the first input", [IN1] = "the second input", [OUT] = "the output",
    [IN2] = "x",               [MASK] = "the mask",         [SINKS] = "the sinks",
    [STATS_IN] = "stats_in",   [ALIBI] = "the ALiBi slopes", [KV] = "kv_lengths",
    [STATS_OUT] = "stats_out", [TEMPS] = "temperatures",    [TOP_KS] = "top_ks",
    [TOP_PS] = "top_ps",       [MIN_PS] = "min_ps",         [SEEDS] = "seeds",
    [LOGPROBS] = "logprobs"};

static ts_report unstage_host(ts_staged *s, clsm_status status)
{
    const ts_data *d = s->data;
    ts_report r = {true, ""};
    for (int slot = 0; slot < SLOTS && r.ok; slot++) {
        if (!s->before[slot])
            continue;
        /* The output aliases a copy of its input, in out: the input itself must hold too. */
        const bool written = slot == OUT || written_beside_output(slot);
        const void *now = slot == OUT                     ? s->out
                          : written_beside_output(slot) ? written_host(d, slot)
                                                          : input_data(d, slot);
        if (!written || status != CLSM_SUCCESS)
            r = compare(now, s->before[slot], s->bytes[slot], slot_names[slot]);
    }
    return r;
}

static ts_report unstage_buffers(ts_staged *s, clsm_status status)
{
    const int out_slot = output_slot(s);
    ts_report r = {true, ""};
    for (int slot = 0; slot < SLOTS && r.ok; slot++) {
        if (!s->buffer[slot])
            continue;
        const size_t total = s->total[slot];
        unsigned char *now = malloc(total);
        if (!now)
            return failed("%s", "out of host memory");
        if (clEnqueueReadBuffer(s->queue, s->buffer[slot], CL_TRUE, 0, total, now, 0, NULL,
                                NULL) != CL_SUCCESS) {
            free(now);
            return failed("%s", "clEnqueueReadBuffer failed");
        }
        const bool written = slot == out_slot || written_beside_output(slot);
        if (!written || status != CLSM_SUCCESS) {
            r = compare(now, s->before[slot], total, slot_names[slot]);
        } else {
            /* Written: the pads on either side must hold, the bytes between go out. */
            const size_t end = s->offset[slot] + s->bytes[slot];
            char before[48], past[48];
            snprintf(before, sizeof before, "%s before its offset", slot_names[slot]);
            snprintf(past, sizeof past, "%s past its end", slot_names[slot]);
            r = compare(now, s->before[slot], s->offset[slot], before);
            if (r.ok)
                r = compare(now + end, s->before[slot] + end, total - end, past);
            void *to = slot == out_slot ? s->out : written_host(s->data, slot);
            memcpy(to, now + s->offset[slot], s->bytes[slot]);
        }
        free(now);
    }
    return r;
}

ts_report ts_unstage(ts_staged *s, clsm_status status)
{
    ts_report r = s->entry->buffers ? unstage_buffers(s, status) : unstage_host(s, status);
    for (int slot = 0; slot < SLOTS; slot++) {
        if (s->buffer[slot])
            clReleaseMemObject(s->buffer[slot]);
        free(s->before[slot]);
        s->buffer[slot] = NULL;
        s->before[slot] = NULL;
    }
    return r;
}

ts_report ts_run(const ts_entry *e, clsm_context *ctx, const ts_data *d, ts_alias alias,
                 void *out, clsm_status *status)
{
    ts_staged s;
    ts_args a;
    cl_event done = NULL;
    *status = CLSM_ERROR_OPENCL;
    ts_report r = ts_stage(e, ctx, d, alias, out, &s, &a);
    if (r.ok) {
        if (e->buffers)
            a.event = &done;
        *status = e->call(&a);
        if (*status == CLSM_SUCCESS && e->buffers && !done)
            r = failed("%s", "no event came back");
        else if (*status != CLSM_SUCCESS && done)
            r = failed("%s", "an event came back with an error");
        if (done && clWaitForEvents(1, &done) != CL_SUCCESS && r.ok)
            r = failed("%s", "waiting for the returned event failed");
    }
    if (done)
        clReleaseEvent(done);
    ts_report u = ts_unstage(&s, *status);
    return r.ok ? u : r;
}

/* The value row r takes of a per-row f32 tensor, or the scalar without one. */
static float row_value(const clsm_tensor *t, float scalar, size_t r)
{
    return t->host ? ((const float *)t->host)[r] : scalar;
}

static float clamped_fraction(float p)
{
    return fminf(fmaxf(p, 0.0f), 1.0f); /* NaN: 0 */
}

/* Sampling's tokens and log-probabilities, row by row against the logits as the compute type
 * forms them. The buffers path cannot refuse per-row values, and its rules hold for them: a
 * temperature negative or not finite gives -1 and NaN, top_p and min_p are clamped. */
static ts_report check_sample(const ts_entry *e, const ts_data *d, const int32_t *tokens)
{
    const size_t rows = d->shape.outer, vocab = d->shape.axis;
    const clsm_sampling *s = d->sampling;
    const clsm_options *o = e->options ? d->options : NULL;
    const clsm_dtype rd = ts_stats_dtype(d->dtype);
    /* A double scale is rounded once to float but for F64. */
    const double scale = d->dtype == CLSM_F64 ? d->scale : (double)(float)d->scale;
    const double eps = d->dtype == CLSM_F64 ? 0x1p-52 : 0x1p-23;
    /* The cap's tanh may move each u by the allowance, so two of them apart by twice it. */
    const double tol = 2 * ts_softcap_allowance(d->dtype, o);
    double *u = malloc(rows * vocab * sizeof *u + 1);
    if (!u)
        return failed("%s", "out of host memory");
    ref_logits(d->dtype, d->shape, scale, o, d->in[0], u);
    ts_report r = {true, ""};
    for (size_t i = 0; i < rows && r.ok; i++) {
        const float t = row_value(&s->temperatures, s->temperature, i);
        const uint32_t k = s->top_ks.host ? ((const uint32_t *)s->top_ks.host)[i] : s->top_k;
        const double lp = s->logprobs.host ? ts_load(rd, s->logprobs.host, i) : 0;
        const char *why = NULL;
        /* An empty row reads no parameter: -1 and -inf whatever they hold. */
        if ((!(t >= 0) || isinf(t)) && vocab > 0) {
            if (tokens[i] != -1)
                why = "a bad temperature gives -1";
            else if (s->logprobs.host && !isnan(lp))
                why = "a bad temperature gives logprob NaN";
        } else {
            const ref_sampling rs = {t, k,
                                     clamped_fraction(row_value(&s->top_ps, s->top_p, i)),
                                     clamped_fraction(row_value(&s->min_ps, s->min_p, i))};
            why = ref_sample_judge(vocab, u + i * vocab, rs, tol, tokens[i]);
            if (!why && s->logprobs.host)
                why = ref_logprob_judge(vocab, u + i * vocab, t, tokens[i], lp, eps, tol);
        }
        if (why) {
            r.ok = false;
            snprintf(r.msg, sizeof r.msg, "row %zu of %zu: token %d, logprob %.9g: %s", i, rows,
                     (int)tokens[i], lp, why);
        }
    }
    free(u);
    return r;
}

ts_report ts_check_result(const ts_entry *e, const ts_data *d, const void *out)
{
    if (e->sample)
        return check_sample(e, d, out);
    const size_t n = ts_count(d->shape), slices = d->shape.outer * d->shape.inner;
    const clsm_options *o = e->options ? d->options : NULL;
    double *want = malloc(n * sizeof *want + 1);
    double *extra = malloc(2 * (n + slices) * sizeof *extra + 1);
    ts_report r = {true, ""};
    if (!want || !extra) {
        r = failed("%s", "out of host memory");
    } else if (e->inputs == 2) {
        ref_softmax_backward_ex(d->op, d->dtype, d->shape, d->scale, o, o ? d->in[2] : NULL,
                                d->in[0], d->in[1], want, extra);
        r = ts_check_backward(d->dtype, d->shape, out, want, extra);
    } else {
        ref_softmax_ex(d->op, d->dtype, d->shape, d->scale, o, d->in[0], want, extra);
        if (out) {
            /* With a sink or given statistics a slice's single entry is no longer exactly 1
             * (0): ts_check's exactness on an axis of 1 does not apply, so the slices are
             * checked as one long one. */
            clsm_shape checked = d->shape;
            if (checked.axis == 1 && o && (o->sinks.host || o->stats_in.host))
                checked = (clsm_shape){1, d->shape.outer, d->shape.inner};
            r = ts_check_within(d->op, d->dtype, checked, out, want,
                                ts_softcap_allowance(d->dtype, o));
        }
        if (r.ok && o && o->stats_out.host) {
            ts_report stats = ts_check_stats_within(d->dtype, slices, o->stats_out.host, extra,
                                                    ts_softcap_allowance(d->dtype, o));
            if (!stats.ok)
                snprintf(r.msg, sizeof r.msg, "stats_out: %.480s", stats.msg);
            r.ok = stats.ok;
        }
    }
    free(extra);
    free(want);
    return r;
}

void ts_options_make(ts_options *t, const ts_entry *e, clsm_dtype dtype, clsm_shape shape,
                     uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->o.struct_size = sizeof t->o;
    const clsm_dtype sd = ts_stats_dtype(dtype);
    const size_t slices = shape.outer * shape.inner;
    t->stats = malloc(2 * slices * ts_dtype_size(sd) + 1);
    if (e->inputs == 1 && !e->sample)
        t->o.stats_out.host = t->stats;
    t->o.softcap = 30.0f;
    if (shape.inner != 1)
        return;
    const size_t heads = shape.outer % 2 == 0 ? 2 : 1, rows = shape.outer / heads;
    t->o.batch = 1;
    t->o.heads = heads;
    t->o.rows = rows;
    t->o.mask_type = CLSM_MASK_ADD_F32;
    t->o.mask_stride[0] = heads * rows * shape.axis;
    t->o.mask_stride[1] = rows * shape.axis;
    t->o.mask_stride[2] = shape.axis;
    t->o.mask_stride[3] = 1;
    const size_t n = ts_count(shape);
    ts_rng r = ts_rng_seed(seed);
    float *mask = malloc(n * sizeof *mask + 1);
    /* One entry in six masked out, the rest biased by up to 3 either way. */
    for (size_t i = 0; mask && i < n; i++)
        mask[i] = ts_rng_below(&r, 6) == 0 ? -INFINITY : (float)ts_rng_uniform(&r, -3, 3);
    t->mask = t->o.mask.host = mask;
    t->o.causal = 1;
    /* Sampling draws from the entries a row keeps: with the KV length below, offset 0 aligns
     * each row to the bottom right of its kept columns, so that every row keeps some. */
    t->o.causal_offset = e->sample ? 0 : (ptrdiff_t)(shape.axis - rows);
    t->o.window = shape.axis / 2 + 1;
    if (!e->sample) {
        t->sinks = t->o.sinks.host = malloc(heads * ts_dtype_size(sd) + 1);
        for (size_t h = 0; t->sinks && h < heads; h++)
            ts_store(sd, t->sinks, h, ts_rng_uniform(&r, -2, 2));
    }
    t->slopes = t->o.alibi_slopes.host = malloc(heads * ts_dtype_size(sd) + 1);
    if (t->slopes)
        clsm_alibi_slopes(sd, heads, 8.0, 0, heads, t->slopes);
    t->length = (int32_t)(shape.axis - 1);
    t->o.kv_lengths.host = &t->length;
}

void ts_options_free(ts_options *t)
{
    free(t->stats);
    free(t->sinks);
    free(t->mask);
    free(t->slopes);
    memset(t, 0, sizeof *t);
}

/* The cases of ts_sampling_make: temperature, top_k, top_p, min_p. */
static const struct {
    float temperature;
    uint32_t top_k;
    float top_p, min_p;
} sampling_cases[8] = {{0, 0, 0, 0},     {1, 0, 0, 0},      {0.8f, 50, 0.9f, 0},
                       {1, 0, 0, 0.05f}, {1.3f, 0, 0.7f, 0}, {1, 200, 0, 0},
                       {0.5f, 1, 0, 0},  {2, 0, 1, 0.3f}};

void ts_sampling_make(ts_sampling *t, clsm_dtype dtype, size_t rows, bool per_row,
                      uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->s = (clsm_sampling)CLSM_SAMPLING_INIT;
    ts_rng r = ts_rng_seed(seed);
    if (!per_row) {
        const size_t c = seed % 8;
        t->s.temperature = sampling_cases[c].temperature;
        t->s.top_k = sampling_cases[c].top_k;
        t->s.top_p = sampling_cases[c].top_p;
        t->s.min_p = sampling_cases[c].min_p;
        t->s.seed = ts_rng_next(&r);
        t->s.offset = seed;
        return;
    }
    /* Valid scalars that the per-row values replace: a kernel that read them would draw
     * tokens of another kept set. */
    t->s.temperature = 3;
    t->s.top_k = 2;
    t->s.top_p = 0.1f;
    t->s.min_p = 0.9f;
    t->s.offset = seed;
    t->temperatures = malloc(rows * sizeof *t->temperatures + 1);
    t->top_ks = malloc(rows * sizeof *t->top_ks + 1);
    t->top_ps = malloc(rows * sizeof *t->top_ps + 1);
    t->min_ps = malloc(rows * sizeof *t->min_ps + 1);
    t->seeds = malloc(rows * sizeof *t->seeds + 1);
    t->logprobs = malloc(rows * ts_dtype_size(ts_stats_dtype(dtype)) + 1);
    if (!t->temperatures || !t->top_ks || !t->top_ps || !t->min_ps || !t->seeds)
        return;
    for (size_t i = 0; i < rows; i++) {
        const size_t c = (i + seed) % 8;
        t->temperatures[i] = sampling_cases[c].temperature;
        t->top_ks[i] = sampling_cases[c].top_k;
        t->top_ps[i] = sampling_cases[c].top_p;
        t->min_ps[i] = sampling_cases[c].min_p;
        t->seeds[i] = ts_rng_next(&r);
    }
    t->s.temperatures.host = t->temperatures;
    t->s.top_ks.host = t->top_ks;
    t->s.top_ps.host = t->top_ps;
    t->s.min_ps.host = t->min_ps;
    t->s.seeds.host = t->seeds;
    t->s.logprobs.host = t->logprobs;
}

void ts_sampling_free(ts_sampling *t)
{
    free(t->temperatures);
    free(t->top_ks);
    free(t->top_ps);
    free(t->min_ps);
    free(t->seeds);
    free(t->logprobs);
    memset(t, 0, sizeof *t);
}
