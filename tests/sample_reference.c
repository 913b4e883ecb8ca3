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

/* The order of the contract: u descending, then j ascending. */
static const double *order_u;
static int by_order(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (order_u[i] != order_u[j])
        return order_u[i] > order_u[j] ? -1 : 1;
    return i < j ? -1 : i > j;
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
    size_t *order = malloc(vocab * sizeof *order);
    for (size_t j = 0; j < vocab; ++j)
        order[j] = j;
    order_u = u;
    qsort(order, vocab, sizeof *order, by_order);
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
