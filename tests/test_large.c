/* Tensors larger than one device allocation: the host path must split them, not fail or truncate. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* Rows of 64 equal values give the uniform 1/64 = 0x2400 in F16; the last row holds one
 * -inf, so its other entries are 1/63 and the -inf gives 0: a row lost or misplaced by
 * the splitting shows. */
Test(large, host_tensor_above_the_device_allocation_limit, .timeout = 600)
{
    clsm_context *ctx;
    cr_assert_eq(clsm_context_create(&ctx), CLSM_SUCCESS);
    cl_device_id device;
    cl_ulong max_alloc;
    cl_command_queue queue = clsm_context_queue(ctx);
    cr_assert_eq(clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof device, &device, NULL),
                 CL_SUCCESS);
    cr_assert_eq(clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc,
                                 &max_alloc, NULL),
                 CL_SUCCESS);
    if (max_alloc > ((cl_ulong)3 << 30))
        cr_skip_test("the device allows %llu-byte buffers; this test needs it below 3 GiB",
                     (unsigned long long)max_alloc);

    const size_t axis = 64;
    const size_t outer = (size_t)(max_alloc / (axis * 2)) + 1001;
    const size_t n = outer * axis;
    uint16_t *x = malloc(n * 2), *y = malloc(n * 2);
    cr_assert(x && y, "cannot allocate 2 x %zu bytes", n * 2);
    for (size_t i = 0; i < n; i++)
        x[i] = 0x3c00; /* 1.0 */
    x[n - 1] = 0xfc00; /* -inf */
    memset(y, 0xA5, n * 2);

    clsm_status st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F16, (clsm_shape){outer, axis, 1},
                                       1.0f, x, y);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    const uint16_t one_63rd = ts_f16_from_double(1.0 / 63);
    for (size_t i = 0; i < n - axis; i++)
        cr_assert_eq(y[i], 0x2400, "element %zu of %zu: 0x%04x", i, n, y[i]);
    for (size_t i = n - axis; i < n - 1; i++)
        cr_assert_eq(y[i], one_63rd, "element %zu of %zu: 0x%04x", i, n, y[i]);
    cr_assert_eq(y[n - 1], 0, "the -inf entry gives 0x%04x", y[n - 1]);
    free(x);
    free(y);
    clsm_context_release(ctx);
}

/* A single slice that no device buffer can hold cannot be split. */
Test(large, slice_above_the_device_allocation_limit_is_out_of_memory)
{
    clsm_context *ctx;
    cr_assert_eq(clsm_context_create(&ctx), CLSM_SUCCESS);
    cl_device_id device;
    cl_ulong max_alloc;
    cr_assert_eq(clGetCommandQueueInfo(clsm_context_queue(ctx), CL_QUEUE_DEVICE, sizeof device,
                                       &device, NULL),
                 CL_SUCCESS);
    cr_assert_eq(clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc,
                                 &max_alloc, NULL),
                 CL_SUCCESS);
    /* The library must refuse before touching the data, so a small array stands in for it;
     * in place, so that no overlap check sees through the pretence. */
    float y[4] = {7, 7, 7, 7};
    clsm_shape shape = {1, (size_t)(max_alloc / 4) + 1, 1};
    cr_assert_eq(clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, y, y),
                 CLSM_ERROR_OUT_OF_MEMORY);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(y[i], 7.0f);
    clsm_context_release(ctx);
}
