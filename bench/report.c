/* Output on stdout: the human table, CSV or JSON, one row per case (a shape and an op). */
#include <string.h>

#include "measure.h"
#include "report.h"

/* The floor for the backward pass's fraction of copy over the forward's. */
#define BACKWARD_TARGET 0.90

/* Softmax reads and writes each element once, like a copy: 8 bytes per f32 element. The
 * backward pass reads y and dy and writes dx: 12. */
static double bytes_per_element(const report_row *row)
{
    return row->backward ? 12.0 : 8.0;
}

static double gbs(clsm_shape s, double bytes, double seconds)
{
    return bytes * (double)(s.outer * s.axis * s.inner) / seconds * 1e-9;
}

/* A copy moves 8 bytes per element, whatever the row's own count. */
static double copy_gbs_of(const report_row *row)
{
    return gbs(row->shape, 8.0, row->copy_seconds);
}

/* A backward row's fraction of copy over its forward's, both against the same copy. */
static double of_forward(const report_row *row)
{
    return gbs(row->shape, 12.0, row->clsm.seconds) / gbs(row->shape, 8.0, row->forward_seconds);
}

const char *report_op_name(clsm_op op)
{
    return op == CLSM_SOFTMAX ? "softmax" : "log_softmax";
}

static const char *row_op_name(const report_row *row)
{
    if (!row->backward)
        return report_op_name(row->op);
    return row->op == CLSM_SOFTMAX ? "softmax_bwd" : "log_softmax_bwd";
}

static void print_table_header(const report_run *run)
{
    printf("clsoftmax %s benchmark (%s): F32, scale 1, median of %d runs after %d warm-up runs\n",
           clsm_version(), run->mode, run->reps, WARMUP_RUNS);
    printf("device: %s\ndriver: %s (%s), %u compute units\n", run->device, run->driver, run->opencl,
           run->compute_units);
    printf("host C peer: %d OpenMP threads, OMP_WAIT_POLICY %s\n", run->peer_threads,
           run->omp_wait_policy);
}

static void print_shapes_header(void)
{
    putchar('\n');
    printf("shape: outer x axis x inner, softmax along axis. family: the kernel family clsoftmax chose.\n"
           "GB/s: 8 bytes per element (read + write). copy: the best of clEnqueueCopyBuffer and\n"
           "float4/float16 copy kernels on the same bytes; of copy = GB/s / copy GB/s.\n"
           "x naive: speedup over the three-kernel baseline (bench/naive.cl). x C: GB/s over the\n"
           "host C peer's (bench/host_peer.c: OpenMP, -O3 -march=native -ffast-math).\n"
           "err: softmax max relative error, log_softmax max |err|/max(1,|ref|), against f64;"
           " bound %.0e.\n"
           "_bwd: the backward pass, dx from the forward's y and dy uniform in [-1, 1), timed in\n"
           "turns with the forward of the same op; GB/s: 12 bytes per element (y, dy read, dx\n"
           "written). of fwd: its of copy over that forward's; met from %.2f (the issue's floor).\n"
           "Its err: max |dx - ref| / (|scale|*B_j), B_j the contract's scale of the bound.\n\n",
           TOL, BACKWARD_TARGET);
    printf("%-15s  %-14s  %-7s  %9s  %7s  %9s  %7s  %-11s  %7s  %6s  %8s  %s\n", "op", "shape",
           "family", "median ms", "GB/s", "copy GB/s", "of copy", "of fwd", "x naive", "x C",
           "max err", "check");
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
    double clsm_gbs = gbs(s, bytes_per_element(row), row->clsm.seconds);
    double copy_gbs = copy_gbs_of(row);
    char shape[64], vs_forward[32] = "-", x_naive[16] = "-", x_peer[16] = "-";
    snprintf(shape, sizeof shape, "%zux%zux%zu", s.outer, s.axis, s.inner);
    if (row->backward) {
        snprintf(vs_forward, sizeof vs_forward, "%.3f %s", of_forward(row),
                 of_forward(row) >= BACKWARD_TARGET ? "met" : "below");
    } else {
        snprintf(x_naive, sizeof x_naive, "%.2f", row->naive.seconds / row->clsm.seconds);
        snprintf(x_peer, sizeof x_peer, "%.2f", row->peer.seconds / row->clsm.seconds);
    }
    printf("%-15s  %-14s  %-7s  %9.3f  %7.2f  %9.2f  %6.1f%%  %-11s  %7s  %6s  %8.1e  %s\n",
           row_op_name(row), shape, row->family, row->clsm.seconds * 1e3, clsm_gbs, copy_gbs,
           100.0 * clsm_gbs / copy_gbs, vs_forward, x_naive, x_peer, row->clsm.check.max_err,
           row->clsm.check.bad ? "FAIL" : "ok");
    if (row->clsm.check.bad)
        printf("  %zu of %zu elements outside the contract bound\n", row->clsm.check.bad, n);
    if (row->backward)
        return;
    print_baseline_note("naive baseline", &row->naive, n);
    print_baseline_note("host C peer", &row->peer, n);
}

/* Quoted only where needed (RFC 4180), so that plain tools split the common case. */
void report_csv_string(const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static const char *const csv_header =
    "device,driver,opencl,version,mode,reps,c_peer_threads,op,outer,axis,inner,elements,family,"
    "copy_method,copy_gbs,"
    "clsoftmax_ms,clsoftmax_gbs,clsoftmax_of_copy,clsoftmax_max_err,clsoftmax_check,"
    "naive_ms,naive_gbs,naive_of_copy,naive_max_err,naive_check,"
    "c_peer_ms,c_peer_gbs,c_peer_of_copy,c_peer_max_err,c_peer_check,"
    "x_naive,x_c_peer,bytes_per_element,of_forward,of_forward_target\n";

static void print_csv_measured(clsm_shape s, double bytes, const measured *m, double copy_gbs)
{
    double g = gbs(s, bytes, m->seconds);
    printf(",%.6g,%.6g,%.6g,%.3g,%s", m->seconds * 1e3, g, g / copy_gbs, m->check.max_err,
           m->check.bad ? "fail" : "ok");
}

/* Backward rows leave the baselines' fields empty, forward rows the of_forward ones. */
static void print_csv_row(const report_run *run, const report_row *row)
{
    clsm_shape s = row->shape;
    double copy_gbs = copy_gbs_of(row);
    report_csv_string(run->device);
    putchar(',');
    report_csv_string(run->driver);
    putchar(',');
    report_csv_string(run->opencl);
    printf(",%s,%s,%d,%d,%s,%zu,%zu,%zu,%zu,%s,%s,%.6g", clsm_version(), run->mode, run->reps,
           run->peer_threads, row_op_name(row), s.outer, s.axis, s.inner,
           s.outer * s.axis * s.inner, row->family, row->copy_method, copy_gbs);
    print_csv_measured(s, bytes_per_element(row), &row->clsm, copy_gbs);
    if (row->backward) {
        printf(",,,,,,,,,,,,,%.0f,%.4g,%.2f\n", bytes_per_element(row), of_forward(row),
               BACKWARD_TARGET);
        return;
    }
    print_csv_measured(s, 8.0, &row->naive, copy_gbs);
    print_csv_measured(s, 8.0, &row->peer, copy_gbs);
    printf(",%.4g,%.4g,%.0f,,\n", row->naive.seconds / row->clsm.seconds,
           row->peer.seconds / row->clsm.seconds, bytes_per_element(row));
}

void report_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json_measured(const char *name, clsm_shape s, double bytes, const measured *m,
                                double copy_gbs)
{
    double g = gbs(s, bytes, m->seconds);
    printf(", \"%s\": {\"ms\": %.6g, \"gbs\": %.6g, \"of_copy\": %.6g, \"max_err\": %.3g, "
           "\"check\": \"%s\"}",
           name, m->seconds * 1e3, g, g / copy_gbs, m->check.max_err, m->check.bad ? "fail" : "ok");
}

static void print_json_row(const report_run *run, const report_row *row, int first)
{
    clsm_shape s = row->shape;
    double copy_gbs = copy_gbs_of(row);
    printf("%s  {\"device\": ", first ? "" : ",\n");
    report_json_string(run->device);
    printf(", \"driver\": ");
    report_json_string(run->driver);
    printf(", \"opencl\": ");
    report_json_string(run->opencl);
    printf(", \"version\": \"%s\", \"mode\": \"%s\", \"reps\": %d, \"warmup\": %d, "
           "\"c_peer_threads\": %d, \"op\": \"%s\", \"outer\": %zu, \"axis\": %zu, \"inner\": %zu, "
           "\"elements\": %zu, "
           "\"family\": \"%s\", \"copy\": {\"method\": \"%s\", \"gbs\": %.6g}",
           clsm_version(), run->mode, run->reps, WARMUP_RUNS, run->peer_threads,
           row_op_name(row), s.outer, s.axis, s.inner, s.outer * s.axis * s.inner,
           row->family, row->copy_method, copy_gbs);
    printf(", \"bytes_per_element\": %.0f", bytes_per_element(row));
    print_json_measured("clsoftmax", s, bytes_per_element(row), &row->clsm, copy_gbs);
    if (row->backward) {
        printf(", \"naive\": null, \"c_peer\": null, \"x_naive\": null, \"x_c_peer\": null, "
               "\"of_forward\": %.4g, \"of_forward_target\": %.2f}",
               of_forward(row), BACKWARD_TARGET);
        return;
    }
    print_json_measured("naive", s, 8.0, &row->naive, copy_gbs);
    print_json_measured("c_peer", s, 8.0, &row->peer, copy_gbs);
    printf(", \"x_naive\": %.4g, \"x_c_peer\": %.4g, \"of_forward\": null, "
           "\"of_forward_target\": null}",
           row->naive.seconds / row->clsm.seconds, row->peer.seconds / row->clsm.seconds);
}

void report_begin(report_run *run)
{
    run->rows_printed = 0;
    if (run->format == REPORT_TABLE)
        print_table_header(run);
    else if (run->format == REPORT_JSON)
        puts("[");
    fflush(stdout);
}

void report_shapes_begin(const report_run *run)
{
    if (run->format == REPORT_TABLE)
        print_shapes_header();
    else if (run->format == REPORT_CSV)
        fputs(csv_header, stdout);
}

void report_row_print(report_run *run, const report_row *row)
{
    if (run->format == REPORT_TABLE)
        print_table_row(row);
    else if (run->format == REPORT_CSV)
        print_csv_row(run, row);
    else
        print_json_row(run, row, run->rows_printed == 0);
    run->rows_printed++;
    fflush(stdout);
}

void report_end(const report_run *run, int failed)
{
    if (run->format == REPORT_JSON)
        puts("\n]");
    else if (run->format == REPORT_TABLE && failed)
        printf("\nFAIL: some clsoftmax results are outside the contract bounds\n");
}
