/* The f64 reference of sampling: the kept set of a row and its renormalised probabilities, the greedy token, the log-probability, and Philox4x32-10. */
#ifndef CLSM_TEST_SAMPLE_REFERENCE_H
#define CLSM_TEST_SAMPLE_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ref_sampling {
    double temperature; /* 0: greedy */
    uint32_t top_k;     /* 0: off */
    double top_p;       /* 0 or 1: off */
    double min_p;       /* 0: off */
} ref_sampling;

/* The row's kept set (kept[j] = 1) and p restricted to it, renormalised (probs[j], 0 outside),
 * by the contract's rules in f64, for u already shaped. Returns how many entries are kept, or 0
 * for a row whose token is -1 (a NaN, or only -inf). Greedy (temperature 0) keeps the token. */
size_t ref_sample_kept(size_t vocab, const double *u, ref_sampling s, unsigned char *kept,
                       double *probs);

/* The smallest j of the max (NaN rows and rows of only -inf: vocab). */
size_t ref_argmax(size_t vocab, const double *u);

/* log_softmax(u/T) at token, T = 0 read as 1; +inf entries share the mass. */
double ref_logprob(size_t vocab, const double *u, double temperature, size_t token);

/* Philox4x32-10 (Salmon et al., SC'11) of counter c under key k. */
void ref_philox4x32_10(const uint32_t c[4], const uint32_t k[2], uint32_t out[4]);

#endif
