/* Special values (NaN, infinities, masked slices, extremes, subnormals, zero scale) for every dtype, op and kernel family. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "reference.h"
#include "support.h"

TestSuite(special, .init = ts_open_all, .fini = ts_close_all);

static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Where the special slice sits: a middle row, a strided column, the very first column,
 * a column among enough neighbours to share a vector with them, one among enough for a
 * work-item to walk four vectors of each row, for short slices one of thousands of rows,
 * where kernels finish neighbouring rows together, and the last column of a middle slab
 * whose columns repeat every 15 vectors. */
typedef struct layout {
    size_t outer, inner, at_outer, at_inner;
} layout;
static const layout layouts[] = {{3, 1, 1, 0},      {2, 3, 1, 2},   {2, 5, 0, 0},
                                 {2, 37, 1, 21},    {2, 64, 1, 50}, {4099, 1, 2053, 0},
                                 {3, 15, 1, 14}};

/*
 * Embeds row among random ordinary slices in each layout and checks both
 * ops on every configuration: the special slice against soft / log_soft
 * (the reference where NULL), every other slice against the reference, so
 * a special value must not leak into its neighbours. The ordinary slices
 * are drawn from [-8, 8], so with the scales used here some of them have a
 * dominant entry whose log-softmax lies just below 0.
 */
static void check_slice(clsm_dtype dtype, const double *row, size_t axis, float scale,
                        const double *soft, const double *log_soft)
{
    for (size_t l = 0; l < N_OF(layouts); l++) {
        const layout *L = &layouts[l];
        if (L->outer > 3 && axis > 64)
            continue;
        clsm_shape s = {L->outer, axis, L->inner};
        size_t n = ts_count(s);
        size_t base = L->at_outer * axis * L->inner + L->at_inner;
        ts_rng r = ts_rng_seed(axis * 31 + l);
        void *x = ts_alloc(dtype, n);
        ts_fill_uniform(&r, dtype, x, n, -8, 8);
        for (size_t j = 0; j < axis; j++)
            ts_store(dtype, x, base + j * L->inner, row[j]);
        double *ref = malloc(n * sizeof *ref);
        cr_assert_not_null(ref);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            const double *want = op == CLSM_SOFTMAX ? soft : log_soft;
            ref_softmax((clsm_op)op, dtype, s, scale, x, ref);
            for (size_t j = 0; want != NULL && j < axis; j++)
                ref[base + j * L->inner] = want[j];
            for (size_t c = 0; c < TS_CONFIGS; c++)
                ts_run_and_check(ts_ctx[c], ts_config_name(c), (clsm_op)op, dtype, s, scale, x,
                                 ref);
        }
        free(ref);
        free(x);
    }
}

static void check_slice_all_dtypes(const double *row, size_t axis, float scale,
                                   const double *soft, const double *log_soft)
{
    for (size_t d = 0; d < N_DTYPES; d++)
        check_slice(dtypes[d], row, axis, scale, soft, log_soft);
}

static void fill(double *a, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        a[i] = v;
}

Test(special, nan_makes_its_whole_slice_nan_and_nothing_else)
{
    const double rows[][5] = {
        {1, NAN, 2, 3, 4}, {NAN, 5, 6, 7, 8}, {-INFINITY, 0, 0, 0, NAN}, {NAN, NAN, NAN, NAN, NAN}};
    double nans[5];
    fill(nans, 5, NAN);
    const float scales[] = {1.0f, -1.0f, 0.5f};
    for (size_t k = 0; k < N_OF(rows); k++)
        for (size_t i = 0; i < N_OF(scales); i++)
            check_slice_all_dtypes(rows[k], 5, scales[i], nans, nans);
    const double single[] = {NAN};
    check_slice_all_dtypes(single, 1, 1.0f, nans, nans);
}

Test(special, positive_infinities_share_the_mass_equally)
{
    const double inf = INFINITY, l2 = log(2.0), l3 = log(3.0);
    const double one[] = {1, inf, 2};
    const double one_soft[] = {0, 1, 0};
    const double one_log[] = {-inf, 0, -inf};
    const double two[] = {inf, 3, inf};
    const double two_soft[] = {0.5, 0, 0.5};
    const double two_log[] = {-l2, -inf, -l2};
    const double three[] = {inf, inf, -7, inf, 0};
    const double three_soft[] = {1.0 / 3, 1.0 / 3, 0, 1.0 / 3, 0};
    const double three_log[] = {-l3, -l3, -inf, -l3, -inf};
    const float scales[] = {1.0f, 0.5f, 3.0f};
    for (size_t i = 0; i < N_OF(scales); i++) {
        check_slice_all_dtypes(one, 3, scales[i], one_soft, one_log);
        check_slice_all_dtypes(two, 3, scales[i], two_soft, two_log);
        check_slice_all_dtypes(three, 5, scales[i], three_soft, three_log);
    }
}

Test(special, positive_and_negative_infinities_together)
{
    const double inf = INFINITY, l2 = log(2.0);
    const double mixed[] = {inf, -inf, 0, inf, -inf};
    const double mixed_soft[] = {0.5, 0, 0, 0.5, 0};
    const double mixed_log[] = {-l2, -inf, -inf, -l2, -inf};
    check_slice_all_dtypes(mixed, 5, 1.0f, mixed_soft, mixed_log);
    const double with_nan[] = {inf, NAN, -inf};
    double nans[3];
    fill(nans, 3, NAN);
    check_slice_all_dtypes(with_nan, 3, 1.0f, nans, nans);
}

Test(special, fully_masked_slices_give_zero_and_minus_infinity)
{
    double row[8], zeros[8], neg_inf[8];
    fill(row, 8, -INFINITY);
    fill(zeros, 8, 0);
    fill(neg_inf, 8, -INFINITY);
    const size_t lengths[] = {1, 3, 8};
    for (size_t k = 0; k < N_OF(lengths); k++) {
        check_slice_all_dtypes(row, lengths[k], 1.0f, zeros, neg_inf);
        check_slice_all_dtypes(row, lengths[k], 2.0f, zeros, neg_inf);
    }
}

Test(special, partly_masked_slices_ignore_the_masked_entries)
{
    const double inf = INFINITY, l2 = log(2.0), l3 = log(3.0);
    const double half[] = {-inf, 1, -inf, 1};
    const double half_soft[] = {0, 0.5, 0, 0.5};
    const double half_log[] = {-inf, -l2, -inf, -l2};
    check_slice_all_dtypes(half, 4, 1.0f, half_soft, half_log);
    const double last[] = {-inf, 0};
    const double last_soft[] = {0, 1};
    const double last_log[] = {-inf, 0};
    check_slice_all_dtypes(last, 2, 1.0f, last_soft, last_log);
    const double thirds[] = {5, -inf, 5, 5};
    const double thirds_soft[] = {1.0 / 3, 0, 1.0 / 3, 1.0 / 3};
    const double thirds_log[] = {-l3, -inf, -l3, -l3};
    check_slice_all_dtypes(thirds, 4, 1.0f, thirds_soft, thirds_log);
}

/*
 * At the largest finite value, differences such as max - (-max) overflow;
 * they are -inf in the dtype's own arithmetic (F32 for F16/BF16 data only
 * where the value itself is beyond f32), which the expected values say.
 */
Test(special, largest_finite_values)
{
    const double l2 = log(2.0);
    for (size_t d = 0; d < N_DTYPES; d++) {
        const double mx = ts_dtype_max(dtypes[d]);
        const double pair[] = {mx, mx, -mx};
        const double pair_soft[] = {0.5, 0.5, 0};
        const double pair_log[] = {-l2, -l2, -2 * mx - l2};
        check_slice(dtypes[d], pair, 3, 1.0f, pair_soft, pair_log);
        const double top[] = {mx, 0};
        const double top_soft[] = {1, 0};
        const double top_log[] = {0, -mx};
        check_slice(dtypes[d], top, 2, 1.0f, top_soft, top_log);
        const double flipped_soft[] = {0, 1};
        const double flipped_log[] = {-mx, 0};
        check_slice(dtypes[d], top, 2, -1.0f, flipped_soft, flipped_log);
        const double low[] = {-mx, -mx, -mx};
        const double low_soft[] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
        const double low_log[] = {-log(3.0), -log(3.0), -log(3.0)};
        check_slice(dtypes[d], low, 3, 1.0f, low_soft, low_log);
    }
}

Test(special, huge_negative_finite_values_are_not_masks)
{
    for (size_t d = 0; d < N_DTYPES; d++) {
        const double big = ts_dtype_max(dtypes[d]) / 2;
        const double same[] = {-big, -big, -big, -big};
        const double same_soft[] = {0.25, 0.25, 0.25, 0.25};
        const double same_log[] = {-log(4.0), -log(4.0), -log(4.0), -log(4.0)};
        check_slice(dtypes[d], same, 4, 1.0f, same_soft, same_log);
        const double far[] = {-big, 0};
        const double far_soft[] = {0, 1};
        const double far_log[] = {-big, 0};
        check_slice(dtypes[d], far, 2, 1.0f, far_soft, far_log);
    }
}

/*
 * scale*x is formed in the compute type (f32 for F32/F16/BF16, f64 for F64), so a
 * product that overflows is an infinity, whatever its exact value: -inf entries weigh 0
 * and log-softmax gives them -inf, a slice of them only is fully masked, and +inf
 * products take the whole mass. The exact products here are finite in f64.
 */
Test(special, scaled_products_that_overflow_are_infinities)
{
    const double inf = INFINITY;
    const double soft_second[] = {0, 1}, log_second[] = {-inf, 0};
    const double soft_first[] = {1, 0}, log_first[] = {0, -inf};
    const double masked_soft[] = {0, 0}, masked_log[] = {-inf, -inf};
    const struct {
        clsm_dtype dtype;
        double big, finite;
        float scale;
    } cases[] = {
        {CLSM_F32, FLT_MAX, 2e38, 1.1f},
        {CLSM_BF16, 3.3e38, 1e38, 1.1f},
        {CLSM_F16, 65504, 2000, 5e34f},
        {CLSM_F64, DBL_MAX, 1.2e308, 1.1f},
    };
    for (size_t k = 0; k < N_OF(cases); k++) {
        const clsm_dtype dt = cases[k].dtype;
        const float sc = cases[k].scale;
        const double low[] = {-cases[k].big, -cases[k].finite};
        check_slice(dt, low, 2, sc, soft_second, log_second);
        const double high[] = {cases[k].big, cases[k].finite};
        check_slice(dt, high, 2, sc, soft_first, log_first);
        check_slice(dt, high, 2, -sc, soft_second, log_second);
        const double both_low[] = {-cases[k].big, -cases[k].big};
        check_slice(dt, both_low, 2, sc, masked_soft, masked_log);
    }
}

/*
 * Subnormal inputs give almost-uniform or ordinary results whether or not
 * the device flushes them to zero, so they are checked against the reference.
 */
Test(special, subnormal_inputs)
{
    for (size_t d = 0; d < N_DTYPES; d++) {
        const double dm = ts_dtype_denorm_min(dtypes[d]);
        const double tiny[] = {3 * dm, dm, -2 * dm, 0, 7 * dm};
        const double uniform_soft[] = {0.2, 0.2, 0.2, 0.2, 0.2};
        const double l5 = -log(5.0);
        const double uniform_log[] = {l5, l5, l5, l5, l5};
        check_slice(dtypes[d], tiny, 5, 1.0f, uniform_soft, uniform_log);
        const double mixed[] = {3 * dm, 1.0, -dm, 0.5, 0};
        check_slice(dtypes[d], mixed, 5, 1.0f, NULL, NULL);
        check_slice(dtypes[d], mixed, 5, -0.5f, NULL, NULL);
    }
}

/*
 * scale*x must be the same number wherever the kernel forms it: if the max
 * pass and the exp pass round it differently (say one fuses it into an fma),
 * exp sees the rounding error of a huge product instead of 0.
 */
Test(special, large_finite_scaled_values)
{
    const float scales[] = {1.5f, 3.0f, 0.1f, -2.5f};
    for (size_t d = 0; d < N_DTYPES; d++) {
        const double v = ts_dtype_max(dtypes[d]) / 8;
        const double row[] = {v, 1, -v, v / 3};
        for (size_t i = 0; i < N_OF(scales); i++)
            check_slice(dtypes[d], row, 4, scales[i], NULL, NULL);
    }
    const double moderate[] = {1e10, 2, 3};
    const double soft[] = {1, 0, 0};
    check_slice(CLSM_F32, moderate, 3, 3.0f, soft, NULL);
    check_slice(CLSM_F64, moderate, 3, 3.0f, soft, NULL);

    /*
     * Products that f32 (f64) rounds: the max entry weighs exactly 1 only if
     * the shift keeps the rounding error of its product. Two equal maxima
     * share the mass; neighbours one ulp of the data apart (64 at 1e9, 16 at
     * 1e17) differ by ordinary amounts once scaled by 0.1.
     */
    const double l2 = log(2.0);
    const double twin_soft[] = {0.5, 0.5, 0, 0};
    const float twin_scales[] = {1.5f, 0.1f, 3.0f, -2.5f};
    for (size_t i = 0; i < N_OF(twin_scales); i++) {
        const float sc = twin_scales[i];
        const double sg = sc > 0 ? 1 : -1;
        const double f32_twin[] = {sg * 1e30, sg * 1e30, -sg * 1e30, 7};
        const double f64_twin[] = {sg * 1e300, sg * 1e300, -sg * 1e300, 7};
        const double f16_twin[] = {sg * 60000, sg * 60000, -sg * 60000, 7};
        check_slice(CLSM_F32, f32_twin, 4, sc, twin_soft, NULL);
        check_slice(CLSM_BF16, f32_twin, 4, sc, twin_soft, NULL);
        check_slice(CLSM_F64, f64_twin, 4, sc, twin_soft, NULL);
        check_slice(CLSM_F16, f16_twin, 4, sc, NULL, NULL);
        /* The reference agrees with the expected halves (and its log is -log 2). */
        double ref[4];
        float x32[4];
        for (size_t j = 0; j < 4; j++)
            x32[j] = (float)f32_twin[j];
        ref_softmax(CLSM_LOG_SOFTMAX, CLSM_F32, (clsm_shape){1, 4, 1}, sc, x32, ref);
        cr_assert(fabs(ref[0] + l2) < 1e-15, "reference %.17g for -log 2", ref[0]);
    }
    const double f32_close[] = {1e9, 1e9 - 64, 1e9 - 128, 3};
    const double f32_close_neg[] = {-1e9, -1e9 + 64, -1e9 + 128, 3};
    check_slice(CLSM_F32, f32_close, 4, 0.1f, NULL, NULL);
    check_slice(CLSM_F32, f32_close_neg, 4, -0.1f, NULL, NULL);
    const double f64_close[] = {1e17, 1e17 - 16, 1e17 - 32, 3};
    check_slice(CLSM_F64, f64_close, 4, 0.1f, NULL, NULL);
    check_slice(CLSM_F64, f64_close, 4, 1.5f, NULL, NULL);
}

/*
 * A single entry is its own shift: softmax exactly 1 and log-softmax exactly
 * 0 (ts_check holds length-1 axes to exact equality), for every dtype,
 * scale, kernel family and layout, also where scale*x is large and rounded
 * (1e30 * 1.5). Values whose product overflows the compute type are left
 * out: the contract's f32 (f64) arithmetic makes those infinite.
 */
static bool product_finite(clsm_dtype dtype, float scale, double v)
{
    if (!isfinite(v))
        return true;
    if (dtype == CLSM_F64)
        return isfinite((double)scale * v);
    volatile float p = scale * (float)v;
    return isfinite(p);
}

Test(special, axis_of_length_one_is_exactly_one_and_zero)
{
    const float scales[] = {1.0f, -1.0f, 0.1f, 1.5f, 3.0f, -2.5f, 1.0f / 3, 0.0f, -0.0f};
    const clsm_shape layouts1[] = {{0, 1, 1}, {1, 1, 0}, {3, 1, 0}};
    for (size_t d = 0; d < N_DTYPES; d++) {
        const clsm_dtype dt = dtypes[d];
        const double mx = ts_dtype_max(dt);
        const double values[] = {0,     -0.0,    1,          -7.3,      1000,     -1000.7,
                                 33.3,  1e30,    -1e30,      1e300,     mx,       -mx,
                                 mx / 3, ts_dtype_denorm_min(dt), INFINITY, -INFINITY, NAN};
        for (size_t i = 0; i < N_OF(scales); i++) {
            double kept[N_OF(values)];
            size_t n = 0;
            for (size_t k = 0; k < N_OF(values); k++) {
                double stored[1];
                ts_store(dt, stored, 0, values[k]);
                if (product_finite(dt, scales[i], ts_load(dt, stored, 0)))
                    kept[n++] = values[k];
            }
            cr_assert_geq(n, 8);
            /* 24 slices: every value appears at least twice in each layout. */
            const size_t total = 24;
            void *x = ts_alloc(dt, total);
            for (size_t k = 0; k < total; k++)
                ts_store(dt, x, k, kept[k % n]);
            for (size_t l = 0; l < N_OF(layouts1); l++) {
                clsm_shape s = layouts1[l];
                if (s.outer == 0)
                    s.outer = total;
                else
                    s.inner = total / s.outer;
                for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                    double want[24];
                    for (size_t k = 0; k < total; k++) {
                        double v = ts_load(dt, x, k) * (double)scales[i];
                        if (isnan(ts_load(dt, x, k)))
                            want[k] = NAN;
                        else if (v == -INFINITY)
                            want[k] = op == CLSM_SOFTMAX ? 0 : -INFINITY;
                        else
                            want[k] = op == CLSM_SOFTMAX ? 1 : 0;
                    }
                    for (size_t c = 0; c < TS_CONFIGS; c++)
                        ts_run_and_check(ts_ctx[c], ts_config_name(c), (clsm_op)op, dt, s,
                                         scales[i], x, want);
                }
            }
            free(x);
        }
    }
}

/*
 * Log-softmax just below 0 (one dominant entry) and softmax just below 1:
 * F16/BF16 within one unit in the last place of the rounded reference (BF16
 * keeps full relative precision there: [3,-3,-3]*3 gives -3.05e-8), F32 and
 * F64 within their bounds, on every family, in a row and strided layouts.
 */
Test(special, log_softmax_near_zero_and_softmax_near_one)
{
    const double a[] = {3, -3, -3};
    const double b[] = {10, 0, 0};
    const double c[] = {-3, 3, 3, 2.5};
    const double d[] = {8, -8, 0, -1, 2};
    const double e[] = {1, -1};
    /* The dominant entry last or in the middle: the running sum meets it after the small terms. */
    const double a_last[] = {-3, -3, 3};
    const double b_mid[] = {0, 10, 0};
    check_slice_all_dtypes(a, 3, 3.0f, NULL, NULL);
    check_slice_all_dtypes(a_last, 3, 3.0f, NULL, NULL);
    check_slice_all_dtypes(b_mid, 3, 1.0f, NULL, NULL);
    check_slice_all_dtypes(b, 3, 1.0f, NULL, NULL);
    check_slice_all_dtypes(b, 3, 1.5f, NULL, NULL);
    check_slice_all_dtypes(c, 4, -3.0f, NULL, NULL);
    check_slice_all_dtypes(d, 5, 2.0f, NULL, NULL);
    check_slice_all_dtypes(e, 2, 5.0f, NULL, NULL);
    check_slice_all_dtypes(e, 2, 7.25f, NULL, NULL);
}

Test(special, negative_scale_turns_infinities_around)
{
    const double inf = INFINITY, l2 = log(2.0);
    const double pos[] = {inf, 1, 2};
    const double pos_soft[] = {0, 0.7310585786300049, 0.2689414213699951};
    const double pos_log[] = {-inf, -0.31326168751822286, -1.3132616875182228};
    check_slice_all_dtypes(pos, 3, -1.0f, pos_soft, pos_log);
    const double neg[] = {-inf, 0, -inf};
    const double neg_soft[] = {0.5, 0, 0.5};
    const double neg_log[] = {-l2, -inf, -l2};
    check_slice_all_dtypes(neg, 3, -2.0f, neg_soft, neg_log);
    const double all_pos[] = {inf, inf};
    const double zeros[] = {0, 0};
    const double neg_infs[] = {-inf, -inf};
    check_slice_all_dtypes(all_pos, 2, -0.5f, zeros, neg_infs);
}

Test(special, zero_scale_is_uniform_even_with_infinities)
{
    const double inf = INFINITY;
    const double rows[][4] = {{inf, -inf, 3, 0}, {-inf, -inf, -inf, -inf}, {inf, inf, 1, 2},
                              {1, 2, 3, 4}};
    const double soft[] = {0.25, 0.25, 0.25, 0.25};
    const double l4 = -log(4.0);
    const double log_soft[] = {l4, l4, l4, l4};
    for (size_t k = 0; k < N_OF(rows); k++) {
        check_slice_all_dtypes(rows[k], 4, 0.0f, soft, log_soft);
        check_slice_all_dtypes(rows[k], 4, -0.0f, soft, log_soft);
    }
    const double ext[] = {ts_dtype_max(CLSM_F32), -ts_dtype_max(CLSM_F32), 0, 1};
    check_slice(CLSM_F32, ext, 4, 0.0f, soft, log_soft);
}

Test(special, zero_scale_keeps_nan_slices_nan)
{
    const double row[] = {NAN, 1, INFINITY};
    double nans[3];
    fill(nans, 3, NAN);
    check_slice_all_dtypes(row, 3, 0.0f, nans, nans);
}

/* The group family splits long slices across work-items; specials must survive the combining. */
Test(special, special_values_in_long_slices)
{
    const size_t lengths[] = {1021, 4099};
    for (size_t k = 0; k < N_OF(lengths); k++) {
        const size_t L = lengths[k];
        double *row = malloc(L * sizeof *row), *soft = malloc(L * sizeof *soft),
               *log_soft = malloc(L * sizeof *log_soft);
        cr_assert(row != NULL && soft != NULL && log_soft != NULL);
        ts_rng r = ts_rng_seed(L);

        for (size_t j = 0; j < L; j++)
            row[j] = ts_rng_uniform(&r, -3, 3);
        row[L - 1] = NAN;
        fill(soft, L, NAN);
        check_slice_all_dtypes(row, L, 1.0f, soft, soft);

        for (size_t j = 0; j < L; j++)
            row[j] = ts_rng_uniform(&r, -3, 3);
        fill(soft, L, 0);
        fill(log_soft, L, -INFINITY);
        const size_t at[] = {0, L / 2, L - 1};
        for (size_t i = 0; i < 3; i++) {
            row[at[i]] = INFINITY;
            soft[at[i]] = 1.0 / 3;
            log_soft[at[i]] = -log(3.0);
        }
        check_slice_all_dtypes(row, L, 1.0f, soft, log_soft);

        fill(row, L, -INFINITY);
        fill(soft, L, 0);
        fill(log_soft, L, -INFINITY);
        check_slice_all_dtypes(row, L, 1.0f, soft, log_soft);

        row[L - 1] = 2.5;
        soft[L - 1] = 1;
        log_soft[L - 1] = 0;
        check_slice_all_dtypes(row, L, 1.0f, soft, log_soft);

        row[7] = 2.5;
        soft[7] = soft[L - 1] = 0.5;
        log_soft[7] = log_soft[L - 1] = -log(2.0);
        check_slice_all_dtypes(row, L, 1.0f, soft, log_soft);

        free(log_soft);
        free(soft);
        free(row);
    }
}

/* Slices short enough that the row kernel holds a vector's worth of them in registers
 * (layout {4099, 1, 2053, 0} puts the special one among such neighbours), at lengths
 * that fill its vectors exactly and leave a partial last one. */
Test(special, special_values_in_short_slices_finished_together)
{
    const size_t lengths[] = {16, 33, 64};
    for (size_t k = 0; k < N_OF(lengths); k++) {
        const size_t L = lengths[k];
        double row[64], soft[64], log_soft[64];
        ts_rng r = ts_rng_seed(70 + L);
        for (size_t j = 0; j < L; j++)
            row[j] = ts_rng_uniform(&r, -3, 3);
        row[L - 1] = NAN;
        fill(soft, L, NAN);
        check_slice_all_dtypes(row, L, 1.0f, soft, soft);

        /* Masked entries among finite ones, first and last included. */
        row[L - 1] = -INFINITY;
        row[0] = -INFINITY;
        check_slice_all_dtypes(row, L, 1.0f, NULL, NULL);
        check_slice_all_dtypes(row, L, -0.5f, NULL, NULL);

        fill(soft, L, 0);
        fill(log_soft, L, -INFINITY);
        row[L / 2] = INFINITY;
        row[L - 2] = INFINITY;
        soft[L / 2] = soft[L - 2] = 0.5;
        log_soft[L / 2] = log_soft[L - 2] = -log(2.0);
        check_slice_all_dtypes(row, L, 1.0f, soft, log_soft);

        for (size_t d = 0; d < N_DTYPES; d++) {
            const double mx = ts_dtype_max(dtypes[d]), tiny = ts_dtype_denorm_min(dtypes[d]);
            double extreme[64], small[64];
            for (size_t j = 0; j < L; j++) {
                extreme[j] = ts_rng_uniform(&r, -3, 3);
                small[j] = tiny * (double)(1 + ts_rng_below(&r, 100));
            }
            extreme[1] = mx;
            extreme[L - 1] = -mx;
            check_slice(dtypes[d], extreme, L, 1.0f, NULL, NULL);
            check_slice(dtypes[d], extreme, L, -0.5f, NULL, NULL);
            check_slice(dtypes[d], small, L, 1.0f, NULL, NULL);
            check_slice(dtypes[d], small, L, 0.0f, NULL, NULL);
        }
    }
}

/* NaN-free but extreme data: flavour 0 has no infinities, 1 only -inf, 2 both signs. */
static double extreme_value(ts_rng *r, clsm_dtype dtype, int flavour)
{
    const double mx = ts_dtype_max(dtype);
    const size_t u = ts_rng_below(r, 100);
    const double sign = u % 2 ? 1.0 : -1.0;
    if (u < 3 && flavour == 2)
        return INFINITY;
    if (u < 8 && flavour >= 1)
        return -INFINITY;
    if (u < 14)
        return mx;
    if (u < 20)
        return -mx;
    if (u < 28)
        return sign * ts_dtype_denorm_min(dtype) * (double)(1 + ts_rng_below(r, 1000));
    if (u < 33)
        return sign * 0.0;
    if (u < 50)
        return mx * ts_rng_uniform(r, -1, 1);
    return ts_rng_uniform(r, -3, 3);
}

/*
 * The contract forms scale*x in the compute type, so 3 and -2 overflow some products to
 * infinities in f32 for F32 and BF16 data (in f64 for F64); those entries then follow the
 * rules of infinite inputs, which the reference follows too. No NaN may come out.
 */
Test(special, no_nan_comes_out_of_extreme_nan_free_inputs)
{
    const clsm_shape shapes[] = {{4, 300, 3}, {16, 33, 1}, {1, 5000, 1}};
    const float scales[] = {1.0f, -0.5f, 0.0f, 3.0f, -2.0f};
    uint64_t seed = 9000;
    for (size_t d = 0; d < N_DTYPES; d++) {
        for (size_t k = 0; k < N_OF(shapes); k++) {
            for (int flavour = 0; flavour < 3; flavour++) {
                const size_t n = ts_count(shapes[k]);
                ts_rng r = ts_rng_seed(seed++);
                void *x = ts_alloc(dtypes[d], n);
                for (size_t i = 0; i < n; i++)
                    ts_store(dtypes[d], x, i, extreme_value(&r, dtypes[d], flavour));
                for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++)
                    for (size_t c = 0; c < TS_CONFIGS; c++)
                        for (size_t i = 0; i < N_OF(scales); i++)
                            ts_run_and_check(ts_ctx[c], ts_config_name(c), (clsm_op)op, dtypes[d],
                                             shapes[k], scales[i], x, NULL);
                free(x);
            }
        }
    }
}
