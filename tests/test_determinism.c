/* The same input gives bitwise the same output on every run, also from a fresh context, on every kernel variant. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support.h"

TestSuite(determinism, .init = ts_open_all, .fini = ts_close_all);

static void run(clsm_context *ctx, const char *what, clsm_op op, clsm_dtype dtype, clsm_shape s,
                const void *x, void *y)
{
    ts_fill_sentinel(y, ts_count(s) * ts_dtype_size(dtype));
    clsm_status st = clsm_softmax_host(ctx, op, dtype, s, 1.0f, x, y);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
}

/* Long slices, where a reduction whose order varied from run to run would show. */
static void check_repeatable(clsm_dtype dtype, clsm_shape s, uint64_t seed)
{
    const size_t n = ts_count(s);
    ts_rng r = ts_rng_seed(seed);
    void *x = ts_alloc(dtype, n), *first = ts_alloc(dtype, n), *again = ts_alloc(dtype, n);
    ts_fill_uniform(&r, dtype, x, n, -8, 8);
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            char what[160];
            ts_describe(what, sizeof what, ts_config_name(c), (clsm_op)op, dtype, s, 1.0f);
            run(ts_ctx[c], what, (clsm_op)op, dtype, s, x, first);
            for (int rep = 0; rep < 3; rep++) {
                run(ts_ctx[c], what, (clsm_op)op, dtype, s, x, again);
                ts_report rep_check = ts_check_identical(dtype, n, again, first);
                cr_assert(rep_check.ok, "%s, run %d: %s", what, rep + 2, rep_check.msg);
            }
            clsm_context *fresh = NULL;
            clsm_status st = ts_context_create_family(&fresh, ts_config_family(c));
            cr_assert_eq(st, CLSM_SUCCESS, "%s: fresh context: %s", what, clsm_status_string(st));
            run(fresh, what, (clsm_op)op, dtype, s, x, again);
            clsm_context_release(fresh);
            ts_report fresh_check = ts_check_identical(dtype, n, again, first);
            cr_assert(fresh_check.ok, "%s, fresh context: %s", what, fresh_check.msg);
        }
    }
    free(again);
    free(first);
    free(x);
}

Test(determinism, f32_repeats_bitwise)
{
    check_repeatable(CLSM_F32, (clsm_shape){8, 4099, 1}, 1);
    check_repeatable(CLSM_F32, (clsm_shape){3, 1025, 17}, 2);
    check_repeatable(CLSM_F32, (clsm_shape){1, 1u << 18, 1}, 3);
}

Test(determinism, f64_repeats_bitwise)
{
    check_repeatable(CLSM_F64, (clsm_shape){8, 4099, 1}, 4);
    check_repeatable(CLSM_F64, (clsm_shape){1, 1u << 18, 1}, 5);
}

Test(determinism, f16_and_bf16_repeat_bitwise)
{
    check_repeatable(CLSM_F16, (clsm_shape){4, 8191, 2}, 6);
    check_repeatable(CLSM_BF16, (clsm_shape){4, 8191, 2}, 7);
}
