/*
 * The MPI companion's tests, a plain program run under mpirun with 1 to 4 ranks (Criterion
 * forks, which MPI does not allow). Every rank builds the same full rows from one seed, passes
 * its own shard of the columns, gathers the output shards (MPI_Allgatherv) and checks the
 * whole rows against the f64 reference of the unsharded call with the contract's bounds.
 * Every rank exits nonzero on any failure it sees; rank 0 prints a summary.
 */
#define _POSIX_C_SOURCE 200112L

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <clsoftmax_mpi.h>

#include "reference.h"
#include "checks.h"

static int rank, ranks; /* in comm */
static MPI_Comm comm;   /* the communicator of the calls: MPI_COMM_WORLD, or reversed */
static clsm_context *ctx;
static unsigned long checks, failures;
static char current[256]; /* the case being checked, for messages */

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "rank %d/%d: FAIL %s%s: %s\n", rank, ranks, current,
            comm == MPI_COMM_WORLD ? "" : " (reversed communicator)", msg);
    failures++;
}

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond))                                                                           \
            fail(__VA_ARGS__);                                                                 \
    } while (0)

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "rank %d: out of memory\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return p;
}

/* n seeded values uniform in [lo, hi]. */
static void *random_values(clsm_dtype dtype, size_t n, double lo, double hi, uint64_t seed)
{
    ts_rng r = ts_rng_seed(seed);
    void *x = xcalloc(n, ts_dtype_size(dtype));
    ts_fill_uniform(&r, dtype, x, n, lo, hi);
    return x;
}

static void mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        mkdir(path, 0777);
        *p = '/';
    }
    mkdir(path, 0777);
}

/*
 * POCL_CACHE_DIR and CLSM_CACHE_DIR, when set, become <base>/rank<k>: PoCL 3.1 races when
 * several processes compile into one cold cache. A rank's new cache starts as a copy of
 * rank 0's, when an earlier run (mpi_1) left one: the same kernels, compiled once instead of
 * once per rank. Called before any rank creates its context, so rank 0's is not being written.
 */
static void private_cache(const char *name)
{
    const char *base = getenv(name);
    if (!base || !*base)
        return;
    char path[4096], first[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/rank%d", base, rank);
    snprintf(first, sizeof first, "%s/rank0", base);
    int fresh = stat(path, &st) != 0;
    mkdirs(path);
    if (rank > 0 && fresh && stat(first, &st) == 0 && !strchr(base, '\'') &&
        strlen(path) + strlen(first) < 3000) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", first, path);
        if (system(cmd) != 0)
            fprintf(stderr, "rank %d: could not copy %s (compiling into an empty cache)\n", rank,
                    first);
    }
    setenv(name, path, 1);
}

/* ---- shards ---- */

/* How columns [0, n) are split: counts[r] and first[r] for every rank. */
typedef struct split {
    size_t n;
    size_t counts[64], first[64];
} split;

enum { UNEVEN, EMPTY_MIDDLE, EMPTY_FIRST, EVEN, NUM_SPLITS };

static const char *split_name(int kind)
{
    static const char *const names[] = {"uneven", "empty-middle", "empty-first", "even"};
    return names[kind];
}

/* Uneven weights 1, 2, 3, ... (the last rank takes the rest); EMPTY_MIDDLE empties rank 1
 * (the last of two ranks), EMPTY_FIRST rank 0; with one rank the one shard is the row. */
static split make_split(size_t n, int kind)
{
    split s = {.n = n};
    int empty = -1;
    if (ranks > 1 && kind == EMPTY_MIDDLE)
        empty = 1;
    if (ranks > 1 && kind == EMPTY_FIRST)
        empty = 0;
    size_t weight = 0;
    for (int r = 0; r < ranks; r++)
        if (r != empty)
            weight += kind == EVEN ? 1 : (size_t)r + 1;
    size_t left = n;
    int last = ranks - 1 == empty ? ranks - 2 : ranks - 1;
    for (int r = 0; r < ranks; r++) {
        size_t c = 0;
        if (r == last)
            c = left;
        else if (r != empty)
            c = n * (kind == EVEN ? 1 : (size_t)r + 1) / weight;
        s.counts[r] = c;
        left -= c;
    }
    for (int r = 1; r < ranks; r++)
        s.first[r] = s.first[r - 1] + s.counts[r - 1];
    return s;
}

/* The k-th column (modulo its count) of the k-th non-empty rank counted from `from`. */
static size_t column_on(const split *s, int from, size_t k)
{
    for (int i = 0; i < ranks; i++) {
        int r = (from + i) % ranks;
        if (s->counts[r])
            return s->first[r] + k % s->counts[r];
    }
    return 0;
}

/* Distinct non-empty ranks, as many as there are (for "+inf on two ranks"). */
static int nonempty_rank(const split *s, int k)
{
    int seen = 0;
    for (int r = 0; r < ranks; r++)
        if (s->counts[r] && seen++ == k)
            return r;
    return -1;
}

/* This rank's columns of full rows [outer, n] (elements of esize bytes). */
static void *take_shard(const split *s, size_t outer, size_t esize, const void *full)
{
    size_t c = s->counts[rank];
    unsigned char *out = xcalloc(outer * c, esize);
    for (size_t o = 0; o < outer; o++)
        memcpy(out + o * c * esize, (const unsigned char *)full + (o * s->n + s->first[rank]) * esize,
               c * esize);
    return out;
}

/* The full rows [outer, n] from every rank's output shard. */
static void *gather_rows(const split *s, size_t outer, size_t esize, const void *shard)
{
    int *counts = xcalloc((size_t)ranks, sizeof *counts);
    int *displs = xcalloc((size_t)ranks, sizeof *displs);
    size_t at = 0;
    for (int r = 0; r < ranks; r++) {
        counts[r] = (int)(outer * s->counts[r] * esize);
        displs[r] = (int)at;
        at += (size_t)counts[r];
    }
    unsigned char *packed = xcalloc(at, 1), *full = xcalloc(outer * s->n, esize);
    MPI_Allgatherv(shard, counts[rank], MPI_BYTE, packed, counts, displs, MPI_BYTE,
                   comm);
    for (int r = 0; r < ranks; r++)
        for (size_t o = 0; o < outer; o++)
            memcpy(full + (o * s->n + s->first[r]) * esize,
                   packed + displs[r] + o * s->counts[r] * esize, s->counts[r] * esize);
    free(packed);
    free(counts);
    free(displs);
    return full;
}

/* ---- data ---- */

static void put(clsm_dtype dtype, void *p, size_t i, double v)
{
    ts_store(dtype, p, i, v);
}

/* Rows of special values across the shards; row o of [outer >= 8, n]. */
static void plant_specials(clsm_dtype dtype, const split *s, void *x)
{
    size_t n = s->n;
    /* row 0: NaN on one rank (the last non-empty one) */
    put(dtype, x, 0 * n + column_on(s, ranks - 1, 1), NAN);
    /* row 1: +inf on two ranks (two columns of one rank when only one has columns) */
    int a = nonempty_rank(s, 0), b = nonempty_rank(s, 1);
    put(dtype, x, 1 * n + column_on(s, a, 0), INFINITY);
    put(dtype, x, 1 * n + (b >= 0 ? column_on(s, b, 2) : column_on(s, a, 2)), INFINITY);
    /* row 2: masked (-inf) on every rank */
    for (size_t j = 0; j < n; j++)
        put(dtype, x, 2 * n + j, -INFINITY);
    /* row 3: masked on all but one rank (the last non-empty one keeps its columns) */
    int keep = -1;
    for (int r = ranks - 1; r >= 0 && keep < 0; r--)
        if (s->counts[r])
            keep = r;
    for (size_t j = 0; j < n; j++)
        if (j < s->first[keep] || j >= s->first[keep] + s->counts[keep])
            put(dtype, x, 3 * n + j, -INFINITY);
    /* row 4: one finite entry, on rank 0's side, the rest -inf */
    for (size_t j = 0; j < n; j++)
        if (j != column_on(s, 0, 0))
            put(dtype, x, 4 * n + j, -INFINITY);
    /* row 5: +inf on one rank, -inf on another, NaN nowhere */
    put(dtype, x, 5 * n + column_on(s, ranks - 1, 0), INFINITY);
    put(dtype, x, 5 * n + column_on(s, 0, 1), -INFINITY);
    /* row 6: -inf and +inf in one column each of two ranks */
    put(dtype, x, 6 * n + column_on(s, 1, 0), -INFINITY);
    put(dtype, x, 6 * n + column_on(s, 0, 3), INFINITY);
    /* row 7 and later stay finite */
}

/* ---- the sharded softmax ---- */

typedef struct request {
    clsm_op op;
    clsm_dtype dtype;
    size_t outer, n;
    int split_kind;
    float scale;
    double lo, hi;
    int specials;
    int keep_mask;   /* a KEEP_U8 mask, with one row masked everywhere and one all but one rank */
    int add_mask;    /* an ADD_F32 mask */
    int causal;      /* causal over the whole row, causal_offset = n - outer, window */
    size_t window;
    int sinks;       /* two heads, one sink each */
    int shaped;      /* two heads, soft-capping and ALiBi (distances in global columns) */
    int kv;          /* batch entries of two heads and two rows, KV lengths across the shards;
                        2: lengths out of range too, clamped (buffers only) */
    int buffers;     /* the buffers entry point */
    uint64_t seed;
} request;

static void describe(const request *q)
{
    snprintf(current, sizeof current,
             "%s %s [%zu x %zu] %s scale=%g%s%s%s%s%s%s%s%s seed=%llu", ts_op_name(q->op),
             ts_dtype_name(q->dtype), q->outer, q->n, split_name(q->split_kind),
             (double)q->scale, q->specials ? " specials" : "", q->keep_mask ? " keep-mask" : "",
             q->add_mask ? " add-mask" : "", q->causal ? " causal" : "",
             q->sinks ? " sinks" : "", q->shaped ? " softcap alibi" : "",
             q->kv == 2 ? " kv-lengths-clamped" : q->kv ? " kv-lengths" : "",
             q->buffers ? " buffers" : "", (unsigned long long)q->seed);
}

static cl_context cl_of(clsm_context *c)
{
    cl_context cl = NULL;
    clGetCommandQueueInfo(clsm_context_queue(c), CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL);
    return cl;
}

static cl_mem buffer_of(size_t bytes, const void *host)
{
    cl_int err;
    cl_mem m = clCreateBuffer(cl_of(ctx),
                              CL_MEM_READ_WRITE | (host && bytes ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes ? bytes : 8, (void *)(bytes ? host : NULL), &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "rank %d: clCreateBuffer: %d\n", rank, err);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return m;
}

/* Runs one sharded call; returns its status, the output shard in *y_out (caller frees). */
static clsm_status run_sharded(const request *q, const split *s, const void *x_shard,
                               const clsm_options *opt, void **y_out)
{
    size_t esize = ts_dtype_size(q->dtype), c = s->counts[rank];
    size_t bytes = q->outer * c * esize;
    clsm_shape shape = {q->outer, c, 1};
    void *y = xcalloc(q->outer * c, esize);
    ts_fill_sentinel(y, bytes);
    clsm_status st;
    if (!q->buffers) {
        st = clsm_mpi_softmax_host(ctx, comm, q->op, q->dtype, shape, s->first[rank],
                                   q->scale, opt, x_shard, y);
    } else {
        /* Offsets of a few elements, and option tensors in buffers. */
        size_t pad = 3 * esize;
        unsigned char *xs = xcalloc(pad + bytes, 1);
        memcpy(xs + pad, x_shard, bytes);
        cl_mem xb = buffer_of(pad + bytes, xs), yb = buffer_of(pad + bytes, NULL);
        free(xs);
        clsm_options bo = CLSM_OPTIONS_INIT;
        cl_mem mb = NULL, sb = NULL, ab = NULL, kb = NULL;
        if (opt) {
            bo = *opt;
            bo.mask.host = bo.sinks.host = bo.alibi_slopes.host = bo.kv_lengths.host = NULL;
            if (opt->alibi_slopes.host) {
                ab = buffer_of(opt->heads * (q->dtype == CLSM_F64 ? 8 : 4),
                               opt->alibi_slopes.host);
                bo.alibi_slopes.buffer = ab;
            }
            if (opt->kv_lengths.host) {
                kb = buffer_of(opt->batch * sizeof(int32_t), opt->kv_lengths.host);
                bo.kv_lengths.buffer = kb;
            }
            if (opt->mask.host) {
                size_t mbytes = q->outer * c * (opt->mask_type == CLSM_MASK_KEEP_U8 ? 1 : 4);
                mb = buffer_of(mbytes, opt->mask.host);
                bo.mask.buffer = mb;
            }
            if (opt->sinks.host) {
                sb = buffer_of(2 * (q->dtype == CLSM_F64 ? 8 : 4), opt->sinks.host);
                bo.sinks.buffer = sb;
            }
        }
        st = clsm_mpi_softmax_buffers(ctx, comm, q->op, q->dtype, shape,
                                      s->first[rank], q->scale, opt ? &bo : NULL, xb, pad, yb,
                                      pad);
        /* Blocking: y is written once the call returns. */
        if (st == CLSM_SUCCESS && bytes)
            clEnqueueReadBuffer(clsm_context_queue(ctx), yb, CL_TRUE, pad, bytes, y, 0, NULL,
                                NULL);
        clReleaseMemObject(xb);
        clReleaseMemObject(yb);
        if (mb)
            clReleaseMemObject(mb);
        if (sb)
            clReleaseMemObject(sb);
        if (ab)
            clReleaseMemObject(ab);
        if (kb)
            clReleaseMemObject(kb);
    }
    *y_out = y;
    return st;
}

static void check_sharded(const request *q)
{
    describe(q);
    split s = make_split(q->n, q->split_kind);
    size_t esize = ts_dtype_size(q->dtype), c = s.counts[rank];
    size_t full_n = q->outer * q->n;
    void *x = random_values(q->dtype, full_n, q->lo, q->hi, q->seed);
    if (q->specials)
        plant_specials(q->dtype, &s, x);

    /* The options of the whole row (for the reference) and of this rank's shard. */
    clsm_options full = CLSM_OPTIONS_INIT, mine = CLSM_OPTIONS_INIT;
    unsigned char *keep_full = NULL, *keep_mine = NULL;
    float *add_full = NULL, *add_mine = NULL;
    double sinks64[2] = {1.5, -0.75};
    float sinks32[2] = {1.5f, -0.75f};
    if (q->keep_mask) {
        keep_full = xcalloc(full_n, 1);
        ts_rng r = ts_rng_seed(q->seed ^ 0x6b);
        for (size_t i = 0; i < full_n; i++)
            keep_full[i] = ts_rng_below(&r, 5) != 0;
        /* row 7 masked on every rank; row 8 on all but the last non-empty rank */
        int keep = -1;
        for (int r2 = ranks - 1; r2 >= 0 && keep < 0; r2--)
            if (s.counts[r2])
                keep = r2;
        for (size_t j = 0; j < q->n; j++) {
            keep_full[7 * q->n + j] = 0;
            keep_full[8 * q->n + j] = j >= s.first[keep] && j < s.first[keep] + s.counts[keep];
        }
        keep_mine = take_shard(&s, q->outer, 1, keep_full);
        full.mask_type = mine.mask_type = CLSM_MASK_KEEP_U8;
        full.mask.host = keep_full;
        mine.mask.host = keep_mine;
    }
    if (q->add_mask) {
        add_full = xcalloc(full_n, sizeof *add_full);
        ts_rng r = ts_rng_seed(q->seed ^ 0xadd);
        for (size_t i = 0; i < full_n; i++)
            add_full[i] = ts_rng_below(&r, 7) == 0 ? -INFINITY : (float)ts_rng_uniform(&r, -2, 2);
        add_mine = take_shard(&s, q->outer, sizeof(float), add_full);
        full.mask_type = mine.mask_type = CLSM_MASK_ADD_F32;
        full.mask.host = add_full;
        mine.mask.host = add_mine;
    }
    if (q->causal) {
        full.causal = mine.causal = 1;
        full.causal_offset = mine.causal_offset = (ptrdiff_t)q->n - (ptrdiff_t)q->outer;
        full.window = mine.window = q->window;
    }
    if (q->sinks) {
        full.batch = mine.batch = 1;
        full.heads = mine.heads = 2;
        full.rows = mine.rows = q->outer / 2;
        full.sinks.host = mine.sinks.host =
            q->dtype == CLSM_F64 ? (void *)sinks64 : (void *)sinks32;
    }
    double slopes64[2] = {0.5, 0.0625};
    float slopes32[2] = {0.5f, 0.0625f};
    if (q->shaped) {
        full.batch = mine.batch = 1;
        full.heads = mine.heads = 2;
        full.rows = mine.rows = q->outer / 2;
        full.softcap = mine.softcap = 20.0f;
        full.alibi_slopes.host = mine.alibi_slopes.host =
            q->dtype == CLSM_F64 ? (void *)slopes64 : (void *)slopes32;
    }
    int32_t lengths[12], clamped[12];
    if (q->kv) {
        full.heads = mine.heads = 2;
        full.rows = mine.rows = 2;
        full.batch = mine.batch = q->outer / 4;
        ts_rng r = ts_rng_seed(q->seed ^ 0x6b76);
        for (size_t b = 0; b < full.batch; b++) {
            /* none, all, and lengths that end inside any shard */
            int64_t len = b == 0 ? 0 : b == 1 ? (int64_t)q->n : (int64_t)ts_rng_below(&r, q->n + 1);
            if (q->kv == 2 && b % 2 == 0)
                len = b % 4 == 0 ? -5 - (int64_t)b : (int64_t)q->n + 1 + (int64_t)b;
            lengths[b] = (int32_t)len;
            clamped[b] = (int32_t)(len < 0 ? 0 : len > (int64_t)q->n ? (int64_t)q->n : len);
        }
        full.kv_lengths.host = clamped;
        mine.kv_lengths.host = lengths;
    }
    if (q->keep_mask || q->add_mask) {
        /* Strides of the [batch, heads, rows] view, so that batch entries read their own. */
        size_t heads = full.heads ? full.heads : 1, rows = full.rows ? full.rows : q->outer;
        full.mask_stride[0] = heads * rows * q->n;
        full.mask_stride[1] = rows * q->n;
        full.mask_stride[2] = q->n;
        full.mask_stride[3] = 1;
        mine.mask_stride[0] = heads * rows * c;
        mine.mask_stride[1] = rows * c;
        mine.mask_stride[2] = c;
        mine.mask_stride[3] = 1;
    }
    int with_options =
        q->keep_mask || q->add_mask || q->causal || q->sinks || q->shaped || q->kv;

    void *x_mine = take_shard(&s, q->outer, esize, x);
    void *x_copy = take_shard(&s, q->outer, esize, x);
    void *y = NULL;
    clsm_status st = run_sharded(q, &s, x_mine, with_options ? &mine : NULL, &y);
    if (st == CLSM_ERROR_UNSUPPORTED && q->dtype == CLSM_F64) {
        /* a device without cl_khr_fp64: every rank says so */
        free(y);
        goto out;
    }
    CHECK(st == CLSM_SUCCESS, "status %s", clsm_status_string(st));
    CHECK(memcmp(x_mine, x_copy, q->outer * c * esize) == 0, "the input shard was modified");
    void *y_full = gather_rows(&s, q->outer, esize, y);
    int all_ok = 1, mine_ok = st == CLSM_SUCCESS;
    MPI_Allreduce(&mine_ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    if (all_ok) {
        double *ref = xcalloc(full_n, sizeof *ref);
        clsm_shape whole = {q->outer, q->n, 1};
        ref_softmax_ex(q->op, q->dtype, whole, q->scale, with_options ? &full : NULL, x, ref,
                       NULL);
        /* Each rank checks its own columns of the gathered rows (every column once). */
        double *ref_mine = take_shard(&s, q->outer, sizeof(double), ref);
        void *y_mine = take_shard(&s, q->outer, esize, y_full);
        clsm_shape shard = {q->outer, c ? c : 1, 1};
        if (c) {
            /* ts_check is exact on an axis of length 1; a one-column shard is not the row. */
            if (c == 1 && q->n > 1) {
                shard.outer = 1;
                shard.axis = q->outer;
            }
            ts_report rep = ts_check_within(q->op, q->dtype, shard, y_mine, ref_mine,
                                            ts_softcap_allowance(q->dtype, &full));
            CHECK(rep.ok, "columns %zu..%zu: %s", s.first[rank], s.first[rank] + c, rep.msg);
        }
        free(ref);
        free(ref_mine);
        free(y_mine);
    }
    free(y_full);
    free(y);
out:
    free(x_mine);
    free(x_copy);
    free(keep_full);
    free(keep_mine);
    free(add_full);
    free(add_mine);
    free(x);
}

/* ---- cross-entropy ---- */

static void check_cross_entropy(clsm_dtype dtype, size_t outer, size_t n, int split_kind,
                                float scale, int specials, int ignore_all, uint64_t seed)
{
    snprintf(current, sizeof current, "cross-entropy %s [%zu x %zu] %s scale=%g%s%s seed=%llu",
             ts_dtype_name(dtype), outer, n, split_name(split_kind), (double)scale,
             specials ? " specials" : "", ignore_all ? " all-ignored" : "",
             (unsigned long long)seed);
    split s = make_split(n, split_kind);
    size_t esize = ts_dtype_size(dtype), c = s.counts[rank];
    void *x = random_values(dtype, outer * n, -8, 8, seed);
    if (specials)
        plant_specials(dtype, &s, x);
    const int64_t ignore = -100;
    int64_t *targets = xcalloc(outer, sizeof *targets);
    ts_rng r = ts_rng_seed(seed ^ 0x7a);
    for (size_t o = 0; o < outer; o++) {
        if (ignore_all || o % 5 == 3)
            targets[o] = ignore;
        else
            targets[o] = (int64_t)column_on(&s, (int)(o % (size_t)ranks), ts_rng_below(&r, n));
    }
    if (specials) {
        /* row 1: the target is one of the +inf entries; row 4: the one finite entry;
         * row 3: a masked target; row 0: a finite target beside the NaN */
        targets[1] = (int64_t)column_on(&s, nonempty_rank(&s, 0), 0);
        targets[4] = (int64_t)column_on(&s, 0, 0);
        targets[3] = (int64_t)column_on(&s, 0, 0) == (int64_t)column_on(&s, ranks - 1, 0)
                         ? targets[3]
                         : (int64_t)column_on(&s, 0, 0);
        targets[0] = (int64_t)column_on(&s, 0, 2);
    }
    void *x_mine = take_shard(&s, outer, esize, x);
    size_t lsize = dtype == CLSM_F64 ? 8 : 4;
    void *loss = xcalloc(outer, lsize);
    double mean = 12345;
    clsm_shape shape = {outer, c, 1};
    clsm_status st = clsm_mpi_cross_entropy_host(ctx, comm, dtype, shape, s.first[rank],
                                                 scale, x_mine, targets, ignore, loss, &mean);
    if (st == CLSM_ERROR_UNSUPPORTED && dtype == CLSM_F64)
        goto out;
    CHECK(st == CLSM_SUCCESS, "status %s", clsm_status_string(st));
    if (st != CLSM_SUCCESS)
        goto out;

    /* loss = -log_softmax(scale*x)[target] of the whole row, in f64 */
    double *ref = xcalloc(outer * n, sizeof *ref);
    ref_softmax(CLSM_LOG_SOFTMAX, dtype, (clsm_shape){outer, n, 1}, scale, x, ref);
    double sum = 0;
    size_t counted = 0;
    for (size_t o = 0; o < outer; o++) {
        double want = targets[o] == ignore ? 0 : -ref[o * n + (size_t)targets[o]];
        double got = dtype == CLSM_F64 ? ((double *)loss)[o] : ((float *)loss)[o];
        if (targets[o] != ignore) {
            sum += want;
            counted++;
        }
        double tol = (dtype == CLSM_F64 ? 1e-13 : 1e-5) * fmax(1.0, fabs(want));
        int ok = isnan(want) ? isnan(got) : isinf(want) ? got == want : fabs(got - want) <= tol;
        CHECK(ok, "row %zu (target %lld): loss %.17g, expected %.17g", o, (long long)targets[o],
              got, want);
    }
    double want_mean = counted ? sum / (double)counted : NAN;
    int mean_ok = isnan(want_mean) ? isnan(mean)
                  : isinf(want_mean)
                      ? mean == want_mean
                      : fabs(mean - want_mean) <= (dtype == CLSM_F64 ? 1e-12 : 1e-5) *
                                                      fmax(1.0, fabs(want_mean));
    CHECK(mean_ok, "mean %.17g, expected %.17g", mean, want_mean);

    /* The same loss and mean, bit for bit, on every rank. */
    unsigned char *root = xcalloc(outer * lsize + sizeof mean, 1);
    memcpy(root, loss, outer * lsize);
    memcpy(root + outer * lsize, &mean, sizeof mean);
    MPI_Bcast(root, (int)(outer * lsize + sizeof mean), MPI_BYTE, 0, comm);
    CHECK(memcmp(root, loss, outer * lsize) == 0, "loss differs from rank 0's");
    CHECK(memcmp(root + outer * lsize, &mean, sizeof mean) == 0, "mean differs from rank 0's");
    free(root);
    free(ref);
out:
    free(x_mine);
    free(loss);
    free(targets);
    free(x);
}

/* ---- one bad argument on one rank ---- */

/* Every rank must get `want` (and the same status as every other rank), without hanging. */
static void expect_everywhere(clsm_status st, clsm_status want)
{
    int mine = (int)st, low, high;
    MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, comm);
    MPI_Allreduce(&mine, &high, 1, MPI_INT, MPI_MAX, comm);
    CHECK(st == want, "status %s, expected %s", clsm_status_string(st), clsm_status_string(want));
    CHECK(low == high, "statuses differ across ranks (%d..%d)", low, high);
}

static void check_bad_arguments(void)
{
    const size_t outer = 6, n = 37;
    split s = make_split(n, UNEVEN), e = make_split(n, EMPTY_MIDDLE);
    float *x = random_values(CLSM_F32, outer * n, -3, 3, 99);
    float *xs = take_shard(&s, outer, 4, x), *ys = xcalloc(outer * n, 4);
    float *xe = take_shard(&e, outer, 4, x);
    clsm_shape sh = {outer, s.counts[rank], 1}, she = {outer, e.counts[rank], 1};
    int victim = ranks > 1 ? 1 : 0, last = ranks - 1;
    /* A rank with columns under the UNEVEN split, and the empty one of EMPTY_MIDDLE. */
    int empty = ranks > 1 ? 1 : -1;
    clsm_status st;

    snprintf(current, sizeof current, "NULL x on rank %d (host)", victim);
    st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank],
                               1.0f, NULL, rank == victim ? NULL : xs, ys);
    expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

    snprintf(current, sizeof current, "NULL y on rank %d (host)", last);
    st = clsm_mpi_softmax_host(ctx, comm, CLSM_LOG_SOFTMAX, CLSM_F32, sh,
                               s.first[rank], 1.0f, NULL, xs, rank == last ? NULL : ys);
    expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

    snprintf(current, sizeof current, "unknown op on the last rank %d", last);
    st = clsm_mpi_softmax_host(ctx, comm, rank == last ? (clsm_op)7 : CLSM_SOFTMAX,
                               CLSM_F32, sh, s.first[rank], 1.0f, NULL, xs, ys);
    expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

    snprintf(current, sizeof current, "unknown op on every rank");
    st = clsm_mpi_softmax_host(ctx, comm, (clsm_op)7, CLSM_F32, sh, s.first[rank],
                               1.0f, NULL, xs, ys);
    expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

    snprintf(current, sizeof current, "infinite scale on rank 0");
    st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank],
                               rank == 0 ? INFINITY : 1.0f, NULL, xs, ys);
    expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

    snprintf(current, sizeof current, "NaN scale on every rank");
    st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank],
                               NAN, NULL, xs, ys);
    expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

    snprintf(current, sizeof current, "NULL context on rank %d (host)", last);
    st = clsm_mpi_softmax_host(rank == last ? NULL : ctx, comm, CLSM_SOFTMAX, CLSM_F32,
                               sh, s.first[rank], 1.0f, NULL, xs, ys);
    expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

    snprintf(current, sizeof current, "stats_out given on rank 0");
    {
        float stats[2 * 6];
        clsm_options o = CLSM_OPTIONS_INIT;
        o.stats_out.host = stats;
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh,
                                   s.first[rank], 1.0f, rank == 0 ? &o : NULL, xs, ys);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
    }

    snprintf(current, sizeof current, "a KV length past the whole row (host)");
    {
        int32_t lengths[1] = {(int32_t)n + 1};
        clsm_options o = CLSM_OPTIONS_INIT;
        o.kv_lengths.host = lengths;
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank], 1.0f,
                                   &o, xs, ys);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        lengths[0] = -1;
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank], 1.0f,
                                   &o, xs, ys);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
    }

    snprintf(current, sizeof current, "kv_lengths on rank 0 only");
    {
        int32_t lengths[1] = {3};
        clsm_options o = CLSM_OPTIONS_INIT;
        o.kv_lengths.host = lengths;
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank], 1.0f,
                                   rank == 0 ? &o : NULL, xs, ys);
        expect_everywhere(st, ranks > 1 ? CLSM_ERROR_INVALID_ARGUMENT : CLSM_SUCCESS);
    }

    snprintf(current, sizeof current, "struct_size 0 on rank 0");
    {
        clsm_options o = CLSM_OPTIONS_INIT;
        o.struct_size = 0;
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank], 1.0f,
                                   rank == 0 ? &o : NULL, xs, ys);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
    }

    snprintf(current, sizeof current, "a scale past float on every rank");
    st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank], 1e39,
                               NULL, xs, ys);
    expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

    snprintf(current, sizeof current, "window without causal on rank 0");
    {
        clsm_options o = CLSM_OPTIONS_INIT;
        o.window = 3;
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh,
                                   s.first[rank], 1.0f, rank == 0 ? &o : NULL, xs, ys);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
    }

    /* A rank with an empty shard may pass NULL x and y: a valid call. */
    snprintf(current, sizeof current, "NULL x and y on the empty shard of rank %d", empty);
    st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, she, e.first[rank],
                               1.0f, NULL, e.counts[rank] ? xe : NULL,
                               e.counts[rank] ? ys : NULL);
    expect_everywhere(st, CLSM_SUCCESS);

    if (empty >= 0) {
        /* The bad argument is on the rank that has no columns: the core never sees it there. */
        snprintf(current, sizeof current, "NULL context on the empty shard of rank %d", empty);
        st = clsm_mpi_softmax_host(rank == empty ? NULL : ctx, comm, CLSM_SOFTMAX,
                                   CLSM_F32, she, e.first[rank], 1.0f, NULL, xe, ys);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

        snprintf(current, sizeof current, "infinite scale on the empty shard of rank %d", empty);
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, she,
                                   e.first[rank], rank == empty ? INFINITY : 1.0f, NULL, xe, ys);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

        snprintf(current, sizeof current, "NaN scale on the empty shard of rank %d", empty);
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, she,
                                   e.first[rank], rank == empty ? NAN : 1.0f, NULL, xe, ys);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);

        snprintf(current, sizeof current, "unknown mask type on the empty shard of rank %d",
                 empty);
        {
            clsm_options o = CLSM_OPTIONS_INIT;
            o.mask_type = rank == empty ? (clsm_mask_type)99 : CLSM_MASK_KEEP_U8;
            o.mask_stride[2] = e.counts[rank];
            o.mask_stride[3] = 1;
            unsigned char *km = xcalloc(outer * n, 1);
            memset(km, 1, outer * n);
            o.mask.host = km;
            st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, she,
                                       e.first[rank], 1.0f, &o, xe, ys);
            expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
            free(km);
        }

        snprintf(current, sizeof current, "NULL context on the empty shard of rank %d "
                                          "(cross-entropy)", empty);
        {
            int64_t t[6] = {0, 1, 2, 3, 4, 5};
            st = clsm_mpi_cross_entropy_host(rank == empty ? NULL : ctx, comm,
                                             CLSM_F32, she, e.first[rank], 1.0f, xe, t, -100,
                                             NULL, NULL);
            expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        }
    }

    /* The buffers entry point: a NULL x buffer on one rank. */
    snprintf(current, sizeof current, "NULL x buffer on rank %d (buffers)", victim);
    {
        size_t bytes = outer * s.counts[rank] * 4;
        cl_mem xb = buffer_of(bytes, xs), yb = buffer_of(bytes + 16, NULL);
        st = clsm_mpi_softmax_buffers(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh,
                                      s.first[rank], 1.0f, NULL, rank == victim ? NULL : xb, 0,
                                      yb, 0);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        snprintf(current, sizeof current, "misaligned y offset on the last rank %d (buffers)",
                 last);
        st = clsm_mpi_softmax_buffers(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh,
                                      s.first[rank], 1.0f, NULL, xb, 0, yb,
                                      rank == last ? 2 : 0);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        snprintf(current, sizeof current, "NULL context on rank 0 (buffers)");
        st = clsm_mpi_softmax_buffers(rank == 0 ? NULL : ctx, comm, CLSM_SOFTMAX,
                                      CLSM_F32, sh, s.first[rank], 1.0f, NULL, xb, 0, yb, 0);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        if (ranks > 1) {
            /* Ranks with different errors agree on the one that comes first
             * (clsoftmax_mpi.h): the caller's bad argument before a buffer too small. */
            snprintf(current, sizeof current,
                     "NULL x on rank 0, an x buffer too small on the last rank %d (buffers)",
                     last);
            cl_mem small = buffer_of(4, xs);
            st = clsm_mpi_softmax_buffers(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh,
                                          s.first[rank], 1.0f, NULL,
                                          rank == 0 ? NULL : rank == last ? small : xb, 0, yb,
                                          0);
            expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
            clReleaseMemObject(small);
        }
        clReleaseMemObject(xb);
        clReleaseMemObject(yb);
    }

    /* An MPI call that fails is CLSM_ERROR_MPI: errors on MPI_COMM_NULL are raised on
     * MPI_COMM_WORLD, which returns them for this call instead of aborting. */
    snprintf(current, sizeof current, "MPI_COMM_NULL as the communicator");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    st = clsm_mpi_softmax_host(ctx, MPI_COMM_NULL, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank],
                               1.0f, NULL, xs, ys);
    CHECK(st == CLSM_ERROR_MPI, "got %s, want CLSM_ERROR_MPI", clsm_status_string(st));
    {
        int64_t t[6] = {0, 1, 2, 3, 4, 5};
        st = clsm_mpi_cross_entropy_host(ctx, MPI_COMM_NULL, CLSM_F32, sh, s.first[rank], 1.0f,
                                         xs, t, -100, NULL, NULL);
        CHECK(st == CLSM_ERROR_MPI, "cross-entropy: got %s, want CLSM_ERROR_MPI",
              clsm_status_string(st));
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);

    /* Cross-entropy: NULL logits on one rank; a target past the row (the same on all ranks). */
    {
        int64_t t[6] = {0, 5, 36, -100, 20, 11};
        float loss[6];
        double mean;
        snprintf(current, sizeof current, "NULL logits on rank %d (cross-entropy)", victim);
        st = clsm_mpi_cross_entropy_host(ctx, comm, CLSM_F32, sh, s.first[rank], 1.0f,
                                         rank == victim ? NULL : xs, t, -100, loss, &mean);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        snprintf(current, sizeof current, "target past the row (cross-entropy)");
        t[2] = 37;
        st = clsm_mpi_cross_entropy_host(ctx, comm, CLSM_F32, sh, s.first[rank], 1.0f,
                                         xs, t, -100, loss, &mean);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        snprintf(current, sizeof current, "negative target (cross-entropy)");
        t[2] = -1;
        st = clsm_mpi_cross_entropy_host(ctx, comm, CLSM_F32, sh, s.first[rank], 1.0f,
                                         xs, t, -100, loss, &mean);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        snprintf(current, sizeof current, "NULL targets on the last rank %d (cross-entropy)",
                 last);
        t[2] = 36;
        st = clsm_mpi_cross_entropy_host(ctx, comm, CLSM_F32, sh, s.first[rank], 1.0f,
                                         xs, rank == last ? NULL : t, -100, loss, &mean);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
        snprintf(current, sizeof current, "unknown dtype on rank 0 (cross-entropy)");
        st = clsm_mpi_cross_entropy_host(ctx, comm, rank == 0 ? (clsm_dtype)9 : CLSM_F32,
                                         sh, s.first[rank], 1.0f, xs, t, -100, loss, &mean);
        expect_everywhere(st, CLSM_ERROR_INVALID_ARGUMENT);
    }

    /* No rows at all: nothing to do, on every rank; the mean of no rows is NaN. */
    snprintf(current, sizeof current, "no rows (outer 0) on every rank");
    {
        clsm_shape none = {0, s.counts[rank], 1};
        st = clsm_mpi_softmax_host(ctx, comm, CLSM_LOG_SOFTMAX, CLSM_F32, none,
                                   s.first[rank], 1.0f, NULL, xs, ys);
        expect_everywhere(st, CLSM_SUCCESS);
        double mean = 0;
        int64_t t[1] = {0};
        st = clsm_mpi_cross_entropy_host(ctx, comm, CLSM_F32, none, s.first[rank],
                                         1.0f, xs, t, -100, NULL, &mean);
        expect_everywhere(st, CLSM_SUCCESS);
        CHECK(isnan(mean), "mean of no rows %g, expected NaN", mean);
    }

    /* After all that, a good call still works on every rank. */
    snprintf(current, sizeof current, "a good call after the bad ones");
    st = clsm_mpi_softmax_host(ctx, comm, CLSM_SOFTMAX, CLSM_F32, sh, s.first[rank],
                               1.0f, NULL, xs, ys);
    expect_everywhere(st, CLSM_SUCCESS);
    free(x);
    free(xs);
    free(xe);
    free(ys);
}

/* ---- bitwise repeatability ---- */

static void check_repeatable(clsm_dtype dtype, clsm_op op, int buffers)
{
    request q = {.op = op, .dtype = dtype, .outer = 9, .n = 3001, .split_kind = UNEVEN,
                 .scale = 0.7f, .lo = -20, .hi = 20, .buffers = buffers, .seed = 4242};
    describe(&q);
    strncat(current, " (repeatability)", sizeof current - strlen(current) - 1);
    split s = make_split(q.n, q.split_kind);
    size_t esize = ts_dtype_size(dtype);
    void *x = random_values(dtype, q.outer * q.n, q.lo, q.hi, q.seed);
    void *xs = take_shard(&s, q.outer, esize, x);
    void *y1, *y2;
    clsm_status a = run_sharded(&q, &s, xs, NULL, &y1);
    clsm_status b = run_sharded(&q, &s, xs, NULL, &y2);
    CHECK(a == CLSM_SUCCESS && b == CLSM_SUCCESS, "statuses %s, %s", clsm_status_string(a),
          clsm_status_string(b));
    CHECK(memcmp(y1, y2, q.outer * s.counts[rank] * esize) == 0,
          "two runs differ bitwise");

    int64_t *t = xcalloc(q.outer, sizeof *t);
    for (size_t o = 0; o < q.outer; o++)
        t[o] = (int64_t)((o * 331) % q.n);
    double l1[9], l2[9], m1, m2;
    clsm_shape sh = {q.outer, s.counts[rank], 1};
    a = clsm_mpi_cross_entropy_host(ctx, comm, dtype, sh, s.first[rank], q.scale, xs,
                                    t, -100, l1, &m1);
    b = clsm_mpi_cross_entropy_host(ctx, comm, dtype, sh, s.first[rank], q.scale, xs,
                                    t, -100, l2, &m2);
    CHECK(a == CLSM_SUCCESS && b == CLSM_SUCCESS, "cross-entropy statuses %s, %s",
          clsm_status_string(a), clsm_status_string(b));
    CHECK(memcmp(l1, l2, q.outer * (dtype == CLSM_F64 ? 8 : 4)) == 0 &&
              memcmp(&m1, &m2, sizeof m1) == 0,
          "two cross-entropy runs differ bitwise");
    free(t);
    free(x);
    free(xs);
    free(y1);
    free(y2);
}

/* ---- the cases ---- */

static int fp64;

static void run_all(void)
{
    static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
    static const clsm_op ops[] = {CLSM_SOFTMAX, CLSM_LOG_SOFTMAX};
    uint64_t seed = 1;

    /* Every dtype, op and split; random rows, then the special values across shards. */
    for (size_t d = 0; d < 4; d++) {
        if (dtypes[d] == CLSM_F64 && !fp64)
            continue;
        for (size_t k = 0; k < 2; k++)
            for (int sp = 0; sp < NUM_SPLITS; sp++) {
                request q = {.op = ops[k], .dtype = dtypes[d], .outer = 10, .n = 523,
                             .split_kind = sp, .scale = 1.0f, .lo = -10, .hi = 10,
                             .seed = seed++};
                check_sharded(&q);
                q.specials = 1;
                q.scale = sp == EVEN ? 0.0f : 0.5f; /* a zero scale too: the uniform row */
                q.seed = seed++;
                check_sharded(&q);
            }
    }

    /* Options, host and buffers, each split; F32 and one narrow type. */
    for (int buffers = 0; buffers < 2; buffers++)
        for (int sp = 0; sp < NUM_SPLITS; sp++)
            for (size_t k = 0; k < 2; k++) {
                clsm_dtype dt = sp % 2 ? CLSM_BF16 : (fp64 && sp == EVEN ? CLSM_F64 : CLSM_F32);
                request base = {.op = ops[k], .dtype = dt, .outer = 12, .n = 301,
                                .split_kind = sp, .scale = 0.125f, .lo = -30, .hi = 30,
                                .buffers = buffers};
                request q = base;
                q.seed = seed++;
                check_sharded(&q); /* no options */
                q = base;
                q.keep_mask = 1;
                q.specials = 1;
                q.seed = seed++;
                check_sharded(&q);
                q = base;
                q.add_mask = 1;
                q.seed = seed++;
                check_sharded(&q);
                q = base;
                q.causal = 1;
                q.seed = seed++;
                check_sharded(&q);
                q.window = 150; /* a window that cuts through the shards */
                q.seed = seed++;
                check_sharded(&q);
                q = base;
                q.sinks = 1;
                q.seed = seed++;
                check_sharded(&q);
                q = base;
                q.sinks = q.causal = q.keep_mask = 1;
                q.window = 200;
                q.seed = seed++;
                check_sharded(&q);
                q = base;
                q.shaped = q.causal = 1;
                q.seed = seed++;
                check_sharded(&q);
                q = base;
                q.kv = 1;
                q.seed = seed++;
                check_sharded(&q);
                q.shaped = q.causal = 1; /* ALiBi and causal aligned at each entry's length */
                q.seed = seed++;
                check_sharded(&q);
                q = base;
                q.kv = buffers ? 2 : 1;
                q.causal = q.sinks = q.add_mask = 1;
                q.seed = seed++;
                check_sharded(&q);
            }

    /* A long row, and a row shorter than the rank count (some shards empty anyway). */
    {
        request q = {.op = CLSM_SOFTMAX, .dtype = CLSM_F32, .outer = 3, .n = 70001,
                     .split_kind = UNEVEN, .scale = 1.0f, .lo = -5, .hi = 5, .seed = seed++};
        check_sharded(&q);
        q.op = CLSM_LOG_SOFTMAX;
        q.buffers = 1;
        check_sharded(&q);
        request t = {.op = CLSM_LOG_SOFTMAX, .dtype = CLSM_F32, .outer = 4, .n = 2,
                     .split_kind = EVEN, .scale = 1.0f, .lo = -5, .hi = 5, .seed = seed++};
        check_sharded(&t);
    }

    /* Cross-entropy: every dtype and split, ignore_index, special values, all rows ignored. */
    for (size_t d = 0; d < 4; d++) {
        if (dtypes[d] == CLSM_F64 && !fp64)
            continue;
        for (int sp = 0; sp < NUM_SPLITS; sp++) {
            check_cross_entropy(dtypes[d], 11, 257, sp, 1.0f, 0, 0, seed++);
            check_cross_entropy(dtypes[d], 11, 257, sp, 0.5f, 1, 0, seed++);
        }
        check_cross_entropy(dtypes[d], 5, 64, UNEVEN, 1.0f, 0, 1, seed++);
    }

    check_bad_arguments();

    /* A communicator whose rank order is the reverse of the world's: shards follow comm's order. */
    {
        int world_rank;
        MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
        MPI_Comm reversed;
        MPI_Comm_split(MPI_COMM_WORLD, 0, ranks - 1 - world_rank, &reversed);
        comm = reversed;
        MPI_Comm_rank(comm, &rank);
        request q = {.op = CLSM_LOG_SOFTMAX, .dtype = CLSM_F32, .outer = 12, .n = 301,
                     .split_kind = UNEVEN, .scale = 0.25f, .lo = -10, .hi = 10, .causal = 1,
                     .sinks = 1, .seed = seed++};
        check_sharded(&q);
        q.buffers = 1;
        q.seed = seed++;
        check_sharded(&q);
        check_cross_entropy(CLSM_F32, 11, 257, EMPTY_FIRST, 1.0f, 0, 0, seed++);
        comm = MPI_COMM_WORLD;
        MPI_Comm_rank(comm, &rank);
        MPI_Comm_free(&reversed);
    }

    for (int buffers = 0; buffers < 2; buffers++) {
        check_repeatable(CLSM_F32, CLSM_SOFTMAX, buffers);
        check_repeatable(CLSM_BF16, CLSM_LOG_SOFTMAX, buffers);
        if (fp64)
            check_repeatable(CLSM_F64, CLSM_LOG_SOFTMAX, buffers);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    comm = MPI_COMM_WORLD;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &ranks);
    if (ranks > 64) {
        if (rank == 0)
            fprintf(stderr, "test_mpi: at most 64 ranks\n");
        MPI_Finalize();
        return 1;
    }
    private_cache("POCL_CACHE_DIR");
    private_cache("CLSM_CACHE_DIR");
    MPI_Barrier(MPI_COMM_WORLD);
    clsm_status st = clsm_context_create(&ctx);
    int ok = st == CLSM_SUCCESS, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        fprintf(stderr, "rank %d: clsm_context_create: %s\n", rank, clsm_status_string(st));
        MPI_Finalize();
        return 1;
    }
    /* F64 where every rank's device has it. */
    {
        double one = 1, out;
        int has = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F64, (clsm_shape){1, 1, 1}, 1.0f,
                                    &one, &out) == CLSM_SUCCESS;
        MPI_Allreduce(&has, &fp64, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    }

    run_all();

    unsigned long mine[2] = {checks, failures}, total[2];
    MPI_Reduce(mine, total, 2, MPI_UNSIGNED_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_mpi: %d rank%s, %lu checks, %lu failed%s\n", ranks, ranks == 1 ? "" : "s",
               total[0], total[1], fp64 ? "" : " (F64 skipped: no cl_khr_fp64)");
    clsm_context_release(ctx);
    MPI_Finalize();
    return failures != 0;
}
