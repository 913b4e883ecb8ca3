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

/* How far the row's top-p cut lies from flipping, relative to the mass of its top-k: the
 * prefixes on both sides of the crossing against top_p of that mass; INFINITY without top-p.
 * Exact ties, which land on the boundary in any precision, count as far. */
double ref_top_p_margin(size_t vocab, const double *u, ref_sampling s);

/* The cuts nearer than this to flipping are the compute type's to decide: its rounding of
 * the weights moves the mass by about 1e-7 of itself. */
#define REF_TOP_P_MARGIN 2e-6

/*
 * Whether token is a draw the contract allows from row u (ref_logits' values): -1 for a row
 * of NaN or only -inf; the first argmax for greedy; else an entry of the kept set with a
 * weight above 0. Where a cut lies within the compute type's rounding of flipping, the token
 * may come from the side the f64 reference did not take: a top-p cut within
 * REF_TOP_P_MARGIN, a min-p boundary within 1e-5 of min_p, and, for logits the kernels form
 * within tol of u (soft-capping's tanh), ranks and weights within that. Returns NULL, or the
 * rule the token breaks.
 */
const char *ref_sample_judge(size_t vocab, const double *u, ref_sampling s, double tol,
                             int32_t token);

/*
 * Whether got is the log-probability of token in row u at this temperature: NaN for a row
 * with a NaN, -inf for a row of only -inf, else ref_logprob within the log-softmax bound for
 * a compute type of epsilon eps, and tol of u's error over the temperature. NULL, or why not.
 */
const char *ref_logprob_judge(size_t vocab, const double *u, double temperature, int32_t token,
                              double got, double eps, double tol);

/* Philox4x32-10 (Salmon et al., SC'11) of counter c under key k. */
void ref_philox4x32_10(const uint32_t c[4], const uint32_t k[2], uint32_t out[4]);

#endif
