/* clsoftmax-bench: times F32 softmax and log-softmax on device buffers against the device's copy bandwidth, and checks every result. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clsoftmax.h>

#include "check.h"
#include "copy.h"
#include "measure.h"
#include "opencl.h"

enum { DEFAULT_REPS = 20 };

/* Row-wise shapes (inner = 1) span square, short-row, long-row and many-tiny-row
 * regimes; the last one reduces over a strided axis. */
static const clsm_shape full_shapes[] = {
    {4096, 4096, 1}, {65536, 256, 1}, {32, 262144, 1}, {262144, 32, 1}, {64, 1024, 64},
};

static const clsm_shape quick_shapes[] = {
    {256, 256, 1}, {2048, 64, 1}, {4, 16384, 1}, {8192, 8, 1}, {8, 128, 16},
};

typedef struct clsm_job {
    clsm_context *ctx;
    clsm_op op;
    clsm_shape shape;
    cl_mem x, y;
} clsm_job;

static int report_clsm(clsm_context *ctx, const char *what, clsm_status st)
{
    fprintf(stderr, "clsoftmax-bench: %s failed: %s\n", what, clsm_status_string(st));
    if (st == CLSM_ERROR_BUILD_FAILED)
        fprintf(stderr, "build log:\n%s\n", clsm_context_build_log(ctx));
    return -1;
}

/* Enqueue once and wait, so the time covers launch overhead as a caller sees it. */
static int clsm_once(void *arg)
{
    const clsm_job *j = arg;
    cl_event ev = NULL;
    clsm_status st = clsm_softmax_buffers(j->ctx, j->op, CLSM_F32, j->shape, 1.0f, j->x, 0, j->y, 0,
                                          0, NULL, &ev);
    if (st != CLSM_SUCCESS)
        return report_clsm(j->ctx, "clsm_softmax_buffers", st);
    cl_int err = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? 0 : bench_cl_error("clWaitForEvents", err);
}

/* Deterministic inputs in [-10, 10): wide enough that exp spans ~9 decades per slice. */
static void fill_input(float *x, size_t n)
{
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 40) / (double)(1u << 24) * 20.0 - 10.0);
    }
}

/* Times and checks one shape for both ops; returns 0 pass, 1 check failure, -1 error. */
static int run_case(clsm_context *ctx, cl_command_queue queue, cl_context clctx,
                    const copy_kernels *copy, clsm_shape s, int reps)
{
    size_t n = s.outer * s.axis * s.inner, bytes = n * sizeof(float);
    float *hx = malloc(bytes), *hy = malloc(bytes);
    cl_mem x = NULL, y = NULL;
    cl_int err;
    int rc = -1;

    if (!hx || !hy) {
        fprintf(stderr, "clsoftmax-bench: out of host memory for %zu elements\n", n);
        goto done;
    }
    fill_input(hx, n);
    x = clCreateBuffer(clctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!x) {
        bench_cl_error("clCreateBuffer", err);
        goto done;
    }
    y = clCreateBuffer(clctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!y) {
        bench_cl_error("clCreateBuffer", err);
        goto done;
    }
    err = clEnqueueWriteBuffer(queue, x, CL_TRUE, 0, bytes, hx, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        bench_cl_error("clEnqueueWriteBuffer", err);
        goto done;
    }

    clsm_job j = {ctx, CLSM_SOFTMAX, s, x, y};
    double copy_s;
    const char *copy_method;
    if (copy_roofline(copy, queue, x, y, n, reps, &copy_s, &copy_method) != 0)
        goto done;
    /* Softmax reads and writes each element once, like a copy: 2 x bytes moved. */
    double copy_gbs = 2.0 * (double)bytes / copy_s * 1e-9;

    rc = 0;
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        /* NaN-fill y so that an element the kernel skips cannot pass as the copy's leftover. */
        const float nan_fill = NAN;
        err = clEnqueueFillBuffer(queue, y, &nan_fill, sizeof nan_fill, 0, bytes, 0, NULL, NULL);
        if (err != CL_SUCCESS) {
            rc = bench_cl_error("clEnqueueFillBuffer", err);
            goto done;
        }
        j.op = (clsm_op)op;
        double op_s;
        if (measure_median(clsm_once, &j, reps, &op_s) != 0) {
            rc = -1;
            goto done;
        }
        err = clEnqueueReadBuffer(queue, y, CL_TRUE, 0, bytes, hy, 0, NULL, NULL);
        if (err != CL_SUCCESS) {
            rc = bench_cl_error("clEnqueueReadBuffer", err);
            goto done;
        }
        check_result cr = check((clsm_op)op, s, hx, hy);
        double gbs = 2.0 * (double)bytes / op_s * 1e-9;
        char shape_str[64];
        snprintf(shape_str, sizeof shape_str, "%zux%zux%zu", s.outer, s.axis, s.inner);
        printf("%-11s  %-20s  %9zu  %9.3f  %7.2f  %9.2f  %6.1f%%  %8.1e  %s\n",
               op == CLSM_SOFTMAX ? "softmax" : "log_softmax", shape_str, n,
               op_s * 1e3, gbs, copy_gbs, 100.0 * gbs / copy_gbs, cr.max_err,
               cr.bad ? "FAIL" : "ok");
        if (cr.bad) {
            printf("  %zu of %zu elements outside the contract bound\n", cr.bad, n);
            rc = 1;
        }
        fflush(stdout);
    }

done:
    if (y)
        clReleaseMemObject(y);
    if (x)
        clReleaseMemObject(x);
    free(hy);
    free(hx);
    return rc;
}

static int print_device(cl_command_queue queue)
{
    cl_device_id dev;
    char name[256], driver[256], version[256];
    cl_uint units;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name, name, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(dev, CL_DRIVER_VERSION, sizeof driver, driver, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(dev, CL_DEVICE_VERSION, sizeof version, version, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    if (err != CL_SUCCESS)
        return bench_cl_error("clGetDeviceInfo", err);
    printf("device: %s\ndriver: %s (%s), %u compute units\n", name, driver, version, units);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: clsoftmax-bench [--reps N] [--quick]\n"
               "  --reps N  timed repetitions per measurement, median reported (default %d)\n"
               "  --quick   small shapes, for a smoke run\n"
               "The device is the library's default; set CLSM_DEVICE to pick another.\n",
            DEFAULT_REPS);
}

int main(int argc, char **argv)
{
    int reps = DEFAULT_REPS, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || end == argv[i] || v < 1 || v > 100000) {
                fprintf(stderr, "clsoftmax-bench: --reps wants an integer in 1..100000\n");
                return 2;
            }
            reps = (int)v;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    const clsm_shape *shapes = quick ? quick_shapes : full_shapes;
    size_t nshapes = quick ? sizeof quick_shapes / sizeof *quick_shapes
                           : sizeof full_shapes / sizeof *full_shapes;
    clsm_context *ctx = NULL;
    copy_kernels copy = {0};
    int failed = 0, rc = 1;

    clsm_status st = clsm_context_create(&ctx);
    if (st != CLSM_SUCCESS) {
        report_clsm(NULL, "clsm_context_create", st);
        goto done;
    }
    cl_command_queue queue = clsm_context_queue(ctx);
    cl_context clctx;
    cl_device_id dev;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof clctx, &clctx, NULL);
    if (err == CL_SUCCESS)
        err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    if (err != CL_SUCCESS) {
        bench_cl_error("clGetCommandQueueInfo", err);
        goto done;
    }
    if (copy_kernels_create(clctx, dev, &copy) != 0)
        goto done;

    printf("clsoftmax %s benchmark: F32, scale 1, median of %d runs after %d warm-up runs%s\n",
           clsm_version(), reps, WARMUP_RUNS, quick ? " (quick)" : "");
    if (print_device(queue) != 0)
        goto done;
    printf("GB/s counts 8 bytes per element (read + write); copy = the best of clEnqueueCopyBuffer"
           " and\nfloat4/float16 copy kernels on the same bytes;\nerr: softmax max relative error,"
           " log_softmax max |err|/max(1,|ref|), bound %.0e\n\n", TOL);
    printf("%-11s  %-20s  %9s  %9s  %7s  %9s  %7s  %8s  %s\n", "op", "outer x axis x inner",
           "elements", "median ms", "GB/s", "copy GB/s", "of copy", "max err", "check");
    fflush(stdout);

    for (size_t c = 0; c < nshapes; c++) {
        int r = run_case(ctx, queue, clctx, &copy, shapes[c], reps);
        if (r < 0)
            goto done;
        failed |= r;
    }
    if (failed)
        printf("\nFAIL: some results are outside the contract bounds\n");
    rc = failed;

done:
    copy_kernels_release(&copy);
    clsm_context_release(ctx);
    return rc;
}
