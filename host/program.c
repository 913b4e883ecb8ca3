/* Kernel builds and the per-context cache of built kernels, keyed by every option that changes the code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Written by cmake/embed_kernels.cmake from the files in kernels/. */
extern const char clsm_src_shared_constants[];
extern const char clsm_src_kernel_args[];
extern const char clsm_src_softmax_common[];
extern const char clsm_src_softmax_entries[];
extern const char clsm_src_softmax_vector[];
extern const char clsm_src_backward_common[];
extern const char clsm_src_sample[];

/* The build log of a failed build, or NULL. */
static clsm_build_log *build_log(const clsm_context *ctx, cl_program program)
{
    size_t size = 0;
    if (clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) !=
            CL_SUCCESS ||
        size == 0)
        return NULL;
    clsm_build_log *log = malloc(sizeof *log + size);
    if (log && clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, size,
                                     log->text, NULL) != CL_SUCCESS) {
        free(log);
        return NULL;
    }
    if (log)
        log->text[size - 1] = '\0';
    return log;
}

/* Makes log the newest, call with ctx->lock held. A log equal to one kept already is freed
 * and that one moves to the front: a build that fails again and again keeps one copy. */
static void keep_build_log(clsm_context *ctx, clsm_build_log *log)
{
    clsm_build_log **link = &ctx->build_logs;
    while (*link && strcmp((*link)->text, log->text) != 0)
        link = &(*link)->next;
    if (*link) {
        free(log);
        log = *link;
        *link = log->next;
    }
    log->next = ctx->build_logs;
    ctx->build_logs = log;
}

const char *clsm_build_log_latest(clsm_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    const char *text = ctx->build_logs ? ctx->build_logs->text : "";
    pthread_mutex_unlock(&ctx->lock);
    return text;
}

void clsm_build_logs_release(clsm_context *ctx)
{
    while (ctx->build_logs) {
        clsm_build_log *next = ctx->build_logs->next;
        free(ctx->build_logs);
        ctx->build_logs = next;
    }
}

cl_uint clsm_program_sources(const clsm_variant *variant, const char **sources)
{
    const clsm_family *f = clsm_family_of(variant->family);
    /* Every program starts with what the host shares: the constants and the argument lists. */
    const char *forward[] = {clsm_src_shared_constants, clsm_src_kernel_args,
                             clsm_src_softmax_common, clsm_src_softmax_entries, f->sources[0],
                             f->sources[1]};
    const char *backward[] = {clsm_src_shared_constants, clsm_src_kernel_args,
                              clsm_src_softmax_common, clsm_src_softmax_entries,
                              clsm_src_softmax_vector, clsm_src_backward_common,
                              f->backward_source};
    /* Sampling is one kernel in every family; the family sets its work-group size only. */
    const char *sample[] = {clsm_src_shared_constants, clsm_src_kernel_args,
                            clsm_src_softmax_common, clsm_src_softmax_entries, clsm_src_sample};
    const char **chosen = variant->sample ? sample : variant->backward ? backward : forward;
    cl_uint count = variant->sample ? 5 : variant->backward ? 7 : f->sources[1] ? 6 : 5;
    for (cl_uint i = 0; i < count; ++i)
        sources[i] = chosen[i];
    return count;
}

/* Builds the kernels of a variant, whose build options are out->key, into out; on a failed
 * build *log receives the compiler's log. */
static clsm_status build(clsm_context *ctx, const clsm_variant *variant, clsm_program *out,
                         clsm_build_log **log)
{
    const clsm_family *f = clsm_family_of(variant->family);
    static const char *const sample_kernels[2] = {"sample_rows", NULL};
    const char *const *kernels = variant->sample     ? sample_kernels
                                 : variant->backward ? f->backward_kernels
                                                     : f->kernels;
    const char *sources[CLSM_PROGRAM_SOURCES_MAX];
    cl_uint count = clsm_program_sources(variant, sources);
    const char *options = out->key;

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
    for (int k = 0; k < 2 && kernels[k]; ++k) {
        out->kernels[k] = clCreateKernel(program, kernels[k], &err);
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

static clsm_program *find(const clsm_context *ctx, const char *key)
{
    for (clsm_program *p = ctx->programs; p; p = p->next)
        if (strcmp(p->key, key) == 0)
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
const clsm_program *clsm_program_get(clsm_context *ctx, const clsm_variant *variant,
                                     clsm_status *status)
{
    char key[CLSM_OPTIONS_MAX];
    *status = clsm_variant_options(variant, key);
    if (*status != CLSM_SUCCESS)
        return NULL;
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
    memcpy(p->key, key, sizeof key);
    p->next = ctx->programs;
    ctx->programs = p;
    pthread_mutex_unlock(&ctx->lock);

    clsm_build_log *log = NULL;
    *status = build(ctx, variant, p, &log);

    pthread_mutex_lock(&ctx->lock);
    if (*status == CLSM_SUCCESS) {
        p->ready = 1;
    } else {
        unlink_program(ctx, p);
        free(p);
        p = NULL;
        if (log)
            keep_build_log(ctx, log);
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
