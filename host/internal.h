/* Declarations shared by the host files; nothing here is public. */
#ifndef CLSM_INTERNAL_H
#define CLSM_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "clsoftmax.h"
#include "kernel_args.h"
#include "shared_constants.h"

/* Kernel families, one per kernels/softmax_<name>.cl, described in families.c. */
typedef enum clsm_family_id {
    CLSM_FAMILY_AUTO, /* chosen by shape and device */
    CLSM_FAMILY_ITEM,
    CLSM_FAMILY_GROUP,
    CLSM_FAMILY_ROW,
    CLSM_FAMILY_COLUMNS,
    CLSM_FAMILY_SPLIT,
    CLSM_FAMILY_REGS,
    CLSM_FAMILY_COUNT
} clsm_family_id;

/* tuning.c: the thresholds and sizes that choose and shape the families, as data. Each
 * value's comment in tuning.c says where it was measured, or that it was not. */

/* What a device class tunes differently. */
typedef struct clsm_tuning {
    const char *name; /* the device class */
    /* The forward family of a shape the caller does not force (choose_family): few_long for
     * fewer than few_per_unit contiguous slices per compute unit of at least few_min_axis
     * entries each (few_per_unit 0: never), else contiguous or strided. */
    clsm_family_id contiguous, strided, few_long;
    size_t few_per_unit, few_min_axis;
    /* item, row, columns, split: work-groups per compute unit to spread the work-items
     * over, at most clsm_common_tuning.item_group_size work-items each; 0: always that many. */
    size_t spread_groups_per_unit;
    size_t group_size;           /* group: the work-group size */
    size_t split_chunks_per_unit; /* split: chunks wanted in all, per compute unit */
} clsm_tuning;

/* The family of a backward pass handed on (families.c's regs_backward_family): split for
 * fewer than split_per_unit contiguous slices per compute unit of at least split_min_axis
 * entries; item for slices of at most item_max_axis entries, and for strided ones once
 * there are item_min_strided of them; else group. */
typedef struct clsm_backward_choice {
    size_t split_per_unit, split_min_axis, item_max_axis, item_min_strided;
} clsm_backward_choice;

/* What every device class tunes alike. */
typedef struct clsm_common_tuning {
    size_t item_group_size; /* item, row, columns, split: the largest work-group */
    size_t max_item_groups; /* item, row, columns: work-groups launched at most */
    size_t groups_per_unit; /* group, regs: work-groups launched at most, per compute unit */
    /* row: a bundle of CLSM_LANES_F32 slices a work-item while they are at most
     * row_bundle_max_axis long and every compute unit still gets row_bundle_items_per_unit
     * work-items. */
    size_t row_bundle_max_axis, row_bundle_items_per_unit;
    size_t split_min_chunk, split_max_chunks; /* split: chunk entries at least, chunks at most */
    size_t regs_strided_cols; /* regs: neighbouring strided slices a work-group takes */
    size_t regs_min_group;    /* regs: the smallest work-group */
    size_t regs_min_chunk;    /* regs: the shortest chunk cut to fill the compute units */
    size_t regs_chunk_align;  /* regs: chunk lengths are multiples of it */
    size_t regs_groups_per_unit; /* regs: work-groups per compute unit its chunks should fill */
    clsm_backward_choice regs_backward; /* regs has no backward kernels */
    /* Outputs go past the cache once a tensor is at least 1/stream_divisor of it. */
    size_t stream_divisor;
} clsm_common_tuning;

/* The table of a device class (CL_DEVICE_TYPE_*), chosen once per context. */
const clsm_tuning *clsm_tuning_of(cl_device_type type);
extern const clsm_common_tuning clsm_common;

/* The dtypes of clsm_dtype, for the tables indexed by one. */
#define CLSM_DTYPE_COUNT (CLSM_F64 + 1)

/* The option tensors of the kernels' arguments (opt_in and opt_out in CLSM_FORWARD_ARGS),
 * in their order: CLSM_TENSOR_<name> indexes a request's extents, and the tensor is the
 * clsm_options member of that name (clsm_option_tensor). */
#define CLSM_OPTION_TENSOR_ID(kind, type, name) CLSM_OPTION_TENSOR_ID_##kind(name)
#define CLSM_OPTION_TENSOR_ID_in(name)
#define CLSM_OPTION_TENSOR_ID_out(name)
#define CLSM_OPTION_TENSOR_ID_val(name)
#define CLSM_OPTION_TENSOR_ID_oval(name)
#define CLSM_OPTION_TENSOR_ID_opt_in(name) CLSM_TENSOR_##name,
#define CLSM_OPTION_TENSOR_ID_opt_out(name) CLSM_TENSOR_##name,
#define CLSM_OPTION_TENSOR_ID_scratch(name)
typedef enum clsm_option_tensor_id {
    CLSM_FORWARD_ARGS(CLSM_OPTION_TENSOR_ID, ) CLSM_OPTION_TENSORS
} clsm_option_tensor_id;

/* What a call's option tensor spans: 0 bytes where it is not used. */
typedef struct clsm_extent {
    size_t bytes, element;
} clsm_extent;

/* One call, validated: the v1 arguments and the options, with batch, heads and rows
 * always set, and the option tensors that are not used cleared. The option tensors' buffer
 * members are what the kernels read. */
typedef struct clsm_request {
    clsm_op op;
    clsm_dtype dtype;
    clsm_shape shape;
    double scale; /* as the call computes with it: rounded to float but for F64 */
    clsm_options opt;
    size_t bytes; /* of x, and of y */
    clsm_extent extent[CLSM_OPTION_TENSORS];
} clsm_request;

/* kernel_args.c: option tensor id of o (like strchr, it keeps o's constness to the caller),
 * and whether the kernels write it. */
clsm_tensor *clsm_option_tensor(const clsm_options *o, clsm_option_tensor_id id);
int clsm_option_tensor_written(clsm_option_tensor_id id);

/* Everything that changes a kernel's code: the family, the dtype and the flags of
 * CLSM_VARIANT_FLAGS (kernel_args.h). variant.c turns it into build options, which are also
 * the key of the program cache. */
#define CLSM_VARIANT_FIELD(field, FLAG, reach) long field;
typedef struct clsm_variant {
    clsm_family_id family;
    clsm_dtype dtype;
    /* group_size: compiled-in work-group size, 0 where the code does not depend on it;
     * items: regs' entries a work-item holds, 0 for the other families; backward: the
     * gradient kernels, which take the options that mask and the cap. */
    CLSM_VARIANT_FLAGS(CLSM_VARIANT_FIELD)
} clsm_variant;

/* The longest build options, with room for the longest family and dtype name and for every
 * flag's longest value (a long's 20 characters), and the terminating zero: a key is never
 * cut short. */
#define CLSM_FAMILY_NAME_MAX 7
#define CLSM_FLAG_LENGTH(field, FLAG, reach) +(sizeof " -D" #FLAG "=" - 1 + 20)
/* An enumerator, so that the X-macro expands here and not inside another of its expansions. */
enum {
    CLSM_OPTIONS_MAX = sizeof "-cl-std=CL1.2 -DFAMILY_=1 -DDTYPE_BF16=1" +
                       CLSM_FAMILY_NAME_MAX CLSM_VARIANT_FLAGS(CLSM_FLAG_LENGTH)
};

/* A launch's geometry and the values of the kernel arguments that depend on it. */
typedef struct clsm_geometry {
    size_t global, local;
    cl_uint bundle;         /* slices taken together: by a row work-item, a regs work-group */
    cl_ulong chunk, chunks; /* split, regs: chunk length, chunks per slice */
    unsigned items;         /* regs: entries a work-item holds, compiled in */
} clsm_geometry;

/* A kernel family: its code, the layouts it handles, how it is launched, and its quirks, so
 * that the launch (launch.c) treats every family alike. */
typedef struct clsm_family {
    const char *name; /* of CLSM_KERNEL and clsm_kernel_name() */
    /* After shared_constants.h, softmax_common.cl and softmax_entries.cl. */
    const char *sources[2];
    /* In launch order. With two, the first reduces chunks of slices into scratch, 3 reals
     * per chunk, and is skipped when the statistics are given, and where one_chunk_alone
     * and every slice is one chunk (g->chunks == 1): the last kernel then reduces it. */
    const char *kernels[2];
    int one_chunk_alone;
    /* The backward pass's counterparts: its source, after those of the forward's vector
     * helpers and backward_common.cl, and its kernels in launch order; with two, the first
     * sums chunks of slices into scratch, 3 reals per chunk. A family without them (NULL)
     * gives its backward pass to the family backward_family chooses. */
    const char *backward_source;
    const char *backward_kernels[2];
    clsm_family_id (*backward_family)(const clsm_context *ctx, clsm_shape shape);
    int (*fits)(clsm_shape shape);
    /* The largest work-group of each dtype, where the kernels' local memory holds fewer
     * work-items than the device may allow; 0: the device's (and the kernel's) limit. */
    size_t max_group[CLSM_DTYPE_COUNT];
    /* The kernels compile the work-group size in (-DWG): the launch builds them for the one
     * the geometry chooses. */
    int compiles_group_size;
    /* g->local holds the largest work-group size allowed on entry. */
    void (*geometry)(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g);
} clsm_family;

typedef struct clsm_program {
    char key[CLSM_OPTIONS_MAX]; /* the build options */
    int ready; /* built; until then the thread that added it is building it, unlocked */
    cl_program program;
    cl_kernel kernels[2]; /* the family's kernels, in launch order; the second may be NULL */
    size_t max_group_size; /* CL_KERNEL_WORK_GROUP_SIZE: can be below the device's */
    struct clsm_program *next;
} clsm_program;

/* The device buffers the host path copies through, reused across calls: the forward's x and
 * y, or the backward's y, dy (then dx) and x; the third only once a call needs it. */
typedef struct clsm_staging {
    cl_mem buffers[3];
    size_t capacity; /* of each */
    struct clsm_staging *next;
} clsm_staging;

typedef struct clsm_build_log {
    struct clsm_build_log *next;
    char text[];
} clsm_build_log;

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
    clsm_family_id forced_family; /* from CLSM_KERNEL, read once at creation */
    const clsm_tuning *tuning; /* of the device's class, chosen once at creation */
    char *cache_dir; /* of the on-disk program cache, NULL where it is off; read once at creation */
    /* Guards everything below, and clSetKernelArg through enqueue on the shared kernels;
     * never held through a kernel build. */
    pthread_mutex_t lock;
    pthread_cond_t program_ready; /* signalled when a program is built or its build fails */
    clsm_program *programs;
    clsm_staging *idle_staging;
    /* Every distinct log of a failed build, newest first; kept until the context is
     * released, as clsm_context_build_log() hands them out to any thread at any time. */
    clsm_build_log *build_logs;
};

/* status.c */
clsm_status clsm_status_from_cl(cl_int err);

/* device_select.c */
/* wanted as clsm_context_create_on_device()'s device: NULL or "" falls back to CLSM_DEVICE. */
clsm_status clsm_device_select(const char *wanted, cl_device_id *out);

/* validate.c */
size_t clsm_dtype_size(clsm_dtype dtype);
size_t clsm_real_size(clsm_dtype dtype); /* of sinks and statistics */
size_t clsm_mask_element_size(clsm_mask_type type);
/* Fills r; r->bytes is 0 for an empty tensor, which needs no other check. */
clsm_status clsm_validate_request(const clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                  clsm_shape shape, double scale, const clsm_options *options,
                                  clsm_request *r);
clsm_status clsm_validate_wait_list(const clsm_context *ctx, cl_uint num_events,
                                    const cl_event *events);
/* The tensors of a non-empty request: x, y and the options' host or buffer members. */
clsm_status clsm_validate_buffers(const clsm_context *ctx, const clsm_request *r, cl_mem x,
                                  size_t x_offset, cl_mem y, size_t y_offset);
clsm_status clsm_validate_host(const clsm_request *r, const void *x, void *y);
/* The backward pass's x (NULL where it is not read), y, dy and dx, and its options, which the
 * forward's rules check but for the sinks and ALiBi slopes, which it drops from r unread (the
 * gradient does not depend on them); statistics are refused. dx may be exactly y or dy, and
 * overlaps nothing otherwise. */
clsm_status clsm_validate_backward_buffers(const clsm_context *ctx, clsm_request *r, cl_mem x,
                                           size_t x_offset, cl_mem y, size_t y_offset, cl_mem dy,
                                           size_t dy_offset, cl_mem dx, size_t dx_offset);
clsm_status clsm_validate_backward_host(clsm_request *r, const void *x, const void *y,
                                        const void *dy, void *dx);

/* validate.c, for sampling (sample.c): its tensors, as clsm_sampling and the entry point hold
 * them, which the kernel takes in this order too (CLSM_SAMPLE_ARGS). */
typedef enum clsm_sample_tensor_id {
    CLSM_SAMPLE_T_TOKENS,
    CLSM_SAMPLE_T_LOGPROBS,
    CLSM_SAMPLE_T_TEMPERATURES,
    CLSM_SAMPLE_T_TOP_KS,
    CLSM_SAMPLE_T_TOP_PS,
    CLSM_SAMPLE_T_MIN_PS,
    CLSM_SAMPLE_T_SEEDS,
    CLSM_SAMPLE_TENSORS
} clsm_sample_tensor_id;
/* The bytes of one row's element of a sampling tensor in a call of dtype. */
size_t clsm_sample_element(clsm_dtype dtype, clsm_sample_tensor_id t);
/* A growing struct (clsoftmax.h) into the library's own, of own bytes. */
clsm_status clsm_read_grown(const void *given, void *out, size_t own, size_t min_size);
/* A temperature finite and >= 0; top_p and min_p in [0, 1]; NaN fails both. */
#define clsm_temperature_ok(t) (isfinite(t) && (t) >= 0)
#define clsm_fraction_ok(p) ((p) >= 0 && (p) <= 1)
/* The tensors of a validated sampling request (shape {rows, vocab, 1}): tensors are indexed
 * by clsm_sample_tensor_id; the host path also checks the per-row values. */
clsm_status clsm_validate_sample_host(const clsm_request *r, const void *logits,
                                      const clsm_tensor *tensors);
clsm_status clsm_validate_sample_buffers(const clsm_context *ctx, const clsm_request *r,
                                         cl_mem logits, size_t logits_offset,
                                         const clsm_tensor *tensors);

/* families.c */
const clsm_family *clsm_family_of(clsm_family_id family);

/* variant.c */
/* group_size 0; the launch sets it for the group family. */
clsm_variant clsm_variant_of(const clsm_request *r, clsm_family_id family, int write_y);
/* CLSM_ERROR_BUILD_FAILED where the options would not fit, which CLSM_OPTIONS_MAX rules out. */
clsm_status clsm_variant_options(const clsm_variant *v, char *options);

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

/* program.c: the sources of a variant's program, in order, into sources; returns their count. */
#define CLSM_PROGRAM_SOURCES_MAX 7
cl_uint clsm_program_sources(const clsm_variant *variant, const char **sources);
/* program.c: call without ctx->lock. The program stays valid until the context is released. */
const clsm_program *clsm_program_get(clsm_context *ctx, const clsm_variant *variant,
                                     clsm_status *status);
void clsm_programs_release(clsm_context *ctx);
/* The newest failed build's log, or "": valid until the context is released. */
const char *clsm_build_log_latest(clsm_context *ctx);
void clsm_build_logs_release(clsm_context *ctx);

/* launch.c: enqueue a validated, non-empty request; offsets in bytes; first is the index
 * of x's first outer slice in the caller's tensor (the host path runs in parts). */
clsm_status clsm_launch(clsm_context *ctx, const clsm_request *r, cl_mem x, size_t x_offset,
                        cl_mem y, size_t y_offset, size_t first, cl_uint num_events,
                        const cl_event *events, cl_event *event);

/* launch.c: the backward pass of a validated, non-empty request, as clsm_launch; x is NULL
 * without a cap. */
clsm_status clsm_launch_backward(clsm_context *ctx, const clsm_request *r, cl_mem x,
                                 size_t x_offset, cl_mem y, size_t y_offset, cl_mem dy,
                                 size_t dy_offset, cl_mem dx, size_t dx_offset, size_t first,
                                 cl_uint num_events, const cl_event *events, cl_event *event);

/* kernel_args.c: the values of a kernel's arguments, one field per argument of its list in
 * kernel_args.h (an option tensor: name and name_off), set by name; call with ctx->lock held. */
#define CLSM_ARG_FIELD(kind, type, name) CLSM_ARG_FIELD_##kind(type, name)
#define CLSM_ARG_FIELD_in(type, name) cl_mem name;
#define CLSM_ARG_FIELD_out(type, name) cl_mem name;
#define CLSM_ARG_FIELD_val(type, name) cl_##type name;
#define CLSM_ARG_FIELD_oval(type, name) cl_##type name;
#define CLSM_ARG_FIELD_opt_in(type, name) cl_mem name; cl_ulong name##_off;
#define CLSM_ARG_FIELD_opt_out(type, name) cl_mem name; cl_ulong name##_off;
#define CLSM_ARG_FIELD_scratch(type, name) cl_mem name;
typedef struct clsm_kernel_args {
    CLSM_FORWARD_ARGS(CLSM_ARG_FIELD, )
} clsm_kernel_args;
typedef struct clsm_backward_args {
    CLSM_BACKWARD_ARGS(CLSM_ARG_FIELD, )
} clsm_backward_args;
typedef struct clsm_sample_args {
    CLSM_SAMPLE_ARGS(CLSM_ARG_FIELD, )
} clsm_sample_args;
cl_int clsm_set_kernel_args(cl_kernel kernel, const clsm_kernel_args *a);
cl_int clsm_set_backward_args(cl_kernel kernel, const clsm_backward_args *a);
cl_int clsm_set_sample_args(cl_kernel kernel, const clsm_sample_args *a);
/* The name of argument index of a list's kernels, NULL past the last: what the kernels' own
 * argument names must read (tests/test_kernel_args.c). */
typedef enum { CLSM_ARGS_FORWARD, CLSM_ARGS_BACKWARD, CLSM_ARGS_SAMPLE } clsm_arg_list;
const char *clsm_kernel_arg_name(clsm_arg_list list, cl_uint index);

/* launch.c: the sampling kernel over rows first .. first + r->shape.outer - 1 of a validated,
 * non-empty request; tensors (clsm_sample_tensor_id) are buffers with byte offsets, the
 * per-row ones at their first row; flags are CLSM_SAMPLE_* (shared_constants.h). */
clsm_status clsm_launch_sample(clsm_context *ctx, const clsm_request *r, const clsm_sampling *s,
                               unsigned flags, cl_mem logits, size_t logits_offset,
                               const clsm_tensor *tensors, size_t first, cl_uint num_events,
                               const cl_event *events, cl_event *event);

/* host_path.c */
void clsm_staging_release_all(clsm_context *ctx);
/* An idle set of staging buffers, or a new empty one (NULL: out of memory); each thread in
 * flight holds its own, and gives it back. */
clsm_staging *clsm_staging_take(clsm_context *ctx);
void clsm_staging_return(clsm_context *ctx, clsm_staging *s);
/* The first count buffers of s, each of at least bytes. */
clsm_status clsm_staging_reserve(clsm_context *ctx, clsm_staging *s, size_t bytes, int count);
/* The option tensors a host call reads, copied to device buffers for the whole call, and the
 * one it writes; released by clsm_options_release. */
clsm_status clsm_options_to_device(clsm_context *ctx, clsm_request *r);
void clsm_options_release(clsm_request *r);

#endif
