/* Output of the sampling table on stdout: the human table, CSV or JSON, one row per case. */
#include "measure.h"
#include "report_sampling.h"

static const char *dtype_name(clsm_dtype dtype)
{
    return dtype == CLSM_F16 ? "f16" : "f32";
}

static void print_table_header(void)
{
    printf("\nsampling: clsm_sample_buffers on device buffers, one token per row of logits\n"
           "(shape: rows x vocab), scale 1, no options, seed fixed. Logits: N(0, 2^2) with 8\n"
           "outliers a row in [10, 18). greedy: temperature 0. T=1: temperature 1, no filter.\n"
           "top_k=50 top_p=0.9 and min_p=0.05: at temperature 1.\n"
           "GB/s: the logits' bytes (4 per f32, 2 per f16) over the median; the kernel reads\n"
           "nothing else of size. copy GB/s: the copy roofline on the logits' bytes, read +\n"
           "written over its time; of copy = GB/s / copy GB/s, as in the other tables.\n"
           "kept: the size of the f64 kept set over the checked rows (the first, the last and\n"
           "two between). check: ok when every checked token is in it (greedy: the smallest\n"
           "index of the max), its top-p and min-p bounds loosened by 1e-6 relative.\n\n");
    printf("%-5s  %-10s  %-18s  %9s  %7s  %9s  %7s  %-9s  %s\n", "dtype", "shape", "case",
           "median ms", "GB/s", "copy GB/s", "of copy", "kept", "check");
}

static void print_table_row(const sampling_row *row)
{
    char shape[64], kept[32];
    snprintf(shape, sizeof shape, "%zux%zu", row->rows, row->vocab);
    if (row->kept_min == row->kept_max)
        snprintf(kept, sizeof kept, "%zu", row->kept_min);
    else
        snprintf(kept, sizeof kept, "%zu-%zu", row->kept_min, row->kept_max);
    printf("%-5s  %-10s  %-18s  %9.3f  %7.2f  %9.2f  %6.1f%%  %-9s  %s\n", dtype_name(row->dtype),
           shape, row->name, row->seconds * 1e3, row->gbs, row->copy_gbs,
           100.0 * row->gbs / row->copy_gbs, kept, row->bad ? "FAIL" : "ok");
    if (row->bad)
        printf("  %zu of %zu checked tokens outside the kept set\n", row->bad, row->checked);
}

static const char *const csv_header =
    "device,driver,opencl,version,mode,reps,dtype,rows,vocab,case,temperature,top_k,top_p,min_p,"
    "ms,gbs,copy_method,copy_gbs,of_copy,checked_rows,kept_min,kept_max,check\n";

static void print_csv_row(const report_run *run, const sampling_row *row)
{
    report_csv_string(run->device);
    putchar(',');
    report_csv_string(run->driver);
    putchar(',');
    report_csv_string(run->opencl);
    printf(",%s,%s,%d,%s,%zu,%zu,%s,%g,%u,%g,%g,%.6g,%.6g,%s,%.6g,%.6g,%zu,%zu,%zu,%s\n",
           clsm_version(), run->mode, run->reps, dtype_name(row->dtype), row->rows, row->vocab,
           row->name, row->temperature, (unsigned)row->top_k, row->top_p, row->min_p,
           row->seconds * 1e3, row->gbs, row->copy_method, row->copy_gbs,
           row->gbs / row->copy_gbs, row->checked, row->kept_min, row->kept_max,
           row->bad ? "fail" : "ok");
}

static void print_json_row(const report_run *run, const sampling_row *row, int first)
{
    printf("%s  {\"device\": ", first ? "" : ",\n");
    report_json_string(run->device);
    printf(", \"driver\": ");
    report_json_string(run->driver);
    printf(", \"opencl\": ");
    report_json_string(run->opencl);
    printf(", \"version\": \"%s\", \"mode\": \"%s\", \"reps\": %d, \"warmup\": %d, "
           "\"dtype\": \"%s\", \"rows\": %zu, \"vocab\": %zu, \"case\": \"%s\", "
           "\"temperature\": %g, \"top_k\": %u, \"top_p\": %g, \"min_p\": %g, \"ms\": %.6g, "
           "\"gbs\": %.6g, \"copy\": {\"method\": \"%s\", \"gbs\": %.6g}, \"of_copy\": %.6g, "
           "\"checked_rows\": %zu, \"kept_min\": %zu, \"kept_max\": %zu, \"check\": \"%s\"}",
           clsm_version(), run->mode, run->reps, WARMUP_RUNS, dtype_name(row->dtype), row->rows,
           row->vocab, row->name, row->temperature, (unsigned)row->top_k, row->top_p,
           row->min_p, row->seconds * 1e3, row->gbs, row->copy_method, row->copy_gbs,
           row->gbs / row->copy_gbs, row->checked, row->kept_min, row->kept_max,
           row->bad ? "fail" : "ok");
}

void report_sampling_begin(const report_run *run)
{
    if (run->format == REPORT_TABLE)
        print_table_header();
    else if (run->format == REPORT_CSV)
        fputs(csv_header, stdout);
}

void report_sampling_row(report_run *run, const sampling_row *row)
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
