/* The fused options (masks, causal windows, sinks, statistics in and out, sharding; v2's soft-capping, ALiBi and KV lengths) on every kernel family, dtype and op, through both _ex entry points, and the bad input they bring; what every entry point shares (in place, determinism, threads, events) is in the suites by concern. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "entries.h"
#include "reference.h"
#include "support.h"

TestSuite(attention, .init = ts_open_all, .fini = ts_close_all);

/* The dtypes and ops an option set is checked on: F32 with both ops, and one of F16, BF16
 * and F64 with one op, chosen by the set's number c so that the sets between them meet
 * every dtype and op. Each dtype and op costs a kernel compile per family and option set
 * (most of this suite's time), and the storage types only change how entries are loaded
 * and stored, which test_dtypes covers. */
typedef struct dtype_op {
    clsm_dtype dtype;
    int first_op, last_op;
} dtype_op;
#define N_PLAN 2

static dtype_op case_plan(size_t c, size_t i)
{
    if (i == 0)
        return (dtype_op){CLSM_F32, CLSM_SOFTMAX, CLSM_LOG_SOFTMAX};
    int op = (int)(c / 3 % 2);
    return (dtype_op){ts_dtypes[1 + c % 3], op, op};
}
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The _ex rows of the entry-point table. */
static const ts_entry *const ex_entries[] = {&ts_entries[2], &ts_entries[3]};

/* outer seen as [batch, heads, rows]. */
typedef struct dims {
    size_t batch, heads, rows, axis;
} dims;

static clsm_shape shape_of(dims d)
{
    return (clsm_shape){d.batch * d.heads * d.rows, d.axis, 1};
}

/* Sinks and statistics are f32, f64 for F64 calls. */
static size_t stat_size(clsm_dtype dtype)
{
    return ts_dtype_size(ts_stats_dtype(dtype));
}

static size_t n_slices(clsm_shape s)
{
    return s.outer * s.inner;
}

/*
 * One fused request: shape, scale and options whose tensors are host arrays
 * (the buffers entry point gets copies of them). stats_out asks for the
 * statistics; no_y leaves y out (statistics only).
 */
typedef struct request {
    clsm_shape shape;
    float scale;
    clsm_options opt;
    size_t mask_elems;
    bool stats_out, no_y;
} request;

static request request_for(dims d, float scale)
{
    request q = {shape_of(d), scale, CLSM_OPTIONS_INIT, 0, false, false};
    q.opt.batch = d.batch;
    q.opt.heads = d.heads;
    q.opt.rows = d.rows;
    return q;
}

static size_t stats_bytes(const request *q, clsm_dtype dtype)
{
    return 2 * n_slices(q->shape) * stat_size(dtype);
}

/*
 * One call of an _ex entry point with q's options: y (unless q leaves it out) and stats
 * (when q asks for them) receive the results; on the buffers path every tensor sits at an
 * offset and before a pad of its own (ts_run), which must hold.
 */
static clsm_status fused_call(clsm_context *ctx, const ts_entry *e, clsm_op op, clsm_dtype dtype,
                              const request *q, const void *x, void *y, void *stats,
                              const char *what)
{
    clsm_options o = q->opt;
    o.stats_out.host = q->stats_out ? stats : NULL;
    const ts_data d = {op, dtype, q->shape, q->scale, &o, {x, NULL}, NULL};
    clsm_status st;
    ts_report r = ts_run(e, ctx, &d, TS_APART, q->no_y ? NULL : y, &st);
    cr_assert(r.ok, "%s: %s", what, r.msg);
    return st;
}

/* Checks one entry point's result against the reference (y and stats as the request asks). */
static void check_one(clsm_context *ctx, const char *config, const ts_entry *e, clsm_op op,
                      clsm_dtype dtype, const request *q, const void *x, const double *ref_y,
                      const double *ref_stats, const char *label)
{
    const size_t n = ts_count(q->shape), es = ts_dtype_size(dtype);
    char what[256], head[160];
    ts_describe(head, sizeof head, config, op, dtype, q->shape, q->scale);
    snprintf(what, sizeof what, "%s %s, %s", head, e->name, label);
    void *y = ts_alloc(dtype, n);
    void *stats = ts_malloc(stats_bytes(q, dtype));
    ts_fill_sentinel(y, n * es);

    clsm_status st = fused_call(ctx, e, op, dtype, q, x, y, stats, what);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    ts_report r;
    if (q->no_y) {
        r = ts_check_sentinel(y, n * es);
        cr_assert(r.ok, "%s: y written on a statistics-only call: %s", what, r.msg);
    } else {
        /* With a sink or given statistics a slice's single entry is no longer exactly 1 (0),
         * so ts_check's exactness on an axis of 1 does not apply: check it as one long slice. */
        clsm_shape checked = q->shape;
        if (checked.axis == 1 && (q->opt.sinks.host != NULL || q->opt.stats_in.host != NULL))
            checked = (clsm_shape){1, q->shape.outer, q->shape.inner};
        r = ts_check_within(op, dtype, checked, y, ref_y, ts_softcap_allowance(dtype, &q->opt));
        cr_assert(r.ok, "%s: y: %s", what, r.msg);
    }
    if (q->stats_out) {
        r = ts_check_stats_within(dtype, n_slices(q->shape), stats, ref_stats,
                                  ts_softcap_allowance(dtype, &q->opt));
        cr_assert(r.ok, "%s: stats_out: %s", what, r.msg);
    }
    free(stats);
    free(y);
}

/* Checks q with data x on every configuration, both ops and both entry points. */
static void check_request(const request *q, dtype_op p, const void *x, const char *label)
{
    const clsm_dtype dtype = p.dtype;
    const size_t n = ts_count(q->shape);
    double *ref_y = ts_malloc(n * sizeof *ref_y);
    double *ref_stats = ts_malloc(2 * n_slices(q->shape) * sizeof *ref_stats);
    for (int op = p.first_op; op <= p.last_op; op++) {
        ref_softmax_ex((clsm_op)op, dtype, q->shape, q->scale, &q->opt, x, ref_y, ref_stats);
        for (size_t c = 0; c < TS_CONFIGS; c++)
            for (size_t k = 0; k < N_OF(ex_entries); k++)
                check_one(ts_ctx[c], ts_config_name(c), ex_entries[k], (clsm_op)op, dtype, q, x,
                          ref_y, ref_stats, label);
    }
    free(ref_stats);
    free(ref_y);
}

/* ---- masks ---- */

typedef enum layout { SHARED_BIAS, PADDING, FULL, PITCHED_ROWS, AXIS_STRIDE_2 } layout;
static const char *const layout_names[] = {"[rows, axis] bias", "[batch,1,1,axis] padding",
                                           "full [batch,heads,rows,axis]", "rows pitched axis+3",
                                           "axis stride 2"};

/* Sets the strides of a layout and returns the elements its mask array needs. */
static size_t set_layout(request *q, dims d, layout l)
{
    size_t *s = q->opt.mask_stride;
    const size_t pitch = l == PITCHED_ROWS ? d.axis + 3 : l == AXIS_STRIDE_2 ? 2 * d.axis : d.axis;
    const size_t step = l == AXIS_STRIDE_2 ? 2 : 1;
    switch (l) {
    case SHARED_BIAS:
        s[0] = s[1] = 0, s[2] = d.axis, s[3] = 1;
        return d.rows * d.axis;
    case PADDING:
        s[0] = d.axis, s[1] = s[2] = 0, s[3] = 1;
        return d.batch * d.axis;
    default:
        s[0] = d.heads * d.rows * pitch, s[1] = d.rows * pitch, s[2] = pitch, s[3] = step;
        return d.batch * d.heads * d.rows * pitch;
    }
}

/*
 * Random mask values, every element different, so that a wrong stride or
 * head reads other values: additive ones in [-3, 3] with about one in six
 * -inf; keep bytes 0 about a third of the time, else any nonzero byte.
 */
static void *random_mask(clsm_mask_type type, size_t n, uint64_t seed)
{
    ts_rng r = ts_rng_seed(seed);
    void *m = ts_malloc(n * ts_mask_element_size(type));
    for (size_t i = 0; i < n; i++) {
        if (type == CLSM_MASK_KEEP_U8) {
            ((unsigned char *)m)[i] = ts_rng_below(&r, 3) == 0 ? 0 : (unsigned char)(1 + ts_rng_below(&r, 255));
            continue;
        }
        double v = ts_rng_below(&r, 6) == 0 ? -INFINITY : ts_rng_uniform(&r, -3, 3);
        clsm_dtype as = type == CLSM_MASK_ADD_F32   ? CLSM_F32
                        : type == CLSM_MASK_ADD_F16 ? CLSM_F16
                                                    : CLSM_BF16;
        ts_store(as, m, i, v);
    }
    return m;
}

/* Shapes of the mask tests: an axis of 1, primes, 16 and its neighbours, heads > 1 where it counts. */
static const dims mask_dims[] = {{2, 3, 2, 7}, {2, 2, 3, 1}, {1, 3, 2, 17}, {2, 2, 2, 16},
                                 {2, 3, 1, 15}};

static void check_mask_type(clsm_mask_type type, uint64_t seed)
{
    for (size_t l = 0; l <= AXIS_STRIDE_2; l++) {
        for (size_t k = 0; k < N_OF(mask_dims); k++) {
            /* Each layout meets two of the shapes, so that every shape meets every mask type. */
            if ((k + l) % N_OF(mask_dims) > 1)
                continue;
            const dims d = mask_dims[k];
            request q = request_for(d, 0.75f);
            q.opt.mask_type = type;
            q.mask_elems = set_layout(&q, d, (layout)l);
            q.opt.mask.host = random_mask(type, q.mask_elems, seed + 10 * l + k);
            for (size_t i = 0; i < N_PLAN; i++) {
                const dtype_op p = case_plan(seed / 1000, i);
                void *x = ts_random(p.dtype, ts_count(q.shape), -4, 4, seed + 100 * l + k);
                check_request(&q, p, x, layout_names[l]);
                free(x);
            }
            free(q.opt.mask.host);
        }
    }
    /* A long row, so that the split and long-row code paths see the mask too. */
    const dims d = {1, 2, 1, 4099};
    request q = request_for(d, 1.0f);
    q.opt.mask_type = type;
    q.mask_elems = set_layout(&q, d, FULL);
    q.opt.mask.host = random_mask(type, q.mask_elems, seed + 999);
    for (size_t i = 0; i < N_PLAN; i++) {
        const dtype_op p = case_plan(seed / 1000, i);
        void *x = ts_random(p.dtype, ts_count(q.shape), -4, 4, seed + 1000);
        check_request(&q, p, x, "long rows");
        free(x);
    }
    free(q.opt.mask.host);
}

Test(attention, additive_f32_masks_apply_in_every_layout)
{
    check_mask_type(CLSM_MASK_ADD_F32, 1000);
}

Test(attention, additive_f16_masks_apply_in_every_layout)
{
    check_mask_type(CLSM_MASK_ADD_F16, 2000);
}

Test(attention, additive_bf16_masks_apply_in_every_layout)
{
    check_mask_type(CLSM_MASK_ADD_BF16, 3000);
}

Test(attention, keep_masks_drop_exactly_the_zero_bytes_in_every_layout)
{
    check_mask_type(CLSM_MASK_KEEP_U8, 4000);
}

/* ---- causal and sliding window ---- */

typedef struct causal_case {
    dims d;
    ptrdiff_t offset;
    size_t window;
} causal_case;

/* Offsets 0, the KV-cache axis - rows, negative and beyond the axis; windows of 1, the axis, and between. */
static const causal_case causal_cases[] = {
    {{1, 2, 4, 9}, 0, 0},  {{1, 2, 4, 9}, 5, 0},  {{1, 2, 4, 9}, -2, 0}, {{1, 2, 4, 9}, 20, 0},
    {{1, 2, 4, 9}, 0, 1},  {{1, 2, 4, 9}, 5, 1},  {{1, 2, 4, 9}, 5, 3},  {{1, 2, 4, 9}, 5, 9},
    {{1, 2, 4, 9}, 2, 2},  {{2, 1, 3, 1}, 0, 0},  {{2, 1, 3, 1}, 0, 1},  {{1, 1, 3, 17}, 14, 5},
    {{1, 1, 5, 16}, 11, 4}, {{2, 1, 2, 4099}, 4097, 3000},
};

Test(attention, causal_masks_entries_after_the_diagonal_and_before_the_window)
{
    for (size_t k = 0; k < N_OF(causal_cases); k++) {
        const causal_case *cc = &causal_cases[k];
        request q = request_for(cc->d, 1.25f);
        q.opt.causal = 1;
        q.opt.causal_offset = cc->offset;
        q.opt.window = cc->window;
        char label[96];
        snprintf(label, sizeof label, "causal offset %td window %zu", cc->offset, cc->window);
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(5, i);
            void *x = ts_random(p.dtype, ts_count(q.shape), -4, 4, 5000 + k);
            check_request(&q, p, x, label);
            free(x);
        }
    }
}

/* ---- sinks ---- */

/* One sink per head, all different, in the scaled domain. */
static void *make_sinks(clsm_dtype dtype, size_t heads)
{
    static const double values[] = {0.5, -1.5, 2.75, 6.0, -30.0};
    void *s = ts_malloc(heads * stat_size(dtype));
    for (size_t h = 0; h < heads; h++)
        ts_store(ts_stats_dtype(dtype), s, h, values[h % N_OF(values)]);
    return s;
}

Test(attention, sinks_join_the_max_and_sum_of_their_head_only)
{
    const dims shapes[] = {{2, 3, 2, 7}, {1, 4, 1, 1}, {1, 3, 2, 16}, {1, 5, 1, 17}, {1, 2, 1, 4099}};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(6, i);
            request q = request_for(shapes[k], 1.0f);
            q.opt.sinks.host = make_sinks(p.dtype, shapes[k].heads);
            void *x = ts_random(p.dtype, ts_count(q.shape), -4, 4, 6000 + k);
            check_request(&q, p, x, "sinks");
            free(x);
            free(q.opt.sinks.host);
        }
    }
}

/* A mask, causal with a window, sinks and statistics out in one call, with fully masked rows among them. */
Test(attention, mask_causal_sinks_and_statistics_combine)
{
    const dims shapes[] = {{2, 3, 3, 7}, {1, 2, 4, 16}, {1, 2, 2, 4099}};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        const dims d = shapes[k];
        request q = request_for(d, 0.5f);
        q.opt.mask_type = CLSM_MASK_ADD_F32;
        q.mask_elems = set_layout(&q, d, FULL);
        float *mask = random_mask(CLSM_MASK_ADD_F32, q.mask_elems, 7000 + k);
        /* Row 1 of head 1 of the last batch is masked whole by the mask. */
        size_t at = (d.batch - 1) * q.opt.mask_stride[0] + q.opt.mask_stride[1] + q.opt.mask_stride[2];
        for (size_t j = 0; j < d.axis; j++)
            mask[at + j] = -INFINITY;
        q.opt.mask.host = mask;
        q.opt.causal = 1;
        q.opt.causal_offset = (ptrdiff_t)(d.axis - d.rows) - 1;
        q.opt.window = d.axis / 2;
        q.stats_out = true;
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(7, i);
            q.opt.sinks.host = make_sinks(p.dtype, d.heads);
            void *x = ts_random(p.dtype, ts_count(q.shape), -4, 4, 7100 + k);
            check_request(&q, p, x, "mask, causal window, sinks, stats_out");
            free(x);
            free(q.opt.sinks.host);
        }
        free(mask);
    }
}

/* ---- fully masked rows ---- */

/* Every row of q is masked whole, so the reference itself must give exactly 0 / -inf throughout. */
static void check_reference_is_all_masked(const request *q, const char *label)
{
    const size_t n = ts_count(q->shape);
    for (size_t i = 0; i < TS_DTYPES; i++) {
        const clsm_dtype dtype = ts_dtypes[i];
        void *x = ts_random(dtype, n, -4, 4, 8000 + i);
        double *ref = ts_malloc(n * sizeof *ref);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            ref_softmax_ex((clsm_op)op, dtype, q->shape, q->scale, &q->opt, x, ref, NULL);
            for (size_t e = 0; e < n; e++)
                cr_assert(op == CLSM_SOFTMAX ? ref[e] == 0 : ref[e] == -INFINITY,
                          "%s: the reference misses the masked element %zu", label, e);
        }
        free(ref);
        free(x);
    }
}

Test(attention, masked_rows_give_zeros_not_nan)
{
    const dims d = {2, 2, 3, 7};
    const size_t n = d.batch * d.heads * d.rows * d.axis;
    request add = request_for(d, 1.0f);
    add.opt.mask_type = CLSM_MASK_ADD_F32;
    add.mask_elems = set_layout(&add, d, FULL);
    float *minus_inf = ts_malloc(n * sizeof *minus_inf);
    for (size_t e = 0; e < n; e++)
        minus_inf[e] = -INFINITY;
    add.opt.mask.host = minus_inf;

    request keep = request_for(d, 1.0f);
    keep.opt.mask_type = CLSM_MASK_KEEP_U8;
    keep.mask_elems = set_layout(&keep, d, SHARED_BIAS);
    keep.opt.mask.host = calloc(keep.mask_elems, 1);
    cr_assert_not_null(keep.opt.mask.host);

    request causal = request_for(d, 1.0f);
    causal.opt.causal = 1;
    causal.opt.causal_offset = -(ptrdiff_t)(d.axis + d.rows);

    request *all[] = {&add, &keep, &causal};
    const char *names[] = {"-inf additive mask", "keep mask of zeros", "causal, offset -axis-rows"};
    for (size_t k = 0; k < N_OF(all); k++) {
        check_reference_is_all_masked(all[k], names[k]);
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(8 + k, i);
            void *x = ts_random(p.dtype, n, -4, 4, 8100 + k);
            all[k]->stats_out = false;
            check_request(all[k], p, x, names[k]);
            /* A finite sink is the only entry left: still 0 / -inf, and statistics (sink, 1). */
            all[k]->opt.sinks.host = make_sinks(p.dtype, d.heads);
            all[k]->stats_out = true;
            check_request(all[k], p, x, names[k]);
            free(all[k]->opt.sinks.host);
            all[k]->opt.sinks.host = NULL;
            free(x);
        }
    }
    free(keep.opt.mask.host);
    free(minus_inf);
}

/* ---- statistics out ---- */

/* Puts special slices among random ones: one NaN, one with two +inf, one all -inf. */
static void put_special_slices(clsm_dtype dtype, clsm_shape s, void *x)
{
    cr_assert_geq(n_slices(s), 3);
    const size_t last = n_slices(s) - 1;
    for (size_t j = 0; j < s.axis; j++) {
        /* Slice k starts at element (k / inner) * axis * inner + k % inner. */
        const size_t slices[] = {0, 1, last};
        for (size_t k = 0; k < 3; k++) {
            size_t base = slices[k] / s.inner * s.axis * s.inner + slices[k] % s.inner;
            double v = ts_load(dtype, x, base + j * s.inner);
            if (k == 0 && j == s.axis / 2)
                v = NAN;
            if (k == 1 && (j == 0 || j == s.axis - 1))
                v = INFINITY;
            if (k == 2)
                v = -INFINITY;
            ts_store(dtype, x, base + j * s.inner, v);
        }
    }
}

Test(attention, statistics_out_give_max_and_sum_of_every_slice)
{
    const clsm_shape shapes[] = {{5, 7, 1}, {3, 16, 2}, {2, 17, 5}, {4, 1, 1}, {3, 4099, 1}};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        for (int stats_only = 0; stats_only <= 1; stats_only++) {
            request q = {shapes[k], 0.5f, CLSM_OPTIONS_INIT, 0, true, stats_only != 0};
            for (size_t i = 0; i < N_PLAN; i++) {
                const dtype_op p = case_plan(11 + stats_only, i);
                void *x = ts_random(p.dtype, ts_count(q.shape), -4, 4, 9000 + k);
                put_special_slices(p.dtype, q.shape, x);
                check_request(&q, p, x, stats_only ? "statistics only" : "stats_out");
                free(x);
            }
        }
    }
}

/* ---- statistics in ---- */

Test(attention, statistics_in_give_y_from_the_given_max_and_sum)
{
    const clsm_shape shapes[] = {{6, 9, 1}, {3, 16, 2}, {6, 1, 1}, {6, 4099, 1}};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        const clsm_shape s = shapes[k];
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(13, i);
            const clsm_dtype dtype = p.dtype;
            request q = {s, 1.0f, CLSM_OPTIONS_INIT, 0, false, false};
            void *given = ts_malloc(2 * n_slices(s) * stat_size(dtype));
            ts_rng r = ts_rng_seed(10000 + k);
            for (size_t e = 0; e < n_slices(s); e++) {
                ts_store(ts_stats_dtype(dtype), given, 2 * e, ts_rng_uniform(&r, -2, 6));
                ts_store(ts_stats_dtype(dtype), given, 2 * e + 1, ts_rng_uniform(&r, 0.5, 40));
            }
            void *x = ts_random(dtype, ts_count(s), -4, 4, 10100 + k);
            /* Slice 0: sum 0; slice 1: max +inf with +inf entries; slice 2: NaN max;
             * slice 3: NaN in x; slice 4: sum +inf beside an entry whose exp against the
             * given max overflows f32 (inf / inf, were it not for the rule). */
            ts_store(ts_stats_dtype(dtype), given, 1, 0);
            ts_store(ts_stats_dtype(dtype), given, 2, INFINITY);
            ts_store(ts_stats_dtype(dtype), given, 3, 2);
            size_t base1 = 1 / s.inner * s.axis * s.inner + 1 % s.inner;
            ts_store(dtype, x, base1, INFINITY);
            ts_store(dtype, x, base1 + (s.axis - 1) * s.inner, INFINITY);
            ts_store(ts_stats_dtype(dtype), given, 4, NAN);
            size_t base3 = 3 / s.inner * s.axis * s.inner + 3 % s.inner;
            ts_store(dtype, x, base3 + s.axis / 2 * s.inner, NAN);
            ts_store(ts_stats_dtype(dtype), given, 9, INFINITY);
            ts_store(dtype, x, 4 / s.inner * s.axis * s.inner + 4 % s.inner, 200);
            q.opt.stats_in.host = given;
            check_request(&q, p, x, "stats_in");
            free(x);
            free(given);
        }
    }
}

/* ---- sharded softmax: statistics of the pieces merged, then applied to each piece ---- */

/* Merges the statistics of pieces a, b, c into out in one of three groupings. */
static void merge_in_grouping(clsm_dtype dtype, size_t count, void *const piece[3], int grouping,
                              void *out)
{
    const size_t bytes = 2 * count * stat_size(dtype);
    void *inner = ts_malloc(bytes);
    switch (grouping) {
    case 0: /* (a + b) + c */
        memcpy(out, piece[1], bytes);
        clsm_stats_merge(dtype, count, piece[0], out);
        clsm_stats_merge(dtype, count, piece[2], out);
        break;
    case 1: /* a + (b + c) */
        memcpy(inner, piece[2], bytes);
        clsm_stats_merge(dtype, count, piece[1], inner);
        memcpy(out, piece[0], bytes);
        clsm_stats_merge(dtype, count, inner, out);
        break;
    default: /* (a + c) + b */
        memcpy(out, piece[2], bytes);
        clsm_stats_merge(dtype, count, piece[0], out);
        clsm_stats_merge(dtype, count, piece[1], out);
        break;
    }
    free(inner);
}

static const char *const grouping_names[] = {"(a+b)+c", "a+(b+c)", "(a+c)+b"};

/* NaN from clsm_stats_merge need not be the canonical one. */
static void any_nan_to_canonical(clsm_dtype dtype, void *stats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(ts_load(ts_stats_dtype(dtype), stats, i)))
            ts_store(ts_stats_dtype(dtype), stats, i, NAN);
}

Test(attention, sharded_softmax_matches_the_whole_row)
{
    enum { ROWS = 5, AXIS = 23 };
    const size_t lengths[3] = {3, 12, 8}, starts[3] = {0, 3, 15};
    const clsm_shape whole = {ROWS, AXIS, 1};
    for (size_t i = 0; i < TS_DTYPES; i++) {
        const clsm_dtype dtype = ts_dtypes[i];
        const size_t es = ts_dtype_size(dtype), ss = stat_size(dtype);
        void *x = ts_random(dtype, ROWS * AXIS, -4, 4, 11000 + i);
        /* Row 1: piece a all -inf; row 2: all -inf; row 3: +inf in pieces a and c; row 4: NaN in b. */
        for (size_t j = 0; j < AXIS; j++) {
            if (j < lengths[0])
                ts_store(dtype, x, 1 * AXIS + j, -INFINITY);
            ts_store(dtype, x, 2 * AXIS + j, -INFINITY);
        }
        ts_store(dtype, x, 3 * AXIS + 1, INFINITY);
        ts_store(dtype, x, 3 * AXIS + 20, INFINITY);
        ts_store(dtype, x, 4 * AXIS + 7, NAN);

        void *piece_x[3], *piece_stats[3], *piece_y[3];
        for (size_t k = 0; k < 3; k++) {
            piece_x[k] = ts_alloc(dtype, ROWS * lengths[k]);
            piece_y[k] = ts_alloc(dtype, ROWS * lengths[k]);
            piece_stats[k] = ts_malloc(2 * ROWS * ss);
            for (size_t r = 0; r < ROWS; r++)
                memcpy((char *)piece_x[k] + r * lengths[k] * es,
                       (char *)x + (r * AXIS + starts[k]) * es, lengths[k] * es);
        }
        double *whole_stats = ts_malloc(2 * ROWS * sizeof(double));
        double *piece_ref = ts_malloc(2 * ROWS * sizeof(double));
        double *ref_y = ts_malloc(ROWS * AXIS * sizeof(double));
        void *merged = ts_malloc(2 * ROWS * ss), *y = ts_alloc(dtype, ROWS * AXIS);
        ref_softmax_ex(CLSM_SOFTMAX, dtype, whole, 1.0f, NULL, x, NULL, whole_stats);

        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            ref_softmax((clsm_op)op, dtype, whole, 1.0f, x, ref_y);
            for (size_t c = 0; c < TS_CONFIGS; c++) {
                for (size_t ei = 0; ei < N_OF(ex_entries); ei++) {
                    const ts_entry *e = ex_entries[ei];
                    char what[256], head[160];
                    ts_describe(head, sizeof head, ts_config_name(c), (clsm_op)op, dtype, whole,
                                1.0f);
                    snprintf(what, sizeof what, "%s %s, sharded", head, e->name);
                    for (size_t k = 0; k < 3; k++) {
                        request q = {{ROWS, lengths[k], 1}, 1.0f, CLSM_OPTIONS_INIT, 0, true, true};
                        clsm_status st = fused_call(ts_ctx[c], e, (clsm_op)op, dtype, &q,
                                                    piece_x[k], NULL, piece_stats[k], what);
                        cr_assert_eq(st, CLSM_SUCCESS, "%s: stats of piece %zu: %s", what, k,
                                     clsm_status_string(st));
                        ref_softmax_ex((clsm_op)op, dtype, q.shape, 1.0f, NULL, piece_x[k], NULL,
                                       piece_ref);
                        ts_report r = ts_check_stats(dtype, ROWS, piece_stats[k], piece_ref);
                        cr_assert(r.ok, "%s: stats of piece %zu: %s", what, k, r.msg);
                    }
                    for (int g = 0; g < 3; g++) {
                        merge_in_grouping(dtype, ROWS, piece_stats, g, merged);
                        any_nan_to_canonical(dtype, merged, 2 * ROWS);
                        ts_report r = ts_check_stats(dtype, ROWS, merged, whole_stats);
                        cr_assert(r.ok, "%s, merged %s against the whole rows: %s", what,
                                  grouping_names[g], r.msg);
                        for (size_t k = 0; k < 3; k++) {
                            request q = {{ROWS, lengths[k], 1}, 1.0f, CLSM_OPTIONS_INIT, 0, false, false};
                            q.opt.stats_in.host = merged;
                            ts_fill_sentinel(piece_y[k], ROWS * lengths[k] * es);
                            clsm_status st = fused_call(ts_ctx[c], e, (clsm_op)op, dtype, &q,
                                                        piece_x[k], piece_y[k], NULL, what);
                            cr_assert_eq(st, CLSM_SUCCESS, "%s: stats_in on piece %zu: %s", what,
                                         k, clsm_status_string(st));
                            for (size_t row = 0; row < ROWS; row++)
                                memcpy((char *)y + (row * AXIS + starts[k]) * es,
                                       (char *)piece_y[k] + row * lengths[k] * es,
                                       lengths[k] * es);
                        }
                        r = ts_check((clsm_op)op, dtype, whole, y, ref_y);
                        cr_assert(r.ok, "%s, merged %s: %s", what, grouping_names[g], r.msg);
                    }
                }
            }
        }
        free(y);
        free(merged);
        free(ref_y);
        free(piece_ref);
        free(whole_stats);
        for (size_t k = 0; k < 3; k++) {
            free(piece_stats[k]);
            free(piece_y[k]);
            free(piece_x[k]);
        }
        free(x);
    }
}

/* ---- clsm_stats_merge ---- */

typedef struct merge_case {
    double a_max, a_sum, b_max, b_sum, max, sum;
} merge_case;

Test(attention, stats_merge_handles_infinite_and_nan_sides)
{
    const double inf = INFINITY, nan = NAN;
    const merge_case cases[] = {
        {-inf, 0, 2, 3, 2, 3},
        {2, 3, -inf, 0, 2, 3},
        {-inf, 0, -inf, 0, -inf, 0},
        {inf, 2, 5, 7, inf, 2},
        {5, 7, inf, 2, inf, 2},
        {inf, 2, inf, 1, inf, 3},
        {inf, 1, -inf, 0, inf, 1},
        {1, 2, 3, 4, 3, 4 + 2 * exp(-2.0)},
        {3, 4, 1, 2, 3, 4 + 2 * exp(-2.0)},
        {0.5, 1, 0.5, 2.5, 0.5, 3.5},
        {-40, 1, 0, 1, 0, 1 + exp(-40.0)},
        {nan, nan, 1, 1, nan, nan},
        {1, 1, nan, nan, nan, nan},
        {inf, 1, nan, nan, nan, nan},
        {nan, nan, -inf, 0, nan, nan},
    };
    const size_t count = N_OF(cases);
    for (size_t i = 0; i < TS_DTYPES; i++) {
        const clsm_dtype dtype = ts_dtypes[i], sd = ts_stats_dtype(dtype);
        const size_t ss = stat_size(dtype);
        const double rel = dtype == CLSM_F64 ? 1e-13 : 1e-6;
        /* One pair more than count, which must stay as it is. */
        void *in = ts_malloc(2 * (count + 1) * ss), *inout = ts_malloc(2 * (count + 1) * ss);
        void *in_before = ts_malloc(2 * (count + 1) * ss);
        for (size_t k = 0; k <= count; k++) {
            const merge_case *m = &cases[k < count ? k : 0];
            ts_store(sd, in, 2 * k, m->a_max);
            ts_store(sd, in, 2 * k + 1, m->a_sum);
            ts_store(sd, inout, 2 * k, m->b_max);
            ts_store(sd, inout, 2 * k + 1, m->b_sum);
        }
        memcpy(in_before, in, 2 * (count + 1) * ss);
        clsm_stats_merge(dtype, count, in, inout);
        cr_assert(memcmp(in, in_before, 2 * (count + 1) * ss) == 0, "%s: in was modified",
                  ts_dtype_name(dtype));
        for (size_t k = 0; k < count; k++) {
            const merge_case *m = &cases[k];
            double max = ts_load(sd, inout, 2 * k), sum = ts_load(sd, inout, 2 * k + 1);
            bool ok = isnan(m->max) ? isnan(max) && isnan(sum)
                      : max == m->max &&
                            (isinf(m->sum) || m->sum == 0 || m->sum == (double)(int)m->sum
                                 ? sum == m->sum
                                 : fabs(sum - m->sum) <= rel * m->sum);
            cr_assert(ok, "%s: (%g, %g) merged with (%g, %g) gave (%.17g, %.17g), want (%g, %g)",
                      ts_dtype_name(dtype), m->a_max, m->a_sum, m->b_max, m->b_sum, max, sum,
                      m->max, m->sum);
        }
        cr_assert_eq(ts_load(sd, inout, 2 * count), cases[0].b_max, "%s: merged past count",
                     ts_dtype_name(dtype));
        cr_assert_eq(ts_load(sd, inout, 2 * count + 1), cases[0].b_sum, "%s: merged past count",
                     ts_dtype_name(dtype));
        free(in_before);
        free(inout);
        free(in);
    }
}

/* ---- v2: soft-capping, ALiBi, KV lengths ---- */

/* Data with entries far past the caps, and one of each infinity where the slice allows. */
static void *capped_data(clsm_dtype dtype, clsm_shape s, uint64_t seed)
{
    void *x = ts_random(dtype, ts_count(s), -300, 300, seed);
    if (s.axis > 4) {
        ts_store(dtype, x, 1 * s.inner, INFINITY);
        ts_store(dtype, x, 3 * s.inner, -INFINITY);
    }
    return x;
}

Test(attention, softcap_bends_u_into_the_cap_before_the_mask)
{
    const float caps[] = {50.0f, 30.0f, 0.75f};
    const dims d = {1, 2, 3, 37};
    for (size_t k = 0; k < N_OF(caps); k++) {
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(20 + k, i);
            request q = request_for(d, 0.5f);
            q.opt.softcap = caps[k];
            void *x = capped_data(p.dtype, q.shape, 20000 + k);
            char label[64];
            snprintf(label, sizeof label, "softcap %g", caps[k]);
            check_request(&q, p, x, label);
            /* With a mask and statistics: the cap comes first, the mask is added after it. */
            float *mask = ts_malloc(ts_count(q.shape) * sizeof *mask);
            for (size_t j = 0; j < ts_count(q.shape); j++)
                mask[j] = (float)(j % 5) - 2;
            q.opt.mask_type = CLSM_MASK_ADD_F32;
            q.opt.mask.host = mask;
            q.opt.mask_stride[2] = d.axis, q.opt.mask_stride[1] = d.rows * d.axis;
            q.opt.mask_stride[3] = 1;
            q.stats_out = true;
            snprintf(label, sizeof label, "softcap %g, mask, stats_out", caps[k]);
            check_request(&q, p, x, label);
            free(mask);
            free(x);
        }
    }
}

/* Soft-capping needs no row view: any inner, both _ex entries, every family. */
Test(attention, softcap_works_along_strided_axes)
{
    const clsm_shape shapes[] = {{4, 37, 5}, {2, 300, 17}};
    clsm_options o = CLSM_OPTIONS_INIT;
    o.softcap = 20.0f;
    for (size_t k = 0; k < N_OF(shapes); k++) {
        void *x = capped_data(CLSM_F32, shapes[k], 21000 + k);
        void *y = ts_alloc(CLSM_F32, ts_count(shapes[k]));
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++)
            for (size_t c = 0; c < TS_CONFIGS; c++)
                for (size_t e = 0; e < N_OF(ex_entries); e++) {
                    ts_data dd = {(clsm_op)op, CLSM_F32, shapes[k], 2.0, &o, {x, NULL}, NULL};
                    ts_run_checked(ex_entries[e], ts_ctx[c], &dd, y, ts_config_name(c));
                }
        free(y);
        free(x);
    }
}

/* The heads' slopes by clsm_alibi_slopes, in the calls' statistics type. */
static void *alibi_for(clsm_dtype dtype, size_t heads, double max_bias)
{
    void *slopes = ts_malloc(heads * stat_size(dtype));
    clsm_status st = clsm_alibi_slopes(dtype, heads, max_bias, 0, heads, slopes);
    cr_assert_eq(st, CLSM_SUCCESS, "clsm_alibi_slopes: %s", clsm_status_string(st));
    return slopes;
}

Test(attention, alibi_subtracts_each_heads_slope_times_the_distance)
{
    /* Prefill (rows = axis), a decode step against a KV cache (offset axis - rows), a long
     * row, and causal with a window. */
    const struct {
        dims d;
        int causal;
        ptrdiff_t offset;
        size_t window;
    } cases[] = {{{1, 4, 9, 9}, 1, 0, 0},      {{2, 3, 1, 40}, 1, 39, 0},
                 {{1, 2, 2, 4099}, 0, 4097, 0}, {{1, 2, 5, 33}, 1, 28, 7},
                 {{1, 8, 2, 17}, 0, -3, 0}};
    for (size_t k = 0; k < N_OF(cases); k++)
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(23 + k, i);
            request q = request_for(cases[k].d, 0.25f);
            q.opt.causal = cases[k].causal;
            q.opt.causal_offset = cases[k].offset;
            q.opt.window = cases[k].window;
            q.opt.alibi_slopes.host = alibi_for(p.dtype, cases[k].d.heads, 8.0);
            q.stats_out = true;
            void *x = ts_random(p.dtype, ts_count(q.shape), -4, 4, 23000 + k);
            char label[96];
            snprintf(label, sizeof label, "alibi causal %d offset %td window %zu",
                     cases[k].causal, cases[k].offset, cases[k].window);
            check_request(&q, p, x, label);
            free(x);
            free(q.opt.alibi_slopes.host);
        }
}

Test(attention, kv_lengths_mask_each_sequences_tail_and_align_causal_bottom_right)
{
    const dims d = {3, 2, 4, 37};
    const int32_t lengths[] = {0, 5, 37};
    const struct {
        int causal, alibi;
        ptrdiff_t offset;
        size_t window;
    } cases[] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {1, 0, -2, 3}, {1, 1, 0, 0}, {0, 1, 0, 0}};
    for (size_t k = 0; k < N_OF(cases); k++)
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(28 + k, i);
            request q = request_for(d, 1.0f);
            q.opt.kv_lengths.host = (void *)lengths;
            q.opt.causal = cases[k].causal;
            q.opt.causal_offset = cases[k].offset;
            q.opt.window = cases[k].window;
            if (cases[k].alibi)
                q.opt.alibi_slopes.host = alibi_for(p.dtype, d.heads, 8.0);
            q.stats_out = true;
            void *x = ts_random(p.dtype, ts_count(q.shape), -4, 4, 28000 + k);
            char label[128];
            snprintf(label, sizeof label, "kv_lengths {0, 5, 37} causal %d offset %td window %zu "
                     "alibi %d", cases[k].causal, cases[k].offset, cases[k].window,
                     cases[k].alibi);
            check_request(&q, p, x, label);
            free(x);
            free(q.opt.alibi_slopes.host);
        }
}

/* Masked entries are not read: NaN past a sequence's length changes nothing. */
Test(attention, kv_lengths_never_read_the_masked_tail)
{
    const dims d = {2, 1, 3, 40};
    const int32_t lengths[] = {7, 33};
    request q = request_for(d, 1.0f);
    q.opt.kv_lengths.host = (void *)lengths;
    float *x = ts_random(CLSM_F32, ts_count(q.shape), -4, 4, 29000);
    for (size_t o = 0; o < q.shape.outer; o++)
        for (size_t j = (size_t)lengths[o / d.rows]; j < d.axis; j++)
            x[o * d.axis + j] = NAN;
    const dtype_op p = {CLSM_F32, CLSM_SOFTMAX, CLSM_LOG_SOFTMAX};
    check_request(&q, p, x, "kv_lengths over NaN tails");
    free(x);
}

/* The buffers path clamps lengths to [0, axis] (the host path refuses them) and turns a
 * head whose slope is not finite into NaN slices (unless fully masked). */
Test(attention, buffers_clamp_lengths_and_poison_non_finite_slopes)
{
    const dims d = {2, 2, 2, 9};
    const int32_t lengths[] = {-4, 100};
    float slopes[] = {INFINITY, 0.5f};
    request q = request_for(d, 1.0f);
    q.opt.kv_lengths.host = (void *)lengths;
    q.opt.causal = 1;
    q.opt.alibi_slopes.host = slopes;
    q.stats_out = true;
    void *x = ts_random(CLSM_F32, ts_count(q.shape), -4, 4, 29500);
    const size_t n = ts_count(q.shape);
    double *ref_y = ts_malloc(n * sizeof *ref_y), *ref_stats = ts_malloc(4 * n * sizeof *ref_stats);
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        ref_softmax_ex((clsm_op)op, CLSM_F32, q.shape, q.scale, &q.opt, x, ref_y, ref_stats);
        for (size_t c = 0; c < TS_CONFIGS; c++)
            check_one(ts_ctx[c], ts_config_name(c), &ts_entries[3], (clsm_op)op, CLSM_F32, &q, x,
                      ref_y, ref_stats, "clamped lengths, an infinite slope");
    }
    /* Batch 0 keeps nothing; batch 1's head 0 is NaN. */
    cr_assert(isnan(ref_y[n / 2]) && ref_y[0] == -INFINITY, "the reference's own rules");
    free(ref_stats);
    free(ref_y);
    free(x);
}

/* ---- the v1 call ---- */

/* NULL options and zeroed ones are the plain call: host_ex and buffers_ex against host and
 * buffers, bitwise. */
Test(attention, zero_and_null_options_are_the_v1_call)
{
    const clsm_shape shapes[] = {{5, 17, 3}, {3, 1, 1}, {2, 4099, 1}};
    const float scales[] = {0.5f, 0.0f};
    const clsm_options zero = CLSM_OPTIONS_INIT;
    /* Each _ex row of the table follows its plain row. */
    const ts_entry *const plain[] = {&ts_entries[0], &ts_entries[1]};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        for (size_t i = 0; i < N_PLAN; i++) {
            const dtype_op p = case_plan(14, i);
            const clsm_dtype dtype = p.dtype;
            const size_t n = ts_count(shapes[k]);
            void *x = ts_random(dtype, n, -4, 4, 13000 + k);
            void *v1 = ts_alloc(dtype, n), *ex = ts_alloc(dtype, n);
            for (int op = p.first_op; op <= p.last_op; op++) {
                for (size_t sc = 0; sc < N_OF(scales); sc++) {
                    for (size_t c = 0; c < TS_CONFIGS; c++) {
                        for (size_t ei = 0; ei < N_OF(ex_entries); ei++) {
                            char what[256], head[160];
                            ts_describe(head, sizeof head, ts_config_name(c), (clsm_op)op, dtype,
                                        shapes[k], scales[sc]);
                            snprintf(what, sizeof what, "%s %s", head, ex_entries[ei]->name);
                            ts_data d = {(clsm_op)op, dtype, shapes[k], scales[sc], NULL, {x},
                                         NULL};
                            clsm_status st;
                            ts_report r = ts_run(plain[ei], ts_ctx[c], &d, TS_APART, v1, &st);
                            cr_assert(r.ok && st == CLSM_SUCCESS, "%s, the plain call: %s %s",
                                      what, clsm_status_string(st), r.msg);
                            const clsm_options *const options[] = {NULL, &zero};
                            for (size_t o = 0; o < 2; o++) {
                                d.options = options[o];
                                r = ts_run(ex_entries[ei], ts_ctx[c], &d, TS_APART, ex, &st);
                                cr_assert(r.ok && st == CLSM_SUCCESS, "%s, %s options: %s %s",
                                          what, o ? "zero" : "NULL", clsm_status_string(st),
                                          r.msg);
                                r = ts_check_identical(dtype, n, ex, v1);
                                cr_assert(r.ok, "%s, %s options: %s", what, o ? "zero" : "NULL",
                                          r.msg);
                            }
                        }
                    }
                }
            }
            free(ex);
            free(v1);
            free(x);
        }
    }
}

/* ---- bad input: the exact status, y untouched ---- */

static clsm_context *bad_ctx;

static void open_bad(void)
{
    unsetenv("CLSM_KERNEL");
    clsm_status st = clsm_context_create(&bad_ctx);
    cr_assert_eq(st, CLSM_SUCCESS, "clsm_context_create: %s", clsm_status_string(st));
}

static void close_bad(void)
{
    clsm_context_release(bad_ctx);
    bad_ctx = NULL;
}

TestSuite(attention_bad_input, .init = open_bad, .fini = close_bad);

/* [batch 1, heads 2, rows 3] of 8 entries, F32, with a full mask of exactly 48 elements. */
#define BAD_N 48
static const clsm_shape bad_shape = {6, 8, 1};
static float bad_x[BAD_N], bad_y[BAD_N], bad_mask[BAD_N], bad_sinks[2], bad_stats[12];

static clsm_options valid_options(void)
{
    clsm_options o = CLSM_OPTIONS_INIT;
    o.batch = 1, o.heads = 2, o.rows = 3;
    o.mask_type = CLSM_MASK_ADD_F32;
    o.mask.host = bad_mask;
    o.mask_stride[1] = 24, o.mask_stride[2] = 8, o.mask_stride[3] = 1;
    o.causal = 1;
    o.sinks.host = bad_sinks;
    return o;
}

/* Both _ex entry points with options o (host tensors; ts_run stages them on the buffers
 * path) on x: the status must be want, with nothing written on failure (ts_run). A mask that
 * reaches further than any array (unstageable) cannot be staged or kept to compare: then the
 * host path alone, y watched. */
static void expect_options(clsm_status want, clsm_shape s, const clsm_options *o,
                           bool unstageable, const char *what)
{
    for (size_t i = 0; i < BAD_N; i++)
        bad_x[i] = (float)i / 7;
    if (unstageable) {
        ts_fill_sentinel(bad_y, sizeof bad_y);
        clsm_status st =
            clsm_softmax_host_ex(bad_ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, o, bad_x, bad_y);
        cr_assert_eq(st, want, "%s: got %s, want %s", what, clsm_status_string(st),
                     clsm_status_string(want));
        ts_report r = ts_check_sentinel(bad_y, sizeof bad_y);
        cr_assert(r.ok, "%s: y changed: %s", what, r.msg);
        return;
    }
    const ts_data d = {CLSM_SOFTMAX, CLSM_F32, s, 1.0f, o, {bad_x}, NULL};
    for (size_t k = 0; k < N_OF(ex_entries); k++) {
        clsm_status st;
        ts_report r = ts_run(ex_entries[k], bad_ctx, &d, TS_APART, bad_y, &st);
        cr_assert(r.ok, "%s, %s: %s", ex_entries[k]->name, what, r.msg);
        cr_assert_eq(st, want, "%s, %s: got %s, want %s", ex_entries[k]->name, what,
                     clsm_status_string(st), clsm_status_string(want));
    }
}

Test(attention_bad_input, valid_options_are_accepted)
{
    clsm_options o = valid_options();
    expect_options(CLSM_SUCCESS, bad_shape, &o, false, "the options the other cases break");
}

Test(attention_bad_input, mask_causal_or_sinks_need_inner_of_one)
{
    const clsm_shape strided = {6, 4, 2};
    clsm_options o = CLSM_OPTIONS_INIT;
    o.mask_type = CLSM_MASK_ADD_F32;
    o.mask.host = bad_mask;
    o.mask_stride[3] = 1;
    expect_options(CLSM_ERROR_INVALID_ARGUMENT, strided, &o, false, "mask with inner 2");
    o = (clsm_options)CLSM_OPTIONS_INIT;
    o.causal = 1;
    expect_options(CLSM_ERROR_INVALID_ARGUMENT, strided, &o, false, "causal with inner 2");
    o = (clsm_options)CLSM_OPTIONS_INIT;
    o.sinks.host = bad_sinks;
    expect_options(CLSM_ERROR_INVALID_ARGUMENT, strided, &o, false, "sinks with inner 2");
    /* Statistics alone work along any axis. */
    o = (clsm_options)CLSM_OPTIONS_INIT;
    o.stats_out.host = bad_stats;
    expect_options(CLSM_SUCCESS, (clsm_shape){3, 4, 2}, &o, false, "stats_out with inner 2");
}

Test(attention_bad_input, batch_heads_rows_must_multiply_to_outer)
{
    const size_t wrong[][3] = {{1, 2, 2}, {2, 2, 3}, {0, 2, 3}, {1, 0, 6}, {6, 1, 0}};
    for (size_t k = 0; k < N_OF(wrong); k++) {
        clsm_options o = valid_options();
        o.batch = wrong[k][0], o.heads = wrong[k][1], o.rows = wrong[k][2];
        char what[64];
        snprintf(what, sizeof what, "[%zu, %zu, %zu] for outer 6", o.batch, o.heads, o.rows);
        expect_options(CLSM_ERROR_INVALID_ARGUMENT, bad_shape, &o, false, what);
    }
}

Test(attention_bad_input, window_without_causal)
{
    clsm_options o = valid_options();
    o.causal = 0;
    o.window = 2;
    expect_options(CLSM_ERROR_INVALID_ARGUMENT, bad_shape, &o, false, "window 2, causal off");
}

Test(attention_bad_input, sinks_with_stats_in)
{
    clsm_options o = valid_options();
    o.stats_in.host = bad_stats;
    expect_options(CLSM_ERROR_INVALID_ARGUMENT, bad_shape, &o, false, "sinks and stats_in");
}

Test(attention_bad_input, unknown_mask_type_or_missing_mask)
{
    const int unknown[] = {5, 99, -1};
    for (size_t k = 0; k < N_OF(unknown); k++) {
        clsm_options o = valid_options();
        o.mask_type = (clsm_mask_type)unknown[k];
        char what[64];
        snprintf(what, sizeof what, "mask type %d", unknown[k]);
        expect_options(CLSM_ERROR_INVALID_ARGUMENT, bad_shape, &o, false, what);
    }
    for (int type = CLSM_MASK_ADD_F32; type <= CLSM_MASK_KEEP_U8; type++) {
        clsm_options o = valid_options();
        o.mask_type = (clsm_mask_type)type;
        o.mask.host = NULL;
        /* The host path reads the host member only. */
        o.mask.buffer = (cl_mem)(uintptr_t)1;
        char what[64];
        snprintf(what, sizeof what, "mask type %d with a NULL host mask", type);
        expect_options(CLSM_ERROR_INVALID_ARGUMENT, bad_shape, &o, false, what);
    }
}

Test(attention_bad_input, mask_strides_whose_largest_index_overflows)
{
    const size_t strides[][4] = {
        {0, 0, 0, SIZE_MAX / 4},
        {0, SIZE_MAX, 1, 1},
        /* Each product fits; their sum does not. */
        {0, SIZE_MAX / 2, SIZE_MAX / 4, 1},
        {SIZE_MAX, 0, 0, 1},
    };
    for (size_t k = 0; k < N_OF(strides); k++) {
        clsm_options o = valid_options();
        memcpy(o.mask_stride, strides[k], sizeof o.mask_stride);
        if (k == 3)
            o.batch = 2, o.heads = 1; /* [2, 1, 3]: batch 1 reaches SIZE_MAX */
        char what[64];
        snprintf(what, sizeof what, "strides case %zu", k);
        /* A mask that reaches this far cannot be staged in a buffer. */
        expect_options(CLSM_ERROR_INVALID_SHAPE, bad_shape, &o, true, what);
    }
}

/* The buffers path: each option buffer one element short, or pushed past its end by the offset. */
static cl_mem bad_buffer(size_t bytes)
{
    return ts_cl_sentinel_buffer(ts_cl_context_of(bad_ctx), CL_MEM_READ_WRITE, bytes);
}

/* buffers_ex with options o, whose tensors are buffers already: the status must be want,
 * with no event and y untouched on failure. */
static void expect_buffers_ex(clsm_status want, const clsm_options *o, const char *what)
{
    cl_mem xb = bad_buffer(BAD_N * 4), yb = bad_buffer(BAD_N * 4);
    cl_event ev = NULL;
    const ts_args a = {.ctx = bad_ctx, .op = CLSM_SOFTMAX, .dtype = CLSM_F32, .shape = bad_shape,
                       .scale = 1, .options = o, .in_buffer = {xb}, .out_buffer = yb,
                       .event = &ev};
    clsm_status st = ex_entries[1]->call(&a);
    cr_assert_eq(st, want, "%s: got %s, want %s", what, clsm_status_string(st),
                 clsm_status_string(want));
    if (ev != NULL) {
        clWaitForEvents(1, &ev);
        clReleaseEvent(ev);
    }
    if (want != CLSM_SUCCESS) {
        cr_assert_null(ev, "%s: an event came back with an error", what);
        unsigned char back[BAD_N * 4];
        ts_cl_read(clsm_context_queue(bad_ctx), yb, 0, sizeof back, back);
        ts_report r = ts_check_sentinel(back, sizeof back);
        cr_assert(r.ok, "%s: y changed: %s", what, r.msg);
    }
    clFinish(clsm_context_queue(bad_ctx));
    clReleaseMemObject(yb);
    clReleaseMemObject(xb);
}

Test(attention_bad_input, option_buffers_too_small_for_their_largest_index)
{
    /* Exactly large enough: 48 mask elements, 2 sinks, 6 (max, sum) pairs. */
    cl_mem mask = bad_buffer(BAD_N * 4), sinks = bad_buffer(2 * 4), stats = bad_buffer(12 * 4);
    cl_mem mask_short = bad_buffer(BAD_N * 4 - 4), sinks_short = bad_buffer(4);
    cl_mem stats_short = bad_buffer(12 * 4 - 4);

    clsm_options fits = valid_options();
    fits.mask.host = fits.sinks.host = NULL;
    fits.mask.buffer = mask;
    fits.sinks.buffer = sinks;
    fits.stats_out.buffer = stats;
    expect_buffers_ex(CLSM_SUCCESS, &fits, "every option buffer exactly large enough");

    clsm_options o = fits;
    o.mask.buffer = mask_short;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "mask one element short");
    o = fits;
    o.mask.offset = 4;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "mask pushed past its end by the offset");
    o = fits;
    o.sinks.buffer = sinks_short;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "sinks one element short");
    o = fits;
    o.sinks.offset = 4;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "sinks pushed past their end");
    o = fits;
    o.stats_out.buffer = stats_short;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "stats_out one element short");
    o = fits;
    o.stats_out.offset = 8;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "stats_out pushed past its end");

    clsm_options in = fits;
    in.sinks.buffer = NULL;
    in.stats_out.buffer = NULL;
    in.stats_in.buffer = stats;
    expect_buffers_ex(CLSM_SUCCESS, &in, "stats_in exactly large enough");
    o = in;
    o.stats_in.buffer = stats_short;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "stats_in one element short");
    o = in;
    o.stats_in.offset = 4;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "stats_in pushed past its end");

    /* The buffers path reads the buffer member only. */
    o = fits;
    o.mask.buffer = NULL;
    o.mask.host = bad_mask;
    expect_buffers_ex(CLSM_ERROR_INVALID_ARGUMENT, &o, "a mask type with a NULL mask buffer");

    cl_mem all[] = {mask, sinks, stats, mask_short, sinks_short, stats_short};
    for (size_t k = 0; k < N_OF(all); k++)
        clReleaseMemObject(all[k]);
}

/* ---- bad input of the v2 options ---- */

Test(attention_bad_input, softcap_must_be_finite_and_not_negative)
{
    const float bad[] = {NAN, -1.0f, -1e-30f, INFINITY, -INFINITY};
    for (size_t k = 0; k < N_OF(bad); k++) {
        clsm_options o = valid_options();
        o.softcap = bad[k];
        char what[48];
        snprintf(what, sizeof what, "softcap %g", bad[k]);
        expect_options(CLSM_ERROR_INVALID_ARGUMENT, bad_shape, &o, false, what);
    }
    clsm_options o = valid_options();
    o.softcap = 1e-30f;
    expect_options(CLSM_SUCCESS, bad_shape, &o, false, "softcap 1e-30");
}

Test(attention_bad_input, alibi_and_kv_lengths_need_inner_of_one)
{
    const clsm_shape strided = {6, 4, 2};
    float slopes[1] = {0.5f};
    int32_t lengths[1] = {4};
    clsm_options o = CLSM_OPTIONS_INIT;
    o.alibi_slopes.host = slopes;
    expect_options(CLSM_ERROR_INVALID_ARGUMENT, strided, &o, false, "ALiBi with inner 2");
    o = (clsm_options)CLSM_OPTIONS_INIT;
    o.kv_lengths.host = lengths;
    expect_options(CLSM_ERROR_INVALID_ARGUMENT, strided, &o, false, "kv_lengths with inner 2");
}

/* The host path reads these whole and refuses what the buffers path clamps or poisons
 * (attention::buffers_clamp_lengths_and_poison_non_finite_slopes). */
Test(attention_bad_input, host_path_refuses_lengths_out_of_range_and_slopes_not_finite)
{
    const int32_t bad_lengths[] = {-1, 9, INT32_MIN};
    for (size_t k = 0; k < N_OF(bad_lengths); k++) {
        int32_t lengths[1] = {bad_lengths[k]};
        clsm_options o = valid_options();
        o.kv_lengths.host = lengths;
        char what[48];
        snprintf(what, sizeof what, "kv_lengths %d of axis 8", (int)bad_lengths[k]);
        expect_options(CLSM_ERROR_INVALID_ARGUMENT, bad_shape, &o, true, what);
    }
    const float bad_slopes[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < N_OF(bad_slopes); k++) {
        float slopes[2] = {0.5f, bad_slopes[k]};
        clsm_options o = valid_options();
        o.alibi_slopes.host = slopes;
        char what[48];
        snprintf(what, sizeof what, "ALiBi slope %g", bad_slopes[k]);
        expect_options(CLSM_ERROR_INVALID_ARGUMENT, bad_shape, &o, true, what);
    }
    int32_t lengths[1] = {8};
    float slopes[2] = {0.5f, 0.25f};
    clsm_options o = valid_options();
    o.kv_lengths.host = lengths;
    o.alibi_slopes.host = slopes;
    expect_options(CLSM_SUCCESS, bad_shape, &o, false, "length 8 of axis 8, finite slopes");
}

Test(attention_bad_input, alibi_and_kv_buffers_too_small)
{
    cl_mem slopes = bad_buffer(2 * 4), slopes_short = bad_buffer(4);
    cl_mem lengths = bad_buffer(4), lengths_short = bad_buffer(2);
    clsm_options fits = CLSM_OPTIONS_INIT;
    fits.batch = 1, fits.heads = 2, fits.rows = 3;
    fits.alibi_slopes.buffer = slopes;
    fits.kv_lengths.buffer = lengths;
    expect_buffers_ex(CLSM_SUCCESS, &fits, "ALiBi and kv_lengths buffers exactly large enough");
    clsm_options o = fits;
    o.alibi_slopes.buffer = slopes_short;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "ALiBi slopes one element short");
    o = fits;
    o.alibi_slopes.offset = 4;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "ALiBi slopes pushed past their end");
    o = fits;
    o.kv_lengths.buffer = lengths_short;
    expect_buffers_ex(CLSM_ERROR_INVALID_SHAPE, &o, "kv_lengths short");
    o = fits;
    o.kv_lengths.offset = 2;
    expect_buffers_ex(CLSM_ERROR_INVALID_ARGUMENT, &o, "kv_lengths offset not a multiple of 4");
    cl_mem all[] = {slopes, slopes_short, lengths, lengths_short};
    for (size_t k = 0; k < N_OF(all); k++)
        clReleaseMemObject(all[k]);
}
