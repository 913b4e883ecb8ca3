/* Context lifetime: owning or borrowing an OpenCL context and queue, and the device facts kernels depend on. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static clsm_status read_forced_family(clsm_family_id *out)
{
    const char *name = getenv("CLSM_KERNEL");
    *out = CLSM_FAMILY_AUTO;
    if (!name || !*name)
        return CLSM_SUCCESS;
    for (clsm_family_id k = CLSM_FAMILY_ITEM; k < CLSM_FAMILY_COUNT; ++k) {
        if (strcmp(name, clsm_family_of(k)->name) == 0) {
            *out = k;
            return CLSM_SUCCESS;
        }
    }
    return CLSM_ERROR_INVALID_ARGUMENT;
}

static clsm_status read_device_info(cl_device_id device, clsm_device_info *info)
{
    cl_device_fp_config fp64 = 0;
    cl_int err = clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof info->type, &info->type, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof info->max_group_size,
                              &info->max_group_size, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof info->compute_units,
                              &info->compute_units, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof info->max_alloc,
                              &info->max_alloc, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof info->cache_size,
                              &info->cache_size, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    /* Devices without doubles may reject the query instead of answering 0. */
    if (err == CL_INVALID_VALUE)
        err = CL_SUCCESS;
    info->has_fp64 = fp64 != 0;
    return clsm_status_from_cl(err);
}

/* Takes over one reference each to cl and queue, releasing them on failure. */
static clsm_status context_new(cl_context cl, cl_device_id device, cl_command_queue queue,
                               clsm_context **out)
{
    clsm_status status = CLSM_ERROR_OUT_OF_MEMORY;
    clsm_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        goto fail;
    ctx->cl = cl;
    ctx->device = device;
    ctx->queue = queue;
    status = read_forced_family(&ctx->forced_family);
    if (status != CLSM_SUCCESS)
        goto fail_free;
    status = read_device_info(device, &ctx->info);
    if (status != CLSM_SUCCESS)
        goto fail_free;
    ctx->tuning = clsm_tuning_of(ctx->info.type);
    status = clsm_binary_cache_dir(&ctx->cache_dir);
    if (status != CLSM_SUCCESS)
        goto fail_free;
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        status = CLSM_ERROR_OUT_OF_MEMORY;
        goto fail_cache_dir;
    }
    if (pthread_cond_init(&ctx->program_ready, NULL) != 0) {
        status = CLSM_ERROR_OUT_OF_MEMORY;
        goto fail_lock;
    }
    *out = ctx;
    return CLSM_SUCCESS;

fail_lock:
    pthread_mutex_destroy(&ctx->lock);
fail_cache_dir:
    free(ctx->cache_dir);
fail_free:
    free(ctx);
fail:
    clReleaseCommandQueue(queue);
    clReleaseContext(cl);
    return status;
}

/* Device discovery through context and queue creation, one thread at a time: PoCL 3.1
 * sets its devices up on first use, and threads that get there together see no device
 * or fail their first allocations. */
static pthread_mutex_t creation_lock = PTHREAD_MUTEX_INITIALIZER;

static clsm_status create_owned(const char *wanted, cl_context *cl, cl_device_id *device,
                                cl_command_queue *queue)
{
    clsm_status status = clsm_device_select(wanted, device);
    if (status != CLSM_SUCCESS)
        return status;
    cl_platform_id platform;
    cl_int err = clGetDeviceInfo(*device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL);
    if (err != CL_SUCCESS)
        return clsm_status_from_cl(err);
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
    *cl = clCreateContext(props, 1, device, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return clsm_status_from_cl(err);
    *queue = clCreateCommandQueue(*cl, *device, 0, &err);
    if (err != CL_SUCCESS) {
        clReleaseContext(*cl);
        return clsm_status_from_cl(err);
    }
    return CLSM_SUCCESS;
}

clsm_status clsm_context_create(clsm_context **out)
{
    return clsm_context_create_on_device(out, NULL);
}

clsm_status clsm_context_create_on_device(clsm_context **out, const char *device)
{
    if (!out)
        return CLSM_ERROR_INVALID_ARGUMENT;
    *out = NULL;

    cl_context cl = NULL;
    cl_device_id chosen = NULL;
    cl_command_queue queue = NULL;
    pthread_mutex_lock(&creation_lock);
    clsm_status status = create_owned(device, &cl, &chosen, &queue);
    pthread_mutex_unlock(&creation_lock);
    if (status != CLSM_SUCCESS)
        return status;
    return context_new(cl, chosen, queue, out);
}

clsm_status clsm_context_create_with_queue(clsm_context **out, cl_command_queue queue)
{
    if (!out)
        return CLSM_ERROR_INVALID_ARGUMENT;
    *out = NULL;
    if (!queue)
        return CLSM_ERROR_INVALID_ARGUMENT;

    cl_context cl;
    cl_device_id device;
    if (clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL) != CL_SUCCESS ||
        clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof device, &device, NULL) != CL_SUCCESS)
        return CLSM_ERROR_INVALID_ARGUMENT;
    cl_int err = clRetainContext(cl);
    if (err != CL_SUCCESS)
        return clsm_status_from_cl(err);
    err = clRetainCommandQueue(queue);
    if (err != CL_SUCCESS) {
        clReleaseContext(cl);
        return clsm_status_from_cl(err);
    }
    return context_new(cl, device, queue, out);
}

void clsm_context_release(clsm_context *ctx)
{
    if (!ctx)
        return;
    clsm_staging_release_all(ctx);
    clsm_programs_release(ctx);
    clsm_build_logs_release(ctx);
    pthread_cond_destroy(&ctx->program_ready);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx->cache_dir);
    clReleaseCommandQueue(ctx->queue);
    clReleaseContext(ctx->cl);
    free(ctx);
}

cl_command_queue clsm_context_queue(const clsm_context *ctx)
{
    return ctx ? ctx->queue : NULL;
}

const char *clsm_context_build_log(const clsm_context *ctx)
{
    /* The lock is the context's own, not part of what the caller sees as const. */
    return ctx ? clsm_build_log_latest((clsm_context *)ctx) : "";
}
