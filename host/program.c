/* Kernel builds and the per-context cache of built kernels, keyed by every option that changes the code. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Written by cmake/embed_kernels.cmake from the files in kernels/. */
extern const char clsm_src_softmax_common[];
extern const char clsm_src_softmax_item[];
extern const char clsm_src_softmax_group[];
extern const char clsm_src_softmax_vector[];
extern const char clsm_src_softmax_row[];
extern const char clsm_src_softmax_columns[];

static int variant_equal(const clsm_variant *a, const clsm_variant *b)
{
    return a->kind == b->kind && a->dtype == b->dtype && a->op == b->op &&
           a->zero_scale == b->zero_scale && a->group_size == b->group_size;
}

static void keep_build_log(clsm_context *ctx, cl_program program)
{
    size_t size = 0;
    if (clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) !=
            CL_SUCCESS ||
        size == 0)
        return;
    char *log = malloc(size);
    if (!log)
        return;
    if (clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, size, log, NULL) !=
        CL_SUCCESS) {
        free(log);
        return;
    }
    log[size - 1] = '\0';
    free(ctx->build_log);
    ctx->build_log = log;
}

static clsm_status build(clsm_context *ctx, const clsm_variant *key, clsm_program *out)
{
    static const char *const dtype_names[] = {"F32", "F16", "BF16", "F64"};
    const char *sources[3] = {clsm_src_softmax_common, NULL, NULL};
    cl_uint count = 2;
    const char *name = NULL;
    switch (key->kind) {
    case CLSM_KERNEL_ITEM:
        sources[1] = clsm_src_softmax_item;
        name = "softmax_item";
        break;
    case CLSM_KERNEL_GROUP:
        sources[1] = clsm_src_softmax_group;
        name = "softmax_group";
        break;
    case CLSM_KERNEL_ROW:
        sources[1] = clsm_src_softmax_vector;
        sources[2] = clsm_src_softmax_row;
        count = 3;
        name = "softmax_row";
        break;
    case CLSM_KERNEL_COLUMNS:
        sources[1] = clsm_src_softmax_vector;
        sources[2] = clsm_src_softmax_columns;
        count = 3;
        name = "softmax_columns";
        break;
    case CLSM_KERNEL_AUTO:
        return CLSM_ERROR_INVALID_ARGUMENT;
    }

    char options[256];
    snprintf(options, sizeof options, "-cl-std=CL1.2 -DDTYPE_%s=1 -DLOG_SOFTMAX=%d -DZERO_SCALE=%d -DWG=%zu",
             dtype_names[key->dtype], key->op == CLSM_LOG_SOFTMAX, key->zero_scale,
             key->group_size);

    cl_program program;
    cl_int err = clsm_program_build(ctx, count, sources, options, &program);
    if (err != CL_SUCCESS) {
        if (!program)
            return clsm_status_from_cl(err);
        keep_build_log(ctx, program);
        goto fail;
    }
    cl_kernel kernel = clCreateKernel(program, name, &err);
    if (err != CL_SUCCESS)
        goto fail;
    err = clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                   sizeof out->max_group_size, &out->max_group_size, NULL);
    if (err != CL_SUCCESS)
        goto fail_kernel;
    out->program = program;
    out->kernel = kernel;
    return CLSM_SUCCESS;

fail_kernel:
    clReleaseKernel(kernel);
fail:
    clReleaseProgram(program);
    return clsm_status_from_cl(err);
}

const clsm_program *clsm_program_get(clsm_context *ctx, const clsm_variant *key,
                                     clsm_status *status)
{
    for (clsm_program *p = ctx->programs; p; p = p->next) {
        if (variant_equal(&p->key, key)) {
            *status = CLSM_SUCCESS;
            return p;
        }
    }
    clsm_program *entry = malloc(sizeof *entry);
    if (!entry) {
        *status = CLSM_ERROR_OUT_OF_MEMORY;
        return NULL;
    }
    *status = build(ctx, key, entry);
    if (*status != CLSM_SUCCESS) {
        free(entry);
        return NULL;
    }
    entry->key = *key;
    entry->next = ctx->programs;
    ctx->programs = entry;
    return entry;
}

void clsm_programs_release(clsm_context *ctx)
{
    clsm_program *p = ctx->programs;
    while (p) {
        clsm_program *next = p->next;
        clReleaseKernel(p->kernel);
        clReleaseProgram(p->program);
        free(p);
        p = next;
    }
    ctx->programs = NULL;
}
