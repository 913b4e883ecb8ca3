/* The attention table: causal, f16-masked, soft-capped, ALiBi and KV-length softmax against the
 * plain call of the same shape, then the backward rows (attention_backward.c). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "attention.h"
#include "attention_backward.h"
#include "check.h"
#include "input.h"
#include "measure.h"
#include "opencl.h"
#include "report_attention.h"

enum { HEADS = 32, QUICK_HEADS = 4 };

enum { PLAIN, CAUSAL, F16_MASK, SOFTCAP, ALIBI, KV_LENGTHS, MASKINGS };
static const char *const masking_names[MASKINGS] = {"plain",   "causal", "f16 mask",
                                                    "softcap", "alibi",  "kv lengths"};
/* The issues' floors of GB/s against the plain call's (kv lengths: counting kept entries). */
static const double targets[MASKINGS] = {0.0, 0.97, 0.90, 0.90, 0.95, 0.95};
#define ONLY(k) (1u << (k))

/* A batch only multiplies the heads, as far as memory traffic goes, except where each batch
 * entry has a KV length of its own. */
typedef struct attention_case {
    const char *name;
    size_t batch, rows, axis;
    unsigned maskings; /* ONLY() of each masking timed against the plain call */
} attention_case;

/* Decode: one new token against a 4096-entry KV cache. Prefill: a 512-token prompt. Decode of
 * 8 sequences: continuous batching, KV lengths spread over 1-4096. */
static const attention_case cases[] = {
    {"decode", 1, 1, 4096, ONLY(PLAIN) | ONLY(CAUSAL) | ONLY(SOFTCAP) | ONLY(ALIBI)},
    {"prefill", 1, 512, 512,
     ONLY(PLAIN) | ONLY(CAUSAL) | ONLY(F16_MASK) | ONLY(SOFTCAP) | ONLY(ALIBI)},
    {"decode 8", 8, 1, 4096, ONLY(PLAIN) | ONLY(KV_LENGTHS)},
};
enum { SEQUENCES = 8 };
static const int32_t kv_lengths[SEQUENCES] = {1, 300, 1024, 1500, 2048, 2900, 3500, 4096};

#define F16_ZERO 0x0000u
#define F16_MINUS_INF 0xfc00u

typedef struct attention_job {
    clsm_context *ctx;
    clsm_op op;
    clsm_shape shape;
    const clsm_options *options; /* NULL: the plain call */
    cl_mem x, y;
} attention_job;

/* Everything one case holds on the host and the device. */
typedef struct case_data {
    clsm_shape shape;
    clsm_options options[MASKINGS];
    float *hx, *hy;
    uint16_t *hmask; /* also options[F16_MASK].mask.host, for the check */
    float *slopes;   /* also options[ALIBI].alibi_slopes.host */
    cl_mem x, y, mask, slopes_buffer, lengths_buffer;
    size_t kept; /* entries the kv lengths keep */
} case_data;

/* Enqueue once and wait, as the shapes table's clsoftmax runs do. */
static int attention_once(void *arg)
{
    const attention_job *j = arg;
    cl_event ev = NULL;
    clsm_status st = clsm_softmax_buffers_ex(j->ctx, j->op, CLSM_F32, j->shape, 1.0f, j->options,
                                             j->x, 0, j->y, 0, 0, NULL, &ev);
    if (st != CLSM_SUCCESS)
        return bench_clsm_error(j->ctx, "clsm_softmax_buffers_ex", st);
    cl_int err = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? 0 : bench_cl_error("clWaitForEvents", err);
}

/* One run into a NaN-filled y, so that an entry the kernel skips cannot pass as another
 * masking's output; the timed runs that follow all write the same y. */
static int check_once(attention_job *j, const float *hx, float *hy, check_result *out)
{
    cl_command_queue queue = clsm_context_queue(j->ctx);
    size_t bytes = j->shape.outer * j->shape.axis * sizeof(float);
    const float nan_value = NAN;
    cl_int err =
        clEnqueueFillBuffer(queue, j->y, &nan_value, sizeof nan_value, 0, bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return bench_cl_error("clEnqueueFillBuffer", err);
    if (attention_once(j) != 0)
        return -1;
    err = clEnqueueReadBuffer(queue, j->y, CL_TRUE, 0, bytes, hy, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return bench_cl_error("clEnqueueReadBuffer", err);
    *out = check(j->op, j->shape, j->options, hx, hy);
    return 0;
}

/* The causal pattern of the causal call, as an additive mask over every (head, row, entry). */
static void fill_causal_mask(uint16_t *mask, size_t heads, size_t rows, size_t axis)
{
    for (size_t h = 0; h < heads; h++)
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < axis; j++)
                mask[(h * rows + r) * axis + j] = j > r + (axis - rows) ? F16_MINUS_INF : F16_ZERO;
}

static void case_release(case_data *d)
{
    if (d->lengths_buffer)
        clReleaseMemObject(d->lengths_buffer);
    if (d->slopes_buffer)
        clReleaseMemObject(d->slopes_buffer);
    free(d->slopes);
    if (d->mask)
        clReleaseMemObject(d->mask);
    if (d->y)
        clReleaseMemObject(d->y);
    if (d->x)
        clReleaseMemObject(d->x);
    free(d->hmask);
    free(d->hy);
    free(d->hx);
}

/* Inputs on the host and the device, and the options of each masking; 0, or -1 after saying
 * why (with what was made left in *d for case_release). */
static int case_create(cl_context clctx, cl_command_queue queue, const attention_case *c,
                       size_t heads, case_data *d)
{
    const int f16_mask = (c->maskings & ONLY(F16_MASK)) != 0;
    size_t outer = c->batch * heads * c->rows, n = outer * c->axis;
    *d = (case_data){.shape = {outer, c->axis, 1}};
    d->hx = malloc(n * sizeof *d->hx);
    d->hy = malloc(n * sizeof *d->hy);
    if (f16_mask)
        d->hmask = malloc(n * sizeof *d->hmask);
    d->slopes = malloc(heads * sizeof *d->slopes);
    if (!d->hx || !d->hy || (f16_mask && !d->hmask) || !d->slopes) {
        fprintf(stderr, "clsoftmax-bench: out of host memory for %zu elements\n", n);
        return -1;
    }
    fill_input(d->hx, n);
    d->x = bench_buffer(clctx, queue, d->hx, n * sizeof *d->hx);
    d->y = d->x ? bench_buffer(clctx, queue, NULL, n * sizeof *d->hy) : NULL;
    if (!d->y)
        return -1;

    clsm_options view = {
        .struct_size = sizeof view, .batch = c->batch, .heads = heads, .rows = c->rows};
    for (int k = PLAIN + 1; k < MASKINGS; k++)
        d->options[k] = view;
    d->options[CAUSAL].causal = 1;
    d->options[CAUSAL].causal_offset = (ptrdiff_t)(c->axis - c->rows);
    d->options[SOFTCAP].softcap = 30.0f; /* Grok-1's; fill_input's data cross it */
    /* ALiBi alone, at the KV-cache offset: the bias on every entry, nothing masked. */
    clsm_alibi_slopes(CLSM_F32, heads, 8.0, 0, heads, d->slopes);
    d->slopes_buffer = bench_buffer(clctx, queue, d->slopes, heads * sizeof *d->slopes);
    if (!d->slopes_buffer)
        return -1;
    d->options[ALIBI].alibi_slopes = (clsm_tensor){d->slopes, d->slopes_buffer, 0};
    d->options[ALIBI].causal_offset = (ptrdiff_t)(c->axis - c->rows);
    if (c->maskings & ONLY(KV_LENGTHS)) {
        d->lengths_buffer = bench_buffer(clctx, queue, kv_lengths, sizeof kv_lengths);
        if (!d->lengths_buffer)
            return -1;
        d->options[KV_LENGTHS].kv_lengths = (clsm_tensor){(void *)kv_lengths, d->lengths_buffer, 0};
        for (size_t b = 0; b < c->batch; b++)
            d->kept += (size_t)kv_lengths[b] * heads * c->rows;
    }
    if (!f16_mask)
        return 0;
    fill_causal_mask(d->hmask, heads, c->rows, c->axis);
    d->mask = bench_buffer(clctx, queue, d->hmask, n * sizeof *d->hmask);
    if (!d->mask)
        return -1;
    clsm_options *m = &d->options[F16_MASK];
    *m = view;
    m->mask_type = CLSM_MASK_ADD_F16;
    m->mask = (clsm_tensor){d->hmask, d->mask, 0};
    m->mask_stride[0] = heads * c->rows * c->axis;
    m->mask_stride[1] = c->rows * c->axis;
    m->mask_stride[2] = c->axis;
    m->mask_stride[3] = 1;
    return 0;
}

/* Checks each masking once, then times them in turns and prints their rows. */
static int run_op(clsm_context *ctx, report_run *run, const attention_case *c, size_t heads,
                  const case_data *d, clsm_op op, double copy_gbs, const char *copy_method)
{
    int count = 0, failed = 0, which[MASKINGS];
    size_t n = d->shape.outer * d->shape.axis;
    for (int k = 0; k < MASKINGS; k++)
        if (c->maskings & ONLY(k))
            which[count++] = k;
    attention_job jobs[MASKINGS];
    void *args[MASKINGS];
    attention_row rows[MASKINGS];
    double seconds[MASKINGS];
    for (int i = 0; i < count; i++) {
        int k = which[i];
        jobs[i] =
            (attention_job){ctx, op, d->shape, k == PLAIN ? NULL : &d->options[k], d->x, d->y};
        args[i] = &jobs[i];
        rows[i] = (attention_row){.op = op,
                                  .name = c->name,
                                  .masking = masking_names[k],
                                  .batch = c->batch,
                                  .heads = heads,
                                  .rows = c->rows,
                                  .axis = c->axis,
                                  .family = clsm_kernel_name(ctx, CLSM_F32, d->shape),
                                  .target = targets[k],
                                  .copy_gbs = copy_gbs,
                                  .copy_method = copy_method};
        if (check_once(&jobs[i], d->hx, d->hy, &rows[i].m.check) != 0)
            return -1;
    }
    if (measure_medians(attention_once, args, count, run->reps, seconds) != 0)
        return -1;
    for (int i = 0; i < count; i++) {
        int k = which[i];
        /* The kv lengths' masked entries are written but not read: the "only kept
         * entries as bytes" would count their writes as free, which no kernel can make them. */
        size_t read = k == KV_LENGTHS ? d->kept : n;
        size_t bytes = (read + n) * sizeof(float) + (k == F16_MASK ? n * sizeof(uint16_t) : 0);
        rows[i].m.seconds = seconds[i];
        rows[i].gbs = (double)bytes / seconds[i] * 1e-9;
    }
    for (int i = 0; i < count; i++) {
        /* which[0] is PLAIN: every case times it. */
        rows[i].plain_gbs = rows[0].gbs;
        report_attention_row(run, &rows[i]);
        if (rows[i].m.check.bad)
            failed = 1;
    }
    return failed;
}

static int run_case(clsm_context *ctx, cl_context clctx, const copy_kernels *copy, report_run *run,
                    const attention_case *c, size_t heads)
{
    cl_command_queue queue = clsm_context_queue(ctx);
    size_t n = c->batch * heads * c->rows * c->axis;
    case_data d;
    double copy_seconds;
    const char *copy_method;
    int rc = -1;
    if (case_create(clctx, queue, c, heads, &d) != 0 ||
        copy_roofline(copy, queue, d.x, d.y, n, run->reps, &copy_seconds, &copy_method) != 0)
        goto done;
    rc = 0;
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX && rc >= 0; op++) {
        int r = run_op(ctx, run, c, heads, &d, (clsm_op)op,
                       (double)(n * 2 * sizeof(float)) / copy_seconds * 1e-9, copy_method);
        rc = r < 0 ? -1 : rc | r;
    }
done:
    case_release(&d);
    return rc;
}

int attention_table(clsm_context *ctx, cl_context clctx, const copy_kernels *copy, report_run *run,
                    int quick)
{
    size_t heads = quick ? QUICK_HEADS : HEADS;
    int failed = 0;
    report_attention_begin(run);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int r = run_case(ctx, clctx, copy, run, &cases[i], heads);
        if (r < 0)
            return -1;
        failed |= r;
    }
    int r = attention_backward(ctx, clctx, copy, run, heads);
    return r < 0 ? -1 : failed | r;
}
