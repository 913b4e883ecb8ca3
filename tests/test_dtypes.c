/* Every storage type against the f64 reference with the contract's bounds, on every kernel family. */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "entries.h"
#include "reference.h"
#include "support.h"

TestSuite(dtypes, .init = ts_open_all, .fini = ts_close_all);

static const clsm_shape shapes[] = {{7, 1000, 1}, {3, 257, 17}, {2, 4099, 3}, {64, 33, 2}};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static void check_dtype(clsm_dtype dtype, const float *scales, size_t n_scales, double range,
                        uint64_t seed)
{
    for (size_t k = 0; k < N_SHAPES; k++)
        for (size_t i = 0; i < n_scales; i++)
            ts_check_random(dtype, shapes[k], scales[i], -range, range, seed + 10 * k + i);
}

Test(dtypes, f32_within_1e_5)
{
    const float scales[] = {1.0f, 3.0f, -0.25f};
    check_dtype(CLSM_F32, scales, 3, 10, 1000);
}

Test(dtypes, f64_within_1e_13)
{
    const float scales[] = {1.0f, 3.0f, -0.25f};
    check_dtype(CLSM_F64, scales, 3, 10, 2000);
}

/* The _ex calls use an F64 call's double scale as given: 0.1 and 1/3 differ from their
 * float roundings by about 1e-9 relatively, far past the F64 bound at |x| up to 10. The
 * backward's y is x's values (its formula holds for any y), its dy in [-1, 1]; sampling
 * takes every per-row tensor, whose log-probabilities hold it to the F64 bound. */
Test(dtypes, f64_takes_the_double_scale_as_given)
{
    const double scales[] = {0.1, 1.0 / 3, -0.7};
    const clsm_shape shape = {5, 1000, 1};
    void *x = ts_random(CLSM_F64, ts_count(shape), -10, 10, 2100);
    void *dy = ts_random(CLSM_F64, ts_count(shape), -1, 1, 2101);
    double *y = ts_malloc(ts_count(shape) * sizeof *y);
    ts_sampling sampling;
    ts_sampling_make(&sampling, CLSM_F64, shape.outer, true, 2102);
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->options)
            continue;
        for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                if (e->sample && op != CLSM_SOFTMAX)
                    continue;
                ts_data d = {(clsm_op)op, CLSM_F64, shape, scales[i], NULL,
                             {x, e->inputs == 2 ? dy : NULL}, e->sample ? &sampling.s : NULL};
                ts_run_checked(e, ts_ctx[0], &d, y, "double scale");
            }
    }
    ts_sampling_free(&sampling);
    free(y);
    free(dy);
    free(x);
}

/*
 * F16/BF16 over [-8, 8] at scales up to 3 in magnitude, both signs: slices
 * span up to 48, so many results are far below 1 and the shorter axes hold
 * slices with one dominant entry, whose log-softmax lies just below 0.
 */
static const float narrow_scales[] = {1.0f, -1.0f, 3.0f, -2.5f};
#define N_NARROW_SCALES (sizeof narrow_scales / sizeof narrow_scales[0])

/* Short slices: at |scale| 3 many have one entry far above the rest. */
static const clsm_shape short_shapes[] = {{300, 3, 1}, {50, 4, 5}};

static void check_half(clsm_dtype dtype, uint64_t seed)
{
    check_dtype(dtype, narrow_scales, N_NARROW_SCALES, 8, seed);
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < N_NARROW_SCALES; i++)
            ts_check_random(dtype, short_shapes[k], narrow_scales[i], -8, 8, seed + 500 + 10 * k + i);
}

Test(dtypes, f16_within_one_ulp_of_the_rounded_reference)
{
    check_half(CLSM_F16, 3000);
}

Test(dtypes, bf16_within_one_ulp_of_the_rounded_reference)
{
    check_half(CLSM_BF16, 4000);
}

/*
 * Short slices of [-8, 8] data where one entry per slice is set to the peak
 * (+8 for positive scales, -8 for negative ones), so it dominates and its
 * log-softmax is a small negative number (down to about -1e-20), which only
 * an evaluation that is accurate near 0 (log1p of the compensated sum minus
 * 1) gets within one F16/BF16 unit in the last place; its softmax is just
 * below 1. Also F32 and F64 within their bounds.
 */
static void check_dominant(clsm_dtype dtype, clsm_shape shape, float scale, uint64_t seed)
{
    const size_t n = ts_count(shape);
    ts_rng r = ts_rng_seed(seed);
    void *x = ts_alloc(dtype, n);
    ts_fill_uniform(&r, dtype, x, n, -8, 8);
    for (size_t o = 0; o < shape.outer; o++)
        for (size_t i = 0; i < shape.inner; i++) {
            size_t j = ts_rng_below(&r, shape.axis);
            ts_store(dtype, x, (o * shape.axis + j) * shape.inner + i, scale > 0 ? 8 : -8);
        }
    double *ref = malloc(n * sizeof *ref + 1);
    cr_assert_not_null(ref, "out of host memory for the reference");
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        ref_softmax((clsm_op)op, dtype, shape, scale, x, ref);
        if (op == CLSM_LOG_SOFTMAX) {
            /* The data must really reach close to 0, or this test proves nothing. */
            size_t near_zero = 0;
            for (size_t i = 0; i < n; i++)
                near_zero += ref[i] < 0 && ref[i] > -1e-4;
            cr_assert_geq(near_zero, shape.outer * shape.inner / 8,
                          "only %zu log-softmax results in (-1e-4, 0)", near_zero);
        }
        for (size_t c = 0; c < TS_CONFIGS; c++)
            ts_run_and_check(ts_ctx[c], ts_config_name(c), (clsm_op)op, dtype, shape, scale, x,
                             ref);
    }
    free(ref);
    free(x);
}

Test(dtypes, one_dominant_entry_gives_log_softmax_near_zero)
{
    static const clsm_dtype dtypes[] = {CLSM_F16, CLSM_BF16, CLSM_F32, CLSM_F64};
    static const clsm_shape shapes[] = {{512, 3, 1}, {40, 5, 7}, {100, 4, 3}};
    static const float scales[] = {3.0f, -3.0f, 2.0f};
    uint64_t seed = 7000;
    for (size_t d = 0; d < 4; d++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
                check_dominant(dtypes[d], shapes[k], scales[i], seed++);
}

/* Long slices expose summation error: naive f32 accumulation over 2^20 terms misses 1e-5. */
Test(dtypes, long_rows_of_2_20_in_every_dtype)
{
    const clsm_shape s = {1, 1u << 20, 1};
    ts_check_random(CLSM_F32, s, 1.0f, -10, 10, 5000);
    ts_check_random(CLSM_F64, s, 1.0f, -10, 10, 5001);
    ts_check_random(CLSM_F16, s, 1.0f, -8, 8, 5002);
    ts_check_random(CLSM_BF16, s, -1.5f, -8, 8, 5003);
}

Test(dtypes, f64_long_strided_slices)
{
    const clsm_shape s = {2, 65537, 3};
    ts_check_random(CLSM_F64, s, 0.5f, -10, 10, 6000);
}
