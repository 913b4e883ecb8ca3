/* OpenCL helpers: error reports (OpenCL's and clsoftmax's) and builds of the benchmark's own kernels. */
#include <stdio.h>
#include <stdlib.h>

#include "opencl.h"

int bench_cl_error(const char *what, cl_int err)
{
    fprintf(stderr, "clsoftmax-bench: %s failed: OpenCL error %d\n", what, (int)err);
    return -1;
}

int bench_clsm_error(const clsm_context *ctx, const char *what, clsm_status st)
{
    fprintf(stderr, "clsoftmax-bench: %s failed: %s\n", what, clsm_status_string(st));
    if (st == CLSM_ERROR_BUILD_FAILED)
        fprintf(stderr, "build log:\n%s\n", clsm_context_build_log(ctx));
    return -1;
}

static void print_build_log(cl_program program, cl_device_id device)
{
    size_t size = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) ==
            CL_SUCCESS &&
        (log = malloc(size + 1)) != NULL &&
        clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size, log, NULL) ==
            CL_SUCCESS) {
        log[size] = '\0';
        fprintf(stderr, "build log:\n%s\n", log);
    }
    free(log);
}

cl_program bench_program_build(cl_context context, cl_device_id device, const char *source,
                               const char *options)
{
    cl_int err;
    cl_program program = clCreateProgramWithSource(context, 1, &source, NULL, &err);
    if (!program) {
        bench_cl_error("clCreateProgramWithSource", err);
        return NULL;
    }
    err = clBuildProgram(program, 1, &device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        bench_cl_error("clBuildProgram", err);
        print_build_log(program, device);
        clReleaseProgram(program);
        return NULL;
    }
    return program;
}

cl_kernel bench_kernel(cl_program program, const char *name)
{
    cl_int err;
    cl_kernel kernel = clCreateKernel(program, name, &err);
    if (!kernel) {
        fprintf(stderr, "clsoftmax-bench: kernel %s: ", name);
        bench_cl_error("clCreateKernel", err);
    }
    return kernel;
}

cl_mem bench_buffer(cl_context context, cl_command_queue queue, const void *host, size_t bytes)
{
    cl_int err;
    cl_mem buf = clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!buf) {
        bench_cl_error("clCreateBuffer", err);
        return NULL;
    }
    if (!host)
        return buf;
    err = clEnqueueWriteBuffer(queue, buf, CL_TRUE, 0, bytes, host, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        bench_cl_error("clEnqueueWriteBuffer", err);
        clReleaseMemObject(buf);
        return NULL;
    }
    return buf;
}

size_t bench_round_up(size_t n, size_t local)
{
    return (n + local - 1) / local * local;
}
