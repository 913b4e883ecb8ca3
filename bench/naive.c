/* The naive baseline: the textbook max / exp-sum / normalize softmax as three OpenCL kernels. */
#include "naive.h"
#include "opencl.h"

/* Written by cmake/embed_kernels.cmake from bench/naive.cl. */
extern const char clsm_src_naive[];

static const char *const kernel_names[NAIVE_KERNELS] = {
    "slice_max", "slice_sum", "normalize_softmax", "normalize_log_softmax"};

/* The driver picks the group size, as in textbook code; NDRanges are rounded up to this so
 * that it has sizes to pick from. */
enum { ROUND_TO = 256 };

int naive_kernels_create(cl_context context, cl_device_id device, naive_kernels *out)
{
    *out = (naive_kernels){0};
    out->program = bench_program_build(context, device, clsm_src_naive, "-cl-std=CL1.2");
    if (!out->program)
        return -1;
    for (int i = 0; i < NAIVE_KERNELS; i++) {
        out->kernel[i] = bench_kernel(out->program, kernel_names[i]);
        if (!out->kernel[i]) {
            naive_kernels_release(out);
            return -1;
        }
    }
    return 0;
}

void naive_kernels_release(naive_kernels *k)
{
    for (int i = 0; i < NAIVE_KERNELS; i++)
        if (k->kernel[i])
            clReleaseKernel(k->kernel[i]);
    if (k->program)
        clReleaseProgram(k->program);
    *k = (naive_kernels){0};
}

int naive_job_create(const naive_kernels *k, cl_command_queue queue, clsm_shape shape, cl_mem x,
                     cl_mem y, naive_job *out)
{
    cl_context context;
    size_t bytes = shape.outer * shape.inner * sizeof(float);
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof context, &context, NULL);
    *out = (naive_job){k, queue, CLSM_SOFTMAX, shape, x, y, NULL, NULL};
    if (err != CL_SUCCESS)
        return bench_cl_error("clGetCommandQueueInfo", err);
    out->max = clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (out->max)
        out->sum = clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!out->sum) {
        naive_job_release(out);
        return bench_cl_error("clCreateBuffer (naive)", err);
    }
    return 0;
}

void naive_job_release(naive_job *j)
{
    if (j->sum)
        clReleaseMemObject(j->sum);
    if (j->max)
        clReleaseMemObject(j->max);
    j->sum = j->max = NULL;
}

static cl_int set_args(cl_kernel kernel, int count, const size_t *sizes, const void *const *values)
{
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < count && err == CL_SUCCESS; i++)
        err = clSetKernelArg(kernel, (cl_uint)i, sizes[i], values[i]);
    return err;
}

/* Each kernel waits for the one before through its event: the library makes no promise
 * that its queue runs in order. */
static cl_int enqueue(const naive_job *j, int which, size_t range, cl_event *wait, cl_event *done)
{
    return clEnqueueNDRangeKernel(j->queue, j->k->kernel[which], 1, NULL, &range, NULL,
                                  wait ? 1 : 0, wait, done);
}

/* Arguments are set on every run, as the library sets its own on every call. */
int naive_once(void *job)
{
    const naive_job *j = job;
    cl_ulong slices = j->shape.outer * j->shape.inner, axis = j->shape.axis, inner = j->shape.inner,
             n = slices * axis;
    size_t slice_range = bench_round_up(slices, ROUND_TO);
    size_t element_range = bench_round_up(n, ROUND_TO);
    int normalize = NAIVE_NORMALIZE + (int)j->op;
    cl_event ev[3] = {NULL, NULL, NULL};

    const size_t max_sizes[] = {sizeof(cl_mem), sizeof(cl_mem), sizeof slices, sizeof axis,
                                sizeof inner};
    const void *const max_values[] = {&j->x, &j->max, &slices, &axis, &inner};
    const size_t sum_sizes[] = {sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem),
                                sizeof slices,  sizeof axis,    sizeof inner};
    const void *const sum_values[] = {&j->x, &j->max, &j->sum, &slices, &axis, &inner};
    const size_t norm_sizes[] = {sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem),
                                 sizeof n,       sizeof axis,    sizeof inner};
    const void *const norm_values[] = {&j->x, &j->max, &j->sum, &j->y, &n, &axis, &inner};

    cl_int err = set_args(j->k->kernel[NAIVE_MAX], 5, max_sizes, max_values);
    if (err == CL_SUCCESS)
        err = set_args(j->k->kernel[NAIVE_SUM], 6, sum_sizes, sum_values);
    if (err == CL_SUCCESS)
        err = set_args(j->k->kernel[normalize], 7, norm_sizes, norm_values);
    if (err != CL_SUCCESS)
        return bench_cl_error("clSetKernelArg (naive)", err);

    err = enqueue(j, NAIVE_MAX, slice_range, NULL, &ev[0]);
    if (err == CL_SUCCESS)
        err = enqueue(j, NAIVE_SUM, slice_range, &ev[0], &ev[1]);
    if (err == CL_SUCCESS)
        err = enqueue(j, normalize, element_range, &ev[1], &ev[2]);
    if (err == CL_SUCCESS)
        err = clWaitForEvents(1, &ev[2]);
    for (int i = 0; i < 3; i++)
        if (ev[i])
            clReleaseEvent(ev[i]);
    return err == CL_SUCCESS ? 0 : bench_cl_error("the naive baseline", err);
}
