/* The split family's geometry and its two launches: chunk states into a scratch buffer, then outputs. */
#include "internal.h"

/* Long enough that a chunk's fixed costs vanish, few enough per slice that merging every
 * state of its slice stays cheap for each chunk. */
#define CLSM_SPLIT_MIN_CHUNK 4096u
#define CLSM_SPLIT_MAX_CHUNKS 1024u

size_t clsm_split_chunks(const clsm_context *ctx, clsm_shape shape, size_t *chunk)
{
    size_t per_unit = (ctx->info.type & CL_DEVICE_TYPE_GPU) ? 64 : 16;
    size_t wanted = per_unit * ctx->info.compute_units;
    size_t chunks = (wanted + shape.outer - 1) / shape.outer;
    size_t most = (shape.axis + CLSM_SPLIT_MIN_CHUNK - 1) / CLSM_SPLIT_MIN_CHUNK;
    if (chunks > most)
        chunks = most;
    if (chunks > CLSM_SPLIT_MAX_CHUNKS)
        chunks = CLSM_SPLIT_MAX_CHUNKS;
    if (chunks < 1)
        chunks = 1;
    size_t length = (shape.axis + chunks - 1) / chunks;
    /* Chunks start on a vector boundary. */
    length = (length + CLSM_F32_LANES - 1) / CLSM_F32_LANES * CLSM_F32_LANES;
    *chunk = length;
    return (shape.axis + length - 1) / length;
}

static cl_int set_args(cl_kernel kernel, const void *const *values, const size_t *sizes,
                       cl_uint count)
{
    cl_int err = CL_SUCCESS;
    for (cl_uint i = 0; i < count && err == CL_SUCCESS; ++i)
        err = clSetKernelArg(kernel, i, sizes[i], values[i]);
    return err;
}

clsm_status clsm_enqueue_split(clsm_context *ctx, const clsm_program *p, clsm_dtype dtype,
                               clsm_shape shape, float scale, cl_mem x, cl_ulong x_off,
                               cl_mem y, cl_ulong y_off, cl_uint stream, size_t local,
                               cl_uint num_events, const cl_event *events, cl_event *event)
{
    size_t chunk_length;
    cl_ulong chunks = clsm_split_chunks(ctx, shape, &chunk_length);
    cl_ulong chunk = chunk_length, outer = shape.outer, axis = shape.axis;
    size_t n = shape.outer * chunks;
    size_t real_size = dtype == CLSM_F64 ? sizeof(cl_double) : sizeof(cl_float);
    size_t global = (n + local - 1) / local * local;

    cl_int err;
    /* Released once enqueued: OpenCL keeps it until the kernels using it are done. */
    cl_mem states = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, 3 * n * real_size, NULL, &err);
    if (err != CL_SUCCESS)
        return clsm_status_from_cl(err);

    const void *state_values[] = {&x, &x_off, &outer, &axis, &chunk, &chunks, &scale, &states};
    const size_t state_sizes[] = {sizeof x,     sizeof x_off,  sizeof outer, sizeof axis,
                                  sizeof chunk, sizeof chunks, sizeof scale, sizeof states};
    const void *output_values[] = {&x,     &x_off,  &y,     &y_off,  &outer, &axis,
                                   &chunk, &chunks, &scale, &states, &stream};
    const size_t output_sizes[] = {sizeof x,      sizeof x_off,  sizeof y,     sizeof y_off,
                                   sizeof outer,  sizeof axis,   sizeof chunk, sizeof chunks,
                                   sizeof scale,  sizeof states, sizeof stream};
    cl_event states_done = NULL;
    err = set_args(p->kernels[0], state_values, state_sizes, 8);
    if (err == CL_SUCCESS)
        err = set_args(p->kernels[1], output_values, output_sizes, 11);
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(ctx->queue, p->kernels[0], 1, NULL, &global, &local,
                                     num_events, events, &states_done);
    /* The event orders the two on an out-of-order queue too. */
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(ctx->queue, p->kernels[1], 1, NULL, &global, &local, 1,
                                     &states_done, event);
    if (states_done)
        clReleaseEvent(states_done);
    clReleaseMemObject(states);
    return clsm_status_from_cl(err);
}
