/* The copy roofline: the best of clEnqueueCopyBuffer and vector copy kernels over the same bytes. */
#include <stddef.h>

#include "copy.h"
#include "measure.h"
#include "opencl.h"

/* Written by cmake/embed_kernels.cmake from bench/copy.cl. */
extern const char clsm_src_copy[];

static const char *const kernel_names[COPY_KERNELS] = {"copy_float4", "copy_float16"};
static const size_t kernel_widths[COPY_KERNELS] = {4, 16};

int copy_kernels_create(cl_context context, cl_device_id device, copy_kernels *out)
{
    *out = (copy_kernels){0};
    out->program = bench_program_build(context, device, clsm_src_copy, "-cl-std=CL1.2");
    if (!out->program)
        return -1;
    for (int i = 0; i < COPY_KERNELS; i++) {
        out->kernel[i] = bench_kernel(out->program, kernel_names[i]);
        if (!out->kernel[i]) {
            copy_kernels_release(out);
            return -1;
        }
    }
    return 0;
}

void copy_kernels_release(copy_kernels *k)
{
    for (int i = 0; i < COPY_KERNELS; i++)
        if (k->kernel[i])
            clReleaseKernel(k->kernel[i]);
    if (k->program)
        clReleaseProgram(k->program);
    *k = (copy_kernels){0};
}

typedef struct copy_job {
    cl_command_queue queue;
    cl_kernel kernel; /* NULL: clEnqueueCopyBuffer */
    cl_mem x, y;
    size_t bytes, global, local;
} copy_job;

/* Enqueue once and wait, like the softmax runs, so every method pays the same launch cost. */
static int copy_once(void *arg)
{
    const copy_job *j = arg;
    cl_event ev;
    cl_int err;
    if (j->kernel)
        err = clEnqueueNDRangeKernel(j->queue, j->kernel, 1, NULL, &j->global, &j->local, 0, NULL,
                                     &ev);
    else
        err = clEnqueueCopyBuffer(j->queue, j->x, j->y, 0, 0, j->bytes, 0, NULL, &ev);
    if (err != CL_SUCCESS)
        return bench_cl_error(j->kernel ? "clEnqueueNDRangeKernel (copy)" : "clEnqueueCopyBuffer",
                              err);
    err = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? 0 : bench_cl_error("clWaitForEvents", err);
}

/* An explicit group size: left to the driver, a vector count with few divisors can get
 * tiny groups, and a slow copy would flatter every fraction of it. */
static int kernel_job(const copy_kernels *k, int i, size_t n, copy_job *j)
{
    cl_device_id device;
    size_t max_local;
    cl_ulong n_arg = n;
    cl_int err = clGetCommandQueueInfo(j->queue, CL_QUEUE_DEVICE, sizeof device, &device, NULL);
    if (err == CL_SUCCESS)
        err = clGetKernelWorkGroupInfo(k->kernel[i], device, CL_KERNEL_WORK_GROUP_SIZE,
                                       sizeof max_local, &max_local, NULL);
    if (err == CL_SUCCESS)
        err = clSetKernelArg(k->kernel[i], 0, sizeof j->x, &j->x);
    if (err == CL_SUCCESS)
        err = clSetKernelArg(k->kernel[i], 1, sizeof j->y, &j->y);
    if (err == CL_SUCCESS)
        err = clSetKernelArg(k->kernel[i], 2, sizeof n_arg, &n_arg);
    if (err != CL_SUCCESS)
        return bench_cl_error("setting up the copy kernel", err);
    j->kernel = k->kernel[i];
    j->local = max_local < 256 ? max_local : 256;
    j->global = bench_round_up((n + kernel_widths[i] - 1) / kernel_widths[i], j->local);
    return 0;
}

int copy_roofline(const copy_kernels *k, cl_command_queue queue, cl_mem x, cl_mem y, size_t n,
                  int reps, double *seconds, const char **method)
{
    copy_job j = {queue, NULL, x, y, n * sizeof(float), 0, 0};
    if (measure_median(copy_once, &j, reps, seconds) != 0)
        return -1;
    *method = "clEnqueueCopyBuffer";
    for (int i = 0; i < COPY_KERNELS; i++) {
        double t;
        if (kernel_job(k, i, n, &j) != 0 || measure_median(copy_once, &j, reps, &t) != 0)
            return -1;
        if (t < *seconds) {
            *seconds = t;
            *method = kernel_names[i];
        }
    }
    return 0;
}
