/* Argument checks, all done before anything is enqueued so that a refused call leaves y untouched. */
#include <math.h>
#include <stdint.h>

#include "internal.h"

size_t clsm_dtype_size(clsm_dtype dtype)
{
    return dtype == CLSM_F64 ? 8 : dtype == CLSM_F32 ? 4 : 2;
}

static int mul_overflows(size_t a, size_t b, size_t *product)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 1;
    *product = a * b;
    return 0;
}

/* Two byte ranges of one address space that share bytes without being the same range. */
static int partially_overlap(uintptr_t a, uintptr_t b, size_t bytes)
{
    return a != b && a < b + bytes && b < a + bytes;
}

clsm_status clsm_validate_request(const clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                  clsm_shape shape, float scale, size_t *bytes)
{
    size_t count;
    if (!ctx || (op != CLSM_SOFTMAX && op != CLSM_LOG_SOFTMAX) ||
        (dtype != CLSM_F32 && dtype != CLSM_F16 && dtype != CLSM_BF16 && dtype != CLSM_F64) ||
        !isfinite(scale))
        return CLSM_ERROR_INVALID_ARGUMENT;
    /* A zero anywhere makes the tensor empty, however large the other dimensions. */
    if (shape.outer == 0 || shape.axis == 0 || shape.inner == 0) {
        *bytes = 0;
        return CLSM_SUCCESS;
    }
    if (mul_overflows(shape.outer, shape.axis, &count) ||
        mul_overflows(count, shape.inner, &count) ||
        mul_overflows(count, clsm_dtype_size(dtype), bytes))
        return CLSM_ERROR_INVALID_SHAPE;
    return CLSM_SUCCESS;
}

static clsm_status check_dtype_supported(const clsm_context *ctx, clsm_dtype dtype)
{
    return dtype == CLSM_F64 && !ctx->info.has_fp64 ? CLSM_ERROR_UNSUPPORTED : CLSM_SUCCESS;
}

clsm_status clsm_validate_host(const clsm_context *ctx, clsm_dtype dtype, size_t bytes,
                               const void *x, const void *y)
{
    if (!x || !y || partially_overlap((uintptr_t)x, (uintptr_t)y, bytes))
        return CLSM_ERROR_INVALID_ARGUMENT;
    return check_dtype_supported(ctx, dtype);
}

/* A buffer seen from its root allocation, so sub-buffers of one parent can be compared. */
typedef struct buffer_view {
    cl_mem root;
    size_t offset;
} buffer_view;

static clsm_status check_buffer(const clsm_context *ctx, cl_mem mem, size_t offset, size_t bytes,
                                cl_mem_flags forbidden, buffer_view *view)
{
    cl_context owner;
    cl_mem_object_type type;
    cl_mem_flags flags;
    size_t size, origin;
    cl_mem parent;
    if (clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof owner, &owner, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(mem, CL_MEM_TYPE, sizeof type, &type, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(mem, CL_MEM_FLAGS, sizeof flags, &flags, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(mem, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, NULL) !=
            CL_SUCCESS ||
        clGetMemObjectInfo(mem, CL_MEM_OFFSET, sizeof origin, &origin, NULL) != CL_SUCCESS)
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (owner != ctx->cl || type != CL_MEM_OBJECT_BUFFER || (flags & forbidden))
        return CLSM_ERROR_INVALID_ARGUMENT;
    if (offset > size || bytes > size - offset)
        return CLSM_ERROR_INVALID_SHAPE;
    view->root = parent ? parent : mem;
    view->offset = (parent ? origin : 0) + offset;
    return CLSM_SUCCESS;
}

/* OpenCL leaves a NULL event, or one of another context, in a wait list undefined, and
 * PoCL enqueues it without a word. */
clsm_status clsm_validate_wait_list(const clsm_context *ctx, cl_uint num_events,
                                    const cl_event *events)
{
    if ((num_events == 0) != (events == NULL))
        return CLSM_ERROR_INVALID_ARGUMENT;
    for (cl_uint i = 0; i < num_events; ++i) {
        cl_context owner;
        if (!events[i] ||
            clGetEventInfo(events[i], CL_EVENT_CONTEXT, sizeof owner, &owner, NULL) !=
                CL_SUCCESS ||
            owner != ctx->cl)
            return CLSM_ERROR_INVALID_ARGUMENT;
    }
    return CLSM_SUCCESS;
}

clsm_status clsm_validate_buffers(const clsm_context *ctx, clsm_dtype dtype, size_t bytes,
                                  cl_mem x, size_t x_offset, cl_mem y, size_t y_offset)
{
    size_t element = clsm_dtype_size(dtype);
    buffer_view xv, yv;
    clsm_status status;
    if (!x || !y || x_offset % element != 0 || y_offset % element != 0)
        return CLSM_ERROR_INVALID_ARGUMENT;
    status = check_buffer(ctx, x, x_offset, bytes, CL_MEM_WRITE_ONLY, &xv);
    if (status != CLSM_SUCCESS)
        return status;
    status = check_buffer(ctx, y, y_offset, bytes, CL_MEM_READ_ONLY, &yv);
    if (status != CLSM_SUCCESS)
        return status;
    if (xv.root == yv.root && partially_overlap(xv.offset, yv.offset, bytes))
        return CLSM_ERROR_INVALID_ARGUMENT;
    return check_dtype_supported(ctx, dtype);
}
