/* Every rejected argument of every entry point (the table in entries.h) returns its exact status and writes nothing, not even on the output; sampling's own refusals on both paths; empty tensors; device selection. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "entries.h"
#include "reference.h"
#include "support.h"

static ts_cl cl;
static clsm_context *ctx;

/*
 * The tensors of a call: the first input (x, the backward's y, sampling's logits), the second
 * (dy) and the output (y, dx, sampling's tokens); then sampling's per-row tensors and
 * logprobs. On the host path they live in one arena, a region each, so that any overlap can
 * be set up and any write seen; on the buffers path each has a buffer of a region's bytes.
 */
enum { FIRST, SECOND, OUTPUT, TENSORS };
enum { TEMPS = TENSORS, TOP_KS, TOP_PS, MIN_PS, SEEDS, LOGPROBS, REGIONS };
#define REGION 512
static unsigned char arena[REGIONS * REGION + 16];
static unsigned char *region(int t)
{
    return arena + t * REGION;
}
static cl_mem buffers[REGIONS];
static const clsm_shape small = {2, 8, 3}; /* 48 elements: 384 bytes of F64 */
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A scalar sampling call's, whose valid call (valid()) takes [6, 8, 1], small's elements. */
static const clsm_sampling scalars = {.struct_size = sizeof(clsm_sampling), .temperature = 1,
                                      .top_k = 5, .top_p = 0.9f, .seed = 7};

/* A shape's elements as sampling's rows: [outer * inner, axis, 1]. */
static clsm_shape shape_for(const ts_entry *e, clsm_shape s)
{
    return e->sample ? (clsm_shape){s.outer * s.inner, s.axis, 1} : s;
}

/* A per-row value that a case spoils, written by fill_tensors after the valid ones (region
 * -1: none). */
static struct {
    int region;
    size_t row;
    float value;
} spoiled = {-1, 0, 0};

static bool has_tensor(const ts_entry *e, int t)
{
    return t != SECOND || e->inputs == 2;
}

static const char *tensor_name(const ts_entry *e, int t)
{
    static const char *const forward[] = {"x", "", "y"}, *const backward[] = {"y", "dy", "dx"},
                             *const sample[] = {"logits", "", "tokens"};
    return e->sample ? sample[t] : e->inputs == 2 ? backward[t] : forward[t];
}

/* The inputs hold a forward output (y) and a gradient (dy), as F32; sampling's per-row
 * tensors valid values, greedy and sampled rows; the outputs sentinels. */
static void fill_tensors(void)
{
    ts_fill_sentinel(arena, sizeof arena);
    for (size_t i = 0; i < REGION / 4; i++) {
        ts_store(CLSM_F32, region(FIRST), i, (double)(i % 8 + 1) / 36);
        ts_store(CLSM_F32, region(SECOND), i, (double)(i % 5) - 2);
        ts_store(CLSM_F32, region(TEMPS), i, i % 3 ? 0.7 : 0);
        ((uint32_t *)(void *)region(TOP_KS))[i] = (uint32_t)(i % 4);
        ts_store(CLSM_F32, region(TOP_PS), i, i % 2 ? 0.8 : 1);
        ts_store(CLSM_F32, region(MIN_PS), i, i % 5 ? 0.01 : 0);
    }
    for (size_t i = 0; i < REGION / 8; i++)
        ((uint64_t *)(void *)region(SEEDS))[i] = 1000003 * i + 11;
    if (spoiled.region >= 0)
        ts_store(CLSM_F32, region(spoiled.region), spoiled.row, spoiled.value);
    for (int t = 0; t < REGIONS; t++)
        cr_assert_eq(clEnqueueWriteBuffer(cl.queue, buffers[t], CL_TRUE, 0, REGION, region(t), 0,
                                          NULL, NULL),
                     CL_SUCCESS);
}

static void open_context(void)
{
    ts_cl_open(&cl, 0);
    unsetenv("CLSM_KERNEL");
    clsm_status st = clsm_context_create_with_queue(&ctx, cl.queue);
    cr_assert_eq(st, CLSM_SUCCESS, "create_with_queue: %s", clsm_status_string(st));
    for (int t = 0; t < REGIONS; t++)
        buffers[t] = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, REGION, NULL);
}

static void close_context(void)
{
    for (int t = 0; t < REGIONS; t++)
        clReleaseMemObject(buffers[t]);
    clsm_context_release(ctx);
    ctx = NULL;
    ts_cl_close(&cl);
}

TestSuite(bad_input, .init = open_context, .fini = close_context);
TestSuite(empty, .init = open_context, .fini = close_context);
TestSuite(bad_context);

/* A valid F32 call of e on the fixture's tensors, for a case to spoil one argument of. */
static ts_args valid(const ts_entry *e)
{
    ts_args a = {.ctx = ctx, .op = CLSM_SOFTMAX, .dtype = CLSM_F32, .shape = shape_for(e, small),
                 .scale = 1, .sampling = &scalars};
    if (e->buffers) {
        a.in_buffer[0] = buffers[FIRST];
        a.in_buffer[1] = buffers[SECOND];
        a.out_buffer = buffers[OUTPUT];
    } else {
        a.in[0] = region(FIRST);
        a.in[1] = region(SECOND);
        a.out = region(OUTPUT);
    }
    return a;
}

static void set_host(ts_args *a, int t, void *p)
{
    if (t == OUTPUT)
        a->out = p;
    else
        a->in[t] = p;
}

static void set_buffer(ts_args *a, int t, cl_mem b, size_t offset)
{
    if (t == OUTPUT) {
        a->out_buffer = b;
        a->out_offset = offset;
    } else {
        a->in_buffer[t] = b;
        a->in_offset[t] = offset;
    }
}

/* A command queue of the buffer's own context: the fixture's, or a new one (*owned set). */
static cl_command_queue queue_for(cl_mem b, bool *owned)
{
    cl_context c;
    cr_assert_eq(clGetMemObjectInfo(b, CL_MEM_CONTEXT, sizeof c, &c, NULL), CL_SUCCESS);
    *owned = c != cl.context;
    if (!*owned)
        return cl.queue;
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
    unsigned char *bytes = ts_malloc(*size);
    ts_cl_read(q, b, 0, *size, bytes);
    if (owned)
        clReleaseCommandQueue(q);
    return bytes;
}

/*
 * Calls e with a on freshly filled tensors: the status must be want, with no event on
 * failure. Unless it succeeds on a non-empty tensor, no byte of the arena and none of any
 * buffer the call was given (sampling's included) may change.
 */
static void expect(const ts_entry *e, ts_args a, clsm_status want, const char *what)
{
    fill_tensors();
    unsigned char before[sizeof arena];
    memcpy(before, arena, sizeof arena);
    enum { GIVEN = TENSORS + 6 };
    cl_mem given[GIVEN] = {a.in_buffer[0], e->inputs == 2 ? a.in_buffer[1] : NULL,
                           a.out_buffer};
    if (e->sample && a.sampling) {
        const clsm_sampling *s = a.sampling;
        const clsm_tensor *per_row[] = {&s->temperatures, &s->top_ks, &s->top_ps,
                                        &s->min_ps,       &s->seeds,  &s->logprobs};
        for (size_t k = 0; k < N_OF(per_row); k++)
            given[TENSORS + k] = per_row[k]->buffer;
    }
    unsigned char *given_before[GIVEN] = {NULL};
    size_t sizes[GIVEN] = {0};
    for (int t = 0; t < GIVEN && e->buffers; t++)
        if (given[t])
            given_before[t] = buffer_bytes(given[t], &sizes[t]);

    cl_event ev = NULL;
    if (e->buffers)
        a.event = &ev;
    clsm_status st = e->call(&a);
    cr_assert_eq(st, want, "%s, %s: got %s, want %s", e->name, what, clsm_status_string(st),
                 clsm_status_string(want));
    if (st != CLSM_SUCCESS)
        cr_assert_null(ev, "%s, %s: an event came back with an error", e->name, what);
    if (ev) {
        cr_assert_eq(clWaitForEvents(1, &ev), CL_SUCCESS, "%s, %s: the event", e->name, what);
        clReleaseEvent(ev);
    }
    const bool writes = st == CLSM_SUCCESS && a.shape.outer && a.shape.axis && a.shape.inner;
    for (size_t i = 0; i < sizeof arena && !writes; i++)
        cr_assert_eq(arena[i], before[i], "%s, %s: byte %zu of the host tensors written",
                     e->name, what, i);
    for (int t = 0; t < GIVEN; t++) {
        if (!given_before[t])
            continue;
        size_t size;
        unsigned char *after = buffer_bytes(given[t], &size);
        for (size_t i = 0; i < size && !writes; i++)
            cr_assert_eq(after[i], given_before[t][i], "%s, %s: byte %zu of the %s buffer written",
                         e->name, what, i, t < TENSORS ? tensor_name(e, t) : "per-row");
        free(after);
        free(given_before[t]);
    }
}

/* ---- every entry point ---- */

Test(bad_input, null_context_unknown_op_or_dtype_and_non_finite_scale)
{
    const struct {
        bool no_ctx;
        int op, dtype;
        float scale;
        const char *what;
    } cases[] = {
        {true, CLSM_SOFTMAX, CLSM_F32, 1.0f, "NULL ctx"},
        {false, 2, CLSM_F32, 1.0f, "op 2"},
        {false, 7, CLSM_F32, 1.0f, "op 7"},
        {false, -1, CLSM_F32, 1.0f, "op -1"},
        {false, CLSM_SOFTMAX, 4, 1.0f, "dtype 4"},
        {false, CLSM_SOFTMAX, 99, 1.0f, "dtype 99"},
        {false, CLSM_LOG_SOFTMAX, -1, 1.0f, "dtype -1"},
        {false, CLSM_SOFTMAX, CLSM_F32, NAN, "scale NaN"},
        {false, CLSM_SOFTMAX, CLSM_F64, INFINITY, "scale +inf"},
        {false, CLSM_LOG_SOFTMAX, CLSM_F16, -INFINITY, "scale -inf"},
    };
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; k < N_OF(cases); k++) {
            /* Sampling takes no op. */
            if (e->sample && cases[k].op != CLSM_SOFTMAX && cases[k].op != CLSM_LOG_SOFTMAX)
                continue;
            ts_args a = valid(e);
            a.ctx = cases[k].no_ctx ? NULL : ctx;
            a.op = (clsm_op)cases[k].op;
            a.dtype = (clsm_dtype)cases[k].dtype;
            a.scale = cases[k].scale;
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, cases[k].what);
        }
    }
}

/* The _ex entries take a double scale: F64 as given, the others rounded once to float, which a
 * finite scale must not overflow. */
Test(bad_input, double_scale_that_overflows_float)
{
    const double past_float = 1e39;
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->options)
            continue;
        const clsm_dtype narrow[] = {CLSM_F32, CLSM_F16, CLSM_BF16};
        for (size_t k = 0; k < N_OF(narrow); k++) {
            ts_args a = valid(e);
            a.dtype = narrow[k];
            a.scale = past_float;
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "scale 1e39 for a float dtype");
            a.scale = -past_float;
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "scale -1e39 for a float dtype");
            /* Rounds to FLT_MAX, not past it. */
            a.scale = (double)FLT_MAX;
            expect(e, a, CLSM_SUCCESS, "scale FLT_MAX for a float dtype");
        }
        ts_args a = valid(e);
        a.dtype = CLSM_F64;
        a.scale = past_float;
        expect(e, a, CLSM_SUCCESS, "scale 1e39 for F64");
    }
}

/* Options that grow (clsoftmax.h): a struct_size below v2.0's is refused; past the library's
 * own struct, only zero bytes are accepted (a newer caller that set no newer option). */
Test(bad_input, options_struct_size)
{
    struct {
        clsm_options o;
        unsigned char newer[24];
    } grown;
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->options)
            continue;
        const size_t small_sizes[] = {0, sizeof(size_t), sizeof(clsm_options) - 1};
        for (size_t k = 0; k < N_OF(small_sizes); k++) {
            clsm_options o = CLSM_OPTIONS_INIT;
            o.struct_size = small_sizes[k];
            ts_args a = valid(e);
            a.options = &o;
            char what[64];
            snprintf(what, sizeof what, "struct_size %zu", small_sizes[k]);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
        }
        memset(&grown, 0, sizeof grown);
        grown.o.struct_size = sizeof grown;
        ts_args a = valid(e);
        a.options = &grown.o;
        expect(e, a, CLSM_SUCCESS, "a larger struct, zero past the library's");
        for (size_t at = 0; at < sizeof grown.newer; at += sizeof grown.newer - 1) {
            grown.newer[at] = 1;
            expect(e, a, CLSM_ERROR_UNSUPPORTED, "a larger struct, a byte set past the library's");
            grown.newer[at] = 0;
        }
        /* The bytes past struct_size are the caller's, whatever they hold. */
        grown.o.struct_size = sizeof(clsm_options);
        grown.newer[0] = 1;
        expect(e, a, CLSM_SUCCESS, "bytes past struct_size");
    }
}

/* Products that wrap around to small numbers (1 and 0) must not pass for small tensors. */
Test(bad_input, element_and_byte_counts_that_overflow)
{
    const size_t half = (size_t)1 << (sizeof(size_t) * 4);
    const struct {
        clsm_shape shape;
        clsm_dtype dtype;
    } cases[] = {
        {{SIZE_MAX / 2, 3, 1}, CLSM_F32}, {{2, SIZE_MAX, 2}, CLSM_F32},
        {{SIZE_MAX, SIZE_MAX, 1}, CLSM_F32}, {{half, half, 1}, CLSM_F16},
        {{1, half, half}, CLSM_BF16},     {{half, 1, half}, CLSM_F64},
        {{SIZE_MAX / 8, 4, 1}, CLSM_F32}, {{1, SIZE_MAX / 8 + 1, 1}, CLSM_F64},
        {{1, SIZE_MAX / 2 + 1, 1}, CLSM_F16}, {{1, SIZE_MAX / 2 + 1, 1}, CLSM_BF16},
    };
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; k < N_OF(cases); k++) {
            /* Sampling's rows are [outer, axis]; its own cases below. */
            if (e->sample && cases[k].shape.inner != 1)
                continue;
            char what[96];
            snprintf(what, sizeof what, "%s shape [%zu,%zu,%zu]", ts_dtype_name(cases[k].dtype),
                     cases[k].shape.outer, cases[k].shape.axis, cases[k].shape.inner);
            ts_args a = valid(e);
            a.shape = cases[k].shape;
            a.dtype = cases[k].dtype;
            expect(e, a, CLSM_ERROR_INVALID_SHAPE, what);
        }
    }
}

static void without_tensors(ts_args *a)
{
    a->in[0] = a->in[1] = a->out = NULL;
    a->in_buffer[0] = a->in_buffer[1] = a->out_buffer = NULL;
}

Test(bad_input, validation_order)
{
    const clsm_shape huge = {SIZE_MAX / 2, 3, 1};
    TS_FOR_EACH_ENTRY(e)
    {
        /* Sampling's empty call has no rows: with rows, an empty vocabulary writes tokens. */
        const clsm_shape none = e->sample ? (clsm_shape){0, 3, 1} : (clsm_shape){3, 0, 2};
        ts_args a = valid(e);
        a.ctx = NULL;
        a.shape = huge;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "NULL ctx before overflow");
        a = valid(e);
        a.shape = huge;
        a.scale = NAN;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "NaN scale before overflow");
        a.scale = 1;
        a.op = (clsm_op)9;
        if (!e->sample)
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "unknown op before overflow");
        a = valid(e);
        a.shape = huge;
        without_tensors(&a);
        expect(e, a, CLSM_ERROR_INVALID_SHAPE, "overflow before NULL tensors");
        a.shape = none;
        a.ctx = NULL;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "NULL ctx before empty");
        a.ctx = ctx;
        a.scale = INFINITY;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "inf scale before empty");
        a.scale = 1;
        a.dtype = (clsm_dtype)5;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "unknown dtype before empty");
        a.dtype = CLSM_F32;
        expect(e, a, CLSM_SUCCESS, "empty before NULL tensors");
    }
}

Test(bad_input, null_tensors)
{
    TS_FOR_EACH_ENTRY(e)
    {
        for (int t = 0; t < TENSORS; t++) {
            if (!has_tensor(e, t))
                continue;
            char what[64];
            snprintf(what, sizeof what, "NULL %s", tensor_name(e, t));
            ts_args a = valid(e);
            if (e->buffers)
                set_buffer(&a, t, NULL, 0);
            else
                set_host(&a, t, NULL);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
        }
    }
}

/* ---- overlap on the host path ---- */

/* The output sharing some but not all of its bytes with an input; where the output is one
 * input exactly (in place, allowed), it may still not overlap the other by part. */
Test(bad_input, host_output_partly_overlapping_an_input)
{
    const clsm_shape s = {2, 8, 2}; /* 32 F32 elements, 128 bytes */
    const struct {
        ptrdiff_t input, output; /* bytes from the input's region */
        const char *what;
    } shifts[] = {
        {0, 4, "one element after"},   {4, 0, "one element before"}, {0, 64, "half way into"},
        {0, 2, "half an element after"}, {124, 0, "ending at the first element of"},
        {0, 126, "starting in the last element of"},
    };
    TS_FOR_EACH_ENTRY(e)
    {
        /* Sampling's tokens are not the logits' size, nor ever in place: its overlaps are
         * its own. */
        if (e->buffers || e->sample)
            continue;
        for (int t = FIRST; t < OUTPUT; t++) {
            if (!has_tensor(e, t))
                continue;
            for (size_t k = 0; k < N_OF(shifts); k++) {
                char what[96];
                snprintf(what, sizeof what, "%s %s %s", tensor_name(e, OUTPUT), shifts[k].what,
                         tensor_name(e, t));
                ts_args a = valid(e);
                a.shape = s;
                set_host(&a, t, region(t) + shifts[k].input);
                a.out = region(t) + shifts[k].output;
                expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
            }
        }
        if (e->inputs == 2) {
            ts_args a = valid(e);
            a.shape = s;
            a.in[1] = region(FIRST) + 4;
            a.out = region(FIRST);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "dx is y, dy one element after it");
            a.in[0] = region(SECOND) + 4;
            a.in[1] = a.out = region(SECOND);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "dx is dy, y one element after it");
        }
    }
}

/* Right next to each other is not overlap, and inputs may share any bytes: each such call
 * succeeds with the reference's result. */
Test(bad_input, host_adjacent_tensors_and_overlapping_inputs_are_accepted)
{
    const struct {
        size_t first, second, output; /* byte offsets in the arena */
    } cases[] = {{0, 600, 128}, {128, 600, 0}, {0, 4, 132}, {4, 0, 132}, {0, 0, 128},
                 {192, 128, 0}, {0, 128, 256}};
    TS_FOR_EACH_ENTRY(e)
    {
        const clsm_shape s = shape_for(e, (clsm_shape){2, 8, 2}); /* 32 F32 elements, 128 bytes */
        const size_t n = ts_count(s);
        if (e->buffers)
            continue;
        for (size_t k = 0; k < N_OF(cases); k++) {
            /* Overlapping inputs are the backward's only. */
            if (e->inputs == 1 && cases[k].second != 600)
                continue;
            char what[96];
            snprintf(what, sizeof what, "inputs at bytes %zu and %zu, output at %zu",
                     cases[k].first, cases[k].second, cases[k].output);
            fill_tensors();
            ts_fill_sentinel(arena + cases[k].output, n * 4);
            const ts_data d = {CLSM_SOFTMAX, CLSM_F32, s, 0.5f, NULL,
                               {arena + cases[k].first, arena + cases[k].second},
                               e->sample ? &scalars : NULL};
            ts_args a = valid(e);
            a.shape = s;
            a.scale = d.scale;
            a.in[0] = d.in[0];
            a.in[1] = d.in[1];
            a.out = arena + cases[k].output;
            clsm_status st = e->call(&a);
            cr_assert_eq(st, CLSM_SUCCESS, "%s, %s: %s", e->name, what, clsm_status_string(st));
            ts_report r = ts_check_result(e, &d, a.out);
            cr_assert(r.ok, "%s, %s: %s", e->name, what, r.msg);
        }
    }
}

/* ---- the buffers path ---- */

Test(bad_input, buffer_offsets_not_a_multiple_of_the_element_size)
{
    const struct {
        clsm_dtype dtype;
        size_t offset;
    } cases[] = {{CLSM_F32, 2}, {CLSM_F32, 6}, {CLSM_F64, 4}, {CLSM_F16, 1}, {CLSM_BF16, 3}};
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->buffers)
            continue;
        for (int t = 0; t < TENSORS; t++) {
            for (size_t k = 0; has_tensor(e, t) && k < N_OF(cases); k++) {
                /* Tokens are int32_t in every dtype. */
                if (e->sample && t == OUTPUT && cases[k].offset % 4 == 0)
                    continue;
                char what[96];
                snprintf(what, sizeof what, "%s %s offset %zu", ts_dtype_name(cases[k].dtype),
                         tensor_name(e, t), cases[k].offset);
                ts_args a = valid(e);
                a.dtype = cases[k].dtype;
                set_buffer(&a, t, buffers[t], cases[k].offset);
                expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
            }
        }
    }
}

Test(bad_input, buffers_too_small_for_offset_and_extent)
{
    TS_FOR_EACH_ENTRY(e)
    {
        /* 128 F32 elements: a region exactly; sampling's 128 tokens too. */
        const clsm_shape fits = e->sample ? (clsm_shape){128, 1, 1} : (clsm_shape){2, 8, 8};
        if (!e->buffers)
            continue;
        for (int t = 0; t < TENSORS; t++) {
            if (!has_tensor(e, t))
                continue;
            const char *name = tensor_name(e, t);
            char what[96];
            cl_mem short_one = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, REGION - 4);
            const struct {
                cl_mem buffer;
                size_t offset;
                const char *how;
            } cases[] = {
                {short_one, 0, "buffer one element short"},
                {buffers[t], 4, "offset pushing past the end"},
                {buffers[t], REGION, "offset at the end"},
                {buffers[t], SIZE_MAX - 3, "offset + extent overflowing"},
            };
            for (size_t k = 0; k < N_OF(cases); k++) {
                snprintf(what, sizeof what, "%s %s", name, cases[k].how);
                ts_args a = valid(e);
                a.shape = fits;
                set_buffer(&a, t, cases[k].buffer, cases[k].offset);
                expect(e, a, CLSM_ERROR_INVALID_SHAPE, what);
            }
            clReleaseMemObject(short_one);
        }
        /* The same shape fits exactly at offset 0, so the statuses above come from the
         * extents. */
        ts_args a = valid(e);
        a.shape = fits;
        expect(e, a, CLSM_SUCCESS, "an exact fit");
    }
}

Test(bad_input, buffers_of_another_opencl_context)
{
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &cl.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem foreign = ts_cl_sentinel_buffer(other, CL_MEM_READ_WRITE, REGION);
    TS_FOR_EACH_ENTRY(e)
    {
        for (int t = 0; e->buffers && t < TENSORS; t++) {
            if (!has_tensor(e, t))
                continue;
            char what[64];
            snprintf(what, sizeof what, "%s from another context", tensor_name(e, t));
            ts_args a = valid(e);
            set_buffer(&a, t, foreign, 0);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
        }
    }
    clReleaseMemObject(foreign);
    clReleaseContext(other);
}

Test(bad_input, read_only_output_and_write_only_inputs)
{
    cl_mem read_only = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_ONLY, REGION);
    cl_mem write_only = ts_cl_sentinel_buffer(cl.context, CL_MEM_WRITE_ONLY, REGION);
    TS_FOR_EACH_ENTRY(e)
    {
        for (int t = 0; e->buffers && t < TENSORS; t++) {
            if (!has_tensor(e, t))
                continue;
            char what[64];
            snprintf(what, sizeof what, "%s %s", t == OUTPUT ? "read-only" : "write-only",
                     tensor_name(e, t));
            ts_args a = valid(e);
            set_buffer(&a, t, t == OUTPUT ? read_only : write_only, 0);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
        }
        if (e->buffers) {
            ts_args a = valid(e);
            set_buffer(&a, FIRST, read_only, 0);
            set_buffer(&a, OUTPUT, read_only, 0);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "a read-only buffer in place");
        }
    }
    clReleaseMemObject(write_only);
    clReleaseMemObject(read_only);
}

/* OpenCL leaves a NULL entry and an event of another context undefined, and PoCL enqueues
 * them anyway, so the library must look; also for an empty tensor, which enqueues a marker. */
Test(bad_input, bad_wait_lists)
{
    cl_int err;
    cl_event gate = clCreateUserEvent(cl.context, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_context other = clCreateContext(NULL, 1, &cl.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_event foreign = clCreateUserEvent(other, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const cl_event with_null[] = {gate, NULL}, with_foreign[] = {gate, foreign};
    const struct {
        cl_uint count;
        const cl_event *list;
        const char *what;
    } lists[] = {
        {1, NULL, "1 event, NULL list"},
        {0, with_null, "0 events, a list"},
        {2, with_null, "a NULL event in the list"},
        {2, with_foreign, "an event of another context"},
    };
    TS_FOR_EACH_ENTRY(e)
    {
        const clsm_shape none = e->sample ? (clsm_shape){0, 2, 1} : (clsm_shape){2, 0, 3};
        for (size_t k = 0; e->buffers && k < N_OF(lists); k++) {
            for (int empty = 0; empty < 2; empty++) {
                char what[96];
                snprintf(what, sizeof what, "%s%s", empty ? "empty tensor, " : "",
                         lists[k].what);
                ts_args a = valid(e);
                a.num_events = lists[k].count;
                a.events = lists[k].list;
                if (empty) {
                    a.shape = none;
                    without_tensors(&a);
                }
                expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
            }
        }
    }
    clSetUserEventStatus(foreign, CL_COMPLETE);
    clReleaseEvent(foreign);
    clReleaseContext(other);
    clSetUserEventStatus(gate, CL_COMPLETE);
    clReleaseEvent(gate);
}

/* The output and an input in one buffer, sharing some but not all bytes. */
Test(bad_input, buffer_output_partly_overlapping_an_input)
{
    const clsm_shape s = {2, 8, 1}; /* 16 F32 elements, 64 bytes */
    const struct {
        size_t input, output;
    } cases[] = {{0, 4}, {4, 0}, {0, 60}, {60, 0}, {32, 64}};
    cl_mem shared = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, REGION);
    TS_FOR_EACH_ENTRY(e)
    {
        /* Sampling's tokens are not the logits' size, nor ever in place: its overlaps are
         * its own. */
        for (int t = FIRST; e->buffers && !e->sample && t < OUTPUT; t++) {
            for (size_t k = 0; has_tensor(e, t) && k < N_OF(cases); k++) {
                char what[96];
                snprintf(what, sizeof what, "%s at byte %zu, %s at byte %zu", tensor_name(e, t),
                         cases[k].input, tensor_name(e, OUTPUT), cases[k].output);
                ts_args a = valid(e);
                a.shape = s;
                set_buffer(&a, t, shared, cases[k].input);
                set_buffer(&a, OUTPUT, shared, cases[k].output);
                expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
            }
        }
        if (e->buffers && e->inputs == 2) {
            ts_args a = valid(e);
            a.shape = s;
            set_buffer(&a, FIRST, shared, 0);
            set_buffer(&a, SECOND, shared, 4);
            set_buffer(&a, OUTPUT, shared, 0);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "dx is y, dy one element after it");
        }
    }
    clReleaseMemObject(shared);
}

/* Sub-buffers of one parent are one memory: overlap is judged on the parent's bytes. */
Test(bad_input, buffer_overlap_through_sub_buffers)
{
    cl_uint align_bits;
    cr_assert_eq(clGetDeviceInfo(cl.device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                                 &align_bits, NULL),
                 CL_SUCCESS);
    const size_t align = align_bits / 8;
    const clsm_shape s = {1, align / 4 * 2, 1}; /* two alignment units of F32 */
    cl_mem parent = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, 4 * align);
    cl_int err;
    cl_buffer_region first = {0, 2 * align}, second = {align, 2 * align};
    cl_mem a0 = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &first,
                                  &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem b1 = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                  &second, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem big[TENSORS];
    for (int t = 0; t < TENSORS; t++)
        big[t] = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, 4 * align);
    TS_FOR_EACH_ENTRY(e)
    {
        for (int t = FIRST; e->buffers && t < OUTPUT; t++) {
            if (!has_tensor(e, t))
                continue;
            char what[128];
            ts_args a = valid(e);
            a.shape = s;
            for (int u = 0; u < TENSORS; u++)
                set_buffer(&a, u, big[u], 0);
            set_buffer(&a, t, a0, 0);
            set_buffer(&a, OUTPUT, b1, 0);
            snprintf(what, sizeof what, "%s in sub-buffer [0,2), %s in sub-buffer [1,3)",
                     tensor_name(e, t), tensor_name(e, OUTPUT));
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
            set_buffer(&a, t, parent, 0);
            snprintf(what, sizeof what, "%s in the parent at 0, %s in sub-buffer [1,3)",
                     tensor_name(e, t), tensor_name(e, OUTPUT));
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
            /* The same bytes through a sub-buffer and its parent are in place: allowed, but
             * for sampling, which has no in place. */
            set_buffer(&a, t, b1, 0);
            set_buffer(&a, OUTPUT, parent, align);
            snprintf(what, sizeof what, "%s in place on %s through a sub-buffer",
                     tensor_name(e, OUTPUT), tensor_name(e, t));
            expect(e, a, e->sample ? CLSM_ERROR_INVALID_ARGUMENT : CLSM_SUCCESS, what);
        }
        if (e->buffers && e->inputs == 2) {
            ts_args a = valid(e);
            a.shape = s;
            set_buffer(&a, FIRST, a0, 0);
            set_buffer(&a, SECOND, b1, 0);
            set_buffer(&a, OUTPUT, big[OUTPUT], 0);
            expect(e, a, CLSM_SUCCESS, "y and dy in overlapping sub-buffers");
        }
    }
    clFinish(cl.queue);
    for (int t = 0; t < TENSORS; t++)
        clReleaseMemObject(big[t]);
    clReleaseMemObject(b1);
    clReleaseMemObject(a0);
    clReleaseMemObject(parent);
}

/* One buffer, the output right after or before an input, or the inputs sharing bytes: each
 * call succeeds with the reference's result. */
Test(bad_input, buffer_adjacent_tensors_and_overlapping_inputs_are_accepted)
{
    const struct {
        size_t first, second, output;
    } cases[] = {{0, 600, 128}, {128, 600, 0}, {0, 4, 132}, {4, 0, 132}, {0, 0, 128},
                 {192, 128, 0}};
    float *got = ts_alloc(CLSM_F32, 32);
    TS_FOR_EACH_ENTRY(e)
    {
        const clsm_shape s = shape_for(e, (clsm_shape){2, 8, 2}); /* 32 F32 elements, 128 bytes */
        for (size_t k = 0; e->buffers && k < N_OF(cases); k++) {
            if (e->inputs == 1 && cases[k].second != 600)
                continue;
            char what[96];
            snprintf(what, sizeof what, "inputs at bytes %zu and %zu, output at %zu",
                     cases[k].first, cases[k].second, cases[k].output);
            fill_tensors();
            const ts_data d = {CLSM_LOG_SOFTMAX, CLSM_F32, s, 2.0f, NULL,
                               {arena + cases[k].first, arena + cases[k].second},
                               e->sample ? &scalars : NULL};
            cl_mem b = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, TENSORS * REGION, arena);
            ts_args a = valid(e);
            a.op = d.op;
            a.shape = s;
            a.scale = d.scale;
            set_buffer(&a, FIRST, b, cases[k].first);
            set_buffer(&a, SECOND, b, cases[k].second);
            set_buffer(&a, OUTPUT, b, cases[k].output);
            clsm_status st = e->call(&a);
            cr_assert_eq(st, CLSM_SUCCESS, "%s, %s: %s", e->name, what, clsm_status_string(st));
            ts_cl_read(cl.queue, b, cases[k].output, ts_output_bytes(e, &d), got);
            ts_report r = ts_check_result(e, &d, got);
            cr_assert(r.ok, "%s, %s: %s", e->name, what, r.msg);
            clReleaseMemObject(b);
        }
    }
    free(got);
}

/* ---- the backward with the forward's options ---- */

/* Rows for the options that need inner = 1: [batch 2, heads 1, rows 2] of 8 entries, 32 F32. */
static const clsm_shape rows_shape = {4, 8, 1};
static float x_host[REGION / 4];

static bool backward_ex(const ts_entry *e)
{
    return e->inputs == 2 && e->options;
}

/* A valid call of a backward _ex entry on rows_shape with options o and x (x_host or xb). */
static ts_args with_options(const ts_entry *e, const clsm_options *o, cl_mem xb)
{
    ts_args a = valid(e);
    a.shape = rows_shape;
    a.options = o;
    if (e->buffers)
        a.in_buffer[2] = xb;
    else
        a.in[2] = x_host;
    return a;
}

static clsm_options rows_options(float softcap)
{
    clsm_options o = CLSM_OPTIONS_INIT;
    o.batch = 2, o.heads = 1, o.rows = 2;
    o.softcap = softcap;
    return o;
}

/* A tensor as entry e reads it: host memory, or a buffer at offset 0. */
static clsm_tensor tensor_for(const ts_entry *e, void *host, cl_mem buffer)
{
    return e->buffers ? (clsm_tensor){NULL, buffer, 0} : (clsm_tensor){host, NULL, 0};
}

/* The gradient has no statistics: stats_in or stats_out is refused, with a cap or without. */
Test(bad_input, backward_with_statistics)
{
    float stats[2 * 4 * 2];
    cl_mem sb = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, sizeof stats);
    cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, sizeof x_host, x_host);
    TS_FOR_EACH_ENTRY(e)
    {
        for (int cap = 0; backward_ex(e) && cap < 2; cap++) {
            clsm_options o = rows_options(cap ? 2.0f : 0.0f);
            o.stats_in = tensor_for(e, stats, sb);
            expect(e, with_options(e, &o, xb), CLSM_ERROR_INVALID_ARGUMENT, "stats_in");
            o = rows_options(cap ? 2.0f : 0.0f);
            o.stats_out = tensor_for(e, stats, sb);
            expect(e, with_options(e, &o, xb), CLSM_ERROR_INVALID_ARGUMENT, "stats_out");
            o = rows_options(cap ? 2.0f : 0.0f);
            expect(e, with_options(e, &o, xb), CLSM_SUCCESS, "no statistics");
        }
    }
    clReleaseMemObject(xb);
    clReleaseMemObject(sb);
}

/* The cap's derivative needs x: NULL x (host) or a NULL buffer is refused with a cap, and
 * without one x is not looked at, not even where it would overlap dx. */
Test(bad_input, backward_cap_needs_x)
{
    cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, sizeof x_host, x_host);
    TS_FOR_EACH_ENTRY(e)
    {
        if (!backward_ex(e))
            continue;
        clsm_options o = rows_options(2.0f);
        ts_args a = with_options(e, &o, xb);
        a.in[2] = NULL;
        a.in_buffer[2] = NULL;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "softcap 2 without x");
        expect(e, with_options(e, &o, xb), CLSM_SUCCESS, "softcap 2 with x");
        o.softcap = 0;
        expect(e, a, CLSM_SUCCESS, "no cap, no x");
        a = with_options(e, &o, xb);
        if (e->buffers)
            a.in_buffer[2] = a.out_buffer;
        else
            a.in[2] = a.out;
        expect(e, a, CLSM_SUCCESS, "no cap, x on dx, unread");
    }
    clReleaseMemObject(xb);
}

Test(bad_input, backward_cap_must_be_finite_and_not_negative)
{
    const float bad[] = {NAN, -1.0f, -1e-30f, INFINITY, -INFINITY};
    cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, sizeof x_host, x_host);
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; backward_ex(e) && k < N_OF(bad); k++) {
            clsm_options o = rows_options(bad[k]);
            char what[48];
            snprintf(what, sizeof what, "softcap %g", bad[k]);
            expect(e, with_options(e, &o, xb), CLSM_ERROR_INVALID_ARGUMENT, what);
        }
    }
    clReleaseMemObject(xb);
}

/* x follows the inputs' rules with a cap: dx may not share a byte with it, not even as the
 * same range (x is neither y nor dy), while x may share any bytes with y and dy. */
Test(bad_input, backward_dx_may_not_overlap_x)
{
    const size_t bytes = ts_count(rows_shape) * 4;
    cl_mem shared = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, 4 * REGION);
    TS_FOR_EACH_ENTRY(e)
    {
        if (!backward_ex(e))
            continue;
        clsm_options o = rows_options(2.0f);
        const struct {
            size_t x, dx;
            clsm_status want;
            const char *what;
        } cases[] = {
            {0, 0, CLSM_ERROR_INVALID_ARGUMENT, "x is dx"},
            {4, 0, CLSM_ERROR_INVALID_ARGUMENT, "x one element after dx"},
            {0, bytes - 4, CLSM_ERROR_INVALID_ARGUMENT, "dx in the last element of x"},
            {0, bytes, CLSM_SUCCESS, "dx right after x"},
        };
        for (size_t k = 0; k < N_OF(cases); k++) {
            ts_args a = with_options(e, &o, NULL);
            if (e->buffers) {
                /* The inputs beside them in the same buffer, apart. */
                a.in_buffer[0] = a.in_buffer[1] = a.in_buffer[2] = a.out_buffer = shared;
                a.in_offset[0] = 2 * REGION;
                a.in_offset[1] = 3 * REGION;
                a.in_offset[2] = cases[k].x;
                a.out_offset = cases[k].dx;
            } else {
                a.in[2] = region(OUTPUT) + cases[k].x;
                a.out = region(OUTPUT) + cases[k].dx;
            }
            expect(e, a, cases[k].want, cases[k].what);
        }
        ts_args a = with_options(e, &o, NULL);
        if (e->buffers) {
            a.in_buffer[2] = a.in_buffer[0];
            expect(e, a, CLSM_SUCCESS, "x is y");
            a.in_buffer[2] = a.in_buffer[1];
            a.in_offset[2] = 4;
            expect(e, a, CLSM_SUCCESS, "x overlaps dy");
        } else {
            a.in[2] = a.in[0];
            expect(e, a, CLSM_SUCCESS, "x is y");
            a.in[2] = (const unsigned char *)a.in[1] + 4;
            expect(e, a, CLSM_SUCCESS, "x overlaps dy");
        }
    }
    clReleaseMemObject(shared);
}

/* With a cap, x's buffer follows the input buffers' rules. */
Test(bad_input, backward_x_buffer)
{
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &cl.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const size_t bytes = ts_count(rows_shape) * 4;
    cl_mem foreign = ts_cl_sentinel_buffer(other, CL_MEM_READ_WRITE, bytes);
    cl_mem write_only = ts_cl_sentinel_buffer(cl.context, CL_MEM_WRITE_ONLY, bytes);
    cl_mem short_one = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, bytes - 4);
    cl_mem fits = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, bytes, x_host);
    const struct {
        cl_mem buffer;
        size_t offset;
        clsm_status want;
        const char *what;
    } cases[] = {
        {foreign, 0, CLSM_ERROR_INVALID_ARGUMENT, "x from another context"},
        {write_only, 0, CLSM_ERROR_INVALID_ARGUMENT, "write-only x"},
        {fits, 2, CLSM_ERROR_INVALID_ARGUMENT, "x offset 2"},
        {short_one, 0, CLSM_ERROR_INVALID_SHAPE, "x one element short"},
        {fits, 4, CLSM_ERROR_INVALID_SHAPE, "x pushed past its end"},
        {fits, 0, CLSM_SUCCESS, "x exactly large enough"},
    };
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; backward_ex(e) && e->buffers && k < N_OF(cases); k++) {
            clsm_options o = rows_options(2.0f);
            ts_args a = with_options(e, &o, cases[k].buffer);
            a.in_offset[2] = cases[k].offset;
            expect(e, a, cases[k].want, cases[k].what);
        }
    }
    cl_mem all[] = {fits, short_one, write_only, foreign};
    for (size_t k = 0; k < N_OF(all); k++)
        clReleaseMemObject(all[k]);
    clReleaseContext(other);
}

/* The host path refuses a length outside [0, axis] as the forward does; the buffers path
 * clamps it, to the gradient of the clamped lengths (the reference clamps too). */
Test(bad_input, backward_kv_lengths)
{
    const int32_t refused[][2] = {{-1, 8}, {0, 9}, {INT32_MIN, 4}};
    int32_t lengths[2];
    cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, sizeof x_host, x_host);
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; backward_ex(e) && k < N_OF(refused); k++) {
            memcpy(lengths, refused[k], sizeof lengths);
            clsm_options o = rows_options(2.0f);
            o.causal = 1;
            o.kv_lengths.host = lengths;
            char what[64];
            snprintf(what, sizeof what, "kv_lengths {%d, %d} of axis 8", (int)lengths[0],
                     (int)lengths[1]);
            if (!e->buffers) {
                expect(e, with_options(e, &o, xb), CLSM_ERROR_INVALID_ARGUMENT, what);
                continue;
            }
            fill_tensors();
            const ts_data d = {CLSM_LOG_SOFTMAX, CLSM_F32, rows_shape, 1.0, &o,
                               {region(FIRST), region(SECOND), x_host}, NULL};
            float *dx = ts_alloc(CLSM_F32, ts_count(rows_shape));
            ts_run_checked(e, ctx, &d, dx, what);
            free(dx);
        }
    }
    clReleaseMemObject(xb);
}

/* The gradient checks its options by the forward's rules, but for the ALiBi slopes, which
 * it does not read: the host path takes a non-finite slope that the forward refuses. */
Test(bad_input, backward_options_by_the_forward_rules)
{
    float slopes[1] = {NAN};
    cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, sizeof x_host, x_host);
    TS_FOR_EACH_ENTRY(e)
    {
        if (!backward_ex(e))
            continue;
        clsm_options o = rows_options(0.0f);
        o.causal = 1;
        ts_args a = with_options(e, &o, xb);
        a.shape = (clsm_shape){4, 4, 2};
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "causal with inner 2");
        o = rows_options(0.0f);
        o.window = 2;
        expect(e, with_options(e, &o, xb), CLSM_ERROR_INVALID_ARGUMENT, "window without causal");
        o = rows_options(0.0f);
        o.rows = 3;
        expect(e, with_options(e, &o, xb), CLSM_ERROR_INVALID_ARGUMENT, "2 * 1 * 3 rows of 4");
        o = rows_options(0.0f);
        o.mask_type = CLSM_MASK_KEEP_U8;
        expect(e, with_options(e, &o, xb), CLSM_ERROR_INVALID_ARGUMENT, "a mask type, no mask");
        o = rows_options(0.0f);
        o.mask_type = 9;
        expect(e, with_options(e, &o, xb), CLSM_ERROR_INVALID_ARGUMENT, "mask type 9");
        if (e->buffers)
            continue;
        o = rows_options(0.0f);
        o.alibi_slopes.host = slopes;
        expect(e, with_options(e, &o, xb), CLSM_SUCCESS, "a NaN ALiBi slope, unread");
    }
    clReleaseMemObject(xb);
}

/* ---- sampling's own arguments ---- */

#define SAMPLE_ROWS 6 /* valid()'s rows of 8 logits */

/* A valid call of sampling entry e with every per-row tensor and logprobs in s: at the start
 * of their regions (host) or buffers. */
static ts_args with_per_row(const ts_entry *e, clsm_sampling *s)
{
    ts_args a = valid(e);
    *s = scalars;
    clsm_tensor *t[] = {&s->temperatures, &s->top_ks, &s->top_ps,
                        &s->min_ps,       &s->seeds,  &s->logprobs};
    for (int k = 0; k < (int)N_OF(t); k++)
        *t[k] = e->buffers ? (clsm_tensor){NULL, buffers[TEMPS + k], 0}
                           : (clsm_tensor){region(TEMPS + k), NULL, 0};
    a.sampling = s;
    return a;
}

/* The scalars are checked on both paths; the struct grows as clsm_options does. */
Test(bad_input, sample_scalars_and_struct_size)
{
    const float bad_t[] = {-1.0f, -0x1p-149f, NAN, INFINITY, -INFINITY};
    const float bad_p[] = {-0.1f, -0x1p-149f, 1.5f, 0x1.000002p0f, NAN, INFINITY};
    const clsm_shape huge = {SIZE_MAX / 2, 3, 1};
    struct {
        clsm_sampling s;
        unsigned char newer[16];
    } grown;
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->sample)
            continue;
        char what[64];
        clsm_sampling s;
        ts_args a = with_per_row(e, &s);
        expect(e, a, CLSM_SUCCESS, "every per-row tensor and logprobs");
        a.sampling = NULL;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "NULL sampling");
        a.shape = huge;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "NULL sampling before overflow");
        for (size_t k = 0; k < N_OF(bad_t); k++) {
            a = with_per_row(e, &s);
            s.temperature = bad_t[k];
            snprintf(what, sizeof what, "temperature %g", bad_t[k]);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
            a.shape = huge;
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "a bad temperature before overflow");
        }
        for (size_t k = 0; k < N_OF(bad_p); k++) {
            a = with_per_row(e, &s);
            s.top_p = bad_p[k];
            snprintf(what, sizeof what, "top_p %g", bad_p[k]);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
            a = with_per_row(e, &s);
            s.min_p = bad_p[k];
            snprintf(what, sizeof what, "min_p %g", bad_p[k]);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
        }
        /* Every top_k is valid: 0 and past the vocabulary keep all. */
        a = with_per_row(e, &s);
        s.top_k = UINT32_MAX;
        expect(e, a, CLSM_SUCCESS, "top_k UINT32_MAX");
        const size_t small_sizes[] = {0, sizeof(size_t), offsetof(clsm_sampling, logprobs),
                                      sizeof(clsm_sampling) - 1};
        for (size_t k = 0; k < N_OF(small_sizes); k++) {
            a = with_per_row(e, &s);
            s.struct_size = small_sizes[k];
            snprintf(what, sizeof what, "struct_size %zu", small_sizes[k]);
            expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, what);
        }
        a = with_per_row(e, &s);
        memset(&grown, 0, sizeof grown);
        grown.s = s;
        grown.s.struct_size = sizeof grown;
        a.sampling = &grown.s;
        expect(e, a, CLSM_SUCCESS, "a larger struct, zero past the library's");
        for (size_t at = 0; at < sizeof grown.newer; at += sizeof grown.newer - 1) {
            grown.newer[at] = 1;
            expect(e, a, CLSM_ERROR_UNSUPPORTED, "a larger struct, a byte set past the library's");
            grown.newer[at] = 0;
        }
        /* Past 2^31 - 1 a token cannot name the entry, with rows or without. */
        a = with_per_row(e, &s);
        a.dtype = CLSM_F16;
        a.shape = (clsm_shape){1, (size_t)INT32_MAX + 1, 1};
        expect(e, a, CLSM_ERROR_INVALID_SHAPE, "vocab 2^31");
        a.shape.outer = 0;
        expect(e, a, CLSM_ERROR_INVALID_SHAPE, "vocab 2^31 without rows");
    }
}

/* Sampling has no sink token to draw and no statistics to give or take; the options' own
 * errors are the _ex entries'. */
Test(bad_input, sample_options)
{
    float stats[2 * SAMPLE_ROWS], sinks[1] = {0};
    int32_t lengths[1] = {-1};
    cl_mem sb = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, sizeof stats);
    cl_mem kb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, sizeof lengths, lengths);
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->sample)
            continue;
        clsm_sampling s;
        clsm_options o = CLSM_OPTIONS_INIT;
        ts_args a = with_per_row(e, &s);
        a.options = &o;
        o.sinks = tensor_for(e, sinks, sb);
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "sinks");
        o = (clsm_options)CLSM_OPTIONS_INIT;
        o.stats_in = tensor_for(e, stats, sb);
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "stats_in");
        o = (clsm_options)CLSM_OPTIONS_INIT;
        o.stats_out = tensor_for(e, stats, sb);
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "stats_out");
        o = (clsm_options)CLSM_OPTIONS_INIT;
        o.softcap = -1;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "softcap -1");
        o = (clsm_options)CLSM_OPTIONS_INIT;
        o.window = 2;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "a window without causal");
        o = (clsm_options)CLSM_OPTIONS_INIT;
        o.mask_type = (clsm_mask_type)9;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "mask type 9");
        o.mask_type = CLSM_MASK_KEEP_U8;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "a mask type without a mask");
        o = (clsm_options)CLSM_OPTIONS_INIT;
        o.batch = 1, o.heads = 1, o.rows = SAMPLE_ROWS - 1;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "rows of the options not the call's");
        o = (clsm_options)CLSM_OPTIONS_INIT;
        o.struct_size = 0;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "options' struct_size 0");
        /* The host path refuses a length outside [0, vocab]; the buffers path clamps it. */
        o = (clsm_options)CLSM_OPTIONS_INIT;
        o.causal = 1;
        o.softcap = 5;
        expect(e, a, CLSM_SUCCESS, "causal and a cap");
        o.kv_lengths = tensor_for(e, lengths, kb);
        expect(e, a, e->buffers ? CLSM_SUCCESS : CLSM_ERROR_INVALID_ARGUMENT, "kv_lengths -1");
    }
    clReleaseMemObject(kb);
    clReleaseMemObject(sb);
}

/* The host path checks each per-row value as the scalar; the buffers path cannot, and gives a
 * row with a bad temperature -1 and logprob NaN, and clamps top_p and min_p (ts_check_result
 * holds it to those rules). */
Test(bad_input, sample_per_row_values)
{
    const struct {
        int region;
        size_t row;
        float value;
        const char *what;
    } cases[] = {
        {TEMPS, 1, -2.0f, "temperature -2"},       {TEMPS, 2, NAN, "temperature NaN"},
        {TEMPS, 5, INFINITY, "temperature +inf"},  {TEMPS, 0, -INFINITY, "temperature -inf"},
        {TOP_PS, 3, 1.5f, "top_p 1.5"},            {TOP_PS, 4, -0.5f, "top_p -0.5"},
        {TOP_PS, 0, NAN, "top_p NaN"},             {MIN_PS, 2, 2.0f, "min_p 2"},
        {MIN_PS, 5, -1.0f, "min_p -1"},            {MIN_PS, 1, NAN, "min_p NaN"},
        {TOP_PS, 5, INFINITY, "top_p +inf"},       {MIN_PS, 3, -INFINITY, "min_p -inf"},
    };
    int32_t tokens[SAMPLE_ROWS];
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; e->sample && k < N_OF(cases); k++) {
            spoiled.region = cases[k].region;
            spoiled.row = cases[k].row;
            spoiled.value = cases[k].value;
            clsm_sampling s;
            ts_args a = with_per_row(e, &s);
            if (!e->buffers) {
                expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, cases[k].what);
                continue;
            }
            /* ts_run stages the host tensors in buffers of their own. */
            fill_tensors();
            clsm_sampling host = scalars;
            clsm_tensor *t[] = {&host.temperatures, &host.top_ks, &host.top_ps,
                                &host.min_ps,       &host.seeds,  &host.logprobs};
            for (int r = 0; r < (int)N_OF(t); r++)
                t[r]->host = region(TEMPS + r);
            const ts_data d = {CLSM_SOFTMAX, CLSM_F32, a.shape, 1.0, NULL, {region(FIRST)}, &host};
            char what[96];
            snprintf(what, sizeof what, "one %s among valid ones", cases[k].what);
            ts_run_checked(e, ctx, &d, tokens, what);
        }
        spoiled.region = -1;
    }
}

/* A per-row tensor's buffer follows the option buffers' rules: its context, its flags (logprobs
 * written), its offset a multiple of its element, and room for a value per row past it. */
Test(bad_input, sample_per_row_buffers)
{
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &cl.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem foreign = ts_cl_sentinel_buffer(other, CL_MEM_READ_WRITE, REGION);
    cl_mem read_only = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_ONLY, REGION);
    cl_mem write_only = ts_cl_sentinel_buffer(cl.context, CL_MEM_WRITE_ONLY, REGION);
    static const char *const names[] = {"temperatures", "top_ks", "top_ps",
                                        "min_ps",       "seeds",  "logprobs"};
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->sample || !e->buffers)
            continue;
        for (int k = 0; k < (int)N_OF(names); k++) {
            const int t = TEMPS + k;
            const size_t element = t == SEEDS ? 8 : 4, bytes = SAMPLE_ROWS * element;
            cl_mem short_one = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE,
                                                     bytes - element);
            const struct {
                cl_mem buffer;
                size_t offset;
                clsm_status want;
                const char *how;
            } cases[] = {
                {short_one, 0, CLSM_ERROR_INVALID_SHAPE, "one value short"},
                {buffers[t], REGION - bytes + element, CLSM_ERROR_INVALID_SHAPE,
                 "an offset pushing past the end"},
                {buffers[t], REGION, CLSM_ERROR_INVALID_SHAPE, "an offset at the end"},
                {buffers[t], SIZE_MAX - 7, CLSM_ERROR_INVALID_SHAPE, "offset + extent overflowing"},
                {buffers[t], element / 2, CLSM_ERROR_INVALID_ARGUMENT, "a misaligned offset"},
                {foreign, 0, CLSM_ERROR_INVALID_ARGUMENT, "a buffer of another context"},
                {t == LOGPROBS ? read_only : write_only, 0, CLSM_ERROR_INVALID_ARGUMENT,
                 t == LOGPROBS ? "read-only" : "write-only"},
                {buffers[t], REGION - bytes, CLSM_SUCCESS, "an exact fit at an offset"},
            };
            for (size_t c = 0; c < N_OF(cases); c++) {
                char what[96];
                snprintf(what, sizeof what, "%s: %s", names[k], cases[c].how);
                clsm_sampling s;
                ts_args a = with_per_row(e, &s);
                clsm_tensor *per_row[] = {&s.temperatures, &s.top_ks, &s.top_ps,
                                          &s.min_ps,       &s.seeds,  &s.logprobs};
                *per_row[k] = (clsm_tensor){NULL, cases[c].buffer, cases[c].offset};
                expect(e, a, cases[c].want, what);
            }
            clReleaseMemObject(short_one);
        }
        /* F64's logprobs are doubles. */
        clsm_sampling s;
        ts_args a = with_per_row(e, &s);
        a.dtype = CLSM_F64;
        a.shape.axis = 4;
        s.logprobs.offset = 4;
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "F64 logprobs at offset 4");
        s.logprobs.offset = 8;
        expect(e, a, CLSM_SUCCESS, "F64 logprobs at offset 8");
    }
    clReleaseMemObject(write_only);
    clReleaseMemObject(read_only);
    clReleaseMemObject(foreign);
    clReleaseContext(other);
}

/*
 * Tokens and logprobs may share no byte with any other tensor of the call, not even as the
 * same range (sampling has no in place); the inputs may share any. Placed in one space, the
 * arena's first two regions or a buffer holding them: the logits (6 rows of 8, 192 bytes),
 * the tokens and logprobs (24 bytes each), the temperatures (24) and the seeds (48); -1 for
 * one's own region or buffer.
 */
Test(bad_input, sample_outputs_overlap_no_other_tensor)
{
    const struct {
        long logits, tokens, logprobs, temperatures, seeds;
        clsm_status want;
        const char *what;
    } cases[] = {
        {64, 64, -1, -1, -1, CLSM_ERROR_INVALID_ARGUMENT, "tokens on the logits"},
        {64, 100, -1, -1, -1, CLSM_ERROR_INVALID_ARGUMENT, "tokens inside the logits"},
        {64, 44, -1, -1, -1, CLSM_ERROR_INVALID_ARGUMENT, "tokens over the first logit"},
        {64, 40, -1, -1, -1, CLSM_SUCCESS, "tokens right before the logits"},
        {0, 188, -1, -1, -1, CLSM_ERROR_INVALID_ARGUMENT, "tokens over the last logit"},
        {0, 192, -1, -1, -1, CLSM_SUCCESS, "tokens right after the logits"},
        {0, 400, 400, -1, -1, CLSM_ERROR_INVALID_ARGUMENT, "logprobs on the tokens"},
        {0, 400, 420, -1, -1, CLSM_ERROR_INVALID_ARGUMENT, "logprobs over the last token"},
        {0, 400, 376, -1, -1, CLSM_SUCCESS, "logprobs right before the tokens"},
        {0, 400, 424, -1, -1, CLSM_SUCCESS, "logprobs right after the tokens"},
        {0, 400, 100, -1, -1, CLSM_ERROR_INVALID_ARGUMENT, "logprobs inside the logits"},
        {0, 400, -1, 408, -1, CLSM_ERROR_INVALID_ARGUMENT, "tokens over the temperatures"},
        {0, 400, 600, -1, 592, CLSM_ERROR_INVALID_ARGUMENT, "logprobs over the seeds"},
        {0, 400, 600, 100, 8, CLSM_SUCCESS, "temperatures and seeds inside the logits"},
    };
    cl_mem space = NULL;
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; e->sample && k < N_OF(cases); k++) {
            clsm_sampling s;
            ts_args a = with_per_row(e, &s);
            const long at[] = {cases[k].logits, cases[k].tokens, cases[k].logprobs,
                               cases[k].temperatures, cases[k].seeds};
            clsm_tensor *per_row[] = {NULL, NULL, &s.logprobs, &s.temperatures, &s.seeds};
            if (e->buffers) {
                fill_tensors();
                space = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, 2 * REGION, arena);
            }
            for (size_t t = 0; t < N_OF(at); t++) {
                if (at[t] < 0)
                    continue;
                unsigned char *host = region(FIRST) + at[t];
                const size_t offset = (size_t)at[t];
                if (t == 0 && e->buffers)
                    set_buffer(&a, FIRST, space, offset);
                else if (t == 0)
                    a.in[0] = host;
                else if (t == 1 && e->buffers)
                    set_buffer(&a, OUTPUT, space, offset);
                else if (t == 1)
                    a.out = host;
                else
                    *per_row[t] = e->buffers ? (clsm_tensor){NULL, space, offset}
                                             : (clsm_tensor){host, NULL, 0};
            }
            expect(e, a, cases[k].want, cases[k].what);
            if (space)
                clReleaseMemObject(space);
            space = NULL;
        }
    }
}

/* The option tensors are inputs too: a mask or KV lengths under the tokens or logprobs are
 * refused; a mask under the logits is accepted. */
Test(bad_input, sample_outputs_overlap_no_option_tensor)
{
    const struct {
        int mask_region, kv_region;
        size_t at;
        clsm_status want;
        const char *what;
    } cases[] = {
        {OUTPUT, -1, 8, CLSM_ERROR_INVALID_ARGUMENT, "a keep-mask over the tokens"},
        {-1, LOGPROBS, 20, CLSM_ERROR_INVALID_ARGUMENT, "kv_lengths over the last logprob"},
        {FIRST, -1, 0, CLSM_SUCCESS, "a keep-mask over the logits"},
    };
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; e->sample && k < N_OF(cases); k++) {
            clsm_sampling s;
            ts_args a = with_per_row(e, &s);
            clsm_options o = CLSM_OPTIONS_INIT;
            const int m = cases[k].mask_region, kv = cases[k].kv_region;
            const size_t at = cases[k].at;
            /* Every row's mask is the same 8 bytes. */
            o.mask_stride[3] = 1;
            if (m >= 0) {
                o.mask_type = CLSM_MASK_KEEP_U8;
                o.mask = e->buffers ? (clsm_tensor){NULL, buffers[m], at}
                                    : (clsm_tensor){region(m) + at, NULL, 0};
            }
            if (kv >= 0)
                o.kv_lengths = e->buffers ? (clsm_tensor){NULL, buffers[kv], at}
                                          : (clsm_tensor){region(kv) + at, NULL, 0};
            a.options = &o;
            expect(e, a, cases[k].want, cases[k].what);
        }
    }
}

/* ---- empty tensors ---- */

/* A zero after dimensions whose product overflows is still an empty tensor. */
static const clsm_shape empty_shapes[] = {
    {0, 5, 3},          {5, 0, 3},          {5, 3, 0},
    {0, 0, 0},          {SIZE_MAX, SIZE_MAX, 0}, {SIZE_MAX, 0, SIZE_MAX},
    {0, SIZE_MAX, SIZE_MAX}, {(size_t)1 << 33, (size_t)1 << 33, 0},
};

/* With NULL tensors, and with real ones, which keep every byte; the buffers path returns an
 * event that completes. */
Test(empty, every_entry_point_succeeds_and_writes_nothing)
{
    TS_FOR_EACH_ENTRY(e)
    {
        for (size_t k = 0; k < N_OF(empty_shapes); k++) {
            /* Sampling's empty call has no rows (its own cases below), and a vocabulary past
             * INT32_MAX is refused even then. */
            if (e->sample && (empty_shapes[k].outer != 0 || empty_shapes[k].axis > INT32_MAX))
                continue;
            char what[96];
            snprintf(what, sizeof what, "shape [%zu,%zu,%zu]", empty_shapes[k].outer,
                     empty_shapes[k].axis, empty_shapes[k].inner);
            ts_args a = valid(e);
            a.shape = empty_shapes[k];
            a.dtype = CLSM_F64;
            a.op = CLSM_LOG_SOFTMAX;
            expect(e, a, CLSM_SUCCESS, what);
            without_tensors(&a);
            cl_event ev = NULL;
            if (e->buffers)
                a.event = &ev;
            clsm_status st = e->call(&a);
            cr_assert_eq(st, CLSM_SUCCESS, "%s, %s, NULL tensors: %s", e->name, what,
                         clsm_status_string(st));
            if (!e->buffers)
                continue;
            cr_assert_not_null(ev, "%s, %s: no event for an empty tensor", e->name, what);
            cr_assert_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
            cl_int status = -1;
            clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
            cr_assert_eq(status, CL_COMPLETE);
            cr_assert_eq(clReleaseEvent(ev), CL_SUCCESS);
        }
    }
}

/* Sampling without rows does nothing, with NULL tensors or not; an empty vocabulary gives
 * every row token -1 and logprob -inf, and writes nothing else. */
Test(empty, sampling_without_rows_or_vocabulary)
{
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->sample)
            continue;
        clsm_sampling s;
        ts_args a = with_per_row(e, &s);
        a.shape = (clsm_shape){0, 8, 1};
        expect(e, a, CLSM_SUCCESS, "no rows");
        without_tensors(&a);
        a.sampling = &scalars;
        expect(e, a, CLSM_SUCCESS, "no rows, NULL tensors");
        a = with_per_row(e, &s);
        a.shape = (clsm_shape){SAMPLE_ROWS, 0, 1};
        without_tensors(&a);
        expect(e, a, CLSM_ERROR_INVALID_ARGUMENT, "an empty vocabulary, NULL tokens");

        a = with_per_row(e, &s);
        a.shape = (clsm_shape){SAMPLE_ROWS, 0, 1};
        a.in[0] = NULL;
        a.in_buffer[0] = NULL;
        fill_tensors();
        unsigned char before[sizeof arena];
        memcpy(before, arena, sizeof arena);
        cl_event ev = NULL;
        if (e->buffers)
            a.event = &ev;
        clsm_status st = e->call(&a);
        cr_assert_eq(st, CLSM_SUCCESS, "%s, an empty vocabulary: %s", e->name,
                     clsm_status_string(st));
        if (ev) {
            cr_assert_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
            clReleaseEvent(ev);
        }
        for (int t = 0; t < REGIONS; t++) {
            unsigned char *now = region(t);
            size_t size = REGION;
            if (e->buffers)
                now = buffer_bytes(buffers[t], &size);
            const size_t rows_bytes = t == OUTPUT || t == LOGPROBS ? SAMPLE_ROWS * 4 : 0;
            for (size_t r = 0; r < rows_bytes / 4; r++) {
                if (t == OUTPUT)
                    cr_assert_eq(((int32_t *)(void *)now)[r], -1, "%s: row %zu's token", e->name,
                                 r);
                else
                    cr_assert(((float *)(void *)now)[r] == -INFINITY, "%s: row %zu's logprob",
                              e->name, r);
            }
            for (size_t i = rows_bytes; i < size; i++)
                cr_assert_eq(now[i], before[t * REGION + i], "%s: byte %zu of region %d written",
                             e->name, i, t);
            if (e->buffers)
                free(now);
        }
    }
}

/* ---- context creation ---- */

static char *first_device_name(cl_device_id *device)
{
    cl_platform_id p;
    cr_assert_eq(clGetPlatformIDs(1, &p, NULL), CL_SUCCESS);
    cr_assert_eq(clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, device, NULL), CL_SUCCESS);
    size_t len = 0;
    clGetDeviceInfo(*device, CL_DEVICE_NAME, 0, NULL, &len);
    char *name = calloc(len + 1, 1);
    cr_assert_not_null(name);
    clGetDeviceInfo(*device, CL_DEVICE_NAME, len, name, NULL);
    return name;
}

static cl_device_id context_device(const clsm_context *c)
{
    cl_device_id d = NULL;
    cl_int err =
        clGetCommandQueueInfo(clsm_context_queue(c), CL_QUEUE_DEVICE, sizeof d, &d, NULL);
    cr_assert_eq(err, CL_SUCCESS);
    return d;
}

static void expect_create(clsm_status want, const char *device, const char *kernel)
{
    if (device != NULL)
        setenv("CLSM_DEVICE", device, 1);
    else
        unsetenv("CLSM_DEVICE");
    if (kernel != NULL)
        setenv("CLSM_KERNEL", kernel, 1);
    else
        unsetenv("CLSM_KERNEL");
    clsm_context *c = (clsm_context *)&want; /* any non-NULL value, to see that failure clears it */
    clsm_status st = clsm_context_create(&c);
    cr_assert_eq(st, want, "CLSM_DEVICE=%s CLSM_KERNEL=%s: got %s, want %s",
                 device ? device : "(unset)", kernel ? kernel : "(unset)",
                 clsm_status_string(st), clsm_status_string(want));
    if (want != CLSM_SUCCESS)
        cr_assert_null(c, "CLSM_DEVICE=%s CLSM_KERNEL=%s: *out not cleared on failure",
                       device ? device : "(unset)", kernel ? kernel : "(unset)");
    else
        clsm_context_release(c);
}

Test(bad_context, null_out_pointers)
{
    cr_assert_eq(clsm_context_create(NULL), CLSM_ERROR_INVALID_ARGUMENT);
    ts_cl local;
    ts_cl_open(&local, 0);
    cr_assert_eq(clsm_context_create_with_queue(NULL, local.queue), CLSM_ERROR_INVALID_ARGUMENT);
    clsm_context *c = (clsm_context *)&local;
    cr_assert_eq(clsm_context_create_with_queue(&c, NULL), CLSM_ERROR_INVALID_ARGUMENT);
    cr_assert_null(c, "*out not cleared on failure");
    ts_cl_close(&local);
}

Test(bad_context, unknown_kernel_family_is_rejected)
{
    expect_create(CLSM_ERROR_INVALID_ARGUMENT, NULL, "no-such-family");
    for (size_t i = 0; i < TS_FAMILIES; i++)
        expect_create(CLSM_SUCCESS, NULL, ts_families[i]);
}

Test(bad_context, device_that_names_nothing_is_not_found)
{
    expect_create(CLSM_ERROR_DEVICE_NOT_FOUND, "no-such-device-anywhere", NULL);
    expect_create(CLSM_ERROR_DEVICE_NOT_FOUND, "9:9", NULL);
    expect_create(CLSM_ERROR_DEVICE_NOT_FOUND, "0:999", NULL);
}

Test(bad_context, device_by_indices_picks_that_device)
{
    cl_device_id want;
    free(first_device_name(&want));
    setenv("CLSM_DEVICE", "0:0", 1);
    unsetenv("CLSM_KERNEL");
    clsm_context *c = NULL;
    clsm_status st = clsm_context_create(&c);
    cr_assert_eq(st, CLSM_SUCCESS, "CLSM_DEVICE=0:0: %s", clsm_status_string(st));
    cr_assert_eq(context_device(c), want, "0:0 is not platform 0, device 0");
    clsm_context_release(c);
}

/* On PoCL the first word of the name is "pthread-skylake-avx512-AMD" or similar, matched here
 * in swapped case. */
Test(bad_context, device_by_name_ignores_case)
{
    cl_device_id want;
    char *name = first_device_name(&want);
    char *space = strchr(name, ' ');
    if (space != NULL)
        *space = '\0';
    for (char *p = name; *p; p++)
        *p = (char)(islower((unsigned char)*p) ? toupper((unsigned char)*p)
                                               : tolower((unsigned char)*p));
    setenv("CLSM_DEVICE", name, 1);
    unsetenv("CLSM_KERNEL");
    clsm_context *c = NULL;
    clsm_status st = clsm_context_create(&c);
    cr_assert_eq(st, CLSM_SUCCESS, "CLSM_DEVICE=%s: %s", name, clsm_status_string(st));
    cr_assert_eq(context_device(c), want, "CLSM_DEVICE=%s picked another device", name);
    clsm_context_release(c);
    free(name);
}

Test(bad_context, pocl_device_found_by_pthread)
{
    cl_device_id first;
    char *name = first_device_name(&first);
    bool pocl = strstr(name, "pthread") != NULL;
    free(name);
    if (!pocl)
        cr_skip_test("the first device is not PoCL's pthread device");
    expect_create(CLSM_SUCCESS, "pthread", NULL);
}

Test(bad_context, empty_device_variable_means_default)
{
    expect_create(CLSM_SUCCESS, "", NULL);
}
