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

static double median_of(double *times, int n)
{
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    return n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}

/* The median, not the mean or the minimum: on a shared machine one slow run from a
 * neighbour's burst should not move the result, and neither should one lucky run. */
int measure_median(measure_fn run, void *arg, int reps, double *median)
{
    return measure_medians(run, &arg, 1, reps, median);
}

int measure_medians(measure_fn run, void *const *args, int count, int reps, double *medians)
{
    double *times = malloc((size_t)count * (size_t)reps * sizeof *times);
    int rc = -1;
    if (!times) {
        fprintf(stderr, "clsoftmax-bench: out of host memory\n");
        return -1;
    }
    for (int j = 0; j < count; j++)
        for (int i = 0; i < WARMUP_RUNS; i++)
            if (run(args[j]) != 0)
                goto done;
    /* Each round starts with the next job, so that no job always follows the same one: what a
     * job leaves in the caches, or the device's threads asleep or awake, helps or hurts the next. */
    for (int i = 0; i < reps; i++) {
        for (int step = 0; step < count; step++) {
            int j = (i + step) % count;
            double t0 = now_s();
            if (run(args[j]) != 0)
                goto done;
            times[j * reps + i] = now_s() - t0;
        }
    }
    for (int j = 0; j < count; j++)
        medians[j] = median_of(times + j * reps, reps);
    rc = 0;
done:
    free(times);
    return rc;
}
