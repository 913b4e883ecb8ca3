/* The argument lists of the kernels (KERNEL_ARGS in kernels/softmax_entries.cl, BACKWARD_ARGS in kernels/backward_common.cl), set by name. */
#include <stddef.h>

#include "internal.h"

#define ARG(field) {offsetof(clsm_kernel_args, field), sizeof(((clsm_kernel_args *)0)->field)}

/* In the order of KERNEL_ARGS. */
static const struct {
    size_t offset, size;
} args[] = {
    ARG(x),         ARG(x_off),         ARG(y),        ARG(y_off),       ARG(outer),
    ARG(axis),      ARG(inner),         ARG(scale),    ARG(bundle),      ARG(stream),
    ARG(first),     ARG(mask),          ARG(mask_off), ARG(mask_stride), ARG(heads),
    ARG(rows),      ARG(causal_offset), ARG(window),   ARG(sinks),       ARG(sinks_off),
    ARG(stats_out), ARG(stats_out_off), ARG(stats_in), ARG(stats_in_off), ARG(scratch),
    ARG(chunk),     ARG(chunks),
};

#define BACKWARD_ARG(field) \
    {offsetof(clsm_backward_args, field), sizeof(((clsm_backward_args *)0)->field)}

/* In the order of BACKWARD_ARGS in kernels/backward_common.cl. */
static const struct {
    size_t offset, size;
} backward_args[] = {
    BACKWARD_ARG(y),     BACKWARD_ARG(y_off),   BACKWARD_ARG(dy),     BACKWARD_ARG(dy_off),
    BACKWARD_ARG(dx),    BACKWARD_ARG(dx_off),  BACKWARD_ARG(outer),  BACKWARD_ARG(axis),
    BACKWARD_ARG(inner), BACKWARD_ARG(scale),   BACKWARD_ARG(bundle), BACKWARD_ARG(stream),
    BACKWARD_ARG(scratch), BACKWARD_ARG(chunk), BACKWARD_ARG(chunks),
};

cl_int clsm_set_kernel_args(cl_kernel kernel, const clsm_kernel_args *a)
{
    cl_int err = CL_SUCCESS;
    for (cl_uint i = 0; i < sizeof args / sizeof args[0] && err == CL_SUCCESS; ++i)
        err = clSetKernelArg(kernel, i, args[i].size, (const char *)a + args[i].offset);
    return err;
}

cl_int clsm_set_backward_args(cl_kernel kernel, const clsm_backward_args *a)
{
    cl_int err = CL_SUCCESS;
    for (cl_uint i = 0; i < sizeof backward_args / sizeof backward_args[0] && err == CL_SUCCESS;
         ++i)
        err = clSetKernelArg(kernel, i, backward_args[i].size,
                             (const char *)a + backward_args[i].offset);
    return err;
}
