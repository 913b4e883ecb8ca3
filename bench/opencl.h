/* OpenCL helpers for the benchmark's own kernels: error reports and program builds. */
#ifndef BENCH_OPENCL_H
#define BENCH_OPENCL_H

#include <CL/cl.h>

/* Prints what failed and the OpenCL error code; returns -1 so callers can return it. */
int bench_cl_error(const char *what, cl_int err);

/* Builds source for the device, printing the build log on failure; NULL on failure. */
cl_program bench_program_build(cl_context context, cl_device_id device, const char *source,
                               const char *options);

/* The named kernel of a built program; NULL on failure, after saying why. */
cl_kernel bench_kernel(cl_program program, const char *name);

/* Rounds n up to a whole number of groups of size local. */
size_t bench_round_up(size_t n, size_t local);

#endif
