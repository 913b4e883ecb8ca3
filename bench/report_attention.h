/* Output of the attention table on stdout: the human table, CSV or JSON, one row per case. */
#ifndef BENCH_REPORT_ATTENTION_H
#define BENCH_REPORT_ATTENTION_H

#include "report.h"

/* One op on one attention shape with one kind of masking. */
typedef struct attention_row {
    clsm_op op;
    const char *name;    /* "decode" or "prefill" */
    const char *masking; /* "plain", "causal" or "f16 mask" */
    size_t batch, heads, rows, axis;
    const char *family; /* clsm_kernel_name() for the shape; it does not see the options */
    measured m;
    double gbs;       /* x read, y written and the mask read, over the median */
    double plain_gbs; /* the plain call's on the same shape, timed in turns with this one */
    double target;    /* the floor for gbs / plain_gbs; 0 for the plain call */
    double copy_gbs;  /* the copy roofline on x and y */
    const char *copy_method;
} attention_row;

/* The attention table's legend and column names, or its CSV header. */
void report_attention_begin(const report_run *run);
void report_attention_row(report_run *run, const attention_row *row);

#endif
