/* The public entry points as one table, and the runner that stages a call's host data for any of them, each tensor at an offset and before a pad of its own. */
#include "entries.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

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

const ts_entry ts_entries[TS_ENTRIES] = {
    {"host", 1, false, false, call_host},
    {"buffers", 1, true, false, call_buffers},
    {"host_ex", 1, false, true, call_host_ex},
    {"buffers_ex", 1, true, true, call_buffers_ex},
    {"backward_host", 2, false, false, call_backward_host},
    {"backward_buffers", 2, true, false, call_backward_buffers},
    {"backward_host_ex", 2, false, true, call_backward_host_ex},
    {"backward_buffers_ex", 2, true, true, call_backward_buffers_ex},
};

const size_t ts_entry_indices[TS_ENTRIES] = {0, 1, 2, 3, 4, 5, 6, 7};

/* The tensors of a call, and where each sits on the buffers path: its offset and the pad
 * after it, in its own elements, no two alike, so that a kernel reading one tensor's offset
 * for another's reads the wrong elements. */
enum { IN0, IN1, OUT, IN2, MASK, SINKS, STATS_IN, ALIBI, KV, STATS_OUT, SLOTS };
_Static_assert(SLOTS == TS_SLOTS, "ts_staged holds every slot");
static const struct {
    size_t offset, pad;
} places[SLOTS] = {
    [IN0] = {3, 5},  [IN1] = {7, 2},       [OUT] = {5, 3},        [IN2] = {12, 10},
    [MASK] = {11, 4}, [SINKS] = {2, 6},    [STATS_IN] = {13, 1},  [ALIBI] = {6, 9},
    [KV] = {4, 8},   [STATS_OUT] = {9, 7},
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
    bytes[IN0] = n * es;
    bytes[IN1] = e->inputs == 2 ? n * es : 0;
    bytes[OUT] = out ? n * es : 0;
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
        } else if (slot == STATS_OUT) {
            ts_fill_sentinel(d->options->stats_out.host, bytes[slot]);
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
        const bool written = slot == out_slot || slot == STATS_OUT;
        const void *data = slot == OUT || slot == STATS_OUT ? NULL : input_data(d, slot);
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
        for (int slot = MASK; slot < SLOTS; slot++) {
            tensors[slot]->host = NULL;
            tensors[slot]->buffer = s->buffer[slot];
            tensors[slot]->offset = s->offset[slot];
        }
        a->options = &s->options;
    }
    return r;
}

ts_report ts_stage(const ts_entry *e, clsm_context *ctx, const ts_data *d, ts_alias alias,
                   void *out, ts_staged *s, ts_args *a)
{
    *s = (ts_staged){.entry = e, .data = d, .alias = alias, .out = out};
    *a = (ts_args){.ctx = ctx, .op = d->op, .dtype = d->dtype, .shape = d->shape,
                   .scale = d->scale, .options = e->options ? d->options : NULL, .out = out};
    if (d->options && !e->options)
        return failed("%s takes no options", e->name);
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
    [STATS_OUT] = "stats_out"};

static ts_report unstage_host(ts_staged *s, clsm_status status)
{
    const ts_data *d = s->data;
    ts_report r = {true, ""};
    for (int slot = 0; slot < SLOTS && r.ok; slot++) {
        if (!s->before[slot])
            continue;
        /* The output aliases a copy of its input, in out: the input itself must hold too. */
        const bool written = slot == OUT || slot == STATS_OUT;
        const void *now = slot == OUT         ? s->out
                          : slot == STATS_OUT ? d->options->stats_out.host
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
        const bool written = slot == out_slot || slot == STATS_OUT;
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
            void *to = slot == STATS_OUT ? s->data->options->stats_out.host : s->out;
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

ts_report ts_check_result(const ts_entry *e, const ts_data *d, const void *out)
{
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
    if (e->inputs == 1)
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
    t->o.causal_offset = (ptrdiff_t)(shape.axis - rows);
    t->o.window = shape.axis / 2 + 1;
    t->sinks = t->o.sinks.host = malloc(heads * ts_dtype_size(sd) + 1);
    for (size_t h = 0; t->sinks && h < heads; h++)
        ts_store(sd, t->sinks, h, ts_rng_uniform(&r, -2, 2));
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
