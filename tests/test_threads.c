/* Several threads share one context, mixing shapes, dtypes, ops and both paths, each checking its own results; contexts come and go concurrently. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "reference.h"
#include "support.h"

TestSuite(threads, .init = ts_open_all, .fini = ts_close_all);

#define N_THREADS 4
#define ITERATIONS 24
#define STRESS_THREADS 16

typedef struct job {
    clsm_context *ctx;
    uint64_t seed;
    /* Written by the worker: Criterion's assertions may only run on the main thread. */
    int ok;
    char msg[768];
} job;

static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
static const float scales[] = {1.0f, 0.5f, -1.0f};

/* Runs the buffers path through the context's own queue; returns a failure message or NULL. */
static const char *run_buffers(clsm_context *ctx, clsm_op op, clsm_dtype dtype, clsm_shape s,
                               float scale, const void *x, void *y)
{
    const size_t bytes = ts_count(s) * ts_dtype_size(dtype);
    cl_command_queue q = clsm_context_queue(ctx);
    cl_context clc;
    if (clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof clc, &clc, NULL) != CL_SUCCESS)
        return "clGetCommandQueueInfo failed";
    cl_int ex, ey;
    cl_mem xb = clCreateBuffer(clc, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, (void *)x, &ex);
    cl_mem yb = clCreateBuffer(clc, CL_MEM_WRITE_ONLY, bytes, NULL, &ey);
    const char *fail = NULL;
    cl_event done = NULL;
    if (ex != CL_SUCCESS || ey != CL_SUCCESS)
        fail = "clCreateBuffer failed";
    else if (clsm_softmax_buffers(ctx, op, dtype, s, scale, xb, 0, yb, 0, 0, NULL, &done) !=
             CLSM_SUCCESS)
        fail = "clsm_softmax_buffers failed";
    else if (clWaitForEvents(1, &done) != CL_SUCCESS)
        fail = "waiting for the returned event failed";
    else if (clEnqueueReadBuffer(q, yb, CL_TRUE, 0, bytes, y, 0, NULL, NULL) != CL_SUCCESS)
        fail = "reading y failed";
    if (done != NULL)
        clReleaseEvent(done);
    if (yb != NULL)
        clReleaseMemObject(yb);
    if (xb != NULL)
        clReleaseMemObject(xb);
    return fail;
}

static void *worker(void *arg)
{
    job *j = arg;
    ts_rng r = ts_rng_seed(j->seed);
    j->ok = 1;
    for (int it = 0; it < ITERATIONS && j->ok; it++) {
        const clsm_dtype dtype = dtypes[ts_rng_below(&r, 4)];
        const clsm_op op = (clsm_op)ts_rng_below(&r, 2);
        const clsm_shape s = {1 + ts_rng_below(&r, 6), 1 + ts_rng_below(&r, 3000),
                              1 + ts_rng_below(&r, 4)};
        const float scale = scales[ts_rng_below(&r, 3)];
        const int use_buffers = it % 2;
        const size_t n = ts_count(s);
        const double range = dtype == CLSM_F16 || dtype == CLSM_BF16 ? 4 : 10;

        char what[160];
        ts_describe(what, sizeof what, use_buffers ? "buffers" : "host", op, dtype, s, scale);
        void *x = malloc(n * ts_dtype_size(dtype)), *y = malloc(n * ts_dtype_size(dtype));
        double *ref = malloc(n * sizeof *ref);
        const char *fail = NULL;
        if (x == NULL || y == NULL || ref == NULL) {
            fail = "out of host memory";
        } else {
            ts_fill_uniform(&r, dtype, x, n, -range, range);
            if (use_buffers)
                fail = run_buffers(j->ctx, op, dtype, s, scale, x, y);
            else if (clsm_softmax_host(j->ctx, op, dtype, s, scale, x, y) != CLSM_SUCCESS)
                fail = "clsm_softmax_host failed";
        }
        if (fail != NULL) {
            j->ok = 0;
            snprintf(j->msg, sizeof j->msg, "iteration %d, %s: %s", it, what, fail);
        } else {
            ref_softmax(op, dtype, s, scale, x, ref);
            ts_report rep = ts_check(op, dtype, s, y, ref);
            if (!rep.ok) {
                j->ok = 0;
                snprintf(j->msg, sizeof j->msg, "iteration %d, %s: %s", it, what, rep.msg);
            }
        }
        free(ref);
        free(y);
        free(x);
    }
    return NULL;
}

Test(threads, four_threads_share_one_context)
{
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        pthread_t tid[N_THREADS];
        job jobs[N_THREADS];
        for (size_t t = 0; t < N_THREADS; t++) {
            jobs[t] = (job){ts_ctx[c], 1000 * (c + 1) + t, 0, ""};
            cr_assert_eq(pthread_create(&tid[t], NULL, worker, &jobs[t]), 0);
        }
        for (size_t t = 0; t < N_THREADS; t++)
            cr_assert_eq(pthread_join(tid[t], NULL), 0);
        for (size_t t = 0; t < N_THREADS; t++)
            cr_assert(jobs[t].ok, "%s context, thread %zu: %s", ts_config_name(c), t,
                      jobs[t].msg);
    }
}

/* Each thread makes its own context, uses it and releases it, all at once in a process
 * that has not touched OpenCL yet. */
static void *create_use_release(void *arg)
{
    job *j = arg;
    clsm_context *ctx;
    clsm_status st = clsm_context_create(&ctx);
    if (st != CLSM_SUCCESS) {
        snprintf(j->msg, sizeof j->msg, "clsm_context_create: %s", clsm_status_string(st));
        return NULL;
    }
    float x[3] = {1, 2, 3}, y[3];
    clsm_shape s = {1, 3, 1};
    st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, s, 1.0f, x, y);
    clsm_context_release(ctx);
    if (st != CLSM_SUCCESS)
        snprintf(j->msg, sizeof j->msg, "clsm_softmax_host: %s", clsm_status_string(st));
    else
        j->ok = y[2] > y[1] && y[1] > y[0];
    return NULL;
}

/* Runs fn on n threads at once, each with a job of its own, and checks every job. */
static void run_context_jobs(size_t n, void *(*fn)(void *))
{
    pthread_t tid[STRESS_THREADS];
    job jobs[STRESS_THREADS];
    cr_assert_leq(n, STRESS_THREADS);
    for (size_t t = 0; t < n; t++) {
        jobs[t] = (job){NULL, t, 0, ""};
        cr_assert_eq(pthread_create(&tid[t], NULL, fn, &jobs[t]), 0);
    }
    for (size_t t = 0; t < n; t++)
        cr_assert_eq(pthread_join(tid[t], NULL), 0);
    for (size_t t = 0; t < n; t++)
        cr_assert(jobs[t].ok, "thread %zu: %s", t, jobs[t].msg);
}

Test(threads_fresh, four_threads_create_contexts_at_once)
{
    run_context_jobs(N_THREADS, create_use_release);
}

/*
 * Stress: many threads, many calls, one context. A fixed set of jobs is first run
 * serially; every threaded run of a job must then give the same bytes, so a race that
 * mixes up arguments, buffers or kernels between calls cannot hide behind tolerances.
 */
#define STRESS_CALLS 500
#define STRESS_JOBS 48

typedef struct stress_job {
    clsm_op op;
    clsm_dtype dtype;
    clsm_shape shape;
    float scale;
    void *x, *want;
} stress_job;

static stress_job stress_jobs[STRESS_JOBS];

typedef struct stress_thread {
    clsm_context *ctx;
    uint64_t seed;
    int ok;
    char msg[256];
} stress_thread;

static void *stress_worker(void *arg)
{
    stress_thread *t = arg;
    ts_rng r = ts_rng_seed(t->seed);
    t->ok = 1;
    for (int call = 0; call < STRESS_CALLS && t->ok; call++) {
        const stress_job *j = &stress_jobs[ts_rng_below(&r, STRESS_JOBS)];
        const size_t bytes = ts_count(j->shape) * ts_dtype_size(j->dtype);
        void *y = malloc(bytes);
        const char *fail = NULL;
        if (y == NULL)
            fail = "out of host memory";
        else if (call % 2)
            fail = run_buffers(t->ctx, j->op, j->dtype, j->shape, j->scale, j->x, y);
        else if (clsm_softmax_host(t->ctx, j->op, j->dtype, j->shape, j->scale, j->x, y) !=
                 CLSM_SUCCESS)
            fail = "clsm_softmax_host failed";
        if (fail == NULL && memcmp(y, j->want, bytes) != 0)
            fail = "the result differs from the serial run";
        if (fail != NULL) {
            char what[160];
            ts_describe(what, sizeof what, call % 2 ? "buffers" : "host", j->op, j->dtype,
                        j->shape, j->scale);
            snprintf(t->msg, sizeof t->msg, "call %d, %s: %s", call, what, fail);
            t->ok = 0;
        }
        free(y);
    }
    return NULL;
}

Test(threads_stress, sixteen_threads_match_serial_results_bitwise)
{
    clsm_context *ctx;
    cr_assert_eq(ts_context_create_family(&ctx, NULL), CLSM_SUCCESS);
    ts_rng r = ts_rng_seed(77);
    /* Shapes for each CPU family: rows, short rows in batches, strided columns, a few
     * strided ones, and a long row that is split. */
    const clsm_shape shapes[] = {{3, 100, 1}, {600, 7, 1}, {2, 50, 20}, {4, 30, 3},
                                 {1, 20000, 1}, {1, 1, 5}};
    for (size_t k = 0; k < STRESS_JOBS; k++) {
        stress_job *j = &stress_jobs[k];
        j->op = (clsm_op)(k % 2);
        j->dtype = dtypes[k / 2 % 4];
        j->shape = shapes[k / 8 % (sizeof shapes / sizeof shapes[0])];
        j->scale = scales[k % 3];
        const size_t n = ts_count(j->shape);
        j->x = ts_alloc(j->dtype, n);
        j->want = ts_alloc(j->dtype, n);
        ts_fill_uniform(&r, j->dtype, j->x, n, -6, 6);
        /* A NaN here and there, so that NaN outputs must come out the same too. */
        if (k % 5 == 0)
            ts_store(j->dtype, j->x, n / 2, NAN);
        clsm_status st = clsm_softmax_host(ctx, j->op, j->dtype, j->shape, j->scale, j->x, j->want);
        cr_assert_eq(st, CLSM_SUCCESS, "serial job %zu: %s", k, clsm_status_string(st));
    }
    pthread_t tid[STRESS_THREADS];
    stress_thread threads[STRESS_THREADS];
    for (size_t t = 0; t < STRESS_THREADS; t++) {
        threads[t] = (stress_thread){ctx, 500 + t, 0, ""};
        cr_assert_eq(pthread_create(&tid[t], NULL, stress_worker, &threads[t]), 0);
    }
    for (size_t t = 0; t < STRESS_THREADS; t++)
        cr_assert_eq(pthread_join(tid[t], NULL), 0);
    for (size_t t = 0; t < STRESS_THREADS; t++)
        cr_assert(threads[t].ok, "thread %zu: %s", t, threads[t].msg);
    for (size_t k = 0; k < STRESS_JOBS; k++) {
        free(stress_jobs[k].x);
        free(stress_jobs[k].want);
    }
    clsm_context_release(ctx);
}

/* Contexts made, used and released by many threads at once, while others use theirs. */
static void *contexts_come_and_go(void *arg)
{
    job *j = arg;
    for (int round = 0; round < 4; round++) {
        j->ok = 0;
        create_use_release(j);
        if (!j->ok)
            break;
    }
    return NULL;
}

Test(threads_stress, sixteen_threads_create_and_release_contexts)
{
    run_context_jobs(STRESS_THREADS, contexts_come_and_go);
}
