/* One softmax call on device buffers, for bench/traffic to count its global memory traffic under oclgrind. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clsoftmax.h>

/*
 *   clsoftmax-traffic DTYPE OUTER AXIS INNER
 *
 * Runs a softmax of shape [OUTER, AXIS, INNER] with the family CLSM_KERNEL forces (or the
 * automatic choice) and prints the family that ran. The values are finite and varied, none
 * special, so that the kernels take their ordinary paths.
 */

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
    if (argc != 5 || !dtype_of(argv[1], &dtype, &size)) {
        fprintf(stderr, "usage: clsoftmax-traffic F32|F16|BF16|F64 OUTER AXIS INNER\n");
        return 2;
    }
    clsm_shape shape = {strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
                        strtoull(argv[4], NULL, 10)};
    size_t n = shape.outer * shape.axis * shape.inner;
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
        ym = clCreateBuffer(cl, CL_MEM_WRITE_ONLY, n * size, NULL, &err);
    if (st == CLSM_SUCCESS && err == CL_SUCCESS)
        st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, dtype, shape, 1.0f, xm, 0, ym, 0, 0, NULL,
                                  &done);
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
