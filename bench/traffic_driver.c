/* One softmax or sampling call on device buffers, for bench/traffic to count its global memory traffic under oclgrind. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clsoftmax.h>

/*
 *   clsoftmax-traffic DTYPE OUTER AXIS INNER [SAMPLING]
 *
 * Runs a softmax of shape [OUTER, AXIS, INNER] with the family CLSM_KERNEL forces (or the
 * automatic choice) and prints the family that ran. With SAMPLING (INNER 1), draws a token from
 * each of OUTER rows of AXIS logits instead, with the sampling of that name below, whose
 * work-group size follows CLSM_KERNEL. The values are finite and varied, none special, so that
 * the kernels take their ordinary paths.
 */

/* bench/sampling.c's cases. */
static const struct {
    const char *name;
    float temperature;
    uint32_t top_k;
    float top_p, min_p;
} samplings[] = {{"greedy", 0.0f, 0, 0.0f, 0.0f},
                 {"temperature", 1.0f, 0, 0.0f, 0.0f},
                 {"top_k_top_p", 1.0f, 50, 0.9f, 0.0f},
                 {"min_p", 1.0f, 0, 0.0f, 0.05f}};

/* The sampling named name into *s; 0 for a name that is none. */
static int sampling_of(const char *name, clsm_sampling *s)
{
    for (size_t i = 0; i < sizeof samplings / sizeof samplings[0]; i++) {
        if (strcmp(name, samplings[i].name) == 0) {
            s->temperature = samplings[i].temperature;
            s->top_k = samplings[i].top_k;
            s->top_p = samplings[i].top_p;
            s->min_p = samplings[i].min_p;
            return 1;
        }
    }
    return 0;
}

static int dtype_of(const char *name, clsm_dtype *dtype, size_t *size)
{
    static const struct {
        const char *name;
        clsm_dtype dtype;
        size_t size;
    } dtypes[] = {{"F32", CLSM_F32, 4}, {"F16", CLSM_F16, 2}, {"BF16", CLSM_BF16, 2},
                  {"F64", CLSM_F64, 8}};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            *dtype = dtypes[i].dtype;
            *size = dtypes[i].size;
            return 1;
        }
    }
    return 0;
}

/* Element i: a value in [-4, 4) written straight in each dtype's bits. */
static void fill(clsm_dtype dtype, unsigned char *x, size_t n)
{
    uint32_t r = 12345;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        float v = (float)(r >> 8) / (float)(1u << 24) * 8.0f - 4.0f;
        uint32_t bits;
        memcpy(&bits, &v, 4);
        if (dtype == CLSM_F32) {
            memcpy(x + 4 * i, &v, 4);
        } else if (dtype == CLSM_F64) {
            double d = v;
            memcpy(x + 8 * i, &d, 8);
        } else {
            /* bf16: the top half of the f32; f16: its sign, an exponent for [2^-3, 2), and
             * the top of its mantissa. */
            uint16_t h = dtype == CLSM_BF16
                             ? (uint16_t)(bits >> 16)
                             : (uint16_t)((bits >> 16 & 0x8000u) | (12u + (r >> 30)) << 10 |
                                          (bits >> 13 & 0x3ffu));
            memcpy(x + 2 * i, &h, 2);
        }
    }
}

int main(int argc, char **argv)
{
    clsm_dtype dtype;
    size_t size;
    clsm_sampling sampling = CLSM_SAMPLING_INIT;
    int sample = argc == 6;
    if ((argc != 5 && !sample) || !dtype_of(argv[1], &dtype, &size) ||
        (sample && (!sampling_of(argv[5], &sampling) || strcmp(argv[4], "1") != 0))) {
        fprintf(stderr, "usage: clsoftmax-traffic F32|F16|BF16|F64 OUTER AXIS INNER\n"
                        "       clsoftmax-traffic F32|F16|BF16|F64 ROWS VOCAB 1 "
                        "greedy|temperature|top_k_top_p|min_p\n");
        return 2;
    }
    clsm_shape shape = {strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
                        strtoull(argv[4], NULL, 10)};
    size_t n = shape.outer * shape.axis * shape.inner;
    /* Sampling writes one int32_t token a row. */
    size_t y_bytes = sample ? shape.outer * sizeof(int32_t) : n * size;
    unsigned char *x = malloc(n * size);
    if (!x || n == 0) {
        fprintf(stderr, "clsoftmax-traffic: no memory, or an empty shape\n");
        return 1;
    }
    fill(dtype, x, n);

    clsm_context *ctx = NULL;
    clsm_status st = clsm_context_create(&ctx);
    cl_context cl = NULL;
    cl_mem xm = NULL, ym = NULL;
    cl_event done = NULL;
    cl_int err = CL_SUCCESS;
    if (st == CLSM_SUCCESS)
        err = clGetCommandQueueInfo(clsm_context_queue(ctx), CL_QUEUE_CONTEXT, sizeof cl, &cl,
                                    NULL);
    if (st == CLSM_SUCCESS && err == CL_SUCCESS)
        xm = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n * size, x, &err);
    if (st == CLSM_SUCCESS && err == CL_SUCCESS)
        ym = clCreateBuffer(cl, CL_MEM_WRITE_ONLY, y_bytes, NULL, &err);
    if (st == CLSM_SUCCESS && err == CL_SUCCESS)
        st = sample ? clsm_sample_buffers(ctx, dtype, shape.outer, shape.axis, 1.0, NULL,
                                          &sampling, xm, 0, ym, 0, 0, NULL, &done)
                    : clsm_softmax_buffers(ctx, CLSM_SOFTMAX, dtype, shape, 1.0f, xm, 0, ym, 0,
                                           0, NULL, &done);
    if (st == CLSM_SUCCESS && err == CL_SUCCESS)
        err = clWaitForEvents(1, &done);
    int ok = st == CLSM_SUCCESS && err == CL_SUCCESS;
    if (ok)
        printf("%s\n", clsm_kernel_name(ctx, dtype, shape));
    else
        fprintf(stderr, "clsoftmax-traffic: %s, OpenCL error %d\n", clsm_status_string(st), err);
    if (done)
        clReleaseEvent(done);
    if (ym)
        clReleaseMemObject(ym);
    if (xm)
        clReleaseMemObject(xm);
    clsm_context_release(ctx);
    free(x);
    return ok ? 0 : 1;
}
