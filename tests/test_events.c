/* Events, wait lists and queues on every buffers entry point (the table in entries.h): nothing is written before the wait list completes, the returned event completes once the output is written, out-of-order queues follow the events, and the caller's queue is only borrowed; sampling's fill of empty rows waits too. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "entries.h"
#include "support.h"

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

static clsm_context *create_on_queue(const char *family, cl_command_queue q)
{
    if (family != NULL)
        setenv("CLSM_KERNEL", family, 1);
    else
        unsetenv("CLSM_KERNEL");
    clsm_context *ctx = NULL;
    clsm_status st = clsm_context_create_with_queue(&ctx, q);
    cr_assert_eq(st, CLSM_SUCCESS, "create_with_queue (%s): %s", family ? family : "auto",
                 clsm_status_string(st));
    return ctx;
}

/* A call's data for e: x (or y) uniform in [-4, 4], dy in [-1, 1], the backward's x in
 * [-4, 4], and for the _ex entries every option the shape allows; sampling takes the shape's
 * slices as rows, with every per-row tensor and those options. */
typedef struct call {
    ts_data data;
    ts_options options;
    ts_sampling sampling;
    void *in[3];
} call;

static void make_call(call *c, const ts_entry *e, clsm_op op, clsm_shape s, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    if (e->sample)
        s = (clsm_shape){s.outer * s.inner, s.axis, 1};
    c->in[0] = ts_random(CLSM_F32, ts_count(s), -4, 4, seed);
    c->in[1] = ts_random(CLSM_F32, ts_count(s), -1, 1, seed + 1);
    c->in[2] = ts_random(CLSM_F32, ts_count(s), -4, 4, seed + 3);
    if (e->options)
        ts_options_make(&c->options, e, CLSM_F32, s, seed + 2);
    if (e->sample)
        ts_sampling_make(&c->sampling, CLSM_F32, s.outer, true, seed + 4);
    c->data = (ts_data){op, CLSM_F32, s, 1.0f, e->options ? &c->options.o : NULL,
                        {c->in[0], c->in[1], c->in[2]}, e->sample ? &c->sampling.s : NULL};
}

static void free_call(call *c)
{
    ts_sampling_free(&c->sampling);
    ts_options_free(&c->options);
    free(c->in[2]);
    free(c->in[1]);
    free(c->in[0]);
}

/* The caller's OpenCL context and queue, a second in-order queue that nothing orders after
 * the library's calls, and an out-of-order queue (NULL where the device has none). */
static ts_cl cl;
static cl_command_queue other, out_of_order;

static void open_queues(void)
{
    ts_cl_open(&cl, 0);
    cl_int err;
    other = clCreateCommandQueue(cl.context, cl.device, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_command_queue_properties props = 0;
    clGetDeviceInfo(cl.device, CL_DEVICE_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    out_of_order = props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE
                       ? clCreateCommandQueue(cl.context, cl.device,
                                              CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err)
                       : NULL;
    cr_assert_eq(err, CL_SUCCESS);
}

static void close_queues(void)
{
    if (out_of_order)
        clReleaseCommandQueue(out_of_order);
    clReleaseCommandQueue(other);
    ts_cl_close(&cl);
}

TestSuite(events, .init = open_queues, .fini = close_queues);

/* One case of a test: a call of e on ctx (a context on the test's queue) with k's data,
 * out and what (its name) ready. */
typedef void check_fn(clsm_context *ctx, const ts_entry *e, const call *k, void *out,
                      const char *what);

/* Runs check on every configuration and entry point (every buffers one unless all), on
 * contexts over queue q, with k's data of shape s made for each entry. */
static void each_call(cl_command_queue q, bool all, clsm_op op, clsm_shape s, uint64_t seed,
                      check_fn *check)
{
    void *out = ts_malloc(ts_count(s) * 4);
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        clsm_context *ctx = create_on_queue(ts_config_family(c), q);
        TS_FOR_EACH_ENTRY(e)
        {
            if (!e->buffers && !all)
                continue;
            char what[96];
            snprintf(what, sizeof what, "%s %s", ts_config_name(c), e->name);
            call k;
            make_call(&k, e, op, s, seed);
            check(ctx, e, &k, out, what);
            free_call(&k);
        }
        clsm_context_release(ctx);
    }
    free(out);
}

/* Stages k for e, the output as sentinels: the caller adds a wait list and calls. */
static ts_args stage(ts_staged *staged, clsm_context *ctx, const ts_entry *e, const call *k,
                     void *out, const char *what)
{
    ts_args a;
    ts_report r = ts_stage(e, ctx, &k->data, TS_APART, out, staged, &a);
    cr_assert(r.ok, "%s: %s", what, r.msg);
    return a;
}

/* After the call: the buffers read back and released, the output against the reference. */
static void unstage(ts_staged *staged, const ts_entry *e, const call *k, void *out,
                    const char *what)
{
    ts_report r = ts_unstage(staged, CLSM_SUCCESS);
    cr_assert(r.ok, "%s: %s", what, r.msg);
    r = ts_check_result(e, &k->data, out);
    cr_assert(r.ok, "%s: %s", what, r.msg);
}

/* The output, watched through the other queue while a user event in the wait list is still
 * pending, holds its sentinels; once the event completes, the call runs. */
static void wait_list_holds(clsm_context *ctx, const ts_entry *e, const call *k, void *out,
                            const char *what)
{
    const size_t bytes = ts_output_bytes(e, &k->data);
    ts_staged staged;
    ts_args a = stage(&staged, ctx, e, k, out, what);
    cl_int err;
    cl_event gate = clCreateUserEvent(cl.context, &err), done = NULL, peek;
    cr_assert_eq(err, CL_SUCCESS);
    a.num_events = 1;
    a.events = &gate;
    a.event = &done;
    clsm_status st = e->call(&a);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    clFlush(cl.queue);
    sleep_ms(100);
    cl_int status = event_status(done);
    cr_assert(status > CL_COMPLETE, "%s: the event reached status %d before its wait list", what,
              status);
    unsigned char *seen = ts_malloc(bytes);
    err = clEnqueueReadBuffer(other, a.out_buffer, CL_FALSE, a.out_offset, bytes, seen, 0, NULL,
                              &peek);
    cr_assert_eq(err, CL_SUCCESS);
    clFlush(other);
    cr_assert_eq(wait_at_most(peek, 5000), CL_COMPLETE,
                 "%s: could not observe the output while the wait list was pending", what);
    clReleaseEvent(peek);
    ts_report r = ts_check_sentinel(seen, bytes);
    cr_assert(r.ok, "%s: output written before the wait list completed: %s", what, r.msg);
    free(seen);
    clSetUserEventStatus(gate, CL_COMPLETE);
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS, "%s", what);
    unstage(&staged, e, k, out, what);
    clReleaseEvent(done);
    clReleaseEvent(gate);
}

Test(events, nothing_is_written_before_the_wait_list_completes)
{
    each_call(cl.queue, false, CLSM_SOFTMAX, (clsm_shape){4, 1025, 1}, 77, wait_list_holds);
}

/* Read through the other queue, which nothing orders after the call, the output is
 * complete once the event is; the event belongs to the caller's context. */
static void event_means_written(clsm_context *ctx, const ts_entry *e, const call *k, void *out,
                                const char *what)
{
    const size_t n = ts_output_bytes(e, &k->data) / 4;
    ts_staged staged;
    ts_args a = stage(&staged, ctx, e, k, out, what);
    cl_event done = NULL;
    a.event = &done;
    clsm_status st = e->call(&a);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", what, clsm_status_string(st));
    clFlush(cl.queue);
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS, "%s", what);
    cr_assert_eq(event_status(done), CL_COMPLETE, "%s", what);
    cl_context event_context = NULL;
    clGetEventInfo(done, CL_EVENT_CONTEXT, sizeof event_context, &event_context, NULL);
    cr_assert_eq(event_context, cl.context, "%s: the event belongs to another context", what);
    void *early = ts_alloc(CLSM_F32, n);
    ts_cl_read(other, a.out_buffer, a.out_offset, n * 4, early);
    unstage(&staged, e, k, out, what);
    ts_report r = ts_check_identical(CLSM_F32, n, early, out);
    cr_assert(r.ok, "%s: read on another queue once the event completed: %s", what, r.msg);
    free(early);
    clReleaseEvent(done);
}

Test(events, returned_event_completes_only_when_the_output_is_written)
{
    each_call(cl.queue, false, CLSM_LOG_SOFTMAX, (clsm_shape){2, 65537, 3}, 78,
              event_means_written);
}

Test(events, empty_tensor_event_still_honours_the_wait_list)
{
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    const clsm_sampling none = CLSM_SAMPLING_INIT;
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->buffers)
            continue;
        cl_int err;
        cl_event gate = clCreateUserEvent(cl.context, &err), done = NULL;
        cr_assert_eq(err, CL_SUCCESS);
        /* No rows: sampling's empty call. */
        const ts_args a = {.ctx = ctx, .shape = e->sample ? (clsm_shape){0, 4, 1}
                                                          : (clsm_shape){4, 0, 2},
                           .scale = 1, .num_events = 1, .events = &gate, .event = &done,
                           .sampling = &none};
        clsm_status st = e->call(&a);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", e->name, clsm_status_string(st));
        cr_assert_not_null(done, "%s: no event", e->name);
        clFlush(cl.queue);
        sleep_ms(50);
        cr_assert(event_status(done) > CL_COMPLETE, "%s: the event completed before its wait list",
                  e->name);
        clSetUserEventStatus(gate, CL_COMPLETE);
        cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
        cr_assert_eq(event_status(done), CL_COMPLETE);
        clReleaseEvent(done);
        clReleaseEvent(gate);
    }
    clsm_context_release(ctx);
}

/* Sampling's chain: a log-softmax of the logits, then sampling of its output, ordered only
 * by the first call's event; the tokens, read once the second's completes, are the draws
 * from the first's output. */
static void chained_sample(clsm_context *ctx, const ts_entry *e, const call *k, void *tokens,
                           const char *what)
{
    const clsm_shape s = k->data.shape;
    const size_t n = ts_count(s);
    ts_staged staged;
    ts_args second = stage(&staged, ctx, e, k, tokens, what);
    cl_mem b1 = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, n * 4);
    float *y1 = ts_alloc(CLSM_F32, n);
    cl_event done1, done2, read;
    clsm_status st = clsm_softmax_buffers(ctx, CLSM_LOG_SOFTMAX, CLSM_F32, s, 1.0f,
                                          second.in_buffer[0], second.in_offset[0], b1, 0, 0,
                                          NULL, &done1);
    cr_assert_eq(st, CLSM_SUCCESS, "%s, the log-softmax: %s", what, clsm_status_string(st));
    second.in_buffer[0] = b1;
    second.in_offset[0] = 0;
    second.num_events = 1;
    second.events = &done1;
    second.event = &done2;
    st = e->call(&second);
    cr_assert_eq(st, CLSM_SUCCESS, "%s, sampling: %s", what, clsm_status_string(st));
    cr_assert_eq(clEnqueueReadBuffer(out_of_order, b1, CL_FALSE, 0, n * 4, y1, 1, &done1, &read),
                 CL_SUCCESS);
    cl_event both[2] = {done2, read};
    cr_assert_eq(clWaitForEvents(2, both), CL_SUCCESS, "%s", what);
    ts_report r = ts_unstage(&staged, CLSM_SUCCESS);
    cr_assert(r.ok, "%s: %s", what, r.msg);
    ts_data next = k->data;
    next.in[0] = y1;
    r = ts_check_result(e, &next, tokens);
    cr_assert(r.ok, "%s, sampling the log-softmax: %s", what, r.msg);
    clReleaseEvent(read);
    clReleaseEvent(done2);
    clReleaseEvent(done1);
    clReleaseMemObject(b1);
    free(y1);
}

/* Rows of an empty vocabulary are filled with token -1 and logprob -inf, a fill the wait list
 * holds back like a kernel, and that the returned event waits for. */
Test(events, sampling_empty_rows_wait_for_the_wait_list)
{
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    enum { rows = 5 };
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->sample || !e->buffers)
            continue;
        cl_mem tokens = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, (rows + 3) * 4);
        cl_mem lp = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, (rows + 2) * 4);
        clsm_sampling s = CLSM_SAMPLING_INIT;
        s.logprobs = (clsm_tensor){NULL, lp, 4};
        cl_int err;
        cl_event gate = clCreateUserEvent(cl.context, &err), done = NULL;
        cr_assert_eq(err, CL_SUCCESS);
        const ts_args a = {.ctx = ctx, .dtype = CLSM_F32, .shape = {rows, 0, 1}, .scale = 1,
                           .out_buffer = tokens, .out_offset = 8, .num_events = 1,
                           .events = &gate, .event = &done, .sampling = &s};
        clsm_status st = e->call(&a);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", e->name, clsm_status_string(st));
        clFlush(cl.queue);
        sleep_ms(50);
        cr_assert(event_status(done) > CL_COMPLETE, "%s: the event completed before its wait list",
                  e->name);
        unsigned char early[(rows + 3) * 4];
        ts_cl_read(other, tokens, 0, sizeof early, early);
        ts_report r = ts_check_sentinel(early, sizeof early);
        cr_assert(r.ok, "%s: tokens written before the wait list completed: %s", e->name, r.msg);
        clSetUserEventStatus(gate, CL_COMPLETE);
        cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
        int32_t got[rows + 3];
        float lps[rows + 2];
        ts_cl_read(other, tokens, 0, sizeof got, got);
        ts_cl_read(other, lp, 0, sizeof lps, lps);
        for (size_t i = 0; i < rows; i++) {
            cr_assert_eq(got[2 + i], -1, "%s: row %zu", e->name, i);
            cr_assert(lps[1 + i] == -INFINITY, "%s: row %zu's logprob %g", e->name, i,
                      lps[1 + i]);
        }
        r = ts_check_sentinel(got, 8);
        if (r.ok)
            r = ts_check_sentinel(got + 2 + rows, 4);
        if (r.ok)
            r = ts_check_sentinel(lps, 4);
        if (r.ok)
            r = ts_check_sentinel(lps + 1 + rows, 4);
        cr_assert(r.ok, "%s: written next to the tokens or logprobs: %s", e->name, r.msg);
        clReleaseEvent(done);
        clReleaseEvent(gate);
        clReleaseMemObject(lp);
        clReleaseMemObject(tokens);
    }
    clsm_context_release(ctx);
}

/* On the out-of-order queue, two chained calls, the second reading the first's output, are
 * ordered only by the events passed along; host entry points order their own copies. */
static void chained_by_events(clsm_context *ctx, const ts_entry *e, const call *k, void *y1,
                              const char *what)
{
    if (!e->buffers) {
        ts_run_checked(e, ctx, &k->data, y1, what);
        return;
    }
    if (e->sample) {
        chained_sample(ctx, e, k, y1, what);
        return;
    }
    const size_t bytes = ts_count(k->data.shape) * 4;
    ts_staged staged;
    ts_args first = stage(&staged, ctx, e, k, y1, what);
    cl_mem b2 = ts_cl_sentinel_buffer(cl.context, CL_MEM_READ_WRITE, bytes);
    void *y2 = ts_malloc(bytes);
    cl_event done1, done2, reads[2];
    first.event = &done1;
    clsm_status st = e->call(&first);
    cr_assert_eq(st, CLSM_SUCCESS, "%s, first call: %s", what, clsm_status_string(st));
    /* The backward's second y is the first's dx, whose exp may overflow. */
    const clsm_op op2 = e->inputs == 2 ? CLSM_SOFTMAX : CLSM_LOG_SOFTMAX;
    ts_args second = first;
    second.op = op2;
    second.scale = 2.0f;
    second.options = NULL;
    second.in_buffer[0] = first.out_buffer;
    second.in_offset[0] = first.out_offset;
    second.out_buffer = b2;
    second.out_offset = 0;
    second.num_events = 1;
    second.events = &done1;
    second.event = &done2;
    st = e->call(&second);
    cr_assert_eq(st, CLSM_SUCCESS, "%s, second call: %s", what, clsm_status_string(st));
    cr_assert_eq(clEnqueueReadBuffer(out_of_order, b2, CL_FALSE, 0, bytes, y2, 1, &done2,
                                     &reads[0]),
                 CL_SUCCESS);
    cr_assert_eq(clEnqueueMarkerWithWaitList(out_of_order, 1, &done1, &reads[1]), CL_SUCCESS);
    cr_assert_eq(clWaitForEvents(2, reads), CL_SUCCESS, "%s", what);
    unstage(&staged, e, k, y1, what);
    const ts_data next = {op2, CLSM_F32, k->data.shape, 2.0f, NULL, {y1, k->in[1]}, NULL};
    ts_report r = ts_check_result(e, &next, y2);
    cr_assert(r.ok, "%s, second call: %s", what, r.msg);
    for (size_t i = 0; i < 2; i++)
        clReleaseEvent(reads[i]);
    clReleaseEvent(done2);
    clReleaseEvent(done1);
    clReleaseMemObject(b2);
    free(y2);
}

Test(events, out_of_order_queue_follows_the_events)
{
    if (!out_of_order)
        cr_skip_test("the device has no out-of-order queues");
    each_call(out_of_order, true, CLSM_SOFTMAX, (clsm_shape){8, 4099, 1}, 81, chained_by_events);
}

/* ---- the caller's queue ---- */

Test(queues, caller_may_release_its_queue_and_context_right_away)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    ts_cl_close(&cl);
    const clsm_shape s = {3, 300, 2};
    const size_t bytes = ts_count(s) * 4;
    void *out = ts_malloc(bytes);
    TS_FOR_EACH_ENTRY(e)
    {
        call k;
        make_call(&k, e, CLSM_SOFTMAX, s, 79);
        ts_run_checked(e, ctx, &k.data, out, "after the caller released its queue");
        free_call(&k);
    }
    clsm_context_release(ctx);
    free(out);
}

Test(queues, release_returns_every_reference_to_the_queue)
{
    ts_cl cl;
    ts_cl_open(&cl, 0);
    cl_uint before = 0, after = 0;
    clGetCommandQueueInfo(cl.queue, CL_QUEUE_REFERENCE_COUNT, sizeof before, &before, NULL);
    clsm_context *ctx = create_on_queue(NULL, cl.queue);
    const clsm_shape s = {2, 100, 1};
    float out[200];
    TS_FOR_EACH_ENTRY(e)
    {
        call k;
        make_call(&k, e, CLSM_SOFTMAX, s, 80);
        ts_run_checked(e, ctx, &k.data, out, "on the caller's queue");
        free_call(&k);
    }
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

/* The context's own queue takes buffers of its OpenCL context, at offset 0 too. */
Test(queues, default_context_queue_serves_buffers_at_zero_offsets)
{
    clsm_context *ctx = NULL;
    clsm_status st = ts_context_create_family(&ctx, NULL);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    cl_context c = ts_cl_context_of(ctx);
    const clsm_shape s = {2, 1000, 3};
    const size_t n = ts_count(s);
    TS_FOR_EACH_ENTRY(e)
    {
        if (!e->buffers)
            continue;
        call k;
        make_call(&k, e, CLSM_LOG_SOFTMAX, s, 82);
        /* The options and sampling's tensors stay on the host here: the plain call. */
        k.data.options = NULL;
        ts_sampling scalars;
        ts_sampling_make(&scalars, CLSM_F32, k.data.shape.outer, false, 83);
        if (e->sample)
            k.data.sampling = &scalars.s;
        cl_mem in0 = ts_cl_buffer(c, CL_MEM_READ_ONLY, n * 4, k.in[0]);
        cl_mem in1 = ts_cl_buffer(c, CL_MEM_READ_ONLY, n * 4, k.in[1]);
        cl_mem out = ts_cl_sentinel_buffer(c, CL_MEM_READ_WRITE, n * 4);
        const ts_args a = {.ctx = ctx, .op = k.data.op, .dtype = CLSM_F32,
                           .shape = k.data.shape, .scale = 1, .in_buffer = {in0, in1},
                           .out_buffer = out, .sampling = k.data.sampling};
        st = e->call(&a);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", e->name, clsm_status_string(st));
        float *got = ts_alloc(CLSM_F32, n);
        ts_cl_read(clsm_context_queue(ctx), out, 0, ts_output_bytes(e, &k.data), got);
        ts_report r = ts_check_result(e, &k.data, got);
        cr_assert(r.ok, "%s: %s", e->name, r.msg);
        free(got);
        clReleaseMemObject(out);
        clReleaseMemObject(in1);
        clReleaseMemObject(in0);
        ts_sampling_free(&scalars);
        free_call(&k);
    }
    clsm_context_release(ctx);
}
