/* Every entry point (the table in entries.h) gives bitwise the same output, and statistics, on every run and from a fresh context, on every kernel family; sampling the same tokens on every family too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "entries.h"
#include "support.h"

TestSuite(determinism, .init = ts_open_all, .fini = ts_close_all);

/* The inputs of a call of e: x uniform in [-8, 8]; for the backward, y a softmax's or
 * log-softmax's range, dy uniform in [-1, 1] and x (in[2]) in [-8, 8]. */
static void fill_inputs(const ts_entry *e, clsm_op op, clsm_dtype dtype, size_t n, uint64_t seed,
                        void *in[3])
{
    ts_rng r = ts_rng_seed(seed);
    in[0] = ts_alloc(dtype, n);
    in[1] = ts_alloc(dtype, n);
    in[2] = ts_alloc(dtype, n);
    ts_fill_uniform(&r, dtype, in[2], n, -8, 8);
    if (e->inputs == 1) {
        ts_fill_uniform(&r, dtype, in[0], n, -8, 8);
        return;
    }
    ts_fill_uniform(&r, dtype, in[0], n, op == CLSM_SOFTMAX ? 0 : -20, op == CLSM_SOFTMAX ? 1 : 0);
    ts_fill_uniform(&r, dtype, in[1], n, -1, 1);
}

/* One run on ctx into out, and its statistics (if asked for) into stats. */
static void run(const ts_entry *e, clsm_context *ctx, const ts_data *d, void *out, void *stats,
                size_t stats_bytes, const char *what)
{
    clsm_status st;
    ts_report r = ts_run(e, ctx, d, TS_APART, out, &st);
    cr_assert(r.ok, "%s: %s", what, r.msg);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    if (stats_bytes)
        memcpy(stats, d->options->stats_out.host, stats_bytes);
}

/*
 * Long slices, where a reduction whose order varied from run to run would show: on every
 * configuration, op and run, the bytes of the first run, also from a fresh context. The _ex
 * entries take every option the shape allows (ts_options_make).
 */
static void check_repeatable(const ts_entry *e, clsm_dtype dtype, clsm_shape s, uint64_t seed)
{
    const size_t n = ts_count(s), slices = s.outer * s.inner;
    ts_options t = {0};
    if (e->options)
        ts_options_make(&t, e, dtype, s, seed);
    const size_t stats_bytes =
        t.o.stats_out.host ? 2 * slices * ts_dtype_size(ts_stats_dtype(dtype)) : 0;
    void *first = ts_alloc(dtype, n), *again = ts_alloc(dtype, n);
    void *first_stats = ts_malloc(stats_bytes), *again_stats = ts_malloc(stats_bytes);
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        void *in[3];
        fill_inputs(e, (clsm_op)op, dtype, n, seed + (uint64_t)op, in);
        const ts_data d = {(clsm_op)op, dtype, s, 1.0f, e->options ? &t.o : NULL,
                           {in[0], in[1], in[2]}, NULL};
        for (size_t c = 0; c < TS_CONFIGS; c++) {
            char what[200], head[160];
            ts_describe(head, sizeof head, ts_config_name(c), (clsm_op)op, dtype, s, 1.0f);
            snprintf(what, sizeof what, "%s %s", e->name, head);
            run(e, ts_ctx[c], &d, first, first_stats, stats_bytes, what);
            clsm_context *fresh = NULL;
            clsm_status st = ts_context_create_family(&fresh, ts_config_family(c));
            cr_assert_eq(st, CLSM_SUCCESS, "%s: fresh context: %s", what, clsm_status_string(st));
            clsm_context *const later[] = {ts_ctx[c], ts_ctx[c], fresh};
            for (size_t k = 0; k < 3; k++) {
                run(e, later[k], &d, again, again_stats, stats_bytes, what);
                ts_report r = ts_check_identical(dtype, n, again, first);
                cr_assert(r.ok, "%s, run %zu%s: %s", what, k + 2, k == 2 ? " (fresh context)" : "",
                          r.msg);
                if (!stats_bytes)
                    continue;
                r = ts_check_identical(ts_stats_dtype(dtype), 2 * slices, again_stats,
                                       first_stats);
                cr_assert(r.ok, "%s, run %zu: statistics: %s", what, k + 2, r.msg);
            }
            clsm_context_release(fresh);
        }
        free(in[2]);
        free(in[1]);
        free(in[0]);
    }
    ts_options_free(&t);
    free(again_stats);
    free(first_stats);
    free(again);
    free(first);
}

/* Rows that split and regs cut into chunks, short rows finished together, strided slices. */
static const clsm_shape shapes[] = {{8, 4099, 1}, {3, 1025, 17}, {1, 70001, 1}, {600, 7, 1}};

/* One sampling run on ctx: its tokens into tokens, its log-probabilities (if asked for) into
 * lp. The first run is also checked against the reference, so that the tokens compared are
 * right ones. */
static void run_sample(const ts_entry *e, clsm_context *ctx, const ts_data *d, int32_t *tokens,
                       void *lp, size_t lp_bytes, bool check, const char *what)
{
    clsm_status st;
    ts_report r = ts_run(e, ctx, d, TS_APART, tokens, &st);
    cr_assert(r.ok, "%s: %s", what, r.msg);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    if (check) {
        r = ts_check_result(e, d, tokens);
        cr_assert(r.ok, "%s: %s", what, r.msg);
    }
    if (lp_bytes)
        memcpy(lp, d->sampling->logprobs.host, lp_bytes);
}

/*
 * Sampling: the tokens of the first configuration's first run on every configuration (each
 * family's work split, one work-item or 32 a row), run and fresh context, which the contract
 * promises; the log-probabilities bitwise on every run of a configuration. Per-row values with
 * the options, in F32 and BF16 as the _ex entries; the scalars without, in every dtype.
 */
static void check_sample_repeatable(const ts_entry *e, clsm_dtype dtype, clsm_shape s,
                                    uint64_t seed)
{
    const size_t rows = s.outer;
    void *x = ts_random(dtype, ts_count(s), -8, 8, seed);
    int32_t *first = ts_malloc(rows * sizeof *first), *again = ts_malloc(rows * sizeof *again);
    for (int per_row = 0; per_row < 2; per_row++) {
        if (per_row && dtype != CLSM_F32 && dtype != CLSM_BF16)
            continue;
        ts_options t = {0};
        if (per_row)
            ts_options_make(&t, e, dtype, s, seed);
        ts_sampling sampling;
        ts_sampling_make(&sampling, dtype, rows, per_row, seed + 3);
        const size_t lp_bytes = per_row ? rows * ts_dtype_size(ts_stats_dtype(dtype)) : 0;
        void *lp_first = ts_malloc(lp_bytes), *lp_again = ts_malloc(lp_bytes);
        const ts_data d = {CLSM_SOFTMAX, dtype, s, 1.0f, per_row ? &t.o : NULL, {x}, &sampling.s};
        for (size_t c = 0; c < TS_CONFIGS; c++) {
            char what[200], head[160];
            ts_describe(head, sizeof head, ts_config_name(c), CLSM_SOFTMAX, dtype, s, 1.0f);
            snprintf(what, sizeof what, "%s %s, %s", e->name, head,
                     per_row ? "per-row values and options" : "scalars");
            run_sample(e, ts_ctx[c], &d, c ? again : first, lp_first, lp_bytes, c == 0, what);
            for (size_t r = 0; c && r < rows; r++)
                cr_assert_eq(again[r], first[r], "%s: row %zu drew %d, %s %d", what, r, again[r],
                             ts_config_name(0), first[r]);
            clsm_context *fresh = NULL;
            clsm_status st = ts_context_create_family(&fresh, ts_config_family(c));
            cr_assert_eq(st, CLSM_SUCCESS, "%s: fresh context: %s", what, clsm_status_string(st));
            clsm_context *const later[] = {ts_ctx[c], ts_ctx[c], fresh};
            for (size_t k = 0; k < 3; k++) {
                run_sample(e, later[k], &d, again, lp_again, lp_bytes, false, what);
                for (size_t r = 0; r < rows; r++)
                    cr_assert_eq(again[r], first[r], "%s, run %zu%s: row %zu drew %d, not %d",
                                 what, k + 2, k == 2 ? " (fresh context)" : "", r, again[r],
                                 first[r]);
                cr_assert(memcmp(lp_again, lp_first, lp_bytes) == 0,
                          "%s, run %zu: the log-probabilities differ", what, k + 2);
            }
            clsm_context_release(fresh);
        }
        free(lp_again);
        free(lp_first);
        ts_sampling_free(&sampling);
        ts_options_free(&t);
    }
    free(again);
    free(first);
    free(x);
}

/* The _ex entries compile a fused program per family, dtype and op: F32 and BF16 are enough
 * for those, as the storage types only change loads and stores (test_dtypes). */
static void check_entry(const ts_entry *e)
{
    for (size_t d = 0; d < TS_DTYPES; d++) {
        for (size_t k = 0; e->sample && k < sizeof shapes / sizeof shapes[0]; k++)
            if (shapes[k].inner == 1)
                check_sample_repeatable(e, ts_dtypes[d], shapes[k], 100 * d + 10 * k);
        if (e->sample || (e->options && ts_dtypes[d] != CLSM_F32 && ts_dtypes[d] != CLSM_BF16))
            continue;
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            check_repeatable(e, ts_dtypes[d], shapes[k], 100 * d + 10 * k);
    }
}

/* Indices, not entries: Criterion runs each test in a new process of its own, where the
 * parent's pointers need not hold. */
ParameterizedTestParameters(determinism, every_entry_point)
{
    return cr_make_param_array(size_t, (void *)ts_entry_indices, TS_ENTRIES);
}

ParameterizedTest(const size_t *entry, determinism, every_entry_point)
{
    check_entry(&ts_entries[*entry]);
}
