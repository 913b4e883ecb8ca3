/* The on-disk program cache: written by one context, loaded by the next, and any bad entry or directory silently rebuilt from source. */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reference.h"
#include "support.h"

/*
 * This executable defines the two ways of creating a program, so the dynamic
 * linker binds libclsoftmax's calls to them (as in test_faults.c): counting
 * them shows whether a kernel came from the cache or from source.
 */
static struct {
    int from_source;
    int from_binary;
    int reject_binaries; /* answer CL_INVALID_BINARY, as a driver does to a foreign binary */
} cl_calls;

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    cr_assert(f, "no real %s", name);
    return f;
}

cl_program clCreateProgramWithSource(cl_context context, cl_uint count, const char **strings,
                                     const size_t *lengths, cl_int *err)
{
    cl_program (*next)(cl_context, cl_uint, const char **, const size_t *, cl_int *) =
        real("clCreateProgramWithSource");
    __atomic_fetch_add(&cl_calls.from_source, 1, __ATOMIC_RELAXED);
    return next(context, count, strings, lengths, err);
}

cl_program clCreateProgramWithBinary(cl_context context, cl_uint num_devices,
                                     const cl_device_id *devices, const size_t *lengths,
                                     const unsigned char **binaries, cl_int *binary_status,
                                     cl_int *err)
{
    cl_program (*next)(cl_context, cl_uint, const cl_device_id *, const size_t *,
                       const unsigned char **, cl_int *, cl_int *) =
        real("clCreateProgramWithBinary");
    __atomic_fetch_add(&cl_calls.from_binary, 1, __ATOMIC_RELAXED);
    if (cl_calls.reject_binaries) {
        for (cl_uint i = 0; binary_status && i < num_devices; i++)
            binary_status[i] = CL_INVALID_BINARY;
        if (err)
            *err = CL_INVALID_BINARY;
        return NULL;
    }
    return next(context, num_devices, devices, lengths, binaries, binary_status, err);
}

static void reset_counts(void)
{
    cl_calls.from_source = 0;
    cl_calls.from_binary = 0;
}

/* This test's directory, fresh and below the binary's own CLSM_CACHE_DIR where ctest set one. */
static char root[1024];

static void make_dirs(const char *dir)
{
    char path[1024];
    cr_assert_lt(strlen(dir), sizeof path);
    strcpy(path, dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        cr_assert(mkdir(path, 0777) == 0 || errno == EEXIST, "mkdir %s: %s", path,
                  strerror(errno));
        *p = '/';
    }
    cr_assert(mkdir(path, 0777) == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
}

static void fresh_root(void)
{
    const char *base = getenv("CLSM_CACHE_DIR");
    if (!base || !*base)
        base = "/tmp";
    make_dirs(base);
    snprintf(root, sizeof root, "%s/test-XXXXXX", base);
    cr_assert_not_null(mkdtemp(root), "mkdtemp %s: %s", root, strerror(errno));
}

/* root/name into buf */
static const char *below_root(char *buf, size_t size, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", root, name);
    cr_assert(n > 0 && (size_t)n < size);
    return buf;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Only on success: a failed test leaves its files to look at. */
static void remove_root(void)
{
    cr_assert_eq(nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0, "removing %s", root);
}

/* One context per kernel family, each checking a softmax against the reference. */
static void run_all(void)
{
    float x[3 * 100 * 16];
    ts_rng r = ts_rng_seed(91);
    ts_fill_uniform(&r, CLSM_F32, x, 3 * 100 * 16, -10, 10);
    for (size_t i = 0; i < TS_FAMILIES; i++) {
        /* A shape each family takes itself, so that every family is a program of its own. */
        const char *family = ts_families[i];
        const clsm_shape shape = {3, 100, strcmp(family, "columns") == 0 ? 16 : 1};
        clsm_context *ctx;
        clsm_status st = ts_context_create_family(&ctx, family);
        cr_assert_eq(st, CLSM_SUCCESS, "%s context: %s", family, clsm_status_string(st));
        ts_run_and_check(ctx, family, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x, NULL);
        clsm_context_release(ctx);
    }
}

#define MAX_ENTRIES 32
typedef struct entry {
    char path[1200];
    struct stat st;
} entry;

/* The files in dir (none if it does not exist); a temporary file left behind fails the test. */
static size_t list_entries(const char *dir, entry *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        cr_assert_eq(errno, ENOENT, "opendir %s: %s", dir, strerror(errno));
        return 0;
    }
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cr_assert_null(strstr(e->d_name, ".tmp"), "temporary file left behind: %s/%s", dir,
                       e->d_name);
        cr_assert_lt(n, MAX_ENTRIES);
        snprintf(out[n].path, sizeof out[n].path, "%s/%s", dir, e->d_name);
        cr_assert_eq(stat(out[n].path, &out[n].st), 0, "stat %s", out[n].path);
        cr_assert(S_ISREG(out[n].st.st_mode), "%s is not a regular file", out[n].path);
        cr_assert_gt(out[n].st.st_size, 0, "%s is empty", out[n].path);
        n++;
    }
    closedir(d);
    return n;
}

static const entry *find_entry(const entry *list, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].path, path) == 0)
            return &list[i];
    cr_assert_fail("%s has gone", path);
    return NULL;
}

/* A cache directory that does not exist yet, two levels deep, as CLSM_CACHE_DIR. */
static const char *use_new_cache_dir(char *buf, size_t size)
{
    fresh_root();
    below_root(buf, size, "new/cache");
    setenv("CLSM_CACHE_DIR", buf, 1);
    return buf;
}

/* Fills the cache and returns its entries, one per program built. */
static size_t fill(const char *dir, entry *list)
{
    reset_counts();
    run_all();
    size_t n = list_entries(dir, list);
    cr_assert_geq(n, 2, "%zu cache entries for two kernel families", n);
    cr_assert_eq((int)n, cl_calls.from_source, "%zu entries for %d programs built from source", n,
                 cl_calls.from_source);
    return n;
}

Test(cache, first_contexts_write_one_entry_per_program)
{
    char dir[1024];
    use_new_cache_dir(dir, sizeof dir);
    entry list[MAX_ENTRIES];
    size_t n = fill(dir, list);
    cr_assert_eq(cl_calls.from_binary, 0, "an empty cache gave %d binaries", cl_calls.from_binary);
    /* Every entry holds its full key; the library version is a part of it. */
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(list[i].path, "rb");
        cr_assert_not_null(f);
        char *data = malloc((size_t)list[i].st.st_size);
        cr_assert_eq(fread(data, 1, (size_t)list[i].st.st_size, f), (size_t)list[i].st.st_size);
        fclose(f);
        cr_assert_not_null(memmem(data, (size_t)list[i].st.st_size, clsm_version(),
                                  strlen(clsm_version())),
                           "%s does not hold the library version", list[i].path);
        free(data);
    }
    remove_root();
}

/* After run, the entries are as they were (same inode, same mtime) and every program was loaded. */
static void expect_loaded_by(void (*run)(void), const char *dir, const entry *before, size_t n)
{
    reset_counts();
    run();
    cr_assert_eq(cl_calls.from_source, 0, "%d programs built from source with a full cache",
                 cl_calls.from_source);
    cr_assert_eq(cl_calls.from_binary, (int)n, "%d programs from %zu entries",
                 cl_calls.from_binary, n);
    entry after[MAX_ENTRIES];
    cr_assert_eq(list_entries(dir, after), n);
    for (size_t i = 0; i < n; i++) {
        const entry *a = find_entry(after, n, before[i].path);
        cr_assert(a->st.st_ino == before[i].st.st_ino &&
                      a->st.st_mtim.tv_sec == before[i].st.st_mtim.tv_sec &&
                      a->st.st_mtim.tv_nsec == before[i].st.st_mtim.tv_nsec &&
                      a->st.st_size == before[i].st.st_size,
                  "%s was rewritten", a->path);
    }
}

static void expect_loaded(const char *dir, const entry *before, size_t n)
{
    expect_loaded_by(run_all, dir, before, n);
}

Test(cache, later_contexts_load_the_entries)
{
    char dir[1024];
    use_new_cache_dir(dir, sizeof dir);
    entry list[MAX_ENTRIES];
    size_t n = fill(dir, list);
    expect_loaded(dir, list, n);
    remove_root();
}

static void read_whole(const char *path, unsigned char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long end = ftell(f);
    cr_assert_gt(end, 0);
    *size = (size_t)end;
    rewind(f);
    *data = malloc(*size);
    cr_assert_eq(fread(*data, 1, *size, f), *size);
    fclose(f);
}

/* Writes in place, keeping the inode, so that a rewrite by the library shows as a new inode. */
static void write_whole(const char *path, const unsigned char *data, size_t size)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "open %s", path);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    cr_assert_eq(fflush(f), 0);
    cr_assert_eq(ftruncate(fileno(f), (off_t)size), 0);
    fclose(f);
}

static void garbage(unsigned char *data, size_t *size)
{
    ts_rng r = ts_rng_seed(92);
    for (size_t i = 0; i < *size; i++)
        data[i] = (unsigned char)ts_rng_next(&r);
}

static void truncate_half(unsigned char *data, size_t *size)
{
    (void)data;
    *size /= 2;
}

static void truncate_last_byte(unsigned char *data, size_t *size)
{
    (void)data;
    *size -= 1;
}

/* A byte near the end of the binary, which only the checksum sees. */
static void flip_binary_byte(unsigned char *data, size_t *size)
{
    data[*size - 16] ^= 0x40;
}

/* An entry for another library version: the key text differs, the binary and checksum hold. */
static void alter_key(unsigned char *data, size_t *size)
{
    const char *version = clsm_version();
    unsigned char *at = memmem(data, *size, version, strlen(version));
    cr_assert_not_null(at, "no key text found in the entry");
    at[0] = at[0] == '9' ? '8' : '9';
}

/*
 * Damages every entry, then checks that the next contexts give right results
 * from source and rewrite each entry (a new inode), and that the contexts after
 * them load the rewritten entries.
 */
static void check_rebuilt(void (*damage)(unsigned char *data, size_t *size))
{
    char dir[1024];
    use_new_cache_dir(dir, sizeof dir);
    entry list[MAX_ENTRIES];
    size_t n = fill(dir, list);
    for (size_t i = 0; i < n; i++) {
        unsigned char *data;
        size_t size;
        read_whole(list[i].path, &data, &size);
        damage(data, &size);
        write_whole(list[i].path, data, size);
        free(data);
    }
    entry damaged[MAX_ENTRIES];
    cr_assert_eq(list_entries(dir, damaged), n);

    reset_counts();
    run_all();
    cr_assert_eq(cl_calls.from_source, (int)n, "%d of %zu damaged entries built from source",
                 cl_calls.from_source, n);
    entry rewritten[MAX_ENTRIES];
    cr_assert_eq(list_entries(dir, rewritten), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_neq(find_entry(rewritten, n, damaged[i].path)->st.st_ino, damaged[i].st.st_ino,
                      "%s was not rewritten", damaged[i].path);
    expect_loaded(dir, rewritten, n);
    remove_root();
}

Test(cache, garbage_entries_are_rebuilt)
{
    check_rebuilt(garbage);
}

Test(cache, truncated_entries_are_rebuilt)
{
    check_rebuilt(truncate_half);
}

Test(cache, entries_missing_their_last_byte_are_rebuilt)
{
    check_rebuilt(truncate_last_byte);
}

Test(cache, entries_with_a_changed_binary_are_rebuilt)
{
    check_rebuilt(flip_binary_byte);
}

Test(cache, entries_with_another_key_are_rebuilt)
{
    check_rebuilt(alter_key);
}

Test(cache, binaries_the_driver_rejects_are_rebuilt)
{
    char dir[1024];
    use_new_cache_dir(dir, sizeof dir);
    entry list[MAX_ENTRIES];
    size_t n = fill(dir, list);
    cl_calls.reject_binaries = 1;
    reset_counts();
    run_all();
    cr_assert_eq(cl_calls.from_binary, (int)n, "%d of %zu entries offered to the driver",
                 cl_calls.from_binary, n);
    cr_assert_eq(cl_calls.from_source, (int)n, "%d of %zu rejected binaries built from source",
                 cl_calls.from_source, n);
    cl_calls.reject_binaries = 0;
    entry rewritten[MAX_ENTRIES];
    cr_assert_eq(list_entries(dir, rewritten), n);
    expect_loaded(dir, rewritten, n);
    remove_root();
}

/* Root ignores permissions, so the directory is made unusable by a file in its path. */
Test(cache, a_directory_below_a_file_still_gives_right_results)
{
    fresh_root();
    char file[1200], dir[1200];
    below_root(file, sizeof file, "file");
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("not a directory\n", f);
    fclose(f);
    setenv("CLSM_CACHE_DIR", below_root(dir, sizeof dir, "file/cache"), 1);
    for (int round = 0; round < 2; round++) {
        reset_counts();
        run_all();
        cr_assert_eq(cl_calls.from_binary, 0, "round %d: %d programs from binaries", round,
                     cl_calls.from_binary);
        cr_assert_geq(cl_calls.from_source, 2, "round %d", round);
    }
    entry list[MAX_ENTRIES];
    cr_assert_eq(list_entries(root, list), 1, "files beside the blocking one");
    cr_assert_eq(list[0].st.st_size, (off_t)strlen("not a directory\n"));
    remove_root();
}

/* The default locations, made private to the test through XDG_CACHE_HOME and HOME. */
static void use_private_home(char *xdg_entries, char *home_entries, size_t size)
{
    fresh_root();
    char xdg[1200], home[1200];
    setenv("XDG_CACHE_HOME", below_root(xdg, sizeof xdg, "xdg"), 1);
    setenv("HOME", below_root(home, sizeof home, "home"), 1);
    below_root(xdg_entries, size, "xdg/clsoftmax");
    below_root(home_entries, size, "home/.cache/clsoftmax");
}

Test(cache, an_empty_cache_dir_turns_the_cache_off)
{
    char xdg[1200], home[1200];
    use_private_home(xdg, home, sizeof xdg);
    setenv("CLSM_CACHE_DIR", "", 1);
    for (int round = 0; round < 2; round++) {
        reset_counts();
        run_all();
        cr_assert_eq(cl_calls.from_binary, 0, "round %d: %d programs from binaries", round,
                     cl_calls.from_binary);
    }
    entry list[MAX_ENTRIES];
    cr_assert_eq(list_entries(xdg, list), 0, "entries in %s", xdg);
    cr_assert_eq(list_entries(home, list), 0, "entries in %s", home);
    remove_root();
}

Test(cache, unset_it_lives_in_xdg_cache_home_else_in_home)
{
    char xdg[1200], home[1200];
    use_private_home(xdg, home, sizeof xdg);
    unsetenv("CLSM_CACHE_DIR");
    entry list[MAX_ENTRIES];
    fill(xdg, list);
    cr_assert_eq(list_entries(home, list), 0, "entries in %s", home);

    unsetenv("XDG_CACHE_HOME");
    fill(home, list);
    remove_root();
}

/* Contexts in several threads build, and so write, the same entries at once. */
#define N_THREADS 4
static const clsm_shape job_shape = {3, 100, 1};

typedef struct job {
    clsm_context *ctx;
    float x[300], y[300];
    clsm_status status;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    j->status = clsm_softmax_host(j->ctx, CLSM_SOFTMAX, CLSM_F32, job_shape, 1.0f, j->x, j->y);
    return NULL;
}

static void run_group_context(void)
{
    float x[300];
    ts_rng r = ts_rng_seed(93);
    ts_fill_uniform(&r, CLSM_F32, x, 300, -10, 10);
    clsm_context *ctx;
    clsm_status st = ts_context_create_family(&ctx, "group");
    cr_assert_eq(st, CLSM_SUCCESS, "%s", clsm_status_string(st));
    ts_run_and_check(ctx, "group", CLSM_SOFTMAX, CLSM_F32, job_shape, 1.0f, x, NULL);
    clsm_context_release(ctx);
}

Test(cache, concurrent_writers_leave_whole_entries)
{
    char dir[1024];
    use_new_cache_dir(dir, sizeof dir);
    static job jobs[N_THREADS];
    pthread_t threads[N_THREADS];
    ts_rng r = ts_rng_seed(94);
    /* Created here: only the builds, at the first call, need to race. */
    for (int i = 0; i < N_THREADS; i++) {
        clsm_status st = ts_context_create_family(&jobs[i].ctx, "group");
        cr_assert_eq(st, CLSM_SUCCESS, "context %d: %s", i, clsm_status_string(st));
        ts_fill_uniform(&r, CLSM_F32, jobs[i].x, 300, -10, 10);
    }
    for (int i = 0; i < N_THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, run_job, &jobs[i]), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        clsm_context_release(jobs[i].ctx);
        cr_assert_eq(jobs[i].status, CLSM_SUCCESS, "thread %d: %s", i,
                     clsm_status_string(jobs[i].status));
        double expected[300];
        ref_softmax(CLSM_SOFTMAX, CLSM_F32, job_shape, 1.0f, jobs[i].x, expected);
        ts_report rep = ts_check(CLSM_SOFTMAX, CLSM_F32, job_shape, jobs[i].y, expected);
        cr_assert(rep.ok, "thread %d: %s", i, rep.msg);
    }
    entry list[MAX_ENTRIES];
    size_t n = list_entries(dir, list);
    cr_assert_geq(n, 1);
    expect_loaded_by(run_group_context, dir, list, n);
    remove_root();
}
