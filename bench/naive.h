/* The naive baseline: the textbook max / exp-sum / normalize softmax as three OpenCL kernels. */
#ifndef BENCH_NAIVE_H
#define BENCH_NAIVE_H

#include <clsoftmax.h>

/* The normalize kernel for op is kernel[NAIVE_NORMALIZE + op]. */
enum { NAIVE_MAX, NAIVE_SUM, NAIVE_NORMALIZE, NAIVE_KERNELS = NAIVE_NORMALIZE + 2 };

typedef struct naive_kernels {
    cl_program program;
    cl_kernel kernel[NAIVE_KERNELS];
} naive_kernels;

/* Builds the kernels of bench/naive.cl; 0, or -1 after saying why. */
int naive_kernels_create(cl_context context, cl_device_id device, naive_kernels *out);
void naive_kernels_release(naive_kernels *k);

/* One tensor to run the baseline on, with its per-slice max and sum buffers. */
typedef struct naive_job {
    const naive_kernels *k;
    cl_command_queue queue;
    clsm_op op;
    clsm_shape shape;
    cl_mem x, y, max, sum;
} naive_job;

/* Fills in *out and allocates its per-slice buffers; 0, or -1 after saying why. */
int naive_job_create(const naive_kernels *k, cl_command_queue queue, clsm_shape shape, cl_mem x,
                     cl_mem y, naive_job *out);
void naive_job_release(naive_job *j);

/* Runs the three kernels for j->op and waits (a measure_fn). */
int naive_once(void *job);

#endif
