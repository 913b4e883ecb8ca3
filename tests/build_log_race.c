/* Two threads whose kernel builds fail side by side keep every build log they read, whole, until the context is released; a plain program, so that tests/sanitize can run it under ThreadSanitizer, which Criterion's runner cannot start under. */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clsoftmax.h>

#define ERROR_TOKEN "this_is_an_injected_syntax_error"
#define ROUNDS 3

/* Binds the library's calls here: every program gets a real compiler error, so that each
 * build fails with a real log. The only OpenCL call this program fakes. */
cl_program clCreateProgramWithSource(cl_context context, cl_uint count, const char **strings,
                                     const size_t *lengths, cl_int *err)
{
    cl_program (*next)(cl_context, cl_uint, const char **, const size_t *, cl_int *) =
        (cl_program(*)(cl_context, cl_uint, const char **, const size_t *, cl_int *))dlsym(
            RTLD_NEXT, "clCreateProgramWithSource");
    const char *sources[16];
    if (!next || count >= 16 || lengths) {
        *err = CL_INVALID_VALUE;
        return NULL;
    }
    memcpy(sources, strings, count * sizeof *strings);
    sources[count] = "\n" ERROR_TOKEN "\n";
    return next(context, count + 1, sources, NULL, err);
}

typedef struct failing_builds {
    clsm_context *ctx;
    clsm_dtype dtype;
    clsm_status status[ROUNDS];
    const char *log[ROUNDS];
} failing_builds;

static void *fail_builds(void *arg)
{
    failing_builds *f = arg;
    const float x[6] = {1, 2, 3, 4, 5, 6};
    float y[6];
    const clsm_shape shape = {2, 3, 1};
    for (int round = 0; round < ROUNDS; round++) {
        /* A failed build is not kept, so every round builds, and fails, anew. */
        clsm_op op = round % 2 ? CLSM_LOG_SOFTMAX : CLSM_SOFTMAX;
        f->status[round] = clsm_softmax_host(f->ctx, op, f->dtype, shape, 1.0f, x, y);
        f->log[round] = clsm_context_build_log(f->ctx);
    }
    return NULL;
}

int main(void)
{
    /* No binary from the on-disk cache may spare a build. */
    setenv("CLSM_CACHE_DIR", "", 1);
    clsm_context *ctx;
    clsm_status st = clsm_context_create(&ctx);
    if (st != CLSM_SUCCESS) {
        fprintf(stderr, "build_log_race: no context: %s\n", clsm_status_string(st));
        return 1;
    }
    failing_builds threads[2] = {{ctx, CLSM_F32, {0}, {0}}, {ctx, CLSM_F16, {0}, {0}}};
    pthread_t ids[2];
    for (int t = 0; t < 2; t++) {
        if (pthread_create(&ids[t], NULL, fail_builds, &threads[t]) != 0) {
            fprintf(stderr, "build_log_race: pthread_create failed\n");
            return 1;
        }
    }
    for (int t = 0; t < 2; t++)
        pthread_join(ids[t], NULL);

    int failures = 0;
    for (int t = 0; t < 2; t++) {
        for (int round = 0; round < ROUNDS; round++) {
            if (threads[t].status[round] != CLSM_ERROR_BUILD_FAILED) {
                fprintf(stderr, "build_log_race: thread %d, round %d: %s\n", t, round,
                        clsm_status_string(threads[t].status[round]));
                failures++;
            } else if (!strstr(threads[t].log[round], ERROR_TOKEN)) {
                fprintf(stderr, "build_log_race: thread %d, round %d: the log read then is now "
                        "\"%.200s\"\n", t, round, threads[t].log[round]);
                failures++;
            }
        }
    }
    clsm_context_release(ctx);
    return failures != 0;
}
