/* The attention table: causal and f16-masked softmax against the plain call of the same shape. */
#ifndef BENCH_ATTENTION_H
#define BENCH_ATTENTION_H

#include <clsoftmax.h>

#include "copy.h"
#include "report.h"

/* Times and checks the decode and prefill cases for both ops on ctx's device and prints a row
 * for each; quick runs fewer heads. 0 pass, 1 check failure, -1 error (after saying why). */
int attention_table(clsm_context *ctx, cl_context clctx, const copy_kernels *copy, report_run *run,
                    int quick);

#endif
