/* The benchmark's input data: the same deterministic values in every run. */
#include <stdint.h>

#include "input.h"

/* xorshift64: no libc rand(), whose sequence differs between C libraries. */
static void fill_uniform(float *x, size_t n, uint64_t s, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 40) / (double)(1u << 24) * (hi - lo) + lo);
    }
}

void fill_input(float *x, size_t n)
{
    fill_uniform(x, n, 0x9E3779B97F4A7C15u, -10.0, 10.0);
}

void fill_gradient(float *dy, size_t n)
{
    fill_uniform(dy, n, 0xD1B54A32D192ED03u, -1.0, 1.0);
}
