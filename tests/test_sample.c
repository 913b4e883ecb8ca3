/* Sampling: greedy against argmax, every token inside the f64 kept set, the distribution by chi-square, the Philox stream, per-row tensors, log-probabilities, special rows, determinism across families and paths, and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sample_reference.h"
#include "support.h"

TestSuite(sample, .init = ts_open_all, .fini = ts_close_all);

static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};

static int has_f64(clsm_context *ctx)
{
    clsm_sampling s = CLSM_SAMPLING_INIT;
    double x = 0;
    int32_t token;
    return clsm_sample_host(ctx, CLSM_F64, 1, 1, 1.0, NULL, &s, &x, &token) == CLSM_SUCCESS;
}

/* rows x vocab logits of dtype from f64 values, and the values as stored, read back in f64
 * (what the kernels see). */
static void *logits_of(clsm_dtype dtype, size_t n, const double *values, double *stored)
{
    void *x = ts_alloc(dtype, n);
    for (size_t i = 0; i < n; ++i) {
        ts_store(dtype, x, i, values[i]);
        stored[i] = ts_load(dtype, x, i);
    }
    return x;
}

/* Samples rows x vocab on the host path of ctx; logprobs may be NULL. */
static void sample(clsm_context *ctx, clsm_dtype dtype, size_t rows, size_t vocab,
                   const clsm_sampling *s, const void *x, int32_t *tokens, void *logprobs)
{
    clsm_sampling with = *s;
    if (logprobs)
        with.logprobs.host = logprobs;
    clsm_status st = clsm_sample_host(ctx, dtype, rows, vocab, 1.0, NULL, &with, x, tokens);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s %zux%zu: %s", clsm_kernel_name(ctx, dtype,
                 (clsm_shape){rows, vocab, 1}), ts_dtype_name(dtype), rows, vocab,
                 clsm_status_string(st));
}

/* ---- the Philox stream and the draw, where every weight is exact ---- */

Test(sample, reference_philox_meets_the_known_answers)
{
    static const uint32_t cases[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1}};
    for (int i = 0; i < 3; ++i) {
        uint32_t out[4];
        ref_philox4x32_10(cases[i], cases[i] + 4, out);
        for (int w = 0; w < 4; ++w)
            cr_expect_eq(out[w], cases[i][6 + w], "case %d word %d: %08x, want %08x", i, w,
                         out[w], cases[i][6 + w]);
    }
}

/* Four equal entries weigh 2^62 each, so the draw is exact in integers: the token is the top
 * two bits of the row's 64 random bits, Philox4x32-10's first two words of the counter
 * (offset, row) under the key seed (per-row seeds: row 0). */
static int32_t expected_of_four(uint64_t seed, uint64_t offset, uint64_t row)
{
    uint32_t c[4] = {(uint32_t)offset, (uint32_t)(offset >> 32), (uint32_t)row,
                     (uint32_t)(row >> 32)};
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, out[4];
    ref_philox4x32_10(c, k, out);
    uint64_t bits = (uint64_t)out[0] | (uint64_t)out[1] << 32;
    return (int32_t)(bits >> 62);
}

Test(sample, equal_entries_draw_the_documented_philox_bits)
{
    enum { rows = 300, vocab = 4 };
    float x[rows * vocab];
    for (size_t i = 0; i < rows * vocab; ++i)
        x[i] = 1.5f;
    uint64_t seeds[rows];
    for (size_t r = 0; r < rows; ++r)
        seeds[r] = 0x9e3779b97f4a7c15ULL * (r + 1);
    for (size_t c = 0; c < TS_CONFIGS; ++c) {
        clsm_sampling s = CLSM_SAMPLING_INIT;
        s.temperature = 0.7f;
        s.seed = 0x0123456789abcdefULL;
        s.offset = 0xfedcba9876ULL;
        int32_t tokens[rows];
        sample(ts_ctx[c], CLSM_F32, rows, vocab, &s, x, tokens, NULL);
        for (size_t r = 0; r < rows; ++r)
            cr_assert_eq(tokens[r], expected_of_four(s.seed, s.offset, r), "%s, scalar seed, row %zu",
                         ts_config_name(c), r);
        s.seeds.host = seeds;
        sample(ts_ctx[c], CLSM_F32, rows, vocab, &s, x, tokens, NULL);
        for (size_t r = 0; r < rows; ++r)
            cr_assert_eq(tokens[r], expected_of_four(seeds[r], s.offset, 0), "%s, per-row seeds, row %zu",
                         ts_config_name(c), r);
    }
}

/* ---- greedy ---- */

Test(sample, greedy_is_the_first_argmax_in_every_dtype)
{
    static const size_t vocabs[] = {1, 2, 15, 16, 17, 31, 1000, 4097, 40009};
    ts_rng rng = ts_rng_seed(7);
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; ++d) {
        for (size_t c = 0; c < TS_CONFIGS; ++c) {
            if (dtypes[d] == CLSM_F64 && !has_f64(ts_ctx[c]))
                continue;
            for (size_t v = 0; v < sizeof vocabs / sizeof *vocabs; ++v) {
                size_t rows = 5, vocab = vocabs[v], n = rows * vocab;
                double *values = ts_malloc(n * sizeof *values), *u = ts_malloc(n * sizeof *u);
                for (size_t i = 0; i < n; ++i)
                    /* Few levels: ties at the max in most rows. */
                    values[i] = (double)ts_rng_below(&rng, 6) - 3;
                void *x = logits_of(dtypes[d], n, values, u);
                int32_t tokens[5];
                clsm_sampling s = CLSM_SAMPLING_INIT;
                sample(ts_ctx[c], dtypes[d], rows, vocab, &s, x, tokens, NULL);
                for (size_t r = 0; r < rows; ++r)
                    cr_assert_eq(tokens[r], (int32_t)ref_argmax(vocab, u + r * vocab),
                                 "%s %s vocab %zu row %zu", ts_config_name(c),
                                 ts_dtype_name(dtypes[d]), vocab, r);
                free(values);
                free(u);
                free(x);
            }
        }
    }
}

/* ---- every token inside the kept set ---- */

typedef struct kept_case {
    const char *name;
    ref_sampling s;
    size_t vocab;
    void (*fill)(size_t vocab, double *row, ts_rng *rng);
} kept_case;

static void fill_levels(size_t vocab, double *row, ts_rng *rng)
{
    for (size_t j = 0; j < vocab; ++j)
        row[j] = (double)ts_rng_below(rng, 5) * 0.75;
}

static void fill_spread(size_t vocab, double *row, ts_rng *rng)
{
    for (size_t j = 0; j < vocab; ++j)
        row[j] = ts_rng_uniform(rng, -6, 6);
}

/* Four equal entries and the rest -inf: top-p 0.5 reaches its mass exactly at the second,
 * in any precision. */
static void fill_tied_boundary(size_t vocab, double *row, ts_rng *rng)
{
    for (size_t j = 0; j < vocab; ++j)
        row[j] = -INFINITY;
    for (int i = 0; i < 4; ++i)
        row[ts_rng_below(rng, vocab)] = 1;
}

static void fill_inf(size_t vocab, double *row, ts_rng *rng)
{
    fill_spread(vocab, row, rng);
    row[vocab / 3] = row[vocab - 1] = INFINITY;
}

static void fill_dominant(size_t vocab, double *row, ts_rng *rng)
{
    fill_spread(vocab, row, rng);
    row[ts_rng_below(rng, vocab)] = 60;
}

static void fill_masked(size_t vocab, double *row, ts_rng *rng)
{
    fill_spread(vocab, row, rng);
    for (size_t j = 0; j < vocab; j += 2)
        row[j] = -INFINITY;
}

/* Steps of the least subnormal: at temperature 2^-149 they weigh e^-k exactly. */
static void fill_subnormal_steps(size_t vocab, double *row, ts_rng *rng)
{
    for (size_t j = 0; j < vocab; ++j)
        row[j] = (double)ts_rng_below(rng, 8) * 0x1p-149;
}

/* The kept set with a margin: no top-p boundary within 1e-4 of the mass, so that f32's
 * rounding cannot move it; exact ties (levels) are exact in both. */
static const kept_case kept_cases[] = {
    {"ties at the k-th value", {1, 3, 0, 0}, 40, fill_levels},
    {"k = 1", {1, 1, 0, 0}, 300, fill_spread},
    {"k = vocab - 1", {1, 299, 0, 0}, 300, fill_spread},
    {"k = vocab", {1, 300, 0, 0}, 300, fill_spread},
    {"k past the small path", {1.3, 200, 0, 0}, 1000, fill_spread},
    {"ties at the top-p boundary", {1, 0, 0.5, 0}, 64, fill_tied_boundary},
    {"ties at the top-p boundary, top-k 10", {1, 10, 0.5, 0}, 64, fill_tied_boundary},
    {"top-p 1e-7", {1, 0, 1e-7, 0}, 500, fill_spread},
    {"top-p 1 - 1e-7", {1, 0, 1 - 1e-7, 0}, 500, fill_levels},
    {"top-p 0.9", {0.8, 0, 0.9, 0}, 3000, fill_spread},
    {"top-k 50, top-p 0.9", {1, 50, 0.9, 0}, 3000, fill_spread},
    {"top-k 500, top-p 0.6", {1, 500, 0.6, 0}, 3000, fill_spread},
    {"min-p 1", {1, 0, 0, 1}, 64, fill_levels},
    {"min-p 0.05", {1, 0, 0, 0.05}, 3000, fill_spread},
    {"top-k 20, min-p 0.2", {2, 20, 0, 0.2}, 3000, fill_spread},
    {"top-p 0.8, min-p 0.01", {1, 0, 0.8, 0.01}, 3000, fill_spread},
    {"+inf entries", {1, 0, 0, 0}, 100, fill_inf},
    {"+inf entries, top-k 1", {1, 1, 0, 0}, 100, fill_inf},
    {"one entry holds the mass", {1, 0, 0.999, 0}, 2000, fill_dominant},
    {"masked entries", {1, 0, 0.9, 0}, 777, fill_masked},
    {"vocab 1", {1, 0, 0.5, 0.5}, 1, fill_spread},
    /* 1/T overflows f32: a tie with the max must still weigh 1 (the fuzzer's find). */
    {"temperature 2^-149, ties at the max", {0x1p-149, 0, 0.9, 0}, 300, fill_levels},
    {"temperature 2^-149, subnormal steps", {0x1p-149, 0, 0.9, 0}, 300, fill_subnormal_steps},
};

/* The rows whose top-p cut sits closer to flipping than f32's rounding of the weights could
 * move it (ref_top_p_margin below REF_TOP_P_MARGIN) are left out, and must be few. */

Test(sample, every_token_lies_in_the_f64_kept_set)
{
    enum { rows = 64 };
    for (size_t k = 0; k < sizeof kept_cases / sizeof *kept_cases; ++k) {
        const kept_case *kc = &kept_cases[k];
        /* The reference takes the parameters as the call hands them over, in float. */
        ref_sampling rs = {(float)kc->s.temperature, kc->s.top_k, (float)kc->s.top_p,
                           (float)kc->s.min_p};
        size_t vocab = kc->vocab, n = rows * vocab;
        ts_rng rng = ts_rng_seed(100 + k);
        double *values = ts_malloc(n * sizeof *values), *u = ts_malloc(n * sizeof *u);
        for (size_t r = 0; r < rows; ++r)
            kc->fill(vocab, values + r * vocab, &rng);
        void *x = logits_of(CLSM_F32, n, values, u);
        unsigned char *kept = ts_malloc(vocab);
        double *probs = ts_malloc(vocab * sizeof *probs);
        unsigned char thin[rows];
        size_t thin_rows = 0;
        for (size_t r = 0; r < rows; ++r) {
            thin[r] = ref_top_p_margin(vocab, u + r * vocab, rs) < REF_TOP_P_MARGIN;
            thin_rows += thin[r];
        }
        cr_assert_lt(thin_rows, rows / 8, "%s: %zu rows on the top-p boundary", kc->name,
                     thin_rows);
        for (size_t c = 0; c < TS_CONFIGS; ++c) {
            clsm_sampling s = CLSM_SAMPLING_INIT;
            s.temperature = (float)kc->s.temperature;
            s.top_k = kc->s.top_k;
            s.top_p = (float)kc->s.top_p;
            s.min_p = (float)kc->s.min_p;
            for (uint64_t offset = 0; offset < 8; ++offset) {
                s.offset = offset;
                int32_t tokens[rows];
                sample(ts_ctx[c], CLSM_F32, rows, vocab, &s, x, tokens, NULL);
                for (size_t r = 0; r < rows; ++r) {
                    if (thin[r])
                        continue;
                    size_t count = ref_sample_kept(vocab, u + r * vocab, rs, kept, probs);
                    cr_assert_gt(count, 0);
                    cr_assert(tokens[r] >= 0 && (size_t)tokens[r] < vocab && kept[tokens[r]],
                              "%s, %s: row %zu offset %llu drew %d, outside the %zu kept",
                              kc->name, ts_config_name(c), r, (unsigned long long)offset,
                              tokens[r], count);
                }
            }
        }
        free(values);
        free(u);
        free(x);
        free(kept);
        free(probs);
    }
}

/* The same in every storage dtype, on the filters' main paths. */
Test(sample, every_dtype_keeps_its_tokens_in_the_kept_set)
{
    enum { rows = 16, vocab = 3001 };
    static const ref_sampling cases[] = {
        {1, 50, 0.9f, 0}, {1, 0, 0, 0.05f}, {0.8f, 0, 0.9f, 0}, {1.3f, 200, 0, 0}, {1, 0, 0, 0}};
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; ++d) {
        ts_rng rng = ts_rng_seed(40 + d);
        double *values = ts_malloc(rows * vocab * sizeof *values);
        double *u = ts_malloc(rows * vocab * sizeof *u);
        for (size_t i = 0; i < rows * vocab; ++i)
            values[i] = ts_rng_uniform(&rng, -6, 6);
        void *x = logits_of(dtypes[d], rows * vocab, values, u);
        unsigned char *kept = ts_malloc(vocab);
        double *probs = ts_malloc(vocab * sizeof *probs);
        for (size_t c = 0; c < TS_CONFIGS; ++c) {
            if (dtypes[d] == CLSM_F64 && !has_f64(ts_ctx[c]))
                continue;
            for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
                clsm_sampling s = CLSM_SAMPLING_INIT;
                s.temperature = (float)cases[k].temperature;
                s.top_k = cases[k].top_k;
                s.top_p = (float)cases[k].top_p;
                s.min_p = (float)cases[k].min_p;
                s.seed = 5 + k;
                int32_t tokens[rows];
                sample(ts_ctx[c], dtypes[d], rows, vocab, &s, x, tokens, NULL);
                for (size_t r = 0; r < rows; ++r) {
                    if (ref_top_p_margin(vocab, u + r * vocab, cases[k]) < REF_TOP_P_MARGIN)
                        continue;
                    ref_sample_kept(vocab, u + r * vocab, cases[k], kept, probs);
                    cr_assert(tokens[r] >= 0 && kept[tokens[r]], "%s %s case %zu row %zu: %d",
                              ts_config_name(c), ts_dtype_name(dtypes[d]), k, r, tokens[r]);
                }
            }
        }
        free(values);
        free(u);
        free(x);
        free(kept);
        free(probs);
    }
}

/* ---- the distribution ---- */

/* Pearson's statistic of counts against probabilities, over the cells with p > 0, and its
 * degrees of freedom. */
static double chi_square(const size_t *counts, const double *probs, size_t cells, size_t draws,
                         size_t *dof)
{
    double stat = 0;
    *dof = 0;
    for (size_t j = 0; j < cells; ++j) {
        if (probs[j] == 0) {
            cr_assert_eq(counts[j], 0, "cell %zu has p = 0 but was drawn", j);
            continue;
        }
        double e = probs[j] * (double)draws;
        stat += (counts[j] - e) * (counts[j] - e) / e;
        ++*dof;
    }
    --*dof;
    return stat;
}

/* The chi-square distribution's upper 1e-3 points, by degrees of freedom. */
static double critical_1e3(size_t dof)
{
    static const double points[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12,
                                    27.88, 29.59, 31.26, 32.91, 34.53, 36.12, 37.70, 39.25};
    cr_assert(dof > 0 && dof < sizeof points / sizeof *points);
    return points[dof];
}

/* Each case draws N = 4000 tokens from one row repeated, the rows keyed apart (scalar seed:
 * by the row; per-row seeds: by the seed), and compares the counts with the renormalised f64
 * probabilities at significance 1e-3. The seeds are fixed, so the statistic is too: a correct
 * sampler fails a given case with probability 1e-3 over the choice of seeds, once and for
 * all, and the 12 cases below passed when written. */
Test(sample, frequencies_meet_the_renormalised_probabilities)
{
    enum { draws = 4000, vocab = 12 };
    static const double row[vocab] = {2.0, 1.5, 1.5, 0.3, -0.2, 1.0, -1.0, 0.7, 2.2, -3.0, 0.0, 1.1};
    static const ref_sampling cases[] = {
        {1, 0, 0, 0}, {0.6, 0, 0, 0}, {1, 5, 0, 0}, {1, 0, 0.7, 0}, {1, 0, 0, 0.3}, {2, 6, 0.8, 0.1}};
    float *x = ts_malloc(draws * vocab * sizeof *x);
    double u[vocab];
    for (size_t i = 0; i < draws * vocab; ++i)
        x[i] = (float)row[i % vocab];
    for (size_t j = 0; j < vocab; ++j)
        u[j] = (float)row[j];
    uint64_t *seeds = ts_malloc(draws * sizeof *seeds);
    for (size_t r = 0; r < draws; ++r)
        seeds[r] = 1000003 * r + 17;
    int32_t *tokens = ts_malloc(draws * sizeof *tokens);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        unsigned char kept[vocab];
        double probs[vocab];
        ref_sample_kept(vocab, u, cases[k], kept, probs);
        for (int per_row = 0; per_row < 2; ++per_row) {
            clsm_sampling s = CLSM_SAMPLING_INIT;
            s.temperature = (float)cases[k].temperature;
            s.top_k = cases[k].top_k;
            s.top_p = (float)cases[k].top_p;
            s.min_p = (float)cases[k].min_p;
            s.seed = 42;
            s.offset = 3;
            if (per_row)
                s.seeds.host = seeds;
            sample(ts_ctx[0], CLSM_F32, draws, vocab, &s, x, tokens, NULL);
            size_t counts[vocab] = {0}, dof;
            for (size_t r = 0; r < draws; ++r) {
                cr_assert(tokens[r] >= 0 && tokens[r] < vocab);
                ++counts[tokens[r]];
            }
            double stat = chi_square(counts, probs, vocab, draws, &dof);
            cr_expect_lt(stat, critical_1e3(dof), "case %zu (%s seeds): chi-square %.2f with %zu "
                         "degrees of freedom", k, per_row ? "per-row" : "scalar", stat, dof);
        }
    }
    free(x);
    free(seeds);
    free(tokens);
}

/* ---- independence ---- */

Test(sample, offsets_and_seeds_draw_independently)
{
    enum { steps = 400, vocab = 100 };
    float x[vocab];
    for (size_t j = 0; j < vocab; ++j)
        x[j] = 0;
    int32_t a[steps], b[steps];
    for (size_t i = 0; i < steps; ++i) {
        clsm_sampling s = CLSM_SAMPLING_INIT;
        s.temperature = 1;
        s.offset = i;
        s.seed = 1;
        sample(ts_ctx[0], CLSM_F32, 1, vocab, &s, x, &a[i], NULL);
        s.seed = 2;
        sample(ts_ctx[0], CLSM_F32, 1, vocab, &s, x, &b[i], NULL);
    }
    size_t same = 0, repeats = 0;
    for (size_t i = 0; i < steps; ++i) {
        same += a[i] == b[i];
        repeats += i > 0 && a[i] == a[i - 1];
    }
    /* Independent uniform draws over 100 agree 4 times in 400 on average; 20 is beyond
     * 7 standard deviations. */
    cr_expect_lt(same, 20, "seeds 1 and 2 agreed on %zu of %d steps", same, steps);
    cr_expect_lt(repeats, 20, "consecutive offsets repeated the token %zu times", repeats);
}

Test(sample, identical_rows_differ_with_the_scalar_seed_and_follow_their_own_seed)
{
    enum { rows = 200, vocab = 50 };
    float x[rows * vocab];
    for (size_t i = 0; i < rows * vocab; ++i)
        x[i] = (float)(i % vocab) * 0.01f;
    clsm_sampling s = CLSM_SAMPLING_INIT;
    s.temperature = 1;
    int32_t tokens[rows];
    sample(ts_ctx[0], CLSM_F32, rows, vocab, &s, x, tokens, NULL);
    size_t distinct = 0;
    for (size_t r = 0; r < rows; ++r) {
        int seen = 0;
        for (size_t q = 0; q < r; ++q)
            seen |= tokens[q] == tokens[r];
        distinct += !seen;
    }
    cr_expect_gt(distinct, 25, "200 identical rows drew only %zu distinct tokens", distinct);
    /* A request moved to another row keeps its token under its own seed. */
    uint64_t seeds[rows];
    for (size_t r = 0; r < rows; ++r)
        seeds[r] = 77 + r % 7;
    s.seeds.host = seeds;
    sample(ts_ctx[0], CLSM_F32, rows, vocab, &s, x, tokens, NULL);
    for (size_t r = 7; r < rows; ++r)
        cr_assert_eq(tokens[r], tokens[r % 7], "row %zu", r);
}

/* ---- determinism ---- */

Test(sample, tokens_are_the_same_across_runs_families_and_entry_points)
{
    enum { rows = 9, vocab = 5003 };
    ts_rng rng = ts_rng_seed(3);
    float *x = ts_malloc(rows * vocab * sizeof *x);
    for (size_t i = 0; i < rows * vocab; ++i)
        x[i] = (float)ts_rng_uniform(&rng, -4, 4);
    static const ref_sampling cases[] = {{1, 0, 0, 0}, {1, 50, 0.9, 0}, {1, 0, 0, 0.05},
                                        {0.7, 0, 0.9, 0}, {1, 300, 0, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        clsm_sampling s = CLSM_SAMPLING_INIT;
        s.temperature = (float)cases[k].temperature;
        s.top_k = cases[k].top_k;
        s.top_p = (float)cases[k].top_p;
        s.min_p = (float)cases[k].min_p;
        s.seed = 99;
        int32_t first[rows];
        sample(ts_ctx[0], CLSM_F32, rows, vocab, &s, x, first, NULL);
        for (size_t c = 0; c < TS_CONFIGS; ++c) {
            for (int run = 0; run < 2; ++run) {
                int32_t again[rows];
                sample(ts_ctx[c], CLSM_F32, rows, vocab, &s, x, again, NULL);
                for (size_t r = 0; r < rows; ++r)
                    cr_assert_eq(again[r], first[r], "case %zu, %s run %d, row %zu", k,
                                 ts_config_name(c), run, r);
            }
            /* The buffers path, at offsets. */
            cl_context context = ts_cl_context_of(ts_ctx[c]);
            cl_command_queue queue = clsm_context_queue(ts_ctx[c]);
            cl_mem xb = ts_cl_buffer(context, CL_MEM_READ_ONLY, (rows * vocab + 3) * 4, NULL);
            cl_mem tb = ts_cl_buffer(context, CL_MEM_READ_WRITE, (rows + 5) * 4, NULL);
            cr_assert_eq(clEnqueueWriteBuffer(queue, xb, CL_TRUE, 12, rows * vocab * 4, x, 0, NULL,
                                              NULL), CL_SUCCESS);
            cr_assert_eq(clsm_sample_buffers(ts_ctx[c], CLSM_F32, rows, vocab, 1.0, NULL, &s, xb,
                                             12, tb, 20, 0, NULL, NULL), CLSM_SUCCESS);
            int32_t got[rows];
            ts_cl_read(queue, tb, 20, sizeof got, got);
            for (size_t r = 0; r < rows; ++r)
                cr_assert_eq(got[r], first[r], "case %zu, %s buffers, row %zu", k,
                             ts_config_name(c), r);
            clReleaseMemObject(xb);
            clReleaseMemObject(tb);
        }
    }
    free(x);
}

/* ---- per-row tensors, log-probabilities, special rows ---- */

Test(sample, per_row_values_mix_greedy_and_sampled_rows)
{
    enum { rows = 8, vocab = 300 };
    ts_rng rng = ts_rng_seed(11);
    double values[rows * vocab], u[rows * vocab];
    for (size_t i = 0; i < rows * vocab; ++i)
        values[i] = ts_rng_uniform(&rng, -3, 3);
    float *x = logits_of(CLSM_F32, rows * vocab, values, u);
    float temperatures[rows] = {0, 1, 0, 0.5f, 2, 0, 1, 1};
    uint32_t top_ks[rows] = {0, 1, 5, 0, 40, 0, 200, 0};
    float top_ps[rows] = {0, 0, 1, 0.5f, 0.9f, 0, 0, 0.3f};
    float min_ps[rows] = {0, 0, 0, 0, 0, 0.5f, 0.1f, 0};
    for (size_t c = 0; c < TS_CONFIGS; ++c) {
        clsm_sampling s = CLSM_SAMPLING_INIT;
        s.temperature = 123; /* replaced by the per-row values */
        s.temperatures.host = temperatures;
        s.top_ks.host = top_ks;
        s.top_ps.host = top_ps;
        s.min_ps.host = min_ps;
        for (uint64_t offset = 0; offset < 10; ++offset) {
            s.offset = offset;
            int32_t tokens[rows];
            sample(ts_ctx[c], CLSM_F32, rows, vocab, &s, x, tokens, NULL);
            for (size_t r = 0; r < rows; ++r) {
                unsigned char kept[vocab];
                double probs[vocab];
                ref_sampling rs = {temperatures[r], top_ks[r], top_ps[r], min_ps[r]};
                ref_sample_kept(vocab, u + r * vocab, rs, kept, probs);
                cr_assert(tokens[r] >= 0 && kept[tokens[r]], "%s row %zu offset %llu: %d",
                          ts_config_name(c), r, (unsigned long long)offset, tokens[r]);
            }
        }
    }
    free(x);
}

Test(sample, logprobs_are_log_softmax_at_the_token_in_every_dtype)
{
    enum { rows = 6, vocab = 777 };
    ts_rng rng = ts_rng_seed(5);
    double values[rows * vocab], u[rows * vocab];
    for (size_t i = 0; i < rows * vocab; ++i)
        values[i] = ts_rng_uniform(&rng, -8, 8);
    static const float temperatures[] = {0, 1, 0.3f, 3};
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; ++d) {
        if (dtypes[d] == CLSM_F64 && !has_f64(ts_ctx[0]))
            continue;
        void *x = logits_of(dtypes[d], rows * vocab, values, u);
        for (size_t t = 0; t < sizeof temperatures / sizeof *temperatures; ++t) {
            clsm_sampling s = CLSM_SAMPLING_INIT;
            s.temperature = temperatures[t];
            s.top_k = t == 2 ? 10 : 0;
            s.top_p = t == 3 ? 0.5f : 0;
            int32_t tokens[rows];
            double lp64[rows];
            float lp32[rows];
            sample(ts_ctx[0], dtypes[d], rows, vocab, &s, x, tokens,
                   dtypes[d] == CLSM_F64 ? (void *)lp64 : (void *)lp32);
            for (size_t r = 0; r < rows; ++r) {
                double want = ref_logprob(vocab, u + r * vocab, temperatures[t], tokens[r]);
                double got = dtypes[d] == CLSM_F64 ? lp64[r] : lp32[r];
                double eps = dtypes[d] == CLSM_F64 ? 0x1p-52 : 0x1p-23;
                /* The log-softmax bound: a few units of the largest term's last place. */
                double bound = 16 * eps * (fabs(want) + log((double)vocab) + 1);
                cr_expect_leq(fabs(got - want), bound, "%s T=%g row %zu token %d: %.17g, want %.17g",
                              ts_dtype_name(dtypes[d]), temperatures[t], r, tokens[r], got, want);
            }
        }
        free(x);
    }
}

Test(sample, special_rows_give_minus_one)
{
    enum { vocab = 40 };
    float x[4 * vocab];
    for (size_t i = 0; i < 4 * vocab; ++i)
        x[i] = (float)(i % 7);
    x[vocab + 13] = NAN;                  /* row 1: NaN */
    for (size_t j = 0; j < vocab; ++j)
        x[2 * vocab + j] = -INFINITY;     /* row 2: only -inf */
    x[3 * vocab + 5] = x[3 * vocab + 30] = INFINITY; /* row 3: two +inf */
    for (size_t c = 0; c < TS_CONFIGS; ++c) {
        for (int greedy = 0; greedy < 2; ++greedy) {
            clsm_sampling s = CLSM_SAMPLING_INIT;
            s.temperature = greedy ? 0 : 1;
            s.top_p = greedy ? 0 : 0.9f;
            int32_t tokens[4];
            float lp[4];
            sample(ts_ctx[c], CLSM_F32, 4, vocab, &s, x, tokens, lp);
            cr_expect_eq(tokens[1], -1);
            cr_expect(isnan(lp[1]));
            cr_expect_eq(tokens[2], -1);
            cr_expect(lp[2] == -INFINITY);
            cr_expect(tokens[3] == 5 || tokens[3] == 30, "%d", tokens[3]);
            cr_expect_float_eq(lp[3], -logf(2), 1e-6);
            if (greedy)
                cr_expect_eq(tokens[3], 5);
        }
    }
}

Test(sample, empty_shapes)
{
    clsm_sampling s = CLSM_SAMPLING_INIT;
    int32_t tokens[3] = {7, 7, 7};
    float lp[3] = {1, 1, 1};
    cr_expect_eq(clsm_sample_host(ts_ctx[0], CLSM_F32, 0, 10, 1.0, NULL, &s, NULL, tokens),
                 CLSM_SUCCESS);
    cr_expect_eq(tokens[0], 7);
    s.logprobs.host = lp;
    cr_expect_eq(clsm_sample_host(ts_ctx[0], CLSM_F32, 3, 0, 1.0, NULL, &s, NULL, tokens),
                 CLSM_SUCCESS);
    for (int r = 0; r < 3; ++r) {
        cr_expect_eq(tokens[r], -1);
        cr_expect(lp[r] == -INFINITY);
    }
}

/* ---- options shape the logits first ---- */

Test(sample, options_shape_the_logits_first)
{
    enum { rows = 3, vocab = 64 };
    float x[rows * vocab];
    for (size_t i = 0; i < rows * vocab; ++i)
        x[i] = (float)((i * 37) % vocab);
    unsigned char keep[vocab];
    for (size_t j = 0; j < vocab; ++j)
        keep[j] = j % 3 == 0;
    clsm_options o = CLSM_OPTIONS_INIT;
    o.mask_type = CLSM_MASK_KEEP_U8;
    o.mask.host = keep;
    o.mask_stride[3] = 1;
    for (size_t c = 0; c < TS_CONFIGS; ++c) {
        clsm_sampling s = CLSM_SAMPLING_INIT;
        int32_t tokens[rows];
        /* A negative scale makes greedy the argmin. */
        cr_assert_eq(clsm_sample_host(ts_ctx[c], CLSM_F32, rows, vocab, -1.0, NULL, &s, x, tokens),
                     CLSM_SUCCESS);
        for (size_t r = 0; r < rows; ++r) {
            size_t best = 0;
            for (size_t j = 1; j < vocab; ++j)
                if (x[r * vocab + j] < x[r * vocab + best])
                    best = j;
            cr_expect_eq(tokens[r], (int32_t)best, "%s row %zu", ts_config_name(c), r);
        }
        s.temperature = 1;
        for (uint64_t offset = 0; offset < 20; ++offset) {
            s.offset = offset;
            cr_assert_eq(clsm_sample_host(ts_ctx[c], CLSM_F32, rows, vocab, 0.5, &o, &s, x, tokens),
                         CLSM_SUCCESS);
            for (size_t r = 0; r < rows; ++r)
                cr_expect(keep[tokens[r]], "%s: masked entry %d drawn", ts_config_name(c),
                          tokens[r]);
        }
    }
}

/* ---- bad input ---- */

/* Calls the host path, which must fail with want and write nothing. */
static void expect_refused(clsm_status want, const char *what, clsm_dtype dtype, size_t rows,
                           size_t vocab, const clsm_options *o, const clsm_sampling *s,
                           const void *x, int32_t *tokens)
{
    int32_t before[4];
    memcpy(before, tokens, sizeof before);
    clsm_status got = clsm_sample_host(ts_ctx[0], dtype, rows, vocab, 1.0, o, s, x, tokens);
    cr_expect_eq(got, want, "%s: %s, want %s", what, clsm_status_string(got),
                 clsm_status_string(want));
    cr_expect_eq(memcmp(before, tokens, sizeof before), 0, "%s: tokens written", what);
}

Test(sample, bad_input_is_refused_and_nothing_written)
{
    float x[4 * 8] = {0};
    int32_t tokens[4] = {11, 12, 13, 14};
    clsm_sampling s = CLSM_SAMPLING_INIT;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "NULL sampling", CLSM_F32, 4, 8, NULL, NULL, x,
                   tokens);
    static const float bad_t[] = {-1, NAN, INFINITY};
    for (int i = 0; i < 3; ++i) {
        s = (clsm_sampling)CLSM_SAMPLING_INIT;
        s.temperature = bad_t[i];
        expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "temperature", CLSM_F32, 4, 8, NULL, &s, x,
                       tokens);
    }
    static const float bad_p[] = {-0.1f, 1.5f, NAN};
    for (int i = 0; i < 3; ++i) {
        s = (clsm_sampling)CLSM_SAMPLING_INIT;
        s.top_p = bad_p[i];
        expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "top_p", CLSM_F32, 4, 8, NULL, &s, x, tokens);
        s = (clsm_sampling)CLSM_SAMPLING_INIT;
        s.min_p = bad_p[i];
        expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "min_p", CLSM_F32, 4, 8, NULL, &s, x, tokens);
    }
    float per_row[4] = {1, 1, -2, 1};
    s = (clsm_sampling)CLSM_SAMPLING_INIT;
    s.temperatures.host = per_row;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "one bad per-row temperature", CLSM_F32, 4, 8,
                   NULL, &s, x, tokens);
    float per_row_p[4] = {0.5f, 0.5f, 0.5f, 2};
    s = (clsm_sampling)CLSM_SAMPLING_INIT;
    s.top_ps.host = per_row_p;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "one bad per-row top_p", CLSM_F32, 4, 8, NULL, &s,
                   x, tokens);
    s = (clsm_sampling)CLSM_SAMPLING_INIT;
    s.min_ps.host = per_row_p;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "one bad per-row min_p", CLSM_F32, 4, 8, NULL, &s,
                   x, tokens);

    s = (clsm_sampling)CLSM_SAMPLING_INIT;
    s.struct_size = sizeof s - 1;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "struct_size too small", CLSM_F32, 4, 8, NULL, &s,
                   x, tokens);
    struct {
        clsm_sampling s;
        uint64_t newer;
    } grown = {CLSM_SAMPLING_INIT, 1};
    grown.s.struct_size = sizeof grown;
    expect_refused(CLSM_ERROR_UNSUPPORTED, "a newer option set", CLSM_F32, 4, 8, NULL, &grown.s, x,
                   tokens);
    grown.newer = 0;
    int32_t ok[4];
    cr_expect_eq(clsm_sample_host(ts_ctx[0], CLSM_F32, 4, 8, 1.0, NULL, &grown.s, x, ok),
                 CLSM_SUCCESS, "a newer struct with nothing newer set");

    s = (clsm_sampling)CLSM_SAMPLING_INIT;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "NULL logits", CLSM_F32, 4, 8, NULL, &s, NULL,
                   tokens);
    cr_expect_eq(clsm_sample_host(ts_ctx[0], CLSM_F32, 4, 8, 1.0, NULL, &s, x, NULL),
                 CLSM_ERROR_INVALID_ARGUMENT, "NULL tokens");
    cr_expect_eq(clsm_sample_host(NULL, CLSM_F32, 4, 8, 1.0, NULL, &s, x, tokens),
                 CLSM_ERROR_INVALID_ARGUMENT);
    expect_refused(CLSM_ERROR_INVALID_SHAPE, "vocab past INT32_MAX", CLSM_F32, 1,
                   (size_t)INT32_MAX + 1, NULL, &s, x, tokens);
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "tokens inside the logits", CLSM_F32, 4, 8, NULL,
                   &s, x, (int32_t *)x + 2);
    float lp[4];
    s.logprobs.host = (float *)tokens + 1;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "logprobs over the tokens", CLSM_F32, 4, 8, NULL,
                   &s, x, tokens);
    s.logprobs.host = lp;
    clsm_options o = CLSM_OPTIONS_INIT;
    float stats[8];
    o.stats_out.host = stats;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "stats_out", CLSM_F32, 4, 8, &o, &s, x, tokens);
    o = (clsm_options)CLSM_OPTIONS_INIT;
    float sinks[1] = {0};
    o.sinks.host = sinks;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "sinks", CLSM_F32, 4, 8, &o, &s, x, tokens);
    o = (clsm_options)CLSM_OPTIONS_INIT;
    o.softcap = -1;
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "a negative softcap", CLSM_F32, 4, 8, &o, &s, x,
                   tokens);
    expect_refused(CLSM_ERROR_INVALID_ARGUMENT, "an unknown dtype", (clsm_dtype)9, 4, 8, NULL, &s,
                   x, tokens);
}

Test(sample, buffers_path_checks_buffers_and_clamps_per_row_values)
{
    enum { rows = 4, vocab = 16 };
    clsm_context *ctx = ts_ctx[0];
    cl_context context = ts_cl_context_of(ctx);
    cl_command_queue queue = clsm_context_queue(ctx);
    float x[rows * vocab];
    for (size_t i = 0; i < rows * vocab; ++i)
        x[i] = (float)(i % vocab);
    cl_mem xb = ts_cl_buffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof x, x);
    cl_mem tb = ts_cl_sentinel_buffer(context, CL_MEM_READ_WRITE, rows * 4);
    cl_mem read_only = ts_cl_buffer(context, CL_MEM_READ_ONLY, rows * 4, NULL);
    float temps[rows] = {1, -1, NAN, 0};
    float tops[rows] = {5, -3, NAN, 0.5f};
    cl_mem temps_b = ts_cl_buffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof temps,
                                  temps);
    cl_mem tops_b = ts_cl_buffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof tops,
                                 tops);
    cl_mem short_b = ts_cl_buffer(context, CL_MEM_READ_ONLY, 3 * 4, NULL);
    clsm_sampling s = CLSM_SAMPLING_INIT;
    s.temperatures.buffer = short_b;
    cr_expect_eq(clsm_sample_buffers(ctx, CLSM_F32, rows, vocab, 1.0, NULL, &s, xb, 0, tb, 0, 0,
                                     NULL, NULL),
                 CLSM_ERROR_INVALID_SHAPE, "a per-row tensor of 3 for 4 rows");
    s = (clsm_sampling)CLSM_SAMPLING_INIT;
    cr_expect_eq(clsm_sample_buffers(ctx, CLSM_F32, rows, vocab, 1.0, NULL, &s, xb, 0, read_only,
                                     0, 0, NULL, NULL),
                 CLSM_ERROR_INVALID_ARGUMENT, "read-only tokens");
    unsigned char raw[rows * 4];
    ts_cl_read(queue, tb, 0, sizeof raw, raw);
    ts_report untouched = ts_check_sentinel(raw, sizeof raw);
    cr_expect(untouched.ok, "tokens written on failure: %s", untouched.msg);

    /* Negative or NaN temperatures give -1 and NaN; top_p is clamped: -3 and NaN are off, 5 is
     * 1, off. */
    s.temperatures.buffer = temps_b;
    s.top_ps.buffer = tops_b;
    float lp[rows];
    cl_mem lpb = ts_cl_buffer(context, CL_MEM_READ_WRITE, sizeof lp, NULL);
    s.logprobs.buffer = lpb;
    cr_assert_eq(clsm_sample_buffers(ctx, CLSM_F32, rows, vocab, 1.0, NULL, &s, xb, 0, tb, 0, 0,
                                     NULL, NULL),
                 CLSM_SUCCESS);
    int32_t tokens[rows];
    ts_cl_read(queue, tb, 0, sizeof tokens, tokens);
    ts_cl_read(queue, lpb, 0, sizeof lp, lp);
    cr_expect(tokens[0] >= 0 && tokens[0] < vocab);
    cr_expect_eq(tokens[1], -1);
    cr_expect(isnan(lp[1]));
    cr_expect_eq(tokens[2], -1);
    cr_expect(isnan(lp[2]));
    cr_expect_eq(tokens[3], vocab - 1, "greedy row");
    clReleaseMemObject(xb);
    clReleaseMemObject(tb);
    clReleaseMemObject(read_only);
    clReleaseMemObject(temps_b);
    clReleaseMemObject(tops_b);
    clReleaseMemObject(short_b);
    clReleaseMemObject(lpb);
}
