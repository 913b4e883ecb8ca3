/* A few calls on every public entry point, small enough to run under valgrind memcheck (tests/sanitize). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clsoftmax.h>

#define OUTER 3
#define AXIS 37
#define COUNT (OUTER * AXIS)
/* Elements before the output in the device buffers, so that offsets are not zero. */
#define PAD 5

static int failures;

static void expect(clsm_status got, clsm_status want, const char *what)
{
    if (got != want) {
        fprintf(stderr, "valgrind_driver: %s: got %s, want %s\n", what,
                clsm_status_string(got), clsm_status_string(want));
        failures++;
    }
}

static size_t dtype_size(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? 8 : dtype == CLSM_F32 ? 4 : 2;
}

/* Values in [-4, 4) with a -inf at each slice's start; for F16/BF16, bit patterns of small
 * numbers are enough, as memcheck looks at memory and not at results. */
static void fill(clsm_dtype dtype, void *p)
{
    for (size_t i = 0; i < COUNT; i++) {
        double v = i % AXIS == 0 ? -INFINITY : (double)(i % 8) - 4.0;
        switch (dtype) {
        case CLSM_F32:
            ((float *)p)[i] = (float)v;
            break;
        case CLSM_F64:
            ((double *)p)[i] = v;
            break;
        default:
            ((uint16_t *)p)[i] = (uint16_t)(0x3C00 + i % 64);
            break;
        }
    }
}

/* Reading y back makes memcheck check every byte the kernel wrote for definedness. */
static void use(const void *p, size_t bytes)
{
    unsigned sum = 0;
    for (size_t i = 0; i < bytes; i++)
        sum += ((const unsigned char *)p)[i];
    if (sum == 1)
        fputc('\n', stderr);
}

static void host_calls(clsm_context *ctx, clsm_op op, clsm_dtype dtype)
{
    const clsm_shape shape = {OUTER, AXIS, 1};
    const size_t bytes = COUNT * dtype_size(dtype);
    void *x = malloc(bytes), *y = malloc(bytes);
    if (!x || !y) {
        fprintf(stderr, "valgrind_driver: out of memory\n");
        exit(1);
    }
    fill(dtype, x);
    expect(clsm_softmax_host(ctx, op, dtype, shape, 0.5f, x, y), CLSM_SUCCESS, "host");
    use(y, bytes);
    expect(clsm_softmax_host(ctx, op, dtype, shape, 1.0f, x, x), CLSM_SUCCESS, "host in place");
    use(x, bytes);
    free(y);
    free(x);
}

static void buffer_calls(clsm_context *ctx, cl_context cl, clsm_op op, clsm_dtype dtype)
{
    /* Strided slices, so that the second family of kernels runs too. */
    const clsm_shape shape = {1, AXIS, OUTER};
    const size_t element = dtype_size(dtype), bytes = COUNT * element;
    const size_t total = bytes + PAD * element;
    void *x = malloc(bytes), *y = malloc(total);
    cl_int ex, ey;
    if (!x || !y) {
        fprintf(stderr, "valgrind_driver: out of memory\n");
        exit(1);
    }
    fill(dtype, x);
    cl_mem xb = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, x, &ex);
    cl_mem yb = clCreateBuffer(cl, CL_MEM_READ_WRITE, total, NULL, &ey);
    if (ex != CL_SUCCESS || ey != CL_SUCCESS) {
        fprintf(stderr, "valgrind_driver: clCreateBuffer failed (%d, %d)\n", ex, ey);
        exit(1);
    }
    cl_event done = NULL;
    expect(clsm_softmax_buffers(ctx, op, dtype, shape, 1.0f, xb, 0, yb, PAD * element, 0, NULL,
                                &done),
           CLSM_SUCCESS, "buffers");
    cl_command_queue q = clsm_context_queue(ctx);
    if (done && clEnqueueReadBuffer(q, yb, CL_TRUE, PAD * element, bytes, y, 1, &done, NULL) !=
                    CL_SUCCESS) {
        fprintf(stderr, "valgrind_driver: reading y failed\n");
        failures++;
    }
    use(y, bytes);
    if (done)
        clReleaseEvent(done);
    clReleaseMemObject(yb);
    clReleaseMemObject(xb);
    free(y);
    free(x);
}

int main(void)
{
    clsm_context *ctx;
    clsm_status status = clsm_context_create(&ctx);
    if (status != CLSM_SUCCESS) {
        fprintf(stderr, "valgrind_driver: %s\n", clsm_status_string(status));
        return 1;
    }
    cl_context cl;
    if (clGetCommandQueueInfo(clsm_context_queue(ctx), CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL) !=
        CL_SUCCESS) {
        fprintf(stderr, "valgrind_driver: no OpenCL context\n");
        return 1;
    }
    static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
    for (size_t d = 0; d < 4; d++) {
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            host_calls(ctx, (clsm_op)op, dtypes[d]);
            buffer_calls(ctx, cl, (clsm_op)op, dtypes[d]);
        }
    }
    float x[4] = {0};
    const clsm_shape shape = {1, 4, 1};
    expect(clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x, NULL),
           CLSM_ERROR_INVALID_ARGUMENT, "NULL y");
    expect(clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, shape, NAN, x, x),
           CLSM_ERROR_INVALID_ARGUMENT, "NaN scale");
    clsm_context_release(ctx);
    return failures != 0;
}
