/* Timing: warm-up runs, then the median wall-clock time of repeated runs. */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H

/* The first run compiles kernels and touches fresh pages; it must not be timed. */
enum { WARMUP_RUNS = 2 };

/* Runs one measured thing to completion; 0, or -1 after saying why. */
typedef int (*measure_fn)(void *arg);

/* WARMUP_RUNS untimed runs, then the median of reps timed ones, in seconds. */
int measure_median(measure_fn run, void *arg, int reps, double *median);

/* The same for count jobs of one function, medians[i] for args[i], timed in turns (one run of
 * each per round): a neighbour's burst on a shared machine then slows every job alike, and the
 * ratios between them hold better than times taken one job after another. */
int measure_medians(measure_fn run, void *const *args, int count, int reps, double *medians);

#endif
