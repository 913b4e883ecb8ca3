/* Timing: warm-up runs, then the median wall-clock time of repeated runs. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "measure.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median, not the mean or the minimum: on a shared machine one slow run from a
 * neighbour's burst should not move the result, and neither should one lucky run. */
int measure_median(measure_fn run, void *arg, int reps, double *median)
{
    double *times = malloc((size_t)reps * sizeof *times);
    int rc = -1;
    if (!times) {
        fprintf(stderr, "clsoftmax-bench: out of host memory\n");
        return -1;
    }
    for (int i = 0; i < WARMUP_RUNS; i++)
        if (run(arg) != 0)
            goto done;
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();
        if (run(arg) != 0)
            goto done;
        times[i] = now_s() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    *median = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    rc = 0;
done:
    free(times);
    return rc;
}
