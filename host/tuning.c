/* The thresholds and sizes that choose and shape the kernel families: one table per device class, and the values every class shares. */
#include "internal.h"

/*
 * Where each value comes from: a measurement where one exists (the commit, and the issue
 * whose closing note has the figures: `issues stops`), else "chosen, not measured" with the
 * reason the code gave when it came. Every measurement so far is PoCL on the project's CPU
 * machines (2 compute units); no GPU has ever run this library, so every GPU value is chosen.
 * The structural constants that size kernel arrays are not here: kernels/shared_constants.h.
 */

/* PoCL's CPU device and any other non-GPU: a work-group runs on one thread, a barrier
 * splitting it into loops, so slices go to work-items whole, walked with vectors. */
static const clsm_tuning cpu = {
    .name = "cpu",
    /* Measured (issue 3, c9991b5): one work-item per slice in 64-byte vectors; 65536x256
     * went from 2.3% of copy on group to 5.5% on item (af3561e, one work-item per slice)
     * and about 32% on row (issue 3's closing table). */
    .contiguous = CLSM_FAMILY_ROW,
    /* Measured (issue 3): 64x1024x64 went from 1.6% of copy on item to 12-24% on columns
     * (log-softmax from 23.8 ms to 3.0 ms); issue 11 added its slab path for inner < 16. */
    .strided = CLSM_FAMILY_COLUMNS,
    /* The family measured (issue 3, 9632546): 1x2^24 log-softmax took 8.6 ms on split and
     * 14.7 ms on row, which leaves every core but one idle; issue 11 found no gain from split
     * on 32x262144 (16 slices per compute unit). The bounds are chosen, not measured: fewer
     * slices than would give every core a few, each long enough to cut into chunks of
     * split_min_chunk. */
    .few_long = CLSM_FAMILY_SPLIT,
    .few_per_unit = 4,
    .few_min_axis = 16384,
    /* Chosen, not measured (c9991b5): a thread takes whole work-groups, and a few per core
     * balance the load. */
    .spread_groups_per_unit = 4,
    /* Chosen, not measured (issue 2, c9b9f14); a CPU runs group only when CLSM_KERNEL forces
     * it. */
    .group_size = 64,
    /* Chosen, not measured (9632546): a few chunks per core, as spread's work-groups. */
    .split_chunks_per_unit = 16,
};

/* GPUs: many work-groups in flight per compute unit, and reads that coalesce across
 * neighbouring work-items. */
static const clsm_tuning gpu = {
    .name = "gpu",
    /* Chosen, not measured on a GPU (issue 11, b7a4035): slices in registers, x read once
     * and y written once where a slice fits a work-group; oclgrind's counts (bench/traffic)
     * show the single read. */
    .contiguous = CLSM_FAMILY_REGS,
    .strided = CLSM_FAMILY_REGS,
    /* Never: regs cuts long slices into chunks itself. */
    .few_long = CLSM_FAMILY_REGS,
    .few_per_unit = 0,
    .few_min_axis = 0,
    /* Never spread: a GPU keeps many work-groups per compute unit; work-groups of
     * item_group_size. */
    .spread_groups_per_unit = 0,
    /* Chosen, not measured (issue 2, c9b9f14): a work-group per slice, wide enough to read
     * a slice coalesced; now only regs' backward pass chooses group. */
    .group_size = 256,
    /* Chosen, not measured (9632546): more chunks in flight than a CPU, as a GPU hides its
     * memory latency with many work-items. */
    .split_chunks_per_unit = 64,
};

const clsm_common_tuning clsm_common = {
    /* Chosen, not measured (issue 2, c9b9f14, then CLSM_ITEM_LOCAL_SIZE). */
    .item_group_size = 64,
    /* Chosen, not measured (c9b9f14, then CLSM_MAX_GROUPS): the kernels loop over the
     * work beyond it. */
    .max_item_groups = 65536,
    /* Chosen, not measured for speed (issue 11, 24bdd08; 65536 work-groups before): every
     * compute unit has many already, and the work-groups loop beyond. It lets oclgrind
     * check the "work-group takes a second task" path on 300 slices instead of 65537. */
    .groups_per_unit = 256,
    /* Chosen, not measured (issue 3, c9991b5): short slices are finished a vector's worth
     * at a time once every core still gets 16 work-items; a long slice goes alone, so that
     * it stays in cache for its last pass. */
    .row_bundle_max_axis = 1024,
    .row_bundle_items_per_unit = 16,
    /* Chosen, not measured (9632546): long enough that a chunk's fixed costs vanish, few
     * enough per slice that merging every state of its slice stays cheap for each chunk. */
    .split_min_chunk = 4096,
    .split_max_chunks = 1024,
    /* regs, chosen, not measured on a GPU (issue 11, b7a4035). Strided slices: 8 neighbours
     * per work-group make 32 bytes of f32 per row, a whole sector of a GPU's cache. */
    .regs_strided_cols = 8,
    /* Short slices share a work-group, so that none is mostly idle. */
    .regs_min_group = 64,
    /* A long slice's chunks are read twice: they are cut shorter than a work-group holds
     * only to give every compute unit regs_groups_per_unit work-groups, and never below
     * this. */
    .regs_min_chunk = 4096,
    .regs_groups_per_unit = 2,
    /* Not tuning: every chunk starts on a boundary of the kernel's vectors (RV, at most
     * 8 entries), so that contiguous chunks are read in whole vectors. */
    .regs_chunk_align = 16,
    /* The GPU choice from before regs, now regs' backward pass wherever regs runs (a CPU
     * runs it only when CLSM_KERNEL forces it). Chosen, not measured on a GPU: split for
     * fewer long slices than compute units, which would leave most of them idle (9632546);
     * item where a work-group and its barriers cost more than a short slice is worth, and
     * for strided slices, which read coalesced across work-items once there are enough of
     * them (issue 2, c9b9f14). */
    .regs_backward = {.split_per_unit = 1,
                      .split_min_axis = 65536,
                      .item_max_axis = 64,
                      .item_min_strided = 1024},
    /* Reasoned, not measured as a fraction (issue 11, 9329f8c): once x and y together would
     * fill half the cache, as it is shared and a line written through it is first read.
     * The rule before, one tensor at least the whole 48 MiB L3, never streamed a 32 MiB
     * tensor. */
    .stream_divisor = 4,
};

const clsm_tuning *clsm_tuning_of(cl_device_type type)
{
    return type & CL_DEVICE_TYPE_GPU ? &gpu : &cpu;
}
