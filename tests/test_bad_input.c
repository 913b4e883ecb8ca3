/* Every rejected argument returns its exact status and leaves y untouched; empty tensors and device selection. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support.h"

static ts_cl cl;
static clsm_context *ctx;

static void open_context(void)
{
    ts_cl_open(&cl, 0);
    unsetenv("CLSM_KERNEL");
    clsm_status st = clsm_context_create_with_queue(&ctx, cl.queue);
    cr_assert_eq(st, CLSM_SUCCESS, "create_with_queue: %s", clsm_status_string(st));
}

static void close_context(void)
{
    clsm_context_release(ctx);
    ctx = NULL;
    ts_cl_close(&cl);
}

TestSuite(bad_host, .init = open_context, .fini = close_context);
TestSuite(empty, .init = open_context, .fini = close_context);
TestSuite(bad_context);

#define N 48
static const clsm_shape shape = {2, 8, 3};
static float x_host[N];
static float y_host[N];

/* Calls the host path on x_host -> y_host (sentinel-filled) and checks the status and y. */
static void expect_host(clsm_status want, clsm_context *c, clsm_op op, clsm_dtype dtype,
                        clsm_shape s, float scale, const void *x, void *y, const char *what)
{
    for (size_t i = 0; i < N; i++)
        x_host[i] = (float)i / 7;
    ts_fill_sentinel(y_host, sizeof y_host);
    clsm_status st = clsm_softmax_host(c, op, dtype, s, scale, x, y);
    cr_assert_eq(st, want, "%s: got %s, want %s", what, clsm_status_string(st),
                 clsm_status_string(want));
    ts_report r = ts_check_sentinel(y_host, sizeof y_host);
    cr_assert(r.ok, "%s: y changed: %s", what, r.msg);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(x_host[i], (float)i / 7, "%s: x changed at %zu", what, i);
}

Test(bad_host, null_context)
{
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, NULL, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_host,
                y_host, "NULL ctx");
}

Test(bad_host, unknown_op_and_dtype)
{
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, (clsm_op)2, CLSM_F32, shape, 1.0f, x_host,
                y_host, "op 2");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, (clsm_op)7, CLSM_F32, shape, 1.0f, x_host,
                y_host, "op 7");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, (clsm_op)-1, CLSM_F32, shape, 1.0f, x_host,
                y_host, "op -1");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, (clsm_dtype)4, shape, 1.0f,
                x_host, y_host, "dtype 4");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, (clsm_dtype)99, shape, 1.0f,
                x_host, y_host, "dtype 99");
}

Test(bad_host, non_finite_scale)
{
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, NAN, x_host,
                y_host, "scale NaN");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, INFINITY, x_host,
                y_host, "scale +inf");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_LOG_SOFTMAX, CLSM_F32, shape, -INFINITY,
                x_host, y_host, "scale -inf");
}

Test(bad_host, null_x_or_y)
{
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, NULL,
                y_host, "NULL x");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_host,
                NULL, "NULL y");
}

/* Products that wrap around to small numbers (1 and 0) must not pass for small tensors. */
Test(bad_host, element_count_overflow)
{
    const size_t half = (size_t)1 << (sizeof(size_t) * 4);
    const clsm_shape shapes[] = {
        {SIZE_MAX / 2, 3, 1}, {2, SIZE_MAX, 2}, {SIZE_MAX, SIZE_MAX, 1},
        {half, half, 1},      {1, half, half},  {half, 1, half},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        char what[96];
        snprintf(what, sizeof what, "shape [%zu,%zu,%zu]", shapes[k].outer, shapes[k].axis,
                 shapes[k].inner);
        expect_host(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, shapes[k], 1.0f,
                    x_host, y_host, what);
    }
}

Test(bad_host, byte_count_overflow)
{
    const clsm_shape f32 = {SIZE_MAX / 8, 4, 1};
    const clsm_shape f64 = {1, SIZE_MAX / 8 + 1, 1};
    const clsm_shape f16 = {1, SIZE_MAX / 2 + 1, 1};
    expect_host(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, f32, 1.0f, x_host, y_host,
                "F32 bytes");
    expect_host(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F64, f64, 1.0f, x_host, y_host,
                "F64 bytes");
    expect_host(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F16, f16, 1.0f, x_host, y_host,
                "F16 bytes");
    expect_host(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_BF16, f16, 1.0f, x_host, y_host,
                "BF16 bytes");
}

Test(bad_host, validation_order)
{
    const clsm_shape huge = {SIZE_MAX / 2, 3, 1}, none = {3, 0, 2};
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, NULL, CLSM_SOFTMAX, CLSM_F32, huge, 1.0f, x_host,
                y_host, "NULL ctx before overflow");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, huge, NAN, x_host,
                y_host, "NaN scale before overflow");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, (clsm_op)9, CLSM_F32, huge, 1.0f, x_host, y_host,
                "unknown op before overflow");
    expect_host(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, huge, 1.0f, NULL, NULL,
                "overflow before NULL x");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, NULL, CLSM_SOFTMAX, CLSM_F32, none, 1.0f, NULL, NULL,
                "NULL ctx before empty");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, none, INFINITY, NULL,
                NULL, "inf scale before empty");
    expect_host(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, (clsm_dtype)5, none, 1.0f, NULL,
                NULL, "unknown dtype before empty");
    expect_host(CLSM_SUCCESS, ctx, CLSM_SOFTMAX, CLSM_F32, none, 1.0f, NULL, NULL,
                "empty before NULL x");
}

Test(bad_host, partial_overlap)
{
    float buf[N + 2];
    for (size_t i = 0; i < N + 2; i++)
        buf[i] = (float)i;
    const clsm_shape s = {2, 8, 2}; /* 32 elements */
    const struct {
        size_t x, y;
    } cases[] = {{0, 1}, {1, 0}, {0, 16}, {16, 0}, {2, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        clsm_status st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, buf + cases[k].x,
                                           buf + cases[k].y);
        cr_assert_eq(st, CLSM_ERROR_INVALID_ARGUMENT, "x=buf+%zu y=buf+%zu: %s", cases[k].x,
                     cases[k].y, clsm_status_string(st));
        for (size_t i = 0; i < N + 2; i++)
            cr_assert_eq(buf[i], (float)i, "x=buf+%zu y=buf+%zu: element %zu changed", cases[k].x,
                         cases[k].y, i);
    }
}

Test(bad_host, adjacent_arrays_are_not_overlap)
{
    float buf[64];
    for (size_t i = 0; i < 64; i++)
        buf[i] = (float)(i % 5);
    const clsm_shape s = {4, 8, 1};
    clsm_status st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, buf, buf + 32);
    cr_assert_eq(st, CLSM_SUCCESS, "y right after x: %s", clsm_status_string(st));
    st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, buf + 32, buf);
    cr_assert_eq(st, CLSM_SUCCESS, "y right before x: %s", clsm_status_string(st));
}

/* --- buffers path --- */

static cl_mem x_buf, y_buf;

static cl_mem make_buffer(cl_context c, cl_mem_flags flags, size_t bytes)
{
    unsigned char *init = malloc(bytes);
    cr_assert_not_null(init);
    ts_fill_sentinel(init, bytes);
    cl_mem b = ts_cl_buffer(c, flags, bytes, init);
    free(init);
    return b;
}

/* Calls the buffers path and checks the status, that no event came back, and that y kept its sentinel. */
static void expect_buffers(clsm_status want, clsm_context *c, clsm_op op, clsm_dtype dtype,
                           clsm_shape s, float scale, cl_mem x, size_t x_off, cl_mem y,
                           size_t y_off, cl_uint n_events, const cl_event *events,
                           const char *what)
{
    cl_event ev = NULL;
    clsm_status st =
        clsm_softmax_buffers(c, op, dtype, s, scale, x, x_off, y, y_off, n_events, events, &ev);
    cr_assert_eq(st, want, "%s: got %s, want %s", what, clsm_status_string(st),
                 clsm_status_string(want));
    if (want != CLSM_SUCCESS)
        cr_assert_null(ev, "%s: an event came back with an error", what);
    if (ev != NULL) {
        clWaitForEvents(1, &ev);
        clReleaseEvent(ev);
    }
    if (y == NULL)
        return;
    size_t bytes = 0;
    clGetMemObjectInfo(y, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    cl_context yc;
    clGetMemObjectInfo(y, CL_MEM_CONTEXT, sizeof yc, &yc, NULL);
    cl_command_queue q = yc == cl.context ? cl.queue : NULL;
    cl_int err;
    if (q == NULL) {
        cl_device_id dev;
        clGetContextInfo(yc, CL_CONTEXT_DEVICES, sizeof dev, &dev, NULL);
        q = clCreateCommandQueue(yc, dev, 0, &err);
        cr_assert_eq(err, CL_SUCCESS);
    }
    unsigned char *back = malloc(bytes);
    cr_assert_not_null(back);
    ts_cl_read(q, y, 0, bytes, back);
    if (q != cl.queue)
        clReleaseCommandQueue(q);
    ts_report r = ts_check_sentinel(back, bytes);
    cr_assert(r.ok, "%s: y changed: %s", what, r.msg);
    free(back);
}

static void open_buffers(void)
{
    open_context();
    x_buf = make_buffer(cl.context, CL_MEM_READ_WRITE, N * 8);
    y_buf = make_buffer(cl.context, CL_MEM_READ_WRITE, N * 8);
}

static void close_buffers(void)
{
    clReleaseMemObject(y_buf);
    clReleaseMemObject(x_buf);
    close_context();
}

TestSuite(bad_buffer_args, .init = open_buffers, .fini = close_buffers);

Test(bad_buffer_args, null_context_op_dtype_scale)
{
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, NULL, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   y_buf, 0, 0, NULL, "NULL ctx");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, (clsm_op)7, CLSM_F32, shape, 1.0f, x_buf, 0,
                   y_buf, 0, 0, NULL, "op 7");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, (clsm_dtype)4, shape, 1.0f,
                   x_buf, 0, y_buf, 0, 0, NULL, "dtype 4");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, NAN, x_buf, 0,
                   y_buf, 0, 0, NULL, "scale NaN");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, -INFINITY,
                   x_buf, 0, y_buf, 0, 0, NULL, "scale -inf");
}

Test(bad_buffer_args, null_buffers)
{
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, NULL, 0,
                   y_buf, 0, 0, NULL, "NULL x");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   NULL, 0, 0, NULL, "NULL y");
}

Test(bad_buffer_args, shape_overflow)
{
    const clsm_shape huge = {SIZE_MAX / 2, 3, 1}, wraps = {SIZE_MAX, SIZE_MAX, 1};
    const clsm_shape bytes = {SIZE_MAX / 8, 4, 1};
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, huge, 1.0f, x_buf, 0,
                   y_buf, 0, 0, NULL, "element overflow");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, wraps, 1.0f, x_buf, 0,
                   y_buf, 0, 0, NULL, "element count wrapping to 1");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, bytes, 1.0f, x_buf, 0,
                   y_buf, 0, 0, NULL, "byte overflow");
}

Test(bad_buffer_args, wait_list_count_and_pointer_disagree)
{
    cl_int err;
    cl_event gate = clCreateUserEvent(cl.context, &err);
    cr_assert_eq(err, CL_SUCCESS);
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   y_buf, 0, 1, NULL, "1 event, NULL list");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   y_buf, 0, 0, &gate, "0 events, a list");
    clSetUserEventStatus(gate, CL_COMPLETE);
    clReleaseEvent(gate);
}

/* OpenCL leaves these undefined and PoCL enqueues them anyway, so the library must look. */
Test(bad_buffer_args, wait_list_with_a_null_event_or_one_of_another_context)
{
    cl_int err;
    cl_event gate = clCreateUserEvent(cl.context, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_context other = clCreateContext(NULL, 1, &cl.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_event foreign = clCreateUserEvent(other, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const cl_event with_null[] = {gate, NULL};
    const cl_event with_foreign[] = {gate, foreign};
    const clsm_shape none = {2, 0, 3};
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   y_buf, 0, 2, with_null, "a NULL event in the wait list");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   y_buf, 0, 2, with_foreign, "an event of another context");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, none, 1.0f, x_buf, 0,
                   y_buf, 0, 2, with_null, "empty tensor, a NULL event in the wait list");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, none, 1.0f, x_buf, 0,
                   y_buf, 0, 2, with_foreign, "empty tensor, an event of another context");
    clSetUserEventStatus(foreign, CL_COMPLETE);
    clReleaseEvent(foreign);
    clReleaseContext(other);
    /* The same list without the bad entry is accepted and waited for. */
    cl_event done = NULL;
    clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                                          y_buf, 0, 1, with_null, &done);
    cr_assert_eq(st, CLSM_SUCCESS, "a good wait list: %s", clsm_status_string(st));
    clSetUserEventStatus(gate, CL_COMPLETE);
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    clReleaseEvent(done);
    clReleaseEvent(gate);
}

Test(bad_buffer_args, offsets_not_a_multiple_of_the_element_size)
{
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 2,
                   y_buf, 0, 0, NULL, "F32 x offset 2");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   y_buf, 6, 0, NULL, "F32 y offset 6");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F64, shape, 1.0f, x_buf, 4,
                   y_buf, 0, 0, NULL, "F64 x offset 4");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F16, shape, 1.0f, x_buf, 0,
                   y_buf, 1, 0, NULL, "F16 y offset 1");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_BF16, shape, 1.0f, x_buf,
                   3, y_buf, 0, 0, NULL, "BF16 x offset 3");
}

Test(bad_buffer_args, buffers_too_small_for_offset_and_extent)
{
    const size_t bytes = N * 8;
    const clsm_shape fits = {2, 8, 6}; /* 96 F32 elements: exactly the buffer */
    const clsm_shape one_more = {97, 1, 1};
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, one_more, 1.0f, x_buf, 0,
                   y_buf, 0, 0, NULL, "x and y one element short");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, fits, 1.0f, x_buf, 4,
                   y_buf, 0, 0, NULL, "x offset pushes past the end");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, fits, 1.0f, x_buf, 0,
                   y_buf, 4, 0, NULL, "y offset pushes past the end");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf,
                   bytes, y_buf, 0, 0, NULL, "x offset at the end");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf,
                   SIZE_MAX - 3, y_buf, 0, 0, NULL, "x offset + extent overflows");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   y_buf, SIZE_MAX - 7, 0, NULL, "y offset + extent overflows");

    cl_mem small = make_buffer(cl.context, CL_MEM_READ_WRITE, N * 4 - 4);
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   small, 0, 0, NULL, "y buffer one element short");
    expect_buffers(CLSM_ERROR_INVALID_SHAPE, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, small, 0,
                   y_buf, 0, 0, NULL, "x buffer one element short");
    clReleaseMemObject(small);

    /* The same shape fits exactly at offset 0, so the statuses above come from the extents. */
    clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, fits, 1.0f, x_buf, 0,
                                          y_buf, 0, 0, NULL, NULL);
    cr_assert_eq(st, CLSM_SUCCESS, "exact fit: %s", clsm_status_string(st));
    /* The teardown must not pull the buffers from under a running kernel. */
    clFinish(cl.queue);
}

Test(bad_buffer_args, buffers_of_another_opencl_context)
{
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &cl.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem foreign_x = make_buffer(other, CL_MEM_READ_WRITE, N * 8);
    cl_mem foreign_y = make_buffer(other, CL_MEM_READ_WRITE, N * 8);
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f,
                   foreign_x, 0, y_buf, 0, 0, NULL, "x from another context");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   foreign_y, 0, 0, NULL, "y from another context");
    clReleaseMemObject(foreign_y);
    clReleaseMemObject(foreign_x);
    clReleaseContext(other);
}

Test(bad_buffer_args, read_only_y_and_write_only_x)
{
    cl_mem read_only = make_buffer(cl.context, CL_MEM_READ_ONLY, N * 8);
    cl_mem write_only = make_buffer(cl.context, CL_MEM_WRITE_ONLY, N * 8);
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x_buf, 0,
                   read_only, 0, 0, NULL, "read-only y");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f,
                   write_only, 0, y_buf, 0, 0, NULL, "write-only x");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f,
                   read_only, 0, read_only, 0, 0, NULL, "read-only buffer in place");
    clReleaseMemObject(write_only);
    clReleaseMemObject(read_only);
}

/* x and y in one buffer, overlapping by part: the whole buffer must stay as it was. */
Test(bad_buffer_args, partial_overlap_in_one_buffer)
{
    const clsm_shape s = {2, 8, 1}; /* 16 F32 elements, 64 bytes */
    const struct {
        size_t x, y;
    } cases[] = {{0, 4}, {4, 0}, {0, 60}, {60, 0}, {32, 64}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char what[64];
        snprintf(what, sizeof what, "x at byte %zu, y at byte %zu", cases[k].x, cases[k].y);
        expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, y_buf,
                       cases[k].x, y_buf, cases[k].y, 0, NULL, what);
    }
}

/* Sub-buffers of one parent are one memory: overlap is judged on the parent's bytes. */
Test(bad_buffer_args, partial_overlap_through_sub_buffers)
{
    cl_uint align_bits;
    cr_assert_eq(clGetDeviceInfo(cl.device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                                 &align_bits, NULL),
                 CL_SUCCESS);
    const size_t align = align_bits / 8;
    const clsm_shape s = {1, align / 4 * 2, 1}; /* two alignment units of F32 */
    cl_mem parent = make_buffer(cl.context, CL_MEM_READ_WRITE, 4 * align);
    cl_int err;
    cl_buffer_region first = {0, 2 * align}, second = {align, 2 * align};
    cl_mem a = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &first,
                                 &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem b = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &second,
                                 &err);
    cr_assert_eq(err, CL_SUCCESS);

    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, a, 0, b, 0,
                   0, NULL, "x in sub-buffer [0,2), y in sub-buffer [1,3)");
    expect_buffers(CLSM_ERROR_INVALID_ARGUMENT, ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, parent, 0,
                   b, 0, 0, NULL, "x in the parent at 0, y in sub-buffer [1,3)");
    /* The same bytes through a sub-buffer and its parent are in place, which is allowed. */
    clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, b, 0, parent,
                                          align, 0, NULL, NULL);
    cr_assert_eq(st, CLSM_SUCCESS, "in place through a sub-buffer: %s", clsm_status_string(st));
    clFinish(cl.queue);
    clReleaseMemObject(b);
    clReleaseMemObject(a);
    clReleaseMemObject(parent);
}

/* --- empty tensors --- */

Test(empty, host_with_null_pointers_succeeds_for_each_zero_dimension)
{
    /* A zero after dimensions whose product overflows is still an empty tensor. */
    const clsm_shape shapes[] = {{0, 5, 3},
                                 {5, 0, 3},
                                 {5, 3, 0},
                                 {0, 0, 0},
                                 {SIZE_MAX, SIZE_MAX, 0},
                                 {SIZE_MAX, 0, SIZE_MAX},
                                 {0, SIZE_MAX, SIZE_MAX}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        clsm_status st = clsm_softmax_host(ctx, CLSM_LOG_SOFTMAX, CLSM_F64, shapes[k], 1.0f, NULL,
                                           NULL);
        cr_assert_eq(st, CLSM_SUCCESS, "shape [%zu,%zu,%zu]: %s", shapes[k].outer, shapes[k].axis,
                     shapes[k].inner, clsm_status_string(st));
    }
}

Test(empty, host_with_real_pointers_writes_nothing)
{
    const clsm_shape none = {4, 0, 4};
    expect_host(CLSM_SUCCESS, ctx, CLSM_SOFTMAX, CLSM_F32, none, 1.0f, x_host, y_host,
                "empty with buffers");
}

Test(empty, buffers_with_null_memory_and_no_event)
{
    const clsm_shape none = {3, 0, 1};
    clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F16, none, 1.0f, NULL, 0, NULL,
                                          0, 0, NULL, NULL);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
}

Test(empty, buffers_with_null_memory_return_a_valid_event)
{
    const clsm_shape none = {0, 7, 1};
    cl_event ev = NULL;
    clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, none, 1.0f, NULL, 0, NULL,
                                          0, 0, NULL, &ev);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    cr_assert_not_null(ev, "no event for an empty tensor");
    cr_assert_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
    cl_int status = -1;
    clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    cr_assert_eq(status, CL_COMPLETE);
    cr_assert_eq(clReleaseEvent(ev), CL_SUCCESS);
}

Test(empty, buffers_with_overflowing_dimensions_before_the_zero)
{
    const clsm_shape shapes[] = {{(size_t)1 << 33, (size_t)1 << 33, 0},
                                 {SIZE_MAX, 0, SIZE_MAX}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        cl_event ev = NULL;
        clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, shapes[k], 1.0f, NULL, 0,
                                              NULL, 0, 0, NULL, &ev);
        cr_assert_eq(st, CLSM_SUCCESS, "shape [%zu,%zu,%zu]: %s", shapes[k].outer,
                     shapes[k].axis, shapes[k].inner, clsm_status_string(st));
        cr_assert_not_null(ev);
        cr_assert_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
        clReleaseEvent(ev);
    }
}

Test(empty, buffers_leave_real_memory_untouched)
{
    cl_mem y = make_buffer(cl.context, CL_MEM_READ_WRITE, 64);
    const clsm_shape none = {2, 8, 0};
    expect_buffers(CLSM_SUCCESS, ctx, CLSM_SOFTMAX, CLSM_F32, none, 1.0f, y, 0, y, 0, 0, NULL,
                   "empty with memory");
    clReleaseMemObject(y);
}

/* --- context creation --- */

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

Test(bad_context, unknown_kernel_variant_is_rejected)
{
    expect_create(CLSM_ERROR_INVALID_ARGUMENT, NULL, "no-such-variant");
    expect_create(CLSM_SUCCESS, NULL, "item");
    expect_create(CLSM_SUCCESS, NULL, "group");
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

/* On PoCL the first word of the name is "pthread-skylake-avx512-AMD" or similar, matched here in swapped case. */
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
