/* Device choice: a device string ("P:D" or a name substring), else CLSM_DEVICE, else the first GPU, else any device. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Parses "P:D" with decimal indices; anything else is a name to search for. */
static int parse_indices(const char *s, unsigned long *platform, unsigned long *device)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return 0;
    *platform = strtoul(s, &end, 10);
    if (*end != ':' || !isdigit((unsigned char)end[1]))
        return 0;
    *device = strtoul(end + 1, &end, 10);
    return *end == '\0';
}

static int contains_ignoring_case(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (; *haystack; ++haystack) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            ++i;
        if (i == n)
            return 1;
    }
    return n == 0;
}

static int name_matches(cl_device_id device, const char *wanted)
{
    char name[1024];
    if (clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof name, name, NULL) != CL_SUCCESS)
        return 0;
    name[sizeof name - 1] = '\0';
    return contains_ignoring_case(name, wanted);
}

/* Devices of one type on one platform, or none; the caller frees *out. */
static cl_uint list_devices(cl_platform_id platform, cl_device_type type, cl_device_id **out)
{
    cl_uint count = 0;
    *out = NULL;
    if (clGetDeviceIDs(platform, type, 0, NULL, &count) != CL_SUCCESS || count == 0)
        return 0;
    *out = malloc(count * sizeof **out);
    if (!*out || clGetDeviceIDs(platform, type, count, *out, NULL) != CL_SUCCESS) {
        free(*out);
        *out = NULL;
        return 0;
    }
    return count;
}

/* The first device, in platform then device order, that passes the filter. */
static clsm_status find_first(cl_platform_id *platforms, cl_uint num_platforms,
                              cl_device_type type, const char *name, cl_device_id *out)
{
    for (cl_uint p = 0; p < num_platforms; ++p) {
        cl_device_id *devices;
        cl_uint count = list_devices(platforms[p], type, &devices);
        for (cl_uint d = 0; d < count; ++d) {
            if (!name || name_matches(devices[d], name)) {
                *out = devices[d];
                free(devices);
                return CLSM_SUCCESS;
            }
        }
        free(devices);
    }
    return CLSM_ERROR_DEVICE_NOT_FOUND;
}

static clsm_status find_by_index(cl_platform_id *platforms, cl_uint num_platforms,
                                 unsigned long platform, unsigned long device, cl_device_id *out)
{
    if (platform >= num_platforms)
        return CLSM_ERROR_DEVICE_NOT_FOUND;
    cl_device_id *devices;
    cl_uint count = list_devices(platforms[platform], CL_DEVICE_TYPE_ALL, &devices);
    clsm_status status = CLSM_ERROR_DEVICE_NOT_FOUND;
    if (device < count) {
        *out = devices[device];
        status = CLSM_SUCCESS;
    }
    free(devices);
    return status;
}

clsm_status clsm_device_select(const char *wanted, cl_device_id *out)
{
    cl_uint num_platforms = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &num_platforms);
    if (err != CL_SUCCESS || num_platforms == 0)
        return CLSM_ERROR_DEVICE_NOT_FOUND;
    cl_platform_id *platforms = malloc(num_platforms * sizeof *platforms);
    if (!platforms)
        return CLSM_ERROR_OUT_OF_MEMORY;
    clsm_status status = CLSM_ERROR_DEVICE_NOT_FOUND;
    if (clGetPlatformIDs(num_platforms, platforms, NULL) != CL_SUCCESS)
        goto done;

    if (!wanted || !*wanted)
        wanted = getenv("CLSM_DEVICE");
    unsigned long p, d;
    if (wanted && *wanted) {
        if (parse_indices(wanted, &p, &d))
            status = find_by_index(platforms, num_platforms, p, d, out);
        else
            status = find_first(platforms, num_platforms, CL_DEVICE_TYPE_ALL, wanted, out);
    } else {
        status = find_first(platforms, num_platforms, CL_DEVICE_TYPE_GPU, NULL, out);
        if (status != CLSM_SUCCESS)
            status = find_first(platforms, num_platforms, CL_DEVICE_TYPE_ALL, NULL, out);
    }
done:
    free(platforms);
    return status;
}
