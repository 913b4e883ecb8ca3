/* The backward pass (clsm_softmax_backward_host and _buffers): accuracy, masked entries, NaN slices, special values, finite differences of the forward, in place, bad input, determinism and threads. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "reference.h"
#include "support.h"

TestSuite(backward, .init = ts_open_all, .fini = ts_close_all);

static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef enum entry_point { HOST, BUFFERS } entry_point;
static const char *const entry_point_names[] = {"host", "buffers"};

/* Elements of sentinel bytes around each tensor on the buffers path, so that none starts at
 * byte 0 and writes beyond dx show. */
#define PAD 3

static void *checked_malloc(size_t bytes)
{
    void *p = malloc(bytes + 1);
    cr_assert_not_null(p, "out of host memory for %zu bytes", bytes);
    return p;
}

/* Element j of slice number slice (o*inner + i). */
static size_t slice_at(clsm_shape s, size_t slice, size_t j)
{
    return (slice / s.inner * s.axis + j) * s.inner + slice % s.inner;
}

/*
 * The forward output to differentiate, from the item context: every forward call of this
 * suite goes through one family, so that each op and dtype compiles one forward variant.
 */
static void *forward(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale, const void *x)
{
    void *y = ts_alloc(dtype, ts_count(s));
    clsm_status st = clsm_softmax_host(ts_ctx[0], op, dtype, s, scale, x, y);
    char what[160];
    ts_describe(what, sizeof what, "forward", op, dtype, s, scale);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    return y;
}

static cl_context context_of(clsm_context *ctx)
{
    cl_context c;
    cl_int err = clGetCommandQueueInfo(clsm_context_queue(ctx), CL_QUEUE_CONTEXT, sizeof c, &c,
                                       NULL);
    cr_assert_eq(err, CL_SUCCESS, "CL_QUEUE_CONTEXT: %d", err);
    return c;
}

/* A buffer of pad + bytes + pad bytes: sentinels around a copy of host (sentinels if NULL). */
static cl_mem padded_buffer(cl_context c, cl_mem_flags flags, const void *host, size_t bytes,
                            size_t pad)
{
    unsigned char *all = checked_malloc(bytes + 2 * pad);
    ts_fill_sentinel(all, bytes + 2 * pad);
    if (host != NULL)
        memcpy(all + pad, host, bytes);
    cl_mem b = ts_cl_buffer(c, flags, bytes + 2 * pad, all);
    free(all);
    return b;
}

/* Reads a padded buffer back into out, checking that its pads kept their sentinels. */
static void read_padded(clsm_context *ctx, cl_mem b, size_t bytes, size_t pad, void *out,
                        const char *what, const char *name)
{
    unsigned char *all = checked_malloc(bytes + 2 * pad);
    ts_cl_read(clsm_context_queue(ctx), b, 0, bytes + 2 * pad, all);
    ts_report r = ts_check_sentinel(all, pad);
    cr_assert(r.ok, "%s: %s written before its offset: %s", what, name, r.msg);
    r = ts_check_sentinel(all + pad + bytes, pad);
    cr_assert(r.ok, "%s: %s written past its end: %s", what, name, r.msg);
    memcpy(out, all + pad, bytes);
    free(all);
}

/*
 * One backward call on either entry point, asserting success and that y and dy come back
 * unchanged. On the buffers path each tensor sits at a nonzero offset in its own buffer,
 * between sentinels that must survive, and the returned event must complete.
 */
static void run_backward(clsm_context *ctx, entry_point ep, clsm_op op, clsm_dtype dtype,
                         clsm_shape s, float scale, const void *y, const void *dy, void *dx,
                         const char *what)
{
    const size_t es = ts_dtype_size(dtype), bytes = ts_count(s) * es;
    void *y_back = checked_malloc(bytes), *dy_back = checked_malloc(bytes);
    clsm_status st;
    if (ep == HOST) {
        memcpy(y_back, y, bytes);
        memcpy(dy_back, dy, bytes);
        st = clsm_softmax_backward_host(ctx, op, dtype, s, scale, y, dy, dx);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
        cr_assert(memcmp(y_back, y, bytes) == 0, "%s: y was modified", what);
        cr_assert(memcmp(dy_back, dy, bytes) == 0, "%s: dy was modified", what);
    } else {
        cl_context c = context_of(ctx);
        const size_t pad = PAD * es;
        cl_mem yb = padded_buffer(c, CL_MEM_READ_ONLY, y, bytes, pad);
        cl_mem dyb = padded_buffer(c, CL_MEM_READ_ONLY, dy, bytes, pad);
        cl_mem dxb = padded_buffer(c, CL_MEM_READ_WRITE, NULL, bytes, pad);
        cl_event done = NULL;
        st = clsm_softmax_backward_buffers(ctx, op, dtype, s, scale, yb, pad, dyb, pad, dxb, pad,
                                           0, NULL, &done);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
        cr_assert_not_null(done, "%s: no event", what);
        cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS, "%s: waiting for the event", what);
        clReleaseEvent(done);
        read_padded(ctx, dxb, bytes, pad, dx, what, "dx");
        read_padded(ctx, yb, bytes, pad, y_back, what, "y");
        read_padded(ctx, dyb, bytes, pad, dy_back, what, "dy");
        cr_assert(memcmp(y_back, y, bytes) == 0, "%s: the y buffer changed", what);
        cr_assert(memcmp(dy_back, dy, bytes) == 0, "%s: the dy buffer changed", what);
        clReleaseMemObject(dxb);
        clReleaseMemObject(dyb);
        clReleaseMemObject(yb);
    }
    free(dy_back);
    free(y_back);
}

/* The reference of one request: values and bounds, freed together with free_reference. */
typedef struct reference {
    double *dx, *bound;
} reference;

static reference reference_of(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale,
                              const void *y, const void *dy)
{
    const size_t n = ts_count(s);
    reference ref = {checked_malloc(n * sizeof(double)), checked_malloc(n * sizeof(double))};
    ref_softmax_backward(op, dtype, s, scale, y, dy, ref.dx, ref.bound);
    return ref;
}

static void free_reference(reference ref)
{
    free(ref.bound);
    free(ref.dx);
}

static void describe(char *buf, size_t size, const char *config, entry_point ep, clsm_op op,
                     clsm_dtype dtype, clsm_shape s, float scale)
{
    char where[64];
    snprintf(where, sizeof where, "%s %s", config, entry_point_names[ep]);
    ts_describe(buf, size, where, op, dtype, s, scale);
}

/* Checks one request against the reference on every configuration and both entry points. */
static void check_everywhere(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale,
                             const void *y, const void *dy, const char *label)
{
    const size_t n = ts_count(s);
    reference ref = reference_of(op, dtype, s, scale, y, dy);
    void *dx = ts_alloc(dtype, n);
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        for (int ep = HOST; ep <= BUFFERS; ep++) {
            char what[256];
            describe(what, sizeof what, ts_config_name(c), (entry_point)ep, op, dtype, s, scale);
            ts_fill_sentinel(dx, n * ts_dtype_size(dtype));
            run_backward(ts_ctx[c], (entry_point)ep, op, dtype, s, scale, y, dy, dx, what);
            ts_report r = ts_check_backward(dtype, s, dx, ref.dx, ref.bound);
            cr_assert(r.ok, "%s (%s): %s", what, label, r.msg);
        }
    }
    free(dx);
    free_reference(ref);
}

/* ---- accuracy on forward outputs ---- */

/*
 * Axis lengths 1, primes and powers of two +-1, inner 1, 3, 16 and 17, and one long slice
 * that the split and group families cut into pieces.
 */
static const clsm_shape random_shapes[] = {{4, 1, 1},  {3, 1, 17},    {5, 7, 1},
                                           {3, 31, 3}, {6, 127, 1},   {2, 257, 17},
                                           {2, 63, 16}, {2, 1025, 1}, {1, 70001, 1}};
static const float random_scales[] = {1.0f, 0.0f, -1.5f, 0.125f};

/* y is the forward output of random x at the same scale (so it has the structure backward
 * expects: a distribution, or its log); dy is uniform in [-1, 1]. */
static void check_random(clsm_dtype dtype, uint64_t seed)
{
    for (size_t k = 0; k < N_OF(random_shapes); k++) {
        const clsm_shape s = random_shapes[k];
        const size_t n = ts_count(s);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            const float scale = random_scales[(k + (size_t)op) % N_OF(random_scales)];
            void *x = ts_random(dtype, n, -4, 4, seed + 10 * k + (uint64_t)op);
            void *y = forward((clsm_op)op, dtype, s, scale, x);
            void *dy = ts_random(dtype, n, -1, 1, seed + 10 * k + 5 + (uint64_t)op);
            check_everywhere((clsm_op)op, dtype, s, scale, y, dy, "random forward output");
            free(dy);
            free(y);
            free(x);
        }
    }
}

Test(backward, f32_forward_outputs_within_the_bound)
{
    check_random(CLSM_F32, 100);
}

Test(backward, f64_forward_outputs_within_the_bound)
{
    check_random(CLSM_F64, 200);
}

Test(backward, f16_forward_outputs_within_the_bound)
{
    check_random(CLSM_F16, 300);
}

Test(backward, bf16_forward_outputs_within_the_bound)
{
    check_random(CLSM_BF16, 400);
}

/* y that no forward pass gives: softmax rows that do not sum to 1, log-softmax entries above
 * 0 (exp(y) > 1); the formulas hold for any y. */
Test(backward, arbitrary_y_within_the_bound)
{
    const clsm_shape shapes[] = {{3, 29, 1}, {2, 33, 5}, {1, 4099, 1}};
    const float scales[] = {1.0f, -0.75f};
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        for (size_t k = 0; k < N_OF(shapes); k++) {
            const size_t n = ts_count(shapes[k]);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                const uint64_t seed = 500 + 100 * d + 10 * k + (uint64_t)op;
                void *y = op == CLSM_SOFTMAX ? ts_random(dtypes[d], n, 0, 1, seed)
                                             : ts_random(dtypes[d], n, -20, 2, seed);
                void *dy = ts_random(dtypes[d], n, -3, 3, seed + 7);
                check_everywhere((clsm_op)op, dtypes[d], shapes[k], scales[k % 2], y, dy,
                                 "arbitrary y");
                free(dy);
                free(y);
            }
        }
    }
}

/*
 * An F32 tensor of at least the device's cache size: the row and split families then
 * write dx past the cache where it is aligned for that, as the host path's own buffers
 * are. Slice 1 has masked entries with infinite dy, and slice 2 a NaN, so that the
 * streamed stores meet the special values too. The host path on the families that stream
 * only: the tensor is large.
 */
Test(backward, tensors_beyond_the_cache)
{
    cl_device_id device;
    cl_ulong cache = 0;
    cr_assert_eq(clGetCommandQueueInfo(clsm_context_queue(ts_ctx[0]), CL_QUEUE_DEVICE,
                                       sizeof device, &device, NULL),
                 CL_SUCCESS);
    cr_assert_eq(clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache, &cache,
                                 NULL),
                 CL_SUCCESS);
    /* Four slices, each a whole number of vectors long, so that every slice is aligned. */
    const size_t axis = ((size_t)cache / 4 / 4 / 16 + 1) * 16;
    const clsm_shape s = {4, axis, 1};
    const size_t n = ts_count(s);
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        void *x = ts_random(CLSM_F32, n, -8, 8, 1500 + (uint64_t)op);
        for (size_t j = 0; j < axis; j += 1000)
            ts_store(CLSM_F32, x, slice_at(s, 1, j), -INFINITY);
        void *y = forward((clsm_op)op, CLSM_F32, s, 0.5f, x);
        void *dy = ts_random(CLSM_F32, n, -1, 1, 1510 + (uint64_t)op);
        for (size_t j = 0; j < axis; j += 1000)
            ts_store(CLSM_F32, dy, slice_at(s, 1, j), j % 2000 ? INFINITY : -INFINITY);
        ts_store(CLSM_F32, y, slice_at(s, 2, axis / 2), NAN);
        /* Log-softmax's S takes the masked dy as well: one sign, so that it is infinite. */
        if (op == CLSM_LOG_SOFTMAX)
            for (size_t j = 0; j < axis; j += 1000)
                ts_store(CLSM_F32, dy, slice_at(s, 1, j), INFINITY);
        reference ref = reference_of((clsm_op)op, CLSM_F32, s, 0.5f, y, dy);
        void *dx = ts_alloc(CLSM_F32, n);
        for (size_t c = 0; c < TS_CONFIGS; c++) {
            const char *family = clsm_kernel_name(ts_ctx[c], CLSM_F32, s);
            if (strcmp(family, "row") != 0 && strcmp(family, "split") != 0)
                continue;
            char what[160];
            ts_describe(what, sizeof what, ts_config_name(c), (clsm_op)op, CLSM_F32, s, 0.5f);
            ts_fill_sentinel(dx, n * 4);
            clsm_status st =
                clsm_softmax_backward_host(ts_ctx[c], (clsm_op)op, CLSM_F32, s, 0.5f, y, dy, dx);
            cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
            ts_report r = ts_check_backward(CLSM_F32, s, dx, ref.dx, ref.bound);
            cr_assert(r.ok, "%s: %s", what, r.msg);
        }
        free(dx);
        free_reference(ref);
        free(dy);
        free(y);
        free(x);
    }
}

/* ---- masked entries, NaN and special values ---- */

/* Slices (o*inner + i) of the special-value tests: short ones, strided ones, and a long one
 * that split cuts into two chunks. */
static const clsm_shape special_shapes[] = {{4, 37, 1}, {2, 19, 17}, {2, 9001, 1}};

/* Whether entry j of a slice is masked: a fifth of the entries, moving from slice to slice,
 * and every entry of slice 1 (a fully masked slice). */
static bool is_masked(size_t slice, size_t j)
{
    return slice == 1 || (j * 7 + slice) % 5 == 0;
}

/* x in [-4, 4] with -inf at the masked entries, so that forward gives y = 0 (softmax) and
 * y = -inf (log-softmax) there. */
static void *masked_input(clsm_dtype dtype, clsm_shape s, uint64_t seed)
{
    void *x = ts_random(dtype, ts_count(s), -4, 4, seed);
    for (size_t slice = 0; slice < s.outer * s.inner; slice++)
        for (size_t j = 0; j < s.axis; j++)
            if (is_masked(slice, j))
                ts_store(dtype, x, slice_at(s, slice, j), -INFINITY);
    return x;
}

/* The setup of a test that expects no NaN: the masked entries are masks (y = 0 or -inf), and
 * the reference has no NaN, so that the results are held to finite values. */
static void expect_nan_free_reference(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale,
                                      const void *y, const void *dy)
{
    const double mask = op == CLSM_SOFTMAX ? 0 : -INFINITY;
    for (size_t slice = 0; slice < s.outer * s.inner; slice++)
        for (size_t j = 0; j < s.axis; j++)
            cr_assert(!is_masked(slice, j) || ts_load(dtype, y, slice_at(s, slice, j)) == mask,
                      "setup: slice %zu entry %zu is not masked", slice, j);
    reference ref = reference_of(op, dtype, s, scale, y, dy);
    ts_report r = ts_check_no_nan(CLSM_F64, ts_count(s), ref.dx);
    cr_assert(r.ok, "setup: the reference has NaN: %s", r.msg);
    free_reference(ref);
}

/*
 * Softmax entries with y = 0 contribute nothing and get dx = 0 exactly, whatever dy holds
 * there: +-inf or the largest finite value (an unmasked one would poison the slice). The
 * other entries stay finite and within the bound; the fully masked slice is all zeros.
 */
Test(backward, masked_softmax_entries_give_zero_whatever_dy)
{
    const float scales[] = {1.0f, -1.5f, 0.125f, 0.0f};
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        const double big = ts_dtype_max(dtypes[d]);
        const double extremes[] = {INFINITY, -INFINITY, big, -big};
        for (size_t k = 0; k < N_OF(special_shapes); k++) {
            const clsm_shape s = special_shapes[k];
            const size_t n = ts_count(s);
            void *x = masked_input(dtypes[d], s, 600 + 10 * d + k);
            void *y = forward(CLSM_SOFTMAX, dtypes[d], s, 1.0f, x);
            void *dy = ts_random(dtypes[d], n, -1, 1, 650 + 10 * d + k);
            size_t extreme = 0;
            for (size_t slice = 0; slice < s.outer * s.inner; slice++)
                for (size_t j = 0; j < s.axis; j++)
                    if (is_masked(slice, j))
                        ts_store(dtypes[d], dy, slice_at(s, slice, j),
                                 extremes[extreme++ % N_OF(extremes)]);
            const float scale = scales[(d + k) % N_OF(scales)];
            expect_nan_free_reference(CLSM_SOFTMAX, dtypes[d], s, scale, y, dy);
            check_everywhere(CLSM_SOFTMAX, dtypes[d], s, scale, y, dy, "masked entries");
            free(dy);
            free(y);
            free(x);
        }
    }
}

/*
 * Log-softmax entries with y = -inf have exp(y) = 0: their dx is scale*dy, also where dy is
 * infinite, and they never poison the slice. Their dy still joins S = sum_k dy_k: half the
 * largest finite value at one masked entry per slice keeps S finite (the whole value, with
 * a few more, could overflow it); infinities of one sign at every masked entry make S
 * infinite, legitimately, and every unmasked dx the opposite infinity (times the sign of
 * scale). The fully masked slice gives scale*dy throughout.
 */
Test(backward, masked_log_softmax_entries_take_scaled_dy)
{
    const float scales[] = {1.0f, -0.5f, 0.125f, 0.0f};
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        for (size_t k = 0; k < N_OF(special_shapes); k++) {
            const clsm_shape s = special_shapes[k];
            const size_t n = ts_count(s);
            void *x = masked_input(dtypes[d], s, 700 + 10 * d + k);
            void *y = forward(CLSM_LOG_SOFTMAX, dtypes[d], s, 1.0f, x);
            void *finite = ts_random(dtypes[d], n, -1, 1, 750 + 10 * d + k);
            void *infinite = ts_alloc(dtypes[d], n);
            memcpy(infinite, finite, n * ts_dtype_size(dtypes[d]));
            for (size_t slice = 0; slice < s.outer * s.inner; slice++) {
                const double sign = slice % 2 ? -1 : 1;
                bool first = true;
                for (size_t j = 0; j < s.axis; j++) {
                    if (!is_masked(slice, j))
                        continue;
                    const size_t at = slice_at(s, slice, j);
                    if (first)
                        ts_store(dtypes[d], finite, at, sign * ts_dtype_max(dtypes[d]) / 2);
                    first = false;
                    ts_store(dtypes[d], infinite, at, sign * INFINITY);
                }
            }
            /* Each variant meets every scale over the dtypes and shapes. */
            for (size_t i = 0; i < 3; i++) {
                const float scale = scales[(i + d + k) % N_OF(scales)];
                const void *dy = i == 1 ? infinite : finite;
                expect_nan_free_reference(CLSM_LOG_SOFTMAX, dtypes[d], s, scale, y, dy);
                check_everywhere(CLSM_LOG_SOFTMAX, dtypes[d], s, scale, y, dy,
                                 i == 1 ? "infinite dy at masked entries"
                                        : "large finite dy at masked entries");
            }
            free(infinite);
            free(finite);
            free(y);
            free(x);
        }
    }
}

/*
 * A NaN in y only, in dy only, in dy at a masked entry, or in both makes every dx of its
 * slice the canonical NaN, also at scale 0; the other slices are untouched by it and
 * correct, among them one with an infinite dy at a masked entry.
 */
Test(backward, nan_in_y_or_dy_makes_its_whole_slice_nan)
{
    const clsm_shape shapes[] = {{6, 33, 1}, {3, 17, 2}, {6, 3001, 1}};
    const float scales[] = {1.0f, 0.0f, -0.5f};
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        const clsm_dtype dt = dtypes[d];
        for (size_t k = 0; k < N_OF(shapes); k++) {
            const clsm_shape s = shapes[k];
            const size_t n = ts_count(s);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                /* Slices 2 and 5 have a masked entry (x = -inf) at j = 1. */
                void *x = ts_random(dt, n, -4, 4, 800 + 10 * d + k);
                for (size_t slice = 2; slice < s.outer * s.inner; slice += 3)
                    ts_store(dt, x, slice_at(s, slice, 1), -INFINITY);
                void *y = forward((clsm_op)op, dt, s, 1.0f, x);
                void *dy = ts_random(dt, n, -1, 1, 850 + 10 * d + k);
                for (size_t slice = 0; slice < s.outer * s.inner; slice++) {
                    const size_t j = slice * 7 % s.axis;
                    switch (slice % 6) {
                    case 0:
                        ts_store(dt, y, slice_at(s, slice, j), NAN);
                        break;
                    case 1:
                        ts_store(dt, dy, slice_at(s, slice, j), NAN);
                        break;
                    case 2:
                        ts_store(dt, dy, slice_at(s, slice, 1), NAN);
                        break;
                    case 4:
                        ts_store(dt, y, slice_at(s, slice, j), NAN);
                        ts_store(dt, dy, slice_at(s, slice, (j + 1) % s.axis), NAN);
                        break;
                    case 5:
                        ts_store(dt, dy, slice_at(s, slice, 1), INFINITY);
                        break;
                    }
                }
                const float scale = scales[(d + k + (size_t)op) % N_OF(scales)];
                reference ref = reference_of((clsm_op)op, dt, s, scale, y, dy);
                for (size_t slice = 0; slice < s.outer * s.inner; slice++) {
                    const bool nan_slice = slice % 6 != 3 && slice % 6 != 5;
                    for (size_t j = 0; j < s.axis; j++)
                        cr_assert(!!isnan(ref.dx[slice_at(s, slice, j)]) == nan_slice,
                                  "setup: slice %zu entry %zu of the reference", slice, j);
                }
                free_reference(ref);
                check_everywhere((clsm_op)op, dt, s, scale, y, dy, "NaN slices");
                free(dy);
                free(y);
                free(x);
            }
        }
    }
}

/* The position of the largest entry of a slice. */
static size_t slice_argmax(clsm_dtype dtype, clsm_shape s, const void *y, size_t slice)
{
    size_t best = 0;
    for (size_t j = 1; j < s.axis; j++)
        if (ts_load(dtype, y, slice_at(s, slice, j)) > ts_load(dtype, y, slice_at(s, slice, best)))
            best = j;
    return best;
}

/*
 * The largest finite dy (+ and - in alternate slices) at an unmasked entry, where every
 * result stays finite: at the largest y of the slice, so that for softmax y_k*dy_k
 * dominates S and dy_k - S cannot overflow; for log-softmax only half of it, so that
 * dy_j - p_j*S stays in range for F16 too. |scale| <= 1 keeps the products in range.
 */
Test(backward, largest_finite_dy_at_unmasked_entries)
{
    const float scales[] = {1.0f, -0.5f, 0.125f};
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        const clsm_dtype dt = dtypes[d];
        for (size_t k = 0; k < N_OF(special_shapes); k++) {
            const clsm_shape s = special_shapes[k];
            const size_t n = ts_count(s);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                void *x = ts_random(dt, n, -4, 4, 900 + 10 * d + k);
                void *y = forward((clsm_op)op, dt, s, 1.0f, x);
                void *dy = ts_random(dt, n, -1, 1, 950 + 10 * d + k);
                const double big = ts_dtype_max(dt) / (op == CLSM_SOFTMAX ? 1 : 2);
                for (size_t slice = 0; slice < s.outer * s.inner; slice++)
                    ts_store(dt, dy, slice_at(s, slice, slice_argmax(dt, s, y, slice)),
                             slice % 2 ? -big : big);
                const float scale = scales[(d + k + (size_t)op) % N_OF(scales)];
                reference ref = reference_of((clsm_op)op, dt, s, scale, y, dy);
                for (size_t i = 0; i < n; i++)
                    cr_assert(isfinite(ref.dx[i]) && fabs(ref.dx[i]) <= ts_dtype_max(dt),
                              "setup: reference element %zu is %g", i, ref.dx[i]);
                free_reference(ref);
                check_everywhere((clsm_op)op, dt, s, scale, y, dy, "largest finite dy");
                free(dy);
                free(y);
                free(x);
            }
        }
    }
}

/*
 * Subnormal y and dy, of a few of the dtype's smallest subnormals each: in y beside ordinary
 * entries, in dy beside ordinary y, and both at once. For F32 and F64 the results keep
 * within the bound's floor whether or not the device flushes subnormals; BF16's subnormals
 * lie far above f32's smallest, so there the test also asks that the device keeps them
 * (PoCL does). Short slices, so that the products that underflow in S add up to little.
 */
Test(backward, subnormal_y_and_dy)
{
    const clsm_shape shapes[] = {{3, 6, 1}, {3, 6, 2}};
    const float scales[] = {1.0f, -0.5f};
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        const clsm_dtype dt = dtypes[d];
        const double dm = ts_dtype_denorm_min(dt);
        const double tiny[] = {3 * dm, dm, -2 * dm, 0, 3 * dm, -dm};
        const double soft_y[] = {0.5, 3 * dm, dm, 0.25, 2 * dm, 0.25};
        const double soft_plain[] = {0.1, 0.2, 0.3, 0.15, 0.05, 0.2};
        const double log_y[] = {-3 * dm, -dm, -1, -2.5, -2 * dm, -0.5};
        const double log_plain[] = {-1.5, -2, -0.25, -3, -1, -4};
        const double plain_dy[] = {0.5, -0.25, 1, -1, 0.75, 0.125};
        for (size_t k = 0; k < N_OF(shapes); k++) {
            const clsm_shape s = shapes[k];
            const size_t n = ts_count(s);
            void *y = ts_alloc(dt, n), *dy = ts_alloc(dt, n);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                const double *subnormal_y = op == CLSM_SOFTMAX ? soft_y : log_y;
                const double *plain_y = op == CLSM_SOFTMAX ? soft_plain : log_plain;
                /* Slice kinds by slice % 3: subnormal y, subnormal dy, both. */
                for (size_t slice = 0; slice < s.outer * s.inner; slice++) {
                    for (size_t j = 0; j < s.axis; j++) {
                        const size_t at = slice_at(s, slice, j);
                        ts_store(dt, y, at, slice % 3 == 1 ? plain_y[j] : subnormal_y[j]);
                        ts_store(dt, dy, at, slice % 3 == 0 ? plain_dy[j] : tiny[j]);
                    }
                }
                for (size_t i = 0; i < N_OF(scales); i++)
                    check_everywhere((clsm_op)op, dt, s, scales[i], y, dy, "subnormal y and dy");
            }
            free(dy);
            free(y);
        }
    }
}

/* ---- the gradient of the forward pass ---- */

/* sum_j w_j*y_j over one slice of the forward output of x. */
static double slice_loss(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale, const void *x,
                         const void *w, size_t slice)
{
    void *y = forward(op, dtype, s, scale, x);
    long double loss = 0;
    for (size_t j = 0; j < s.axis; j++) {
        const size_t at = slice_at(s, slice, j);
        loss += (long double)ts_load(dtype, w, at) * ts_load(dtype, y, at);
    }
    free(y);
    return (double)loss;
}

/*
 * dx from the backward pass, with y = forward(x) and dy = w, is the gradient of
 * L(x) = sum_j w_j*y_j(x): it must match central differences of the forward pass, taken
 * with steps of relative size step, within tol times the largest |dx| of the slice. The
 * step actually taken is what the dtype holds of x +- h.
 */
static void check_gradient(clsm_dtype dtype, double step, double tol, uint64_t seed)
{
    const clsm_shape shapes[] = {{3, 7, 1}, {2, 5, 3}};
    const float scales[] = {0.7f, -1.3f};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        const clsm_shape s = shapes[k];
        const size_t n = ts_count(s), es = ts_dtype_size(dtype);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            for (size_t i = 0; i < N_OF(scales); i++) {
                const float scale = scales[i];
                void *x = ts_random(dtype, n, -2, 2, seed + 10 * k + 2 * (uint64_t)op + i);
                void *w = ts_random(dtype, n, -1, 1, seed + 100 + 10 * k + 2 * (uint64_t)op + i);
                void *y = forward((clsm_op)op, dtype, s, scale, x);
                void *moved = ts_alloc(dtype, n);
                double *numeric = checked_malloc(n * sizeof(double));
                for (size_t e = 0; e < n; e++) {
                    const size_t slice = e / (s.axis * s.inner) * s.inner + e % s.inner;
                    const double xe = ts_load(dtype, x, e);
                    const double h = step * fmax(1, fabs(xe));
                    memcpy(moved, x, n * es);
                    ts_store(dtype, moved, e, xe + h);
                    const double up = ts_load(dtype, moved, e);
                    const double l_up = slice_loss((clsm_op)op, dtype, s, scale, moved, w, slice);
                    ts_store(dtype, moved, e, xe - h);
                    const double down = ts_load(dtype, moved, e);
                    const double l_down =
                        slice_loss((clsm_op)op, dtype, s, scale, moved, w, slice);
                    numeric[e] = (l_up - l_down) / (up - down);
                }
                void *dx = ts_alloc(dtype, n);
                for (size_t c = 0; c < TS_CONFIGS; c++) {
                    char what[160];
                    ts_describe(what, sizeof what, ts_config_name(c), (clsm_op)op, dtype, s,
                                scale);
                    clsm_status st = clsm_softmax_backward_host(ts_ctx[c], (clsm_op)op, dtype, s,
                                                                scale, y, w, dx);
                    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
                    for (size_t slice = 0; slice < s.outer * s.inner; slice++) {
                        double largest = 0;
                        for (size_t j = 0; j < s.axis; j++)
                            largest = fmax(largest,
                                           fabs(ts_load(dtype, dx, slice_at(s, slice, j))));
                        cr_assert_gt(largest, 0, "%s: slice %zu has no gradient", what, slice);
                        for (size_t j = 0; j < s.axis; j++) {
                            const size_t at = slice_at(s, slice, j);
                            const double got = ts_load(dtype, dx, at);
                            cr_assert_leq(fabs(got - numeric[at]), tol * largest,
                                          "%s: slice %zu entry %zu: backward %.17g, central "
                                          "difference %.17g (largest |dx| %.3g)",
                                          what, slice, j, got, numeric[at], largest);
                        }
                    }
                }
                free(dx);
                free(numeric);
                free(moved);
                free(y);
                free(w);
                free(x);
            }
        }
    }
}

Test(backward, f64_gradient_matches_central_differences)
{
    check_gradient(CLSM_F64, 1e-6, 1e-6, 1000);
}

Test(backward, f32_gradient_matches_central_differences)
{
    check_gradient(CLSM_F32, 1e-2, 1e-2, 1100);
}

/* ---- in place ---- */

/* Which input dx shares its memory with. */
typedef enum alias { ON_DY, ON_Y, ON_BOTH } alias;
static const char *const alias_names[] = {"dx on dy", "dx on y", "dx on y and dy"};

/* A backward call with dx in the memory of dy, of y or of both (then y and dy are one
 * tensor, whose values y gives); out receives dx. On the buffers path the shared tensor is
 * one buffer at one nonzero offset. */
static void run_in_place(clsm_context *ctx, entry_point ep, alias a, clsm_op op, clsm_dtype dtype,
                         clsm_shape s, float scale, const void *y, const void *dy, void *out,
                         const char *what)
{
    const size_t es = ts_dtype_size(dtype), bytes = ts_count(s) * es;
    const void *shared = a == ON_DY ? dy : y;
    clsm_status st;
    if (ep == HOST) {
        memcpy(out, shared, bytes);
        st = clsm_softmax_backward_host(ctx, op, dtype, s, scale, a == ON_DY ? y : out,
                                        a == ON_Y ? dy : out, out);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
        return;
    }
    cl_context c = context_of(ctx);
    const size_t pad = PAD * es;
    cl_mem b = padded_buffer(c, CL_MEM_READ_WRITE, shared, bytes, pad);
    cl_mem other = a == ON_BOTH ? NULL
                                : padded_buffer(c, CL_MEM_READ_ONLY, a == ON_DY ? y : dy, bytes,
                                                pad);
    cl_mem yb = a == ON_DY ? other : b, dyb = a == ON_Y ? other : b;
    st = clsm_softmax_backward_buffers(ctx, op, dtype, s, scale, yb, pad, dyb, pad, b, pad, 0,
                                       NULL, NULL);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    read_padded(ctx, b, bytes, pad, out, what, "the shared buffer");
    if (other != NULL)
        clReleaseMemObject(other);
    clReleaseMemObject(b);
}

/*
 * In place on dy, on y and on both gives bitwise what out of place gives, on every family,
 * dtype and op, for each entry point; slice 1 has a NaN in y, so that NaN slices compare
 * bitwise too.
 */
static void check_in_place(entry_point ep)
{
    const clsm_shape shapes[] = {{3, 1025, 1}, {2, 129, 5}};
    const float scale = -0.75f;
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        const clsm_dtype dt = dtypes[d];
        for (size_t k = 0; k < N_OF(shapes); k++) {
            const clsm_shape s = shapes[k];
            const size_t n = ts_count(s);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                void *x = ts_random(dt, n, -4, 4, 1200 + 10 * d + k);
                void *y = forward((clsm_op)op, dt, s, scale, x);
                ts_store(dt, y, slice_at(s, 1, 2), NAN);
                void *dy = ts_random(dt, n, -1, 1, 1250 + 10 * d + k);
                void *want = ts_alloc(dt, n), *got = ts_alloc(dt, n);
                reference ref = reference_of((clsm_op)op, dt, s, scale, y, dy);
                reference ref_yy = reference_of((clsm_op)op, dt, s, scale, y, y);
                for (size_t c = 0; c < TS_CONFIGS; c++) {
                    for (int a = ON_DY; a <= ON_BOTH; a++) {
                        char what[256], where[96];
                        snprintf(where, sizeof where, "%s %s %s", ts_config_name(c),
                                 entry_point_names[ep], alias_names[a]);
                        ts_describe(what, sizeof what, where, (clsm_op)op, dt, s, scale);
                        const void *dy_used = a == ON_BOTH ? y : dy;
                        run_backward(ts_ctx[c], ep, (clsm_op)op, dt, s, scale, y, dy_used, want,
                                     what);
                        reference r_used = a == ON_BOTH ? ref_yy : ref;
                        ts_report r = ts_check_backward(dt, s, want, r_used.dx, r_used.bound);
                        cr_assert(r.ok, "%s, out of place: %s", what, r.msg);
                        run_in_place(ts_ctx[c], ep, (alias)a, (clsm_op)op, dt, s, scale, y,
                                     dy_used, got, what);
                        r = ts_check_identical(dt, n, got, want);
                        cr_assert(r.ok, "%s, in place against out of place: %s", what, r.msg);
                    }
                }
                free_reference(ref_yy);
                free_reference(ref);
                free(got);
                free(want);
                free(dy);
                free(y);
                free(x);
            }
        }
    }
}

Test(backward, host_in_place_is_bitwise_equal_to_out_of_place)
{
    check_in_place(HOST);
}

Test(backward, buffers_in_place_is_bitwise_equal_to_out_of_place)
{
    check_in_place(BUFFERS);
}

/* ---- bad input ---- */

static ts_cl bad_cl;
static clsm_context *bad_ctx;

static void open_bad(void)
{
    ts_cl_open(&bad_cl, 0);
    unsetenv("CLSM_KERNEL");
    clsm_status st = clsm_context_create_with_queue(&bad_ctx, bad_cl.queue);
    cr_assert_eq(st, CLSM_SUCCESS, "create_with_queue: %s", clsm_status_string(st));
}

static void close_bad(void)
{
    clsm_context_release(bad_ctx);
    bad_ctx = NULL;
    ts_cl_close(&bad_cl);
}

TestSuite(backward_bad, .init = open_bad, .fini = close_bad);

/* Host tensors live in one arena, so that any overlap can be set up, and any write seen. */
#define REGION 512
static unsigned char arena[3 * REGION + 16];
static unsigned char *const y_at = arena, *const dy_at = arena + REGION,
                            *const dx_at = arena + 2 * REGION;
static const clsm_shape small = {2, 8, 3}; /* 48 elements: 384 bytes of F64 */

/* Arena: y and dy hold F32 values of a forward output and a gradient, dx the sentinel. */
static void fill_arena(void)
{
    ts_fill_sentinel(arena, sizeof arena);
    for (size_t i = 0; i < REGION / 4; i++) {
        ts_store(CLSM_F32, y_at, i, (double)(i % 8 + 1) / 36);
        ts_store(CLSM_F32, dy_at, i, (double)(i % 5) - 2);
    }
}

/* A host call on pointers into the arena, which must return want and leave every byte of
 * the arena as it was. */
static void expect_host(clsm_status want, clsm_context *c, clsm_op op, clsm_dtype dtype,
                        clsm_shape s, float scale, const void *y, const void *dy, void *dx,
                        const char *what)
{
    fill_arena();
    unsigned char before[sizeof arena];
    memcpy(before, arena, sizeof arena);
    clsm_status st = clsm_softmax_backward_host(c, op, dtype, s, scale, y, dy, dx);
    cr_assert_eq(st, want, "%s: got %s, want %s", what, clsm_status_string(st),
                 clsm_status_string(want));
    ts_report r = ts_check_sentinel(dx_at, REGION);
    cr_assert(r.ok, "%s: dx written: %s", what, r.msg);
    for (size_t i = 0; i < sizeof arena; i++)
        cr_assert_eq(arena[i], before[i], "%s: byte %zu of the arena written", what, i);
}

Test(backward_bad, host_null_context_unknown_op_or_dtype_and_non_finite_scale)
{
    const struct {
        clsm_context *ctx;
        int op, dtype;
        float scale;
        const char *what;
    } cases[] = {
        {NULL, CLSM_SOFTMAX, CLSM_F32, 1.0f, "NULL ctx"},
        {bad_ctx, 2, CLSM_F32, 1.0f, "op 2"},
        {bad_ctx, -1, CLSM_F32, 1.0f, "op -1"},
        {bad_ctx, CLSM_SOFTMAX, 4, 1.0f, "dtype 4"},
        {bad_ctx, CLSM_LOG_SOFTMAX, -1, 1.0f, "dtype -1"},
        {bad_ctx, CLSM_SOFTMAX, CLSM_F32, NAN, "scale NaN"},
        {bad_ctx, CLSM_SOFTMAX, CLSM_F64, INFINITY, "scale +inf"},
        {bad_ctx, CLSM_LOG_SOFTMAX, CLSM_F16, -INFINITY, "scale -inf"},
    };
    for (size_t k = 0; k < N_OF(cases); k++)
        expect_host(CLSM_ERROR_INVALID_ARGUMENT, cases[k].ctx, (clsm_op)cases[k].op,
                    (clsm_dtype)cases[k].dtype, small, cases[k].scale, y_at, dy_at, dx_at,
                    cases[k].what);
}

Test(backward_bad, host_null_tensors)
{
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f, NULL,
                dy_at, dx_at, "NULL y");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_LOG_SOFTMAX, CLSM_F32, small, 1.0f,
                y_at, NULL, dx_at, "NULL dy");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F64, small, 1.0f, y_at,
                dy_at, NULL, "NULL dx");
}

/* Products that wrap around to small numbers must not pass for small tensors. */
Test(backward_bad, host_size_overflow)
{
    const size_t half = (size_t)1 << (sizeof(size_t) * 4);
    const clsm_shape shapes[] = {{SIZE_MAX / 2, 3, 1}, {SIZE_MAX, SIZE_MAX, 1},
                                 {half, half, 1},      {1, half, half},
                                 {SIZE_MAX / 8, 4, 1}, {1, SIZE_MAX / 8 + 1, 1}};
    const clsm_dtype types[] = {CLSM_F32, CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F32, CLSM_F64};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        char what[96];
        snprintf(what, sizeof what, "%s shape [%zu,%zu,%zu]", ts_dtype_name(types[k]),
                 shapes[k].outer, shapes[k].axis, shapes[k].inner);
        expect_host(CLSM_ERROR_INVALID_SHAPE, bad_ctx, CLSM_SOFTMAX, types[k], shapes[k], 1.0f,
                    y_at, dy_at, dx_at, what);
    }
}

Test(backward_bad, host_validation_order)
{
    const clsm_shape huge = {SIZE_MAX / 2, 3, 1}, none = {3, 0, 2};
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, NULL, CLSM_SOFTMAX, CLSM_F32, huge, 1.0f, y_at,
                dy_at, dx_at, "NULL ctx before overflow");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, huge, NAN, y_at,
                dy_at, dx_at, "NaN scale before overflow");
    expect_host(CLSM_ERROR_INVALID_SHAPE, bad_ctx, CLSM_SOFTMAX, CLSM_F32, huge, 1.0f, NULL, NULL,
                NULL, "overflow before NULL tensors");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, (clsm_op)5, CLSM_F32, none, 1.0f, NULL,
                NULL, NULL, "unknown op before empty");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, none, INFINITY,
                NULL, NULL, NULL, "inf scale before empty");
}

Test(backward_bad, host_empty_tensors_succeed_and_write_nothing)
{
    const clsm_shape shapes[] = {{0, 5, 3}, {5, 0, 3},
                                 {5, 3, 0}, {0, 0, 0},
                                 {SIZE_MAX, SIZE_MAX, 0}, {SIZE_MAX, 0, SIZE_MAX}};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        char what[96];
        snprintf(what, sizeof what, "shape [%zu,%zu,%zu]", shapes[k].outer, shapes[k].axis,
                 shapes[k].inner);
        expect_host(CLSM_SUCCESS, bad_ctx, CLSM_LOG_SOFTMAX, CLSM_F64, shapes[k], 1.0f, NULL,
                    NULL, NULL, what);
        expect_host(CLSM_SUCCESS, bad_ctx, CLSM_SOFTMAX, CLSM_F32, shapes[k], 1.0f, y_at, dy_at,
                    dx_at, what);
    }
}

/* dx sharing some but not all of its bytes with y or dy; in the last cases dx is dy or y
 * itself, which is allowed, but overlaps the other input by part. */
Test(backward_bad, host_partial_overlap_of_dx_with_y_or_dy)
{
    const clsm_shape s = {2, 8, 2}; /* 32 F32 elements, 128 bytes */
    const struct {
        unsigned char *y, *dy, *dx;
        const char *what;
    } cases[] = {
        {y_at, dy_at, y_at + 4, "dx one element after y"},
        {y_at + 4, dy_at, y_at, "dx one element before y"},
        {y_at, dy_at, y_at + 64, "dx half way into y"},
        {y_at, dy_at, y_at + 2, "dx half an element after y"},
        {y_at, dy_at, dy_at + 4, "dx one element after dy"},
        {y_at, dy_at + 124, dy_at, "dx ending at dy's first element"},
        {y_at, dy_at, dy_at + 126, "dx starting in dy's last element"},
        {y_at, y_at + 4, y_at, "dx is y, dy one element after it"},
        {y_at + 4, y_at, y_at, "dx is dy, y one element after it"},
    };
    for (size_t k = 0; k < N_OF(cases); k++)
        expect_host(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f,
                    cases[k].y, cases[k].dy, cases[k].dx, cases[k].what);
}

/* y and dy are only read: any overlap between them is fine, and so is dx right next to
 * them. */
Test(backward_bad, host_overlapping_y_and_dy_and_adjacent_dx_are_accepted)
{
    const clsm_shape s = {2, 8, 2}; /* 32 F32 elements, 128 bytes */
    const size_t n = ts_count(s);
    const struct {
        size_t y, dy, dx;
    } cases[] = {{0, 4, 132}, {4, 0, 132}, {0, 0, 128}, {192, 128, 0}, {0, 128, 256}};
    float *got = ts_alloc(CLSM_F32, n);
    for (size_t k = 0; k < N_OF(cases); k++) {
        char what[96];
        snprintf(what, sizeof what, "y at byte %zu, dy at %zu, dx at %zu", cases[k].y,
                 cases[k].dy, cases[k].dx);
        fill_arena();
        /* The arena's values are y's; dx starts as sentinels. */
        ts_fill_sentinel(arena + cases[k].dx, n * 4);
        const unsigned char *y = arena + cases[k].y, *dy = arena + cases[k].dy;
        reference ref = reference_of(CLSM_SOFTMAX, CLSM_F32, s, 0.5f, y, dy);
        clsm_status st = clsm_softmax_backward_host(bad_ctx, CLSM_SOFTMAX, CLSM_F32, s, 0.5f, y,
                                                    dy, arena + cases[k].dx);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
        memcpy(got, arena + cases[k].dx, n * 4);
        ts_report r = ts_check_backward(CLSM_F32, s, got, ref.dx, ref.bound);
        cr_assert(r.ok, "%s: %s", what, r.msg);
        free_reference(ref);
    }
    free(got);
}

/* --- the buffers path --- */

#define BUFFER_BYTES (48 * 8) /* the shape small in F64 */

static cl_mem sentinel_buffer(cl_context c, cl_mem_flags flags, size_t bytes)
{
    return padded_buffer(c, flags, NULL, bytes, 0);
}

/* A command queue of the buffer's own context: bad_cl's, or a new one (*owned set). */
static cl_command_queue queue_for(cl_mem b, bool *owned)
{
    cl_context c;
    cr_assert_eq(clGetMemObjectInfo(b, CL_MEM_CONTEXT, sizeof c, &c, NULL), CL_SUCCESS);
    *owned = c != bad_cl.context;
    if (!*owned)
        return bad_cl.queue;
    cl_device_id dev;
    cr_assert_eq(clGetContextInfo(c, CL_CONTEXT_DEVICES, sizeof dev, &dev, NULL), CL_SUCCESS);
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(c, dev, 0, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateCommandQueue: %d", err);
    return q;
}

/* Every byte of a buffer; free with free(). */
static unsigned char *buffer_bytes(cl_mem b, size_t *size)
{
    cr_assert_eq(clGetMemObjectInfo(b, CL_MEM_SIZE, sizeof *size, size, NULL), CL_SUCCESS);
    bool owned;
    cl_command_queue q = queue_for(b, &owned);
    unsigned char *bytes = checked_malloc(*size);
    ts_cl_read(q, b, 0, *size, bytes);
    if (owned)
        clReleaseCommandQueue(q);
    return bytes;
}

/*
 * A buffers call that must return want, with no event on failure. Unless it succeeds on a
 * non-empty tensor, every buffer it was given must keep every byte.
 */
static void expect_buffers(clsm_status want, clsm_context *c, clsm_op op, clsm_dtype dtype,
                           clsm_shape s, float scale, cl_mem y, size_t y_off, cl_mem dy,
                           size_t dy_off, cl_mem dx, size_t dx_off, cl_uint n_events,
                           const cl_event *events, const char *what)
{
    const cl_mem given[] = {y, dy, dx};
    unsigned char *before[3] = {NULL, NULL, NULL};
    size_t sizes[3] = {0, 0, 0};
    for (size_t k = 0; k < 3; k++)
        if (given[k] != NULL)
            before[k] = buffer_bytes(given[k], &sizes[k]);
    cl_event ev = NULL;
    clsm_status st = clsm_softmax_backward_buffers(c, op, dtype, s, scale, y, y_off, dy, dy_off,
                                                   dx, dx_off, n_events, events, &ev);
    cr_assert_eq(st, want, "%s: got %s, want %s", what, clsm_status_string(st),
                 clsm_status_string(want));
    if (st != CLSM_SUCCESS)
        cr_assert_null(ev, "%s: an event came back with an error", what);
    if (ev != NULL) {
        cr_assert_eq(clWaitForEvents(1, &ev), CL_SUCCESS, "%s: waiting for the event", what);
        clReleaseEvent(ev);
    }
    const bool writes = st == CLSM_SUCCESS && s.outer != 0 && s.axis != 0 && s.inner != 0;
    for (size_t k = 0; k < 3; k++) {
        if (given[k] == NULL)
            continue;
        if (!writes) {
            size_t size;
            unsigned char *after = buffer_bytes(given[k], &size);
            for (size_t i = 0; i < size; i++)
                cr_assert_eq(after[i], before[k][i], "%s: byte %zu of the %s buffer written",
                             what, i, k == 0 ? "y" : k == 1 ? "dy" : "dx");
            free(after);
        }
        free(before[k]);
    }
}

static cl_mem y_buf, dy_buf, dx_buf;

static void open_bad_buffers(void)
{
    open_bad();
    y_buf = sentinel_buffer(bad_cl.context, CL_MEM_READ_WRITE, BUFFER_BYTES);
    dy_buf = sentinel_buffer(bad_cl.context, CL_MEM_READ_WRITE, BUFFER_BYTES);
    dx_buf = sentinel_buffer(bad_cl.context, CL_MEM_READ_WRITE, BUFFER_BYTES);
}

static void close_bad_buffers(void)
{
    clReleaseMemObject(dx_buf);
    clReleaseMemObject(dy_buf);
    clReleaseMemObject(y_buf);
    close_bad();
}

TestSuite(backward_bad_buffers, .init = open_bad_buffers, .fini = close_bad_buffers);

Test(backward_bad_buffers, null_context_unknown_op_or_dtype_and_non_finite_scale)
{
    const struct {
        clsm_context *ctx;
        int op, dtype;
        float scale;
        const char *what;
    } cases[] = {
        {NULL, CLSM_SOFTMAX, CLSM_F32, 1.0f, "NULL ctx"},
        {bad_ctx, 7, CLSM_F32, 1.0f, "op 7"},
        {bad_ctx, CLSM_SOFTMAX, 4, 1.0f, "dtype 4"},
        {bad_ctx, CLSM_SOFTMAX, CLSM_F32, NAN, "scale NaN"},
        {bad_ctx, CLSM_LOG_SOFTMAX, CLSM_BF16, -INFINITY, "scale -inf"},
    };
    for (size_t k = 0; k < N_OF(cases); k++)
        expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, cases[k].ctx, (clsm_op)cases[k].op,
                       (clsm_dtype)cases[k].dtype, small, cases[k].scale, y_buf, 0, dy_buf, 0,
                       dx_buf, 0, 0, NULL, cases[k].what);
}

Test(backward_bad_buffers, null_buffers)
{
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   NULL, 0, dy_buf, 0, dx_buf, 0, 0, NULL, "NULL y");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, NULL, 0, dx_buf, 0, 0, NULL, "NULL dy");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, dy_buf, 0, NULL, 0, 0, NULL, "NULL dx");
}

Test(backward_bad_buffers, size_overflow)
{
    const clsm_shape shapes[] = {{SIZE_MAX / 2, 3, 1}, {SIZE_MAX, SIZE_MAX, 1},
                                 {SIZE_MAX / 8, 4, 1}};
    for (size_t k = 0; k < N_OF(shapes); k++)
        expect_buffers(CLSM_ERROR_INVALID_SHAPE, bad_ctx, CLSM_SOFTMAX, CLSM_F32, shapes[k], 1.0f,
                       y_buf, 0, dy_buf, 0, dx_buf, 0, 0, NULL, "overflowing shape");
}

Test(backward_bad_buffers, buffers_too_small_for_offset_and_extent)
{
    const clsm_shape fits = {2, 8, 6}; /* 96 F32 elements: exactly a buffer */
    const clsm_shape one_more = {97, 1, 1};
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, bad_ctx, CLSM_SOFTMAX, CLSM_F32, one_more, 1.0f,
                   y_buf, 0, dy_buf, 0, dx_buf, 0, 0, NULL, "all one element short");
    const size_t offsets[][3] = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}, {BUFFER_BYTES, 0, 0},
                                 {SIZE_MAX - 3, 0, 0}, {0, SIZE_MAX - 3, 0}, {0, 0, SIZE_MAX - 7}};
    for (size_t k = 0; k < N_OF(offsets); k++) {
        char what[128];
        snprintf(what, sizeof what, "offsets y %zu, dy %zu, dx %zu", offsets[k][0], offsets[k][1],
                 offsets[k][2]);
        expect_buffers(CLSM_ERROR_INVALID_SHAPE, bad_ctx, CLSM_LOG_SOFTMAX, CLSM_F32, fits, 1.0f,
                       y_buf, offsets[k][0], dy_buf, offsets[k][1], dx_buf, offsets[k][2], 0,
                       NULL, what);
    }
    cl_mem short_buf = sentinel_buffer(bad_cl.context, CL_MEM_READ_WRITE, BUFFER_BYTES - 4);
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, bad_ctx, CLSM_SOFTMAX, CLSM_F32, fits, 1.0f,
                   short_buf, 0, dy_buf, 0, dx_buf, 0, 0, NULL, "y buffer one element short");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, bad_ctx, CLSM_SOFTMAX, CLSM_F32, fits, 1.0f, y_buf,
                   0, short_buf, 0, dx_buf, 0, 0, NULL, "dy buffer one element short");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, bad_ctx, CLSM_SOFTMAX, CLSM_F32, fits, 1.0f, y_buf,
                   0, dy_buf, 0, short_buf, 0, 0, NULL, "dx buffer one element short");
    clReleaseMemObject(short_buf);
    /* The same shape fits exactly at offset 0, so the statuses above come from the extents. */
    expect_buffers(CLSM_SUCCESS, bad_ctx, CLSM_SOFTMAX, CLSM_F32, fits, 1.0f, y_buf, 0, dy_buf, 0,
                   dx_buf, 0, 0, NULL, "exact fit");
}

Test(backward_bad_buffers, offsets_not_a_multiple_of_the_element_size)
{
    const struct {
        clsm_dtype dtype;
        size_t y, dy, dx;
    } cases[] = {{CLSM_F32, 2, 0, 0}, {CLSM_F32, 0, 6, 0}, {CLSM_F32, 0, 0, 1},
                 {CLSM_F64, 4, 0, 0}, {CLSM_F64, 0, 0, 12}, {CLSM_F16, 0, 1, 0},
                 {CLSM_BF16, 0, 0, 3}};
    const clsm_shape s = {2, 8, 1};
    for (size_t k = 0; k < N_OF(cases); k++) {
        char what[128];
        snprintf(what, sizeof what, "%s offsets y %zu, dy %zu, dx %zu",
                 ts_dtype_name(cases[k].dtype), cases[k].y, cases[k].dy, cases[k].dx);
        expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, cases[k].dtype, s,
                       1.0f, y_buf, cases[k].y, dy_buf, cases[k].dy, dx_buf, cases[k].dx, 0, NULL,
                       what);
    }
}

Test(backward_bad_buffers, buffers_of_another_opencl_context)
{
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &bad_cl.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem foreign = sentinel_buffer(other, CL_MEM_READ_WRITE, BUFFER_BYTES);
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   foreign, 0, dy_buf, 0, dx_buf, 0, 0, NULL, "y from another context");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, foreign, 0, dx_buf, 0, 0, NULL, "dy from another context");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, dy_buf, 0, foreign, 0, 0, NULL, "dx from another context");
    clReleaseMemObject(foreign);
    clReleaseContext(other);
}

Test(backward_bad_buffers, read_only_dx_and_write_only_inputs)
{
    cl_mem read_only = sentinel_buffer(bad_cl.context, CL_MEM_READ_ONLY, BUFFER_BYTES);
    cl_mem write_only = sentinel_buffer(bad_cl.context, CL_MEM_WRITE_ONLY, BUFFER_BYTES);
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, dy_buf, 0, read_only, 0, 0, NULL, "read-only dx");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   write_only, 0, dy_buf, 0, dx_buf, 0, 0, NULL, "write-only y");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, write_only, 0, dx_buf, 0, 0, NULL, "write-only dy");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, read_only, 0, read_only, 0, 0, NULL, "in place on a read-only dy");
    /* Read-only inputs and a write-only dx are what the flags are for. */
    expect_buffers(CLSM_SUCCESS, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f, read_only, 0,
                   read_only, 0, write_only, 0, 0, NULL, "read-only y and dy, write-only dx");
    clFinish(bad_cl.queue);
    clReleaseMemObject(write_only);
    clReleaseMemObject(read_only);
}

/* OpenCL leaves a NULL entry undefined and PoCL enqueues it anyway, so the library must look. */
Test(backward_bad_buffers, bad_wait_lists)
{
    cl_int err;
    cl_event gate = clCreateUserEvent(bad_cl.context, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_context other = clCreateContext(NULL, 1, &bad_cl.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_event foreign = clCreateUserEvent(other, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const cl_event with_null[] = {gate, NULL}, with_foreign[] = {gate, foreign};
    const clsm_shape none = {2, 0, 3};
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, dy_buf, 0, dx_buf, 0, 1, NULL, "1 event, NULL list");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, dy_buf, 0, dx_buf, 0, 0, &gate, "0 events, a list");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, dy_buf, 0, dx_buf, 0, 2, with_null, "a NULL event in the list");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                   y_buf, 0, dy_buf, 0, dx_buf, 0, 2, with_foreign, "an event of another context");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, none, 1.0f,
                   NULL, 0, NULL, 0, NULL, 0, 2, with_null, "empty tensor, a NULL event");
    clSetUserEventStatus(foreign, CL_COMPLETE);
    clReleaseEvent(foreign);
    clReleaseContext(other);
    /* The list without its bad entry is accepted and waited for. */
    cl_event done = NULL;
    clsm_status st = clsm_softmax_backward_buffers(bad_ctx, CLSM_SOFTMAX, CLSM_F32, small, 1.0f,
                                                   y_buf, 0, dy_buf, 0, dx_buf, 0, 1, with_null,
                                                   &done);
    cr_assert_eq(st, CLSM_SUCCESS, "a good wait list: %s", clsm_status_string(st));
    cl_int status = CL_COMPLETE;
    clFlush(bad_cl.queue);
    clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    cr_assert(status > CL_COMPLETE, "the event completed before its wait list");
    clSetUserEventStatus(gate, CL_COMPLETE);
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    clReleaseEvent(done);
    clReleaseEvent(gate);
}

/* dx and an input in one buffer, sharing some but not all bytes. */
Test(backward_bad_buffers, partial_overlap_in_one_buffer)
{
    const clsm_shape s = {2, 8, 1}; /* 16 F32 elements, 64 bytes */
    const struct {
        cl_mem *y;
        size_t y_off;
        cl_mem *dy;
        size_t dy_off, dx_off;
        const char *what;
    } cases[] = {
        {&dx_buf, 0, &dy_buf, 0, 4, "dx one element after y"},
        {&dx_buf, 4, &dy_buf, 0, 0, "dx one element before y"},
        {&dx_buf, 60, &dy_buf, 0, 0, "dx ending at y's first element"},
        {&y_buf, 0, &dx_buf, 32, 64, "dx starting half way into dy"},
        {&y_buf, 0, &dx_buf, 64, 4, "dx ending one element into dy"},
        {&dx_buf, 0, &dx_buf, 4, 0, "dx is y, dy one element after it"},
        {&dx_buf, 4, &dx_buf, 0, 0, "dx is dy, y one element after it"},
    };
    for (size_t k = 0; k < N_OF(cases); k++)
        expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f,
                       *cases[k].y, cases[k].y_off, *cases[k].dy, cases[k].dy_off, dx_buf,
                       cases[k].dx_off, 0, NULL, cases[k].what);
}

/* Sub-buffers of one parent are one memory: overlap is judged on the parent's bytes. */
Test(backward_bad_buffers, partial_overlap_through_sub_buffers)
{
    cl_uint align_bits;
    cr_assert_eq(clGetDeviceInfo(bad_cl.device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                                 &align_bits, NULL),
                 CL_SUCCESS);
    const size_t align = align_bits / 8;
    const clsm_shape s = {1, align / 4 * 2, 1}; /* two alignment units of F32 */
    cl_mem parent = sentinel_buffer(bad_cl.context, CL_MEM_READ_WRITE, 4 * align);
    cl_int err;
    cl_buffer_region first = {0, 2 * align}, second = {align, 2 * align};
    cl_mem a = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &first,
                                 &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem b = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &second,
                                 &err);
    cr_assert_eq(err, CL_SUCCESS);

    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, a, 0,
                   dy_buf, 0, b, 0, 0, NULL, "y in sub-buffer [0,2), dx in sub-buffer [1,3)");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, y_buf,
                   0, b, 0, a, 0, 0, NULL, "dy in sub-buffer [1,3), dx in sub-buffer [0,2)");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, bad_ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, y_buf,
                   0, parent, 0, b, 0, 0, NULL, "dy in the parent at 0, dx in sub-buffer [1,3)");
    /* The same bytes through a sub-buffer and its parent are in place, which is allowed;
     * so are y and dy overlapping by part. */
    expect_buffers(CLSM_SUCCESS, bad_ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, y_buf, 0, b, 0, parent,
                   align, 0, NULL, "dx in the parent, in place on dy in a sub-buffer");
    expect_buffers(CLSM_SUCCESS, bad_ctx, CLSM_LOG_SOFTMAX, CLSM_F32, s, 1.0f, a, 0, b, 0, dx_buf,
                   0, 0, NULL, "y and dy in overlapping sub-buffers");
    clFinish(bad_cl.queue);
    clReleaseMemObject(b);
    clReleaseMemObject(a);
    clReleaseMemObject(parent);
}

Test(backward_bad_buffers, empty_tensors_succeed_with_an_event_and_write_nothing)
{
    const clsm_shape shapes[] = {{0, 7, 1}, {3, 0, 1}, {2, 8, 0}, {SIZE_MAX, 0, SIZE_MAX}};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        char what[96];
        snprintf(what, sizeof what, "shape [%zu,%zu,%zu]", shapes[k].outer, shapes[k].axis,
                 shapes[k].inner);
        cl_event ev = NULL;
        clsm_status st = clsm_softmax_backward_buffers(bad_ctx, CLSM_SOFTMAX, CLSM_F32, shapes[k],
                                                       1.0f, NULL, 0, NULL, 0, NULL, 0, 0, NULL,
                                                       &ev);
        cr_assert_eq(st, CLSM_SUCCESS, "%s, NULL buffers: %s", what, clsm_status_string(st));
        cr_assert_not_null(ev, "%s: no event for an empty tensor", what);
        cr_assert_eq(clWaitForEvents(1, &ev), CL_SUCCESS, "%s", what);
        clReleaseEvent(ev);
        expect_buffers(CLSM_SUCCESS, bad_ctx, CLSM_LOG_SOFTMAX, CLSM_F16, shapes[k], 1.0f, y_buf,
                       0, dy_buf, 0, dx_buf, 0, 0, NULL, what);
    }
}

/* y and dy are only read: they may share bytes in one buffer; dx right after them is fine. */
Test(backward_bad_buffers, overlapping_y_and_dy_are_accepted)
{
    const clsm_shape s = {2, 8, 2}; /* 32 F32 elements, 128 bytes */
    const size_t n = ts_count(s);
    fill_arena();
    const struct {
        size_t y, dy, dx;
    } cases[] = {{0, 4, 132}, {4, 0, 132}, {0, 0, 128}, {192, 128, 0}};
    float *got = ts_alloc(CLSM_F32, n);
    for (size_t k = 0; k < N_OF(cases); k++) {
        char what[96];
        snprintf(what, sizeof what, "y at byte %zu, dy at %zu, dx at %zu", cases[k].y,
                 cases[k].dy, cases[k].dx);
        reference ref = reference_of(CLSM_LOG_SOFTMAX, CLSM_F32, s, 2.0f, arena + cases[k].y,
                                     arena + cases[k].dy);
        cl_mem b = ts_cl_buffer(bad_cl.context, CL_MEM_READ_WRITE, 3 * REGION, arena);
        clsm_status st = clsm_softmax_backward_buffers(bad_ctx, CLSM_LOG_SOFTMAX, CLSM_F32, s,
                                                       2.0f, b, cases[k].y, b, cases[k].dy, b,
                                                       cases[k].dx, 0, NULL, NULL);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
        ts_cl_read(bad_cl.queue, b, cases[k].dx, n * 4, got);
        ts_report r = ts_check_backward(CLSM_F32, s, got, ref.dx, ref.bound);
        cr_assert(r.ok, "%s: %s", what, r.msg);
        clReleaseMemObject(b);
        free_reference(ref);
    }
    free(got);
}

/* ---- determinism and threads ---- */

/* Long slices, which split and group reduce in pieces: every run gives the same bytes, also
 * from a fresh context. */
Test(backward, repeats_bitwise)
{
    const clsm_shape shapes[] = {{1, 70001, 1}, {2, 3001, 17}};
    const clsm_dtype types[] = {CLSM_F32, CLSM_F64};
    for (size_t t = 0; t < N_OF(types); t++) {
        for (size_t k = 0; k < N_OF(shapes); k++) {
            const clsm_shape s = shapes[k];
            const size_t n = ts_count(s), bytes = n * ts_dtype_size(types[t]);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                void *x = ts_random(types[t], n, -8, 8, 1300 + 10 * t + k);
                void *y = forward((clsm_op)op, types[t], s, 1.0f, x);
                void *dy = ts_random(types[t], n, -1, 1, 1350 + 10 * t + k);
                void *first = ts_alloc(types[t], n), *again = ts_alloc(types[t], n);
                for (size_t c = 0; c < TS_CONFIGS; c++) {
                    char what[160];
                    ts_describe(what, sizeof what, ts_config_name(c), (clsm_op)op, types[t], s,
                                1.0f);
                    clsm_context *fresh = NULL;
                    clsm_status st = ts_context_create_family(&fresh, ts_config_family(c));
                    cr_assert_eq(st, CLSM_SUCCESS, "%s: fresh context: %s", what,
                                 clsm_status_string(st));
                    clsm_context *const contexts[] = {ts_ctx[c], ts_ctx[c], fresh};
                    for (size_t run = 0; run < N_OF(contexts); run++) {
                        void *out = run == 0 ? first : again;
                        ts_fill_sentinel(out, bytes);
                        st = clsm_softmax_backward_host(contexts[run], (clsm_op)op, types[t], s,
                                                        1.0f, y, dy, out);
                        cr_assert_eq(st, CLSM_SUCCESS, "%s, run %zu: %s", what, run + 1,
                                     clsm_status_string(st));
                        ts_report r = ts_check_identical(types[t], n, out, first);
                        cr_assert(r.ok, "%s, run %zu%s: %s", what, run + 1,
                                  run == 2 ? " (fresh context)" : "", r.msg);
                    }
                    clsm_context_release(fresh);
                }
                free(again);
                free(first);
                free(dy);
                free(y);
                free(x);
            }
        }
    }
}

#define N_THREADS 4
#define ITERATIONS 16

typedef struct job {
    clsm_context *ctx;
    uint64_t seed;
    /* Written by the worker: Criterion's assertions may only run on the main thread. */
    int ok;
    char msg[768];
} job;

/* Backward on the buffers path through the context's own queue; a failure message or NULL. */
static const char *backward_buffers(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                    clsm_shape s, float scale, const void *y, const void *dy,
                                    void *dx)
{
    const size_t bytes = ts_count(s) * ts_dtype_size(dtype);
    cl_command_queue q = clsm_context_queue(ctx);
    cl_context c;
    if (clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof c, &c, NULL) != CL_SUCCESS)
        return "clGetCommandQueueInfo failed";
    cl_int e1, e2, e3;
    cl_mem yb = clCreateBuffer(c, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, (void *)y, &e1);
    cl_mem dyb = clCreateBuffer(c, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, (void *)dy, &e2);
    cl_mem dxb = clCreateBuffer(c, CL_MEM_WRITE_ONLY, bytes, NULL, &e3);
    const char *fail = NULL;
    cl_event done = NULL;
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS || e3 != CL_SUCCESS)
        fail = "clCreateBuffer failed";
    else if (clsm_softmax_backward_buffers(ctx, op, dtype, s, scale, yb, 0, dyb, 0, dxb, 0, 0,
                                           NULL, &done) != CLSM_SUCCESS)
        fail = "clsm_softmax_backward_buffers failed";
    else if (clWaitForEvents(1, &done) != CL_SUCCESS)
        fail = "waiting for the returned event failed";
    else if (clEnqueueReadBuffer(q, dxb, CL_TRUE, 0, bytes, dx, 0, NULL, NULL) != CL_SUCCESS)
        fail = "reading dx failed";
    if (done != NULL)
        clReleaseEvent(done);
    if (dxb != NULL)
        clReleaseMemObject(dxb);
    if (dyb != NULL)
        clReleaseMemObject(dyb);
    if (yb != NULL)
        clReleaseMemObject(yb);
    return fail;
}

/* Each iteration: a forward call for y, then a backward call on the host or buffers path,
 * checked against the reference, all on the one shared context. */
static void *worker(void *arg)
{
    job *j = arg;
    ts_rng r = ts_rng_seed(j->seed);
    const float scales[] = {1.0f, 0.5f, -1.0f};
    j->ok = 1;
    for (int it = 0; it < ITERATIONS && j->ok; it++) {
        const clsm_dtype dtype = dtypes[ts_rng_below(&r, N_OF(dtypes))];
        const clsm_op op = (clsm_op)ts_rng_below(&r, 2);
        const clsm_shape s = {1 + ts_rng_below(&r, 6), 1 + ts_rng_below(&r, 3000),
                              1 + ts_rng_below(&r, 4)};
        const float scale = scales[ts_rng_below(&r, N_OF(scales))];
        const bool use_buffers = it % 2;
        const size_t n = ts_count(s), bytes = n * ts_dtype_size(dtype);
        char what[160];
        ts_describe(what, sizeof what, use_buffers ? "buffers" : "host", op, dtype, s, scale);
        void *x = malloc(bytes + 1), *y = malloc(bytes + 1), *dy = malloc(bytes + 1),
             *dx = malloc(bytes + 1);
        double *want = malloc(n * sizeof(double) + 1), *bound = malloc(n * sizeof(double) + 1);
        const char *fail = NULL;
        if (x == NULL || y == NULL || dy == NULL || dx == NULL || want == NULL || bound == NULL) {
            fail = "out of host memory";
        } else {
            ts_fill_uniform(&r, dtype, x, n, -4, 4);
            ts_fill_uniform(&r, dtype, dy, n, -1, 1);
            if (clsm_softmax_host(j->ctx, op, dtype, s, scale, x, y) != CLSM_SUCCESS)
                fail = "clsm_softmax_host failed";
            else if (use_buffers)
                fail = backward_buffers(j->ctx, op, dtype, s, scale, y, dy, dx);
            else if (clsm_softmax_backward_host(j->ctx, op, dtype, s, scale, y, dy, dx) !=
                     CLSM_SUCCESS)
                fail = "clsm_softmax_backward_host failed";
        }
        if (fail != NULL) {
            j->ok = 0;
            snprintf(j->msg, sizeof j->msg, "iteration %d, %s: %s", it, what, fail);
        } else {
            ref_softmax_backward(op, dtype, s, scale, y, dy, want, bound);
            ts_report rep = ts_check_backward(dtype, s, dx, want, bound);
            if (!rep.ok) {
                j->ok = 0;
                snprintf(j->msg, sizeof j->msg, "iteration %d, %s: %s", it, what, rep.msg);
            }
        }
        free(bound);
        free(want);
        free(dx);
        free(dy);
        free(y);
        free(x);
    }
    return NULL;
}

Test(backward_threads, four_threads_mix_forward_and_backward_on_one_context)
{
    clsm_context *ctx = NULL;
    clsm_status st = ts_context_create_family(&ctx, NULL);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    pthread_t tid[N_THREADS];
    job jobs[N_THREADS];
    for (size_t t = 0; t < N_THREADS; t++) {
        jobs[t] = (job){ctx, 1400 + t, 0, ""};
        cr_assert_eq(pthread_create(&tid[t], NULL, worker, &jobs[t]), 0);
    }
    for (size_t t = 0; t < N_THREADS; t++)
        cr_assert_eq(pthread_join(tid[t], NULL), 0);
    for (size_t t = 0; t < N_THREADS; t++)
        cr_assert(jobs[t].ok, "thread %zu: %s", t, jobs[t].msg);
    clsm_context_release(ctx);
}
