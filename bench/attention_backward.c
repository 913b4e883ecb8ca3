/* The attention table's backward rows: the backward pass with the forward's options against the plain backward of the same shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "attention_backward.h"
#include "check.h"
#include "input.h"
#include "measure.h"
#include "opencl.h"
#include "report_attention.h"

enum { PLAIN, CAUSAL, SOFTCAP, KINDS };
static const char *const kind_names[KINDS] = {"plain", "causal", "softcap"};
/* The floor for the backward with options. */
static const double target = 0.90;

/* A prefill's scores: 512 query rows against 512 keys per head. */
enum { ROWS = 512, AXIS = 512 };

typedef struct backward_job {
    clsm_context *ctx;
    clsm_op op;
    clsm_shape shape;
    const clsm_options *options; /* NULL: the plain call */
    cl_mem x, y, dy, dx;
} backward_job;

/* Enqueue once and wait; x goes only where the cap's derivative needs it. */
static int backward_once(void *arg)
{
    const backward_job *j = arg;
    cl_event ev = NULL;
    cl_mem x = j->options && j->options->softcap > 0 ? j->x : NULL;
    clsm_status st = clsm_softmax_backward_buffers_ex(j->ctx, j->op, CLSM_F32, j->shape, 1.0,
                                                      j->options, x, 0, j->y, 0, j->dy, 0,
                                                      j->dx, 0, 0, NULL, &ev);
    if (st != CLSM_SUCCESS)
        return bench_clsm_error(j->ctx, "clsm_softmax_backward_buffers_ex", st);
    cl_int err = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? 0 : bench_cl_error("clWaitForEvents", err);
}

typedef struct backward_data {
    float *hx, *hy, *hdy, *hdx;
    cl_mem x, y, dy, dx;
} backward_data;

static void release(backward_data *d)
{
    cl_mem bufs[] = {d->x, d->y, d->dy, d->dx};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i])
            clReleaseMemObject(bufs[i]);
    free(d->hx);
    free(d->hy);
    free(d->hdy);
    free(d->hdx);
}

/* One op: y from the plain forward (the backward's contract holds for any y), checked once
 * per kind into a NaN-filled dx, then the kinds timed in turns. */
static int run_op(clsm_context *ctx, report_run *run, backward_data *d, clsm_shape shape,
                  size_t heads, const clsm_options *options, clsm_op op, double copy_gbs,
                  const char *copy_method)
{
    cl_command_queue queue = clsm_context_queue(ctx);
    size_t n = shape.outer * shape.axis;
    cl_event ev = NULL;
    clsm_status st = clsm_softmax_buffers_ex(ctx, op, CLSM_F32, shape, 1.0, NULL, d->x, 0, d->y,
                                             0, 0, NULL, &ev);
    if (st != CLSM_SUCCESS)
        return bench_clsm_error(ctx, "clsm_softmax_buffers_ex", st);
    cl_int err = clEnqueueReadBuffer(queue, d->y, CL_TRUE, 0, n * sizeof *d->hy, d->hy, 1, &ev,
                                     NULL);
    clReleaseEvent(ev);
    if (err != CL_SUCCESS)
        return bench_cl_error("clEnqueueReadBuffer", err);

    backward_job jobs[KINDS];
    void *args[KINDS];
    attention_row rows[KINDS];
    double seconds[KINDS];
    int failed = 0;
    for (int k = 0; k < KINDS; k++) {
        jobs[k] = (backward_job){ctx,  op,   shape, k == PLAIN ? NULL : &options[k],
                                 d->x, d->y, d->dy, d->dx};
        args[k] = &jobs[k];
        const float nan_value = NAN;
        err = clEnqueueFillBuffer(queue, d->dx, &nan_value, sizeof nan_value, 0,
                                  n * sizeof *d->hdx, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            return bench_cl_error("clEnqueueFillBuffer", err);
        if (backward_once(&jobs[k]) != 0)
            return -1;
        err = clEnqueueReadBuffer(queue, d->dx, CL_TRUE, 0, n * sizeof *d->hdx, d->hdx, 0, NULL,
                                  NULL);
        if (err != CL_SUCCESS)
            return bench_cl_error("clEnqueueReadBuffer", err);
        rows[k] = (attention_row){.op = op,
                                  .name = "backward",
                                  .masking = kind_names[k],
                                  .batch = 1,
                                  .heads = heads,
                                  .rows = ROWS,
                                  .axis = AXIS,
                                  .family = clsm_kernel_name(ctx, CLSM_F32, shape),
                                  .target = k == PLAIN ? 0.0 : target,
                                  .copy_gbs = copy_gbs,
                                  .copy_method = copy_method};
        rows[k].m.check = check_backward(op, shape, 1.0f, jobs[k].options, d->hx, d->hy, d->hdy,
                                         d->hdx);
    }
    if (measure_medians(backward_once, args, KINDS, run->reps, seconds) != 0)
        return -1;
    for (int k = 0; k < KINDS; k++) {
        /* y and dy read, dx written; the cap also reads x. */
        size_t bytes = n * sizeof(float) * (k == SOFTCAP ? 4 : 3);
        rows[k].m.seconds = seconds[k];
        rows[k].gbs = (double)bytes / seconds[k] * 1e-9;
        rows[k].plain_gbs = (double)(n * sizeof(float) * 3) / seconds[PLAIN] * 1e-9;
        report_attention_row(run, &rows[k]);
        failed |= rows[k].m.check.bad != 0;
    }
    return failed;
}

int attention_backward(clsm_context *ctx, cl_context clctx, const copy_kernels *copy,
                       report_run *run, size_t heads)
{
    cl_command_queue queue = clsm_context_queue(ctx);
    clsm_shape shape = {heads * ROWS, AXIS, 1};
    size_t n = shape.outer * shape.axis;
    backward_data d = {.hx = malloc(n * sizeof(float)),
                       .hy = malloc(n * sizeof(float)),
                       .hdy = malloc(n * sizeof(float)),
                       .hdx = malloc(n * sizeof(float))};
    int rc = -1;
    if (!d.hx || !d.hy || !d.hdy || !d.hdx) {
        fprintf(stderr, "clsoftmax-bench: out of host memory for %zu elements\n", n);
        goto done;
    }
    fill_input(d.hx, n);
    fill_gradient(d.hdy, n);
    d.x = bench_buffer(clctx, queue, d.hx, n * sizeof(float));
    d.dy = d.x ? bench_buffer(clctx, queue, d.hdy, n * sizeof(float)) : NULL;
    d.y = d.dy ? bench_buffer(clctx, queue, NULL, n * sizeof(float)) : NULL;
    d.dx = d.y ? bench_buffer(clctx, queue, NULL, n * sizeof(float)) : NULL;
    double copy_seconds;
    const char *copy_method;
    if (!d.dx || copy_roofline(copy, queue, d.x, d.y, n, run->reps, &copy_seconds,
                               &copy_method) != 0)
        goto done;

    clsm_options options[KINDS];
    clsm_options view = CLSM_OPTIONS_INIT;
    view.batch = 1, view.heads = heads, view.rows = ROWS;
    options[PLAIN] = options[CAUSAL] = view;
    options[CAUSAL].causal = 1;
    options[SOFTCAP] = view;
    options[SOFTCAP].softcap = 30.0f; /* as the forward rows */
    rc = 0;
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX && rc >= 0; op++) {
        int r = run_op(ctx, run, &d, shape, heads, options, (clsm_op)op,
                       (double)(n * 2 * sizeof(float)) / copy_seconds * 1e-9, copy_method);
        rc = r < 0 ? -1 : rc | r;
    }
done:
    release(&d);
    return rc;
}
