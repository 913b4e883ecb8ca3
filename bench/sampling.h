/* The sampling table: clsm_sample_buffers on realistic logits against the copy roofline, each token checked against an f64 kept set. */
#ifndef BENCH_SAMPLING_H
#define BENCH_SAMPLING_H

#include <clsoftmax.h>

#include "copy.h"
#include "report.h"

/* Times greedy, temperature-only, top-k + top-p and min-p sampling for each shape and dtype on
 * ctx's device, checks a few rows of each, and prints a row for each; quick runs smaller
 * shapes. 0 pass, 1 check failure, -1 error (after saying why). */
int sampling_table(clsm_context *ctx, cl_context clctx, const copy_kernels *copy, report_run *run,
                   int quick);

#endif
