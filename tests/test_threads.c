/* Several threads share one context, taking turns over every entry point (the table in entries.h) with mixed shapes, dtypes and ops, each checking its own results, and give the serial runs' bytes (sampling: its tokens); contexts come and go concurrently. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "entries.h"
#include "support.h"

TestSuite(threads, .init = ts_open_all, .fini = ts_close_all);

#define N_THREADS 4
#define ITERATIONS 24
#define STRESS_THREADS 16

static const float scales[] = {1.0f, 0.5f, -1.0f};

/* A call's data on the heap: its inputs and, for the _ex entries, every option its shape
 * allows; for sampling, its sampling struct. */
typedef struct call {
    const ts_entry *entry;
    ts_data data;
    ts_options options;
    ts_sampling sampling;
    void *in[3];
} call;

/* The _ex entries take F32 and BF16 only: their fused programs are compiled per family,
 * dtype and op, and the storage types only change loads and stores (test_dtypes). Sampling
 * takes rows ([outer, axis, 1]): half its calls every per-row tensor with those options, half
 * the scalars without any, in any dtype. */
static void make_call(call *c, ts_rng *r, size_t index)
{
    memset(c, 0, sizeof *c);
    c->entry = &ts_entries[index % TS_ENTRIES];
    const bool per_row = c->entry->sample && ts_rng_below(r, 2);
    const bool options = c->entry->options && (!c->entry->sample || per_row);
    clsm_dtype dtype = ts_dtypes[ts_rng_below(r, TS_DTYPES)];
    if (options && dtype != CLSM_F32)
        dtype = CLSM_BF16;
    const clsm_op op = (clsm_op)ts_rng_below(r, 2);
    clsm_shape s = {1 + ts_rng_below(r, 6), 1 + ts_rng_below(r, 3000), 1 + ts_rng_below(r, 4)};
    if (c->entry->sample)
        s.inner = 1;
    const size_t n = ts_count(s);
    const double range = dtype == CLSM_F16 || dtype == CLSM_BF16 ? 4 : 10;
    for (int k = 0; k < 3; k++)
        c->in[k] = malloc(n * ts_dtype_size(dtype) + 1);
    if (c->in[0] && c->in[1] && c->in[2]) {
        ts_fill_uniform(r, dtype, c->in[0], n, -range, range);
        ts_fill_uniform(r, dtype, c->in[1], n, -1, 1);
        ts_fill_uniform(r, dtype, c->in[2], n, -range, range);
    }
    if (options)
        ts_options_make(&c->options, c->entry, dtype, s, ts_rng_next(r));
    if (c->entry->sample)
        ts_sampling_make(&c->sampling, dtype, s.outer, per_row, ts_rng_next(r));
    c->data = (ts_data){op, dtype, s, scales[ts_rng_below(r, 3)],
                        options ? &c->options.o : NULL, {c->in[0], c->in[1], c->in[2]},
                        c->entry->sample ? &c->sampling.s : NULL};
}

static void free_call(call *c)
{
    ts_sampling_free(&c->sampling);
    ts_options_free(&c->options);
    free(c->in[2]);
    free(c->in[1]);
    free(c->in[0]);
}

static void describe(char *buf, size_t size, const call *c)
{
    ts_describe(buf, size, c->entry->name, c->data.op, c->data.dtype, c->data.shape,
                c->data.scale);
}

typedef struct job {
    clsm_context *ctx;
    uint64_t seed;
    /* Written by the worker: Criterion's assertions may only run on the main thread. */
    int ok;
    char msg[768];
} job;

/* Each iteration the next entry point, on a call checked against the reference. */
static void *worker(void *arg)
{
    job *j = arg;
    ts_rng r = ts_rng_seed(j->seed);
    j->ok = 1;
    for (int it = 0; it < ITERATIONS && j->ok; it++) {
        call c;
        make_call(&c, &r, (size_t)it + j->seed);
        char what[200];
        describe(what, sizeof what, &c);
        void *out = malloc(ts_output_bytes(c.entry, &c.data) + 1);
        ts_report rep = {false, "out of host memory"};
        clsm_status st = CLSM_SUCCESS;
        if (out && c.in[0] && c.in[1] && c.in[2] && (!c.data.options || c.options.stats))
            rep = ts_run(c.entry, j->ctx, &c.data, TS_APART, out, &st);
        if (rep.ok && st != CLSM_SUCCESS)
            snprintf(rep.msg, sizeof rep.msg, "%s", clsm_status_string(st));
        else if (rep.ok)
            rep = ts_check_result(c.entry, &c.data, out);
        if (!rep.ok || st != CLSM_SUCCESS) {
            j->ok = 0;
            snprintf(j->msg, sizeof j->msg, "iteration %d, %s: %s", it, what, rep.msg);
        }
        free(out);
        free_call(&c);
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
 * Stress: many threads, many calls, one context. A fixed set of jobs over every entry point
 * is first run serially; every threaded run of a job must then give the same bytes (sampling:
 * tokens and log-probabilities), so a race that mixes up arguments, buffers or kernels between
 * calls cannot hide behind tolerances.
 */
#define STRESS_CALLS 500
#define STRESS_JOBS 48

/* stats: the statistics, or sampling's log-probabilities. */
typedef struct stress_job {
    call call;
    void *want, *want_stats;
    size_t bytes, stats_bytes;
} stress_job;

static stress_job stress_jobs[STRESS_JOBS];

typedef struct stress_thread {
    clsm_context *ctx;
    uint64_t seed;
    int ok;
    char msg[768];
} stress_thread;


/* A job's run into out and, where its options or sampling ask for them, its statistics or
 * log-probabilities into stats: threads share the job, so each run gets options (a sampling
 * struct) of its own that point there. */
static ts_report stress_run(clsm_context *ctx, const stress_job *j, void *out, void *stats)
{
    clsm_options o = j->call.options.o;
    if (o.stats_out.host)
        o.stats_out.host = stats;
    clsm_sampling s = j->call.sampling.s;
    if (s.logprobs.host)
        s.logprobs.host = stats;
    ts_data d = j->call.data;
    if (d.options)
        d.options = &o;
    if (d.sampling)
        d.sampling = &s;
    clsm_status st;
    ts_report r = ts_run(j->call.entry, ctx, &d, TS_APART, out, &st);
    if (r.ok && st != CLSM_SUCCESS) {
        r.ok = false;
        snprintf(r.msg, sizeof r.msg, "%s", clsm_status_string(st));
    }
    return r;
}

static void *stress_worker(void *arg)
{
    stress_thread *t = arg;
    ts_rng r = ts_rng_seed(t->seed);
    t->ok = 1;
    for (int n = 0; n < STRESS_CALLS && t->ok; n++) {
        size_t k = ts_rng_below(&r, STRESS_JOBS);
        const stress_job *j = &stress_jobs[k];
        void *y = malloc(j->bytes + 1), *stats = malloc(j->stats_bytes + 1);
        ts_report rep = {false, "out of host memory"};
        if (y && stats)
            rep = stress_run(t->ctx, j, y, stats);
        if (rep.ok && memcmp(y, j->want, j->bytes) != 0)
            rep = (ts_report){false, "the result differs from the serial run"};
        if (rep.ok && memcmp(stats, j->want_stats, j->stats_bytes) != 0)
            rep = (ts_report){false, "the statistics differ from the serial run"};
        if (!rep.ok) {
            char what[200];
            describe(what, sizeof what, &j->call);
            snprintf(t->msg, sizeof t->msg, "call %d, job %zu, %s: %s", n, k, what, rep.msg);
            t->ok = 0;
        }
        free(stats);
        free(y);
    }
    return NULL;
}

Test(threads_stress, sixteen_threads_match_serial_results_bitwise)
{
    clsm_context *ctx;
    cr_assert_eq(ts_context_create_family(&ctx, NULL), CLSM_SUCCESS);
    ts_rng r = ts_rng_seed(77);
    for (size_t k = 0; k < STRESS_JOBS; k++) {
        stress_job *j = &stress_jobs[k];
        make_call(&j->call, &r, k);
        /* A NaN here and there, so that NaN outputs must come out the same too. */
        const size_t n = ts_count(j->call.data.shape);
        if (k % 5 == 0)
            ts_store(j->call.data.dtype, j->call.in[0], n / 2, NAN);
        j->bytes = ts_output_bytes(j->call.entry, &j->call.data);
        const size_t real = ts_dtype_size(ts_stats_dtype(j->call.data.dtype));
        j->stats_bytes = j->call.options.o.stats_out.host
                             ? 2 * j->call.data.shape.outer * j->call.data.shape.inner * real
                         : j->call.sampling.s.logprobs.host ? j->call.data.shape.outer * real
                                                            : 0;
        j->want = ts_malloc(j->bytes);
        j->want_stats = ts_malloc(j->stats_bytes);
        ts_report rep = stress_run(ctx, j, j->want, j->want_stats);
        cr_assert(rep.ok, "serial job %zu (%s): %s", k, j->call.entry->name, rep.msg);
        if (j->call.entry->sample) {
            /* Sampling's serial tokens are checked here, once, so that the threaded runs
             * compare with right ones. */
            clsm_sampling s = j->call.sampling.s;
            if (s.logprobs.host)
                s.logprobs.host = j->want_stats;
            ts_data d = j->call.data;
            d.sampling = &s;
            rep = ts_check_result(j->call.entry, &d, j->want);
            cr_assert(rep.ok, "serial job %zu (%s): %s", k, j->call.entry->name, rep.msg);
        }
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
        free_call(&stress_jobs[k].call);
        free(stress_jobs[k].want);
        free(stress_jobs[k].want_stats);
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
