/* The regs family at its limits: slices at each per-work-item count's capacity and past it, chunked, strided and unaligned slices, special values across chunks, the fused options on both paths, and bitwise repeatability. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "reference.h"
#include "support.h"

/*
 * The capacities are those of work-groups of 1024 (PoCL's CPU device allows 4096; the family
 * takes at most 1024): 4 entries a work-item up to 1024 entries a contiguous slice (256
 * work-items), 16 up to 16384; strided slices, 8 to a work-group, up to 128 and 2048.
 * Longer slices are cut into chunks. F64 takes work-groups of at most 512, holding half.
 */
static clsm_context *ctx;

static void open_regs(void)
{
    clsm_status st = ts_context_create_family(&ctx, "regs");
    cr_assert_eq(st, CLSM_SUCCESS, "creating the regs context: %s", clsm_status_string(st));
}

static void close_regs(void)
{
    clsm_context_release(ctx);
    ctx = NULL;
}

TestSuite(regs, .init = open_regs, .fini = close_regs);

static void check_random(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale, uint64_t seed)
{
    cr_assert_str_eq(clsm_kernel_name(ctx, dtype, s), "regs");
    void *x = ts_random(dtype, ts_count(s), -8, 8, seed);
    ts_run_and_check(ctx, "regs", op, dtype, s, scale, x, NULL);
    free(x);
}

Test(regs, contiguous_slices_at_each_capacity_and_past_it)
{
    static const size_t axes[] = {1, 3, 5, 1023, 1024, 1025, 16383, 16384, 16385, 40000};
    for (size_t i = 0; i < sizeof axes / sizeof axes[0]; i++)
        check_random(CLSM_SOFTMAX, CLSM_F32, (clsm_shape){3, axes[i], 1}, 1.0f, i);
    /* Log-softmax on one slice of each kind only: a variant compiles for every work-group
     * size it meets on PoCL. */
    static const size_t log_axes[] = {5, 1025, 16385};
    for (size_t i = 0; i < 3; i++)
        check_random(CLSM_LOG_SOFTMAX, CLSM_F32, (clsm_shape){3, log_axes[i], 1}, 1.0f, 20 + i);
}

Test(regs, strided_slices_at_each_capacity_and_past_it)
{
    static const clsm_shape shapes[] = {{3, 128, 5}, {3, 129, 5}, {2, 2048, 3},
                                        {2, 2049, 3}, {1, 7, 40}, {2, 5000, 9}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_random(CLSM_SOFTMAX, CLSM_F32, shapes[i], -0.5f, 100 + i);
    check_random(CLSM_LOG_SOFTMAX, CLSM_F32, shapes[3], -0.5f, 110);
}

/* Each dtype moves its own vectors: 8 entries of 16-bit types (4 with 4 a work-item), 2 of
 * f64. */
Test(regs, every_dtype_on_both_counts_and_chunks)
{
    static const clsm_shape shapes[] = {{3, 1023, 1}, {2, 1025, 1}, {2, 16385, 1}, {2, 129, 3}};
    static const clsm_dtype dtypes[] = {CLSM_F16, CLSM_BF16, CLSM_F64};
    for (size_t d = 0; d < 3; d++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            check_random(d == 1 ? CLSM_LOG_SOFTMAX : CLSM_SOFTMAX, dtypes[d], shapes[i], 1.0f,
                         200 + 10 * d + i);
}

Test(regs, zero_scale_is_uniform_across_chunks)
{
    check_random(CLSM_SOFTMAX, CLSM_F32, (clsm_shape){2, 16385, 1}, 0.0f, 300);
}

/* Slice k of [5, 16385] (4 chunks of 4112) follows pattern k: NaN in the last chunk, +inf in
 * two chunks, all -inf, -inf but one entry, and the largest finite values. */
Test(regs, special_values_meet_across_chunks)
{
    const clsm_shape s = {5, 16385, 1};
    const size_t n = ts_count(s);
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        float *x = ts_random(CLSM_F32, n, -4, 4, 400);
        for (size_t j = 0; j < s.axis; j++) {
            if (j == 16000)
                x[j] = NAN;
            if (j == 5 || j == 9000)
                x[s.axis + j] = INFINITY;
            x[2 * s.axis + j] = -INFINITY;
            if (j != 8300)
                x[3 * s.axis + j] = -INFINITY;
            x[4 * s.axis + j] = j % 2 ? 3.0e38f : -3.0e38f;
        }
        ts_run_and_check(ctx, "regs", (clsm_op)op, CLSM_F32, s, 1.0f, x, NULL);
        free(x);
    }
}

static cl_mem buffer_of(size_t bytes, const void *host)
{
    cl_context cl;
    cr_assert_eq(clGetCommandQueueInfo(clsm_context_queue(ctx), CL_QUEUE_CONTEXT, sizeof cl, &cl,
                                       NULL),
                 CL_SUCCESS);
    cl_int err;
    cl_mem m = clCreateBuffer(cl, CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0), bytes,
                              (void *)host, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer: %d", err);
    return m;
}

/* The buffers path at element offsets: x at x_at, y at y_at (y_at < 0: in place in x). */
static void run_buffers(clsm_op op, clsm_dtype dtype, clsm_shape s, const void *x, size_t x_at,
                        long y_at, void *y)
{
    const size_t es = ts_dtype_size(dtype), bytes = ts_count(s) * es;
    const size_t y_pos = y_at < 0 ? x_at : (size_t)y_at;
    unsigned char *image = malloc((x_at + ts_count(s)) * es);
    cr_assert_not_null(image);
    memcpy(image + x_at * es, x, bytes);
    cl_mem xm = buffer_of((x_at + ts_count(s)) * es, image);
    cl_mem ym = y_at < 0 ? xm : buffer_of((y_pos + ts_count(s)) * es, NULL);
    cl_event done;
    clsm_status st = clsm_softmax_buffers(ctx, op, dtype, s, 1.0f, xm, x_at * es, ym, y_pos * es,
                                          0, NULL, &done);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    clReleaseEvent(done);
    cr_assert_eq(clEnqueueReadBuffer(clsm_context_queue(ctx), ym, CL_TRUE, y_pos * es, bytes, y,
                                     0, NULL, NULL),
                 CL_SUCCESS);
    if (ym != xm)
        clReleaseMemObject(ym);
    clReleaseMemObject(xm);
    free(image);
}

/* Slices off the vector boundary are read and written entry by entry: x and y at offsets
 * of their own, and odd axes, whose slices alternate between on and off the boundary. Every
 * result must be bitwise that of the aligned call, and the same in place. */
Test(regs, unaligned_slices_match_aligned_ones_bitwise)
{
    static const clsm_shape shapes[] = {{4, 1027, 1}, {3, 3001, 1}, {2, 16390, 1}};
    static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16};
    for (size_t d = 0; d < 2; d++) {
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const clsm_shape s = shapes[i];
            const size_t n = ts_count(s), bytes = n * ts_dtype_size(dtypes[d]);
            void *x = ts_random(dtypes[d], n, -8, 8, 500 + i);
            void *want = ts_alloc(dtypes[d], n), *got = ts_alloc(dtypes[d], n);
            double *ref = malloc(n * sizeof *ref);
            cr_assert_not_null(ref);
            run_buffers(CLSM_SOFTMAX, dtypes[d], s, x, 0, 0, want);
            ref_softmax(CLSM_SOFTMAX, dtypes[d], s, 1.0f, x, ref);
            ts_report r = ts_check(CLSM_SOFTMAX, dtypes[d], s, want, ref);
            cr_assert(r.ok, "aligned: %s", r.msg);
            const size_t offsets[][2] = {{1, 0}, {0, 3}, {2, 5}};
            for (size_t k = 0; k < 3; k++) {
                run_buffers(CLSM_SOFTMAX, dtypes[d], s, x, offsets[k][0], (long)offsets[k][1],
                            got);
                cr_assert(memcmp(got, want, bytes) == 0, "%s [%zu,%zu,1] at x+%zu, y+%zu differs",
                          ts_dtype_name(dtypes[d]), s.outer, s.axis, offsets[k][0],
                          offsets[k][1]);
            }
            run_buffers(CLSM_SOFTMAX, dtypes[d], s, x, 3, -1, got);
            cr_assert(memcmp(got, want, bytes) == 0, "%s [%zu,%zu,1] in place differs",
                      ts_dtype_name(dtypes[d]), s.outer, s.axis);
            free(ref);
            free(got);
            free(want);
            free(x);
        }
    }
}

Test(regs, results_repeat_bitwise)
{
    static const clsm_shape shapes[] = {{3, 16384, 1}, {2, 40000, 1}, {2, 2049, 3}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const size_t n = ts_count(shapes[i]);
        float *x = ts_random(CLSM_F32, n, -8, 8, 600 + i);
        float *first = ts_alloc(CLSM_F32, n), *again = ts_alloc(CLSM_F32, n);
        cr_assert_eq(clsm_softmax_host(ctx, CLSM_LOG_SOFTMAX, CLSM_F32, shapes[i], 1.0f, x, first),
                     CLSM_SUCCESS);
        for (int k = 0; k < 3; k++) {
            cr_assert_eq(
                clsm_softmax_host(ctx, CLSM_LOG_SOFTMAX, CLSM_F32, shapes[i], 1.0f, x, again),
                CLSM_SUCCESS);
            cr_assert(memcmp(first, again, n * sizeof *x) == 0, "run %d differs", k + 1);
        }
        free(again);
        free(first);
        free(x);
    }
}

/* The options of one call, with host tensors. */
typedef struct {
    clsm_options o;
    float *mask, *sinks, *stats; /* stats: in or out */
    unsigned char *keep;
} fused;

/* An additive f32 mask (rows pitched, axis contiguous) with causal, window and sinks, and
 * statistics out; or a keep-mask with causal alone; or given statistics, from the slices' own
 * with the special ones at the front; or statistics alone (y NULL). */
typedef enum { ADD_CAUSAL_SINKS, KEEP_CAUSAL, STATS_IN, STATS_ONLY } fused_set;

static void fused_init(fused *f, fused_set set, clsm_shape s, const float *x)
{
    memset(f, 0, sizeof *f);
    ts_rng r = ts_rng_seed(700 + set);
    clsm_options *o = &f->o;
    o->struct_size = sizeof *o;
    const size_t slices = s.outer, stats = 2 * slices;
    if (set == ADD_CAUSAL_SINKS || set == KEEP_CAUSAL) {
        o->batch = 1, o->heads = 2, o->rows = s.outer / 2;
        o->mask_stride[2] = s.axis, o->mask_stride[3] = 1;
        o->causal = 1;
        /* Added: rows keep runs about half the axis long, which start and end inside chunks,
         * the first chunk fully masked. Kept: row r keeps up to entry r - 1, row 0 none. */
        o->causal_offset = set == ADD_CAUSAL_SINKS ? (ptrdiff_t)s.axis - 3 : -1;
        o->window = set == ADD_CAUSAL_SINKS ? s.axis / 2 - 7 : 0;
    }
    if (set == ADD_CAUSAL_SINKS) {
        o->mask_type = CLSM_MASK_ADD_F32;
        f->mask = malloc(o->rows * s.axis * sizeof *f->mask);
        for (size_t i = 0; i < o->rows * s.axis; i++)
            f->mask[i] = ts_rng_below(&r, 7) == 0 ? -INFINITY : (float)ts_rng_uniform(&r, -3, 3);
        o->mask.host = f->mask;
        f->sinks = malloc(2 * sizeof *f->sinks);
        f->sinks[0] = -INFINITY, f->sinks[1] = 2.5f;
        o->sinks.host = f->sinks;
    } else if (set == KEEP_CAUSAL) {
        o->mask_type = CLSM_MASK_KEEP_U8;
        f->keep = malloc(o->rows * s.axis);
        for (size_t i = 0; i < o->rows * s.axis; i++)
            f->keep[i] = ts_rng_below(&r, 3) != 0;
        o->mask.host = f->keep;
    }
    if (set == STATS_IN) {
        double *own = malloc(stats * sizeof *own);
        ref_softmax_ex(CLSM_SOFTMAX, CLSM_F32, s, 1.0f, NULL, x, NULL, own);
        static const double special[][2] = {{NAN, 1}, {-INFINITY, 0}, {1.5, 0}, {INFINITY, 2}};
        for (size_t k = 0; k < 4 && k < slices; k++)
            own[2 * k] = special[k][0], own[2 * k + 1] = special[k][1];
        f->stats = malloc(stats * sizeof *f->stats);
        for (size_t i = 0; i < stats; i++)
            f->stats[i] = (float)own[i];
        o->stats_in.host = f->stats;
        free(own);
    } else if (set != KEEP_CAUSAL) {
        f->stats = malloc(stats * sizeof *f->stats);
        o->stats_out.host = f->stats;
    }
}

static void fused_free(fused *f)
{
    free(f->mask);
    free(f->keep);
    free(f->sinks);
    free(f->stats);
}

static void check_fused(fused_set set, clsm_op op, clsm_shape s)
{
    const size_t n = ts_count(s);
    float *x = ts_random(CLSM_F32, n, -6, 6, 800 + set);
    float *y = ts_alloc(CLSM_F32, n);
    ts_fill_sentinel(y, n * sizeof *y);
    fused f;
    fused_init(&f, set, s, x);
    clsm_status st =
        clsm_softmax_host_ex(ctx, op, CLSM_F32, s, 1.0f, &f.o, x, set == STATS_ONLY ? NULL : y);
    cr_assert_eq(st, CLSM_SUCCESS, "set %d [%zu,%zu]: %s", set, s.outer, s.axis,
                 clsm_status_string(st));
    double *ref = malloc(n * sizeof *ref), *ref_stats = malloc(2 * s.outer * sizeof *ref_stats);
    ref_softmax_ex(op, CLSM_F32, s, 1.0f, &f.o, x, ref, ref_stats);
    ts_report r = set == STATS_ONLY ? ts_check_sentinel(y, n * sizeof *y)
                                    : ts_check(op, CLSM_F32, s, y, ref);
    cr_assert(r.ok, "set %d [%zu,%zu]: %s", set, s.outer, s.axis, r.msg);
    if (f.o.stats_out.host) {
        r = ts_check_stats(CLSM_F32, s.outer, f.stats, ref_stats);
        cr_assert(r.ok, "set %d [%zu,%zu] statistics: %s", set, s.outer, s.axis, r.msg);
    }
    fused_free(&f);
    free(ref_stats);
    free(ref);
    free(y);
    free(x);
}

/* Each set on a slice one work-group holds and on one cut into chunks. */
Test(regs, fused_options_whole_and_in_chunks)
{
    static const clsm_shape shapes[] = {{6, 3000, 1}, {4, 20000, 1}};
    for (size_t i = 0; i < 2; i++) {
        check_fused(ADD_CAUSAL_SINKS, CLSM_SOFTMAX, shapes[i]);
        check_fused(KEEP_CAUSAL, CLSM_LOG_SOFTMAX, shapes[i]);
        check_fused(STATS_IN, CLSM_LOG_SOFTMAX, shapes[i]);
        check_fused(STATS_ONLY, CLSM_SOFTMAX, shapes[i]);
    }
}
