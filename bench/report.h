/* Output on stdout: the human table, one row per case (a shape and an op). */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include <clsoftmax.h>

#include "check.h"

/* What the header says about the run. */
typedef struct report_run {
    const char *mode; /* "shapes" or "quick" */
    int reps;
    char device[256], driver[256], opencl[256];
    unsigned compute_units;
    int peer_threads;            /* OpenMP threads of the host C peer */
    const char *omp_wait_policy; /* as set in the environment, or "unset" */
} report_run;

typedef struct measured {
    double seconds; /* median */
    check_result check;
} measured;

typedef struct report_row {
    clsm_op op;
    clsm_shape shape;
    const char *variant; /* clsm_kernel_name() */
    double copy_seconds; /* the copy roofline's median for the same bytes */
    measured clsm, naive, peer;
} report_row;

void report_begin(const report_run *run);
void report_row_print(const report_row *row);
/* Ends the output; failed says whether a clsoftmax result was outside the bounds. */
void report_end(int failed);

#endif
