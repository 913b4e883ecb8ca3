/* clsm_alibi_slopes against the ALiBi paper's code and the closed form; ranges; bad input. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_HEADS 128

static const clsm_dtype float_dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16};

static size_t power_of_two_below(size_t heads)
{
    size_t p = 1;
    while (p <= heads / 2)
        p *= 2;
    return p;
}

/*
 * The ALiBi paper's get_slopes (Press et al., its Python code), in long double so that the
 * reference adds no error of its own: a power of two n gets start*start^i for i < n, with
 * start = 2^(-2^-(log2(n)-3)); any other n the slopes of the power of two below it, then
 * every other slope of twice that power, n in all. Its bias is 8, built in.
 */
static void paper_slopes(size_t n, long double *out)
{
    const size_t p = power_of_two_below(n);
    const long double start = exp2l(-exp2l(-(log2l((long double)p) - 3)));
    const long double ratio = start;
    for (size_t i = 0; i < p; i++)
        out[i] = start * powl(ratio, (long double)i);
    if (p == n)
        return;
    long double *twice = ts_malloc(2 * p * sizeof *twice);
    paper_slopes(2 * p, twice);
    for (size_t i = 0; i < n - p; i++)
        out[p + i] = twice[2 * i];
    free(twice);
}

/* The contract's closed form as it reads, for any max_bias, in long double. */
static long double contract_slope(size_t heads_total, double max_bias, size_t h)
{
    const size_t n = power_of_two_below(heads_total);
    const long double m0 = exp2l(-max_bias / (long double)n);
    const long double m1 = exp2l(-max_bias / 2 / (long double)n);
    return h < n ? powl(m0, (long double)(h + 1)) : powl(m1, (long double)(2 * (h - n) + 1));
}

static double tolerance(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? 1e-13 : 1e-6;
}

/* Float for every dtype but F64. */
static clsm_dtype slope_type(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
}

/* All heads_total slopes of dtype into a new buffer (free with free()), asserting success. */
static void *all_slopes(clsm_dtype dtype, size_t heads_total, double max_bias)
{
    void *out = ts_malloc(heads_total * ts_dtype_size(slope_type(dtype)));
    clsm_status s = clsm_alibi_slopes(dtype, heads_total, max_bias, 0, heads_total, out);
    cr_assert_eq(s, CLSM_SUCCESS, "%s, %zu heads, max_bias %g: %s", ts_dtype_name(dtype),
                 heads_total, max_bias, clsm_status_string(s));
    return out;
}

static void assert_slopes_near(clsm_dtype dtype, size_t heads_total, double max_bias,
                               const void *got, const long double *want)
{
    const double rel = tolerance(dtype);
    for (size_t h = 0; h < heads_total; h++) {
        double g = ts_load(slope_type(dtype), got, h);
        long double w = want[h];
        cr_assert(fabsl((long double)g - w) <= rel * w,
                  "%s, %zu heads, max_bias %g: head %zu is %.17g, want %.17Lg (relative %.3g)",
                  ts_dtype_name(dtype), heads_total, max_bias, h, g, w,
                  (double)(fabsl((long double)g - w) / w));
    }
}

/* The two references agree, so the paper's code checks the contract's formula at bias 8. */
Test(alibi_slopes, paper_formula_is_the_contracts_at_bias_8)
{
    long double paper[MAX_HEADS];
    for (size_t heads = 1; heads <= MAX_HEADS; heads++) {
        paper_slopes(heads, paper);
        for (size_t h = 0; h < heads; h++) {
            long double c = contract_slope(heads, 8, h);
            cr_assert(fabsl(paper[h] - c) <= 1e-15L * c,
                      "%zu heads: head %zu is %.20Lg in the paper, %.20Lg in the contract", heads,
                      h, paper[h], c);
        }
    }
}

Test(alibi_slopes, every_head_count_to_128_matches_the_paper)
{
    const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F64};
    long double want[MAX_HEADS];
    for (size_t heads = 1; heads <= MAX_HEADS; heads++) {
        paper_slopes(heads, want);
        for (size_t d = 0; d < N_OF(dtypes); d++) {
            void *got = all_slopes(dtypes[d], heads, 8);
            assert_slopes_near(dtypes[d], heads, 8, got, want);
            free(got);
        }
    }
}

Test(alibi_slopes, other_biases_match_the_closed_form)
{
    const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F64};
    const double biases[] = {1, 3.5, 16, 0.25, 100};
    long double want[MAX_HEADS];
    for (size_t b = 0; b < N_OF(biases); b++)
        for (size_t heads = 1; heads <= MAX_HEADS; heads++) {
            for (size_t h = 0; h < heads; h++)
                want[h] = contract_slope(heads, biases[b], h);
            for (size_t d = 0; d < N_OF(dtypes); d++) {
                void *got = all_slopes(dtypes[d], heads, biases[b]);
                assert_slopes_near(dtypes[d], heads, biases[b], got, want);
                free(got);
            }
        }
}

/* With thousands of heads, m0 raised to the head's power carries m0's rounding error times
 * the power; the bound holds all the same. */
Test(alibi_slopes, many_heads_keep_the_f64_bound)
{
    const size_t counts[] = {1000, 4096, 6000, 65536};
    for (size_t c = 0; c < N_OF(counts); c++) {
        const size_t heads = counts[c];
        long double *want = ts_malloc(heads * sizeof *want);
        for (size_t h = 0; h < heads; h++)
            want[h] = contract_slope(heads, 8, h);
        void *got = all_slopes(CLSM_F64, heads, 8);
        assert_slopes_near(CLSM_F64, heads, 8, got, want);
        free(got);
        free(want);
    }
}

/* Computed in double and rounded once: F32 is the F64 result rounded to float, and F16 and
 * BF16 write the same floats (the dtype only says which calls the slopes are for). */
Test(alibi_slopes, float_dtypes_write_the_f64_slopes_rounded_once)
{
    const double biases[] = {8, 1, 3.5, 16};
    for (size_t b = 0; b < N_OF(biases); b++)
        for (size_t heads = 1; heads <= MAX_HEADS; heads++) {
            double *f64 = all_slopes(CLSM_F64, heads, biases[b]);
            float *rounded = ts_malloc(heads * sizeof *rounded);
            for (size_t h = 0; h < heads; h++)
                rounded[h] = (float)f64[h];
            for (size_t d = 0; d < N_OF(float_dtypes); d++) {
                float *got = all_slopes(float_dtypes[d], heads, biases[b]);
                for (size_t h = 0; h < heads; h++)
                    cr_assert(memcmp(&got[h], &rounded[h], sizeof got[h]) == 0,
                              "%s, %zu heads, max_bias %g: head %zu is %a, want %a",
                              ts_dtype_name(float_dtypes[d]), heads, biases[b], h, got[h],
                              rounded[h]);
                free(got);
            }
            free(rounded);
            free(f64);
        }
}

/* Every range [first, first + count) of a call equals that part of the whole, written
 * exactly there: a sentinel element on either side stays. */
static void check_range(clsm_dtype dtype, size_t heads, double max_bias, size_t first,
                        size_t count, const void *whole)
{
    const size_t size = ts_dtype_size(slope_type(dtype));
    unsigned char *buf = ts_malloc((count + 2) * size);
    ts_fill_sentinel(buf, (count + 2) * size);
    clsm_status s = clsm_alibi_slopes(dtype, heads, max_bias, first, count, buf + size);
    cr_assert_eq(s, CLSM_SUCCESS, "%s, %zu heads from %zu, %zu of them: %s",
                 ts_dtype_name(dtype), heads, first, count, clsm_status_string(s));
    cr_assert(memcmp(buf + size, (const unsigned char *)whole + first * size, count * size) == 0,
              "%s, %zu heads: heads %zu to %zu differ from those of the whole",
              ts_dtype_name(dtype), heads, first, first + count - 1);
    ts_report before = ts_check_sentinel(buf, size);
    ts_report after = ts_check_sentinel(buf + (count + 1) * size, size);
    cr_assert(before.ok && after.ok, "%s, %zu heads from %zu, %zu of them: wrote outside",
              ts_dtype_name(dtype), heads, first, count);
    free(buf);
}

Test(alibi_slopes, tensor_parallel_ranks_get_their_part_of_the_whole)
{
    /* (heads, ranks): even splits, and head counts that are no power of two, where a rank
     * straddles the switch from m0 to m1. */
    const size_t splits[][2] = {{32, 4}, {32, 1}, {64, 8}, {12, 3}, {40, 4}, {96, 6}, {20, 5}};
    for (size_t d = 0; d < TS_DTYPES; d++) {
        const clsm_dtype dtype = ts_dtypes[d];
        for (size_t k = 0; k < N_OF(splits); k++) {
            const size_t heads = splits[k][0], ranks = splits[k][1], per_rank = heads / ranks;
            void *whole = all_slopes(dtype, heads, 8);
            for (size_t rank = 0; rank < ranks; rank++)
                check_range(dtype, heads, 8, rank * per_rank, per_rank, whole);
            free(whole);
        }
    }
}

Test(alibi_slopes, every_range_equals_its_part_of_the_whole)
{
    const size_t heads = 24;
    for (size_t d = 0; d < TS_DTYPES; d++) {
        void *whole = all_slopes(ts_dtypes[d], heads, 3.5);
        for (size_t first = 0; first < heads; first++)
            for (size_t count = 1; first + count <= heads; count++)
                check_range(ts_dtypes[d], heads, 3.5, first, count, whole);
        free(whole);
    }
}

/* With more heads than 2^63 the closed form's counts and divisors need the whole size_t: head
 * n - 1 (n the power of two below) gets m0^n = 2^-max_bias exactly, and the last heads, just
 * below 2n, get m1^(2n - 3) and m1^(2n - 5), 2^-max_bias within far less than the bound. */
Test(alibi_slopes, the_largest_head_counts_do_not_overflow)
{
    const size_t n = power_of_two_below(SIZE_MAX);
    double got[2];
    cr_assert_eq(clsm_alibi_slopes(CLSM_F64, SIZE_MAX, 8, n - 1, 1, got), CLSM_SUCCESS);
    cr_assert_eq(got[0], 0x1p-8, "head n - 1 is %a, want 0x1p-8", got[0]);
    cr_assert_eq(clsm_alibi_slopes(CLSM_F64, SIZE_MAX, 8, SIZE_MAX - 2, 2, got), CLSM_SUCCESS);
    for (size_t i = 0; i < 2; i++)
        cr_assert(fabs(got[i] - 0x1p-8) <= 1e-13 * 0x1p-8, "head SIZE_MAX - %zu is %a",
                  2 - i, got[i]);
}

Test(alibi_slopes, count_0_writes_nothing_and_needs_no_output)
{
    const size_t firsts[] = {0, 3, 8};
    for (size_t d = 0; d < TS_DTYPES; d++)
        for (size_t f = 0; f < N_OF(firsts); f++) {
            const clsm_dtype dtype = ts_dtypes[d];
            cr_assert_eq(clsm_alibi_slopes(dtype, 8, 8, firsts[f], 0, NULL), CLSM_SUCCESS,
                         "%s, first_head %zu, NULL slopes", ts_dtype_name(dtype), firsts[f]);
            double out[2];
            ts_fill_sentinel(out, sizeof out);
            cr_assert_eq(clsm_alibi_slopes(dtype, 8, 8, firsts[f], 0, out), CLSM_SUCCESS);
            ts_report r = ts_check_sentinel(out, sizeof out);
            cr_assert(r.ok, "%s, first_head %zu: %s", ts_dtype_name(dtype), firsts[f], r.msg);
        }
}

typedef struct bad_case {
    const char *what;
    size_t heads_total;
    double max_bias;
    size_t first_head, count;
    bool null_slopes;
} bad_case;

/* Each refused with every dtype, before anything is written. */
Test(alibi_slopes, bad_input_is_refused_with_slopes_untouched)
{
    const bad_case cases[] = {
        {"heads_total 0", 0, 8, 0, 1, false},
        {"heads_total 0, count 0", 0, 8, 0, 0, false},
        {"one head past the end", 8, 8, 0, 9, false},
        {"last head past the end", 8, 8, 7, 2, false},
        {"first_head at the end", 8, 8, 8, 1, false},
        {"first_head past the end, count 0", 8, 8, 9, 0, false},
        {"first_head + count wraps to 1", 8, 8, SIZE_MAX, 2, false},
        {"first_head + count wraps to 0", 8, 8, SIZE_MAX, 1, false},
        {"count + first_head wraps to 1", 8, 8, 2, SIZE_MAX, false},
        {"wraps below a heads_total of SIZE_MAX", SIZE_MAX, 8, 2, SIZE_MAX, false},
        {"max_bias 0", 8, 0.0, 0, 8, false},
        {"max_bias -0", 8, -0.0, 0, 8, false},
        {"max_bias -1", 8, -1, 0, 8, false},
        {"max_bias NaN", 8, NAN, 0, 8, false},
        {"max_bias -NaN", 8, -NAN, 0, 8, false},
        {"max_bias inf", 8, INFINITY, 0, 8, false},
        {"max_bias -inf", 8, -INFINITY, 0, 8, false},
        {"NULL slopes", 8, 8, 0, 8, true},
        {"NULL slopes, one head", 8, 8, 5, 1, true},
    };
    double out[10];
    for (size_t d = 0; d < TS_DTYPES; d++)
        for (size_t k = 0; k < N_OF(cases); k++) {
            const bad_case *c = &cases[k];
            ts_fill_sentinel(out, sizeof out);
            clsm_status s = clsm_alibi_slopes(ts_dtypes[d], c->heads_total, c->max_bias,
                                              c->first_head, c->count,
                                              c->null_slopes ? NULL : out);
            cr_assert_eq(s, CLSM_ERROR_INVALID_ARGUMENT, "%s, %s: %s",
                         ts_dtype_name(ts_dtypes[d]), c->what, clsm_status_string(s));
            ts_report r = ts_check_sentinel(out, sizeof out);
            cr_assert(r.ok, "%s, %s: %s", ts_dtype_name(ts_dtypes[d]), c->what, r.msg);
        }
}

Test(alibi_slopes, unknown_dtypes_are_refused_with_slopes_untouched)
{
    const int dtypes[] = {99, CLSM_F64 + 1, -1};
    double out[8];
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        ts_fill_sentinel(out, sizeof out);
        clsm_status s = clsm_alibi_slopes((clsm_dtype)dtypes[d], 8, 8, 0, 8, out);
        cr_assert_eq(s, CLSM_ERROR_INVALID_ARGUMENT, "dtype %d: %s", dtypes[d],
                     clsm_status_string(s));
        ts_report r = ts_check_sentinel(out, sizeof out);
        cr_assert(r.ok, "dtype %d: %s", dtypes[d], r.msg);
    }
}
