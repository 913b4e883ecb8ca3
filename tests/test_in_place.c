/* In place is bitwise equal to out of place on every entry point (the table in entries.h) that has it, kernel family, dtype and op: y over x, and the backward's dx over dy, over y, and over both. Sampling has none: its tokens over its logits are bad input (test_bad_input.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "entries.h"
#include "support.h"

TestSuite(in_place, .init = ts_open_all, .fini = ts_close_all);

/*
 * Shapes that reach every family's paths: a short row (cut into chunks by split), rows
 * finished together and gathered per lane, strided blocks of neighbouring columns with a
 * ragged end, and longer rows and slices.
 */
static const clsm_shape shapes[] = {{1, 16, 1}, {4099, 5, 1}, {2, 37, 17}, {3, 1025, 2}};
static const float scales[] = {0.0f, 1.0f, -0.75f};
static const char *const alias_names[] = {"apart", "over the first input", "over dy",
                                          "over y and dy"};

/*
 * Inputs with a NaN in every other slice, at a place that moves from slice to slice: a NaN's
 * sign and payload depend on the order of operands, which a compiler may choose differently
 * for in-place and separate memory, so only the canonical NaN compares bitwise. The
 * backward's y is a softmax's or log-softmax's range, its dy uniform in [-1, 1], its x (in[2])
 * in [-4, 4].
 */
static void fill_inputs(const ts_entry *e, clsm_op op, clsm_dtype dtype, clsm_shape s,
                        uint64_t seed, void *in[3])
{
    const size_t n = ts_count(s);
    ts_rng r = ts_rng_seed(seed);
    in[0] = ts_alloc(dtype, n);
    in[1] = ts_alloc(dtype, n);
    in[2] = ts_alloc(dtype, n);
    ts_fill_uniform(&r, dtype, in[2], n, -4, 4);
    const bool backward = e->inputs == 2;
    ts_fill_uniform(&r, dtype, in[0], n, backward && op == CLSM_SOFTMAX ? 0 : -4,
                    backward && op == CLSM_SOFTMAX ? 1 : backward ? 0 : 4);
    ts_fill_uniform(&r, dtype, in[1], n, -1, 1);
    for (size_t slice = 0; slice < s.outer * s.inner; slice += 2) {
        size_t o = slice / s.inner, i = slice % s.inner, j = slice * 7 % s.axis;
        ts_store(dtype, in[slice % 4 == 2 && backward ? 1 : 0], (o * s.axis + j) * s.inner + i,
                 NAN);
    }
}

static void check_entry(const ts_entry *e)
{
    const ts_alias last = e->inputs == 2 ? TS_ON_BOTH : TS_ON_IN0;
    for (size_t d = 0; d < TS_DTYPES; d++) {
        const clsm_dtype dtype = ts_dtypes[d];
        /* The _ex entries' fused programs are compiled per family, dtype and op: F32 and
         * BF16 are enough, as the storage types only change loads and stores. */
        if (e->options && dtype != CLSM_F32 && dtype != CLSM_BF16)
            continue;
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            const clsm_shape s = shapes[k];
            const size_t n = ts_count(s);
            void *want = ts_alloc(dtype, n), *got = ts_alloc(dtype, n);
            ts_options t = {0};
            if (e->options)
                ts_options_make(&t, e, dtype, s, 40 + k);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                void *in[3];
                fill_inputs(e, (clsm_op)op, dtype, s, 10 * d + k, in);
                for (size_t sc = 0; sc < sizeof scales / sizeof scales[0]; sc++) {
                    ts_data data = {(clsm_op)op, dtype, s, scales[sc], e->options ? &t.o : NULL,
                                    {in[0], in[1], in[2]}, NULL};
                    for (size_t c = 0; c < TS_CONFIGS; c++) {
                        for (int a = TS_ON_IN0; a <= (int)last; a++) {
                            char what[240], head[160];
                            ts_describe(head, sizeof head, ts_config_name(c), (clsm_op)op, dtype,
                                        s, scales[sc]);
                            snprintf(what, sizeof what, "%s %s, the output %s", e->name, head,
                                     alias_names[a]);
                            /* Over y and dy, both inputs are y's values. */
                            ts_data apart = data;
                            if (a == TS_ON_BOTH)
                                apart.in[1] = apart.in[0];
                            clsm_status st;
                            ts_report r = ts_run(e, ts_ctx[c], &apart, TS_APART, want, &st);
                            cr_assert(r.ok, "%s, apart: %s", what, r.msg);
                            cr_assert_eq(st, CLSM_SUCCESS, "%s, apart: %s", what,
                                         clsm_status_string(st));
                            r = ts_check_result(e, &apart, want);
                            cr_assert(r.ok, "%s, apart: %s", what, r.msg);
                            r = ts_run(e, ts_ctx[c], &apart, (ts_alias)a, got, &st);
                            cr_assert(r.ok, "%s: %s", what, r.msg);
                            cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what,
                                         clsm_status_string(st));
                            r = ts_check_identical(dtype, n, got, want);
                            cr_assert(r.ok, "%s, against apart: %s", what, r.msg);
                        }
                    }
                }
                free(in[2]);
                free(in[1]);
                free(in[0]);
            }
            ts_options_free(&t);
            free(got);
            free(want);
        }
    }
}

/* Indices, not entries: Criterion runs each test in a new process of its own, where the
 * parent's pointers need not hold. The entries with an output in place: all but sampling's. */
ParameterizedTestParameters(in_place, every_entry_point)
{
    static size_t in_place[TS_ENTRIES];
    size_t n = 0;
    for (size_t k = 0; k < TS_ENTRIES; k++)
        if (!ts_entries[k].sample)
            in_place[n++] = k;
    return cr_make_param_array(size_t, in_place, n);
}

ParameterizedTest(const size_t *entry, in_place, every_entry_point)
{
    check_entry(&ts_entries[*entry]);
}
