/* The kernel families: for each, its sources and kernels, the layouts it fits, and its launch geometry. */
#include "internal.h"

/* Written by cmake/embed_kernels.cmake from the files in kernels/. */
extern const char clsm_src_softmax_item[];
extern const char clsm_src_softmax_group[];
extern const char clsm_src_softmax_vector[];
extern const char clsm_src_softmax_row[];
extern const char clsm_src_softmax_columns[];
extern const char clsm_src_softmax_split[];
extern const char clsm_src_backward_item[];
extern const char clsm_src_backward_group[];
extern const char clsm_src_backward_row[];
extern const char clsm_src_backward_columns[];
extern const char clsm_src_backward_split[];

/* Long enough that a chunk's fixed costs vanish, few enough per slice that merging every
 * state of its slice stays cheap for each chunk. */
#define SPLIT_MIN_CHUNK 4096u
#define SPLIT_MAX_CHUNKS 1024u

static size_t floor_pow2(size_t n)
{
    size_t p = 1;
    while (p * 2 <= n)
        p *= 2;
    return p;
}

static int is_gpu(const clsm_context *ctx)
{
    return (ctx->info.type & CL_DEVICE_TYPE_GPU) != 0;
}

static int fits_any(clsm_shape shape)
{
    (void)shape;
    return 1;
}

static int fits_rows(clsm_shape shape)
{
    return shape.inner == 1;
}

static int fits_strided(clsm_shape shape)
{
    return shape.inner > 1;
}

/* The work-group size for independent work-items, at most g->local: on a CPU, whose
 * threads take whole work-groups, a few groups per core balance the load. */
static void spread(const clsm_context *ctx, size_t work_items, clsm_geometry *g)
{
    size_t wanted = 64;
    if (!is_gpu(ctx)) {
        size_t per_group = work_items / (4 * (size_t)ctx->info.compute_units);
        wanted = per_group < 1 ? 1 : per_group < wanted ? per_group : wanted;
    }
    g->local = floor_pow2(wanted < g->local ? wanted : g->local);
    /* Capped: kernels loop over the work beyond it. */
    size_t groups = (work_items + g->local - 1) / g->local;
    g->global = (groups < 65536 ? groups : 65536) * g->local;
}

static void item_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    spread(ctx, shape.outer * shape.inner, g);
}

static void group_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    size_t wanted = is_gpu(ctx) ? 256 : 64;
    g->local = floor_pow2(wanted < g->local ? wanted : g->local);
    /* Capped where every compute unit has many groups already: work-groups loop over the
     * slices beyond. */
    size_t groups = shape.outer * shape.inner, most = 256 * (size_t)ctx->info.compute_units;
    g->global = (groups < most ? groups : most) * g->local;
}

/* Slices a row work-item finishes together: a vector's worth of short ones, once every
 * core still gets 16 work-items; a long slice alone, so that it stays in cache for its
 * last pass. */
static void row_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    g->batch = shape.axis <= 1024 &&
                       shape.outer >= CLSM_F32_LANES * 16 * (size_t)ctx->info.compute_units
                   ? CLSM_F32_LANES
                   : 1;
    spread(ctx, (shape.outer + g->batch - 1) / g->batch, g);
}

static void columns_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    spread(ctx, shape.outer * ((shape.inner + CLSM_F32_LANES - 1) / CLSM_F32_LANES), g);
}

static void split_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    size_t wanted = (is_gpu(ctx) ? 64 : 16) * (size_t)ctx->info.compute_units;
    size_t chunks = (wanted + shape.outer - 1) / shape.outer;
    size_t most = (shape.axis + SPLIT_MIN_CHUNK - 1) / SPLIT_MIN_CHUNK;
    if (chunks > most)
        chunks = most;
    if (chunks > SPLIT_MAX_CHUNKS)
        chunks = SPLIT_MAX_CHUNKS;
    if (chunks < 1)
        chunks = 1;
    size_t length = (shape.axis + chunks - 1) / chunks;
    /* Chunks start on a vector boundary. */
    length = (length + CLSM_F32_LANES - 1) / CLSM_F32_LANES * CLSM_F32_LANES;
    g->chunk = length;
    g->chunks = (shape.axis + length - 1) / length;
    /* Not capped: the scratch holds a state per chunk, and each work-item writes one. */
    size_t n = shape.outer * g->chunks;
    spread(ctx, n, g);
    g->global = (n + g->local - 1) / g->local * g->local;
}

const clsm_family *clsm_family_of(clsm_kernel_kind kind)
{
    static const clsm_family families[CLSM_KERNEL_KINDS] = {
        [CLSM_KERNEL_ITEM] = {"item", {clsm_src_softmax_item, NULL}, {"softmax_item", NULL},
                              clsm_src_backward_item, {"backward_item", NULL}, fits_any,
                              item_geometry},
        [CLSM_KERNEL_GROUP] = {"group", {clsm_src_softmax_group, NULL}, {"softmax_group", NULL},
                               clsm_src_backward_group, {"backward_group", NULL}, fits_any,
                               group_geometry},
        [CLSM_KERNEL_ROW] = {"row", {clsm_src_softmax_vector, clsm_src_softmax_row},
                             {"softmax_row", NULL}, clsm_src_backward_row,
                             {"backward_row", NULL}, fits_rows, row_geometry},
        [CLSM_KERNEL_COLUMNS] = {"columns", {clsm_src_softmax_vector, clsm_src_softmax_columns},
                                 {"softmax_columns", NULL}, clsm_src_backward_columns,
                                 {"backward_columns", NULL}, fits_strided, columns_geometry},
        [CLSM_KERNEL_SPLIT] = {"split", {clsm_src_softmax_vector, clsm_src_softmax_split},
                               {"softmax_split_states", "softmax_split_output"},
                               clsm_src_backward_split,
                               {"backward_split_sums", "backward_split_output"}, fits_rows,
                               split_geometry},
    };
    static const clsm_family automatic = {"auto", {NULL, NULL}, {NULL, NULL}, NULL,
                                         {NULL, NULL}, NULL, NULL};
    return kind > CLSM_KERNEL_AUTO && kind < CLSM_KERNEL_KINDS ? &families[kind] : &automatic;
}
