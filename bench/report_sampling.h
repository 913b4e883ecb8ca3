/* Output of the sampling table on stdout: the human table, CSV or JSON, one row per case. */
#ifndef BENCH_REPORT_SAMPLING_H
#define BENCH_REPORT_SAMPLING_H

#include <stdint.h>

#include "report.h"

/* One sampling case on one shape and dtype. */
typedef struct sampling_row {
    clsm_dtype dtype; /* CLSM_F32 or CLSM_F16 */
    size_t rows, vocab;
    const char *name; /* "greedy", "T=1", ... */
    float temperature;
    uint32_t top_k;
    float top_p, min_p;
    double seconds;  /* median */
    double gbs;      /* logits bytes over the median */
    double copy_gbs; /* the copy roofline on the logits' bytes: read + written over its time */
    const char *copy_method;
    size_t checked, bad;        /* rows checked, and those whose token is outside the kept set */
    size_t kept_min, kept_max;  /* the f64 kept set's size over the checked rows */
} sampling_row;

/* The sampling table's legend and column names, or its CSV header. */
void report_sampling_begin(const report_run *run);
void report_sampling_row(report_run *run, const sampling_row *row);

#endif
