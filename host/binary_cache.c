/* The on-disk cache of program binaries, below the in-memory one: any entry that is not exactly right means a build from source. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Entry layout, integers little-endian:
 *   magic[8], u32 format version,
 *   u64 key length, key text,
 *   u64 binary length, binary,
 *   u64 FNV-1a of the binary.
 * The full key is stored because the file name is only its hash.
 */
static const unsigned char entry_magic[8] = {'C', 'L', 'S', 'M', 'B', 'I', 'N', '\0'};
/* Raise it when the layout changes, so that old entries read as corrupt and are rebuilt. */
#define ENTRY_FORMAT 1u
#define ENTRY_HEAD (sizeof entry_magic + 4)

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

static uint64_t fnv1a(uint64_t h, const void *data, size_t size)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < size; ++i) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

clsm_status clsm_binary_cache_dir(char **dir)
{
    const char *base = getenv("CLSM_CACHE_DIR");
    const char *sub = "";
    *dir = NULL;
    if (base) {
        if (!*base)
            return CLSM_SUCCESS;
    } else if ((base = getenv("XDG_CACHE_HOME")) && base[0] == '/') {
        /* The XDG spec says to ignore a relative XDG_CACHE_HOME. */
        sub = "/clsoftmax";
    } else if ((base = getenv("HOME")) && *base) {
        sub = "/.cache/clsoftmax";
    } else {
        return CLSM_SUCCESS;
    }
    size_t base_len = strlen(base), sub_len = strlen(sub);
    *dir = malloc(base_len + sub_len + 1);
    if (!*dir)
        return CLSM_ERROR_OUT_OF_MEMORY;
    memcpy(*dir, base, base_len);
    memcpy(*dir + base_len, sub, sub_len + 1);
    return CLSM_SUCCESS;
}

static char *device_string(cl_device_id device, cl_device_info param)
{
    size_t size = 0;
    if (clGetDeviceInfo(device, param, 0, NULL, &size) != CL_SUCCESS || size == 0)
        return NULL;
    char *s = malloc(size);
    if (s && clGetDeviceInfo(device, param, size, s, NULL) != CL_SUCCESS) {
        free(s);
        return NULL;
    }
    if (s)
        s[size - 1] = '\0';
    return s;
}

static char *platform_version(cl_device_id device)
{
    cl_platform_id platform;
    size_t size = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL) !=
            CL_SUCCESS ||
        clGetPlatformInfo(platform, CL_PLATFORM_VERSION, 0, NULL, &size) != CL_SUCCESS ||
        size == 0)
        return NULL;
    char *s = malloc(size);
    if (s && clGetPlatformInfo(platform, CL_PLATFORM_VERSION, size, s, NULL) != CL_SUCCESS) {
        free(s);
        return NULL;
    }
    if (s)
        s[size - 1] = '\0';
    return s;
}

/* Appends "label length:value\n"; the length keeps two different keys from reading the same. */
static int put_field(char **key, size_t *len, const char *label, const char *value)
{
    if (!value)
        return 0;
    size_t value_len = strlen(value);
    int head = snprintf(NULL, 0, "%s %zu:", label, value_len);
    if (head < 0)
        return 0;
    char *grown = realloc(*key, *len + (size_t)head + value_len + 2);
    if (!grown)
        return 0;
    *key = grown;
    snprintf(grown + *len, (size_t)head + 1, "%s %zu:", label, value_len);
    memcpy(grown + *len + head, value, value_len);
    *len += (size_t)head + value_len;
    grown[(*len)++] = '\n';
    grown[*len] = '\0';
    return 1;
}

/* Everything a binary depends on, as text; NULL if any of it cannot be read. */
static char *make_key(const clsm_context *ctx, cl_uint count, const char **sources,
                      const char *options, size_t *len)
{
    char *key = NULL;
    char *platform = platform_version(ctx->device);
    char *name = device_string(ctx->device, CL_DEVICE_NAME);
    char *version = device_string(ctx->device, CL_DEVICE_VERSION);
    char *driver = device_string(ctx->device, CL_DRIVER_VERSION);
    *len = 0;
    int ok = put_field(&key, len, "library", clsm_version()) &&
             put_field(&key, len, "platform", platform) && put_field(&key, len, "device", name) &&
             put_field(&key, len, "device-version", version) &&
             put_field(&key, len, "driver", driver) && put_field(&key, len, "options", options);
    for (cl_uint i = 0; ok && i < count; ++i)
        ok = put_field(&key, len, "source", sources[i]);
    free(driver);
    free(version);
    free(name);
    free(platform);
    if (!ok) {
        free(key);
        return NULL;
    }
    return key;
}

/* <dir>/<128-bit hash of the key>.bin */
static char *entry_path(const char *dir, const char *key, size_t key_len)
{
    uint64_t h1 = fnv1a(FNV_OFFSET, key, key_len);
    uint64_t h2 = fnv1a(FNV_OFFSET ^ UINT64_C(0x9e3779b97f4a7c15), key, key_len);
    size_t size = strlen(dir) + 1 + 32 + 4 + 1;
    char *path = malloc(size);
    if (path)
        snprintf(path, size, "%s/%016" PRIx64 "%016" PRIx64 ".bin", dir, h1, h2);
    return path;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    unsigned char *data = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uintmax_t)st.st_size > SIZE_MAX)
        goto done;
    *size = (size_t)st.st_size;
    data = malloc(*size);
    for (size_t got = 0; data && got < *size;) {
        ssize_t n = read(fd, data + got, *size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(data);
            data = NULL;
        } else {
            got += (size_t)n;
        }
    }
done:
    close(fd);
    return data;
}

/* Finds the binary in an entry; 0 unless every field checks out and the key is this one. */
static int parse_entry(const unsigned char *data, size_t size, const char *key, size_t key_len,
                       size_t *binary_at, size_t *binary_size)
{
    if (size < ENTRY_HEAD + 8 || memcmp(data, entry_magic, sizeof entry_magic) != 0)
        return 0;
    const unsigned char *v = data + sizeof entry_magic;
    if (((uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24) !=
        ENTRY_FORMAT)
        return 0;
    size_t at = ENTRY_HEAD;
    if (get_u64(data + at) != key_len || size - at - 8 < key_len)
        return 0;
    at += 8;
    if (memcmp(data + at, key, key_len) != 0)
        return 0;
    at += key_len;
    /* The binary must end exactly 8 bytes (its checksum) before the file does. */
    if (size - at < 16 || get_u64(data + at) != size - at - 16)
        return 0;
    at += 8;
    *binary_at = at;
    *binary_size = size - at - 8;
    return get_u64(data + size - 8) == fnv1a(FNV_OFFSET, data + at, *binary_size);
}

static cl_program load(clsm_context *ctx, const char *path, const char *key, size_t key_len,
                       const char *options)
{
    size_t size, at, binary_size;
    unsigned char *data = read_file(path, &size);
    if (!data)
        return NULL;
    cl_program program = NULL;
    if (!parse_entry(data, size, key, key_len, &at, &binary_size))
        goto done;
    const unsigned char *binary = data + at;
    cl_int err;
    program = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &binary_size, &binary, NULL,
                                        &err);
    if (err != CL_SUCCESS) {
        program = NULL;
        goto done;
    }
    if (clBuildProgram(program, 1, &ctx->device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(program);
        program = NULL;
    }
done:
    free(data);
    return program;
}

/* Distinguishes the temporary files of threads in one process. */
static unsigned long next_tmp_number(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned long counter;
    pthread_mutex_lock(&lock);
    unsigned long n = counter++;
    pthread_mutex_unlock(&lock);
    return n;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char *path = strdup(dir);
    if (!path)
        return 0;
    int ok = 1;
    for (char *p = path + 1; ok; ++p) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        ok = mkdir(path, 0777) == 0 || errno == EEXIST;
        *p = c;
        if (!c)
            break;
    }
    free(path);
    return ok;
}

static int write_all(int fd, const unsigned char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        data += n;
        size -= (size_t)n;
    }
    return 1;
}

/*
 * Readers see the old entry or the new one, never half of one: the entry is
 * written aside and renamed over. No fsync: an entry a crash leaves short
 * fails its checks and is rebuilt.
 */
static void write_file(const char *path, const unsigned char *data, size_t size)
{
    size_t tmp_size = strlen(path) + 64;
    char *tmp = malloc(tmp_size);
    if (!tmp)
        return;
    snprintf(tmp, tmp_size, "%s.tmp.%ld.%lu", path, (long)getpid(), next_tmp_number());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
        int ok = write_all(fd, data, size);
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, path) != 0)
            unlink(tmp);
    }
    free(tmp);
}

static void store(const clsm_context *ctx, const char *path, const char *key, size_t key_len,
                  cl_program program)
{
    cl_uint devices;
    size_t binary_size;
    /* The directory first: PoCL compiles again to hand out a binary (a third of a cold
     * start), wasted where the entry cannot be written. A program in a borrowed
     * multi-device context holds one binary per device; those are left uncached. */
    if (!make_dirs(ctx->cache_dir) ||
        clGetProgramInfo(program, CL_PROGRAM_NUM_DEVICES, sizeof devices, &devices, NULL) !=
            CL_SUCCESS ||
        devices != 1 ||
        clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof binary_size, &binary_size,
                         NULL) != CL_SUCCESS ||
        binary_size == 0 || binary_size > SIZE_MAX - ENTRY_HEAD - 24 - key_len)
        return;
    size_t size = ENTRY_HEAD + 8 + key_len + 8 + binary_size + 8;
    unsigned char *entry = malloc(size);
    if (!entry)
        return;
    unsigned char *binary = entry + ENTRY_HEAD + 8 + key_len + 8;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof binary, &binary, NULL) ==
        CL_SUCCESS) {
        memcpy(entry, entry_magic, sizeof entry_magic);
        for (int i = 0; i < 4; ++i)
            entry[sizeof entry_magic + i] = (unsigned char)(ENTRY_FORMAT >> (8 * i));
        put_u64(entry + ENTRY_HEAD, key_len);
        memcpy(entry + ENTRY_HEAD + 8, key, key_len);
        put_u64(binary - 8, binary_size);
        put_u64(binary + binary_size, fnv1a(FNV_OFFSET, binary, binary_size));
        write_file(path, entry, size);
    }
    free(entry);
}

cl_int clsm_program_build(clsm_context *ctx, cl_uint count, const char **sources,
                          const char *options, cl_program *program)
{
    size_t key_len = 0;
    char *key = ctx->cache_dir ? make_key(ctx, count, sources, options, &key_len) : NULL;
    char *path = key ? entry_path(ctx->cache_dir, key, key_len) : NULL;
    cl_int err = CL_SUCCESS;
    *program = path ? load(ctx, path, key, key_len, options) : NULL;
    if (*program)
        goto done;
    *program = clCreateProgramWithSource(ctx->cl, count, sources, NULL, &err);
    if (err != CL_SUCCESS) {
        *program = NULL;
        goto done;
    }
    err = clBuildProgram(*program, 1, &ctx->device, options, NULL, NULL);
    if (err == CL_SUCCESS && path)
        store(ctx, path, key, key_len, *program);
done:
    free(path);
    free(key);
    return err;
}
