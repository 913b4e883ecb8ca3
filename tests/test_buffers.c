/* The device-buffer path: caller-owned queues, byte offsets, wait lists, returned events and in-place work. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "reference.h"
#include "support.h"

static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, ms % 1000 * 1000000L};
    nanosleep(&t, NULL);
}

static cl_int event_status(cl_event e)
{
    cl_int st = -1;
    cl_int err = clGetEventInfo(e, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clGetEventInfo: %d", err);
    return st;
}

/* Polls until e completes or the time is up; returns its last status. */
static cl_int wait_at_most(cl_event e, long ms)
{
    cl_int st = event_status(e);
    for (long waited = 0; st != CL_COMPLETE && st >= 0 && waited < ms; waited += 10) {
        sleep_ms(10);
        st = event_status(e);
    }
    return st;
}

static clsm_context *create_on_queue(const char *variant, cl_command_queue q)
{
    if (variant != NULL)
        setenv("CLSM_KERNEL", variant, 1);
    else
        unsetenv("CLSM_KERNEL");
    clsm_context *ctx = NULL;
    clsm_status st = clsm_context_create_with_queue(&ctx, q);
    cr_assert_eq(st, CLSM_SUCCESS, "create_with_queue (%s): %s",
                 variant != NULL ? variant : "auto", clsm_status_string(st));
    return ctx;
}

static double *reference(clsm_op op, clsm_dtype dtype, clsm_shape s, float scale, const void *x)
{
    double *ref = malloc(ts_count(s) * sizeof *ref + 1);
    cr_assert_not_null(ref);
    ref_softmax(op, dtype, s, scale, x, ref);
    return ref;
}

/*
 * x and y sit at element offsets x_pad and y_pad inside larger buffers.
 * The result must match the reference, the elements around y must keep
 * their sentinel and the whole x buffer must be unchanged.
 */
static void check_at_offsets(clsm_context *ctx, const char *config, clsm_op op, clsm_dtype dtype,
                             clsm_shape s, size_t x_pad, size_t y_pad)
{
    const size_t es = ts_dtype_size(dtype), n = ts_count(s);
    const size_t x_len = x_pad + n + 7, y_len = y_pad + n + 5;
    cl_command_queue q = clsm_context_queue(ctx);
    cl_context clc;
    cr_assert_eq(clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof clc, &clc, NULL), CL_SUCCESS);

    void *x_all = ts_random(dtype, x_len, -4, 4, n + x_pad);
    unsigned char *y_all = ts_alloc(dtype, y_len), *x_back = ts_alloc(dtype, x_len);
    ts_fill_sentinel(y_all, y_len * es);
    cl_mem xb = ts_cl_buffer(clc, CL_MEM_READ_ONLY, x_len * es, x_all);
    cl_mem yb = ts_cl_buffer(clc, CL_MEM_READ_WRITE, y_len * es, y_all);

    char what[160];
    ts_describe(what, sizeof what, config, op, dtype, s, 1.0f);
    cl_event ev = NULL;
    clsm_status st = clsm_softmax_buffers(ctx, op, dtype, s, 1.0f, xb, x_pad * es, yb,
                                          y_pad * es, 0, NULL, &ev);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    cr_assert_not_null(ev, "%s: no event", what);
    cr_assert_eq(clWaitForEvents(1, &ev), CL_SUCCESS, "%s: waiting for the event", what);
    clReleaseEvent(ev);
    ts_cl_read(q, yb, 0, y_len * es, y_all);
    ts_cl_read(q, xb, 0, x_len * es, x_back);

    ts_report r = ts_check_sentinel(y_all, y_pad * es);
    cr_assert(r.ok, "%s: before y: %s", what, r.msg);
    r = ts_check_sentinel(y_all + (y_pad + n) * es, (y_len - y_pad - n) * es);
    cr_assert(r.ok, "%s: after y: %s", what, r.msg);
    cr_assert(memcmp(x_back, x_all, x_len * es) == 0, "%s: the x buffer changed", what);
    double *ref = reference(op, dtype, s, 1.0f, (char *)x_all + x_pad * es);
    r = ts_check(op, dtype, s, y_all + y_pad * es, ref);
    cr_assert(r.ok, "%s: %s", what, r.msg);

    free(ref);
    clReleaseMemObject(yb);
    clReleaseMemObject(xb);
    free(x_back);
    free(y_all);
    free(x_all);
}

Test(buffers, nonzero_offsets_leave_neighbouring_elements_untouched)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    const clsm_shape shapes[] = {{3, 257, 2}, {1, 4099, 1}};
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        clsm_context *ctx = create_on_queue(ts_config_family(c), cl.queue);
        for (size_t d = 0; d < N_DTYPES; d++)
            for (size_t k = 0; k < 2; k++)
                for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++)
                    check_at_offsets(ctx, ts_config_name(c), (clsm_op)op, dtypes[d], shapes[k], 5,
                                     11);
        clsm_context_release(ctx);
    }
    ts_cl_close(&cl);
}

Test(buffers, zero_offsets_work)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    const clsm_shape s = {2, 1000, 3};
    for (size_t d = 0; d < N_DTYPES; d++)
        check_at_offsets(ctx, "auto", CLSM_SOFTMAX, dtypes[d], s, 0, 0);
    clsm_context_release(ctx);
    ts_cl_close(&cl);
}

/*
 * y is watched through a second queue, which nothing orders after the
 * softmax, while a user event in the wait list is still pending.
 */
Test(buffers, nothing_is_written_before_the_wait_list_completes)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    cl_int err;
    cl_command_queue watcher = clCreateCommandQueue(cl.context, cl.device, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const clsm_shape s = {4, 1025, 1};
    const size_t n = ts_count(s);
    float *x = ts_random(CLSM_F32, n, -4, 4, 77), *y = ts_alloc(CLSM_F32, n);
    double *ref = reference(CLSM_SOFTMAX, CLSM_F32, s, 1.0f, x);

    for (size_t c = 0; c < TS_CONFIGS; c++) {
        const char *name = ts_config_name(c);
        clsm_context *ctx = create_on_queue(ts_config_family(c), cl.queue);
        ts_fill_sentinel(y, n * 4);
        cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, n * 4, x);
        cl_mem yb = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, n * 4, y);
        cl_event gate = clCreateUserEvent(cl.context, &err);
        cr_assert_eq(err, CL_SUCCESS);

        cl_event done = NULL;
        clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, xb, 0, yb, 0,
                                              1, &gate, &done);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", name, clsm_status_string(st));
        clFlush(cl.queue);
        sleep_ms(100);
        cl_int status = event_status(done);
        cr_assert(status > CL_COMPLETE, "%s: the event reached status %d before its wait list",
                  name, status);

        cl_event peek;
        err = clEnqueueReadBuffer(watcher, yb, CL_FALSE, 0, n * 4, y, 0, NULL, &peek);
        cr_assert_eq(err, CL_SUCCESS);
        clFlush(watcher);
        cr_assert_eq(wait_at_most(peek, 5000), CL_COMPLETE,
                     "%s: could not observe y while the wait list was pending", name);
        clReleaseEvent(peek);
        ts_report r = ts_check_sentinel(y, n * 4);
        cr_assert(r.ok, "%s: y written before the wait list completed: %s", name, r.msg);

        clSetUserEventStatus(gate, CL_COMPLETE);
        cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS, "%s", name);
        ts_cl_read(cl.queue, yb, 0, n * 4, y);
        r = ts_check(CLSM_SOFTMAX, CLSM_F32, s, y, ref);
        cr_assert(r.ok, "%s: %s", name, r.msg);

        clReleaseEvent(done);
        clReleaseEvent(gate);
        clReleaseMemObject(yb);
        clReleaseMemObject(xb);
        clsm_context_release(ctx);
    }
    free(ref);
    free(y);
    free(x);
    clReleaseCommandQueue(watcher);
    ts_cl_close(&cl);
}

/* Read through a queue that nothing orders after the softmax, y is complete once the event is. */
Test(buffers, returned_event_completes_only_when_y_is_written)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    cl_int err;
    cl_command_queue other = clCreateCommandQueue(cl.context, cl.device, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const clsm_shape s = {2, 65537, 3};
    const size_t n = ts_count(s);
    float *x = ts_random(CLSM_F32, n, -4, 4, 78), *y = ts_alloc(CLSM_F32, n);
    double *ref = reference(CLSM_LOG_SOFTMAX, CLSM_F32, s, 1.0f, x);

    for (size_t c = 0; c < TS_CONFIGS; c++) {
        const char *name = ts_config_name(c);
        clsm_context *ctx = create_on_queue(ts_config_family(c), cl.queue);
        ts_fill_sentinel(y, n * 4);
        cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, n * 4, x);
        cl_mem yb = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, n * 4, y);
        cl_event done = NULL;
        clsm_status st = clsm_softmax_buffers(ctx, CLSM_LOG_SOFTMAX, CLSM_F32, s, 1.0f, xb, 0, yb,
                                              0, 0, NULL, &done);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", name, clsm_status_string(st));
        clFlush(cl.queue);
        cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS, "%s", name);
        cr_assert_eq(event_status(done), CL_COMPLETE, "%s", name);
        cl_context event_context = NULL;
        clGetEventInfo(done, CL_EVENT_CONTEXT, sizeof event_context, &event_context, NULL);
        cr_assert_eq(event_context, cl.context, "%s: the event belongs to another context", name);

        ts_cl_read(other, yb, 0, n * 4, y);
        ts_report r = ts_check(CLSM_LOG_SOFTMAX, CLSM_F32, s, y, ref);
        cr_assert(r.ok, "%s: %s", name, r.msg);

        clReleaseEvent(done);
        clReleaseMemObject(yb);
        clReleaseMemObject(xb);
        clsm_context_release(ctx);
    }
    free(ref);
    free(y);
    free(x);
    clReleaseCommandQueue(other);
    ts_cl_close(&cl);
}

Test(buffers, empty_tensor_event_still_honours_the_wait_list)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    cl_int err;
    cl_event gate = clCreateUserEvent(cl.context, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const clsm_shape empty = {4, 0, 2};
    cl_event done = NULL;
    clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, empty, 1.0f, NULL, 0, NULL,
                                          0, 1, &gate, &done);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    cr_assert_not_null(done);
    clFlush(cl.queue);
    sleep_ms(50);
    cr_assert(event_status(done) > CL_COMPLETE, "the event completed before its wait list");
    clSetUserEventStatus(gate, CL_COMPLETE);
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    cr_assert_eq(event_status(done), CL_COMPLETE);
    clReleaseEvent(done);
    clReleaseEvent(gate);
    clsm_context_release(ctx);
    ts_cl_close(&cl);
}

Test(buffers, caller_may_release_its_queue_and_context_right_away)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    const clsm_shape s = {3, 300, 2};
    const size_t n = ts_count(s);
    float *x = ts_random(CLSM_F32, n, -4, 4, 79), *y = ts_alloc(CLSM_F32, n);
    cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, n * 4, x);
    cl_mem yb = ts_cl_buffer(cl.context, CL_MEM_WRITE_ONLY, n * 4, NULL);
    ts_cl_close(&cl);

    double *ref = reference(CLSM_SOFTMAX, CLSM_F32, s, 1.0f, x);
    cl_event done = NULL;
    clsm_status st =
        clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, xb, 0, yb, 0, 0, NULL, &done);
    cr_assert_eq(st, CLSM_SUCCESS, "buffers: %s", clsm_status_string(st));
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    clReleaseEvent(done);
    ts_cl_read(clsm_context_queue(ctx), yb, 0, n * 4, y);
    ts_report r = ts_check(CLSM_SOFTMAX, CLSM_F32, s, y, ref);
    cr_assert(r.ok, "buffers: %s", r.msg);

    ts_fill_sentinel(y, n * 4);
    st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, x, y);
    cr_assert_eq(st, CLSM_SUCCESS, "host: %s", clsm_status_string(st));
    r = ts_check(CLSM_SOFTMAX, CLSM_F32, s, y, ref);
    cr_assert(r.ok, "host: %s", r.msg);

    clReleaseMemObject(yb);
    clReleaseMemObject(xb);
    clsm_context_release(ctx);
    free(ref);
    free(y);
    free(x);
}

Test(buffers, release_returns_every_reference_to_the_queue)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    cl_uint before = 0, after = 0;
    clGetCommandQueueInfo(cl.queue, CL_QUEUE_REFERENCE_COUNT, sizeof before, &before, NULL);
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    const clsm_shape s = {2, 100, 1};
    float x[200], y[200];
    ts_rng r = ts_rng_seed(80);
    ts_fill_uniform(&r, CLSM_F32, x, 200, -3, 3);
    cr_assert_eq(clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, x, y), CLSM_SUCCESS);
    clFinish(cl.queue);
    clsm_context_release(ctx);
    /* PoCL drops its own references of finished commands a moment later, on its own
     * thread; a leaked reference never comes back. */
    for (int waited_ms = 0; waited_ms <= 5000; waited_ms += 10) {
        clGetCommandQueueInfo(cl.queue, CL_QUEUE_REFERENCE_COUNT, sizeof after, &after, NULL);
        if (after == before)
            break;
        sleep_ms(10);
    }
    cr_assert_eq(after, before, "queue references: %u before the context, %u after its release",
                 before, after);
    ts_cl_close(&cl);
}

/* Chained calls on an out-of-order queue are ordered only by the events passed along. */
Test(buffers, out_of_order_queue_follows_the_events)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    cl_command_queue_properties props = 0;
    clGetDeviceInfo(cl.device, CL_DEVICE_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (!(props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE))
        cr_skip_test("the device has no out-of-order queues");
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(cl.context, cl.device,
                                              CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const clsm_shape s = {8, 4099, 1};
    const size_t n = ts_count(s);
    float *x = ts_random(CLSM_F32, n, -4, 4, 81), *y1 = ts_alloc(CLSM_F32, n),
          *y2 = ts_alloc(CLSM_F32, n);

    for (size_t c = 0; c < TS_CONFIGS; c++) {
        const char *name = ts_config_name(c);
        clsm_context *ctx = create_on_queue(ts_config_family(c), q);
        cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, n * 4, NULL);
        cl_mem b1 = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, n * 4, NULL);
        cl_mem b2 = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, n * 4, NULL);
        cl_event wrote, first, second, read1, read2;
        err = clEnqueueWriteBuffer(q, xb, CL_FALSE, 0, n * 4, x, 0, NULL, &wrote);
        cr_assert_eq(err, CL_SUCCESS);
        clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, xb, 0, b1, 0,
                                              1, &wrote, &first);
        cr_assert_eq(st, CLSM_SUCCESS, "%s first: %s", name, clsm_status_string(st));
        st = clsm_softmax_buffers(ctx, CLSM_LOG_SOFTMAX, CLSM_F32, s, 2.0f, b1, 0, b2, 0, 1,
                                  &first, &second);
        cr_assert_eq(st, CLSM_SUCCESS, "%s second: %s", name, clsm_status_string(st));
        err = clEnqueueReadBuffer(q, b1, CL_FALSE, 0, n * 4, y1, 1, &first, &read1);
        cr_assert_eq(err, CL_SUCCESS);
        err = clEnqueueReadBuffer(q, b2, CL_FALSE, 0, n * 4, y2, 1, &second, &read2);
        cr_assert_eq(err, CL_SUCCESS);
        cl_event reads[] = {read1, read2};
        cr_assert_eq(clWaitForEvents(2, reads), CL_SUCCESS, "%s", name);

        double *ref1 = reference(CLSM_SOFTMAX, CLSM_F32, s, 1.0f, x);
        ts_report r = ts_check(CLSM_SOFTMAX, CLSM_F32, s, y1, ref1);
        cr_assert(r.ok, "%s first call: %s", name, r.msg);
        double *ref2 = reference(CLSM_LOG_SOFTMAX, CLSM_F32, s, 2.0f, y1);
        r = ts_check(CLSM_LOG_SOFTMAX, CLSM_F32, s, y2, ref2);
        cr_assert(r.ok, "%s second call: %s", name, r.msg);

        /* The host path must order its own copies on this queue too. */
        ts_fill_sentinel(y1, n * 4);
        st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, x, y1);
        cr_assert_eq(st, CLSM_SUCCESS, "%s host: %s", name, clsm_status_string(st));
        r = ts_check(CLSM_SOFTMAX, CLSM_F32, s, y1, ref1);
        cr_assert(r.ok, "%s host: %s", name, r.msg);

        free(ref2);
        free(ref1);
        for (size_t e = 0; e < 2; e++)
            clReleaseEvent(reads[e]);
        clReleaseEvent(second);
        clReleaseEvent(first);
        clReleaseEvent(wrote);
        clReleaseMemObject(b2);
        clReleaseMemObject(b1);
        clReleaseMemObject(xb);
        clsm_context_release(ctx);
    }
    free(y2);
    free(y1);
    free(x);
    clReleaseCommandQueue(q);
    ts_cl_close(&cl);
}

Test(buffers, in_place_is_bitwise_equal_to_out_of_place)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    const clsm_shape s = {3, 1025, 2};
    const size_t n = ts_count(s), pad = 3;
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        clsm_context *ctx = create_on_queue(ts_config_family(c), cl.queue);
        for (size_t d = 0; d < N_DTYPES; d++) {
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                const size_t es = ts_dtype_size(dtypes[d]);
                char what[160];
                ts_describe(what, sizeof what, ts_config_name(c), (clsm_op)op, dtypes[d], s, 1.0f);
                void *x = ts_random(dtypes[d], n + pad, -4, 4, 82 + d);
                void *out = ts_alloc(dtypes[d], n), *in = ts_alloc(dtypes[d], n + pad);
                cl_mem xb = ts_cl_buffer(cl.context, CL_MEM_READ_ONLY, (n + pad) * es, x);
                cl_mem yb = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, n * es, NULL);
                cl_mem ib = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, (n + pad) * es, x);
                clsm_status st = clsm_softmax_buffers(ctx, (clsm_op)op, dtypes[d], s, 1.0f, xb,
                                                      pad * es, yb, 0, 0, NULL, NULL);
                cr_assert_eq(st, CLSM_SUCCESS, "%s out of place: %s", what,
                             clsm_status_string(st));
                st = clsm_softmax_buffers(ctx, (clsm_op)op, dtypes[d], s, 1.0f, ib, pad * es, ib,
                                          pad * es, 0, NULL, NULL);
                cr_assert_eq(st, CLSM_SUCCESS, "%s in place: %s", what, clsm_status_string(st));
                ts_cl_read(cl.queue, yb, 0, n * es, out);
                ts_cl_read(cl.queue, ib, 0, (n + pad) * es, in);
                cr_assert(memcmp(in, x, pad * es) == 0, "%s: in place wrote before the offset",
                          what);
                ts_report r = ts_check_identical(dtypes[d], n, (char *)in + pad * es, out);
                cr_assert(r.ok, "%s: %s", what, r.msg);
                double *ref = reference((clsm_op)op, dtypes[d], s, 1.0f, (char *)x + pad * es);
                r = ts_check((clsm_op)op, dtypes[d], s, out, ref);
                cr_assert(r.ok, "%s: %s", what, r.msg);
                free(ref);
                clReleaseMemObject(ib);
                clReleaseMemObject(yb);
                clReleaseMemObject(xb);
                free(in);
                free(out);
                free(x);
            }
        }
        clsm_context_release(ctx);
    }
    ts_cl_close(&cl);
}

Test(buffers, host_in_place_is_bitwise_equal_to_out_of_place)
{
    const clsm_shape s = {5, 513, 3};
    const size_t n = ts_count(s);
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        clsm_context *ctx = NULL;
        clsm_status st = ts_context_create_family(&ctx, ts_config_family(c));
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", ts_config_name(c), clsm_status_string(st));
        for (size_t d = 0; d < N_DTYPES; d++) {
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                const size_t es = ts_dtype_size(dtypes[d]);
                char what[160];
                ts_describe(what, sizeof what, ts_config_name(c), (clsm_op)op, dtypes[d], s, 0.5f);
                void *x = ts_random(dtypes[d], n, -4, 4, 90 + d);
                void *out = ts_alloc(dtypes[d], n), *in = ts_alloc(dtypes[d], n);
                memcpy(in, x, n * es);
                st = clsm_softmax_host(ctx, (clsm_op)op, dtypes[d], s, 0.5f, x, out);
                cr_assert_eq(st, CLSM_SUCCESS, "%s out of place: %s", what,
                             clsm_status_string(st));
                st = clsm_softmax_host(ctx, (clsm_op)op, dtypes[d], s, 0.5f, in, in);
                cr_assert_eq(st, CLSM_SUCCESS, "%s in place: %s", what, clsm_status_string(st));
                ts_report r = ts_check_identical(dtypes[d], n, in, out);
                cr_assert(r.ok, "%s: %s", what, r.msg);
                double *ref = reference((clsm_op)op, dtypes[d], s, 0.5f, x);
                r = ts_check((clsm_op)op, dtypes[d], s, in, ref);
                cr_assert(r.ok, "%s: %s", what, r.msg);
                free(ref);
                free(in);
                free(out);
                free(x);
            }
        }
        clsm_context_release(ctx);
    }
}

/*
 * A NaN slice's outputs are NaN, and NaN sign and payload depend on the order of operands,
 * which compilers may choose differently for in-place and separate memory: every NaN
 * written must be the canonical one (ts_check) and in place must still match bitwise. The
 * shapes reach every family's paths: a short row (cut into chunks by split), rows finished
 * in batches and gathered per lane, and strided blocks of neighbouring columns with a
 * ragged end.
 */
Test(buffers, in_place_nan_slices_are_bitwise_equal_to_out_of_place)
{
    const clsm_shape shapes[] = {{1, 16, 1}, {4099, 5, 1}, {2, 37, 17}};
    const float scales[] = {0.0f, 1.0f};
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        clsm_context *ctx = NULL;
        clsm_status st = ts_context_create_family(&ctx, ts_config_family(c));
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", ts_config_name(c), clsm_status_string(st));
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            const clsm_shape s = shapes[k];
            const size_t n = ts_count(s);
            for (size_t d = 0; d < N_DTYPES; d++) {
                const size_t es = ts_dtype_size(dtypes[d]);
                /* Every other slice holds one NaN, at a place that moves from slice to slice. */
                void *x = ts_alloc(dtypes[d], n);
                for (size_t i = 0; i < n; i++)
                    ts_store(dtypes[d], x, i, (double)(i % s.axis) / 3);
                for (size_t slice = 0; slice < s.outer * s.inner; slice += 2) {
                    size_t o = slice / s.inner, i = slice % s.inner;
                    size_t j = slice * 7 % s.axis;
                    ts_store(dtypes[d], x, (o * s.axis + j) * s.inner + i, NAN);
                }
                void *out = ts_alloc(dtypes[d], n), *in = ts_alloc(dtypes[d], n);
                for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
                        char what[160];
                        ts_describe(what, sizeof what, ts_config_name(c), (clsm_op)op, dtypes[d],
                                    s, scales[i]);
                        memcpy(in, x, n * es);
                        st = clsm_softmax_host(ctx, (clsm_op)op, dtypes[d], s, scales[i], x, out);
                        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
                        st = clsm_softmax_host(ctx, (clsm_op)op, dtypes[d], s, scales[i], in, in);
                        cr_assert_eq(st, CLSM_SUCCESS, "%s in place: %s", what,
                                     clsm_status_string(st));
                        double *ref = reference((clsm_op)op, dtypes[d], s, scales[i], x);
                        ts_report r = ts_check((clsm_op)op, dtypes[d], s, out, ref);
                        cr_assert(r.ok, "%s: %s", what, r.msg);
                        r = ts_check_identical(dtypes[d], n, in, out);
                        cr_assert(r.ok, "%s, in place against out of place: %s", what, r.msg);
                        free(ref);
                    }
                }
                free(in);
                free(out);
                free(x);
            }
        }
        clsm_context_release(ctx);
    }
}

Test(buffers, same_buffer_disjoint_ranges_are_not_overlap)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    const clsm_shape s = {2, 300, 1};
    const size_t n = ts_count(s);
    float *host = ts_random(CLSM_F32, 2 * n, -4, 4, 95), *back = ts_alloc(CLSM_F32, 2 * n);
    /* x first then y right after it, and the other way round. */
    const size_t x_at[] = {0, n}, y_at[] = {n, 0};
    for (size_t k = 0; k < 2; k++) {
        cl_mem b = ts_cl_buffer(cl.context, CL_MEM_READ_WRITE, 2 * n * 4, host);
        clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, b,
                                              x_at[k] * 4, b, y_at[k] * 4, 0, NULL, NULL);
        cr_assert_eq(st, CLSM_SUCCESS, "x at %zu, y at %zu: %s", x_at[k], y_at[k],
                     clsm_status_string(st));
        ts_cl_read(cl.queue, b, 0, 2 * n * 4, back);
        cr_assert(memcmp(back + x_at[k], host + x_at[k], n * 4) == 0, "x changed");
        double *ref = reference(CLSM_SOFTMAX, CLSM_F32, s, 1.0f, host + x_at[k]);
        ts_report r = ts_check(CLSM_SOFTMAX, CLSM_F32, s, back + y_at[k], ref);
        cr_assert(r.ok, "x at %zu, y at %zu: %s", x_at[k], y_at[k], r.msg);
        free(ref);
        clReleaseMemObject(b);
    }
    free(back);
    free(host);
    clsm_context_release(ctx);
    ts_cl_close(&cl);
}

Test(buffers, default_context_queue_serves_buffers)
{
    clsm_context *ctx = NULL;
    clsm_status st = ts_context_create_family(&ctx, NULL);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    check_at_offsets(ctx, "auto", CLSM_LOG_SOFTMAX, CLSM_F32, (clsm_shape){4, 129, 3}, 2, 1);
    clsm_context_release(ctx);
}
