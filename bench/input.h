/* The benchmark's input data: the same deterministic values in every run. */
#ifndef BENCH_INPUT_H
#define BENCH_INPUT_H

#include <stddef.h>

/* Values in [-10, 10): wide enough that exp spans ~9 decades per slice. */
void fill_input(float *x, size_t n);

/* The upstream gradient dy of the backward rows: values in [-1, 1), from another sequence
 * than fill_input's, so that dy is not a function of y. */
void fill_gradient(float *dy, size_t n);

#endif
