/* Calls clsoftmax for oclgrind to watch (tests/oclgrind_check): every kernel family, op and dtype on small shapes. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "support.h"

/*
 * Linked with the shared test support for its data, reference and contract
 * checks, but none of its Criterion asserts: they need Criterion's runner.
 *
 *   oclgrind_driver FAMILY DTYPE             every case and op of a dtype, one context
 *   oclgrind_driver FAMILY DTYPE CASE OP     one call: for --uninitialized, and for
 *                                            cases that need other oclgrind options
 *   oclgrind_driver --uninitialized-list     the one-call runs' arguments, one call a
 *                                            line, after '#' lines naming those left out
 *
 * Results are checked against the f64 reference; a wrong result, a failed
 * call or a forced family that did not run is printed on stderr and fails.
 */

typedef enum fill_kind {
    FILL_RANDOM, /* uniform in [-4, 4] */
    FILL_SPECIAL /* slice k follows special pattern k % N_PATTERNS */
} fill_kind;

typedef enum path_kind {
    PATH_HOST,
    PATH_OFFSETS, /* clsm_softmax_buffers, x and y at different nonzero offsets */
    PATH_IN_PLACE /* clsm_softmax_buffers, x == y at the same nonzero offset */
} path_kind;

/* Bit f stands for families[f]. */
enum { ITEM = 1, GROUP = 2, ROW = 4, COLUMNS = 8, SPLIT = 16, ALL = 31 };

typedef struct test_case {
    const char *name;
    clsm_shape shape;
    float scale;
    fill_kind fill;
    path_kind path;
    unsigned skip; /* families whose runs over every case leave it out; it runs by name */
} test_case;

/*
 * Sizes are for the device oclgrind simulates (a GPU with one compute unit):
 * the group kernel runs 256 work-items per slice, the row kernel takes 16
 * slices at a time from 256 slices on, and the split kernel cuts a slice into
 * chunks of at least 4096 elements (two for 4500, so that chunk states with
 * +inf or fully masked meet). The group kernel costs oclgrind 256
 * work-items per slice, about 50 ms under --data-races, so it skips the cases
 * of many slices, which are there for the row and columns kernels' batches;
 * it and the item kernel, which walks a slice alone, skip the split family's
 * special values, offsets and in place on long slices, having them on short ones.
 */
static const test_case cases[] = {
    {"axis1", {3, 1, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0},
    {"axis3", {5, 3, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0},
    {"axis17", {3, 17, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0},
    {"axis100", {2, 100, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0},
    {"axis700", {2, 700, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0},
    {"rows300x3", {300, 3, 1}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP},
    {"rows260x17", {260, 17, 1}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP},
    {"inner3", {2, 17, 3}, 1.0f, FILL_RANDOM, PATH_HOST, 0},
    {"inner16", {2, 9, 16}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP},
    {"inner35", {2, 5, 35}, 1.0f, FILL_RANDOM, PATH_HOST, GROUP},
    {"inner4x300", {1, 300, 4}, 1.0f, FILL_RANDOM, PATH_HOST, 0},
    {"split9000", {2, 9000, 1}, 1.0f, FILL_RANDOM, PATH_HOST, 0},
    {"special", {10, 20, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, 0},
    {"special-rows", {272, 5, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP},
    {"special-inner", {2, 20, 16}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP},
    {"special-split", {4, 4500, 1}, 1.0f, FILL_SPECIAL, PATH_HOST, GROUP | ITEM},
    {"scale0", {10, 20, 1}, 0.0f, FILL_SPECIAL, PATH_HOST, 0},
    {"scale-neg", {10, 20, 1}, -0.75f, FILL_SPECIAL, PATH_HOST, 0},
    {"scale-neg-inner", {2, 9, 16}, -2.0f, FILL_RANDOM, PATH_HOST, GROUP},
    {"offsets", {3, 17, 1}, 1.0f, FILL_RANDOM, PATH_OFFSETS, 0},
    {"offsets-inner", {2, 9, 35}, 1.0f, FILL_RANDOM, PATH_OFFSETS, GROUP},
    {"offsets-split", {1, 9000, 1}, 1.0f, FILL_RANDOM, PATH_OFFSETS, GROUP | ITEM},
    {"in-place", {3, 17, 1}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, 0},
    {"in-place-inner", {2, 9, 35}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, GROUP},
    {"in-place-split", {1, 9000, 1}, 1.0f, FILL_RANDOM, PATH_IN_PLACE, GROUP | ITEM},
    /* More slices than the 65536 work-groups launched at most, so that a group kernel's
     * work-group takes a second slice after the barrier that guards slot 0 of its local
     * arrays. Run by name only, on work-groups of 2 (oclgrind --max-wgsize 2): at 256
     * it would take an hour. */
    {"group-loop", {65537, 2, 1}, 1.0f, FILL_RANDOM, PATH_HOST, ALL},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static const char *const families[] = {"item", "group", "row", "columns", "split"};
#define N_FAMILIES (sizeof families / sizeof families[0])

static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

#define DTYPE_BIT(d) (1u << (d))
#define NARROW_AND_F32 (DTYPE_BIT(CLSM_F32) | DTYPE_BIT(CLSM_F16) | DTYPE_BIT(CLSM_BF16))

/*
 * Calls that oclgrind 21.10's --uninitialized plugin cannot follow, left out
 * of its runs (the other checks still run them): a family, its dtypes, and
 * the cases that do not reach the construct. Delete a row once the kernels
 * avoid its construct.
 *
 * The plugin crashes on any vector built from two vectors, such as
 * (float16)(p.lo, q.lo), and reports false uninitialised values after some
 * swizzles of one (.hi, .odd). lanes_max and lanes_sum finish 16 ranges at once
 * with such concatenations on 16-lane f32 vectors; written through private
 * arrays instead, which the plugin follows, row and split ran 1.2 to 3 times
 * slower on PoCL with AVX-512, so they keep the concatenations. F64 (8 lanes)
 * takes the array path and is checked.
 */
static const struct {
    const char *family;
    unsigned dtypes;
    const char *why;
} uninitialized_faults[] = {
    {"row", NARROW_AND_F32, "vector concatenations in lanes_max and lanes_sum crash the plugin"},
    {"split", NARROW_AND_F32, "vector concatenations in lanes_max and lanes_sum crash the plugin"},
};
#define N_UNINITIALIZED_FAULTS (sizeof uninitialized_faults / sizeof uninitialized_faults[0])

/* Elements before x and y on the buffer paths, and after both, that must keep their bytes. */
#define X_PAD 3
#define Y_PAD 5
#define IN_PLACE_PAD 7
#define TAIL_PAD 4

#define N_PATTERNS 9

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "oclgrind_driver: out of host memory for %zu bytes\n", bytes);
        exit(2);
    }
    return p;
}

/* Element j of a slice of pattern p; r is a random finite value for the plain entries. */
static double special_value(size_t p, size_t j, size_t axis, clsm_dtype dtype, double r)
{
    double max = ts_dtype_max(dtype), tiny = ts_dtype_denorm_min(dtype);
    switch (p) {
    case 0: /* a NaN among finite values */
        return j == axis / 2 ? NAN : r;
    case 1: /* one +inf takes all the mass */
        return j == axis / 3 ? INFINITY : r;
    case 2: /* two +inf share it */
        return j == 0 || j == axis - 1 ? INFINITY : r;
    case 3: /* fully masked */
        return -INFINITY;
    case 4: /* masked but one */
        return j == axis / 3 ? r : -INFINITY;
    case 5: /* the largest finite values, whose differences overflow */
        return j % 2 ? -max : max;
    case 6: /* subnormals */
        return ((double)(j % 5) - 2) * tiny;
    case 7: /* -inf, the largest value and ordinary ones */
        return j == 0 ? -INFINITY : j == 1 ? max : r;
    default:
        return r;
    }
}

static void fill(const test_case *c, clsm_dtype dtype, void *x, uint64_t seed)
{
    clsm_shape s = c->shape;
    ts_rng r = ts_rng_seed(seed);
    for (size_t o = 0; o < s.outer; o++) {
        for (size_t i = 0; i < s.inner; i++) {
            size_t slice = o * s.inner + i;
            for (size_t j = 0; j < s.axis; j++) {
                double v = ts_rng_uniform(&r, -4, 4);
                if (c->fill == FILL_SPECIAL)
                    v = special_value(slice % N_PATTERNS, j, s.axis, dtype, v);
                ts_store(dtype, x, (o * s.axis + j) * s.inner + i, v);
            }
        }
    }
}

/* Whether families[f], forced, takes this layout at all (README, "Kernel variants"). */
static bool family_takes(size_t f, clsm_shape s)
{
    if (strcmp(families[f], "row") == 0 || strcmp(families[f], "split") == 0)
        return s.inner == 1;
    if (strcmp(families[f], "columns") == 0)
        return s.inner > 1;
    return true;
}

/* Whether families[f] runs case c in its runs over every case. */
static bool family_runs(size_t f, const test_case *c)
{
    return !(c->skip & (1u << f)) && family_takes(f, c->shape);
}

static bool uninitialized_fault(const char *family, clsm_dtype dtype)
{
    for (size_t k = 0; k < N_UNINITIALIZED_FAULTS; k++)
        if (strcmp(uninitialized_faults[k].family, family) == 0 &&
            (uninitialized_faults[k].dtypes & DTYPE_BIT(dtype)))
            return true;
    return false;
}

typedef struct call {
    const char *family;
    const test_case *c;
    clsm_dtype dtype;
    clsm_op op;
} call;

static bool fail(const call *k, const char *what, const char *detail)
{
    fprintf(stderr, "%s %s %s %s [%zu,%zu,%zu] scale=%g: %s%s%s\n", k->family, k->c->name,
            ts_dtype_name(k->dtype), ts_op_name(k->op), k->c->shape.outer, k->c->shape.axis,
            k->c->shape.inner, (double)k->c->scale, what, detail[0] ? ": " : "", detail);
    return false;
}

static bool cl_ok(const call *k, cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return true;
    char detail[32];
    snprintf(detail, sizeof detail, "OpenCL error %d", err);
    return fail(k, what, detail);
}

/* Runs the call on device buffers: x and y at their pads inside larger buffers, or one
 * buffer for both. Leaves the result in y and checks that x and the pads kept their bytes. */
static bool run_buffers(clsm_context *ctx, const call *k, const void *x, void *y)
{
    const test_case *c = k->c;
    size_t es = ts_dtype_size(k->dtype), n = ts_count(c->shape);
    bool in_place = c->path == PATH_IN_PLACE;
    size_t x_pad = in_place ? IN_PLACE_PAD : X_PAD, y_pad = in_place ? IN_PLACE_PAD : Y_PAD;
    size_t x_len = x_pad + n + TAIL_PAD, y_len = y_pad + n + TAIL_PAD;
    unsigned char *xb = xmalloc(x_len * es), *yb = xmalloc(y_len * es);
    ts_fill_sentinel(xb, x_len * es);
    ts_fill_sentinel(yb, y_len * es);
    memcpy(xb + x_pad * es, x, n * es);

    cl_context cl;
    cl_command_queue q = clsm_context_queue(ctx);
    cl_mem xm = NULL, ym = NULL;
    cl_event done = NULL;
    bool ok = cl_ok(k, clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL),
                    "clGetCommandQueueInfo");
    cl_int err = CL_SUCCESS;
    if (ok) {
        xm = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, x_len * es, xb, &err);
        ok = cl_ok(k, err, "clCreateBuffer x");
    }
    if (ok && !in_place) {
        ym = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, y_len * es, yb, &err);
        ok = cl_ok(k, err, "clCreateBuffer y");
    }
    if (ok) {
        clsm_status st = clsm_softmax_buffers(ctx, k->op, k->dtype, c->shape, c->scale, xm,
                                              x_pad * es, in_place ? xm : ym, y_pad * es, 0,
                                              NULL, &done);
        if (st != CLSM_SUCCESS)
            ok = fail(k, "clsm_softmax_buffers", clsm_status_string(st));
    }
    if (ok)
        ok = cl_ok(k, clWaitForEvents(1, &done), "clWaitForEvents");
    unsigned char *x_after = xmalloc(x_len * es);
    if (ok)
        ok = cl_ok(k, clEnqueueReadBuffer(q, xm, CL_TRUE, 0, x_len * es, x_after, 0, NULL, NULL),
                   "reading x");
    if (ok && !in_place)
        ok = cl_ok(k, clEnqueueReadBuffer(q, ym, CL_TRUE, 0, y_len * es, yb, 0, NULL, NULL),
                   "reading y");
    if (ok && in_place)
        memcpy(yb, x_after, y_len * es);
    if (ok && !in_place && memcmp(x_after, xb, x_len * es) != 0)
        ok = fail(k, "x changed", "");
    if (ok) {
        ts_report before = ts_check_sentinel(yb, y_pad * es);
        ts_report after = ts_check_sentinel(yb + (y_pad + n) * es, TAIL_PAD * es);
        if (!before.ok)
            ok = fail(k, "written before y", before.msg);
        else if (!after.ok)
            ok = fail(k, "written after y", after.msg);
    }
    if (ok)
        memcpy(y, yb + y_pad * es, n * es);
    if (done)
        clReleaseEvent(done);
    if (ym)
        clReleaseMemObject(ym);
    if (xm)
        clReleaseMemObject(xm);
    free(x_after);
    free(yb);
    free(xb);
    return ok;
}

static bool run_call(clsm_context *ctx, const call *k)
{
    const test_case *c = k->c;
    const char *ran = clsm_kernel_name(ctx, k->dtype, c->shape);
    if (strcmp(ran, k->family) != 0)
        return fail(k, "the forced family did not run; ran", ran);

    size_t n = ts_count(c->shape), bytes = n * ts_dtype_size(k->dtype);
    void *x = xmalloc(bytes), *x_before = xmalloc(bytes), *y = xmalloc(bytes);
    double *ref = xmalloc(n * sizeof *ref);
    fill(c, k->dtype, x, (uint64_t)(c - cases) * 7919 + k->dtype);
    memcpy(x_before, x, bytes);

    bool ok = true;
    if (c->path == PATH_HOST) {
        clsm_status st = clsm_softmax_host(ctx, k->op, k->dtype, c->shape, c->scale, x, y);
        if (st != CLSM_SUCCESS)
            ok = fail(k, "clsm_softmax_host", clsm_status_string(st));
        else if (memcmp(x, x_before, bytes) != 0)
            ok = fail(k, "x changed", "");
    } else {
        ok = run_buffers(ctx, k, x, y);
    }
    if (ok) {
        ref_softmax(k->op, k->dtype, c->shape, c->scale, x_before, ref);
        ts_report r = ts_check(k->op, k->dtype, c->shape, y, ref);
        if (!r.ok)
            ok = fail(k, "wrong result", r.msg);
    }
    free(ref);
    free(y);
    free(x_before);
    free(x);
    return ok;
}

static size_t family_index(const char *name)
{
    size_t f = 0;
    while (f < N_FAMILIES && strcmp(families[f], name) != 0)
        f++;
    return f;
}

static size_t dtype_index(const char *name)
{
    size_t d = 0;
    while (d < N_DTYPES && strcmp(ts_dtype_name(dtypes[d]), name) != 0)
        d++;
    return d;
}

static size_t case_index(const char *name)
{
    size_t i = 0;
    while (i < N_CASES && strcmp(cases[i].name, name) != 0)
        i++;
    return i;
}

static int op_index(const char *name)
{
    int op = CLSM_SOFTMAX;
    while (op <= CLSM_LOG_SOFTMAX && strcmp(ts_op_name((clsm_op)op), name) != 0)
        op++;
    return op;
}

/* The calls left out first, as '#' lines, so that every run's log shows the gap. */
static void list_uninitialized(void)
{
    for (size_t k = 0; k < N_UNINITIALIZED_FAULTS; k++) {
        printf("# %s", uninitialized_faults[k].family);
        for (size_t d = 0; d < N_DTYPES; d++)
            if (uninitialized_faults[k].dtypes & DTYPE_BIT(dtypes[d]))
                printf(" %s", ts_dtype_name(dtypes[d]));
        printf(": %s\n", uninitialized_faults[k].why);
    }
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (size_t d = 0; d < N_DTYPES; d++)
            for (size_t i = 0; i < N_CASES; i++)
                for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++)
                    if (family_runs(f, &cases[i]) &&
                        !uninitialized_fault(families[f], dtypes[d]))
                        printf("%s %s %s %s\n", families[f], ts_dtype_name(dtypes[d]),
                               cases[i].name, ts_op_name((clsm_op)op));
}

/* Runs case (or every case the family runs, for NULL) with op (or both, for NULL). */
static int run(const char *family, const char *dtype, const char *case_name, const char *op)
{
    size_t f = family_index(family), d = dtype_index(dtype);
    size_t one_case = case_name ? case_index(case_name) : 0;
    int one_op = op ? op_index(op) : 0;
    if (f == N_FAMILIES || d == N_DTYPES || one_case == N_CASES || one_op > CLSM_LOG_SOFTMAX ||
        (case_name && !family_takes(f, cases[one_case].shape))) {
        fprintf(stderr, "oclgrind_driver: no such run: %s %s %s %s\n", family, dtype,
                case_name ? case_name : "", op ? op : "");
        return 2;
    }

    setenv("CLSM_KERNEL", family, 1);
    clsm_context *ctx = NULL;
    clsm_status st = clsm_context_create(&ctx);
    if (st != CLSM_SUCCESS) {
        fprintf(stderr, "oclgrind_driver: creating the %s context: %s\n", family,
                clsm_status_string(st));
        return 1;
    }
    size_t calls = 0, failed = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        if (case_name ? i != one_case : !family_runs(f, &cases[i]))
            continue;
        for (int o = CLSM_SOFTMAX; o <= CLSM_LOG_SOFTMAX; o++) {
            if (op && o != one_op)
                continue;
            call k = {families[f], &cases[i], dtypes[d], (clsm_op)o};
            calls++;
            failed += !run_call(ctx, &k);
        }
    }
    clsm_context_release(ctx);
    printf("%s %s: %zu calls, %zu failed\n", family, dtype, calls, failed);
    return failed != 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--uninitialized-list") == 0) {
        list_uninitialized();
        return 0;
    }
    if (argc == 3 || argc == 5)
        return run(argv[1], argv[2], argc == 5 ? argv[3] : NULL, argc == 5 ? argv[4] : NULL);
    fprintf(stderr, "usage: oclgrind_driver FAMILY DTYPE [CASE OP] | --uninitialized-list\n"
                    "families: item group row columns split; dtypes: F32 F16 BF16 F64;\n"
                    "ops: softmax log-softmax\n");
    return 2;
}
