/* Output on stdout: the human table, CSV or JSON, one row per case (a shape and an op). */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include <clsoftmax.h>

#include "check.h"

typedef enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON } report_format;

/* What every row carries, so that rows from different runs can be put side by side. */
typedef struct report_run {
    report_format format;
    const char *mode; /* "shapes", "sweep", "attention" or "sampling", "quick-" in front for --quick */
    int reps;
    char device[256], driver[256], opencl[256];
    unsigned compute_units;
    int peer_threads;            /* OpenMP threads of the host C peer */
    const char *omp_wait_policy; /* as set in the environment, or "unset" */
    int rows_printed;
} report_run;

typedef struct measured {
    double seconds; /* median */
    check_result check;
} measured;

typedef struct report_row {
    clsm_op op;
    int backward; /* the backward pass, dx from y and dy: clsm only, no naive or peer */
    clsm_shape shape;
    const char *family;      /* clsm_kernel_name() */
    double copy_seconds;     /* the copy roofline's median for the same bytes */
    const char *copy_method; /* which copy was fastest */
    measured clsm, naive, peer;
    double forward_seconds; /* backward rows: the forward's median of the same op, in turns */
} report_row;

/* Opens the output: the run's header (table) or the JSON array. */
void report_begin(report_run *run);
/* The shapes (or sweep) table's legend and column names, or its CSV header. */
void report_shapes_begin(const report_run *run);
void report_row_print(report_run *run, const report_row *row);
/* Closes the output; failed says whether a clsoftmax result was outside the bounds. */
void report_end(const report_run *run, int failed);

/* Shared with the attention table's report (report_attention.c). */
const char *report_op_name(clsm_op op);
void report_csv_string(const char *s); /* quoted only where CSV needs it */
void report_json_string(const char *s);

#endif
