/* The benchmark's input data: the same deterministic values in every run. */
#include <stdint.h>

#include "input.h"

/* xorshift64: no libc rand(), whose sequence differs between C libraries. */
void fill_input(float *x, size_t n)
{
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 40) / (double)(1u << 24) * 20.0 - 10.0);
    }
}
