/* Timing: warm-up runs, then the median wall-clock time of repeated runs. */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H

/* The first run compiles kernels and touches fresh pages; it must not be timed. */
enum { WARMUP_RUNS = 2 };

/* Runs one measured thing to completion; 0, or -1 after saying why. */
typedef int (*measure_fn)(void *arg);

/* WARMUP_RUNS untimed runs, then the median of reps timed ones, in seconds. */
int measure_median(measure_fn run, void *arg, int reps, double *median);

#endif
