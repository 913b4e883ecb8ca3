/* Prints the tokens and log-probabilities of a fixed sampling workload, bit for bit, so that tests/sample_threads can compare runs under different thread counts and families. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

enum { ROWS = 33, VOCAB = 70001 };

int main(void)
{
    clsm_context *ctx;
    clsm_status st = clsm_context_create(&ctx);
    if (st != CLSM_SUCCESS) {
        fprintf(stderr, "sample_digest: %s\n", clsm_status_string(st));
        return 1;
    }
    static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16};
    static const struct {
        float temperature, top_p, min_p;
        uint32_t top_k;
    } cases[] = {{0, 0, 0, 0},   {1, 0, 0, 0},     {0.8f, 0.9f, 0, 50}, {1, 0, 0.05f, 0},
                 {1, 0.9f, 0, 0}, {1.2f, 0, 0, 300}, {1, 0.95f, 0.01f, 0}};
    uint64_t seeds[ROWS];
    for (size_t r = 0; r < ROWS; ++r)
        seeds[r] = 0x5851f42d4c957f2dULL * (r + 3);
    ts_rng rng = ts_rng_seed(2026);
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; ++d) {
        void *x = malloc(ROWS * VOCAB * ts_dtype_size(dtypes[d]));
        ts_fill_uniform(&rng, dtypes[d], x, ROWS * VOCAB, -9, 9);
        for (size_t c = 0; c < sizeof cases / sizeof *cases; ++c) {
            for (int per_row = 0; per_row < 2; ++per_row) {
                clsm_sampling s = CLSM_SAMPLING_INIT;
                s.temperature = cases[c].temperature;
                s.top_k = cases[c].top_k;
                s.top_p = cases[c].top_p;
                s.min_p = cases[c].min_p;
                s.seed = 12345;
                s.offset = 678;
                if (per_row)
                    s.seeds.host = seeds;
                int32_t tokens[ROWS];
                float logprobs[ROWS];
                s.logprobs.host = logprobs;
                st = clsm_sample_host(ctx, dtypes[d], ROWS, VOCAB, 1.0, NULL, &s, x, tokens);
                if (st != CLSM_SUCCESS) {
                    fprintf(stderr, "sample_digest: %s\n", clsm_status_string(st));
                    return 1;
                }
                printf("%s case %zu %s:", ts_dtype_name(dtypes[d]), c, per_row ? "seeds" : "seed");
                for (size_t r = 0; r < ROWS; ++r) {
                    uint32_t bits;
                    memcpy(&bits, &logprobs[r], sizeof bits);
                    printf(" %" PRId32 "/%08" PRIx32, tokens[r], bits);
                }
                printf("\n");
            }
        }
        free(x);
    }
    clsm_context_release(ctx);
    return 0;
}
