/* Output on stdout: the human table, one row per case (a shape and an op). */
#include "measure.h"
#include "report.h"

/* Softmax reads and writes each element once, like a copy: 8 bytes per f32 element. */
static double gbs(clsm_shape s, double seconds)
{
    return 8.0 * (double)(s.outer * s.axis * s.inner) / seconds * 1e-9;
}

static const char *op_name(clsm_op op)
{
    return op == CLSM_SOFTMAX ? "softmax" : "log_softmax";
}

static void print_table_header(const report_run *run)
{
    printf("clsoftmax %s benchmark (%s): F32, scale 1, median of %d runs after %d warm-up runs\n",
           clsm_version(), run->mode, run->reps, WARMUP_RUNS);
    printf("device: %s\ndriver: %s (%s), %u compute units\n", run->device, run->driver, run->opencl,
           run->compute_units);
    printf("host C peer: %d OpenMP threads, OMP_WAIT_POLICY %s\n", run->peer_threads,
           run->omp_wait_policy);
    printf("shape: outer x axis x inner, softmax along axis. variant: the kernel clsoftmax chose.\n"
           "GB/s: 8 bytes per element (read + write). copy: the best of clEnqueueCopyBuffer and\n"
           "float4/float16 copy kernels on the same bytes; of copy = GB/s / copy GB/s.\n"
           "x naive: speedup over the three-kernel baseline (bench/naive.cl). x C: GB/s over the\n"
           "host C peer's (bench/host_peer.c: OpenMP, -O3 -march=native -ffast-math).\n"
           "err: softmax max relative error, log_softmax max |err|/max(1,|ref|), against f64;"
           " bound %.0e.\n\n",
           TOL);
    printf("%-11s  %-14s  %-7s  %9s  %7s  %9s  %7s  %7s  %6s  %8s  %s\n", "op", "shape", "variant",
           "median ms", "GB/s", "copy GB/s", "of copy", "x naive", "x C", "max err", "check");
}

/* A baseline outside the bound does not fail the run, but its speed is then suspect. */
static void print_baseline_note(const char *name, const measured *m, size_t n)
{
    if (m->check.bad)
        printf("  note: %s: %zu of %zu elements outside the bound (max err %.1e)\n", name,
               m->check.bad, n, m->check.max_err);
}

static void print_table_row(const report_row *row)
{
    clsm_shape s = row->shape;
    size_t n = s.outer * s.axis * s.inner;
    double clsm_gbs = gbs(s, row->clsm.seconds), copy_gbs = gbs(s, row->copy_seconds);
    char shape[64];
    snprintf(shape, sizeof shape, "%zux%zux%zu", s.outer, s.axis, s.inner);
    printf("%-11s  %-14s  %-7s  %9.3f  %7.2f  %9.2f  %6.1f%%  %7.2f  %6.2f  %8.1e  %s\n",
           op_name(row->op), shape, row->variant, row->clsm.seconds * 1e3, clsm_gbs, copy_gbs,
           100.0 * clsm_gbs / copy_gbs, row->naive.seconds / row->clsm.seconds,
           row->peer.seconds / row->clsm.seconds, row->clsm.check.max_err,
           row->clsm.check.bad ? "FAIL" : "ok");
    if (row->clsm.check.bad)
        printf("  %zu of %zu elements outside the contract bound\n", row->clsm.check.bad, n);
    print_baseline_note("naive baseline", &row->naive, n);
    print_baseline_note("host C peer", &row->peer, n);
}

void report_begin(const report_run *run)
{
    print_table_header(run);
    fflush(stdout);
}

void report_row_print(const report_row *row)
{
    print_table_row(row);
    fflush(stdout);
}

void report_end(int failed)
{
    if (failed)
        printf("\nFAIL: some clsoftmax results are outside the contract bounds\n");
}
