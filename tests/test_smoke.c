/* One call of every entry point (the table in entries.h) on every kernel family, dtype and op, against the reference: the quick tier's (tests/run --quick) reach into every kernel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "entries.h"
#include "support.h"

TestSuite(smoke, .init = ts_open_all, .fini = ts_close_all);

/*
 * Sampling on every family (its one-work-item rows on the CPU families, 32 work-items with
 * barriers on the GPU ones) and dtype: every per-row tensor and logprobs with every option
 * its rows allow, and the scalars without options, which take the CPU's vector path. Its
 * fused programs in F32 and BF16 only, as the _ex entries'.
 */
static void check_sample_entry(const ts_entry *e)
{
    const clsm_shape s = {9, 300, 1};
    const size_t n = ts_count(s);
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        for (size_t d = 0; d < TS_DTYPES; d++) {
            const clsm_dtype dtype = ts_dtypes[d];
            void *x = ts_random(dtype, n, -4, 4, 10 * d + c);
            /* Row 1 masked but for two entries, row 4 a NaN, the last row all -inf. */
            for (size_t j = 0; j < s.axis; j++) {
                if (j != 7 && j != 250)
                    ts_store(dtype, x, s.axis + j, -INFINITY);
                ts_store(dtype, x, n - s.axis + j, -INFINITY);
            }
            ts_store(dtype, x, 4 * s.axis + 100, NAN);
            int32_t tokens[9];
            for (int per_row = 0; per_row < 2; per_row++) {
                if (per_row && dtype != CLSM_F32 && dtype != CLSM_BF16)
                    continue;
                ts_options t = {0};
                if (per_row)
                    ts_options_make(&t, e, dtype, s, d);
                ts_sampling sampling;
                ts_sampling_make(&sampling, dtype, s.outer, per_row, 10 * d + c + per_row);
                const ts_data data = {CLSM_SOFTMAX, dtype, s, 0.5f, per_row ? &t.o : NULL, {x},
                                      &sampling.s};
                char what[160];
                snprintf(what, sizeof what, "%s %s [%zu,%zu] %s", ts_config_name(c),
                         ts_dtype_name(dtype), s.outer, s.axis,
                         per_row ? "per-row values and options" : "scalars");
                ts_run_checked(e, ts_ctx[c], &data, tokens, what);
                ts_sampling_free(&sampling);
                ts_options_free(&t);
            }
            free(x);
        }
    }
}

/*
 * Rows for the families that take them and strided slices for columns, with -inf entries in
 * the forward's x (some slices fully masked) so that the special-value paths run too; the
 * _ex entries with every option the shape allows, the backward's with an x of its own. F32 and BF16 for the _ex entries, whose
 * fused programs the other suites compile in those two only: every dtype still meets every
 * family through the other entry points.
 */
static void check_entry(const ts_entry *e)
{
    if (e->sample) {
        check_sample_entry(e);
        return;
    }
    const clsm_shape rows = {6, 37, 1}, strided = {2, 17, 3};
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        const bool columns = ts_config_family(c) && strcmp(ts_config_family(c), "columns") == 0;
        const clsm_shape s = columns ? strided : rows;
        const size_t n = ts_count(s);
        for (size_t d = 0; d < TS_DTYPES; d++) {
            const clsm_dtype dtype = ts_dtypes[d];
            if (e->options && dtype != CLSM_F32 && dtype != CLSM_BF16)
                continue;
            void *in[3] = {ts_random(dtype, n, -4, 4, 10 * d + c),
                           ts_random(dtype, n, -1, 1, 10 * d + c + 5),
                           ts_random(dtype, n, -40, 40, 10 * d + c + 7)};
            /* The forward's x: every fifth entry -inf, and the last outer slices all. */
            for (size_t i = 0; i < n && e->inputs == 1; i++)
                if (i % 5 == 0 || i >= n - s.axis * s.inner)
                    ts_store(dtype, in[0], i, -INFINITY);
            ts_options t = {0};
            if (e->options)
                ts_options_make(&t, e, dtype, s, d);
            void *out = ts_alloc(dtype, n);
            for (size_t k = 0; k < TS_OPS; k++) {
                const ts_data data = {ts_ops[k], dtype, s, 0.5f, e->options ? &t.o : NULL,
                                      {in[0], in[1], in[2]}, NULL};
                char what[160];
                ts_describe(what, sizeof what, ts_config_name(c), ts_ops[k], dtype, s, 0.5f);
                ts_run_checked(e, ts_ctx[c], &data, out, what);
            }
            free(out);
            ts_options_free(&t);
            free(in[2]);
            free(in[1]);
            free(in[0]);
        }
    }
}

/* Indices, not entries: Criterion runs each test in a new process of its own, where the
 * parent's pointers need not hold. */
ParameterizedTestParameters(smoke, every_entry_point)
{
    return cr_make_param_array(size_t, (void *)ts_entry_indices, TS_ENTRIES);
}

ParameterizedTest(const size_t *entry, smoke, every_entry_point)
{
    check_entry(&ts_entries[*entry]);
}
