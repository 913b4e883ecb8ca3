/* Softmax, log-softmax and cross-entropy of rows whose columns are sharded across MPI ranks, built on the core's statistics. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clsoftmax_mpi.h"

/* The (max, sum) pairs of one MPI element each, merged as one slice. Not commutative for
 * MPI, so that every run with the same ranks merges in the same order: bitwise repeatable. */
static void merge_f32(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    clsm_stats_merge(CLSM_F32, (size_t)*len, in, inout);
}

static void merge_f64(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    clsm_stats_merge(CLSM_F64, (size_t)*len, in, inout);
}

/* The statuses in the order in which ranks agree on one (clsoftmax_mpi.h): an MPI failure
 * first, as the others may not have been exchanged; then the caller's mistakes, which it can
 * mend; then what the devices ran into; success last. */
static const clsm_status precedence[] = {
    CLSM_ERROR_MPI,          CLSM_ERROR_INVALID_ARGUMENT, CLSM_ERROR_INVALID_SHAPE,
    CLSM_ERROR_UNSUPPORTED,  CLSM_ERROR_DEVICE_NOT_FOUND, CLSM_ERROR_BUILD_FAILED,
    CLSM_ERROR_OUT_OF_MEMORY, CLSM_ERROR_OPENCL,          CLSM_SUCCESS,
};

static int precedence_of(clsm_status status)
{
    int n = (int)(sizeof precedence / sizeof precedence[0]);
    for (int i = 0; i < n; ++i)
        if (precedence[i] == status)
            return i;
    /* A status this build does not know came from a device. */
    return precedence_of(CLSM_ERROR_OPENCL);
}

static clsm_status first_of(clsm_status a, clsm_status b)
{
    return precedence_of(a) <= precedence_of(b) ? a : b;
}

/* The status that comes first among the ranks' statuses, on every rank. */
static clsm_status agree(MPI_Comm comm, clsm_status mine)
{
    int local = precedence_of(mine), first;
    if (MPI_Allreduce(&local, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return CLSM_ERROR_MPI;
    return precedence[first];
}

/* Whether every rank passed the same values: a rank that differs is a bad argument on all. */
#define AGREED_MAX 16
static clsm_status same_everywhere(MPI_Comm comm, const double *values, int count)
{
    double low[AGREED_MAX], high[AGREED_MAX];
    if (count > AGREED_MAX)
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (MPI_Allreduce(values, low, count, MPI_DOUBLE, MPI_MIN, comm) != MPI_SUCCESS ||
        MPI_Allreduce(values, high, count, MPI_DOUBLE, MPI_MAX, comm) != MPI_SUCCESS)
        return CLSM_ERROR_MPI;
    for (int i = 0; i < count; ++i)
        if (!(low[i] == high[i]) && !(isnan(low[i]) && isnan(high[i])))
            return CLSM_ERROR_INVALID_ARGUMENT;
    return CLSM_SUCCESS;
}

static size_t real_size(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? 8 : 4;
}

/* The all-reduce of outer (max, sum) pairs in place, in rank order. */
static clsm_status reduce_statistics(MPI_Comm comm, clsm_dtype dtype, size_t outer, void *stats)
{
    if (outer > (size_t)INT32_MAX)
        return CLSM_ERROR_INVALID_SHAPE;
    MPI_Datatype pair;
    MPI_Op op;
    int ok = MPI_Type_contiguous(2, dtype == CLSM_F64 ? MPI_DOUBLE : MPI_FLOAT, &pair) ==
             MPI_SUCCESS;
    if (!ok)
        return CLSM_ERROR_MPI;
    ok = MPI_Type_commit(&pair) == MPI_SUCCESS &&
         MPI_Op_create(dtype == CLSM_F64 ? merge_f64 : merge_f32, 0, &op) == MPI_SUCCESS;
    if (ok) {
        ok = MPI_Allreduce(MPI_IN_PLACE, stats, (int)outer, pair, op, comm) == MPI_SUCCESS;
        MPI_Op_free(&op);
    }
    MPI_Type_free(&pair);
    return ok ? CLSM_SUCCESS : CLSM_ERROR_MPI;
}

/* The sink of each row's head joined once into the global pairs. */
static void join_sinks(clsm_dtype dtype, const clsm_options *o, size_t outer, const void *sinks,
                       void *stats)
{
    size_t heads = o->heads ? o->heads : 1, rows = o->rows ? o->rows : outer;
    for (size_t r = 0; r < outer; ++r) {
        size_t h = r / rows % heads;
        if (dtype == CLSM_F64) {
            double pair[2] = {((const double *)sinks)[h], 1};
            clsm_stats_merge(dtype, 1, pair, (double *)stats + 2 * r);
        } else {
            float pair[2] = {((const float *)sinks)[h], 1};
            clsm_stats_merge(dtype, 1, pair, (float *)stats + 2 * r);
        }
    }
}

/* Empty statistics for a rank without columns: a slice that adds nothing. */
static void fill_empty(clsm_dtype dtype, size_t outer, void *stats)
{
    for (size_t r = 0; r < outer; ++r) {
        if (dtype == CLSM_F64) {
            ((double *)stats)[2 * r] = -INFINITY;
            ((double *)stats)[2 * r + 1] = 0;
        } else {
            ((float *)stats)[2 * r] = -INFINITY;
            ((float *)stats)[2 * r + 1] = 0;
        }
    }
}

/* batch*heads*rows == outer without overflow, or all three 0. */
static int rows_match(const clsm_options *o, size_t outer)
{
    if (!o->batch && !o->heads && !o->rows)
        return 1;
    if (!o->batch || !o->heads || !o->rows || o->heads > SIZE_MAX / o->rows ||
        o->batch > SIZE_MAX / (o->heads * o->rows))
        return 0;
    return o->batch * o->heads * o->rows == outer;
}

/* What every rank must agree on, and this rank's own checks of the sharded call. */
static clsm_status check_call(const clsm_context *ctx, MPI_Comm comm, clsm_op op,
                              clsm_dtype dtype, clsm_shape shape, size_t first_column,
                              double scale, const clsm_options *o, int has_sinks)
{
    clsm_status mine = CLSM_SUCCESS;
    /* Checked here on every rank: a rank with an empty shard never calls the core. */
    if (!ctx || (op != CLSM_SOFTMAX && op != CLSM_LOG_SOFTMAX) ||
        (dtype != CLSM_F32 && dtype != CLSM_F16 && dtype != CLSM_BF16 && dtype != CLSM_F64) ||
        !isfinite(scale) || (dtype != CLSM_F64 && !isfinite((float)scale)))
        mine = CLSM_ERROR_INVALID_ARGUMENT;
    /* The growing-struct rule of the core, checked here too, as this rank reads the fields. */
    if (o && o->struct_size < sizeof *o)
        mine = CLSM_ERROR_INVALID_ARGUMENT;
    for (size_t i = sizeof *o; o && mine == CLSM_SUCCESS && i < o->struct_size; ++i)
        if (((const unsigned char *)o)[i] != 0)
            mine = CLSM_ERROR_UNSUPPORTED;
    if (mine != CLSM_SUCCESS)
        o = NULL;
    const double shared[] = {(double)op, (double)dtype, (double)shape.outer, (double)scale,
                             (double)has_sinks, o ? (double)o->causal : 0,
                             o ? (double)o->causal_offset : 0, o ? (double)o->window : 0,
                             o ? (double)o->softcap : 0,
                             o ? (double)(o->kv_lengths.host || o->kv_lengths.buffer) : 0};
    if (o && (o->mask_type < CLSM_MASK_NONE || o->mask_type > CLSM_MASK_KEEP_U8 ||
              (o->window && !o->causal) ||
              !rows_match(o, shape.outer)))
        mine = CLSM_ERROR_INVALID_ARGUMENT;
    if (shape.inner != 1 || first_column > (size_t)PTRDIFF_MAX ||
        (o && (o->stats_in.host || o->stats_in.buffer || o->stats_out.host ||
               o->stats_out.buffer)))
        mine = CLSM_ERROR_INVALID_ARGUMENT;
    return first_of(mine, same_everywhere(comm, shared, (int)(sizeof shared / sizeof shared[0])));
}

/* offset - columns, saturated: the core treats any offset far past the row alike. */
static ptrdiff_t offset_minus(ptrdiff_t offset, ptrdiff_t columns)
{
    if (columns > 0 && offset < PTRDIFF_MIN + columns)
        return PTRDIFF_MIN;
    if (columns < 0 && offset > PTRDIFF_MAX + columns)
        return PTRDIFF_MAX;
    return offset - columns;
}

/* The options of this rank's own call: causal bounds moved to its columns, no sinks. */
static clsm_options local_options(const clsm_options *o, size_t first_column)
{
    clsm_options local = CLSM_OPTIONS_INIT;
    if (o)
        local = *o;
    local.struct_size = sizeof local;
    local.causal_offset = offset_minus(local.causal_offset, (ptrdiff_t)first_column);
    local.sinks.host = NULL;
    local.sinks.buffer = NULL;
    return local;
}

/* kv_lengths on a rank: batch entry b keeps the columns below len_b of the whole row, so
 * this rank keeps lengths[b] = clamp(len_b - first_column, 0, axis) of its own. The core
 * aligns the rows of an entry at its local length, which moves with the clamp: offsets[b]
 * is the causal_offset that puts them where the whole row does, at len_b - rows +
 * causal_offset - first_column of this rank's columns. Entries that share an offset go in one core call (a run);
 * without kv_lengths the whole shard is one. */
typedef struct kv_view {
    size_t batch;         /* entries, 1 without kv_lengths */
    size_t entry_rows;    /* rows of x per entry: heads * rows */
    int32_t *lengths;     /* NULL without kv_lengths */
    ptrdiff_t *offsets;
    cl_mem buffer;        /* lengths on the device, for the buffers path */
} kv_view;

static void kv_release(kv_view *kv)
{
    free(kv->lengths);
    free(kv->offsets);
    if (kv->buffer)
        clReleaseMemObject(kv->buffer);
}

static int32_t clamp_length(int64_t v, int64_t high)
{
    return (int32_t)(v < 0 ? 0 : v > high ? high : v);
}

/* The kv view of local's call on this rank: the global lengths read from the caller's
 * tensor (checked on the host path, clamped on the buffers path, as the core does) and this
 * rank's. Collective: every rank calls it with the same options present. */
static clsm_status kv_prepare(clsm_context *ctx, MPI_Comm comm, clsm_shape shape,
                              size_t first_column, const clsm_options *local, int buffers,
                              kv_view *kv)
{
    const clsm_tensor *t = &local->kv_lengths;
    *kv = (kv_view){.batch = 1, .entry_rows = shape.outer};
    if (!(buffers ? t->buffer != NULL : t->host != NULL))
        return CLSM_SUCCESS;
    double columns = (double)shape.axis, total = 0;
    if (MPI_Allreduce(&columns, &total, 1, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
        return CLSM_ERROR_MPI;
    size_t batch = local->batch ? local->batch : 1;
    kv->batch = batch;
    kv->entry_rows = shape.outer / batch;
    kv->lengths = malloc(batch * sizeof *kv->lengths);
    kv->offsets = malloc(batch * sizeof *kv->offsets);
    if (!kv->lengths || !kv->offsets)
        return CLSM_ERROR_OUT_OF_MEMORY;
    if (!buffers)
        memcpy(kv->lengths, t->host, batch * sizeof *kv->lengths);
    else if (clEnqueueReadBuffer(clsm_context_queue(ctx), t->buffer, CL_TRUE, t->offset,
                                 batch * sizeof *kv->lengths, kv->lengths, 0, NULL,
                                 NULL) != CL_SUCCESS)
        return CLSM_ERROR_INVALID_ARGUMENT;
    /* The first column and the axis fit int64_t: the core refuses larger shapes. */
    const int64_t axis = (int64_t)total, first = (int64_t)first_column;
    for (size_t b = 0; b < batch; ++b) {
        int64_t len = kv->lengths[b];
        if (!buffers && (len < 0 || len > axis))
            return CLSM_ERROR_INVALID_ARGUMENT;
        len = clamp_length(len, axis);
        kv->lengths[b] = clamp_length(len - first, (int64_t)shape.axis);
        /* Without causal or ALiBi the alignment is unused: one run. */
        kv->offsets[b] = local->causal || local->alibi_slopes.host || local->alibi_slopes.buffer
                             ? offset_minus(local->causal_offset,
                                            (ptrdiff_t)(kv->lengths[b] - len))
                             : local->causal_offset;
    }
    if (!buffers)
        return CLSM_SUCCESS;
    cl_context cl;
    cl_int err = clGetCommandQueueInfo(clsm_context_queue(ctx), CL_QUEUE_CONTEXT, sizeof cl, &cl,
                                       NULL);
    if (err == CL_SUCCESS)
        kv->buffer = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                    batch * sizeof *kv->lengths, kv->lengths, &err);
    return err == CL_SUCCESS ? CLSM_SUCCESS : CLSM_ERROR_OUT_OF_MEMORY;
}

static size_t element_size(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? 8 : dtype == CLSM_F32 ? 4 : 2;
}

static size_t mask_element_size(clsm_mask_type type)
{
    return type == CLSM_MASK_ADD_F32 ? 4 : type == CLSM_MASK_KEEP_U8 ? 1 : 2;
}

/* The core call of the run of entries from b: its options and shape; returns its entries. */
static size_t run_of(const kv_view *kv, const clsm_options *local, clsm_shape shape, size_t b,
                     clsm_options *sub, clsm_shape *part)
{
    *sub = *local;
    *part = shape;
    if (!kv->lengths)
        return kv->batch;
    size_t n = 1;
    while (b + n < kv->batch && kv->offsets[b + n] == kv->offsets[b])
        ++n;
    if (local->batch)
        sub->batch = n;
    part->outer = n * kv->entry_rows;
    sub->causal_offset = kv->offsets[b];
    sub->kv_lengths = (clsm_tensor){kv->lengths + b, kv->buffer, b * sizeof *kv->lengths};
    if (local->mask_type != CLSM_MASK_NONE) {
        size_t skip = b * local->mask_stride[0] * mask_element_size(local->mask_type);
        if (sub->mask.host)
            sub->mask.host = (char *)sub->mask.host + skip;
        sub->mask.offset += skip;
    }
    return n;
}

/* This rank's statistics (y NULL) or outputs from the global statistics (y set), run by
 * run, on the host. */
static clsm_status host_runs(clsm_context *ctx, clsm_op op, clsm_dtype dtype, clsm_shape shape,
                             double scale, const clsm_options *local, const kv_view *kv,
                             const void *x, void *y, void *stats)
{
    clsm_status status = CLSM_SUCCESS;
    for (size_t b = 0, n; status == CLSM_SUCCESS && b < kv->batch; b += n) {
        clsm_options sub;
        clsm_shape part;
        n = run_of(kv, local, shape, b, &sub, &part);
        size_t row = b * kv->entry_rows, skip = row * shape.axis * element_size(dtype);
        void *stats_part = (char *)stats + 2 * row * real_size(dtype);
        if (y)
            sub.stats_in.host = stats_part;
        else
            sub.stats_out.host = stats_part;
        status = clsm_softmax_host_ex(ctx, op, dtype, part, scale, &sub,
                                      (const char *)x + skip, y ? (char *)y + skip : NULL);
    }
    return status;
}

clsm_status clsm_mpi_softmax_host(clsm_context *ctx, MPI_Comm comm, clsm_op op,
                                  clsm_dtype dtype, clsm_shape shape, size_t first_column,
                                  double scale, const clsm_options *options, const void *x,
                                  void *y)
{
    const void *sinks = options ? options->sinks.host : NULL;
    clsm_status status = check_call(ctx, comm, op, dtype, shape, first_column, scale, options,
                                    sinks != NULL);
    if (status == CLSM_SUCCESS && shape.outer && shape.axis && (!x || !y))
        status = CLSM_ERROR_INVALID_ARGUMENT;
    status = agree(comm, status);
    clsm_options local = local_options(options, first_column);
    kv_view kv = {.batch = 1, .entry_rows = shape.outer};
    if (status == CLSM_SUCCESS)
        status = agree(comm, kv_prepare(ctx, comm, shape, first_column, &local, 0, &kv));
    void *stats = NULL;
    if (status == CLSM_SUCCESS && shape.outer) {
        stats = malloc(2 * shape.outer * real_size(dtype));
        if (!stats)
            status = CLSM_ERROR_OUT_OF_MEMORY;
    }
    if (status == CLSM_SUCCESS && stats) {
        fill_empty(dtype, shape.outer, stats);
        if (shape.axis)
            status = host_runs(ctx, op, dtype, shape, scale, &local, &kv, x, NULL, stats);
    }
    status = agree(comm, status);
    if (status == CLSM_SUCCESS && stats)
        status = agree(comm, reduce_statistics(comm, dtype, shape.outer, stats));
    if (status == CLSM_SUCCESS && stats) {
        if (sinks)
            join_sinks(dtype, &local, shape.outer, sinks, stats);
        if (shape.axis)
            status = host_runs(ctx, op, dtype, shape, scale, &local, &kv, x, y, stats);
        status = agree(comm, status);
    }
    kv_release(&kv);
    free(stats);
    return status;
}

/* The statistics' device buffer, and the host copy of the sinks, of a buffers call. */
static clsm_status device_parts(clsm_context *ctx, clsm_dtype dtype, const clsm_options *o,
                                size_t outer, cl_mem *stats, void **sinks)
{
    cl_command_queue queue = clsm_context_queue(ctx);
    cl_context cl;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL);
    if (err != CL_SUCCESS)
        return CLSM_ERROR_OPENCL;
    *stats = clCreateBuffer(cl, CL_MEM_READ_WRITE, 2 * outer * real_size(dtype), NULL, &err);
    if (err != CL_SUCCESS)
        return CLSM_ERROR_OUT_OF_MEMORY;
    if (!o || !o->sinks.buffer)
        return CLSM_SUCCESS;
    size_t bytes = (o->heads ? o->heads : 1) * real_size(dtype);
    *sinks = malloc(bytes);
    if (!*sinks)
        return CLSM_ERROR_OUT_OF_MEMORY;
    err = clEnqueueReadBuffer(queue, o->sinks.buffer, CL_TRUE, o->sinks.offset, bytes, *sinks,
                              0, NULL, NULL);
    return err == CL_SUCCESS ? CLSM_SUCCESS : CLSM_ERROR_INVALID_ARGUMENT;
}

/* host_runs on device buffers (y NULL: statistics into stats), finished before it returns. */
static clsm_status buffer_runs(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                               clsm_shape shape, double scale, const clsm_options *local,
                               const kv_view *kv, cl_mem x, size_t x_offset, cl_mem y,
                               size_t y_offset, cl_mem stats)
{
    clsm_status status = CLSM_SUCCESS;
    for (size_t b = 0, n; status == CLSM_SUCCESS && b < kv->batch; b += n) {
        clsm_options sub;
        clsm_shape part;
        n = run_of(kv, local, shape, b, &sub, &part);
        size_t row = b * kv->entry_rows, skip = row * shape.axis * element_size(dtype);
        clsm_tensor stats_part = {NULL, stats, 2 * row * real_size(dtype)};
        if (y)
            sub.stats_in = stats_part;
        else
            sub.stats_out = stats_part;
        cl_event done = NULL;
        status = clsm_softmax_buffers_ex(ctx, op, dtype, part, scale, &sub, x, x_offset + skip,
                                         y, y ? y_offset + skip : 0, 0, NULL, &done);
        if (done) {
            if (clWaitForEvents(1, &done) != CL_SUCCESS)
                status = CLSM_ERROR_OPENCL;
            clReleaseEvent(done);
        }
    }
    return status;
}

clsm_status clsm_mpi_softmax_buffers(clsm_context *ctx, MPI_Comm comm, clsm_op op,
                                     clsm_dtype dtype, clsm_shape shape, size_t first_column,
                                     double scale, const clsm_options *options, cl_mem x,
                                     size_t x_offset, cl_mem y, size_t y_offset)
{
    int has_sinks = options && options->sinks.buffer;
    clsm_status status = check_call(ctx, comm, op, dtype, shape, first_column, scale, options,
                                    has_sinks);
    if (status == CLSM_SUCCESS && shape.outer && shape.axis && (!x || !y))
        status = CLSM_ERROR_INVALID_ARGUMENT;
    status = agree(comm, status);
    clsm_options local = local_options(options, first_column);
    kv_view kv = {.batch = 1, .entry_rows = shape.outer};
    if (status == CLSM_SUCCESS)
        status = agree(comm, kv_prepare(ctx, comm, shape, first_column, &local, 1, &kv));
    cl_mem stats_buffer = NULL;
    void *sinks = NULL, *stats = NULL;
    if (status == CLSM_SUCCESS && shape.outer) {
        stats = malloc(2 * shape.outer * real_size(dtype));
        status = stats ? device_parts(ctx, dtype, options, shape.outer, &stats_buffer, &sinks)
                       : CLSM_ERROR_OUT_OF_MEMORY;
    }
    cl_command_queue queue = ctx ? clsm_context_queue(ctx) : NULL;
    size_t stats_bytes = 2 * shape.outer * real_size(dtype);
    if (status == CLSM_SUCCESS && stats) {
        fill_empty(dtype, shape.outer, stats);
        if (shape.axis) {
            status = buffer_runs(ctx, op, dtype, shape, scale, &local, &kv, x, x_offset, NULL, 0,
                                 stats_buffer);
            if (status == CLSM_SUCCESS &&
                clEnqueueReadBuffer(queue, stats_buffer, CL_TRUE, 0, stats_bytes, stats, 0, NULL,
                                    NULL) != CL_SUCCESS)
                status = CLSM_ERROR_OPENCL;
        }
    }
    status = agree(comm, status);
    if (status == CLSM_SUCCESS && stats)
        status = agree(comm, reduce_statistics(comm, dtype, shape.outer, stats));
    if (status == CLSM_SUCCESS && stats) {
        if (sinks)
            join_sinks(dtype, &local, shape.outer, sinks, stats);
        if (shape.axis) {
            if (clEnqueueWriteBuffer(queue, stats_buffer, CL_TRUE, 0, stats_bytes, stats, 0, NULL,
                                     NULL) != CL_SUCCESS)
                status = CLSM_ERROR_OPENCL;
            if (status == CLSM_SUCCESS)
                status = buffer_runs(ctx, op, dtype, shape, scale, &local, &kv, x, x_offset, y,
                                     y_offset, stats_buffer);
        }
        status = agree(comm, status);
    }
    kv_release(&kv);
    if (stats_buffer)
        clReleaseMemObject(stats_buffer);
    free(sinks);
    free(stats);
    return status;
}

/* scale*x[i] of a dtype's element, as the compute type forms it. */
static double scaled_entry(clsm_dtype dtype, const void *x, size_t i, double scale64)
{
    float scale = (float)scale64;
    switch (dtype) {
    case CLSM_F64:
        return scale64 * ((const double *)x)[i];
    case CLSM_F32:
        return (double)(scale * ((const float *)x)[i]);
    case CLSM_BF16: {
        uint32_t bits = (uint32_t)((const uint16_t *)x)[i] << 16;
        float v;
        memcpy(&v, &bits, sizeof v);
        return (double)(scale * v);
    }
    default: {
        uint16_t h = ((const uint16_t *)x)[i];
        int e = (h >> 10) & 31;
        double m = h & 1023, v;
        if (e == 31)
            v = m ? NAN : INFINITY;
        else if (e == 0)
            v = ldexp(m, -24);
        else
            v = ldexp(m + 1024, e - 25);
        return (double)(scale * (float)((h & 0x8000) ? -v : v));
    }
    }
}

/* -log_softmax of the target from the row's global statistics, with log-softmax's special
 * values: k entries at +inf share the mass (log k for one of them, +inf for the rest), a
 * fully masked row gives +inf, NaN stays NaN. */
static double row_loss(double max, double sum, double target_u)
{
    if (isnan(max) || isnan(sum) || isnan(target_u))
        return NAN;
    if (max == INFINITY)
        return target_u == INFINITY ? log(sum) : INFINITY;
    if (sum == 0 || max == -INFINITY || target_u == -INFINITY)
        return INFINITY;
    return (max - target_u) + log(sum);
}

clsm_status clsm_mpi_cross_entropy_host(clsm_context *ctx, MPI_Comm comm, clsm_dtype dtype,
                                        clsm_shape shape, size_t first_column, double scale,
                                        const void *logits, const int64_t *targets,
                                        int64_t ignore_index, void *loss, double *mean)
{
    const clsm_options none = CLSM_OPTIONS_INIT;
    clsm_status status = check_call(ctx, comm, CLSM_LOG_SOFTMAX, dtype, shape, first_column,
                                    scale, &none, 0);
    if (status == CLSM_SUCCESS && shape.outer && (!targets || (shape.axis && !logits)))
        status = CLSM_ERROR_INVALID_ARGUMENT;
    double columns = (double)shape.axis, total = 0;
    if (MPI_Allreduce(&columns, &total, 1, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
        status = CLSM_ERROR_MPI;
    for (size_t r = 0; status == CLSM_SUCCESS && r < shape.outer; ++r)
        if (targets[r] != ignore_index && (targets[r] < 0 || (double)targets[r] >= total))
            status = CLSM_ERROR_INVALID_ARGUMENT;
    void *stats = NULL;
    double *picked = NULL;
    if (status == CLSM_SUCCESS && shape.outer) {
        stats = malloc(2 * shape.outer * real_size(dtype));
        picked = calloc(shape.outer, sizeof *picked);
        if (!stats || !picked)
            status = CLSM_ERROR_OUT_OF_MEMORY;
    }
    if (status == CLSM_SUCCESS && stats) {
        fill_empty(dtype, shape.outer, stats);
        if (shape.axis) {
            clsm_options opt = CLSM_OPTIONS_INIT;
            opt.stats_out.host = stats;
            status = clsm_softmax_host_ex(ctx, CLSM_LOG_SOFTMAX, dtype, shape, scale, &opt,
                                          logits, NULL);
        }
        /* The one rank that holds a row's target column gives its logit; the others 0. */
        for (size_t r = 0; r < shape.outer; ++r) {
            int64_t t = targets[r];
            if (t != ignore_index && (uint64_t)t >= first_column &&
                (uint64_t)t - first_column < shape.axis)
                picked[r] = scaled_entry(dtype, logits, r * shape.axis + (size_t)(t - (int64_t)first_column), scale);
        }
    }
    status = agree(comm, status);
    if (status == CLSM_SUCCESS && stats) {
        status = agree(comm, reduce_statistics(comm, dtype, shape.outer, stats));
        if (status == CLSM_SUCCESS &&
            MPI_Allreduce(MPI_IN_PLACE, picked, (int)shape.outer, MPI_DOUBLE, MPI_SUM, comm) !=
                MPI_SUCCESS)
            status = CLSM_ERROR_MPI;
        status = agree(comm, status);
    }
    if (status == CLSM_SUCCESS) {
        double sum = 0;
        size_t counted = 0;
        for (size_t r = 0; r < shape.outer; ++r) {
            double max = dtype == CLSM_F64 ? ((double *)stats)[2 * r] : ((float *)stats)[2 * r];
            double s = dtype == CLSM_F64 ? ((double *)stats)[2 * r + 1]
                                         : ((float *)stats)[2 * r + 1];
            double l = targets[r] == ignore_index ? 0 : row_loss(max, s, picked[r]);
            if (targets[r] != ignore_index) {
                sum += l;
                ++counted;
            }
            if (loss && dtype == CLSM_F64)
                ((double *)loss)[r] = l;
            else if (loss)
                ((float *)loss)[r] = (float)l;
        }
        if (mean)
            *mean = counted ? sum / (double)counted : NAN;
    }
    free(stats);
    free(picked);
    return status;
}
