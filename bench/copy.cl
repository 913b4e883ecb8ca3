/* The copy roofline's kernels: y = x through float4 or float16 loads and stores, one vector
 * per work-item, so the device's best plain copy sets the bar that softmax is measured against.
 *
 * Any 1-D NDRange of at least ceil(n / width) work-items; the last vector's work-item copies
 * the tail that does not fill a whole vector.
 */
#define COPY_KERNEL(NAME, WIDTH)                                                   \
    kernel void NAME(global const float *x, global float *y, ulong n)            \
    {                                                                              \
        ulong i = get_global_id(0);                                                \
        if ((i + 1) * WIDTH <= n)                                                  \
            vstore##WIDTH(vload##WIDTH(i, x), i, y);                               \
        else                                                                       \
            for (ulong k = i * WIDTH; k < n; ++k)                                  \
                y[k] = x[k];                                                       \
    }

COPY_KERNEL(copy_float4, 4)
COPY_KERNEL(copy_float16, 16)
