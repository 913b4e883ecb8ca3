/* The f64 reference of sampling: the contract's kept set, greedy token and log-probability, written plainly, with a sort. */
#include "sample_reference.h"

#include <math.h>
#include <stdlib.h>

size_t ref_argmax(size_t vocab, const double *u)
{
    size_t best = vocab;
    for (size_t j = 0; j < vocab; ++j) {
        if (isnan(u[j]))
            return vocab;
        if (u[j] > -INFINITY && (best == vocab || u[j] > u[best]))
            best = j;
    }
    return best;
}

/* An entry and its u, sorted in the order of the contract: u descending, then j ascending.
 * The sort carries u along rather than reading it through a global, as threads judge rows at
 * once (tests/test_threads.c). */
typedef struct ranked {
    double u;
    size_t j;
} ranked;

static int by_order(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->u != y->u)
        return x->u > y->u ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* The entries of a row without NaN in the contract's order; free with free(). */
static size_t *ordered(size_t vocab, const double *u)
{
    ranked *r = malloc(vocab * sizeof *r);
    size_t *order = malloc(vocab * sizeof *order);
    for (size_t j = 0; j < vocab; ++j)
        r[j] = (ranked){u[j], j};
    qsort(r, vocab, sizeof *r, by_order);
    for (size_t i = 0; i < vocab; ++i)
        order[i] = r[i].j;
    free(r);
    return order;
}

/* Weights descending. */
static int by_weight(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

/* p_j * sum before normalising: exp((u_j - max)/T), or with +inf entries 1 for those and 0
 * for the rest. */
static double weight(double u, double max, double t)
{
    if (isinf(max))
        return u == max ? 1 : 0;
    return exp((u - max) / t);
}

size_t ref_sample_kept(size_t vocab, const double *u, ref_sampling s, unsigned char *kept,
                       double *probs)
{
    for (size_t j = 0; j < vocab; ++j) {
        kept[j] = 0;
        probs[j] = 0;
    }
    size_t top = ref_argmax(vocab, u);
    if (top == vocab)
        return 0;
    if (s.temperature == 0) {
        kept[top] = 1;
        probs[top] = 1;
        return 1;
    }
    size_t *order = ordered(vocab, u);
    double max = u[top], t = s.temperature;
    size_t n = vocab;
    if (s.top_k > 0 && s.top_k < n)
        n = s.top_k;
    if (s.top_p > 0 && s.top_p < 1) {
        double mass = 0, run = 0;
        for (size_t i = 0; i < n; ++i)
            mass += weight(u[order[i]], max, t);
        size_t i = 0;
        while (i < n && (i == 0 || run < s.top_p * mass))
            run += weight(u[order[i++]], max, t);
        n = i;
    }
    double total = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) {
        double w = weight(u[order[i]], max, t);
        if (s.min_p > 0 && !(w >= s.min_p))
            break;
        kept[order[i]] = 1;
        probs[order[i]] = w;
        total += w;
        ++count;
    }
    for (size_t j = 0; j < vocab; ++j)
        probs[j] /= total;
    free(order);
    return count;
}

double ref_logprob(size_t vocab, const double *u, double temperature, size_t token)
{
    double t = temperature > 0 ? temperature : 1;
    size_t top = ref_argmax(vocab, u);
    double max = u[top], sum = 0;
    for (size_t j = 0; j < vocab; ++j)
        sum += weight(u[j], max, t);
    return log(weight(u[token], max, t) / sum);
}

double ref_top_p_margin(size_t vocab, const double *u, ref_sampling s)
{
    /* A row with a NaN, or of only -inf, has no cut. */
    if (!(s.top_p > 0 && s.top_p < 1) || ref_argmax(vocab, u) == vocab)
        return INFINITY;
    double *sorted = malloc(vocab * sizeof *sorted);
    double max = -INFINITY;
    for (size_t j = 0; j < vocab; ++j)
        max = u[j] > max ? u[j] : max;
    for (size_t j = 0; j < vocab; ++j)
        sorted[j] = isinf(max) ? (u[j] == max) : exp((u[j] - max) / s.temperature);
    /* Weights descending is the order of u descending. */
    qsort(sorted, vocab, sizeof *sorted, by_weight);
    size_t n = s.top_k && s.top_k < vocab ? s.top_k : vocab;
    double mass = 0, run = 0, goal, margin = INFINITY;
    for (size_t i = 0; i < n; ++i)
        mass += sorted[i];
    goal = s.top_p * mass;
    for (size_t i = 0; i < n; ++i) {
        double before = run;
        run += sorted[i];
        if (run >= goal) {
            /* The first entry is always kept, and the whole prefix always reaches top_p < 1
             * of its own mass. */
            double after = i + 1 == n ? INFINITY : run - goal,
                   ahead = i == 0 ? INFINITY : goal - before;
            margin = fmin(after > 0 ? after : INFINITY, ahead > 0 ? ahead : INFINITY) / mass;
            break;
        }
    }
    free(sorted);
    return margin;
}

/* The top_k that keeps every entry whose u lies within tol of the k-th's. */
static uint32_t loose_top_k(size_t vocab, const double *u, uint32_t k, double tol)
{
    if (k == 0 || k >= vocab || !(tol > 0))
        return k;
    size_t *order = ordered(vocab, u);
    double kth = u[order[k - 1]];
    size_t n = k;
    while (n < vocab && u[order[n]] >= kth - tol)
        ++n;
    free(order);
    return n < vocab ? (uint32_t)n : 0;
}

const char *ref_sample_judge(size_t vocab, const double *u, ref_sampling s, double tol,
                             int32_t token)
{
    unsigned char *kept = malloc(vocab + 1);
    double *probs = malloc((vocab + 1) * sizeof *probs);
    const char *why = NULL;
    size_t count = ref_sample_kept(vocab, u, s, kept, probs);
    if (count == 0) {
        if (token != -1)
            why = "a row with a NaN or of only -inf gives -1";
    } else if (token < 0 || (size_t)token >= vocab) {
        why = "a token outside [0, vocab)";
    } else if (!kept[token] || !(probs[token] > 0)) {
        if (s.temperature == 0) {
            size_t top = ref_argmax(vocab, u);
            if (!(tol > 0 && u[token] >= u[top] - tol))
                why = "greedy gives the first argmax";
        } else {
            ref_sampling loose = s;
            if (ref_top_p_margin(vocab, u, s) < REF_TOP_P_MARGIN + 4 * tol / s.temperature)
                loose.top_p = 0;
            loose.min_p = s.min_p * (1 - 1e-5) * exp(-2 * tol / s.temperature);
            loose.top_k = loose_top_k(vocab, u, s.top_k, tol);
            ref_sample_kept(vocab, u, loose, kept, probs);
            if (!kept[token] || !(probs[token] > 0))
                why = "outside the kept set";
        }
    }
    free(probs);
    free(kept);
    return why;
}

const char *ref_logprob_judge(size_t vocab, const double *u, double temperature, int32_t token,
                              double got, double eps, double tol)
{
    int nan_seen = 0;
    for (size_t j = 0; j < vocab; ++j)
        nan_seen |= isnan(u[j]) != 0;
    if (nan_seen)
        return isnan(got) ? NULL : "a row with a NaN has logprob NaN";
    if (ref_argmax(vocab, u) == vocab)
        return got == -INFINITY ? NULL : "a row of only -inf has logprob -inf";
    if (token < 0 || (size_t)token >= vocab)
        return "no token to take the logprob of";
    double want = ref_logprob(vocab, u, temperature, (size_t)token);
    double t = temperature > 0 ? temperature : 1;
    /* A few units of the largest term's last place, and u's own error over T. */
    double bound = 16 * eps * (fabs(want) + log((double)vocab) + 1) + 2 * tol / t;
    return fabs(got - want) <= bound ? NULL : "the log-softmax bound";
}

void ref_philox4x32_10(const uint32_t c[4], const uint32_t k[2], uint32_t out[4])
{
    uint32_t x[4] = {c[0], c[1], c[2], c[3]}, key[2] = {k[0], k[1]};
    for (int round = 0; round < 10; ++round) {
        uint64_t p0 = (uint64_t)0xD2511F53u * x[0], p1 = (uint64_t)0xCD9E8D57u * x[2];
        uint32_t y[4] = {(uint32_t)(p1 >> 32) ^ x[1] ^ key[0], (uint32_t)p1,
                         (uint32_t)(p0 >> 32) ^ x[3] ^ key[1], (uint32_t)p0};
        for (int i = 0; i < 4; ++i)
            x[i] = y[i];
        key[0] += 0x9E3779B9u;
        key[1] += 0xBB67AE85u;
    }
    for (int i = 0; i < 4; ++i)
        out[i] = x[i];
}
