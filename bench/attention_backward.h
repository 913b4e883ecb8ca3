/* The attention table's backward rows: the backward pass with the forward's options against the plain backward. */
#ifndef BENCH_ATTENTION_BACKWARD_H
#define BENCH_ATTENTION_BACKWARD_H

#include <clsoftmax.h>

#include "copy.h"
#include "report.h"

/* Times and checks the prefill backward of heads heads, plain, causal and soft-capped, for
 * both ops, and prints a row for each. 0 pass, 1 check failure, -1 error (after saying why). */
int attention_backward(clsm_context *ctx, cl_context clctx, const copy_kernels *copy,
                       report_run *run, size_t heads);

#endif
