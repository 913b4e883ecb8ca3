/* OpenCL helpers: error reports (OpenCL's and clsoftmax's) and builds of the benchmark's own kernels. */
#ifndef BENCH_OPENCL_H
#define BENCH_OPENCL_H

#include <clsoftmax.h>

/* Prints what failed and the OpenCL error code; returns -1 so callers can return it. */
int bench_cl_error(const char *what, cl_int err);

/* The same for a clsoftmax call, with the kernel build log where the build failed; ctx may be
 * NULL. Returns -1. */
int bench_clsm_error(const clsm_context *ctx, const char *what, clsm_status st);

/* Builds source for the device, printing the build log on failure; NULL on failure. */
cl_program bench_program_build(cl_context context, cl_device_id device, const char *source,
                               const char *options);

/* The named kernel of a built program; NULL on failure, after saying why. */
cl_kernel bench_kernel(cl_program program, const char *name);

/* A read-write buffer of bytes on context, holding a copy of host's bytes (written through
 * queue, blocking) unless host is NULL; NULL after saying why. */
cl_mem bench_buffer(cl_context context, cl_command_queue queue, const void *host, size_t bytes);

/* Rounds n up to a whole number of groups of size local. */
size_t bench_round_up(size_t n, size_t local);

#endif
