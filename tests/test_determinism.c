/* Every entry point (the table in entries.h) gives bitwise the same output, and statistics, on every run and from a fresh context, on every kernel family. */
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
                           {in[0], in[1], in[2]}};
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

/* The _ex entries compile a fused program per family, dtype and op: F32 and BF16 are enough
 * for those, as the storage types only change loads and stores (test_dtypes). */
static void check_entry(const ts_entry *e)
{
    for (size_t d = 0; d < TS_DTYPES; d++) {
        if (e->options && ts_dtypes[d] != CLSM_F32 && ts_dtypes[d] != CLSM_BF16)
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
