/* The one declaration of the kernels' arguments and build flags (kernels/kernel_args.h), from inside the library: the kernels' compiled argument names against the host's table, and the program cache key at its longest. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "internal.h"

static clsm_context *ctx;

static void open_context(void)
{
    clsm_status st = clsm_context_create(&ctx);
    cr_assert_eq(st, CLSM_SUCCESS, "creating a context: %s", clsm_status_string(st));
}

static void close_context(void)
{
    clsm_context_release(ctx);
    ctx = NULL;
}

TestSuite(kernel_args, .init = open_context, .fini = close_context);

/* A variant of family that compiles: the families that compile a size or a count in get one
 * they launch. */
static clsm_variant variant_of(clsm_family_id family, int backward)
{
    clsm_variant v = {.family = family, .dtype = CLSM_F32, .write_y = 1, .backward = backward};
    if (clsm_family_of(family)->compiles_group_size)
        v.group_size = 64;
    if (family == CLSM_FAMILY_REGS)
        v.items = CLSM_REGS_FEW;
    return v;
}

/* Builds v's program with the argument names kept, and checks every kernel's names, in
 * order, against clsm_kernel_arg_name. */
static void check_names(clsm_variant v)
{
    const clsm_family *f = clsm_family_of(v.family);
    const char *sources[CLSM_PROGRAM_SOURCES_MAX];
    cl_uint count = clsm_program_sources(&v, sources);
    char options[CLSM_OPTIONS_MAX + 32];
    cr_assert_eq(clsm_variant_options(&v, options), CLSM_SUCCESS);
    strcat(options, " -cl-kernel-arg-info");
    cl_int err;
    cl_program program = clCreateProgramWithSource(ctx->cl, count, sources, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    cr_assert_eq(err, CL_SUCCESS, "%s%s: build failed (%d)", f->name,
                 v.backward ? " backward" : "", err);
    static const char *const sample_kernels[2] = {"sample_rows", NULL};
    const char *const *kernels = v.sample     ? sample_kernels
                                 : v.backward ? f->backward_kernels
                                              : f->kernels;
    clsm_arg_list list = v.sample ? CLSM_ARGS_SAMPLE : v.backward ? CLSM_ARGS_BACKWARD
                                                                  : CLSM_ARGS_FORWARD;
    for (int k = 0; k < 2 && kernels[k]; ++k) {
        cl_kernel kernel = clCreateKernel(program, kernels[k], &err);
        cr_assert_eq(err, CL_SUCCESS, "%s: no kernel", kernels[k]);
        cl_uint args;
        cr_assert_eq(clGetKernelInfo(kernel, CL_KERNEL_NUM_ARGS, sizeof args, &args, NULL),
                     CL_SUCCESS);
        for (cl_uint i = 0; i <= args; ++i) {
            const char *want = clsm_kernel_arg_name(list, i);
            if (i == args) {
                cr_expect_null(want, "%s takes %u arguments; the host's table has more, "
                                     "from %s on", kernels[k], args, want);
                break;
            }
            cr_assert_not_null(want, "%s takes %u arguments; the host's table ends at %u",
                               kernels[k], args, i);
            char name[64] = "";
            err = clGetKernelArgInfo(kernel, i, CL_KERNEL_ARG_NAME, sizeof name, name, NULL);
            cr_assert_eq(err, CL_SUCCESS, "%s: argument %u has no name info (%d)", kernels[k],
                         i, err);
            cr_expect_str_eq(name, want, "%s: argument %u is %s in the kernel, %s on the host",
                             kernels[k], i, name, want);
        }
        clReleaseKernel(kernel);
    }
    clReleaseProgram(program);
}

Test(kernel_args, forward_names_match_the_host_table)
{
    for (int family = CLSM_FAMILY_AUTO + 1; family < CLSM_FAMILY_COUNT; ++family)
        check_names(variant_of(family, 0));
}

Test(kernel_args, backward_names_match_the_host_table)
{
    for (int family = CLSM_FAMILY_AUTO + 1; family < CLSM_FAMILY_COUNT; ++family)
        if (clsm_family_of(family)->backward_source)
            check_names(variant_of(family, 1));
}

Test(kernel_args, sample_names_match_the_host_table)
{
    clsm_variant v = {.family = CLSM_FAMILY_GROUP, .dtype = CLSM_F32, .sample = 1,
                      .group_size = CLSM_SAMPLE_GROUP};
    check_names(v);
}

/* Every flag at a value of the most characters: the key must hold them all, and a cut would
 * lose the last flag first. */
Test(kernel_args, the_longest_possible_key_fits)
{
    for (int family = CLSM_FAMILY_AUTO + 1; family < CLSM_FAMILY_COUNT; ++family)
        cr_expect_leq(strlen(clsm_family_of(family)->name), CLSM_FAMILY_NAME_MAX,
                      "%s is longer than CLSM_FAMILY_NAME_MAX", clsm_family_of(family)->name);
    clsm_variant v = {.family = CLSM_FAMILY_COLUMNS, .dtype = CLSM_BF16};
#define LONGEST(field, FLAG, reach) v.field = LONG_MIN;
    CLSM_VARIANT_FLAGS(LONGEST)
#undef LONGEST
    char key[CLSM_OPTIONS_MAX];
    cr_assert_eq(clsm_variant_options(&v, key), CLSM_SUCCESS);
    cr_expect_lt(strlen(key), (size_t)CLSM_OPTIONS_MAX);
    char last[64];
    snprintf(last, sizeof last, " -DSAMPLE=%ld", LONG_MIN);
    cr_expect(strlen(key) > strlen(last) && !strcmp(key + strlen(key) - strlen(last), last),
              "the key does not end with its last flag: %s", key);
}

/* The longest key a call makes (group's work-group size, every option a forward call can set
 * together) builds, and is the program cache's key in full. */
Test(kernel_args, the_longest_variant_builds)
{
    clsm_variant v = {.family = CLSM_FAMILY_GROUP, .dtype = CLSM_BF16, .log_softmax = 1,
                      .group_size = 1024, .mask = CLSM_MASK_ADD_BF16, .causal = 1, .window = 1,
                      .sinks = 1, .stats_out = 1, .softcap = 1, .alibi = 1, .kv_lengths = 1,
                      .write_y = 1};
    if ((size_t)v.group_size > ctx->info.max_group_size)
        v.group_size = (long)ctx->info.max_group_size;
    char key[CLSM_OPTIONS_MAX];
    cr_assert_eq(clsm_variant_options(&v, key), CLSM_SUCCESS);
    clsm_status st;
    const clsm_program *p = clsm_program_get(ctx, &v, &st);
    cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", key, clsm_status_string(st));
    cr_assert_not_null(p);
    cr_expect_str_eq(p->key, key);
    cr_log_info("the longest key a call makes, %zu characters of %d: %s", strlen(key),
                CLSM_OPTIONS_MAX - 1, key);
}
