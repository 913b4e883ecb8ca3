/* Output of the attention table on stdout: the human table, CSV or JSON, one row per case. */
#include "report_attention.h"
#include "measure.h"

static void print_table_header(void)
{
    printf("\nattention: F32 on device buffers; shape: batch x heads x rows x axis, softmax along "
           "axis.\n"
           "plain: the call without options. causal: entries past row + axis - rows masked (the\n"
           "KV-cache offset; decode's one row then keeps every entry, so its row is the cost of\n"
           "the causal path alone). f16 mask: the same pattern as a full f16 additive mask\n"
           "(0 / -inf), strides {heads*rows*axis, rows*axis, axis, 1}. softcap: capped at 30.\n"
           "alibi: ALiBi slopes of max_bias 8 at the KV-cache offset, nothing masked. kv lengths:\n"
           "decode of 8 sequences whose KV lengths spread over 1..4096. backward: the prefill's\n"
           "backward pass (y and dy read, dx written, 12 bytes per element; softcap also reads x,\n"
           "16), plain, causal and capped at 30.\n"
           "GB/s: x read + y written (8 bytes per element) + the mask read (2 bytes per element);\n"
           "kv lengths: x read for the kept entries only (every y is written), 4 + 4*kept/all\n"
           "bytes per element.\n"
           "of plain: GB/s / the plain call's, timed in turns with it; target: the issue's floor.\n"
           "copy GB/s, of copy: the copy roofline on x and y, and GB/s / it. family: the kernel\n"
           "family clsoftmax chose for the shape without options. err: softmax max relative error,\n"
           "log_softmax max |err|/max(1,|ref|), against a masked f64 reference; bound %.0e\n"
           "(softcap: + 8*2^-24*30).\n\n",
           TOL);
    printf("%-11s  %-8s  %-14s  %-10s  %-7s  %9s  %7s  %8s  %-13s  %9s  %7s  %8s  %s\n", "op",
           "case", "shape", "masking", "family", "median ms", "GB/s", "of plain", "target",
           "copy GB/s", "of copy", "max err", "check");
}

static void print_table_row(const attention_row *row)
{
    char shape[64], target[32] = "-";
    snprintf(shape, sizeof shape, "%zux%zux%zux%zu", row->batch, row->heads, row->rows, row->axis);
    if (row->target > 0.0)
        snprintf(target, sizeof target, ">= %.2f %s", row->target,
                 row->gbs / row->plain_gbs >= row->target ? "met" : "below");
    printf(
        "%-11s  %-8s  %-14s  %-10s  %-7s  %9.3f  %7.2f  %8.3f  %-13s  %9.2f  %6.1f%%  %8.1e  %s\n",
        report_op_name(row->op), row->name, shape, row->masking, row->family, row->m.seconds * 1e3,
        row->gbs, row->gbs / row->plain_gbs, target, row->copy_gbs,
        100.0 * row->gbs / row->copy_gbs, row->m.check.max_err, row->m.check.bad ? "FAIL" : "ok");
    if (row->m.check.bad)
        printf("  %zu of %zu elements outside the contract bound\n", row->m.check.bad,
               row->batch * row->heads * row->rows * row->axis);
}

static const char *const csv_header =
    "device,driver,opencl,version,mode,reps,op,case,masking,batch,heads,rows,axis,family,ms,gbs,"
    "of_plain,target,copy_method,copy_gbs,of_copy,max_err,check\n";

static void print_csv_row(const report_run *run, const attention_row *row)
{
    report_csv_string(run->device);
    putchar(',');
    report_csv_string(run->driver);
    putchar(',');
    report_csv_string(run->opencl);
    printf(",%s,%s,%d,%s,%s,%s,%zu,%zu,%zu,%zu,%s,%.6g,%.6g,%.6g,", clsm_version(), run->mode,
           run->reps, report_op_name(row->op), row->name, row->masking, row->batch, row->heads,
           row->rows, row->axis, row->family, row->m.seconds * 1e3, row->gbs,
           row->gbs / row->plain_gbs);
    /* An empty target for the plain call, which has none. */
    if (row->target > 0.0)
        printf("%.2f", row->target);
    printf(",%s,%.6g,%.6g,%.3g,%s\n", row->copy_method, row->copy_gbs, row->gbs / row->copy_gbs,
           row->m.check.max_err, row->m.check.bad ? "fail" : "ok");
}

static void print_json_row(const report_run *run, const attention_row *row, int first)
{
    printf("%s  {\"device\": ", first ? "" : ",\n");
    report_json_string(run->device);
    printf(", \"driver\": ");
    report_json_string(run->driver);
    printf(", \"opencl\": ");
    report_json_string(run->opencl);
    printf(", \"version\": \"%s\", \"mode\": \"%s\", \"reps\": %d, \"warmup\": %d, \"op\": \"%s\", "
           "\"case\": \"%s\", \"masking\": \"%s\", \"batch\": %zu, \"heads\": %zu, \"rows\": %zu, "
           "\"axis\": %zu, \"family\": \"%s\", \"ms\": %.6g, \"gbs\": %.6g, \"of_plain\": %.6g, ",
           clsm_version(), run->mode, run->reps, WARMUP_RUNS, report_op_name(row->op), row->name,
           row->masking, row->batch, row->heads, row->rows, row->axis, row->family,
           row->m.seconds * 1e3, row->gbs, row->gbs / row->plain_gbs);
    if (row->target > 0.0)
        printf("\"target\": %.2f", row->target);
    else
        printf("\"target\": null");
    printf(", \"copy\": {\"method\": \"%s\", \"gbs\": %.6g}, \"of_copy\": %.6g, \"max_err\": %.3g, "
           "\"check\": \"%s\"}",
           row->copy_method, row->copy_gbs, row->gbs / row->copy_gbs, row->m.check.max_err,
           row->m.check.bad ? "fail" : "ok");
}

void report_attention_begin(const report_run *run)
{
    if (run->format == REPORT_TABLE)
        print_table_header();
    else if (run->format == REPORT_CSV)
        fputs(csv_header, stdout);
}

void report_attention_row(report_run *run, const attention_row *row)
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
