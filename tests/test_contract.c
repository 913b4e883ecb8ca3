/* Worked examples with known answers, the version, status strings, the NULL-safe getters and device choice by name. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "support.h"

TestSuite(contract, .init = ts_open_all, .fini = ts_close_all);

static const clsm_dtype all_dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
/* Examples whose inputs (logarithms) F16/BF16 cannot hold exactly enough for their answers. */
static const clsm_dtype wide_dtypes[] = {CLSM_F32, CLSM_F64};

/* Runs one example on every configuration for each dtype in the list. */
static void check_example(const clsm_dtype *dtypes, size_t n_dtypes, clsm_op op, clsm_shape shape,
                          float scale, const double *x, const double *want)
{
    size_t n = ts_count(shape);
    for (size_t d = 0; d < n_dtypes; d++) {
        void *xd = ts_alloc(dtypes[d], n);
        for (size_t i = 0; i < n; i++)
            ts_store(dtypes[d], xd, i, x[i]);
        for (size_t c = 0; c < TS_CONFIGS; c++)
            ts_run_and_check(ts_ctx[c], ts_config_name(c), op, dtypes[d], shape, scale, xd, want);
        free(xd);
    }
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

Test(contract, softmax_and_log_softmax_of_1_2_3)
{
    const double x[] = {1, 2, 3};
    const double soft[] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219};
    const double log_soft[] = {-2.4076059644443806, -1.4076059644443804, -0.4076059644443803};
    clsm_shape s = {1, 3, 1};
    check_example(all_dtypes, N_OF(all_dtypes), CLSM_SOFTMAX, s, 1.0f, x, soft);
    check_example(all_dtypes, N_OF(all_dtypes), CLSM_LOG_SOFTMAX, s, 1.0f, x, log_soft);
}

/* exp of these inputs overflows without subtracting the maximum first. */
Test(contract, large_inputs_give_the_same_answer_as_shifted_ones)
{
    const double soft[] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219};
    const double log_soft[] = {-2.4076059644443806, -1.4076059644443804, -0.4076059644443803};
    clsm_shape s = {1, 3, 1};
    const double x_big[] = {1001, 1002, 1003};
    const clsm_dtype big_dtypes[] = {CLSM_F32, CLSM_F16, CLSM_F64};
    check_example(big_dtypes, N_OF(big_dtypes), CLSM_SOFTMAX, s, 1.0f, x_big, soft);
    check_example(big_dtypes, N_OF(big_dtypes), CLSM_LOG_SOFTMAX, s, 1.0f, x_big, log_soft);
    /* BF16 holds only 8 significant bits, so its example sits lower; exp(99) still overflows f32. */
    const double x_bf16[] = {97, 98, 99};
    const clsm_dtype bf16[] = {CLSM_BF16};
    check_example(bf16, 1, CLSM_SOFTMAX, s, 1.0f, x_bf16, soft);
    check_example(bf16, 1, CLSM_LOG_SOFTMAX, s, 1.0f, x_bf16, log_soft);
}

Test(contract, equal_inputs_give_the_uniform_distribution)
{
    const double x[] = {5, 5, 5, 5, -3, -3, -3, -3};
    const double soft[] = {0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25};
    double log_soft[8];
    for (size_t i = 0; i < 8; i++)
        log_soft[i] = -log(4.0);
    clsm_shape s = {2, 4, 1};
    check_example(all_dtypes, N_OF(all_dtypes), CLSM_SOFTMAX, s, 1.0f, x, soft);
    check_example(all_dtypes, N_OF(all_dtypes), CLSM_LOG_SOFTMAX, s, 1.0f, x, log_soft);
}

Test(contract, axis_of_length_one_gives_one_and_zero)
{
    const double x[] = {-7, 0, 3.5, 1e4, -1e4, 42};
    const double ones[] = {1, 1, 1, 1, 1, 1};
    const double zeros[] = {0, 0, 0, 0, 0, 0};
    clsm_shape s = {2, 1, 3};
    check_example(all_dtypes, N_OF(all_dtypes), CLSM_SOFTMAX, s, 1.0f, x, ones);
    check_example(all_dtypes, N_OF(all_dtypes), CLSM_LOG_SOFTMAX, s, 1.0f, x, zeros);
    check_example(all_dtypes, N_OF(all_dtypes), CLSM_SOFTMAX, s, 3.0f, x, ones);
}

/*
 * A [2,3,2] tensor reduced over its middle dimension; element (o,a,i) is at
 * (o*3+a)*2+i. Each column holds logarithms, so the answers are fractions.
 */
Test(contract, middle_axis_of_a_2x3x2_tensor)
{
    const double l2 = log(2.0), l3 = log(3.0), l5 = log(5.0);
    const double x[] = {
        0,  0,       /* o=0 a=0; column i=0 is ln{1,2,5}, column i=1 is {0,0,0} */
        l2, 0,       /* o=0 a=1 */
        l5, 0,       /* o=0 a=2 */
        l3, 10,      /* o=1 a=0; column i=0 is ln{3,3,2}, column i=1 is 10+ln{1,2,5} */
        l3, 10 + l2, /* o=1 a=1 */
        l2, 10 + l5, /* o=1 a=2 */
    };
    const double soft[] = {
        1.0 / 8, 1.0 / 3, 2.0 / 8, 1.0 / 3, 5.0 / 8, 1.0 / 3,
        3.0 / 8, 1.0 / 8, 3.0 / 8, 2.0 / 8, 2.0 / 8, 5.0 / 8,
    };
    double log_soft[12];
    for (size_t i = 0; i < 12; i++)
        log_soft[i] = log(soft[i]);
    clsm_shape s = {2, 3, 2};
    check_example(wide_dtypes, N_OF(wide_dtypes), CLSM_SOFTMAX, s, 1.0f, x, soft);
    check_example(wide_dtypes, N_OF(wide_dtypes), CLSM_LOG_SOFTMAX, s, 1.0f, x, log_soft);
}

Test(contract, scale_multiplies_the_inputs)
{
    const double x[] = {0, log(3.0)};
    clsm_shape s = {1, 2, 1};
    const double twice[] = {0.1, 0.9};
    const double negated[] = {0.75, 0.25};
    const double halved[] = {1 / (1 + sqrt(3.0)), sqrt(3.0) / (1 + sqrt(3.0))};
    const double zero[] = {0.5, 0.5};
    const double log_twice[] = {log(0.1), log(0.9)};
    check_example(wide_dtypes, N_OF(wide_dtypes), CLSM_SOFTMAX, s, 2.0f, x, twice);
    check_example(wide_dtypes, N_OF(wide_dtypes), CLSM_SOFTMAX, s, -1.0f, x, negated);
    check_example(wide_dtypes, N_OF(wide_dtypes), CLSM_SOFTMAX, s, 0.5f, x, halved);
    check_example(wide_dtypes, N_OF(wide_dtypes), CLSM_SOFTMAX, s, 0.0f, x, zero);
    check_example(wide_dtypes, N_OF(wide_dtypes), CLSM_LOG_SOFTMAX, s, 2.0f, x, log_twice);
}

Test(contract, build_log_is_empty_after_successful_builds)
{
    const float x[] = {1, 2, 3};
    float y[3];
    clsm_shape s = {1, 3, 1};
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        clsm_status st = clsm_softmax_host(ts_ctx[c], CLSM_SOFTMAX, CLSM_F32, s, 1.0f, x, y);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", ts_config_name(c), clsm_status_string(st));
        const char *log = clsm_context_build_log(ts_ctx[c]);
        cr_assert_not_null(log, "%s: build log is NULL", ts_config_name(c));
        cr_assert_str_empty(log, "%s: build log is \"%s\"", ts_config_name(c), log);
    }
}

Test(contract, context_queue_belongs_to_a_live_opencl_context)
{
    for (size_t c = 0; c < TS_CONFIGS; c++) {
        cl_command_queue q = clsm_context_queue(ts_ctx[c]);
        cr_assert_not_null(q, "%s: no queue", ts_config_name(c));
        cl_context cl = NULL;
        cl_int err = clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL);
        cr_assert_eq(err, CL_SUCCESS, "%s: clGetCommandQueueInfo: %d", ts_config_name(c), err);
        cl_uint n_devices = 0;
        err = clGetContextInfo(cl, CL_CONTEXT_NUM_DEVICES, sizeof n_devices, &n_devices, NULL);
        cr_assert_eq(err, CL_SUCCESS, "%s: clGetContextInfo: %d", ts_config_name(c), err);
        cr_assert_geq(n_devices, 1, "%s: the queue's context has no device", ts_config_name(c));
    }
}

Test(api, version_is_major_minor_patch_from_the_header)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", CLSM_VERSION_MAJOR, CLSM_VERSION_MINOR,
             CLSM_VERSION_PATCH);
    const char *v = clsm_version();
    cr_assert_not_null(v);
    cr_assert_str_eq(v, want);
    unsigned a, b, c;
    int used = 0;
    cr_assert_eq(sscanf(v, "%u.%u.%u%n", &a, &b, &c, &used), 3, "\"%s\" is not M.m.p", v);
    cr_assert_eq((size_t)used, strlen(v), "\"%s\" has trailing text", v);
}

Test(api, status_strings_are_distinct_and_never_null)
{
    const clsm_status known[] = {
        CLSM_SUCCESS,          CLSM_ERROR_INVALID_ARGUMENT, CLSM_ERROR_INVALID_SHAPE,
        CLSM_ERROR_UNSUPPORTED, CLSM_ERROR_DEVICE_NOT_FOUND, CLSM_ERROR_BUILD_FAILED,
        CLSM_ERROR_OUT_OF_MEMORY, CLSM_ERROR_OPENCL,        CLSM_ERROR_MPI,
    };
    const size_t n = sizeof known / sizeof known[0];
    const char *unknown[] = {clsm_status_string((clsm_status)n),
                             clsm_status_string((clsm_status)-1),
                             clsm_status_string((clsm_status)12345)};
    for (size_t u = 0; u < 3; u++) {
        cr_assert_not_null(unknown[u], "unknown status %zu has a NULL string", u);
        cr_assert_str_not_empty(unknown[u]);
    }
    for (size_t i = 0; i < n; i++) {
        const char *si = clsm_status_string(known[i]);
        cr_assert_not_null(si, "status %d has a NULL string", (int)known[i]);
        cr_assert_str_not_empty(si, "status %d has an empty string", (int)known[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(si, clsm_status_string(known[j]), "statuses %d and %d share \"%s\"",
                              (int)known[i], (int)known[j], si);
        for (size_t u = 0; u < 3; u++)
            cr_assert_str_neq(si, unknown[u], "an unknown status reads as status %d (\"%s\")",
                              (int)known[i], si);
    }
}

Test(api, null_context_is_safe_for_release_and_getters)
{
    clsm_context_release(NULL);
    cr_assert_null(clsm_context_queue(NULL));
    const char *log = clsm_context_build_log(NULL);
    cr_assert_not_null(log);
    cr_assert_str_empty(log);
}

/* --- clsm_context_create_on_device() --- */

static cl_device_id device_of(const clsm_context *c)
{
    cl_device_id d = NULL;
    cl_int err =
        clGetCommandQueueInfo(clsm_context_queue(c), CL_QUEUE_DEVICE, sizeof d, &d, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clGetCommandQueueInfo: %d", err);
    return d;
}

/* The name of the device the default rule picks, through clsm_context_create(). */
static char *default_device_name(cl_device_id *device)
{
    unsetenv("CLSM_DEVICE");
    clsm_context *c = NULL;
    clsm_status st = clsm_context_create(&c);
    cr_assert_eq(st, CLSM_SUCCESS, "clsm_context_create: %s", clsm_status_string(st));
    *device = device_of(c);
    clsm_context_release(c);
    size_t len = 0;
    cr_assert_eq(clGetDeviceInfo(*device, CL_DEVICE_NAME, 0, NULL, &len), CL_SUCCESS);
    char *name = calloc(len + 1, 1);
    cr_assert_not_null(name);
    cr_assert_eq(clGetDeviceInfo(*device, CL_DEVICE_NAME, len, name, NULL), CL_SUCCESS);
    return name;
}

/* The string wins over CLSM_DEVICE, which here names nothing: a middle part of the name, in
 * swapped case, finds the device. */
Test(contract, device_named_by_a_substring_is_created_on)
{
    cl_device_id want;
    char *name = default_device_name(&want);
    size_t len = strlen(name);
    cr_assert_geq(len, 3, "device name \"%s\" is too short to cut", name);
    char *part = name + len / 3;
    part[len / 3 + 1] = '\0';
    for (char *p = part; *p; p++)
        *p = (char)(islower((unsigned char)*p) ? toupper((unsigned char)*p)
                                               : tolower((unsigned char)*p));
    setenv("CLSM_DEVICE", "no-such-device-anywhere", 1);
    clsm_context *c = NULL;
    clsm_status st = clsm_context_create_on_device(&c, part);
    cr_assert_eq(st, CLSM_SUCCESS, "\"%s\": %s", part, clsm_status_string(st));
    cr_assert_eq(device_of(c), want, "\"%s\" picked another device", part);
    clsm_context_release(c);
    free(name);
}

Test(contract, device_naming_nothing_is_not_found_and_clears_out)
{
    unsetenv("CLSM_DEVICE");
    const char *nothing[] = {"no-such-device-anywhere", "9:9", "0:999"};
    for (size_t i = 0; i < N_OF(nothing); i++) {
        clsm_context *c = (clsm_context *)&c; /* any non-NULL value, to see that failure clears it */
        clsm_status st = clsm_context_create_on_device(&c, nothing[i]);
        cr_assert_eq(st, CLSM_ERROR_DEVICE_NOT_FOUND, "\"%s\": got %s", nothing[i],
                     clsm_status_string(st));
        cr_assert_null(c, "\"%s\": *out not cleared on failure", nothing[i]);
    }
}

Test(contract, device_with_null_out_is_an_invalid_argument)
{
    cr_assert_eq(clsm_context_create_on_device(NULL, "0:0"), CLSM_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clsm_context_create_on_device(NULL, NULL), CLSM_ERROR_INVALID_ARGUMENT);
}

/* NULL and "" are clsm_context_create(): the default device, and CLSM_DEVICE when set. */
Test(contract, device_null_or_empty_follows_the_default_rule)
{
    cl_device_id want;
    free(default_device_name(&want));
    const char *defaults[] = {NULL, ""};
    for (size_t i = 0; i < N_OF(defaults); i++) {
        const char *shown = defaults[i] ? "\"\"" : "NULL";
        unsetenv("CLSM_DEVICE");
        clsm_context *c = NULL;
        clsm_status st = clsm_context_create_on_device(&c, defaults[i]);
        cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", shown, clsm_status_string(st));
        cr_assert_eq(device_of(c), want, "%s picked another device than the default", shown);
        clsm_context_release(c);

        setenv("CLSM_DEVICE", "no-such-device-anywhere", 1);
        c = (clsm_context *)&c;
        st = clsm_context_create_on_device(&c, defaults[i]);
        cr_assert_eq(st, CLSM_ERROR_DEVICE_NOT_FOUND, "%s with CLSM_DEVICE naming nothing: %s",
                     shown, clsm_status_string(st));
        cr_assert_null(c, "%s: *out not cleared on failure", shown);
    }
}
