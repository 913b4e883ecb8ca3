/* The sampling table: clsm_sample_buffers on realistic logits against the copy roofline, each token checked against an f64 kept set. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "measure.h"
#include "opencl.h"
#include "report_sampling.h"
#include "sampling.h"

typedef struct sampling_shape {
    size_t rows, vocab;
} sampling_shape;

/* Decoding one sequence and a batch of 64 at Llama 3's vocabulary, and a batch of 256 at
 * Llama 2's. */
static const sampling_shape full_shapes[] = {{1, 128256}, {64, 128256}, {256, 32000}};
static const sampling_shape quick_shapes[] = {{1, 32000}, {4, 32000}, {16, 4096}};

static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16};

typedef struct sampling_case {
    const char *name;
    float temperature;
    uint32_t top_k;
    float top_p, min_p;
} sampling_case;

enum { CASES = 4 };
static const sampling_case cases[CASES] = {
    {"greedy", 0.0f, 0, 0.0f, 0.0f},
    {"T=1", 1.0f, 0, 0.0f, 0.0f},
    {"top_k=50 top_p=0.9", 1.0f, 50, 0.9f, 0.0f},
    {"min_p=0.05", 1.0f, 0, 0.0f, 0.05f},
};

/* Every case draws with the same key, so that a run repeats the last one's tokens. */
#define SAMPLING_SEED 20240601u

/* The first row, the last and two between. */
enum { CHECKED_ROWS = 4 };

/* The library weighs entries in f32; the f64 kept set's top-p and min-p boundaries are moved
 * outwards by this much, relative, so that an entry f32 keeps and f64 drops by a rounding
 * does not fail the check. */
#define SLACK 1e-6

/* A language model's next-token logits: a bulk N(0, 2^2), and OUTLIERS candidates a row in
 * [10, 18), above the bulk's largest (about 9 in 128256 entries), so that top-p and min-p keep
 * a few entries and not one or thousands. */
enum { OUTLIERS = 8 };
#define SIGMA 2.0
#define OUTLIER_LOW 10.0
#define OUTLIER_SPAN 8.0
#define LOGITS_SEED 0x2545F4914F6CDD1Du
#define TWO_PI 6.283185307179586

/* xorshift64, as bench/input.c: the same logits with every C library. */
static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double uniform(uint64_t *s)
{
    return (double)(xorshift(s) >> 11) * 0x1p-53;
}

static void fill_logits(float *x, size_t rows, size_t vocab)
{
    uint64_t s = LOGITS_SEED;
    size_t n = rows * vocab;
    /* Box-Muller: two normal values from two uniform ones. */
    for (size_t i = 0; i < n; i += 2) {
        double r = SIGMA * sqrt(-2.0 * log(1.0 - uniform(&s))), a = TWO_PI * uniform(&s);
        x[i] = (float)(r * cos(a));
        if (i + 1 < n)
            x[i + 1] = (float)(r * sin(a));
    }
    for (size_t row = 0; row < rows; row++)
        for (int k = 0; k < OUTLIERS; k++)
            x[row * vocab + xorshift(&s) % vocab] =
                (float)(OUTLIER_LOW + OUTLIER_SPAN * uniform(&s));
}

/* f's nearest f16 bits (ties to even), for values well inside f16's range, as logits are. */
static uint16_t f16_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    uint16_t sign = (uint16_t)(b >> 16 & 0x8000u);
    float a = fabsf(f);
    /* Subnormal: a multiple of 2^-24; rounding up to 2^-14 gives the first normal's bits. */
    if (a < 0x1p-14f)
        return (uint16_t)(sign | (uint16_t)nearbyintf(a * 0x1p24f));
    uint32_t m = b & 0x7fffffu, h = ((b >> 23 & 0xffu) - 112u) << 10 | m >> 13, rest = m & 0x1fffu;
    h += rest > 0x1000u || (rest == 0x1000u && (h & 1u));
    return (uint16_t)(sign | h);
}

static float f32_of_f16(uint16_t h)
{
    int e = h >> 10 & 0x1f, m = h & 0x3ff;
    float a = e ? ldexpf((float)(m | 0x400), e - 25) : ldexpf((float)m, -24);
    return (h & 0x8000u) ? -a : a;
}

/* One shape in one dtype, on the host and the device. */
typedef struct shape_data {
    clsm_dtype dtype;
    size_t rows, vocab, bytes;
    float *hx;      /* the logits as the device reads them (f16's rounded), for the check */
    uint16_t *half; /* F16: hx's bits, uploaded */
    int32_t *tokens;
    cl_mem x, scratch, token_buffers[CASES]; /* scratch: the copy roofline's destination */
} shape_data;

static void shape_release(shape_data *d)
{
    for (int c = 0; c < CASES; c++)
        if (d->token_buffers[c])
            clReleaseMemObject(d->token_buffers[c]);
    if (d->scratch)
        clReleaseMemObject(d->scratch);
    if (d->x)
        clReleaseMemObject(d->x);
    free(d->tokens);
    free(d->half);
    free(d->hx);
}

/* Logits on the host and the device, a token buffer per case; 0, or -1 after saying why (with
 * what was made left in *d for shape_release). */
static int shape_create(cl_context clctx, cl_command_queue queue, sampling_shape s,
                        clsm_dtype dtype, shape_data *d)
{
    size_t n = s.rows * s.vocab;
    *d = (shape_data){.dtype = dtype, .rows = s.rows, .vocab = s.vocab};
    d->bytes = n * (dtype == CLSM_F16 ? sizeof *d->half : sizeof *d->hx);
    d->hx = malloc(n * sizeof *d->hx);
    d->tokens = malloc(s.rows * sizeof *d->tokens);
    if (dtype == CLSM_F16)
        d->half = malloc(n * sizeof *d->half);
    if (!d->hx || !d->tokens || (dtype == CLSM_F16 && !d->half)) {
        fprintf(stderr, "clsoftmax-bench: out of host memory for %zu logits\n", n);
        return -1;
    }
    fill_logits(d->hx, s.rows, s.vocab);
    if (dtype == CLSM_F16)
        for (size_t i = 0; i < n; i++) {
            d->half[i] = f16_of(d->hx[i]);
            d->hx[i] = f32_of_f16(d->half[i]);
        }
    d->x = bench_buffer(clctx, queue, dtype == CLSM_F16 ? (const void *)d->half : d->hx,
                        d->bytes);
    d->scratch = d->x ? bench_buffer(clctx, queue, NULL, d->bytes) : NULL;
    if (!d->scratch)
        return -1;
    for (int c = 0; c < CASES; c++)
        if (!(d->token_buffers[c] =
                  bench_buffer(clctx, queue, NULL, s.rows * sizeof *d->tokens)))
            return -1;
    return 0;
}

typedef struct sample_job {
    clsm_context *ctx;
    const shape_data *d;
    clsm_sampling sampling;
    cl_mem tokens;
} sample_job;

/* Enqueue once and wait, as the other tables' runs do. */
static int sample_once(void *arg)
{
    const sample_job *j = arg;
    cl_event ev = NULL;
    clsm_status st = clsm_sample_buffers(j->ctx, j->d->dtype, j->d->rows, j->d->vocab, 1.0, NULL,
                                         &j->sampling, j->d->x, 0, j->tokens, 0, 0, NULL, &ev);
    if (st != CLSM_SUCCESS)
        return bench_clsm_error(j->ctx, "clsm_sample_buffers", st);
    cl_int err = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? 0 : bench_cl_error("clWaitForEvents", err);
}

typedef struct entry {
    double u;
    int32_t j;
} entry;

/* u descending, then j ascending: the order of the sampling contract. */
static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->u != y->u)
        return x->u < y->u ? 1 : -1;
    return (x->j > y->j) - (x->j < y->j);
}

/* The f64 kept set of one row of finite logits is a prefix of their order; *kept gets its
 * length, and the result is whether token lies in it (greedy: is the smallest index of the
 * max). order has room for vocab entries. */
static int token_kept(const float *u, size_t vocab, const sampling_case *c, int32_t token,
                      entry *order, size_t *kept)
{
    if (token < 0 || (size_t)token >= vocab)
        return 0;
    if (c->temperature == 0.0f) {
        size_t arg = 0;
        for (size_t j = 1; j < vocab; j++)
            if (u[j] > u[arg])
                arg = j;
        *kept = 1;
        return (size_t)token == arg;
    }
    for (size_t j = 0; j < vocab; j++)
        order[j] = (entry){u[j], (int32_t)j};
    qsort(order, vocab, sizeof *order, cmp_entry);
    size_t len = c->top_k > 0 && c->top_k < vocab ? c->top_k : vocab;
    double mass = 0.0;
    for (size_t i = 0; i < len; i++)
        mass += exp((order[i].u - order[0].u) / c->temperature);
    if (c->top_p > 0.0f && c->top_p < 1.0f) {
        double goal = c->top_p * (1.0 + SLACK) * mass, run = 0.0;
        size_t top_k_len = len;
        for (len = 0; len < top_k_len && run < goal; len++)
            run += exp((order[len].u - order[0].u) / c->temperature);
    }
    while (len > 1 && exp((order[len - 1].u - order[0].u) / c->temperature) <
                          c->min_p * (1.0 - SLACK))
        len--;
    *kept = len;
    for (size_t i = 0; i < len; i++)
        if (order[i].j == token)
            return 1;
    return 0;
}

/* Reads one case's tokens back and checks CHECKED_ROWS rows of them into row. */
static int check_case(cl_command_queue queue, const shape_data *d, int c, entry *order,
                      sampling_row *row)
{
    cl_int err = clEnqueueReadBuffer(queue, d->token_buffers[c], CL_TRUE, 0,
                                     d->rows * sizeof *d->tokens, d->tokens, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return bench_cl_error("clEnqueueReadBuffer", err);
    row->kept_min = SIZE_MAX;
    for (size_t i = 0; i < CHECKED_ROWS; i++) {
        size_t r = i * (d->rows - 1) / (CHECKED_ROWS - 1), kept = 0;
        /* Rows repeat where there are fewer than CHECKED_ROWS. */
        if (i > 0 && r == (i - 1) * (d->rows - 1) / (CHECKED_ROWS - 1))
            continue;
        row->checked++;
        if (!token_kept(d->hx + r * d->vocab, d->vocab, &cases[c], d->tokens[r], order, &kept))
            row->bad++;
        row->kept_min = kept < row->kept_min ? kept : row->kept_min;
        row->kept_max = kept > row->kept_max ? kept : row->kept_max;
    }
    return 0;
}

/* Times the cases in turns on one shape and dtype, into token buffers filled with -2 (no
 * token the library writes), then checks what the timed runs left there and prints a row for
 * each case. */
static int run_shape(clsm_context *ctx, const copy_kernels *copy, report_run *run,
                     const shape_data *d, entry *order)
{
    cl_command_queue queue = clsm_context_queue(ctx);
    sample_job jobs[CASES];
    void *args[CASES];
    double seconds[CASES], copy_seconds;
    const char *copy_method;
    const cl_int sentinel = -2;
    /* The copy kernels move floats; every vocab here is even, so f16 logits fill whole ones. */
    if (copy_roofline(copy, queue, d->x, d->scratch, d->bytes / sizeof(float), run->reps,
                      &copy_seconds, &copy_method) != 0)
        return -1;
    for (int c = 0; c < CASES; c++) {
        clsm_sampling s = CLSM_SAMPLING_INIT;
        s.temperature = cases[c].temperature;
        s.top_k = cases[c].top_k;
        s.top_p = cases[c].top_p;
        s.min_p = cases[c].min_p;
        s.seed = SAMPLING_SEED;
        jobs[c] = (sample_job){ctx, d, s, d->token_buffers[c]};
        args[c] = &jobs[c];
        cl_int err = clEnqueueFillBuffer(queue, d->token_buffers[c], &sentinel, sizeof sentinel,
                                         0, d->rows * sizeof sentinel, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            return bench_cl_error("clEnqueueFillBuffer", err);
    }
    if (measure_medians(sample_once, args, CASES, run->reps, seconds) != 0)
        return -1;
    int failed = 0;
    for (int c = 0; c < CASES; c++) {
        sampling_row row = {.dtype = d->dtype,
                            .rows = d->rows,
                            .vocab = d->vocab,
                            .name = cases[c].name,
                            .temperature = cases[c].temperature,
                            .top_k = cases[c].top_k,
                            .top_p = cases[c].top_p,
                            .min_p = cases[c].min_p,
                            .seconds = seconds[c],
                            .gbs = (double)d->bytes / seconds[c] * 1e-9,
                            .copy_gbs = 2.0 * (double)d->bytes / copy_seconds * 1e-9,
                            .copy_method = copy_method};
        if (check_case(queue, d, c, order, &row) != 0)
            return -1;
        report_sampling_row(run, &row);
        if (row.bad)
            failed = 1;
    }
    return failed;
}

int sampling_table(clsm_context *ctx, cl_context clctx, const copy_kernels *copy, report_run *run,
                   int quick)
{
    const sampling_shape *shapes = quick ? quick_shapes : full_shapes;
    size_t count = quick ? sizeof quick_shapes / sizeof *quick_shapes
                         : sizeof full_shapes / sizeof *full_shapes, longest = 0;
    for (size_t i = 0; i < count; i++)
        longest = shapes[i].vocab > longest ? shapes[i].vocab : longest;
    entry *order = malloc(longest * sizeof *order);
    if (!order) {
        fprintf(stderr, "clsoftmax-bench: out of host memory for %zu entries\n", longest);
        return -1;
    }
    int failed = 0;
    report_sampling_begin(run);
    for (size_t i = 0; i < count && failed >= 0; i++)
        for (size_t t = 0; t < sizeof dtypes / sizeof *dtypes && failed >= 0; t++) {
            shape_data d;
            int r = shape_create(clctx, clsm_context_queue(ctx), shapes[i], dtypes[t], &d);
            if (r == 0)
                r = run_shape(ctx, copy, run, &d, order);
            shape_release(&d);
            failed = r < 0 ? -1 : failed | r;
        }
    free(order);
    return failed;
}
