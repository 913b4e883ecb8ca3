/* clsoftmax-bench: times F32 softmax and log-softmax (and their backward passes) against the copy roofline, a naive baseline and a host C peer, attention masking against the plain call, and sampling against the copy roofline; checks every result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clsoftmax.h>

#include "attention.h"
#include "check.h"
#include "copy.h"
#include "host_peer.h"
#include "input.h"
#include "measure.h"
#include "naive.h"
#include "opencl.h"
#include "report.h"
#include "sampling.h"

enum { DEFAULT_REPS = 20 };

/* Row-wise shapes (inner = 1) span square, short-row, long-row and two many-tiny-row
 * regimes (32 entries, and 8: shorter than a vector); the last two reduce over a strided
 * axis, one with a vector's worth of neighbouring slices and one with fewer (a channel
 * softmax over a few positions). */
static const clsm_shape full_shapes[] = {
    {4096, 4096, 1}, {65536, 256, 1}, {32, 262144, 1}, {262144, 32, 1}, {1048576, 8, 1},
    {64, 1024, 64}, {16384, 256, 4},
};

static const clsm_shape quick_shapes[] = {
    {256, 256, 1}, {2048, 64, 1}, {4, 16384, 1}, {8192, 8, 1}, {8, 128, 16}, {256, 64, 3},
};

/* The sweep keeps the tensor size fixed and moves the slice length from 2 to the whole
 * tensor, so that only the shape changes from point to point. Besides powers of two, a few
 * odd lengths, which fill no vector evenly. */
#define SWEEP_TOTAL ((size_t)1 << 24)
#define SWEEP_QUICK_TOTAL ((size_t)1 << 16)
static const size_t sweep_other_axes[] = {3, 33, 1001, 100003};
enum { SWEEP_MAX_CASES = 64 };

/* Everything that lives for the whole run. */
typedef struct bench {
    clsm_context *ctx;
    cl_command_queue queue;
    cl_context clctx;
    copy_kernels copy;
    naive_kernels naive;
    report_run run;
    int backward; /* backward rows too (the shapes tables, not the sweep) */
    int progress; /* a progress line on stderr */
    int tty;      /* stderr is a terminal: rewrite that line in place */
} bench;

/* Every tensor of one shape, on the device and on the host. */
typedef struct tensors {
    cl_mem x, y, dy, dx; /* dy and dx: NULL without backward rows */
    float *hx, *hy, *hdy, *hdx;
} tensors;

typedef struct clsm_job {
    clsm_context *ctx;
    clsm_op op;
    clsm_shape shape;
    int backward; /* dx from y and dy, else y from x */
    const tensors *t;
} clsm_job;

typedef struct peer_job {
    clsm_op op;
    clsm_shape shape;
    const float *x;
    float *y;
} peer_job;

/* Enqueue once and wait, so the time covers launch overhead as a caller sees it. */
static int clsm_once(void *arg)
{
    const clsm_job *j = arg;
    const tensors *t = j->t;
    cl_event ev = NULL;
    clsm_status st =
        j->backward
            ? clsm_softmax_backward_buffers(j->ctx, j->op, CLSM_F32, j->shape, 1.0f, t->y, 0,
                                            t->dy, 0, t->dx, 0, 0, NULL, &ev)
            : clsm_softmax_buffers(j->ctx, j->op, CLSM_F32, j->shape, 1.0f, t->x, 0, t->y, 0, 0,
                                   NULL, &ev);
    if (st != CLSM_SUCCESS)
        return bench_clsm_error(j->ctx,
                                j->backward ? "clsm_softmax_backward_buffers"
                                            : "clsm_softmax_buffers",
                                st);
    cl_int err = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? 0 : bench_cl_error("clWaitForEvents", err);
}

static int peer_once(void *arg)
{
    const peer_job *j = arg;
    if (host_peer_softmax(j->op == CLSM_LOG_SOFTMAX, j->shape.outer, j->shape.axis, j->shape.inner,
                          j->x, j->y) != 0) {
        fprintf(stderr, "clsoftmax-bench: out of host memory in the host C peer\n");
        return -1;
    }
    return 0;
}

static void nan_fill(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = NAN;
}

/* An output buffer NaN-filled before its timed runs, so that an element a kernel skips
 * cannot pass as an earlier run's output. */
static int fill_nan(const bench *b, cl_mem buf, size_t bytes)
{
    const float nan_value = NAN;
    cl_int err =
        clEnqueueFillBuffer(b->queue, buf, &nan_value, sizeof nan_value, 0, bytes, 0, NULL, NULL);
    return err == CL_SUCCESS ? 0 : bench_cl_error("clEnqueueFillBuffer", err);
}

static int read_back(const bench *b, cl_mem buf, size_t bytes, float *host)
{
    cl_int err = clEnqueueReadBuffer(b->queue, buf, CL_TRUE, 0, bytes, host, 0, NULL, NULL);
    return err == CL_SUCCESS ? 0 : bench_cl_error("clEnqueueReadBuffer", err);
}

/* Times one device implementation, then reads y back into hy and checks it. */
static int measure_device(const bench *b, measure_fn run, void *job, clsm_op op, clsm_shape s,
                          const tensors *t, measured *out)
{
    size_t bytes = s.outer * s.axis * s.inner * sizeof(float);
    if (fill_nan(b, t->y, bytes) != 0 ||
        measure_median(run, job, b->run.reps, &out->seconds) != 0 ||
        read_back(b, t->y, bytes, t->hy) != 0)
        return -1;
    out->check = check(op, s, NULL, t->hx, t->hy);
    return 0;
}

/* Times clsoftmax on one op and checks y; with backward rows, the backward pass too, in turns
 * with the forward (so that a burst of other work on a shared machine slows both alike and
 * their ratio holds), on the y the forward writes: the forward's warm-up runs come first. */
static int measure_clsm(const bench *b, clsm_op op, clsm_shape s, const tensors *t,
                        report_row *row, report_row *bwd)
{
    size_t bytes = s.outer * s.axis * s.inner * sizeof(float);
    clsm_job jobs[2] = {{b->ctx, op, s, 0, t}, {b->ctx, op, s, 1, t}};
    void *args[2] = {&jobs[0], &jobs[1]};
    double seconds[2];
    int count = b->backward ? 2 : 1;
    if (fill_nan(b, t->y, bytes) != 0 || (b->backward && fill_nan(b, t->dx, bytes) != 0) ||
        measure_medians(clsm_once, args, count, b->run.reps, seconds) != 0 ||
        read_back(b, t->y, bytes, t->hy) != 0)
        return -1;
    row->clsm.seconds = seconds[0];
    row->clsm.check = check(op, s, NULL, t->hx, t->hy);
    if (!b->backward)
        return 0;
    if (read_back(b, t->dx, bytes, t->hdx) != 0)
        return -1;
    *bwd = *row;
    bwd->backward = 1;
    bwd->clsm.seconds = seconds[1];
    bwd->clsm.check = check_backward(op, s, 1.0f, NULL, NULL, t->hy, t->hdy, t->hdx);
    bwd->forward_seconds = seconds[0];
    return 0;
}

/* Times and checks clsoftmax (and its backward pass into *bwd), the naive baseline and the
 * host C peer on one op, back to back on the same input, with x already on the device. */
static int measure_op(const bench *b, clsm_op op, clsm_shape s, const tensors *t,
                      naive_job *naive, report_row *row, report_row *bwd)
{
    peer_job pj = {op, s, t->hx, t->hy};
    row->op = op;
    row->family = clsm_kernel_name(b->ctx, CLSM_F32, s);
    if (measure_clsm(b, op, s, t, row, bwd) != 0)
        return -1;
    naive->op = op;
    if (measure_device(b, naive_once, naive, op, s, t, &row->naive) != 0)
        return -1;
    nan_fill(t->hy, s.outer * s.axis * s.inner);
    if (measure_median(peer_once, &pj, b->run.reps, &row->peer.seconds) != 0)
        return -1;
    row->peer.check = check(op, s, NULL, t->hx, t->hy);
    return 0;
}

static void tensors_release(tensors *t)
{
    cl_mem m[] = {t->dx, t->dy, t->y, t->x};
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        if (m[i])
            clReleaseMemObject(m[i]);
    free(t->hdx);
    free(t->hdy);
    free(t->hy);
    free(t->hx);
}

/* x and dy filled on the host and on the device, y and dx allocated; 0, or -1 after saying
 * why (with what was made left in *t for tensors_release). */
static int tensors_create(const bench *b, size_t n, tensors *t)
{
    size_t bytes = n * sizeof(float);
    *t = (tensors){0};
    t->hx = malloc(bytes);
    t->hy = malloc(bytes);
    if (b->backward) {
        t->hdy = malloc(bytes);
        t->hdx = malloc(bytes);
    }
    if (!t->hx || !t->hy || (b->backward && (!t->hdy || !t->hdx))) {
        fprintf(stderr, "clsoftmax-bench: out of host memory for %zu elements\n", n);
        return -1;
    }
    fill_input(t->hx, n);
    t->x = bench_buffer(b->clctx, b->queue, t->hx, bytes);
    t->y = t->x ? bench_buffer(b->clctx, b->queue, NULL, bytes) : NULL;
    if (!t->y)
        return -1;
    if (!b->backward)
        return 0;
    fill_gradient(t->hdy, n);
    t->dy = bench_buffer(b->clctx, b->queue, t->hdy, bytes);
    t->dx = t->dy ? bench_buffer(b->clctx, b->queue, NULL, bytes) : NULL;
    return t->dx ? 0 : -1;
}

/* Times and checks one shape for both ops (forward, then backward with backward rows);
 * returns 0 pass, 1 check failure, -1 error. */
static int run_case(bench *b, clsm_shape s)
{
    size_t n = s.outer * s.axis * s.inner;
    tensors t;
    naive_job naive = {0};
    report_row row = {.shape = s}, bwd;
    int rc = -1;

    if (tensors_create(b, n, &t) != 0 ||
        copy_roofline(&b->copy, b->queue, t.x, t.y, n, b->run.reps, &row.copy_seconds,
                      &row.copy_method) != 0 ||
        naive_job_create(&b->naive, b->queue, s, t.x, t.y, &naive) != 0)
        goto done;

    rc = 0;
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        if (measure_op(b, (clsm_op)op, s, &t, &naive, &row, &bwd) != 0) {
            rc = -1;
            goto done;
        }
        report_row_print(&b->run, &row);
        if (row.clsm.check.bad)
            rc = 1;
        if (!b->backward)
            continue;
        report_row_print(&b->run, &bwd);
        if (bwd.clsm.check.bad)
            rc = 1;
    }

done:
    naive_job_release(&naive);
    tensors_release(&t);
    return rc;
}

static int cmp_axis(const void *a, const void *b)
{
    size_t x = ((const clsm_shape *)a)->axis, y = ((const clsm_shape *)b)->axis;
    return (x > y) - (x < y);
}

/* Slice lengths from 2 up to total, in rows that fill total as nearly as they can. */
static size_t sweep_shapes(size_t total, clsm_shape *out)
{
    size_t count = 0;
    for (size_t axis = 2; axis <= total; axis *= 2)
        out[count++] = (clsm_shape){total / axis, axis, 1};
    for (size_t i = 0; i < sizeof sweep_other_axes / sizeof *sweep_other_axes; i++)
        if (sweep_other_axes[i] <= total)
            out[count++] = (clsm_shape){total / sweep_other_axes[i], sweep_other_axes[i], 1};
    qsort(out, count, sizeof *out, cmp_axis);
    return count;
}

/* One line on stderr, rewritten in place on a terminal, so stdout stays clean for --csv. */
static void progress(const bench *b, size_t i, size_t count, clsm_shape s)
{
    if (!b->progress)
        return;
    if (i == count) {
        if (b->tty)
            fputs("\r\033[K", stderr);
        return;
    }
    fprintf(stderr, "%sclsoftmax-bench: case %zu of %zu: %zux%zux%zu%s", b->tty ? "\r\033[K" : "",
            i + 1, count, s.outer, s.axis, s.inner, b->tty ? "" : "\n");
    fflush(stderr);
}

/* The device and OpenCL context behind the library's queue, named for the report. */
static int describe_device(bench *b, cl_device_id *dev)
{
    report_run *r = &b->run;
    cl_int err = clGetCommandQueueInfo(b->queue, CL_QUEUE_DEVICE, sizeof *dev, dev, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(*dev, CL_DEVICE_NAME, sizeof r->device, r->device, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(*dev, CL_DRIVER_VERSION, sizeof r->driver, r->driver, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(*dev, CL_DEVICE_VERSION, sizeof r->opencl, r->opencl, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(*dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof r->compute_units,
                              &r->compute_units, NULL);
    if (err == CL_SUCCESS)
        err = clGetCommandQueueInfo(b->queue, CL_QUEUE_CONTEXT, sizeof b->clctx, &b->clctx, NULL);
    if (err != CL_SUCCESS)
        return bench_cl_error("clGetDeviceInfo", err);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clsoftmax-bench [--quick] [--sweep | --attention | --sampling] [--reps N]\n"
            "                       [--csv | --json]\n"
            "  --quick   small sizes, for a smoke run\n"
            "  --sweep   slice lengths 2 to 2^24 at 2^24 elements in all (2^16 with --quick)\n"
            "            instead of the fixed shapes, forward only, with a progress line on stderr\n"
            "  --attention\n"
            "            only the attention table (the options against the plain call), which\n"
            "            otherwise follows the fixed shapes in the human table; --csv and --json\n"
            "            print one table: the fixed shapes unless this, --sweep or --sampling\n"
            "  --sampling\n"
            "            only the sampling table (clsm_sample_buffers: greedy, temperature,\n"
            "            top-k with top-p, min-p), which otherwise follows the attention table\n"
            "            in the human table\n"
            "  --reps N  timed repetitions per measurement, median reported (default %d)\n"
            "  --csv     one CSV row per case on stdout\n"
            "  --json    a JSON array of one object per case on stdout\n"
            "The device is the library's default; set CLSM_DEVICE to pick another.\n",
            DEFAULT_REPS);
}

/* Options into b->run, *quick, *sweep, *attention and *sampling; -1: exit 0 (help), 1: bad
 * usage, else 0. */
static int parse_args(int argc, char **argv, bench *b, int *quick, int *sweep, int *attention,
                      int *sampling)
{
    for (int i = 1; i < argc; i++) {
        int only = *sweep || *attention || *sampling;
        if (strcmp(argv[i], "--quick") == 0) {
            *quick = 1;
        } else if (strcmp(argv[i], "--sweep") == 0 && (!only || *sweep)) {
            *sweep = 1;
        } else if (strcmp(argv[i], "--attention") == 0 && (!only || *attention)) {
            *attention = 1;
        } else if (strcmp(argv[i], "--sampling") == 0 && (!only || *sampling)) {
            *sampling = 1;
        } else if (strcmp(argv[i], "--csv") == 0 && b->run.format != REPORT_JSON) {
            b->run.format = REPORT_CSV;
        } else if (strcmp(argv[i], "--json") == 0 && b->run.format != REPORT_CSV) {
            b->run.format = REPORT_JSON;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || end == argv[i] || v < 1 || v > 100000) {
                fprintf(stderr, "clsoftmax-bench: --reps wants an integer in 1..100000\n");
                return 1;
            }
            b->run.reps = (int)v;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return -1;
        } else {
            usage(stderr);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench b = {.run = {.format = REPORT_TABLE, .reps = DEFAULT_REPS}};
    int quick = 0, sweep = 0, attention = 0, sampling = 0, failed = 0, rc = 1;
    int usage_rc = parse_args(argc, argv, &b, &quick, &sweep, &attention, &sampling);
    if (usage_rc != 0)
        return usage_rc < 0 ? 0 : 2;

    clsm_shape sweep_cases[SWEEP_MAX_CASES];
    const clsm_shape *shapes = quick ? quick_shapes : full_shapes;
    size_t count = quick ? sizeof quick_shapes / sizeof *quick_shapes
                         : sizeof full_shapes / sizeof *full_shapes;
    if (sweep) {
        count = sweep_shapes(quick ? SWEEP_QUICK_TOTAL : SWEEP_TOTAL, sweep_cases);
        shapes = sweep_cases;
    }
    if (attention || sampling)
        count = 0;
    b.run.mode = sweep       ? (quick ? "quick-sweep" : "sweep")
                 : attention ? (quick ? "quick-attention" : "attention")
                 : sampling  ? (quick ? "quick-sampling" : "sampling")
                             : (quick ? "quick" : "shapes");
    b.backward = !sweep;
    b.progress = sweep || b.run.format != REPORT_TABLE;
    b.tty = isatty(STDERR_FILENO);
    b.run.peer_threads = host_peer_threads();
    b.run.omp_wait_policy = getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "unset";

    clsm_status st = clsm_context_create(&b.ctx);
    if (st != CLSM_SUCCESS) {
        bench_clsm_error(NULL, "clsm_context_create", st);
        goto done;
    }
    b.queue = clsm_context_queue(b.ctx);
    cl_device_id dev;
    if (describe_device(&b, &dev) != 0 || copy_kernels_create(b.clctx, dev, &b.copy) != 0 ||
        naive_kernels_create(b.clctx, dev, &b.naive) != 0)
        goto done;

    report_begin(&b.run);
    if (count > 0)
        report_shapes_begin(&b.run);
    for (size_t c = 0; c < count; c++) {
        progress(&b, c, count, shapes[c]);
        int r = run_case(&b, shapes[c]);
        if (r < 0)
            goto done;
        failed |= r;
    }
    progress(&b, count, count, shapes[0]);
    if (attention || (!sweep && !sampling && b.run.format == REPORT_TABLE)) {
        int r = attention_table(b.ctx, b.clctx, &b.copy, &b.run, quick);
        if (r < 0)
            goto done;
        failed |= r;
    }
    if (sampling || (!sweep && !attention && b.run.format == REPORT_TABLE)) {
        int r = sampling_table(b.ctx, b.clctx, &b.copy, &b.run, quick);
        if (r < 0)
            goto done;
        failed |= r;
    }
    report_end(&b.run, failed);
    rc = failed;

done:
    naive_kernels_release(&b.naive);
    copy_kernels_release(&b.copy);
    clsm_context_release(b.ctx);
    return rc;
}
