/* The kernel families: for each, its sources and kernels, the layouts it fits, its launch geometry and its quirks. */
#include "internal.h"

/* Written by cmake/embed_kernels.cmake from the files in kernels/. */
extern const char clsm_src_softmax_item[];
extern const char clsm_src_softmax_group[];
extern const char clsm_src_softmax_vector[];
extern const char clsm_src_softmax_row[];
extern const char clsm_src_softmax_columns[];
extern const char clsm_src_softmax_split[];
extern const char clsm_src_softmax_regs[];
extern const char clsm_src_backward_item[];
extern const char clsm_src_backward_group[];
extern const char clsm_src_backward_row[];
extern const char clsm_src_backward_columns[];
extern const char clsm_src_backward_split[];

static size_t floor_pow2(size_t n)
{
    size_t p = 1;
    while (p * 2 <= n)
        p *= 2;
    return p;
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
 * threads take whole work-groups, a few groups per core balance the load. The sizes are
 * tuning.c's. */
static void spread(const clsm_context *ctx, size_t work_items, clsm_geometry *g)
{
    size_t wanted = clsm_common.item_group_size;
    size_t per_unit = ctx->tuning->spread_groups_per_unit;
    if (per_unit) {
        size_t per_group = work_items / (per_unit * ctx->info.compute_units);
        wanted = per_group < 1 ? 1 : per_group < wanted ? per_group : wanted;
    }
    g->local = floor_pow2(wanted < g->local ? wanted : g->local);
    /* Capped: kernels loop over the work beyond it. */
    size_t groups = (work_items + g->local - 1) / g->local, most = clsm_common.max_item_groups;
    g->global = (groups < most ? groups : most) * g->local;
}

/* Work-groups launched at most by the families whose groups share work: every compute unit
 * has many already, and the groups loop over the work beyond. */
static size_t group_cap(const clsm_context *ctx)
{
    return clsm_common.groups_per_unit * ctx->info.compute_units;
}

static void item_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    spread(ctx, shape.outer * shape.inner, g);
}

static void group_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    size_t wanted = ctx->tuning->group_size;
    g->local = floor_pow2(wanted < g->local ? wanted : g->local);
    size_t groups = shape.outer * shape.inner, most = group_cap(ctx);
    g->global = (groups < most ? groups : most) * g->local;
}

/* The bundle of a row work-item, the slices it finishes together: a vector's worth of short
 * ones, once every core still gets enough work-items; a long slice alone, so that it stays
 * in cache for its last pass. */
static void row_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    size_t least = CLSM_LANES_F32 * clsm_common.row_bundle_items_per_unit *
                   ctx->info.compute_units;
    g->bundle = shape.axis <= clsm_common.row_bundle_max_axis && shape.outer >= least
                    ? CLSM_LANES_F32
                    : 1;
    spread(ctx, (shape.outer + g->bundle - 1) / g->bundle, g);
}

/* A columns work-item takes up to CLSM_COLUMNS_WIDE blocks of a vector's worth of columns. */
static void columns_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    size_t blocks = (shape.inner + CLSM_LANES_F32 - 1) / CLSM_LANES_F32;
    spread(ctx, shape.outer * ((blocks + CLSM_COLUMNS_WIDE - 1) / CLSM_COLUMNS_WIDE), g);
}

static void split_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    size_t wanted = ctx->tuning->split_chunks_per_unit * ctx->info.compute_units;
    size_t chunks = (wanted + shape.outer - 1) / shape.outer;
    size_t min_chunk = clsm_common.split_min_chunk;
    size_t most = (shape.axis + min_chunk - 1) / min_chunk;
    if (chunks > most)
        chunks = most;
    if (chunks > clsm_common.split_max_chunks)
        chunks = clsm_common.split_max_chunks;
    if (chunks < 1)
        chunks = 1;
    size_t length = (shape.axis + chunks - 1) / chunks;
    /* Chunks start on a vector boundary. */
    length = (length + CLSM_LANES_F32 - 1) / CLSM_LANES_F32 * CLSM_LANES_F32;
    g->chunk = length;
    g->chunks = (shape.axis + length - 1) / length;
    /* Not capped: the scratch holds a state per chunk, and each work-item writes one. */
    size_t n = shape.outer * g->chunks;
    spread(ctx, n, g);
    g->global = (n + g->local - 1) / g->local * g->local;
}

static size_t div_up(size_t a, size_t b)
{
    return (a + b - 1) / b;
}

static size_t ceil_pow2(size_t n)
{
    size_t p = 1;
    while (p < n)
        p *= 2;
    return p;
}

/* regs: a work-item holds CLSM_REGS_FEW (4) entries while a slice fits CLSM_REGS_FEW_GROUP
 * (256) work-items so, else CLSM_REGS_MANY (16), which a GPU keeps in registers beside the
 * rest at CLSM_REGS_MAX_GROUP (1024) work-items (NVIDIA's limit: 64 registers each). The
 * kernels size local memory by these work-group sizes (shared_constants.h); the other sizes
 * are tuning.c's. */
static void regs_geometry(const clsm_context *ctx, clsm_shape shape, clsm_geometry *g)
{
    const clsm_common_tuning *t = &clsm_common;
    size_t most = floor_pow2(g->local < CLSM_REGS_MAX_GROUP ? g->local : CLSM_REGS_MAX_GROUP);
    size_t cols = shape.inner > 1 && most >= t->regs_strided_cols ? t->regs_strided_cols : 1;
    size_t few_group = CLSM_REGS_FEW_GROUP < most ? CLSM_REGS_FEW_GROUP : most;
    g->items = div_up(shape.axis, CLSM_REGS_FEW) <= few_group / cols ? CLSM_REGS_FEW
                                                                     : CLSM_REGS_MANY;
    size_t group = g->items == CLSM_REGS_FEW ? few_group : most;
    size_t capacity = group / cols * g->items;
    size_t slices = shape.outer * shape.inner, length = shape.axis, chunks = 1;
    if (length > capacity) {
        chunks = div_up(length, capacity);
        size_t fill = div_up(t->regs_groups_per_unit * ctx->info.compute_units, slices);
        size_t most_chunks = div_up(length, t->regs_min_chunk);
        if (fill > most_chunks)
            fill = most_chunks;
        if (fill > chunks)
            chunks = fill;
        length = div_up(div_up(length, chunks), t->regs_chunk_align) * t->regs_chunk_align;
        chunks = div_up(shape.axis, length);
    }
    size_t parts = ceil_pow2(div_up(length, g->items));
    size_t local = parts * cols;
    size_t least = t->regs_min_group < group ? t->regs_min_group : group;
    g->local = local > least ? local : least;
    g->bundle = (cl_uint)(g->local / parts);
    g->chunk = length;
    g->chunks = chunks;
    size_t tasks = div_up(slices, g->bundle) * chunks, most_groups = group_cap(ctx);
    g->global = (tasks < most_groups ? tasks : most_groups) * g->local;
}

/* regs has no backward kernels: its backward pass goes to the family the GPUs chose before
 * regs came, by the bounds of clsm_common.regs_backward (tuning.c). */
static clsm_family_id regs_backward_family(const clsm_context *ctx, clsm_shape shape)
{
    const clsm_backward_choice *b = &clsm_common.regs_backward;
    /* Fewer long slices than compute units would leave most of them idle. */
    if (shape.inner == 1 && shape.outer < b->split_per_unit * ctx->info.compute_units &&
        shape.axis >= b->split_min_axis)
        return CLSM_FAMILY_SPLIT;
    /* A work-group and its barriers cost more than a short slice is worth. */
    if (shape.axis <= b->item_max_axis)
        return CLSM_FAMILY_ITEM;
    /* Strided slices read coalesced across work-items, once there are enough of them. */
    if (shape.inner > 1 && shape.outer * shape.inner >= b->item_min_strided)
        return CLSM_FAMILY_ITEM;
    return CLSM_FAMILY_GROUP;
}

const clsm_family *clsm_family_of(clsm_family_id family)
{
    static const clsm_family families[CLSM_FAMILY_COUNT] = {
        [CLSM_FAMILY_ITEM] = {.name = "item",
                              .sources = {clsm_src_softmax_item, NULL},
                              .kernels = {"softmax_item", NULL},
                              .backward_source = clsm_src_backward_item,
                              .backward_kernels = {"backward_item", NULL},
                              .fits = fits_any,
                              .geometry = item_geometry},
        [CLSM_FAMILY_GROUP] = {.name = "group",
                               .sources = {clsm_src_softmax_group, NULL},
                               .kernels = {"softmax_group", NULL},
                               .backward_source = clsm_src_backward_group,
                               .backward_kernels = {"backward_group", NULL},
                               .fits = fits_any,
                               .compiles_group_size = 1,
                               .geometry = group_geometry},
        [CLSM_FAMILY_ROW] = {.name = "row",
                             .sources = {clsm_src_softmax_vector, clsm_src_softmax_row},
                             .kernels = {"softmax_row", NULL},
                             .backward_source = clsm_src_backward_row,
                             .backward_kernels = {"backward_row", NULL},
                             .fits = fits_rows,
                             .geometry = row_geometry},
        [CLSM_FAMILY_COLUMNS] = {.name = "columns",
                                 .sources = {clsm_src_softmax_vector, clsm_src_softmax_columns},
                                 .kernels = {"softmax_columns", NULL},
                                 .backward_source = clsm_src_backward_columns,
                                 .backward_kernels = {"backward_columns", NULL},
                                 .fits = fits_strided,
                                 .geometry = columns_geometry},
        [CLSM_FAMILY_SPLIT] = {.name = "split",
                               .sources = {clsm_src_softmax_vector, clsm_src_softmax_split},
                               .kernels = {"softmax_split_states", "softmax_split_output"},
                               .backward_source = clsm_src_backward_split,
                               .backward_kernels = {"backward_split_sums",
                                                    "backward_split_output"},
                               .fits = fits_rows,
                               .geometry = split_geometry},
        /* Slices of one chunk need no states: softmax_regs reduces them itself. */
        [CLSM_FAMILY_REGS] = {.name = "regs",
                              .sources = {clsm_src_softmax_regs, NULL},
                              .kernels = {"softmax_regs_states", "softmax_regs"},
                              .one_chunk_alone = 1,
                              .backward_family = regs_backward_family,
                              .fits = fits_any,
                              .max_group = {[CLSM_F64] = CLSM_REGS_MAX_GROUP_F64},
                              .geometry = regs_geometry},
    };
    static const clsm_family automatic = {.name = "auto"};
    return family > CLSM_FAMILY_AUTO && family < CLSM_FAMILY_COUNT ? &families[family]
                                                                    : &automatic;
}
