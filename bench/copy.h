/* The copy roofline: the best of clEnqueueCopyBuffer and vector copy kernels over the same bytes. */
#ifndef BENCH_COPY_H
#define BENCH_COPY_H

#include <CL/cl.h>

enum { COPY_KERNELS = 2 };

typedef struct copy_kernels {
    cl_program program;
    cl_kernel kernel[COPY_KERNELS];
} copy_kernels;

/* Builds the copy kernels of bench/copy.cl; 0, or -1 after saying why. */
int copy_kernels_create(cl_context context, cl_device_id device, copy_kernels *out);
void copy_kernels_release(copy_kernels *k);

/* Copies n floats of x into y with each method; *seconds gets the best method's median and
 * *method its name. 0, or -1 after saying why. */
int copy_roofline(const copy_kernels *k, cl_command_queue queue, cl_mem x, cl_mem y, size_t n,
                  int reps, double *seconds, const char **method);

#endif
