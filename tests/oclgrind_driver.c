/* Calls clsoftmax for oclgrind to watch (tests/oclgrind_check): every kernel family, op, dtype and fused option on small shapes, forward and backward, and sampling on its one-work-item and 32-work-item paths. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "entries.h"
#include "reference.h"

/*
 * Linked with the shared test support for its data, reference and contract
 * checks, but none of its Criterion asserts: they need Criterion's runner.
 *
 *   oclgrind_driver FAMILY DTYPE             every case and op of a dtype, one context
 *   oclgrind_driver FAMILY DTYPE CASE OP     one call: for --uninitialized, and for
 *                                            cases that need other oclgrind options
 *   oclgrind_driver FAMILY DTYPE sample      every sampling case of a dtype
 *   oclgrind_driver FAMILY DTYPE CASE sample one sampling call
 *   oclgrind_driver --uninitialized-list     the one-call runs' arguments, one call a
 *                                            line, after '#' lines naming those left out
 *
 * Results are checked against the f64 reference; a wrong result, a failed
 * call or a forced family that did not run is printed on stderr and fails.
 */

typedef enum fill_kind {
    FILL_RANDOM, /* uniform in [-4, 4]; backward: y the forward of such x, dy in [-1, 1] */
    FILL_SPECIAL /* slice k follows special pattern k % N_PATTERNS (N_BWD_PATTERNS) */
} fill_kind;

typedef enum path_kind {
    PATH_HOST,
    PATH_OFFSETS,  /* the buffers entry point, every tensor at its own nonzero offset */
    PATH_IN_PLACE, /* the buffers entry point, y == x (backward: dx == dy) at one offset */
    PATH_IN_PLACE_Y /* the backward buffers entry point, dx == y at one offset */
} path_kind;

/* Bit f stands for ts_families[f]. */
enum { ITEM = 1, GROUP = 2, ROW = 4, COLUMNS = 8, SPLIT = 16, REGS = 32, ALL = 63 };

/* The ops a case runs: an option case runs one, as each op is a variant to compile. */
typedef enum op_set { BOTH_OPS, SOFTMAX_ONLY, LOG_SOFTMAX_ONLY } op_set;

/*
 * The fused options of a case, each set one kernel variant per family, dtype
 * and op, combined where the contract allows so that oclgrind compiles few:
 * mask, causal, sinks, ALiBi and kv_lengths need inner == 1, so the columns
 * family meets only the statistics sets and soft-capping; stats_in goes with
 * neither sinks nor stats_out.
 */
typedef enum option_set {
    OPTS_NONE,
    OPTS_ADD,        /* an additive mask, causal with an offset and a window, sinks, stats_out */
    OPTS_KEEP,       /* a keep-mask, causal with an offset that masks row 0 whole */
    OPTS_STATS_OUT,  /* stats_out alone, for the columns family, which takes no mask */
    OPTS_STATS_ONLY, /* stats_out with no y */
    OPTS_STATS_IN,   /* given statistics, some of them special */
    OPTS_BWD,        /* the backward's: an additive mask, causal with a window, kv_lengths, the cap */
    OPTS_BWD_CAP,    /* the backward's cap alone, for strided slices */
    /* soft-capping, ALiBi and kv_lengths (each batch entry shorter than the last), causal
     * with an offset and a window, stats_out */
    OPTS_V2_CAUSAL,
    /* soft-capping, ALiBi and kv_lengths below 0 and beyond axis, which only the buffers
     * path takes (it clamps them); no causal */
    OPTS_V2_CLAMPED,
    OPTS_SOFTCAP     /* soft-capping and stats_out, for the columns family */
} option_set;

/* How a mask is laid out over [batch, heads, rows, axis]. */
typedef enum mask_layout {
    LAYOUT_STRIDED,  /* every element its own, rows pitched, axis stride 2 */
    LAYOUT_BROADCAST /* [batch, 1, rows, axis]: heads broadcast, axis contiguous */
} mask_layout;

typedef struct option_spec {
    option_set set;
    mask_layout layout;
    size_t batch, heads; /* outer is [batch, heads, outer / (batch*heads)] */
    ptrdiff_t causal_offset;
    size_t window;
} option_spec;

typedef struct test_case {
    const char *name;
    clsm_shape shape;
    float scale;
    fill_kind fill;
    path_kind path;
    unsigned skip; /* families whose runs over every case leave it out; it runs by name */
    op_set ops;
    option_spec opts;
    bool backward;   /* clsm_softmax_backward_*: dx from y and dy */
    bool races_only; /* left out of the --uninitialized runs, which take a process per call */
} test_case;

/* The forward calls, in the --uninitialized runs too, or not. */
#define FWD false, false
#define FWD_RACES false, true
/* Both ops, no options: the v1 calls. */
#define V1 BOTH_OPS, {OPTS_NONE, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD
/* Both ops of the backward pass, also in the --uninitialized runs or not. */
#define BWD BOTH_OPS, {OPTS_NONE, LAYOUT_STRIDED, 0, 0, 0, 0}, true, false
#define BWD_RACES BOTH_OPS, {OPTS_NONE, LAYOUT_STRIDED, 0, 0, 0, 0}, true, true

/*
 * Sizes are for the device oclgrind simulates (a GPU with one compute unit):
 * the group kernel runs 256 work-items per slice (16 in oclgrind_check's
 * runs over every case), the row kernel takes 16 slices at a time from 256
 * slices on, and the split kernel cuts a slice into chunks of at least 4096
 * elements (two for 4500, so that chunk states with +inf or fully masked
 * meet). The group kernel's work-items cost oclgrind the most, so it skips
 * most cases of many slices, which are there for the row and columns kernels' batches;
 * it and the item kernel, which walks a slice alone, skip the split family's
 * special values, offsets and in place on long slices, having them on short ones.
 */
static const test_case cases[] = {
    {"axis1", {3, 1, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    {"axis3", {5, 3, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    {"axis17", {3, 17, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    {"axis100", {2, 100, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    {"axis700", {2, 700, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    /* More slices than the 256 work-groups per compute unit (oclgrind has one) that the
     * group kernel launches at most, so that a work-group takes a second slice after the
     * barrier that guards slot 0 of its local arrays. */
    {"rows300x3", {300, 3, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    {"rows260x17", {260, 17, 1}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP, V1},
    {"inner3", {2, 17, 3}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    {"inner16", {2, 9, 16}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP, V1},
    {"inner35", {2, 5, 35}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP, V1},
    {"inner4x300", {1, 300, 4}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    /* The columns kernel's slabs (inner < 16): a tail after whole vectors everywhere; slab 1
     * of special-slab meets a NaN, -inf, the largest values and subnormals with finite
     * shifts, its neighbours infinities; in-place-slab has a period of 3 vectors, and
     * offsets-slab fewer vectors (11) than its period (15). The item kernel has the same
     * layouts in inner3 and the *-inner cases. */
    {"special-slab", {3, 9, 5}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP | ITEM, V1},
    {"in-place-slab", {3, 7, 6}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, GROUP | ITEM, V1},
    {"offsets-slab", {2, 11, 15}, -0.5f, FILL_RANDOM, PATH_OFFSETS, GROUP | ITEM, V1},
    {"split9000", {2, 9000, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, V1},
    {"special", {10, 20, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, 0, V1},
    {"special-rows", {272, 5, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP, V1},
    {"special-inner", {2, 20, 16}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP, V1},
    {"special-split", {4, 4500, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP | ITEM, V1},
    {"scale0", {10, 20, 1}, 0.0f, FILL_SPECIAL, PATH_HOST, 0, V1},
    {"scale-neg", {10, 20, 1}, -0.75f, FILL_SPECIAL, PATH_HOST, 0, V1},
    {"scale-neg-inner", {2, 9, 16}, -2.0f, FILL_RANDOM, PATH_HOST, GROUP, V1},
    {"offsets", {3, 17, 1}, 1.0f, FILL_RANDOM, PATH_OFFSETS, 0, V1},
    {"offsets-inner", {2, 9, 35}, 1.0f, FILL_RANDOM, PATH_OFFSETS, GROUP, V1},
    {"offsets-split", {1, 9000, 1}, 1.0f, FILL_RANDOM, PATH_OFFSETS, GROUP | ITEM, V1},
    {"in-place", {3, 17, 1}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, 0, V1},
    {"in-place-inner", {2, 9, 35}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, GROUP, V1},
    {"in-place-split", {1, 9000, 1}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, GROUP | ITEM, V1},
    /* More tasks than the 256 work-groups per compute unit (oclgrind has one) that the regs
     * kernel launches at most, so that a work-group takes a second task after the barriers
     * of a first. Run by name only, on work-groups of 2 (oclgrind --max-wgsize 2), where
     * each of its 300 tasks is a pair of slices. */
    {"regs-loop", {600, 5, 1}, 1.0f, FILL_RANDOM, PATH_HOST, ALL, V1},
    /* The options. Each layout of each mask meets a path of its own, and the long rows
     * give the split family two chunks, the first fully masked by the window. Special
     * values meet keep-masks and statistics only: beside an additive mask, values near
     * the largest finite one lose the mask in the compute type's u, which says little
     * about the kernels' memory accesses. */
    {"add-strided", {12, 37, 1}, 0.75f, FILL_RANDOM, PATH_HOST, 0, SOFTMAX_ONLY,
     {OPTS_ADD, LAYOUT_STRIDED, 2, 2, 34, 18}, FWD},
    {"add-broadcast", {12, 37, 1}, 0.75f, FILL_RANDOM, PATH_OFFSETS, 0, SOFTMAX_ONLY,
     {OPTS_ADD, LAYOUT_BROADCAST, 2, 2, 34, 18}, FWD},
    {"add-split", {4, 4500, 1}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP | ITEM, SOFTMAX_ONLY,
     {OPTS_ADD, LAYOUT_BROADCAST, 1, 2, 4498, 300}, FWD},
    {"keep-strided", {12, 20, 1}, -1.5f, FILL_RANDOM, PATH_IN_PLACE, 0, LOG_SOFTMAX_ONLY,
     {OPTS_KEEP, LAYOUT_STRIDED, 1, 3, -1, 0}, FWD},
    {"keep-broadcast", {12, 20, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, 0, LOG_SOFTMAX_ONLY,
     {OPTS_KEEP, LAYOUT_BROADCAST, 1, 3, -1, 0}, FWD},
    {"stats-out-inner", {2, 9, 5}, 0.5f, FILL_SPECIAL, PATH_OFFSETS, ITEM | GROUP,
     LOG_SOFTMAX_ONLY, {OPTS_STATS_OUT, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD},
    {"stats-only", {6, 29, 1}, 1.0f, FILL_SPECIAL, PATH_OFFSETS, 0, SOFTMAX_ONLY,
     {OPTS_STATS_ONLY, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD},
    {"stats-only-inner", {2, 9, 5}, 2.0f, FILL_RANDOM, PATH_HOST, 0, SOFTMAX_ONLY,
     {OPTS_STATS_ONLY, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD},
    {"stats-only-split", {2, 4500, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP | ITEM, SOFTMAX_ONLY,
     {OPTS_STATS_ONLY, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD},
    {"stats-in", {6, 29, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, LOG_SOFTMAX_ONLY,
     {OPTS_STATS_IN, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD},
    {"stats-in-inner", {2, 9, 5}, 0.5f, FILL_RANDOM, PATH_OFFSETS, 0, LOG_SOFTMAX_ONLY,
     {OPTS_STATS_IN, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD},
    {"stats-in-split", {6, 4500, 1}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, GROUP | ITEM,
     LOG_SOFTMAX_ONLY, {OPTS_STATS_IN, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD},
    /* The v2 options read a slope per head and a length per batch entry, and the lengths
     * cut the ranges every path walks: rows aligned to the bottom right of each entry's
     * kept columns with causal, and clamped to [0, axis] on the buffers path without. The
     * rows of 300 give the regs family two chunks on work-groups of 16, the second fully
     * masked in batch entry 1; those of 4500 the split family two chunks. Soft-capping
     * reads nothing: it rides along, and meets the columns family on its own. */
    {"v2-causal", {12, 300, 1}, 0.5f, FILL_RANDOM, PATH_HOST, 0, SOFTMAX_ONLY,
     {OPTS_V2_CAUSAL, LAYOUT_STRIDED, 2, 2, 1, 90}, FWD},
    {"v2-causal-split", {4, 4500, 1}, 1.0f, FILL_RANDOM, PATH_OFFSETS, GROUP | ITEM | REGS,
     SOFTMAX_ONLY, {OPTS_V2_CAUSAL, LAYOUT_STRIDED, 2, 1, 0, 2000}, FWD_RACES},
    {"v2-clamped", {12, 37, 1}, 1.0f, FILL_SPECIAL, PATH_OFFSETS, 0, LOG_SOFTMAX_ONLY,
     {OPTS_V2_CLAMPED, LAYOUT_STRIDED, 3, 2, 0, 0}, FWD},
    {"softcap-inner", {2, 9, 5}, 2.0f, FILL_SPECIAL, PATH_OFFSETS, ITEM | GROUP | REGS,
     SOFTMAX_ONLY, {OPTS_SOFTCAP, LAYOUT_STRIDED, 0, 0, 0, 0}, FWD},
    /* The backward pass, whose kernels mirror the forward ones family by family: the same
     * layouts, with one more input. A single-call process costs about as much as a whole
     * family's run of races, so the --uninitialized runs take the cases that reach each
     * kernel's distinct paths (short, batched, strided, split; special values; in place on
     * both inputs) and leave out the repeats. */
    {"bwd-axis17", {3, 17, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0, BWD},
    {"bwd-axis700", {2, 700, 1}, -0.5f, FILL_RANDOM, PATH_HOST, 0, BWD_RACES},
    {"bwd-rows300x3", {300, 3, 1}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP, BWD},
    {"bwd-inner3", {2, 17, 3}, 1.0f, FILL_RANDOM, PATH_HOST, 0, BWD_RACES},
    {"bwd-inner35", {2, 5, 35}, 2.0f, FILL_RANDOM, PATH_HOST, GROUP, BWD},
    {"bwd-split9000", {2, 9000, 1}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP | ITEM, BWD_RACES},
    {"bwd-special", {16, 20, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, 0, BWD},
    {"bwd-special-inner", {2, 9, 16}, -1.5f, FILL_SPECIAL, PATH_HOST, GROUP, BWD_RACES},
    {"bwd-special-split", {8, 4500, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP | ITEM, BWD_RACES},
    {"bwd-scale0", {4, 20, 1}, 0.0f, FILL_SPECIAL, PATH_HOST, 0, BWD_RACES},
    {"bwd-offsets", {3, 17, 1}, 1.0f, FILL_RANDOM, PATH_OFFSETS, 0, BWD},
    {"bwd-offsets-inner", {2, 9, 35}, 1.0f, FILL_RANDOM, PATH_OFFSETS, GROUP, BWD_RACES},
    {"bwd-offsets-split", {1, 9000, 1}, 1.0f, FILL_RANDOM, PATH_OFFSETS, GROUP | ITEM, BWD},
    {"bwd-in-place-dy", {3, 17, 1}, 0.75f, FILL_SPECIAL, PATH_IN_PLACE, 0, BWD},
    {"bwd-in-place-y", {2, 9, 35}, 1.0f, FILL_RANDOM, PATH_IN_PLACE_Y, GROUP, BWD},
    {"bwd-in-place-split", {1, 9000, 1}, 1.0f, FILL_RANDOM, PATH_IN_PLACE_Y, GROUP | ITEM,
     BWD_RACES},
    /* Longer than the group kernel keeps in local memory (2048 elements, 1024 for F64), so
     * that it reads the slice again for the update, here over the dy it writes. */
    {"bwd-uncached", {1, 2500, 1}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, 0, BWD},
    /* The backward with the forward's options, on the host path: each mask layout, rows cut
     * by causal, window and KV length on either side of split's chunks, and the cap's
     * factor read from x, also in the columns family's lanes. */
    {"bwd-opts", {12, 37, 1}, 0.75f, FILL_RANDOM, PATH_HOST, 0, LOG_SOFTMAX_ONLY,
     {OPTS_BWD, LAYOUT_STRIDED, 2, 2, 0, 18}, true, false},
    {"bwd-opts-split", {4, 4500, 1}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP | ITEM, SOFTMAX_ONLY,
     {OPTS_BWD, LAYOUT_BROADCAST, 1, 2, 0, 3000}, true, true},
    {"bwd-cap-inner", {2, 9, 16}, -1.5f, FILL_RANDOM, PATH_HOST, GROUP, SOFTMAX_ONLY,
     {OPTS_BWD_CAP, LAYOUT_STRIDED, 0, 0, 0, 0}, true, false},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/*
 * Sampling: a work-group of one work-item a row on the CPU families, 32 with barriers on the
 * GPU ones, both in kernels/sample.cl; tests/oclgrind_check runs the cases on row and group,
 * which take one path each. Every case's rows hold a NaN in row 1, only -inf in row 2 and
 * every other entry -inf in row 3, values uniform in [-4, 4] elsewhere (levels: four values,
 * so that ties meet the cuts). The calls go through the entries table (ts_run): on the
 * buffers path every tensor, per-row ones included, in a buffer of its own at an offset and
 * before a pad, a write outside the outputs caught; ts_check_result judges the tokens and
 * logprobs. The vocabulary of 300 gives the 32 work-items 10 entries each, the one work-item
 * whole vectors and a tail; top-k past 64 takes the radix select.
 */
typedef struct sample_case {
    const char *name;
    size_t rows, vocab;
    float scale, temperature;
    uint32_t top_k;
    float top_p, min_p;
    bool buffers;  /* clsm_sample_buffers, else clsm_sample_host */
    bool per_row;  /* ts_sampling_make's per-row tensors, seeds and logprobs; else the scalars */
    bool options;  /* ts_options_make's: additive mask, causal with a window, ALiBi, kv_lengths
                    * and the cap, which take the scalar path */
    bool levels;
    bool logprobs; /* with the scalars */
} sample_case;

static const sample_case sample_cases[] = {
    {"sample-greedy", 6, 300, 1.0f, 0, 0, 0, 0, false, false, false, false, true},
    {"sample-temperature", 6, 300, -0.5f, 0.7f, 0, 0, 0, true, false, false, false, false},
    {"sample-top-k-top-p", 6, 300, 1.0f, 1, 50, 0.9f, 0, false, false, false, false, true},
    {"sample-min-p", 6, 300, 1.0f, 1, 0, 0, 0.05f, true, false, false, false, true},
    {"sample-top-p", 6, 300, 1.0f, 1.3f, 0, 0.6f, 0, false, false, false, false, false},
    {"sample-top-k-radix", 6, 300, 1.0f, 1, 200, 0, 0, true, false, false, false, true},
    {"sample-ties", 6, 64, 1.0f, 1, 10, 0.5f, 0, false, false, false, true, true},
    {"sample-per-row", 8, 300, 1.0f, 0, 0, 0, 0, true, true, false, false, false},
    {"sample-options", 6, 100, 0.5f, 0.8f, 50, 0.9f, 0, false, false, true, false, true},
    {"sample-options-per-row", 8, 100, 1.0f, 0, 0, 0, 0, true, true, true, false, false},
};
#define N_SAMPLE_CASES (sizeof sample_cases / sizeof sample_cases[0])

#define DTYPE_BIT(d) (1u << (d))
#define NARROW_AND_F32 (DTYPE_BIT(CLSM_F32) | DTYPE_BIT(CLSM_F16) | DTYPE_BIT(CLSM_BF16))

/*
 * Calls that oclgrind 21.10's --uninitialized plugin cannot follow, left out
 * of its runs (the other checks still run them): a family, its dtypes, and
 * the cases that do not reach the construct. Delete a row once the kernels
 * avoid its construct.
 *
 * The plugin crashes on any vector built from two vectors, such as
 * (float16)(p.lo, q.lo), and reports false uninitialised values after some
 * swizzles of one (.hi, .odd). lanes_max and lanes_sum finish 16 ranges at once
 * with such concatenations on 16-lane f32 vectors; written through private
 * arrays instead, which the plugin follows, row and split ran 1.2 to 3 times
 * slower on PoCL with AVX-512, so they keep the concatenations. F64 (8 lanes)
 * takes the array path and is checked.
 */
static const struct {
    const char *family;
    unsigned dtypes;
    const char *why;
} uninitialized_faults[] = {
    {"row", NARROW_AND_F32, "vector concatenations in lanes_max and lanes_sum crash the plugin"},
    {"split", NARROW_AND_F32, "vector concatenations in lanes_max and lanes_sum crash the plugin"},
};
#define N_UNINITIALIZED_FAULTS (sizeof uninitialized_faults / sizeof uninitialized_faults[0])

/* Elements before x and y on the buffer paths, and after both, that must keep their bytes. */
#define X_PAD 3
#define Y_PAD 5
#define IN_PLACE_PAD 7
#define TAIL_PAD 4
/* Bytes before each option tensor on the buffers paths: a multiple of every element size. */
#define OPTION_PAD 24

#define N_PATTERNS 9
#define N_BWD_PATTERNS 8
/* Elements before dy on the backward buffers path, beside X_PAD before y and Y_PAD before dx. */
#define DY_PAD 6

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "oclgrind_driver: out of host memory for %zu bytes\n", bytes);
        exit(2);
    }
    return p;
}

/* Element j of a slice of pattern p; r is a random finite value for the plain entries. */
static double special_value(size_t p, size_t j, size_t axis, clsm_dtype dtype, double r)
{
    double max = ts_dtype_max(dtype), tiny = ts_dtype_denorm_min(dtype);
    switch (p) {
    case 0: /* a NaN among finite values */
        return j == axis / 2 ? NAN : r;
    case 1: /* one +inf takes all the mass */
        return j == axis / 3 ? INFINITY : r;
    case 2: /* two +inf share it */
        return j == 0 || j == axis - 1 ? INFINITY : r;
    case 3: /* fully masked */
        return -INFINITY;
    case 4: /* masked but one */
        return j == axis / 3 ? r : -INFINITY;
    case 5: /* the largest finite values, whose differences overflow */
        return j % 2 ? -max : max;
    case 6: /* subnormals */
        return ((double)(j % 5) - 2) * tiny;
    case 7: /* -inf, the largest value and ordinary ones */
        return j == 0 ? -INFINITY : j == 1 ? max : r;
    default:
        return r;
    }
}

static void fill(const test_case *c, clsm_dtype dtype, void *x, uint64_t seed)
{
    clsm_shape s = c->shape;
    ts_rng r = ts_rng_seed(seed);
    for (size_t o = 0; o < s.outer; o++) {
        for (size_t i = 0; i < s.inner; i++) {
            size_t slice = o * s.inner + i;
            for (size_t j = 0; j < s.axis; j++) {
                double v = ts_rng_uniform(&r, -4, 4);
                if (c->fill == FILL_SPECIAL)
                    v = special_value(slice % N_PATTERNS, j, s.axis, dtype, v);
                ts_store(dtype, x, (o * s.axis + j) * s.inner + i, v);
            }
        }
    }
}

/*
 * y and dy of a backward case: y the forward of x uniform in [-4, 4] (a softmax or log-softmax
 * output, as in training), dy uniform in [-1, 1]; on special slices, then, the patterns of
 * the backward rule. A masked entry is y = 0 (softmax) or -inf (log-softmax).
 */
static void fill_backward(const test_case *c, clsm_dtype dtype, clsm_op op, void *y, void *dy,
                          uint64_t seed)
{
    clsm_shape s = c->shape;
    size_t n = ts_count(s);
    const double masked = op == CLSM_SOFTMAX ? 0.0 : -INFINITY;
    void *x = xmalloc(n * ts_dtype_size(dtype));
    ts_rng r = ts_rng_seed(seed);
    ts_fill_uniform(&r, dtype, x, n, -4, 4);
    double *forward = xmalloc(n * sizeof *forward);
    ref_softmax(op, dtype, s, 1.0f, x, forward);
    r = ts_rng_seed(seed + 1);
    for (size_t o = 0; o < s.outer; o++) {
        for (size_t i = 0; i < s.inner; i++) {
            size_t p = (o * s.inner + i) % N_BWD_PATTERNS;
            for (size_t j = 0; j < s.axis; j++) {
                size_t at = (o * s.axis + j) * s.inner + i;
                double yv = forward[at], dyv = ts_rng_uniform(&r, -1, 1);
                if (c->fill == FILL_SPECIAL) {
                    switch (p) {
                    case 0: /* a NaN in y */
                        yv = j == s.axis / 2 ? NAN : yv;
                        break;
                    case 1: /* a NaN in dy */
                        dyv = j == s.axis / 3 ? NAN : dyv;
                        break;
                    case 2: /* masked entries whose dy is infinite: the zero factor wins;
                             * log-softmax's sum of dy is then +inf */
                        if (j % 3 == 1) {
                            yv = masked;
                            dyv = op == CLSM_SOFTMAX && j % 2 ? -INFINITY : INFINITY;
                        }
                        break;
                    case 3: /* masked entries with finite dy */
                        yv = j % 3 == 0 ? masked : yv;
                        break;
                    case 4: /* fully masked, one dy infinite */
                        yv = masked;
                        dyv = j == 0 ? INFINITY : dyv;
                        break;
                    case 5: /* an infinite dy where y is not masked: inf - inf there */
                        dyv = j == s.axis - 1 ? -INFINITY : dyv;
                        break;
                    case 6: /* tiny factors: subnormal y (softmax), exp(y) near and past
                             * the compute type's underflow (log-softmax) */
                        yv = op == CLSM_SOFTMAX ? (double)(j % 5) * ts_dtype_denorm_min(dtype)
                                                : -81.0 - 2.0 * (double)j;
                        break;
                    default:
                        break;
                    }
                }
                ts_store(dtype, y, at, yv);
                ts_store(dtype, dy, at, dyv);
            }
        }
    }
    free(forward);
    free(x);
}

/* The host tensors of a case's options, with their sizes in bytes for the buffers path. */
typedef struct option_data {
    clsm_options o; /* stats_out.host is where the call writes its statistics */
    bool no_y;
    size_t mask_bytes, sinks_bytes, stats_bytes, slopes_bytes, lengths_bytes;
} option_data;

/* The option tensors, in the order of option_data's sizes. */
#define OPTION_TENSORS 6
static void option_tensors(clsm_options *o, clsm_tensor **t)
{
    t[0] = &o->mask, t[1] = &o->sinks, t[2] = &o->stats_in, t[3] = &o->stats_out;
    t[4] = &o->alibi_slopes, t[5] = &o->kv_lengths;
}

/* Sinks and statistics are f32, f64 for F64 calls. */
static clsm_dtype stat_dtype(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
}

/* One additive type per dtype, so that each family meets all three while compiling a single
 * mask variant per dtype and op. */
static clsm_mask_type additive_mask_for(clsm_dtype dtype)
{
    return dtype == CLSM_F32 ? CLSM_MASK_ADD_F16
           : dtype == CLSM_F16 ? CLSM_MASK_ADD_BF16
           : dtype == CLSM_BF16 ? CLSM_MASK_ADD_F32
                                : CLSM_MASK_ADD_BF16;
}

/* Sets the mask strides of a layout and returns the elements the mask needs. */
static size_t set_mask_layout(clsm_options *o, size_t axis, mask_layout layout)
{
    size_t *s = o->mask_stride;
    if (layout == LAYOUT_BROADCAST) {
        s[0] = o->rows * axis, s[1] = 0, s[2] = axis, s[3] = 1;
        return o->batch * o->rows * axis;
    }
    const size_t pitch = 2 * axis + 3;
    s[0] = o->heads * o->rows * pitch, s[1] = o->rows * pitch, s[2] = pitch, s[3] = 2;
    return o->batch * o->heads * o->rows * pitch;
}

/* Every element different, so that a wrong stride reads other values: additive ones in
 * [-3, 3] with about one in six -inf, keep bytes 0 about a third of the time. */
static void *random_mask(clsm_mask_type type, size_t n, ts_rng *r)
{
    void *m = xmalloc(n * (type == CLSM_MASK_ADD_F32 ? 4 : type == CLSM_MASK_KEEP_U8 ? 1 : 2));
    for (size_t i = 0; i < n; i++) {
        if (type == CLSM_MASK_KEEP_U8) {
            ((unsigned char *)m)[i] =
                ts_rng_below(r, 3) == 0 ? 0 : (unsigned char)(1 + ts_rng_below(r, 255));
            continue;
        }
        double v = ts_rng_below(r, 6) == 0 ? -INFINITY : ts_rng_uniform(r, -3, 3);
        ts_store(type == CLSM_MASK_ADD_F32   ? CLSM_F32
                 : type == CLSM_MASK_ADD_F16 ? CLSM_F16
                                             : CLSM_BF16,
                 m, i, v);
    }
    return m;
}

/* The options of case c for data x of dtype, or false for a case without options. */
static bool make_options(const test_case *c, clsm_dtype dtype, const void *x, uint64_t seed,
                         option_data *d)
{
    const option_spec *spec = &c->opts;
    memset(d, 0, sizeof *d);
    if (spec->set == OPTS_NONE)
        return false;
    const clsm_dtype sd = stat_dtype(dtype);
    const size_t ss = ts_dtype_size(sd), slices = c->shape.outer * c->shape.inner;
    clsm_options *o = &d->o;
    o->struct_size = sizeof *o;
    ts_rng r = ts_rng_seed(seed);
    if (spec->batch > 0) {
        o->batch = spec->batch;
        o->heads = spec->heads;
        o->rows = c->shape.outer / (spec->batch * spec->heads);
    }
    if (spec->set == OPTS_ADD || spec->set == OPTS_KEEP || spec->set == OPTS_BWD) {
        o->mask_type = spec->set == OPTS_KEEP ? CLSM_MASK_KEEP_U8 : additive_mask_for(dtype);
        size_t n = set_mask_layout(o, c->shape.axis, spec->layout);
        o->mask.host = random_mask(o->mask_type, n, &r);
        d->mask_bytes = n * (o->mask_type == CLSM_MASK_ADD_F32    ? 4
                             : o->mask_type == CLSM_MASK_KEEP_U8 ? 1
                                                                 : 2);
        o->causal = 1;
        o->causal_offset = spec->causal_offset;
        o->window = spec->window;
    }
    if (spec->set == OPTS_ADD) {
        /* Head 0's sink is -inf, which must change nothing. */
        d->sinks_bytes = o->heads * ss;
        o->sinks.host = xmalloc(d->sinks_bytes);
        for (size_t h = 0; h < o->heads; h++)
            ts_store(sd, o->sinks.host, h, h == 0 ? -INFINITY : ts_rng_uniform(&r, -2, 3));
    }
    if (spec->set == OPTS_BWD || spec->set == OPTS_BWD_CAP) {
        /* The gradient takes no statistics. Batch entry b keeps all but 1 + b*axis/3. */
        o->softcap = 2.0f;
        if (spec->set == OPTS_BWD) {
            d->lengths_bytes = o->batch * sizeof(int32_t);
            int32_t *len = xmalloc(d->lengths_bytes);
            for (size_t b = 0; b < o->batch; b++)
                len[b] = (int32_t)(c->shape.axis - 1 - b * c->shape.axis / 3);
            o->kv_lengths.host = len;
        }
        return true;
    }
    d->stats_bytes = 2 * slices * ss;
    if (spec->set == OPTS_STATS_IN) {
        /* The slices' own statistics, but for the special ones: a NaN, a fully masked slice
         * by its -inf max and by its zero sum, and a +inf max that none of x reaches. */
        double *own = xmalloc(2 * slices * sizeof *own);
        ref_softmax_ex(CLSM_SOFTMAX, dtype, c->shape, c->scale, NULL, x, NULL, own);
        static const double special[][2] = {{NAN, 1}, {-INFINITY, 0}, {1.5, 0}, {INFINITY, 2}};
        for (size_t k = 0; k < 4 && k < slices; k++)
            own[2 * k] = special[k][0], own[2 * k + 1] = special[k][1];
        o->stats_in.host = xmalloc(d->stats_bytes);
        for (size_t i = 0; i < 2 * slices; i++)
            ts_store(sd, o->stats_in.host, i, own[i]);
        free(own);
    } else if (spec->set != OPTS_KEEP && spec->set != OPTS_V2_CLAMPED) {
        o->stats_out.host = xmalloc(d->stats_bytes);
        ts_fill_sentinel(o->stats_out.host, d->stats_bytes);
    }
    d->no_y = spec->set == OPTS_STATS_ONLY;
    if (spec->set == OPTS_V2_CAUSAL || spec->set == OPTS_V2_CLAMPED || spec->set == OPTS_SOFTCAP)
        o->softcap = 5;
    if (spec->set == OPTS_V2_CAUSAL || spec->set == OPTS_V2_CLAMPED) {
        d->slopes_bytes = o->heads * ss;
        o->alibi_slopes.host = xmalloc(d->slopes_bytes);
        clsm_alibi_slopes(sd, o->heads, 8.0, 0, o->heads, o->alibi_slopes.host);
        d->lengths_bytes = o->batch * sizeof(int32_t);
        int32_t *len = xmalloc(d->lengths_bytes);
        const int32_t axis = (int32_t)c->shape.axis;
        for (size_t b = 0; b < o->batch; b++)
            len[b] = spec->set == OPTS_V2_CAUSAL ? axis - 3 - (int32_t)b * axis / 3
                     : b % 3 == 0                ? -3
                     : b % 3 == 1                ? axis / 2
                                                 : axis + 5;
        o->kv_lengths.host = len;
    }
    if (spec->set == OPTS_V2_CAUSAL) {
        o->causal = 1;
        o->causal_offset = spec->causal_offset;
        o->window = spec->window;
    }
    return true;
}

static void free_options(option_data *d)
{
    clsm_tensor *t[OPTION_TENSORS];
    option_tensors(&d->o, t);
    for (size_t i = 0; i < OPTION_TENSORS; i++)
        free(t[i]->host);
}

/* Whether ts_families[f], forced, takes this layout at all (docs/DEVELOPING.md, "Kernel families"). */
static bool family_takes(size_t f, clsm_shape s)
{
    if (strcmp(ts_families[f], "row") == 0 || strcmp(ts_families[f], "split") == 0)
        return s.inner == 1;
    if (strcmp(ts_families[f], "columns") == 0)
        return s.inner > 1;
    return true;
}

/* Whether case c runs op. */
static bool case_runs_op(const test_case *c, int op)
{
    return c->ops == BOTH_OPS || (c->ops == SOFTMAX_ONLY) == (op == CLSM_SOFTMAX);
}

/* Whether ts_families[f] runs case c in its runs over every case. The regs family has no
 * backward kernels: its backward calls run those another family's runs check. */
static bool family_runs(size_t f, const test_case *c)
{
    return !(c->skip & (1u << f)) && family_takes(f, c->shape) &&
           !(c->backward && strcmp(ts_families[f], "regs") == 0);
}

/*
 * The regs family's --uninitialized runs, a process per call: a case per path of its kernels
 * (short slices sharing a work-group, 4 and 16 entries a work-item, strided, unaligned, in
 * place, special values, the option sets), in F32 and F16; the other dtypes differ only in
 * their conversions, which the runs of races check.
 */
static const char *const regs_uninitialized[] = {
    "axis17",  "axis700", "split9000",     "inner3",       "inner4x300", "special",
    "offsets", "in-place", "add-broadcast", "keep-strided", "stats-only", "stats-in-inner",
    "v2-clamped"};

static bool uninitialized_run(const char *family, const test_case *c, clsm_dtype dtype)
{
    if (strcmp(family, "regs") != 0)
        return true;
    if (dtype != CLSM_F32 && dtype != CLSM_F16)
        return false;
    for (size_t k = 0; k < sizeof regs_uninitialized / sizeof regs_uninitialized[0]; k++)
        if (strcmp(regs_uninitialized[k], c->name) == 0)
            return true;
    return false;
}

static bool uninitialized_fault(const char *family, clsm_dtype dtype)
{
    for (size_t k = 0; k < N_UNINITIALIZED_FAULTS; k++)
        if (strcmp(uninitialized_faults[k].family, family) == 0 &&
            (uninitialized_faults[k].dtypes & DTYPE_BIT(dtype)))
            return true;
    return false;
}

typedef struct call {
    const char *family;
    const test_case *c;
    clsm_dtype dtype;
    clsm_op op;
} call;

static bool fail(const call *k, const char *what, const char *detail)
{
    fprintf(stderr, "%s %s %s %s [%zu,%zu,%zu] scale=%g: %s%s%s\n", k->family, k->c->name,
            ts_dtype_name(k->dtype), ts_op_name(k->op), k->c->shape.outer, k->c->shape.axis,
            k->c->shape.inner, (double)k->c->scale, what, detail[0] ? ": " : "", detail);
    return false;
}

static bool cl_ok(const call *k, cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return true;
    char detail[32];
    snprintf(detail, sizeof detail, "OpenCL error %d", err);
    return fail(k, what, detail);
}

/* The buffer of one option tensor: its bytes after a pad of OPTION_PAD bytes, then
 * TAIL_PAD bytes, both sentinel. */
static cl_mem option_buffer(const call *k, cl_context cl, const void *host, size_t bytes, bool *ok)
{
    size_t len = OPTION_PAD + bytes + TAIL_PAD;
    unsigned char *all = xmalloc(len);
    ts_fill_sentinel(all, len);
    memcpy(all + OPTION_PAD, host, bytes);
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, len, all, &err);
    free(all);
    *ok = cl_ok(k, err, "clCreateBuffer of an option");
    return *ok ? m : NULL;
}

/* Options whose tensors are buffers at OPTION_PAD, holding copies of d's host ones. */
static bool options_to_buffers(const call *k, cl_context cl, const option_data *d,
                               clsm_options *o)
{
    *o = d->o;
    clsm_tensor *t[OPTION_TENSORS];
    option_tensors(o, t);
    const size_t bytes[OPTION_TENSORS] = {d->mask_bytes,  d->sinks_bytes,  d->stats_bytes,
                                          d->stats_bytes, d->slopes_bytes, d->lengths_bytes};
    bool ok = true;
    for (size_t i = 0; i < OPTION_TENSORS; i++) {
        if (ok && t[i]->host != NULL) {
            t[i]->offset = OPTION_PAD;
            t[i]->buffer = option_buffer(k, cl, t[i]->host, bytes[i], &ok);
        }
        t[i]->host = NULL;
    }
    return ok;
}

static void release_options(clsm_options *o)
{
    clsm_tensor *t[OPTION_TENSORS];
    option_tensors(o, t);
    for (size_t i = 0; i < OPTION_TENSORS; i++)
        if (t[i]->buffer != NULL)
            clReleaseMemObject(t[i]->buffer);
}

/* Reads stats_out back into d's host array, checking that its pads kept their bytes. */
static bool read_stats(const call *k, cl_command_queue q, const clsm_options *o, option_data *d)
{
    size_t len = OPTION_PAD + d->stats_bytes + TAIL_PAD;
    unsigned char *all = xmalloc(len);
    bool ok = cl_ok(k, clEnqueueReadBuffer(q, o->stats_out.buffer, CL_TRUE, 0, len, all, 0, NULL,
                                           NULL),
                    "reading stats_out");
    if (ok) {
        ts_report before = ts_check_sentinel(all, OPTION_PAD);
        ts_report after = ts_check_sentinel(all + OPTION_PAD + d->stats_bytes, TAIL_PAD);
        if (!before.ok)
            ok = fail(k, "written before stats_out", before.msg);
        else if (!after.ok)
            ok = fail(k, "written after stats_out", after.msg);
        else
            memcpy(d->o.stats_out.host, all + OPTION_PAD, d->stats_bytes);
    }
    free(all);
    return ok;
}

/* Runs the call on device buffers: x and y at their pads inside larger buffers, or one
 * buffer for both, and the option tensors of d (NULL: none) at pads of their own. Leaves
 * the result in y (untouched without one) and the statistics in d, and checks that x and
 * the pads kept their bytes. */
static bool run_buffers(clsm_context *ctx, const call *k, option_data *d, const void *x, void *y)
{
    const test_case *c = k->c;
    size_t es = ts_dtype_size(k->dtype), n = ts_count(c->shape);
    bool in_place = c->path == PATH_IN_PLACE, no_y = d != NULL && d->no_y;
    size_t x_pad = in_place ? IN_PLACE_PAD : X_PAD, y_pad = in_place ? IN_PLACE_PAD : Y_PAD;
    size_t x_len = x_pad + n + TAIL_PAD, y_len = y_pad + n + TAIL_PAD;
    unsigned char *xb = xmalloc(x_len * es), *yb = xmalloc(y_len * es);
    ts_fill_sentinel(xb, x_len * es);
    ts_fill_sentinel(yb, y_len * es);
    memcpy(xb + x_pad * es, x, n * es);

    cl_context cl;
    cl_command_queue q = clsm_context_queue(ctx);
    cl_mem xm = NULL, ym = NULL;
    cl_event done = NULL;
    clsm_options o = CLSM_OPTIONS_INIT;
    bool ok = cl_ok(k, clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL),
                    "clGetCommandQueueInfo");
    cl_int err = CL_SUCCESS;
    if (ok) {
        xm = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, x_len * es, xb, &err);
        ok = cl_ok(k, err, "clCreateBuffer x");
    }
    if (ok && !in_place && !no_y) {
        ym = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, y_len * es, yb, &err);
        ok = cl_ok(k, err, "clCreateBuffer y");
    }
    if (ok && d != NULL)
        ok = options_to_buffers(k, cl, d, &o);
    if (ok) {
        cl_mem out = in_place ? xm : ym;
        clsm_status st = d != NULL
                             ? clsm_softmax_buffers_ex(ctx, k->op, k->dtype, c->shape, c->scale,
                                                       &o, xm, x_pad * es, out, y_pad * es, 0,
                                                       NULL, &done)
                             : clsm_softmax_buffers(ctx, k->op, k->dtype, c->shape, c->scale,
                                                    xm, x_pad * es, out, y_pad * es, 0, NULL,
                                                    &done);
        if (st != CLSM_SUCCESS)
            ok = fail(k, d != NULL ? "clsm_softmax_buffers_ex" : "clsm_softmax_buffers",
                      clsm_status_string(st));
    }
    if (ok)
        ok = cl_ok(k, clWaitForEvents(1, &done), "clWaitForEvents");
    unsigned char *x_after = xmalloc(x_len * es);
    if (ok)
        ok = cl_ok(k, clEnqueueReadBuffer(q, xm, CL_TRUE, 0, x_len * es, x_after, 0, NULL, NULL),
                   "reading x");
    if (ok && ym != NULL)
        ok = cl_ok(k, clEnqueueReadBuffer(q, ym, CL_TRUE, 0, y_len * es, yb, 0, NULL, NULL),
                   "reading y");
    if (ok && in_place)
        memcpy(yb, x_after, y_len * es);
    if (ok && !in_place && memcmp(x_after, xb, x_len * es) != 0)
        ok = fail(k, "x changed", "");
    if (ok && o.stats_out.buffer != NULL)
        ok = read_stats(k, q, &o, d);
    if (ok && !no_y) {
        ts_report before = ts_check_sentinel(yb, y_pad * es);
        ts_report after = ts_check_sentinel(yb + (y_pad + n) * es, TAIL_PAD * es);
        if (!before.ok)
            ok = fail(k, "written before y", before.msg);
        else if (!after.ok)
            ok = fail(k, "written after y", after.msg);
    }
    if (ok && !no_y)
        memcpy(y, yb + y_pad * es, n * es);
    if (done)
        clReleaseEvent(done);
    release_options(&o);
    if (ym)
        clReleaseMemObject(ym);
    if (xm)
        clReleaseMemObject(xm);
    free(x_after);
    free(yb);
    free(xb);
    return ok;
}

/* The backward call on device buffers: y, dy and dx each at their pads inside a larger
 * buffer, or dx sharing dy's (PATH_IN_PLACE) or y's (PATH_IN_PLACE_Y) buffer at one offset.
 * Leaves the result in dx and checks that the inputs and the pads kept their bytes. */
static bool run_backward_buffers(clsm_context *ctx, const call *k, const void *y, const void *dy,
                                 void *dx)
{
    const test_case *c = k->c;
    const size_t es = ts_dtype_size(k->dtype), n = ts_count(c->shape);
    /* Buffer 0 holds y, 1 dy and 2 dx, unless dx is in place in one of the others. */
    const int out = c->path == PATH_IN_PLACE ? 1 : c->path == PATH_IN_PLACE_Y ? 0 : 2;
    size_t pad[3] = {X_PAD, DY_PAD, Y_PAD}, len[3] = {0, 0, 0};
    if (out != 2)
        pad[out] = IN_PLACE_PAD;
    const void *data[3] = {y, dy, NULL};
    unsigned char *image[3] = {NULL, NULL, NULL}, *after[3] = {NULL, NULL, NULL};
    cl_mem mem[3] = {NULL, NULL, NULL};
    cl_event done = NULL;
    cl_context cl;
    cl_command_queue q = clsm_context_queue(ctx);
    bool ok = cl_ok(k, clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL),
                    "clGetCommandQueueInfo");
    for (int b = 0; b < 3; b++) {
        if (b == 2 && out != 2)
            continue;
        len[b] = (pad[b] + n + TAIL_PAD) * es;
        image[b] = xmalloc(len[b]);
        after[b] = xmalloc(len[b]);
        ts_fill_sentinel(image[b], len[b]);
        if (data[b])
            memcpy(image[b] + pad[b] * es, data[b], n * es);
        if (ok) {
            cl_int err = CL_SUCCESS;
            mem[b] = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, len[b],
                                    image[b], &err);
            ok = cl_ok(k, err, "clCreateBuffer");
        }
    }
    if (ok) {
        clsm_status st = clsm_softmax_backward_buffers(
            ctx, k->op, k->dtype, c->shape, c->scale, mem[0], pad[0] * es, mem[1], pad[1] * es,
            mem[out], pad[out] * es, 0, NULL, &done);
        if (st != CLSM_SUCCESS)
            ok = fail(k, "clsm_softmax_backward_buffers", clsm_status_string(st));
    }
    if (ok)
        ok = cl_ok(k, clWaitForEvents(1, &done), "clWaitForEvents");
    for (int b = 0; b < 3; b++)
        if (ok && mem[b])
            ok = cl_ok(k, clEnqueueReadBuffer(q, mem[b], CL_TRUE, 0, len[b], after[b], 0, NULL,
                                              NULL),
                       "reading a buffer back");
    for (int b = 0; b < 2; b++)
        if (ok && b != out && memcmp(after[b], image[b], len[b]) != 0)
            ok = fail(k, b == 0 ? "y changed" : "dy changed", "");
    if (ok) {
        ts_report before = ts_check_sentinel(after[out], pad[out] * es);
        ts_report tail = ts_check_sentinel(after[out] + (pad[out] + n) * es, TAIL_PAD * es);
        if (!before.ok)
            ok = fail(k, "written before dx", before.msg);
        else if (!tail.ok)
            ok = fail(k, "written after dx", tail.msg);
        else
            memcpy(dx, after[out] + pad[out] * es, n * es);
    }
    if (done)
        clReleaseEvent(done);
    for (int b = 0; b < 3; b++) {
        if (mem[b])
            clReleaseMemObject(mem[b]);
        free(after[b]);
        free(image[b]);
    }
    return ok;
}

/* A backward case: dx from y and dy (and x, with options, which take the host path), checked
 * against the f64 reference of the rule. */
static bool run_backward_call(clsm_context *ctx, const call *k)
{
    const test_case *c = k->c;
    size_t n = ts_count(c->shape), bytes = n * ts_dtype_size(k->dtype);
    void *y = xmalloc(bytes), *dy = xmalloc(bytes), *dx = xmalloc(bytes), *x = xmalloc(bytes);
    void *y_before = xmalloc(bytes), *dy_before = xmalloc(bytes);
    double *ref = xmalloc(n * sizeof *ref), *bound = xmalloc(n * sizeof *bound);
    const uint64_t seed = (uint64_t)(c - cases) * 7919 + k->dtype;
    fill_backward(c, k->dtype, k->op, y, dy, seed);
    fill(c, k->dtype, x, seed + 1);
    option_data d;
    const bool has_options = make_options(c, k->dtype, x, seed, &d);
    memcpy(y_before, y, bytes);
    memcpy(dy_before, dy, bytes);
    ts_fill_sentinel(dx, bytes);

    bool ok = true;
    if (c->path == PATH_HOST) {
        clsm_status st =
            has_options ? clsm_softmax_backward_host_ex(ctx, k->op, k->dtype, c->shape, c->scale,
                                                        &d.o, x, y, dy, dx)
                        : clsm_softmax_backward_host(ctx, k->op, k->dtype, c->shape, c->scale, y,
                                                     dy, dx);
        if (st != CLSM_SUCCESS)
            ok = fail(k, has_options ? "clsm_softmax_backward_host_ex"
                                     : "clsm_softmax_backward_host",
                      clsm_status_string(st));
        else if (memcmp(y, y_before, bytes) != 0)
            ok = fail(k, "y changed", "");
        else if (memcmp(dy, dy_before, bytes) != 0)
            ok = fail(k, "dy changed", "");
    } else {
        ok = run_backward_buffers(ctx, k, y, dy, dx);
    }
    if (ok) {
        ref_softmax_backward_ex(k->op, k->dtype, c->shape, c->scale, has_options ? &d.o : NULL,
                                x, y_before, dy_before, ref, bound);
        ts_report r = ts_check_backward(k->dtype, c->shape, dx, ref, bound);
        if (!r.ok)
            ok = fail(k, "wrong result", r.msg);
    }
    if (has_options)
        free_options(&d);
    free(x);
    free(bound);
    free(ref);
    free(dy_before);
    free(y_before);
    free(dx);
    free(dy);
    free(y);
    return ok;
}

static bool run_call(clsm_context *ctx, const call *k)
{
    const test_case *c = k->c;
    const char *ran = clsm_kernel_name(ctx, k->dtype, c->shape);
    if (strcmp(ran, k->family) != 0)
        return fail(k, "the forced family did not run; ran", ran);
    if (c->backward)
        return run_backward_call(ctx, k);

    size_t n = ts_count(c->shape), bytes = n * ts_dtype_size(k->dtype);
    size_t slices = c->shape.outer * c->shape.inner;
    void *x = xmalloc(bytes), *x_before = xmalloc(bytes), *y = xmalloc(bytes);
    double *ref = xmalloc(n * sizeof *ref), *ref_stats = xmalloc(2 * slices * sizeof *ref_stats);
    uint64_t seed = (uint64_t)(c - cases) * 7919 + k->dtype;
    fill(c, k->dtype, x, seed);
    memcpy(x_before, x, bytes);
    ts_fill_sentinel(y, bytes);
    option_data d;
    bool has_options = make_options(c, k->dtype, x, seed, &d);

    bool ok = true;
    if (c->path == PATH_HOST) {
        clsm_status st = has_options ? clsm_softmax_host_ex(ctx, k->op, k->dtype, c->shape,
                                                            c->scale, &d.o, x, d.no_y ? NULL : y)
                                     : clsm_softmax_host(ctx, k->op, k->dtype, c->shape,
                                                         c->scale, x, y);
        if (st != CLSM_SUCCESS)
            ok = fail(k, has_options ? "clsm_softmax_host_ex" : "clsm_softmax_host",
                      clsm_status_string(st));
        else if (memcmp(x, x_before, bytes) != 0)
            ok = fail(k, "x changed", "");
    } else {
        ok = run_buffers(ctx, k, has_options ? &d : NULL, x, y);
    }
    if (ok) {
        ref_softmax_ex(k->op, k->dtype, c->shape, c->scale, has_options ? &d.o : NULL, x_before,
                       ref, ref_stats);
        ts_report r = d.no_y ? ts_check_sentinel(y, bytes)
                             : ts_check_within(k->op, k->dtype, c->shape, y, ref,
                                               ts_softcap_allowance(k->dtype, &d.o));
        if (!r.ok)
            ok = fail(k, d.no_y ? "y written on a statistics-only call" : "wrong result", r.msg);
    }
    if (ok && d.o.stats_out.host != NULL) {
        ts_report r = ts_check_stats_within(k->dtype, slices, d.o.stats_out.host, ref_stats,
                                            ts_softcap_allowance(k->dtype, &d.o));
        if (!r.ok)
            ok = fail(k, "wrong stats_out", r.msg);
    }
    free_options(&d);
    free(ref_stats);
    free(ref);
    free(y);
    free(x_before);
    free(x);
    return ok;
}

static size_t family_index(const char *name)
{
    size_t f = 0;
    while (f < TS_FAMILIES && strcmp(ts_families[f], name) != 0)
        f++;
    return f;
}

static size_t dtype_index(const char *name)
{
    size_t d = 0;
    while (d < TS_DTYPES && strcmp(ts_dtype_name(ts_dtypes[d]), name) != 0)
        d++;
    return d;
}

static size_t case_index(const char *name)
{
    size_t i = 0;
    while (i < N_CASES && strcmp(cases[i].name, name) != 0)
        i++;
    return i;
}

static int op_index(const char *name)
{
    int op = CLSM_SOFTMAX;
    while (op <= CLSM_LOG_SOFTMAX && strcmp(ts_op_name((clsm_op)op), name) != 0)
        op++;
    return op;
}

/*
 * The families whose sampling the oclgrind check runs: one work-item a row, and 32; and the
 * dtypes of their calls under --uninitialized, a process each. row takes F32 and F64, whose
 * keys and vectors differ (F16 and BF16 change only the loads, which the runs of races
 * check); group, whose calls cost 5 to 25 s each there, F32 alone.
 */
static const struct {
    const char *family;
    unsigned uninitialized;
} sample_families[] = {
    {"row", DTYPE_BIT(CLSM_F32) | DTYPE_BIT(CLSM_F64)},
    {"group", DTYPE_BIT(CLSM_F32)},
};
#define N_SAMPLE_FAMILIES (sizeof sample_families / sizeof sample_families[0])

static size_t sample_case_index(const char *name)
{
    size_t i = 0;
    while (i < N_SAMPLE_CASES && strcmp(sample_cases[i].name, name) != 0)
        i++;
    return i;
}

static const ts_entry *sample_entry(bool buffers)
{
    TS_FOR_EACH_ENTRY(e)
    {
        if (e->sample && e->buffers == buffers)
            return e;
    }
    return NULL;
}

static bool sample_fail(const char *family, const sample_case *c, clsm_dtype dtype,
                        const char *what, const char *detail)
{
    fprintf(stderr, "%s %s %s [%zu,%zu] scale=%g: %s%s%s\n", family, c->name,
            ts_dtype_name(dtype), c->rows, c->vocab, (double)c->scale, what, detail[0] ? ": " : "",
            detail);
    return false;
}

/* One sampling case on ctx, a context with the family forced. */
static bool run_sample_call(clsm_context *ctx, const char *family, const sample_case *c,
                            clsm_dtype dtype)
{
    const ts_entry *e = sample_entry(c->buffers);
    const clsm_shape s = {c->rows, c->vocab, 1};
    const size_t n = ts_count(s);
    const char *ran = clsm_kernel_name(ctx, dtype, s);
    if (strcmp(ran, family) != 0)
        return sample_fail(family, c, dtype, "the forced family did not run; ran", ran);
    const uint64_t seed = (uint64_t)(c - sample_cases) * 7919 + dtype;
    void *x = xmalloc(n * ts_dtype_size(dtype));
    ts_rng r = ts_rng_seed(seed);
    for (size_t i = 0; i < n; i++) {
        const size_t row = i / c->vocab, j = i % c->vocab;
        double v = c->levels ? 0.75 * (double)ts_rng_below(&r, 4) : ts_rng_uniform(&r, -4, 4);
        if (row == 1 && j == c->vocab / 2)
            v = NAN;
        if (row == 2 || (row == 3 && j % 2))
            v = -INFINITY;
        ts_store(dtype, x, i, v);
    }
    ts_options t = {0};
    if (c->options)
        ts_options_make(&t, e, dtype, s, seed);
    ts_sampling sampling;
    ts_sampling_make(&sampling, dtype, c->rows, c->per_row, seed);
    void *lp = NULL;
    if (!c->per_row) {
        sampling.s.temperature = c->temperature;
        sampling.s.top_k = c->top_k;
        sampling.s.top_p = c->top_p;
        sampling.s.min_p = c->min_p;
        if (c->logprobs)
            sampling.s.logprobs.host = lp = xmalloc(c->rows * (dtype == CLSM_F64 ? 8 : 4));
    }
    const ts_data d = {CLSM_SOFTMAX, dtype, s, c->scale, c->options ? &t.o : NULL, {x},
                       &sampling.s};
    int32_t tokens[8];
    clsm_status st;
    bool ok = true;
    ts_report rep = ts_run(e, ctx, &d, TS_APART, tokens, &st);
    if (!rep.ok)
        ok = sample_fail(family, c, dtype, e->name, rep.msg);
    else if (st != CLSM_SUCCESS)
        ok = sample_fail(family, c, dtype, e->name, clsm_status_string(st));
    else if (!(rep = ts_check_result(e, &d, tokens)).ok)
        ok = sample_fail(family, c, dtype, "wrong result", rep.msg);
    free(lp);
    ts_sampling_free(&sampling);
    ts_options_free(&t);
    free(x);
    return ok;
}

/* Runs one sampling case (or every one, for NULL) on family and dtype. */
static int run_samples(const char *family, const char *dtype, const char *case_name)
{
    size_t f = family_index(family), d = dtype_index(dtype);
    size_t one_case = case_name ? sample_case_index(case_name) : 0;
    if (f == TS_FAMILIES || d == TS_DTYPES || one_case == N_SAMPLE_CASES) {
        fprintf(stderr, "oclgrind_driver: no such run: %s %s %s sample\n", family, dtype,
                case_name ? case_name : "");
        return 2;
    }
    setenv("CLSM_KERNEL", family, 1);
    clsm_context *ctx = NULL;
    clsm_status st = clsm_context_create(&ctx);
    if (st != CLSM_SUCCESS) {
        fprintf(stderr, "oclgrind_driver: creating the %s context: %s\n", family,
                clsm_status_string(st));
        return 1;
    }
    size_t calls = 0, failed = 0;
    for (size_t i = 0; i < N_SAMPLE_CASES; i++) {
        if (case_name && i != one_case)
            continue;
        calls++;
        failed += !run_sample_call(ctx, ts_families[f], &sample_cases[i], ts_dtypes[d]);
    }
    clsm_context_release(ctx);
    printf("%s %s sampling: %zu calls, %zu failed\n", family, dtype, calls, failed);
    return failed != 0;
}

/* The calls left out first, as '#' lines, so that every run's log shows the gap. */
static void list_uninitialized(void)
{
    for (size_t k = 0; k < N_UNINITIALIZED_FAULTS; k++) {
        printf("# %s", uninitialized_faults[k].family);
        for (size_t d = 0; d < TS_DTYPES; d++)
            if (uninitialized_faults[k].dtypes & DTYPE_BIT(ts_dtypes[d]))
                printf(" %s", ts_dtype_name(ts_dtypes[d]));
        printf(": %s\n", uninitialized_faults[k].why);
    }
    for (size_t f = 0; f < TS_FAMILIES; f++)
        for (size_t d = 0; d < TS_DTYPES; d++)
            for (size_t i = 0; i < N_CASES; i++)
                for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++)
                    if (family_runs(f, &cases[i]) && case_runs_op(&cases[i], op) &&
                        !cases[i].races_only &&
                        !uninitialized_fault(ts_families[f], ts_dtypes[d]) &&
                        uninitialized_run(ts_families[f], &cases[i], ts_dtypes[d]))
                        printf("%s %s %s %s\n", ts_families[f], ts_dtype_name(ts_dtypes[d]),
                               cases[i].name, ts_op_name((clsm_op)op));
    for (size_t f = 0; f < N_SAMPLE_FAMILIES; f++)
        for (size_t d = 0; d < TS_DTYPES; d++)
            for (size_t i = 0;
                 (sample_families[f].uninitialized & DTYPE_BIT(ts_dtypes[d])) && i < N_SAMPLE_CASES;
                 i++)
                printf("%s %s %s sample\n", sample_families[f].family,
                       ts_dtype_name(ts_dtypes[d]), sample_cases[i].name);
}

/* Runs case (or every case the family runs, for NULL) with op (or both, for NULL). */
static int run(const char *family, const char *dtype, const char *case_name, const char *op)
{
    size_t f = family_index(family), d = dtype_index(dtype);
    size_t one_case = case_name ? case_index(case_name) : 0;
    int one_op = op ? op_index(op) : 0;
    if (f == TS_FAMILIES || d == TS_DTYPES || one_case == N_CASES || one_op > CLSM_LOG_SOFTMAX ||
        (case_name && !family_takes(f, cases[one_case].shape))) {
        fprintf(stderr, "oclgrind_driver: no such run: %s %s %s %s\n", family, dtype,
                case_name ? case_name : "", op ? op : "");
        return 2;
    }

    setenv("CLSM_KERNEL", family, 1);
    clsm_context *ctx = NULL;
    clsm_status st = clsm_context_create(&ctx);
    if (st != CLSM_SUCCESS) {
        fprintf(stderr, "oclgrind_driver: creating the %s context: %s\n", family,
                clsm_status_string(st));
        return 1;
    }
    size_t calls = 0, failed = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        if (case_name ? i != one_case : !family_runs(f, &cases[i]))
            continue;
        for (int o = CLSM_SOFTMAX; o <= CLSM_LOG_SOFTMAX; o++) {
            if (op ? o != one_op : !case_runs_op(&cases[i], o))
                continue;
            call k = {ts_families[f], &cases[i], ts_dtypes[d], (clsm_op)o};
            calls++;
            failed += !run_call(ctx, &k);
        }
    }
    clsm_context_release(ctx);
    printf("%s %s: %zu calls, %zu failed\n", family, dtype, calls, failed);
    return failed != 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--uninitialized-list") == 0) {
        list_uninitialized();
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--families") == 0) {
        for (size_t f = 0; f < TS_FAMILIES; f++)
            printf("%s\n", ts_families[f]);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--dtypes") == 0) {
        for (size_t d = 0; d < TS_DTYPES; d++)
            printf("%s\n", ts_dtype_name(ts_dtypes[d]));
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--sample-families") == 0) {
        for (size_t f = 0; f < N_SAMPLE_FAMILIES; f++)
            printf("%s\n", sample_families[f].family);
        return 0;
    }
    if (argc == 4 && strcmp(argv[3], "sample") == 0)
        return run_samples(argv[1], argv[2], NULL);
    if (argc == 5 && strcmp(argv[4], "sample") == 0)
        return run_samples(argv[1], argv[2], argv[3]);
    if (argc == 3 || argc == 5)
        return run(argv[1], argv[2], argc == 5 ? argv[3] : NULL, argc == 5 ? argv[4] : NULL);
    fprintf(stderr, "usage: oclgrind_driver FAMILY DTYPE [CASE OP] | FAMILY DTYPE [CASE] sample |\n"
                    "       --uninitialized-list | --families | --sample-families | --dtypes\n"
                    "families: item group row columns split regs; dtypes: F32 F16 BF16 F64;\n"
                    "ops: softmax log-softmax\n");
    return 2;
}
