/* Injected OpenCL failures: each maps to its status, leaves y untouched and leaves the context usable. */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "support.h"

/*
 * This executable defines the OpenCL entry points below, so the dynamic linker
 * binds libclsoftmax's calls to them; each passes through to the real one
 * (RTLD_NEXT) unless its fault is armed. This is the only place the suite
 * fakes OpenCL, and only to fail it.
 */
static struct {
    cl_ulong max_alloc; /* where not 0, reported instead of the real one and enforced */
    size_t kernel_group; /* the same for CL_KERNEL_WORK_GROUP_SIZE */
    int no_fp64;
    int no_platform;
    int broken_source;
    int no_buffers;
    int enqueue_fails;
} fault;

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    cr_assert(f, "no real %s", name);
    return f;
}

cl_int clGetDeviceInfo(cl_device_id device, cl_device_info param, size_t size, void *value,
                       size_t *size_ret)
{
    cl_int (*next)(cl_device_id, cl_device_info, size_t, void *, size_t *) =
        real("clGetDeviceInfo");
    cl_int err = next(device, param, size, value, size_ret);
    if (err == CL_SUCCESS && fault.no_fp64 && param == CL_DEVICE_DOUBLE_FP_CONFIG && value)
        memset(value, 0, size);
    if (err == CL_SUCCESS && fault.max_alloc && param == CL_DEVICE_MAX_MEM_ALLOC_SIZE && value)
        memcpy(value, &fault.max_alloc, sizeof fault.max_alloc);
    return err;
}

cl_int clGetPlatformIDs(cl_uint n, cl_platform_id *platforms, cl_uint *n_ret)
{
    if (fault.no_platform)
        return -1001; /* CL_PLATFORM_NOT_FOUND_KHR, what the ICD loader says without drivers */
    cl_int (*next)(cl_uint, cl_platform_id *, cl_uint *) = real("clGetPlatformIDs");
    return next(n, platforms, n_ret);
}

cl_program clCreateProgramWithSource(cl_context context, cl_uint count, const char **strings,
                                     const size_t *lengths, cl_int *err)
{
    cl_program (*next)(cl_context, cl_uint, const char **, const size_t *, cl_int *) =
        real("clCreateProgramWithSource");
    if (!fault.broken_source)
        return next(context, count, strings, lengths, err);
    /* A real compiler error, so that the build log is real too. */
    const char *sources[8];
    cr_assert(count < 8 && !lengths);
    memcpy(sources, strings, count * sizeof *strings);
    sources[count] = "\nthis_is_an_injected_syntax_error\n";
    return next(context, count + 1, sources, NULL, err);
}

cl_mem clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size, void *host,
                      cl_int *err)
{
    if (fault.no_buffers || (fault.max_alloc && size > fault.max_alloc)) {
        if (err)
            *err = fault.no_buffers ? CL_MEM_OBJECT_ALLOCATION_FAILURE : CL_INVALID_BUFFER_SIZE;
        return NULL;
    }
    cl_mem (*next)(cl_context, cl_mem_flags, size_t, void *, cl_int *) = real("clCreateBuffer");
    return next(context, flags, size, host, err);
}

cl_int clGetKernelWorkGroupInfo(cl_kernel kernel, cl_device_id device,
                                cl_kernel_work_group_info param, size_t size, void *value,
                                size_t *size_ret)
{
    cl_int (*next)(cl_kernel, cl_device_id, cl_kernel_work_group_info, size_t, void *,
                   size_t *) = real("clGetKernelWorkGroupInfo");
    cl_int err = next(kernel, device, param, size, value, size_ret);
    if (err == CL_SUCCESS && fault.kernel_group && param == CL_KERNEL_WORK_GROUP_SIZE && value)
        memcpy(value, &fault.kernel_group, sizeof fault.kernel_group);
    return err;
}

cl_int clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel, cl_uint dims,
                              const size_t *offset, const size_t *global, const size_t *local,
                              cl_uint n_events, const cl_event *events, cl_event *event)
{
    if (fault.enqueue_fails)
        return CL_OUT_OF_RESOURCES;
    if (fault.kernel_group && local && local[0] > fault.kernel_group)
        return CL_INVALID_WORK_GROUP_SIZE;
    cl_int (*next)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,
                   const size_t *, cl_uint, const cl_event *, cl_event *) =
        real("clEnqueueNDRangeKernel");
    return next(queue, kernel, dims, offset, global, local, n_events, events, event);
}

/* A gate that holds kernel builds until the test opens it, counting those that arrive. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int closed;
    int arrived;
} build_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

cl_int clBuildProgram(cl_program program, cl_uint n_devices, const cl_device_id *devices,
                      const char *options, void (*notify)(cl_program, void *), void *data)
{
    pthread_mutex_lock(&build_gate.lock);
    build_gate.arrived++;
    pthread_cond_broadcast(&build_gate.changed);
    while (build_gate.closed)
        pthread_cond_wait(&build_gate.changed, &build_gate.lock);
    pthread_mutex_unlock(&build_gate.lock);
    cl_int (*next)(cl_program, cl_uint, const cl_device_id *, const char *,
                   void (*)(cl_program, void *), void *) = real("clBuildProgram");
    return next(program, n_devices, devices, options, notify, data);
}

#define N 30
static const clsm_shape shape = {3, 10, 1};

/* Runs the host path with y sentinel-filled; checks the status and, on failure, y. */
static void expect_host(clsm_context *ctx, clsm_dtype dtype, clsm_status want, const char *what)
{
    double x[N], y[N];
    for (int i = 0; i < N; i++)
        ts_store(dtype, x, (size_t)i, i % 7);
    ts_fill_sentinel(y, sizeof y);
    clsm_status st = clsm_softmax_host(ctx, CLSM_SOFTMAX, dtype, shape, 1.0f, x, y);
    cr_assert_eq(st, want, "%s: got %s, want %s", what, clsm_status_string(st),
                 clsm_status_string(want));
    if (want != CLSM_SUCCESS) {
        ts_report r = ts_check_sentinel(y, sizeof y);
        cr_assert(r.ok, "%s: y changed: %s", what, r.msg);
    }
}

static clsm_context *create(void)
{
    clsm_context *ctx;
    clsm_status st = ts_context_create_family(&ctx, NULL);
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    return ctx;
}

Test(faults, device_without_fp64_refuses_f64_only)
{
    fault.no_fp64 = 1;
    clsm_context *ctx = create();
    expect_host(ctx, CLSM_F64, CLSM_ERROR_UNSUPPORTED, "host F64");
    expect_host(ctx, CLSM_F32, CLSM_SUCCESS, "host F32");

    cl_command_queue queue = clsm_context_queue(ctx);
    cl_context cl;
    cr_assert_eq(clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL),
                 CL_SUCCESS);
    double y[N];
    ts_fill_sentinel(y, sizeof y);
    cl_mem xb = ts_cl_buffer(cl, CL_MEM_READ_ONLY, sizeof y, y);
    cl_mem yb = ts_cl_buffer(cl, CL_MEM_READ_WRITE, sizeof y, y);
    clsm_status st = clsm_softmax_buffers(ctx, CLSM_SOFTMAX, CLSM_F64, shape, 1.0f, xb, 0, yb, 0,
                                          0, NULL, NULL);
    cr_assert_eq(st, CLSM_ERROR_UNSUPPORTED, "buffers F64: %s", clsm_status_string(st));
    ts_cl_read(queue, yb, 0, sizeof y, y);
    ts_report r = ts_check_sentinel(y, sizeof y);
    cr_assert(r.ok, "buffers F64: y changed: %s", r.msg);
    clReleaseMemObject(yb);
    clReleaseMemObject(xb);
    clsm_context_release(ctx);
}

Test(faults, no_platform_is_device_not_found)
{
    fault.no_platform = 1;
    clsm_context *ctx = (clsm_context *)&fault;
    clsm_status st = ts_context_create_family(&ctx, NULL);
    cr_assert_eq(st, CLSM_ERROR_DEVICE_NOT_FOUND, "%s", clsm_status_string(st));
    cr_assert_null(ctx);
}

Test(faults, compiler_error_is_build_failed_with_its_log_and_is_not_cached)
{
    /* A binary cached on disk by another test would never reach the broken source. */
    setenv("CLSM_CACHE_DIR", "", 1);
    clsm_context *ctx = create();
    fault.broken_source = 1;
    expect_host(ctx, CLSM_F32, CLSM_ERROR_BUILD_FAILED, "broken source");
    const char *log = clsm_context_build_log(ctx);
    cr_assert(strstr(log, "this_is_an_injected_syntax_error"),
              "the build log does not name the error: \"%s\"", log);
    fault.broken_source = 0;
    expect_host(ctx, CLSM_F32, CLSM_SUCCESS, "after the compiler error");
    clsm_context_release(ctx);
}

Test(faults, failed_allocation_is_out_of_memory_and_recovers)
{
    clsm_context *ctx = create();
    fault.no_buffers = 1;
    expect_host(ctx, CLSM_F32, CLSM_ERROR_OUT_OF_MEMORY, "no buffers");
    fault.no_buffers = 0;
    expect_host(ctx, CLSM_F32, CLSM_SUCCESS, "buffers back");
    clsm_context_release(ctx);
}

Test(faults, failed_enqueue_leaves_y_untouched_and_recovers)
{
    clsm_context *ctx = create();
    fault.enqueue_fails = 1;
    expect_host(ctx, CLSM_F16, CLSM_ERROR_OUT_OF_MEMORY, "enqueue fails");
    fault.enqueue_fails = 0;
    expect_host(ctx, CLSM_F16, CLSM_SUCCESS, "enqueue works");
    clsm_context_release(ctx);
}

/* A device whose largest allocation is 64 KiB makes the host path split a 444 KB tensor
 * into runs of 147 outer slices, the last one short; a lost or misplaced run shows. */
Test(faults, host_tensor_above_the_allocation_limit_goes_through_in_runs)
{
    fault.max_alloc = 64 * 1024;
    clsm_context *ctx = create();
    const clsm_shape s = {1000, 37, 3};
    const size_t n = ts_count(s);
    ts_rng r = ts_rng_seed(81);
    for (int dt = CLSM_F32; dt <= CLSM_F64; dt++) {
        void *x = ts_alloc((clsm_dtype)dt, n);
        ts_fill_uniform(&r, (clsm_dtype)dt, x, n, -5, 5);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++)
            ts_run_and_check(ctx, "auto, 64 KiB allocations", (clsm_op)op, (clsm_dtype)dt, s,
                             1.0f, x, NULL);
        free(x);
    }
    clsm_context_release(ctx);
}

/* The backward with options in runs too: each run's rows must meet their own mask row,
 * causal alignment and KV length (the run's first slice), and x its run. 600 rows of 37 make
 * two runs in F32 and three in F64; the mask [rows, axis] is shared by the batch and heads,
 * so that it fits one allocation. */
Test(faults, host_backward_with_options_goes_through_in_runs)
{
    fault.max_alloc = 64 * 1024;
    clsm_context *ctx = create();
    const clsm_shape s = {600, 37, 1};
    const size_t n = ts_count(s);
    ts_rng r = ts_rng_seed(83);
    float *mask = ts_malloc(100 * 37 * sizeof *mask);
    for (size_t i = 0; i < 100 * 37; i++)
        mask[i] = ts_rng_below(&r, 6) == 0 ? -INFINITY : (float)ts_rng_uniform(&r, -1, 1);
    int32_t lengths[2] = {37, 30};
    clsm_options o = CLSM_OPTIONS_INIT;
    o.batch = 2, o.heads = 3, o.rows = 100;
    o.mask_type = CLSM_MASK_ADD_F32;
    o.mask.host = mask;
    o.mask_stride[2] = 37, o.mask_stride[3] = 1;
    o.causal = 1;
    o.causal_offset = 10;
    o.kv_lengths.host = lengths;
    o.softcap = 3.0f;
    double *want = ts_malloc(n * sizeof *want), *bound = ts_malloc(n * sizeof *bound);
    for (int dt = CLSM_F32; dt <= CLSM_F64; dt += CLSM_F64 - CLSM_F32) {
        void *x = ts_alloc((clsm_dtype)dt, n), *y = ts_alloc((clsm_dtype)dt, n);
        void *dy = ts_alloc((clsm_dtype)dt, n), *dx = ts_alloc((clsm_dtype)dt, n);
        ts_fill_uniform(&r, (clsm_dtype)dt, x, n, -5, 5);
        ts_fill_uniform(&r, (clsm_dtype)dt, y, n, -3, 0);
        ts_fill_uniform(&r, (clsm_dtype)dt, dy, n, -1, 1);
        for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
            clsm_status st = clsm_softmax_backward_host_ex(ctx, (clsm_op)op, (clsm_dtype)dt, s,
                                                           0.5, &o, x, y, dy, dx);
            cr_assert_eq(st, CLSM_SUCCESS, "%s: %s", ts_dtype_name((clsm_dtype)dt),
                         clsm_status_string(st));
            ref_softmax_backward_ex((clsm_op)op, (clsm_dtype)dt, s, 0.5, &o, x, y, dy, want,
                                    bound);
            ts_report rep = ts_check_backward((clsm_dtype)dt, s, dx, want, bound);
            cr_assert(rep.ok, "%s %s: %s", ts_dtype_name((clsm_dtype)dt),
                      ts_op_name((clsm_op)op), rep.msg);
        }
        free(dx);
        free(dy);
        free(y);
        free(x);
    }
    free(bound);
    free(want);
    free(mask);
    clsm_context_release(ctx);
}

/* A single slice larger than any allocation cannot be split. */
Test(faults, slice_above_the_allocation_limit_is_out_of_memory)
{
    fault.max_alloc = 1024;
    clsm_context *ctx = create();
    float x[257], y[257];
    for (int i = 0; i < 257; i++)
        x[i] = (float)i;
    ts_fill_sentinel(y, sizeof y);
    clsm_status st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, (clsm_shape){1, 257, 1}, 1.0f,
                                       x, y);
    cr_assert_eq(st, CLSM_ERROR_OUT_OF_MEMORY, "%s", clsm_status_string(st));
    ts_report rep = ts_check_sentinel(y, sizeof y);
    cr_assert(rep.ok, "y changed: %s", rep.msg);
    clsm_context_release(ctx);
}

/* A kernel that allows only 16 work-items per group (register-hungry GPUs do that) must
 * still run, in every family, with the right results. */
Test(faults, kernels_allowing_small_work_groups_still_run)
{
    fault.kernel_group = 16;
    const clsm_shape shapes[] = {{3, 1000, 1}, {64, 100, 3}};
    const char *const families[] = {"item", "group", NULL};
    ts_rng r = ts_rng_seed(82);
    for (size_t v = 0; v < 3; v++) {
        clsm_context *ctx;
        clsm_status st = ts_context_create_family(&ctx, families[v]);
        cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            const size_t n = ts_count(shapes[k]);
            float *x = ts_alloc(CLSM_F32, n);
            ts_fill_uniform(&r, CLSM_F32, x, n, -5, 5);
            ts_run_and_check(ctx, families[v] ? families[v] : "auto", CLSM_LOG_SOFTMAX, CLSM_F32,
                             shapes[k], 1.0f, x, NULL);
            free(x);
        }
        clsm_context_release(ctx);
    }
}

/* One softmax_host call of a dtype on a thread, with its status and whether it is done. */
typedef struct call {
    clsm_context *ctx;
    clsm_dtype dtype;
    pthread_t thread;
    clsm_status status;
    int done; /* under build_gate.lock */
} call;

static void *run_call(void *arg)
{
    call *c = arg;
    double x[N], y[N];
    for (int i = 0; i < N; i++)
        ts_store(c->dtype, x, (size_t)i, i % 7);
    c->status = clsm_softmax_host(c->ctx, CLSM_SOFTMAX, c->dtype, shape, 1.0f, x, y);
    pthread_mutex_lock(&build_gate.lock);
    c->done = 1;
    pthread_cond_broadcast(&build_gate.changed);
    pthread_mutex_unlock(&build_gate.lock);
    return NULL;
}

static void start_call(call *c, clsm_context *ctx, clsm_dtype dtype)
{
    *c = (call){ctx, dtype, 0, CLSM_ERROR_OPENCL, 0};
    cr_assert_eq(pthread_create(&c->thread, NULL, run_call, c), 0);
}

/* Waits, with build_gate.lock held, until *flag is set or seconds pass; returns *flag. */
static int wait_for(const int *flag, int seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    while (!*flag)
        if (pthread_cond_timedwait(&build_gate.changed, &build_gate.lock, &deadline) != 0)
            break;
    return *flag;
}

/*
 * A compile takes from milliseconds to seconds. While one thread builds a kernel, a call
 * that needs a kernel already built goes on, and a call that needs the same kernel waits
 * for that build instead of compiling it again.
 */
Test(faults, a_kernel_build_holds_up_only_the_calls_that_need_it)
{
    setenv("CLSM_CACHE_DIR", "", 1);
    clsm_context *ctx = create();
    expect_host(ctx, CLSM_F32, CLSM_SUCCESS, "F32, built before the gate closes");

    pthread_mutex_lock(&build_gate.lock);
    build_gate.closed = 1;
    build_gate.arrived = 0;
    pthread_mutex_unlock(&build_gate.lock);
    call building, same_kernel, other_kernel;
    start_call(&building, ctx, CLSM_F64);
    pthread_mutex_lock(&build_gate.lock);
    int building_arrived = wait_for(&build_gate.arrived, 60);
    pthread_mutex_unlock(&build_gate.lock);
    start_call(&same_kernel, ctx, CLSM_F64);
    start_call(&other_kernel, ctx, CLSM_F32);
    pthread_mutex_lock(&build_gate.lock);
    int other_done = building_arrived && wait_for(&other_kernel.done, 30);
    int builds_while_held = build_gate.arrived;
    build_gate.closed = 0;
    pthread_cond_broadcast(&build_gate.changed);
    pthread_mutex_unlock(&build_gate.lock);
    pthread_join(building.thread, NULL);
    pthread_join(same_kernel.thread, NULL);
    pthread_join(other_kernel.thread, NULL);

    cr_assert(building_arrived, "the F64 call never reached clBuildProgram");
    cr_assert(other_done, "an F32 call waited for the F64 kernel's build");
    cr_assert_eq(builds_while_held, 1, "%d builds started while one was held",
                 builds_while_held);
    cr_assert_eq(build_gate.arrived, 1, "the F64 kernel was built %d times", build_gate.arrived);
    cr_assert_eq(building.status, CLSM_SUCCESS, "%s", clsm_status_string(building.status));
    cr_assert_eq(same_kernel.status, CLSM_SUCCESS, "%s", clsm_status_string(same_kernel.status));
    cr_assert_eq(other_kernel.status, CLSM_SUCCESS, "%s", clsm_status_string(other_kernel.status));
    clsm_context_release(ctx);
}
