/* The host C peer: a hand-written softmax on the CPU, the yardstick a user would otherwise write.
 *
 * Written the way a competent C programmer would, and built -O3 -march=native -ffast-math
 * (bench/CMakeLists.txt sets that on this file alone) so that gcc vectorises every loop and
 * calls libmvec's vector expf: a max pass, an exp-and-sum pass, a normalize pass, OpenMP over
 * slices. It is fast, not careful: the sum is plain f32, and inf and NaN are outside what
 * -ffast-math promises, so the benchmark only feeds it finite inputs.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "host_peer.h"

/* One contiguous slice (inner = 1). Softmax stores the exps and scales them in place. */
static void row(int log_softmax, size_t n, const float *restrict x, float *restrict y)
{
    float m = x[0];
    for (size_t k = 1; k < n; k++)
        m = x[k] > m ? x[k] : m;
    float sum = 0.0f;
    if (log_softmax) {
        for (size_t k = 0; k < n; k++)
            sum += expf(x[k] - m);
        float shift = m + logf(sum);
        for (size_t k = 0; k < n; k++)
            y[k] = x[k] - shift;
    } else {
        for (size_t k = 0; k < n; k++) {
            y[k] = expf(x[k] - m);
            sum += y[k];
        }
        float inv = 1.0f / sum;
        for (size_t k = 0; k < n; k++)
            y[k] *= inv;
    }
}

/* One [axis, inner] block of inner strided slices, swept row by row so that the inner loops
 * run over contiguous memory and vectorise; m and s hold a max and a sum per slice. */
static void block(int log_softmax, size_t axis, size_t inner, const float *restrict x,
                  float *restrict y, float *restrict m, float *restrict s)
{
    for (size_t i = 0; i < inner; i++) {
        m[i] = x[i];
        s[i] = 0.0f;
    }
    for (size_t k = 1; k < axis; k++)
        for (size_t i = 0; i < inner; i++)
            m[i] = x[k * inner + i] > m[i] ? x[k * inner + i] : m[i];
    if (log_softmax) {
        for (size_t k = 0; k < axis; k++)
            for (size_t i = 0; i < inner; i++)
                s[i] += expf(x[k * inner + i] - m[i]);
        for (size_t i = 0; i < inner; i++)
            m[i] += logf(s[i]);
        for (size_t k = 0; k < axis; k++)
            for (size_t i = 0; i < inner; i++)
                y[k * inner + i] = x[k * inner + i] - m[i];
    } else {
        for (size_t k = 0; k < axis; k++)
            for (size_t i = 0; i < inner; i++) {
                y[k * inner + i] = expf(x[k * inner + i] - m[i]);
                s[i] += y[k * inner + i];
            }
        for (size_t i = 0; i < inner; i++)
            s[i] = 1.0f / s[i];
        for (size_t k = 0; k < axis; k++)
            for (size_t i = 0; i < inner; i++)
                y[k * inner + i] *= s[i];
    }
}

int host_peer_softmax(int log_softmax, size_t outer, size_t axis, size_t inner, const float *x,
                      float *y)
{
    size_t slab = axis * inner;
    int failed = 0;
    if (inner == 1) {
#pragma omp parallel for schedule(static)
        for (size_t o = 0; o < outer; o++)
            row(log_softmax, axis, x + o * slab, y + o * slab);
        return 0;
    }
#pragma omp parallel reduction(| : failed)
    {
        float *scratch = malloc(2 * inner * sizeof *scratch);
        failed = !scratch;
#pragma omp for schedule(static)
        for (size_t o = 0; o < outer; o++)
            if (scratch)
                block(log_softmax, axis, inner, x + o * slab, y + o * slab, scratch,
                      scratch + inner);
        free(scratch);
    }
    return failed ? -1 : 0;
}

int host_peer_threads(void)
{
    return omp_get_max_threads();
}
