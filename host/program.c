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
extern const char clsm_src_softmax_split[];

static int variant_equal(const clsm_variant *a, const clsm_variant *b)
{
    return a->kind == b->kind && a->dtype == b->dtype && a->op == b->op &&
           a->zero_scale == b->zero_scale && a->group_size == b->group_size;
}

/* The build log of a failed build, or NULL. */
static char *build_log(const clsm_context *ctx, cl_program program)
{
    size_t size = 0;
    if (clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) !=
            CL_SUCCESS ||
        size == 0)
        return NULL;
    char *log = malloc(size);
    if (log && clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, size, log,
                                     NULL) != CL_SUCCESS) {
        free(log);
        return NULL;
    }
    if (log)
        log[size - 1] = '\0';
    return log;
}

/* The sources after softmax_common.cl, and the kernels, of each family. */
typedef struct family {
    const char *sources[2];
    const char *kernels[2];
} family;

static const family *family_of(clsm_kernel_kind kind)
{
    static const family item = {{clsm_src_softmax_item, NULL}, {"softmax_item", NULL}};
    static const family group = {{clsm_src_softmax_group, NULL}, {"softmax_group", NULL}};
    static const family row = {{clsm_src_softmax_vector, clsm_src_softmax_row},
                               {"softmax_row", NULL}};
    static const family columns = {{clsm_src_softmax_vector, clsm_src_softmax_columns},
                                   {"softmax_columns", NULL}};
    static const family split = {{clsm_src_softmax_vector, clsm_src_softmax_split},
                                 {"softmax_split_states", "softmax_split_output"}};
    switch (kind) {
    case CLSM_KERNEL_ITEM:
        return &item;
    case CLSM_KERNEL_GROUP:
        return &group;
    case CLSM_KERNEL_ROW:
        return &row;
    case CLSM_KERNEL_COLUMNS:
        return &columns;
    case CLSM_KERNEL_SPLIT:
        return &split;
    case CLSM_KERNEL_AUTO:
        break;
    }
    return NULL;
}

/* Builds the kernels of key into out; on a failed build *log receives the compiler's log. */
static clsm_status build(clsm_context *ctx, const clsm_variant *key, clsm_program *out,
                         char **log)
{
    static const char *const dtype_names[] = {"F32", "F16", "BF16", "F64"};
    const family *f = family_of(key->kind);
    if (!f)
        return CLSM_ERROR_INVALID_ARGUMENT;
    const char *sources[3] = {clsm_src_softmax_common, f->sources[0], f->sources[1]};
    cl_uint count = f->sources[1] ? 3 : 2;

    char options[256];
    snprintf(options, sizeof options, "-cl-std=CL1.2 -DDTYPE_%s=1 -DLOG_SOFTMAX=%d -DZERO_SCALE=%d -DWG=%zu",
             dtype_names[key->dtype], key->op == CLSM_LOG_SOFTMAX, key->zero_scale,
             key->group_size);

    cl_program program;
    cl_int err = clsm_program_build(ctx, count, sources, options, &program);
    if (err != CL_SUCCESS) {
        if (!program)
            return clsm_status_from_cl(err);
        *log = build_log(ctx, program);
        goto fail;
    }
    out->kernels[0] = out->kernels[1] = NULL;
    out->max_group_size = (size_t)-1;
    for (int k = 0; k < 2 && f->kernels[k]; ++k) {
        out->kernels[k] = clCreateKernel(program, f->kernels[k], &err);
        if (err != CL_SUCCESS)
            goto fail_kernels;
        size_t allowed;
        err = clGetKernelWorkGroupInfo(out->kernels[k], ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                       sizeof allowed, &allowed, NULL);
        if (err != CL_SUCCESS)
            goto fail_kernels;
        if (allowed < out->max_group_size)
            out->max_group_size = allowed;
    }
    out->program = program;
    return CLSM_SUCCESS;

fail_kernels:
    for (int k = 0; k < 2; ++k)
        if (out->kernels[k])
            clReleaseKernel(out->kernels[k]);
fail:
    clReleaseProgram(program);
    return clsm_status_from_cl(err);
}

static clsm_program *find(const clsm_context *ctx, const clsm_variant *key)
{
    for (clsm_program *p = ctx->programs; p; p = p->next)
        if (variant_equal(&p->key, key))
            return p;
    return NULL;
}

static void unlink_program(clsm_context *ctx, const clsm_program *gone)
{
    for (clsm_program **link = &ctx->programs; *link; link = &(*link)->next) {
        if (*link == gone) {
            *link = gone->next;
            return;
        }
    }
}

/* A compile takes from milliseconds to seconds, so it runs unlocked: threads that need
 * other programs go on meanwhile, and those that need this one wait for it instead of
 * compiling it again. */
const clsm_program *clsm_program_get(clsm_context *ctx, const clsm_variant *key,
                                     clsm_status *status)
{
    pthread_mutex_lock(&ctx->lock);
    clsm_program *p = find(ctx, key);
    while (p && !p->ready) {
        pthread_cond_wait(&ctx->program_ready, &ctx->lock);
        /* A failed build removes its entry: then this thread tries in its turn. */
        p = find(ctx, key);
    }
    if (p) {
        pthread_mutex_unlock(&ctx->lock);
        *status = CLSM_SUCCESS;
        return p;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&ctx->lock);
        *status = CLSM_ERROR_OUT_OF_MEMORY;
        return NULL;
    }
    p->key = *key;
    p->next = ctx->programs;
    ctx->programs = p;
    pthread_mutex_unlock(&ctx->lock);

    char *log = NULL;
    *status = build(ctx, key, p, &log);

    pthread_mutex_lock(&ctx->lock);
    if (*status == CLSM_SUCCESS) {
        p->ready = 1;
    } else {
        unlink_program(ctx, p);
        free(p);
        p = NULL;
        if (log) {
            free(ctx->build_log);
            ctx->build_log = log;
        }
    }
    pthread_cond_broadcast(&ctx->program_ready);
    pthread_mutex_unlock(&ctx->lock);
    return p;
}

void clsm_programs_release(clsm_context *ctx)
{
    clsm_program *p = ctx->programs;
    while (p) {
        clsm_program *next = p->next;
        for (int k = 0; k < 2; ++k)
            if (p->kernels[k])
                clReleaseKernel(p->kernels[k]);
        clReleaseProgram(p->program);
        free(p);
        p = next;
    }
    ctx->programs = NULL;
}
