/* Status names, the version string, and the one mapping from OpenCL errors to statuses. */
#include "internal.h"

#define CLSM_STR2(x) #x
#define CLSM_STR(x) CLSM_STR2(x)

const char *clsm_version(void)
{
    return CLSM_STR(CLSM_VERSION_MAJOR) "." CLSM_STR(CLSM_VERSION_MINOR) "." CLSM_STR(
        CLSM_VERSION_PATCH);
}

const char *clsm_status_string(clsm_status status)
{
    switch (status) {
    case CLSM_SUCCESS: return "CLSM_SUCCESS: success";
    case CLSM_ERROR_INVALID_ARGUMENT: return "CLSM_ERROR_INVALID_ARGUMENT: invalid argument";
    case CLSM_ERROR_INVALID_SHAPE: return "CLSM_ERROR_INVALID_SHAPE: shape overflows or exceeds the buffer";
    case CLSM_ERROR_UNSUPPORTED: return "CLSM_ERROR_UNSUPPORTED: not supported by this device";
    case CLSM_ERROR_DEVICE_NOT_FOUND: return "CLSM_ERROR_DEVICE_NOT_FOUND: no matching OpenCL device";
    case CLSM_ERROR_BUILD_FAILED: return "CLSM_ERROR_BUILD_FAILED: kernel compilation failed";
    case CLSM_ERROR_OUT_OF_MEMORY: return "CLSM_ERROR_OUT_OF_MEMORY: host or device allocation failed";
    case CLSM_ERROR_OPENCL: return "CLSM_ERROR_OPENCL: OpenCL error";
    case CLSM_ERROR_MPI: return "CLSM_ERROR_MPI: an MPI call failed";
    }
    return "unknown clsm_status";
}

clsm_status clsm_status_from_cl(cl_int err)
{
    switch (err) {
    case CL_SUCCESS:
        return CLSM_SUCCESS;
    case CL_OUT_OF_HOST_MEMORY:
    case CL_OUT_OF_RESOURCES:
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_INVALID_BUFFER_SIZE:
        return CLSM_ERROR_OUT_OF_MEMORY;
    case CL_DEVICE_NOT_FOUND:
    case CL_DEVICE_NOT_AVAILABLE:
    case -1001: /* CL_PLATFORM_NOT_FOUND_KHR: the ICD loader found no platform */
        return CLSM_ERROR_DEVICE_NOT_FOUND;
    case CL_BUILD_PROGRAM_FAILURE:
    case CL_COMPILER_NOT_AVAILABLE:
    case CL_INVALID_BUILD_OPTIONS:
        return CLSM_ERROR_BUILD_FAILED;
    case CL_INVALID_COMMAND_QUEUE:
    case CL_INVALID_CONTEXT:
    case CL_INVALID_MEM_OBJECT:
    case CL_INVALID_EVENT:
    case CL_INVALID_EVENT_WAIT_LIST:
        return CLSM_ERROR_INVALID_ARGUMENT;
    default:
        return CLSM_ERROR_OPENCL;
    }
}
