/* The library prints nothing: first calls with cold kernel caches, fd 1 and 2 captured, for the device's own target and, on PoCL, an AVX2 one. */
#define _GNU_SOURCE

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "support.h"

extern char **environ;

/* A run of the probe with both output fds on one file and fresh, empty kernel caches. */
typedef struct probe {
    const char *what;
    char dir[32];
    pid_t pid;
} probe;

static void probe_start(probe *p, const char *what, const char *const *extra_env)
{
    p->what = what;
    strcpy(p->dir, "/tmp/clsm-silence-XXXXXX");
    cr_assert_not_null(mkdtemp(p->dir));
    char pocl_cache[64], clsm_cache[64], output[64];
    snprintf(pocl_cache, sizeof pocl_cache, "POCL_CACHE_DIR=%s/pocl", p->dir);
    snprintf(clsm_cache, sizeof clsm_cache, "CLSM_CACHE_DIR=%s/clsm", p->dir);
    snprintf(output, sizeof output, "%s/output", p->dir);
    cr_assert_eq(mkdir(pocl_cache + strlen("POCL_CACHE_DIR="), 0700), 0);

    /* The caller's environment, less what the probe must not inherit. */
    size_t n = 0;
    while (environ[n])
        n++;
    const char **env = calloc(n + 8, sizeof *env);
    cr_assert_not_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "POCL_", 5) != 0 && strncmp(environ[i], "CLSM_", 5) != 0)
            env[k++] = environ[i];
    env[k++] = pocl_cache;
    env[k++] = clsm_cache;
    for (size_t i = 0; extra_env[i]; i++)
        env[k++] = extra_env[i];

    int fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fd, 1);
    posix_spawn_file_actions_adddup2(&actions, fd, 2);
    char *argv[] = {SILENCE_PROBE, NULL};
    int err = posix_spawn(&p->pid, SILENCE_PROBE, &actions, NULL, argv, (char **)env);
    cr_assert_eq(err, 0, "posix_spawn %s: %s", SILENCE_PROBE, strerror(err));
    posix_spawn_file_actions_destroy(&actions);
    close(fd);
    free(env);
}

/* Waits for the probe, then fails on a failed probe or on any byte it wrote. */
static void probe_expect_silence(probe *p)
{
    int status;
    cr_assert_eq(waitpid(p->pid, &status, 0), p->pid);
    char path[64], out[4096];
    snprintf(path, sizeof path, "%s/output", p->dir);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t got = fread(out, 1, sizeof out - 1, f);
    out[got] = '\0';
    fclose(f);
    char rm[64];
    snprintf(rm, sizeof rm, "rm -rf '%s'", p->dir);
    cr_assert_eq(system(rm), 0);
    cr_assert(WIFEXITED(status), "%s: the probe died (status %d); it wrote: %s", p->what,
              status, out);
    cr_assert_eq(WEXITSTATUS(status), 0,
                 "%s: the probe failed with %d (10: no context, 11: a call failed); it wrote: %s",
                 p->what, WEXITSTATUS(status), out);
    cr_assert_str_empty(out, "%s: the library wrote %zu bytes: %s", p->what, strlen(out), out);
}

/* PoCL compiles for the CPU it runs on; vectors wider than the target's registers make
 * clang warn on every call, which showed only on CPUs without AVX-512. PoCL can be told
 * to compile for an older CPU than its own. */
static int pocl_on_avx2_cpu(void)
{
    clsm_context *ctx;
    if (clsm_context_create(&ctx) != CLSM_SUCCESS)
        return 0;
    cl_device_id device;
    char name[256] = "";
    if (clGetCommandQueueInfo(clsm_context_queue(ctx), CL_QUEUE_DEVICE, sizeof device, &device,
                              NULL) == CL_SUCCESS)
        clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof name, name, NULL);
    clsm_context_release(ctx);
    char line[4096];
    int avx2 = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && !avx2 && fgets(line, sizeof line, f))
        avx2 = strncmp(line, "flags", 5) == 0 && strstr(line, " avx2") != NULL;
    if (f)
        fclose(f);
    return avx2 && strncmp(name, "pthread-", 8) == 0;
}

/* Both probes at once: each spends most of its time in single-threaded compiles. */
Test(silence, first_calls_print_nothing)
{
    const char *const native[] = {NULL};
    const char *const haswell[] = {"POCL_LLVM_CPU_NAME=haswell", "POCL_KERNELLIB_NAME=avx2",
                                   NULL};
    int avx2 = pocl_on_avx2_cpu();
    probe probes[2];
    probe_start(&probes[0], "the default device", native);
    if (avx2)
        probe_start(&probes[1], "PoCL compiling for haswell (AVX2, no AVX-512)", haswell);
    probe_expect_silence(&probes[0]);
    if (avx2)
        probe_expect_silence(&probes[1]);
}
