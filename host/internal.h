/* Declarations shared by the host files; nothing here is public. */
#ifndef CLSM_INTERNAL_H
#define CLSM_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "clsoftmax.h"

/* Kernel families, one per kernels/softmax_<name>.cl. */
typedef enum clsm_kernel_kind {
    CLSM_KERNEL_AUTO, /* chosen by shape and device */
    CLSM_KERNEL_ITEM,
    CLSM_KERNEL_GROUP,
    CLSM_KERNEL_ROW,
    CLSM_KERNEL_COLUMNS,
    CLSM_KERNEL_SPLIT /* the last: CLSM_KERNEL names are looked up from ITEM to here */
} clsm_kernel_kind;

/* VEC of kernels/softmax_common.cl for f32: the lanes of the CPU families' vectors. */
#define CLSM_F32_LANES 16u

/* Everything that changes a kernel's code: the key of the program cache. */
typedef struct clsm_variant {
    clsm_kernel_kind kind;
    clsm_dtype dtype;
    clsm_op op;
    int zero_scale;
    size_t group_size; /* compiled-in work-group size; 0 where the code does not depend on it */
} clsm_variant;

typedef struct clsm_program {
    clsm_variant key;
    int ready; /* built; until then the thread that added it is building it, unlocked */
    cl_program program;
    cl_kernel kernels[2]; /* the family's kernels, in launch order; the second may be NULL */
    size_t max_group_size; /* CL_KERNEL_WORK_GROUP_SIZE: can be below the device's */
    struct clsm_program *next;
} clsm_program;

/* A pair of device buffers the host path copies through, reused across calls. */
typedef struct clsm_staging {
    cl_mem x, y;
    size_t capacity;
    struct clsm_staging *next;
} clsm_staging;

typedef struct clsm_device_info {
    cl_device_type type;
    int has_fp64;
    size_t max_group_size;
    cl_uint compute_units;
    cl_ulong max_alloc; /* the largest staging buffer the host path may ask for */
    cl_ulong cache_size; /* global memory cache; outputs beyond it are streamed past it */
} clsm_device_info;

struct clsm_context {
    cl_context cl;
    cl_device_id device;
    cl_command_queue queue;
    clsm_device_info info;
    clsm_kernel_kind forced_kind; /* from CLSM_KERNEL, read once at creation */
    char *cache_dir; /* of the on-disk program cache, NULL where it is off; read once at creation */
    /* Guards everything below, and clSetKernelArg through enqueue on the shared kernels;
     * never held through a kernel build. */
    pthread_mutex_t lock;
    pthread_cond_t program_ready; /* signalled when a program is built or its build fails */
    clsm_program *programs;
    clsm_staging *idle_staging;
    char *build_log;
};

/* status.c */
clsm_status clsm_status_from_cl(cl_int err);

/* device_select.c */
clsm_status clsm_device_select(cl_device_id *out);

/* validate.c */
size_t clsm_dtype_size(clsm_dtype dtype);
clsm_status clsm_validate_request(const clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                  clsm_shape shape, float scale, size_t *bytes);
clsm_status clsm_validate_wait_list(const clsm_context *ctx, cl_uint num_events,
                                    const cl_event *events);
clsm_status clsm_validate_buffers(const clsm_context *ctx, clsm_dtype dtype, size_t bytes,
                                  cl_mem x, size_t x_offset, cl_mem y, size_t y_offset);
clsm_status clsm_validate_host(const clsm_context *ctx, clsm_dtype dtype, size_t bytes,
                               const void *x, const void *y);

/* binary_cache.c */
/* From CLSM_CACHE_DIR (empty: off), else XDG_CACHE_HOME or HOME; *dir is NULL where it is off. */
clsm_status clsm_binary_cache_dir(char **dir);
/*
 * Creates and builds a program for ctx->device from a cached binary, else from
 * source (then caching it). *program is set even when the build fails, so that
 * its log can be read; NULL only if no program could be created.
 */
cl_int clsm_program_build(clsm_context *ctx, cl_uint count, const char **sources,
                          const char *options, cl_program *program);

/* program.c: call without ctx->lock. The program stays valid until the context is released. */
const clsm_program *clsm_program_get(clsm_context *ctx, const clsm_variant *key,
                                     clsm_status *status);
void clsm_programs_release(clsm_context *ctx);

/* launch.c: enqueue on validated, non-empty arguments; offsets in bytes. */
clsm_status clsm_launch(clsm_context *ctx, clsm_op op, clsm_dtype dtype, clsm_shape shape,
                        float scale, cl_mem x, size_t x_offset, cl_mem y, size_t y_offset,
                        cl_uint num_events, const cl_event *events, cl_event *event);

/* launch.c: the CLSM_KERNEL and clsm_kernel_name() name of a family. */
const char *clsm_kind_name(clsm_kernel_kind kind);

/* launch_split.c: call with ctx->lock held. */
size_t clsm_split_chunks(const clsm_context *ctx, clsm_shape shape, size_t *chunk);
clsm_status clsm_enqueue_split(clsm_context *ctx, const clsm_program *p, clsm_dtype dtype,
                               clsm_shape shape, float scale, cl_mem x, cl_ulong x_off,
                               cl_mem y, cl_ulong y_off, cl_uint stream, size_t local,
                               cl_uint num_events, const cl_event *events, cl_event *event);

/* host_path.c */
void clsm_staging_release_all(clsm_context *ctx);

#endif
