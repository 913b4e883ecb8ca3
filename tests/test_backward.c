/* The gradient itself (clsm_softmax_backward_host and _buffers, and the _ex calls with the forward's options): accuracy against the reference, masked entries, NaN slices, special values and finite differences of the forward; what every entry point shares (bad input, in place, determinism, threads, events) is in the suites by concern. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "entries.h"
#include "reference.h"
#include "support.h"

TestSuite(backward, .init = ts_open_all, .fini = ts_close_all);

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The backward rows of the entry-point table. */
static const ts_entry *const backward_entries[] = {&ts_entries[4], &ts_entries[5]};

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

/* The reference of one request: values and bounds, freed together with free_reference. */
typedef struct reference {
    double *dx, *bound;
} reference;

static reference reference_of(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale,
                              const void *y, const void *dy)
{
    const size_t n = ts_count(s);
    reference ref = {ts_malloc(n * sizeof(double)), ts_malloc(n * sizeof(double))};
    ref_softmax_backward(op, dtype, s, scale, y, dy, ref.dx, ref.bound);
    return ref;
}

static void free_reference(reference ref)
{
    free(ref.bound);
    free(ref.dx);
}

/* Checks one request against the reference on every configuration and both entry points,
 * each tensor of the buffers path at an offset of its own (ts_run). */
static void check_everywhere(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale,
                             const void *y, const void *dy, const char *label)
{
    const size_t n = ts_count(s);
    const ts_data d = {op, dtype, s, scale, NULL, {y, dy}, NULL};
    void *dx = ts_alloc(dtype, n);
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        for (size_t k = 0; k < N_OF(backward_entries); k++) {
            const ts_entry *e = backward_entries[k];
            char what[256], head[200];
            ts_describe(head, sizeof head, ts_config_name(c), op, dtype, s, scale);
            snprintf(what, sizeof what, "%s (%s)", head, label);
            ts_run_checked(e, ts_ctx[c], &d, dx, what);
        }
    }
    free(dx);
}

/* ---- accuracy on forward outputs ---- */

/*
 * Axis lengths 1, primes and powers of two +-1, inner 1, 3, 4, 16 and 17, one long slice
 * that the split and group families cut into pieces, and enough short rows that the row
 * kernel finishes a vector's worth together.
 */
static const clsm_shape random_shapes[] = {{4, 1, 1},  {3, 1, 17},    {5, 7, 1},
                                           {3, 31, 3}, {3, 33, 4}, {6, 127, 1},   {2, 257, 17},
                                           {2, 63, 16}, {2, 1025, 1}, {1, 70001, 1},
                                           {531, 2, 1}, {531, 8, 1}};
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
    for (size_t d = 0; d < TS_DTYPES; d++) {
        for (size_t k = 0; k < N_OF(shapes); k++) {
            const size_t n = ts_count(shapes[k]);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                const uint64_t seed = 500 + 100 * d + 10 * k + (uint64_t)op;
                void *y = op == CLSM_SOFTMAX ? ts_random(ts_dtypes[d], n, 0, 1, seed)
                                             : ts_random(ts_dtypes[d], n, -20, 2, seed);
                void *dy = ts_random(ts_dtypes[d], n, -3, 3, seed + 7);
                check_everywhere((clsm_op)op, ts_dtypes[d], shapes[k], scales[k % 2], y, dy,
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
    for (size_t d = 0; d < TS_DTYPES; d++) {
        const double big = ts_dtype_max(ts_dtypes[d]);
        const double extremes[] = {INFINITY, -INFINITY, big, -big};
        for (size_t k = 0; k < N_OF(special_shapes); k++) {
            const clsm_shape s = special_shapes[k];
            const size_t n = ts_count(s);
            void *x = masked_input(ts_dtypes[d], s, 600 + 10 * d + k);
            void *y = forward(CLSM_SOFTMAX, ts_dtypes[d], s, 1.0f, x);
            void *dy = ts_random(ts_dtypes[d], n, -1, 1, 650 + 10 * d + k);
            size_t extreme = 0;
            for (size_t slice = 0; slice < s.outer * s.inner; slice++)
                for (size_t j = 0; j < s.axis; j++)
                    if (is_masked(slice, j))
                        ts_store(ts_dtypes[d], dy, slice_at(s, slice, j),
                                 extremes[extreme++ % N_OF(extremes)]);
            const float scale = scales[(d + k) % N_OF(scales)];
            expect_nan_free_reference(CLSM_SOFTMAX, ts_dtypes[d], s, scale, y, dy);
            check_everywhere(CLSM_SOFTMAX, ts_dtypes[d], s, scale, y, dy, "masked entries");
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
    for (size_t d = 0; d < TS_DTYPES; d++) {
        for (size_t k = 0; k < N_OF(special_shapes); k++) {
            const clsm_shape s = special_shapes[k];
            const size_t n = ts_count(s);
            void *x = masked_input(ts_dtypes[d], s, 700 + 10 * d + k);
            void *y = forward(CLSM_LOG_SOFTMAX, ts_dtypes[d], s, 1.0f, x);
            void *finite = ts_random(ts_dtypes[d], n, -1, 1, 750 + 10 * d + k);
            void *infinite = ts_alloc(ts_dtypes[d], n);
            memcpy(infinite, finite, n * ts_dtype_size(ts_dtypes[d]));
            for (size_t slice = 0; slice < s.outer * s.inner; slice++) {
                const double sign = slice % 2 ? -1 : 1;
                bool first = true;
                for (size_t j = 0; j < s.axis; j++) {
                    if (!is_masked(slice, j))
                        continue;
                    const size_t at = slice_at(s, slice, j);
                    if (first)
                        ts_store(ts_dtypes[d], finite, at, sign * ts_dtype_max(ts_dtypes[d]) / 2);
                    first = false;
                    ts_store(ts_dtypes[d], infinite, at, sign * INFINITY);
                }
            }
            /* Each family meets every scale over the dtypes and shapes. */
            for (size_t i = 0; i < 3; i++) {
                const float scale = scales[(i + d + k) % N_OF(scales)];
                const void *dy = i == 1 ? infinite : finite;
                expect_nan_free_reference(CLSM_LOG_SOFTMAX, ts_dtypes[d], s, scale, y, dy);
                check_everywhere(CLSM_LOG_SOFTMAX, ts_dtypes[d], s, scale, y, dy,
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
    const clsm_shape shapes[] = {{6, 33, 1}, {3, 17, 2}, {6, 3001, 1}, {531, 4, 1}};
    const float scales[] = {1.0f, 0.0f, -0.5f};
    for (size_t d = 0; d < TS_DTYPES; d++) {
        const clsm_dtype dt = ts_dtypes[d];
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
    for (size_t d = 0; d < TS_DTYPES; d++) {
        const clsm_dtype dt = ts_dtypes[d];
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
    for (size_t d = 0; d < TS_DTYPES; d++) {
        const clsm_dtype dt = ts_dtypes[d];
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
                double *numeric = ts_malloc(n * sizeof(double));
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

/* ---- with the forward's options (v2) ---- */

/* The backward _ex rows of the entry-point table. */
static const ts_entry *const ex_entries[] = {&ts_entries[6], &ts_entries[7]};

/* The option sets of these tests: the cap alone (any inner), then, for inner = 1, each mask
 * kind with or without the cap, and all of them together with sinks and ALiBi, which the
 * gradient must ignore. */
typedef enum {
    OPT_CAP,
    OPT_ADD,
    OPT_KEEP,
    OPT_CAUSAL,
    OPT_KV,
    OPT_ALL,
    OPT_KINDS
} opt_kind;
static const char *const opt_names[OPT_KINDS] = {
    "softcap", "additive mask with -inf and softcap", "keep-mask", "causal with offset, window "
    "and softcap", "kv_lengths with causal at the bottom right", "every option"};

/* The options of one kind for shape s, their tensors host arrays: free with free_options. */
typedef struct option_set {
    clsm_options o;
    float *add;
    unsigned char *keep;
    int32_t *lengths;
    void *sinks, *slopes;
} option_set;

static option_set make_options(opt_kind kind, clsm_dtype dtype, clsm_shape s, uint64_t seed)
{
    option_set t = {CLSM_OPTIONS_INIT, NULL, NULL, NULL, NULL, NULL};
    clsm_options *o = &t.o;
    const bool cap = kind == OPT_CAP || kind == OPT_ADD || kind == OPT_CAUSAL || kind == OPT_ALL;
    o->softcap = cap ? 2.5f : 0.0f;
    if (kind == OPT_CAP)
        return t;
    cr_assert_eq(s.inner, 1, "setup: %s needs inner 1", opt_names[kind]);
    o->batch = s.outer % 2 == 0 ? 2 : 1;
    o->heads = s.outer / o->batch % 3 == 0 ? 3 : 1;
    o->rows = s.outer / o->batch / o->heads;
    ts_rng r = ts_rng_seed(seed);
    const size_t n = ts_count(s);
    if (kind == OPT_ADD || kind == OPT_ALL) {
        /* One entry in five masked, the rest biased by up to 2 either way; every slice of its
         * own. */
        t.add = ts_malloc(n * sizeof *t.add);
        for (size_t i = 0; i < n; i++)
            t.add[i] = ts_rng_below(&r, 5) == 0 ? -INFINITY : (float)ts_rng_uniform(&r, -2, 2);
        o->mask_type = CLSM_MASK_ADD_F32;
        o->mask.host = t.add;
        const size_t strides[4] = {o->heads * o->rows * s.axis, o->rows * s.axis, s.axis, 1};
        memcpy(o->mask_stride, strides, sizeof strides);
    }
    if (kind == OPT_KEEP) {
        /* A quarter of the entries dropped, the same over the batch (stride 0). */
        const size_t per_batch = n / o->batch;
        t.keep = ts_malloc(per_batch);
        for (size_t i = 0; i < per_batch; i++)
            t.keep[i] = ts_rng_below(&r, 4) == 0 ? 0 : (unsigned char)(1 + ts_rng_below(&r, 255));
        o->mask_type = CLSM_MASK_KEEP_U8;
        o->mask.host = t.keep;
        const size_t strides[4] = {0, o->rows * s.axis, s.axis, 1};
        memcpy(o->mask_stride, strides, sizeof strides);
    }
    if (kind == OPT_CAUSAL || kind == OPT_ALL) {
        o->causal = 1;
        o->causal_offset = (ptrdiff_t)s.axis - (ptrdiff_t)o->rows + 1;
        o->window = s.axis / 3 + 1;
    }
    if (kind == OPT_KV || kind == OPT_ALL) {
        /* Batch entry b keeps all but a third of the axis per entry before it. */
        t.lengths = ts_malloc(o->batch * sizeof *t.lengths);
        for (size_t b = 0; b < o->batch; b++)
            t.lengths[b] = (int32_t)(s.axis - b * s.axis / 3);
        o->kv_lengths.host = t.lengths;
        o->causal = 1;
        o->causal_offset = kind == OPT_KV ? -1 : 0;
    }
    if (kind == OPT_ALL) {
        const clsm_dtype sd = ts_stats_dtype(dtype);
        t.sinks = ts_alloc(sd, o->heads);
        for (size_t h = 0; h < o->heads; h++)
            ts_store(sd, t.sinks, h, ts_rng_uniform(&r, -1, 1));
        o->sinks.host = t.sinks;
        t.slopes = ts_alloc(sd, o->heads);
        cr_assert_eq(clsm_alibi_slopes(sd, o->heads, 8.0, 0, o->heads, t.slopes), CLSM_SUCCESS);
        o->alibi_slopes.host = t.slopes;
    }
    return t;
}

static void free_options(option_set *t)
{
    free(t->slopes);
    free(t->sinks);
    free(t->lengths);
    free(t->keep);
    free(t->add);
}

/* The forward _ex output of x with options o, from the item context, as forward() does. */
static void *forward_ex(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale,
                        const clsm_options *o, const void *x)
{
    void *y = ts_alloc(dtype, ts_count(s));
    clsm_status st = clsm_softmax_host_ex(ts_ctx[0], op, dtype, s, scale, o, x, y);
    char what[160];
    ts_describe(what, sizeof what, "forward_ex", op, dtype, s, scale);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    return y;
}

/* check_everywhere for the _ex entry points with options o; x is passed only with a cap, so
 * that the calls without one also show that x may be NULL. */
static void check_ex_everywhere(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale,
                                const clsm_options *o, const void *x, const void *y,
                                const void *dy, const char *label)
{
    const size_t n = ts_count(s);
    const ts_data d = {op, dtype, s, scale, o, {y, dy, o->softcap > 0 ? x : NULL}, NULL};
    void *dx = ts_alloc(dtype, n);
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        for (size_t k = 0; k < N_OF(ex_entries); k++) {
            char what[320], head[200];
            ts_describe(head, sizeof head, ts_config_name(c), op, dtype, s, scale);
            snprintf(what, sizeof what, "%s (%s)", head, label);
            ts_run_checked(ex_entries[k], ts_ctx[c], &d, dx, what);
        }
    }
    free(dx);
}

/* NULL options and zeroed ones are the v1.1 call: each _ex entry against its plain one,
 * bitwise, with x given or not (without a cap it is not read). */
Test(backward, zero_and_null_options_are_the_v1_1_call)
{
    const clsm_shape shapes[] = {{5, 17, 3}, {3, 1, 1}, {2, 4099, 1}};
    const float scales[] = {0.5f, 0.0f};
    const clsm_options zero = CLSM_OPTIONS_INIT;
    const clsm_options *const options[] = {NULL, &zero};
    for (size_t k = 0; k < N_OF(shapes); k++) {
        const size_t n = ts_count(shapes[k]);
        void *y = ts_random(CLSM_F32, n, 0, 1, 2800 + k), *dy = ts_random(CLSM_F32, n, -1, 1, 2810);
        void *x = ts_random(CLSM_F32, n, -4, 4, 2820 + k);
        void *plain = ts_alloc(CLSM_F32, n), *ex = ts_alloc(CLSM_F32, n);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            for (size_t sc = 0; sc < N_OF(scales); sc++) {
                for (size_t c = 0; c < TS_CONFIGS; c++) {
                    for (size_t e = 0; e < N_OF(ex_entries); e++) {
                        char what[256];
                        ts_describe(what, sizeof what, ts_config_name(c), (clsm_op)op, CLSM_F32,
                                    shapes[k], scales[sc]);
                        ts_data d = {(clsm_op)op, CLSM_F32, shapes[k], scales[sc], NULL,
                                     {y, dy}, NULL};
                        clsm_status st;
                        ts_report r = ts_run(backward_entries[e], ts_ctx[c], &d, TS_APART,
                                             plain, &st);
                        cr_assert(r.ok && st == CLSM_SUCCESS, "%s, %s: %s %s", what,
                                  backward_entries[e]->name, clsm_status_string(st), r.msg);
                        for (size_t o = 0; o < 4; o++) {
                            d.options = options[o % 2];
                            d.in[2] = o < 2 ? NULL : x;
                            r = ts_run(ex_entries[e], ts_ctx[c], &d, TS_APART, ex, &st);
                            cr_assert(r.ok && st == CLSM_SUCCESS, "%s, %s, %s options: %s %s",
                                      what, ex_entries[e]->name, o % 2 ? "zero" : "NULL",
                                      clsm_status_string(st), r.msg);
                            r = ts_check_identical(CLSM_F32, n, ex, plain);
                            cr_assert(r.ok, "%s, %s, %s options: %s", what, ex_entries[e]->name,
                                      o % 2 ? "zero" : "NULL", r.msg);
                        }
                    }
                }
            }
        }
        free(ex);
        free(plain);
        free(x);
        free(dy);
        free(y);
    }
}

/*
 * y is the forward _ex output of random x in [-4, 4] with the same options and scale (the
 * cap of 2.5 bends it far from 1 there), dy uniform in [-1, 1], against the reference's
 * formula with the cap's factor, exact zeros at the masked entries and sums over every
 * entry. Axis lengths 1 and primes (9001 cut into chunks by split) with each option set;
 * strided slices, inner 3, 16 and 17, with the cap, the one option they allow.
 */
static const clsm_shape ex_shapes[] = {{4, 1, 1}, {6, 7, 1},  {6, 127, 1}, {2, 9001, 1},
                                       {3, 1, 17}, {3, 31, 3}, {2, 63, 16}, {2, 257, 17}};

static void check_options_random(clsm_dtype dtype, bool every_kind, uint64_t seed)
{
    const float scales[] = {1.0f, -1.5f, 0.0f};
    for (size_t k = 0; k < N_OF(ex_shapes); k++) {
        const clsm_shape s = ex_shapes[k];
        const size_t n = ts_count(s);
        for (int kind = every_kind ? OPT_CAP : OPT_ALL; kind < OPT_KINDS; kind++) {
            if (s.inner != 1 && kind != OPT_CAP)
                continue;
            option_set t = make_options((opt_kind)kind, dtype, s, seed + 7 * k);
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                const uint64_t at = seed + 100 * k + 10 * (uint64_t)kind + (uint64_t)op;
                const float scale = scales[(k + (size_t)kind + (size_t)op) % N_OF(scales)];
                void *x = ts_random(dtype, n, -4, 4, at);
                void *y = forward_ex((clsm_op)op, dtype, s, scale, &t.o, x);
                void *dy = ts_random(dtype, n, -1, 1, at + 5);
                check_ex_everywhere((clsm_op)op, dtype, s, scale, &t.o, x, y, dy,
                                    opt_names[kind]);
                free(dy);
                free(y);
                free(x);
            }
            free_options(&t);
        }
    }
}

Test(backward, f32_with_options_within_the_bound)
{
    check_options_random(CLSM_F32, true, 2000);
}

Test(backward, f64_with_options_within_the_bound)
{
    check_options_random(CLSM_F64, true, 2100);
}

/* The storage types only change loads and stores: every option at once is enough there. */
Test(backward, f16_and_bf16_with_options_within_the_bound)
{
    check_options_random(CLSM_F16, false, 2200);
    check_options_random(CLSM_BF16, false, 2300);
}

/*
 * The cap's factor far into its tails: u/softcap up to 30, where 1 - tanh^2 computed as such
 * would have lost every digit in f32 (it falls to 4e-26), while the bound is relative to the
 * factor; and beyond, where it underflows and x = +-inf, which give 0.
 */
Test(backward, cap_factor_keeps_its_precision_far_into_the_tails)
{
    const clsm_shape s = {3, 40, 1};
    const size_t n = ts_count(s);
    const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F64};
    for (size_t d = 0; d < N_OF(dtypes); d++) {
        clsm_options o = CLSM_OPTIONS_INIT;
        o.softcap = 0.5f;
        void *x = ts_alloc(dtypes[d], n);
        for (size_t i = 0; i < n; i++)
            ts_store(dtypes[d], x, i, (i % 2 ? 1.0 : -1.0) * 15.0 * (double)(i % 40) / 39);
        ts_store(dtypes[d], x, 5, INFINITY);
        ts_store(dtypes[d], x, 46, -INFINITY);
        ts_store(dtypes[d], x, 87, 1e6);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            void *y = forward_ex((clsm_op)op, dtypes[d], s, 1.0f, &o, x);
            void *dy = ts_random(dtypes[d], n, -1, 1, 2400 + 10 * d + (uint64_t)op);
            check_ex_everywhere((clsm_op)op, dtypes[d], s, 1.0f, &o, x, y, dy, "cap's tails");
            free(dy);
            free(y);
        }
        free(x);
    }
}

/* The entries the reference drops (their dx is 0 whatever the data): with NaN in every y,
 * the only entries whose dx is not NaN. */
static bool *reference_drops(clsm_op op, clsm_dtype dtype, clsm_shape s, const clsm_options *o,
                             const void *x)
{
    const size_t n = ts_count(s);
    void *y = ts_alloc(dtype, n), *dy = ts_alloc(dtype, n);
    for (size_t i = 0; i < n; i++) {
        ts_store(dtype, y, i, NAN);
        ts_store(dtype, dy, i, 1);
    }
    double *dx = ts_malloc(n * sizeof *dx), *bound = ts_malloc(n * sizeof *bound);
    ref_softmax_backward_ex(op, dtype, s, 1.0, o, x, y, dy, dx, bound);
    bool *drop = ts_malloc(n * sizeof *drop);
    for (size_t i = 0; i < n; i++)
        drop[i] = dx[i] == 0;
    free(bound);
    free(dx);
    free(dy);
    free(y);
    return drop;
}

/*
 * Masked entries get dx exactly +0, whatever y, dy and x hold there: a NaN in the slice's y
 * (the rest of the slice NaN), dy of +-inf (softmax, whose y is 0 there) and x NaN or inf.
 * The entries kept stay within the bound, and NaN where the slice holds one.
 */
Test(backward, masked_entries_get_exactly_zero_whatever_the_data)
{
    const clsm_shape s = {6, 37, 1};
    const size_t n = ts_count(s);
    for (int kind = OPT_ADD; kind < OPT_KINDS; kind++) {
        option_set t = make_options((opt_kind)kind, CLSM_F32, s, 2500 + (uint64_t)kind);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            void *x = ts_random(CLSM_F32, n, -4, 4, 2510 + 10 * (uint64_t)kind);
            void *y = forward_ex((clsm_op)op, CLSM_F32, s, 1.0f, &t.o, x);
            void *dy = ts_random(CLSM_F32, n, -1, 1, 2520 + 10 * (uint64_t)kind);
            bool *drop = reference_drops((clsm_op)op, CLSM_F32, s, &t.o, x);
            size_t dropped = 0;
            for (size_t i = 0; i < n; i++) {
                dropped += drop[i];
                if (!drop[i])
                    continue;
                ts_store(CLSM_F32, x, i, i % 2 ? NAN : INFINITY);
                if (op == CLSM_SOFTMAX)
                    ts_store(CLSM_F32, dy, i, i % 3 ? INFINITY : -INFINITY);
            }
            cr_assert(dropped > 0 && dropped < n, "setup: %s drops %zu of %zu entries",
                      opt_names[kind], dropped, n);
            /* Slice 1: a NaN at a kept entry of y. */
            for (size_t j = 0; j < s.axis; j++) {
                if (!drop[s.axis + j]) {
                    ts_store(CLSM_F32, y, s.axis + j, NAN);
                    break;
                }
            }
            const ts_data d = {(clsm_op)op, CLSM_F32, s, 1.0f, &t.o,
                               {y, dy, t.o.softcap > 0 ? x : NULL}, NULL};
            float *dx = ts_alloc(CLSM_F32, n);
            for (size_t c = 0; c < TS_CONFIGS; c++) {
                for (size_t k = 0; k < N_OF(ex_entries); k++) {
                    char what[300], head[200];
                    ts_describe(head, sizeof head, ts_config_name(c), (clsm_op)op, CLSM_F32, s,
                                1.0f);
                    snprintf(what, sizeof what, "%s (%s)", head, opt_names[kind]);
                    ts_run_checked(ex_entries[k], ts_ctx[c], &d, dx, what);
                    for (size_t i = 0; i < n; i++) {
                        uint32_t bits;
                        memcpy(&bits, &dx[i], sizeof bits);
                        cr_assert(!drop[i] || bits == 0,
                                  "%s %s: masked entry %zu is %g (bits %08x), not +0",
                                  ex_entries[k]->name, what, i, (double)dx[i], (unsigned)bits);
                    }
                }
            }
            free(dx);
            free(drop);
            free(dy);
            free(y);
            free(x);
        }
        free_options(&t);
    }
}

/*
 * The sums run over every entry, masked ones included, as PyTorch's do: log-softmax's
 * S = sum_k dy_k takes the dy of masked entries (whose y is -inf), so a gradient that left
 * them out of S differs, and the test asks that it does before checking the reference.
 * Softmax's S = sum_k y_k*dy_k gets nothing from them (y = 0) whatever their dy.
 */
Test(backward, sums_take_the_masked_entries_too)
{
    const clsm_shape s = {6, 37, 1};
    const size_t n = ts_count(s);
    for (int kind = OPT_ADD; kind < OPT_KINDS; kind++) {
        option_set t = make_options((opt_kind)kind, CLSM_F64, s, 2600 + (uint64_t)kind);
        void *x = ts_random(CLSM_F64, n, -4, 4, 2610 + (uint64_t)kind);
        void *y = forward_ex(CLSM_LOG_SOFTMAX, CLSM_F64, s, 1.0f, &t.o, x);
        void *dy = ts_random(CLSM_F64, n, -1, 1, 2620 + (uint64_t)kind);
        /* Large dy at the masked entries, so that leaving them out moves S by far more than
         * the bound. */
        for (size_t i = 0; i < n; i++)
            if (ts_load(CLSM_F64, y, i) == -INFINITY)
                ts_store(CLSM_F64, dy, i, 50.0 + (double)(i % 7));
        double *want = ts_malloc(n * sizeof *want), *bound = ts_malloc(n * sizeof *bound);
        ref_softmax_backward_ex(CLSM_LOG_SOFTMAX, CLSM_F64, s, 1.0, &t.o, x, y, dy, want, bound);
        size_t telling = 0;
        for (size_t slice = 0; slice < s.outer; slice++) {
            double kept_sum = 0;
            for (size_t j = 0; j < s.axis; j++) {
                const size_t i = slice * s.axis + j;
                kept_sum += ts_load(CLSM_F64, y, i) == -INFINITY ? 0 : ts_load(CLSM_F64, dy, i);
            }
            for (size_t j = 0; j < s.axis; j++) {
                const size_t i = slice * s.axis + j;
                const double yi = ts_load(CLSM_F64, y, i);
                const double without = ts_load(CLSM_F64, dy, i) - exp(yi) * kept_sum;
                telling += yi != -INFINITY && fabs(without - want[i]) > 1e3 * bound[i] + 1e-6;
            }
        }
        cr_assert_gt(telling, s.outer, "setup: %s: leaving the masked entries out of S would "
                                       "change only %zu entries",
                     opt_names[kind], telling);
        check_ex_everywhere(CLSM_LOG_SOFTMAX, CLSM_F64, s, 1.0f, &t.o, x, y, dy,
                            "dy at masked entries");
        free(bound);
        free(want);
        free(dy);
        free(y);
        free(x);
        free_options(&t);
    }
}

/*
 * The gradient of L(x) = sum_j w_j*y_j(x), y the forward _ex output with options o: each
 * option set, every family, both _ex entry points, against central differences of the
 * forward in f64 (steps of 1e-6 relative), within 1e-6 of the largest |dx| of the slice.
 * Log-softmax's y is -inf at masked entries, where w is 0 so that L stays finite: there its
 * sums meet no masked dy (the test above covers them).
 */
static void check_gradient_with_options(opt_kind kind, clsm_shape s, uint64_t seed)
{
    const clsm_dtype dtype = CLSM_F64;
    const size_t n = ts_count(s), es = ts_dtype_size(dtype);
    const float scales[] = {0.7f, -1.3f};
    option_set t = make_options(kind, dtype, s, seed);
    for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
        for (size_t i = 0; i < N_OF(scales); i++) {
            const float scale = scales[i];
            const uint64_t at = seed + 2 * (uint64_t)op + i;
            void *x = ts_random(dtype, n, -2, 2, at);
            void *w = ts_random(dtype, n, -1, 1, at + 100);
            void *y = forward_ex((clsm_op)op, dtype, s, scale, &t.o, x);
            for (size_t e = 0; e < n; e++)
                if (ts_load(dtype, y, e) == -INFINITY)
                    ts_store(dtype, w, e, 0);
            void *moved = ts_alloc(dtype, n);
            double *numeric = ts_malloc(n * sizeof(double));
            for (size_t e = 0; e < n; e++) {
                const size_t slice = e / (s.axis * s.inner) * s.inner + e % s.inner;
                const double xe = ts_load(dtype, x, e);
                const double h = 1e-6 * fmax(1, fabs(xe));
                double loss[2], step[2];
                for (int side = 0; side < 2; side++) {
                    memcpy(moved, x, n * es);
                    ts_store(dtype, moved, e, side ? xe - h : xe + h);
                    step[side] = ts_load(dtype, moved, e);
                    void *ym = forward_ex((clsm_op)op, dtype, s, scale, &t.o, moved);
                    long double l = 0;
                    for (size_t j = 0; j < s.axis; j++) {
                        const size_t k = slice_at(s, slice, j);
                        const double wk = ts_load(dtype, w, k);
                        l += wk == 0 ? 0 : (long double)wk * ts_load(dtype, ym, k);
                    }
                    loss[side] = (double)l;
                    free(ym);
                }
                numeric[e] = (loss[0] - loss[1]) / (step[0] - step[1]);
            }
            const ts_data d = {(clsm_op)op, dtype, s, scale, &t.o, {y, w, x}, NULL};
            void *dx = ts_alloc(dtype, n);
            for (size_t c = 0; c < TS_CONFIGS; c++) {
                for (size_t k = 0; k < N_OF(ex_entries); k++) {
                    char what[300], head[200];
                    ts_describe(head, sizeof head, ts_config_name(c), (clsm_op)op, dtype, s,
                                scale);
                    snprintf(what, sizeof what, "%s %s (%s)", ex_entries[k]->name, head,
                             opt_names[kind]);
                    clsm_status st;
                    ts_report r = ts_run(ex_entries[k], ts_ctx[c], &d, TS_APART, dx, &st);
                    cr_assert(r.ok && st == CLSM_SUCCESS, "%s: %s %s", what, r.msg,
                              clsm_status_string(st));
                    for (size_t slice = 0; slice < s.outer * s.inner; slice++) {
                        double largest = 0;
                        for (size_t j = 0; j < s.axis; j++)
                            largest = fmax(largest,
                                           fabs(ts_load(dtype, dx, slice_at(s, slice, j))));
                        for (size_t j = 0; j < s.axis; j++) {
                            const size_t e = slice_at(s, slice, j);
                            const double got = ts_load(dtype, dx, e);
                            cr_assert_leq(fabs(got - numeric[e]), 1e-6 * largest,
                                          "%s: slice %zu entry %zu: backward %.17g, central "
                                          "difference %.17g (largest |dx| %.3g)",
                                          what, slice, j, got, numeric[e], largest);
                        }
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
    free_options(&t);
}

Test(backward, f64_gradient_with_options_matches_central_differences)
{
    const clsm_shape rows = {6, 11, 1}, strided = {2, 5, 3};
    check_gradient_with_options(OPT_CAP, strided, 2700);
    for (int kind = OPT_CAP; kind < OPT_KINDS; kind++)
        check_gradient_with_options((opt_kind)kind, rows, 2710 + 10 * (uint64_t)kind);
}
