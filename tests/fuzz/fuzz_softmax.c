/* libFuzzer target over the public API, forward and backward: input bytes choose every argument, and each outcome is checked against the contract. */
#define _POSIX_C_SOURCE 200809L
#define CL_TARGET_OPENCL_VERSION 120

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clsoftmax.h>

/*
 * Input layout: a fixed header of HEADER bytes (missing bytes read as 0), then
 * the tensor data, repeated cyclically when shorter than the tensor; a backward
 * call's dy is the data from element count + 1 on, likewise (so y's bytes, one spare
 * byte and dy's, when written out in full).
 *   0      bit 0: buffers entry point, else host; bits 1-3: context (CTX_*)
 *   1, 2   op, dtype (values from 0xF0 up: unknown enum values)
 *   3-8    outer, axis, inner, u16 little-endian each (from 0xFFF0 up: HUGE[])
 *   9      scale: below 0x80 SCALES[], else the float whose bits are bytes 10-13
 *   14     host layout: bits 0-1 HOST_*, bit 2 NULL y (else x), bit 3 both NULL,
 *          bits 4-6 misalignment of the arrays in bytes
 *   15     host overlap: y = x + this signed byte count (0 counts as 1)
 *   16, 17 x, y buffer: bits 0-1 root (X_* and Y_*), bit 2 a sub-buffer, bits 3-4 its origin
 *   18     flags of the three roots, two bits each: 1 read-only, 2 write-only, else read-write
 *   19-22  x and y byte offsets, u16 each (from 0xFFF0 up: HUGE_OFFSETS[])
 *   23-25  signed byte count added to each root's size (negative: too small)
 *   26     bits 0-1 wait list (WAIT_*), bit 2 its event still pending during the call,
 *          bit 3 ask for an event, bits 4-5 count for a mismatched list, bit 6 a NULL
 *          event after the valid one
 *   27     bit 0 data as raw bit patterns, else one byte per element (value_of_byte);
 *          bit 1 also the context constructors and getters with bad arguments
 *   28     bit 0 the _ex entry point, bit 1 its options NULL; bits 2-4 mask type (5-7:
 *          unknown values, BAD_MASK_TYPES[]); bit 5 the mask tensor not set; bit 6 causal;
 *          bit 7 sinks
 *   29     bit 0 stats_out (with y NULL: statistics only); bit 1 stats_in, bit 2 its values
 *          the slices' own (else from bytes 42-47); bits 3-4 [batch, heads, rows]
 *          (DIMS_*); bits 5-6 mask strides (STRIDES_*); bit 7 causal_offset from
 *          OFFSETS[] (else bytes 37-38)
 *   30-32  batch, heads, rows (DIMS_RAW; DIMS_HUGE: HUGE[] by the low four bits)
 *   33-36  mask strides (STRIDES_RAW; STRIDES_HUGE: one of them HUGE[byte 34 & 15])
 *   37, 38 causal_offset, i16 little-endian, or OFFSETS[byte 37 & 7]
 *   39, 40 window, u16 (from 0xFFF0 up: HUGE[])
 *   41     buffers path: bits 0-2 which tensor gets a bad buffer (1 + T_*), bits 3-5 how
 *          (BAD_*)
 *   42-47  value_of_byte of these, in turn: the sinks, and the statistics given
 *   48     bit 0 the backward entry points (bytes 28-47 unused), whose y and dx take x's
 *          and y's place in the fields above, and dy its own: bit 1 on the host path, dx
 *          in place in (HOST_IN_PLACE) or overlapping (HOST_OVERLAP) y, else dy; bits 2-3
 *          dy on the host path (HDY_*); a NULL dx is byte 14's NULL y
 *   49     dy buffer: bits 0-1 root (DY_*), bit 2 a sub-buffer, bits 3-4 its origin
 *   50, 51 dy byte offset, u16 (from 0xFFF0 up: HUGE_OFFSETS[])
 *   52     host dy overlap: dy = y + this signed byte count (0 counts as 1)
 */
#define HEADER 53
/* Elements of a tensor the harness allocates; larger shapes are cut down. */
#define MAX_ELEMENTS 16384
#define SENTINEL 0xA5

enum { CTX_AUTO, CTX_FAMILY_LAST = 5, CTX_OWN, CTX_NULL, CTX_COUNT };
static const char *const FAMILIES[] = {NULL, "item", "group", "row", "columns", "split"};
enum { HOST_SEPARATE, HOST_IN_PLACE, HOST_OVERLAP, HOST_NULL };
enum { X_ROOT_A, X_ROOT_A2, X_FOREIGN, X_NULL };
enum { Y_ROOT_B, Y_ROOT_A, Y_FOREIGN, Y_NULL };
enum { DY_ROOT_B, DY_ROOT_A, DY_FOREIGN, DY_NULL };
enum { HDY_SEPARATE, HDY_SAME_AS_Y, HDY_OVERLAP_Y, HDY_NULL };
enum { WAIT_NONE, WAIT_VALID, WAIT_COUNT_WITHOUT_LIST, WAIT_LIST_WITHOUT_COUNT };
/* Roots of the buffers path: A and B in the shared OpenCL context, F in another one. */
enum { ROOT_A, ROOT_B, ROOT_F, ROOTS, NO_ROOT = -1 };

static const size_t HUGE[16] = {
    SIZE_MAX,          SIZE_MAX / 2,          SIZE_MAX / 2 + 1,     (size_t)1 << 32,
    ((size_t)1 << 32) + 1, (size_t)1 << 31,   (size_t)1 << 62,      (size_t)1 << 63,
    SIZE_MAX / 3,      SIZE_MAX / 4 + 1,      SIZE_MAX / 8 + 1,     (size_t)3 << 61,
    (size_t)1 << 33,   (size_t)1 << 40,       SIZE_MAX - 1,         (size_t)1 << 21};
static const size_t HUGE_OFFSETS[16] = {
    SIZE_MAX,     SIZE_MAX - 1,     SIZE_MAX - 3,     SIZE_MAX - 7,
    (size_t)1 << 63, ((size_t)1 << 63) + 8, (size_t)1 << 32, ((size_t)1 << 32) + 4,
    SIZE_MAX / 2, SIZE_MAX / 2 + 1, 65536,            65540,
    1 << 20,      (1 << 20) + 2,    SIZE_MAX - 15,    SIZE_MAX / 8 * 8};
/* The option tensors, and how a buffer of one can be wrong. */
enum { T_MASK, T_SINKS, T_STATS_IN, T_STATS_OUT, TENSORS };
enum { BAD_SMALL, BAD_MISALIGNED, BAD_HUGE_OFFSET, BAD_FOREIGN, BAD_FLAGS, BAD_KINDS };
enum { DIMS_ZERO, DIMS_FACTORS, DIMS_RAW, DIMS_HUGE };
enum { STRIDES_FULL, STRIDES_BROADCAST, STRIDES_RAW, STRIDES_HUGE };
static const int BAD_MASK_TYPES[3] = {5, -1, 0x7FFFFFFF};
/* Option tensors larger than this are not allocated: a mask's reach can be huge. */
#define MAX_TENSOR_BYTES ((size_t)1 << 22)
/* Bytes before each option tensor in its buffer: a multiple of every element size. */
#define TENSOR_PAD 24
/* Bytes after each option tensor in its buffer, to see writes past stats_out. */
#define TAIL_PAD 8
static const int BAD_ENUMS[16] = {2, 3, 4, 5, -1, -2, 7, 8, 16, 255, 256, 1000, 65536, -65536,
                                  0x7FFFFFFF, -0x7FFFFFFF - 1};

/* The process-wide state: contexts are costly, so they live as long as the fuzzer. */
static struct {
    cl_context cl, foreign_cl;
    cl_command_queue queue, foreign_queue;
    size_t base_align; /* sub-buffer origins are multiples of this */
    int has_fp64;
    clsm_context *ctx[CTX_COUNT];
    const uint8_t *input;
    size_t input_size;
} g;

static void save_input_and_trap(void)
{
    /* FNV-1a names the file, so a failure found twice is saved once. */
    uint64_t hash = 0xcbf29ce484222325u;
    for (size_t i = 0; i < g.input_size; i++)
        hash = (hash ^ g.input[i]) * 0x100000001b3u;
    const char *dir = getenv("FUZZ_CRASH_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/crash-%016llx", dir && *dir ? dir : ".",
             (unsigned long long)hash);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(g.input, 1, g.input_size, f);
        fclose(f);
        fprintf(stderr, "fuzz_softmax: input saved to %s\n", path);
    } else {
        fprintf(stderr, "fuzz_softmax: could not save the input to %s\n", path);
    }
    /* LLVM inside PoCL takes SIGABRT over, so libFuzzer would not see an abort(). */
    __builtin_trap();
}

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_softmax: contract violated: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    save_input_and_trap();
}

static void setup_failed(const char *what, long code)
{
    fprintf(stderr, "fuzz_softmax: setup: %s (%ld)\n", what, code);
    exit(1);
}

/* ---- Input decoding ---- */

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t byte_at(reader r, size_t i)
{
    return i < r.n ? r.p[i] : 0;
}

static uint16_t u16_at(reader r, size_t i)
{
    return (uint16_t)(byte_at(r, i) | byte_at(r, i + 1) << 8);
}

static uint32_t u32_at(reader r, size_t i)
{
    return (uint32_t)u16_at(r, i) | (uint32_t)u16_at(r, i + 2) << 16;
}

static const float SCALES[] = {
    1.0f, -1.0f, 0.5f, 2.0f, 0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX,
    FLT_MIN, 0x1p-149f, -0x1p-149f, 1e-40f, 1e-30f, 1e30f, 3.0f, -0.25f, 100.0f, 1e4f,
    0.125f, 1e-3f};
#define N_SCALES (sizeof SCALES / sizeof SCALES[0])

static float decode_scale(reader r)
{
    uint8_t s = byte_at(r, 9);
    if (s < 0x80)
        return SCALES[s % N_SCALES];
    uint32_t bits = u32_at(r, 10);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int decode_enum(uint8_t b, int valid_count)
{
    return b < 0xF0 ? b % valid_count : BAD_ENUMS[b & 15];
}

static size_t decode_dim(uint16_t v)
{
    return v >= 0xFFF0 ? HUGE[v & 15] : v;
}

static size_t decode_offset(uint16_t v)
{
    return v >= 0xFFF0 ? HUGE_OFFSETS[v & 15] : v;
}

/* ---- Element types ---- */

static int dtype_valid(int dtype)
{
    return dtype >= CLSM_F32 && dtype <= CLSM_F64;
}

static size_t dtype_size(int dtype)
{
    return dtype == CLSM_F64 ? 8 : dtype == CLSM_F32 ? 4 : 2;
}

static float f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 31u, m = h & 0x3FFu;
    if (e == 31) {
        uint32_t bits = sign | 0x7F800000u | m << 13;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 0x400u), (int)e - 25);
    return sign ? -v : v;
}

static uint16_t f16_from_float(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t a = bits & 0x7FFFFFFFu;
    if (a > 0x7F800000u)
        return sign | 0x7E00u;
    if (a >= 0x477FF000u) /* 65520 and above round to infinity */
        return sign | 0x7C00u;
    if (a < 0x38800000u) { /* below 2^-14: a subnormal, exactly v / 2^-24 rounded */
        float v;
        memcpy(&v, &a, sizeof v);
        return sign | (uint16_t)nearbyintf(v * 0x1p24f);
    }
    uint32_t rounded = a + 0xFFFu + ((a >> 13) & 1u);
    return sign | (uint16_t)((rounded - (112u << 23)) >> 13);
}

static float bf16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t bf16_from_float(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)(bits >> 16 | 0x40u);
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

/* Whether element i holds the one NaN the library writes in its dtype. */
static int canonical_nan(int dtype, const void *p, size_t i)
{
    static const unsigned char f32[] = {0x00, 0x00, 0xc0, 0x7f}, f16[] = {0x00, 0x7e},
                               bf16[] = {0xc0, 0x7f},
                               f64[] = {0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
    const unsigned char *want = dtype == CLSM_F16    ? f16
                                : dtype == CLSM_BF16 ? bf16
                                : dtype == CLSM_F64  ? f64
                                                     : f32;
    size_t size = dtype_size(dtype);
    return memcmp((const unsigned char *)p + i * size, want, size) == 0;
}

static double load(int dtype, const void *p, size_t i)
{
    const unsigned char *b = (const unsigned char *)p + i * dtype_size(dtype);
    uint16_t h;
    float f;
    double d;
    switch (dtype) {
    case CLSM_F16:
        memcpy(&h, b, 2);
        return f16_to_float(h);
    case CLSM_BF16:
        memcpy(&h, b, 2);
        return bf16_to_float(h);
    case CLSM_F64:
        memcpy(&d, b, 8);
        return d;
    default:
        memcpy(&f, b, 4);
        return f;
    }
}

static void store(int dtype, void *p, size_t i, double v)
{
    unsigned char *b = (unsigned char *)p + i * dtype_size(dtype);
    uint16_t h;
    float f = (float)v;
    switch (dtype) {
    case CLSM_F16:
        h = f16_from_float(f);
        memcpy(b, &h, 2);
        break;
    case CLSM_BF16:
        h = bf16_from_float(f);
        memcpy(b, &h, 2);
        break;
    case CLSM_F64:
        memcpy(b, &v, 8);
        break;
    default:
        memcpy(b, &f, 4);
        break;
    }
}

/* One byte per element: quarter steps around 0 where exp is interesting, then special values. */
static double value_of_byte(uint8_t b)
{
    static const double specials[32] = {
        NAN,      -NAN,     INFINITY, -INFINITY, 0.0,     -0.0,     FLT_MAX,   -FLT_MAX,
        0x1p-149f, -0x1p-149f, FLT_MIN, 1e30, -1e30, 88.7,   -87.3,    65504.0,
        -65504.0, 1e-5,     -103.9,   104.0,     1e38,    -1e38,    3e38,      -3e38,
        DBL_MAX,  -DBL_MAX, 1e300,    -1e300,    710.0,   -745.0,   1e-310,    0.1};
    return b < 0xE0 ? ((int)b - 112) * 0.25 : specials[b & 31];
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        setup_failed("out of memory", (long)n);
    return p;
}

/*
 * s·v as the kernels and tests/reference.c take it: the exact product, as hi + lo
 * (lo is 0 for F32/F16/BF16 data, whose products fit in a double), except that a
 * product whose rounding to the compute type overflows is ±inf, the contract's rule.
 */
typedef struct product {
    double hi, lo;
} product;

static product scaled(int dtype, float scale, double v)
{
    product p = {0, 0};
    if (dtype == CLSM_F64) {
        p.hi = (double)scale * v;
        if (isfinite(p.hi))
            p.lo = fma((double)scale, v, -p.hi);
    } else {
        float rounded = scale * (float)v;
        p.hi = isinf(rounded) ? rounded : (double)scale * v;
    }
    return p;
}

static int product_greater(product a, product b)
{
    return a.hi > b.hi || (a.hi == b.hi && a.lo > b.lo);
}

/* a - b for finite products. */
static long double product_minus(product a, product b)
{
    return ((long double)a.hi - b.hi) + ((long double)a.lo - b.lo);
}

/* ---- The request ---- */

typedef struct request {
    int buffers;
    int ctx_index;
    int op, dtype;
    clsm_shape shape;
    float scale;
    int count_overflows; /* outer*axis*inner does not fit in size_t */
    int bytes_overflow;  /* it does, but not times the element size */
    size_t count, bytes;
    int empty;
    int small; /* small enough for the harness to allocate */
    /* host path */
    int host_layout, host_null_x, host_null_y;
    size_t misalign;
    long overlap;
    /* buffers path */
    int x_root, y_root; /* ROOT_* or NO_ROOT for NULL */
    int x_sub, y_sub;
    size_t x_origin, y_origin; /* of the sub-buffer in its root; 0 without one */
    cl_mem_flags root_flags[ROOTS];
    size_t x_offset, y_offset;
    long size_delta[ROOTS];
    int wait, wait_pending, want_event, null_event;
    cl_uint mismatch_count;
    int raw_data, extra_calls;
    /* the tensor data: count elements, NULL unless small */
    unsigned char *x;
    /* the backward entry points: x's fields above are its y, y's its dx, and these its dy */
    int backward;
    int dx_on_y; /* host: dx in place in, or overlapping, y rather than dy */
    int host_dy; /* HDY_* */
    long dy_overlap;
    int dy_root, dy_sub;
    size_t dy_origin, dy_offset;
    unsigned char *dy; /* count elements, NULL unless small */
    /* the _ex entry points: opt holds the scalar options, the tensors are set per call */
    int ex, null_options;
    int options;   /* ex with options */
    clsm_options opt;
    int set[TENSORS]; /* which tensors the call sets */
    int stats_own; /* stats_in holds the slices' own statistics */
    uint8_t values[6];
    int bad_tensor, bad_kind;
    size_t slices; /* outer*inner, for small tensors */
    /* what each tensor needs, in bytes; overflow: it does not fit in size_t */
    size_t need[TENSORS];
    int need_overflows[TENSORS];
    unsigned char *tensor[TENSORS]; /* the host data of mask, sinks and stats_in */
} request;

static int mul_overflows(size_t a, size_t b, size_t *product)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 1;
    *product = a * b;
    return 0;
}

static void cut_to_size(clsm_shape *s)
{
    size_t *dims[3] = {&s->outer, &s->axis, &s->inner};
    for (;;) {
        size_t n;
        if (!mul_overflows(s->outer, s->axis, &n) && !mul_overflows(n, s->inner, &n) &&
            n <= MAX_ELEMENTS)
            return;
        size_t **largest = &dims[0];
        for (int i = 1; i < 3; i++)
            if (*dims[i] > **largest)
                largest = &dims[i];
        **largest /= 2;
    }
}

static cl_mem_flags decode_flags(unsigned bits)
{
    return bits == 1 ? CL_MEM_READ_ONLY : bits == 2 ? CL_MEM_WRITE_ONLY : CL_MEM_READ_WRITE;
}

static size_t mask_element_size(int type)
{
    return type == CLSM_MASK_ADD_F32 ? 4 : type == CLSM_MASK_KEEP_U8 ? 1 : 2;
}

static size_t stat_size(int dtype)
{
    return dtype == CLSM_F64 ? 8 : 4;
}

static int mask_type_valid(int type)
{
    return type >= CLSM_MASK_NONE && type <= CLSM_MASK_KEEP_U8;
}

/* [batch, heads, rows] as the options give them, all 0 (or no options) being [1, 1, outer]. */
static void row_dims(const request *q, size_t d[3])
{
    const clsm_options *o = &q->opt;
    int zero = !q->options || (!o->batch && !o->heads && !o->rows);
    d[0] = zero ? 1 : o->batch;
    d[1] = zero ? 1 : o->heads;
    d[2] = zero ? q->shape.outer : o->rows;
}

/* The bytes the mask's largest index reaches, or 1 where that overflows size_t. */
static int mask_need(const request *q, size_t *bytes)
{
    size_t d[3], largest = 0, term;
    row_dims(q, d);
    const size_t last[4] = {d[0] ? d[0] - 1 : 0, d[1] ? d[1] - 1 : 0, d[2] ? d[2] - 1 : 0,
                            q->shape.axis ? q->shape.axis - 1 : 0};
    for (int k = 0; k < 4; k++) {
        if (mul_overflows(last[k], q->opt.mask_stride[k], &term) || term > SIZE_MAX - largest)
            return 1;
        largest += term;
    }
    return largest == SIZE_MAX ||
           mul_overflows(largest + 1, mask_element_size(q->opt.mask_type), bytes);
}

/* Whether tensor k is too large to hold (or its size overflows): a token array stands in. */
static int token_tensor(const request *q, int k)
{
    return q->need_overflows[k] || q->need[k] > MAX_TENSOR_BYTES;
}

static void decode_options(reader r, request *q)
{
    uint8_t b = byte_at(r, 28), c = byte_at(r, 29);
    clsm_options *o = &q->opt;
    q->ex = b & 1;
    q->null_options = (b >> 1) & 1;
    q->options = q->ex && !q->null_options;
    unsigned type = (b >> 2) & 7;
    o->mask_type = (clsm_mask_type)(type <= CLSM_MASK_KEEP_U8 ? (int)type
                                                              : BAD_MASK_TYPES[type - 5]);
    q->set[T_MASK] = o->mask_type != CLSM_MASK_NONE && !((b >> 5) & 1);
    o->causal = (b >> 6) & 1;
    q->set[T_SINKS] = (b >> 7) & 1;
    q->set[T_STATS_OUT] = c & 1;
    q->set[T_STATS_IN] = (c >> 1) & 1;
    q->stats_own = (c >> 2) & 1;

    size_t *dims[3] = {&o->batch, &o->heads, &o->rows};
    switch ((c >> 3) & 3) {
    case DIMS_FACTORS: {
        /* heads a divisor of outer, so that the dims match. */
        size_t h = byte_at(r, 31) ? byte_at(r, 31) : 1;
        while (q->shape.outer % h)
            h--;
        o->batch = 1;
        o->heads = h;
        o->rows = q->shape.outer / h;
        break;
    }
    case DIMS_RAW:
        for (int k = 0; k < 3; k++)
            *dims[k] = byte_at(r, 30 + (size_t)k);
        break;
    case DIMS_HUGE:
        for (int k = 0; k < 3; k++)
            *dims[k] = HUGE[byte_at(r, 30 + (size_t)k) & 15];
        break;
    default:
        break;
    }

    size_t d[3];
    row_dims(q, d);
    size_t axis = q->shape.axis, *st = o->mask_stride;
    switch ((c >> 5) & 3) {
    case STRIDES_FULL:
        st[3] = 1, st[2] = axis, st[1] = d[2] * axis, st[0] = d[1] * d[2] * axis;
        break;
    case STRIDES_BROADCAST:
        st[3] = 1, st[2] = axis, st[1] = 0, st[0] = 0;
        break;
    case STRIDES_RAW:
        for (int k = 0; k < 4; k++)
            st[k] = byte_at(r, 33 + (size_t)k);
        break;
    default:
        for (int k = 0; k < 4; k++)
            st[k] = byte_at(r, 33 + (size_t)k);
        st[byte_at(r, 33) & 3] = HUGE[byte_at(r, 34) & 15];
        break;
    }

    if (c >> 7) {
        const ptrdiff_t rows = (ptrdiff_t)(d[2] & 0xFFFFFF), ax = (ptrdiff_t)(axis & 0xFFFFFF);
        const ptrdiff_t offsets[8] = {PTRDIFF_MIN, PTRDIFF_MAX, PTRDIFF_MIN + 1, PTRDIFF_MAX - 1,
                                      ax - rows,   -rows,       ax,              -ax - 1};
        o->causal_offset = offsets[byte_at(r, 37) & 7];
    } else {
        o->causal_offset = (int16_t)u16_at(r, 37);
    }
    o->window = decode_dim(u16_at(r, 39));
    uint8_t bad = byte_at(r, 41);
    q->bad_tensor = (bad & 7) - 1;
    q->bad_kind = (bad >> 3) & 7;
    /* One byte past an element boundary is still a boundary for a keep-mask's bytes. */
    if (q->bad_tensor == T_MASK && o->mask_type == CLSM_MASK_KEEP_U8 &&
        q->bad_kind == BAD_MISALIGNED)
        q->bad_kind = BAD_KINDS;
    for (int k = 0; k < 6; k++)
        q->values[k] = byte_at(r, 42 + (size_t)k);

    if (!q->options)
        return;
    q->need_overflows[T_MASK] = mask_type_valid(o->mask_type) && o->mask_type &&
                                mask_need(q, &q->need[T_MASK]);
    q->need_overflows[T_SINKS] = mul_overflows(d[1], stat_size(q->dtype), &q->need[T_SINKS]);
    size_t slices;
    q->need_overflows[T_STATS_IN] = mul_overflows(q->shape.outer, q->shape.inner, &slices) ||
                                    mul_overflows(slices, 2 * stat_size(q->dtype),
                                                  &q->need[T_STATS_IN]);
    q->slices = q->need_overflows[T_STATS_IN] ? 0 : slices;
    q->need[T_STATS_OUT] = q->need[T_STATS_IN];
    q->need_overflows[T_STATS_OUT] = q->need_overflows[T_STATS_IN];
    for (int k = 0; k < T_STATS_OUT; k++) {
        if (!q->set[k])
            continue;
        size_t bytes = token_tensor(q, k) ? 64 : q->need[k];
        q->tensor[k] = xmalloc(bytes);
        memset(q->tensor[k], 0, bytes);
    }
}

static void slice_u(const request *q, size_t o, size_t i, product *t);
static unsigned option_violations(const request *q);
static void slice_reference(const product *t, size_t n, double stats[2]);

/* Host data for the tensors the call sets, from the data bytes and bytes 42-47. A mask
 * whose reach overflows or is too large to hold gets a token array: a call must refuse it
 * (q->need tells whether it can). */
static void fill_tensors(reader r, request *q)
{
    const clsm_options *o = &q->opt;
    size_t data = r.n > HEADER ? r.n - HEADER : 0;
    const int sd = q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    if (q->set[T_MASK] && mask_type_valid(o->mask_type) && q->tensor[T_MASK]) {
        size_t n = (token_tensor(q, T_MASK) ? 64 : q->need[T_MASK]) /
                   mask_element_size(o->mask_type);
        /* Every seventh data byte from the fourth, so that the mask is not x again. */
        for (size_t i = 0; i < n; i++) {
            uint8_t b = data ? r.p[HEADER + (i * 7 + 3) % data] : 0;
            if (o->mask_type == CLSM_MASK_KEEP_U8)
                q->tensor[T_MASK][i] = b & 3;
            else
                store(o->mask_type == CLSM_MASK_ADD_F32   ? CLSM_F32
                      : o->mask_type == CLSM_MASK_ADD_F16 ? CLSM_F16
                                                          : CLSM_BF16,
                      q->tensor[T_MASK], i, value_of_byte(b));
        }
    }
    if (q->set[T_SINKS] && !token_tensor(q, T_SINKS))
        for (size_t h = 0; h < q->need[T_SINKS] / stat_size(q->dtype); h++)
            store(sd, q->tensor[T_SINKS], h, value_of_byte(q->values[h % 6]));
    if (!q->set[T_STATS_IN] || token_tensor(q, T_STATS_IN))
        return;
    /* The slices' own statistics need every tensor they read, within its bounds. */
    const int own = q->stats_own && !option_violations(q) && !token_tensor(q, T_MASK) &&
                    !token_tensor(q, T_SINKS);
    product *t = xmalloc((q->shape.axis + 1) * sizeof *t);
    for (size_t k = 0; k < q->slices; k++) {
        double st[2] = {value_of_byte(q->values[2 * k % 6]),
                        value_of_byte(q->values[(2 * k + 1) % 6])};
        if (own) {
            slice_u(q, k / q->shape.inner, k % q->shape.inner, t);
            slice_reference(t, q->shape.axis, st);
        }
        store(sd, q->tensor[T_STATS_IN], 2 * k, st[0]);
        store(sd, q->tensor[T_STATS_IN], 2 * k + 1, st[1]);
    }
    free(t);
}

static void decode(reader r, request *q)
{
    memset(q, 0, sizeof *q);
    uint8_t b0 = byte_at(r, 0);
    q->buffers = b0 & 1;
    q->ctx_index = (b0 >> 1) & 7;
    q->op = decode_enum(byte_at(r, 1), 2);
    q->dtype = decode_enum(byte_at(r, 2), 4);
    uint16_t dims[3] = {u16_at(r, 3), u16_at(r, 5), u16_at(r, 7)};
    q->shape.outer = decode_dim(dims[0]);
    q->shape.axis = decode_dim(dims[1]);
    q->shape.inner = decode_dim(dims[2]);
    /* Small dimensions are cut so the harness can hold the tensor; huge ones stay. */
    if (dims[0] < 0xFFF0 && dims[1] < 0xFFF0 && dims[2] < 0xFFF0)
        cut_to_size(&q->shape);
    q->scale = decode_scale(r);

    q->empty = q->shape.outer == 0 || q->shape.axis == 0 || q->shape.inner == 0;
    size_t n;
    q->count_overflows = !q->empty && (mul_overflows(q->shape.outer, q->shape.axis, &n) ||
                                       mul_overflows(n, q->shape.inner, &n));
    q->count = q->empty || q->count_overflows ? 0 : n;
    q->bytes_overflow = !q->count_overflows && dtype_valid(q->dtype) &&
                        mul_overflows(q->count, dtype_size(q->dtype), &q->bytes);
    q->small = !q->empty && !q->count_overflows && dtype_valid(q->dtype) &&
               q->count <= MAX_ELEMENTS;

    uint8_t host = byte_at(r, 14);
    q->host_layout = host & 3;
    q->host_null_x = q->host_layout == HOST_NULL && (!(host & 4) || (host & 8));
    q->host_null_y = q->host_layout == HOST_NULL && ((host & 4) || (host & 8));
    q->misalign = (host >> 4) & 7;
    q->overlap = (int8_t)byte_at(r, 15);
    if (q->overlap == 0)
        q->overlap = 1;
    /* Real arrays are only handed over for tensors the harness holds. */
    if (!q->buffers && !q->empty && !q->small && !q->host_null_x && !q->host_null_y)
        q->host_null_x = 1;

    uint8_t xm = byte_at(r, 16), ym = byte_at(r, 17), fl = byte_at(r, 18);
    static const int x_roots[4] = {ROOT_A, ROOT_A, ROOT_F, NO_ROOT};
    static const int y_roots[4] = {ROOT_B, ROOT_A, ROOT_F, NO_ROOT};
    q->x_root = x_roots[xm & 3];
    q->y_root = y_roots[ym & 3];
    q->x_sub = (xm >> 2) & 1;
    q->y_sub = (ym >> 2) & 1;
    q->x_origin = q->x_sub ? ((xm >> 3) & 3) * g.base_align : 0;
    q->y_origin = q->y_sub ? ((ym >> 3) & 3) * g.base_align : 0;
    for (int i = 0; i < ROOTS; i++)
        q->root_flags[i] = decode_flags((fl >> (2 * i)) & 3);
    q->x_offset = decode_offset(u16_at(r, 19));
    q->y_offset = decode_offset(u16_at(r, 21));
    for (int i = 0; i < ROOTS; i++)
        q->size_delta[i] = (int8_t)byte_at(r, 23 + (size_t)i);
    uint8_t ev = byte_at(r, 26);
    q->wait = ev & 3;
    q->wait_pending = (ev >> 2) & 1;
    q->want_event = (ev >> 3) & 1;
    q->mismatch_count = 1 + ((ev >> 4) & 3);
    q->null_event = (ev >> 6) & 1;
    uint8_t misc = byte_at(r, 27);
    q->raw_data = misc & 1;
    q->extra_calls = (misc >> 1) & 1;
    uint8_t bw = byte_at(r, 48), dym = byte_at(r, 49);
    static const int dy_roots[4] = {ROOT_B, ROOT_A, ROOT_F, NO_ROOT};
    q->backward = bw & 1;
    q->dx_on_y = (bw >> 1) & 1;
    q->host_dy = (bw >> 2) & 3;
    q->dy_root = dy_roots[dym & 3];
    q->dy_sub = (dym >> 2) & 1;
    q->dy_origin = q->dy_sub ? ((dym >> 3) & 3) * g.base_align : 0;
    q->dy_offset = decode_offset(u16_at(r, 50));
    q->dy_overlap = (int8_t)byte_at(r, 52);
    if (q->dy_overlap == 0)
        q->dy_overlap = 1;
    if (!q->backward)
        decode_options(r, q);

    if (!q->small)
        return;
    size_t element = dtype_size(q->dtype);
    q->x = malloc(q->bytes);
    if (!q->x)
        setup_failed("out of memory for x", 0);
    size_t data = r.n > HEADER ? r.n - HEADER : 0;
    for (size_t i = 0; i < q->count; i++) {
        if (data == 0)
            store(q->dtype, q->x, i, 0.0);
        else if (q->raw_data)
            for (size_t k = 0; k < element; k++)
                q->x[i * element + k] = r.p[HEADER + (i * element + k) % data];
        else
            store(q->dtype, q->x, i, value_of_byte(r.p[HEADER + i % data]));
    }
    if (q->options)
        fill_tensors(r, q);
    if (!q->backward)
        return;
    /* Past y's elements and one spare, so that a crafted input is y's bytes, one byte and
     * dy's; a shorter one cycles, mostly onto other bytes than y's. */
    q->dy = xmalloc(q->bytes);
    for (size_t i = 0; i < q->count; i++) {
        size_t e = q->count + 1 + i;
        if (data == 0)
            store(q->dtype, q->dy, i, 0.0);
        else if (q->raw_data)
            for (size_t k = 0; k < element; k++)
                q->dy[i * element + k] = r.p[HEADER + (e * element + k) % data];
        else
            store(q->dtype, q->dy, i, value_of_byte(r.p[HEADER + e % data]));
    }
}

/* ---- Expected statuses ---- */

#define BIT(status) (1u << (status))

/* The options' own scalar fields, which clsm_softmax_host_ex() lists. */
static unsigned option_violations(const request *q)
{
    const clsm_options *o = &q->opt;
    if (!q->options)
        return 0;
    size_t product;
    int dims_set = o->batch || o->heads || o->rows;
    if (!mask_type_valid(o->mask_type) || (o->window && !o->causal) ||
        ((o->mask_type != CLSM_MASK_NONE || o->causal || q->set[T_SINKS]) &&
         q->shape.inner != 1) ||
        (dims_set && (mul_overflows(o->batch, o->heads, &product) ||
                      mul_overflows(product, o->rows, &product) || product != q->shape.outer)))
        return BIT(CLSM_ERROR_INVALID_ARGUMENT);
    return 0;
}

/* Whether y may be left out: a statistics-only call. */
static int y_optional(const request *q)
{
    return q->options && q->set[T_STATS_OUT];
}

/* What the tensors of the options bring: which are set together, and how large they are. */
static unsigned tensor_violations(const request *q)
{
    unsigned v = 0;
    if (!q->options)
        return 0;
    if ((q->opt.mask_type != CLSM_MASK_NONE && !q->set[T_MASK]) ||
        (q->set[T_STATS_IN] && (q->set[T_SINKS] || q->set[T_STATS_OUT])))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    /* The library sizes the mask from its type and strides before it looks for the tensor. */
    for (int k = 0; k < TENSORS; k++)
        if ((q->set[k] || (k == T_MASK && q->opt.mask_type != CLSM_MASK_NONE)) &&
            q->need_overflows[k])
            v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    /* A buffer of the harness holds a token in place of a tensor too large to hold. */
    for (int k = 0; k < TENSORS; k++)
        if (q->buffers && q->set[k] && token_tensor(q, k))
            v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    if (!q->buffers || q->bad_tensor < 0 || q->bad_tensor >= TENSORS || !q->set[q->bad_tensor])
        return v;
    switch (q->bad_kind) {
    case BAD_MISALIGNED:
    case BAD_FOREIGN:
    case BAD_FLAGS:
        return v | BIT(CLSM_ERROR_INVALID_ARGUMENT);
    case BAD_SMALL:
    case BAD_HUGE_OFFSET:
        return v | BIT(CLSM_ERROR_INVALID_SHAPE);
    default:
        return v;
    }
}

static unsigned request_violations(const request *q)
{
    unsigned v = 0;
    if (q->ctx_index == CTX_NULL || (q->op != CLSM_SOFTMAX && q->op != CLSM_LOG_SOFTMAX) ||
        !dtype_valid(q->dtype) || !isfinite(q->scale))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (q->count_overflows || q->bytes_overflow)
        v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    return v | option_violations(q);
}

/* Where the two byte ranges [a, a+n) and [b, b+n) share bytes without being the same. */
static int partially_overlap(size_t a, size_t b, size_t n)
{
    return a != b && (a < b ? b - a < n : a - b < n);
}

static size_t root_size(const request *q, int root);

static unsigned buffer_violations(const request *q, int root, int sub, size_t origin,
                                  size_t offset, cl_mem_flags forbidden)
{
    unsigned v = 0;
    size_t element = dtype_size(q->dtype);
    if (root == NO_ROOT)
        return BIT(CLSM_ERROR_INVALID_ARGUMENT);
    if (offset % element != 0)
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    /* F is of another OpenCL context, and the library's own context has one no root is of. */
    if (root == ROOT_F || q->ctx_index == CTX_OWN || (q->root_flags[root] & forbidden))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    size_t size = root_size(q, root) - (sub ? origin : 0);
    if (offset > size || q->bytes > size - offset)
        v |= BIT(CLSM_ERROR_INVALID_SHAPE);
    return v;
}

/* The harness's events belong to the OpenCL context of its own queue. */
static int wait_list_invalid(const request *q)
{
    return q->wait == WAIT_COUNT_WITHOUT_LIST || q->wait == WAIT_LIST_WITHOUT_COUNT ||
           (q->wait == WAIT_VALID && (q->ctx_index == CTX_OWN || q->null_event));
}

static unsigned backward_violations(const request *q);

static unsigned call_violations(const request *q)
{
    unsigned v = 0;
    v |= tensor_violations(q);
    if (q->backward) {
        v |= backward_violations(q);
    } else if (!q->buffers) {
        if (q->host_null_x || (q->host_null_y && !y_optional(q)) ||
            (q->host_layout == HOST_OVERLAP && (size_t)labs(q->overlap) < q->bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    } else {
        if (wait_list_invalid(q))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        v |= buffer_violations(q, q->x_root, q->x_sub, q->x_origin, q->x_offset,
                               CL_MEM_WRITE_ONLY);
        if (q->y_root != NO_ROOT || !y_optional(q))
            v |= buffer_violations(q, q->y_root, q->y_sub, q->y_origin, q->y_offset,
                                   CL_MEM_READ_ONLY);
        if (q->x_root != NO_ROOT && q->x_root == q->y_root &&
            partially_overlap(q->x_origin + q->x_offset, q->y_origin + q->y_offset, q->bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    }
    if (q->dtype == CLSM_F64 && !g.has_fp64)
        v |= BIT(CLSM_ERROR_UNSUPPORTED);
    return v;
}

/* Any status that one of the problems of the call explains; success only without one. */
static unsigned expected_statuses(const request *q)
{
    unsigned v = request_violations(q);
    if (!v && q->empty) {
        /* An empty tensor does nothing, but its wait list is checked like any other. */
        if (q->buffers && wait_list_invalid(q))
            return BIT(CLSM_ERROR_INVALID_ARGUMENT);
        return BIT(CLSM_SUCCESS);
    }
    if (!v)
        v = call_violations(q);
    else if (!q->empty && !q->count_overflows && dtype_valid(q->dtype))
        v |= call_violations(q);
    return v ? v : BIT(CLSM_SUCCESS);
}

/* ---- One call and everything it could write ---- */

/* A root's size: what its users need, plus the input's signed adjustment. */
static size_t root_size(const request *q, int root)
{
    size_t need = 0;
    size_t bytes = q->small ? q->bytes : 0;
    if (q->x_root == root) {
        size_t end = q->x_origin + (q->x_offset <= 0xFFFF ? q->x_offset : 0) + bytes;
        need = end > need ? end : need;
    }
    if (q->y_root == root) {
        size_t end = q->y_origin + (q->y_offset <= 0xFFFF ? q->y_offset : 0) + bytes;
        need = end > need ? end : need;
    }
    if (q->backward && q->dy_root == root) {
        size_t end = q->dy_origin + (q->dy_offset <= 0xFFFF ? q->dy_offset : 0) + bytes;
        need = end > need ? end : need;
    }
    long size = (long)need + q->size_delta[root];
    /* The largest origin must stay inside the root, so its sub-buffer exists. */
    long least = (long)(3 * g.base_align + 1);
    return (size_t)(size > least ? size : least);
}

/* The host path's tensors: the input (x, or a backward call's y), the output (y, or dx) and
 * a backward call's dy. */
enum { H_IN, H_OUT, H_DY, H_TENSORS };

/* Where each tensor of the host path lies: its block and byte, and each block's size. A
 * tensor in place in another, or overlapping it, shares its block; the one reaching
 * furthest ends exactly at the end of its block, so that ASan sees overreads. */
typedef struct host_layout {
    int block[H_TENSORS]; /* -1: none (dy of a forward call) */
    size_t at[H_TENSORS];
    size_t size[ROOTS];
} host_layout;

static void layout_host(const request *q, host_layout *l)
{
    const size_t bytes = q->small ? q->bytes : 0;
    const size_t misalign[ROOTS] = {q->misalign, q->misalign * 3 & 7, q->misalign * 5 & 7};
    long rel[H_TENSORS] = {0, 0, 0};
    memset(l, 0, sizeof *l);
    l->block[H_IN] = 0;
    l->block[H_OUT] = 1;
    l->block[H_DY] = q->backward ? 2 : -1;
    if (q->backward && (q->host_dy == HDY_SAME_AS_Y || q->host_dy == HDY_OVERLAP_Y)) {
        l->block[H_DY] = 0;
        rel[H_DY] = q->host_dy == HDY_OVERLAP_Y ? q->dy_overlap : 0;
    }
    if (q->host_layout == HOST_IN_PLACE || q->host_layout == HOST_OVERLAP) {
        const int partner = q->backward && !q->dx_on_y ? H_DY : H_IN;
        l->block[H_OUT] = l->block[partner];
        rel[H_OUT] = rel[partner] + (q->host_layout == HOST_OVERLAP ? q->overlap : 0);
    }
    for (int b = 0; b < ROOTS; b++) {
        long lo = 0, hi = 0;
        int used = 0;
        for (int t = 0; t < H_TENSORS; t++) {
            if (l->block[t] != b)
                continue;
            lo = used && lo < rel[t] ? lo : rel[t];
            hi = used && hi > rel[t] + (long)bytes ? hi : rel[t] + (long)bytes;
            used = 1;
        }
        if (!used)
            continue;
        l->size[b] = misalign[b] + (size_t)(hi - lo);
        for (int t = 0; t < H_TENSORS; t++)
            if (l->block[t] == b)
                l->at[t] = misalign[b] + (size_t)(rel[t] - lo);
    }
}

/* Where input t (H_IN or H_DY) is before the call, if the harness could place it: block
 * and byte. */
static int input_placement(const request *q, int t, int *block, size_t *at)
{
    if (!q->small || (t == H_DY && !q->backward))
        return 0;
    if (!q->buffers) {
        host_layout l;
        layout_host(q, &l);
        *block = l.block[t];
        *at = l.at[t];
        return 1;
    }
    const int root = t == H_IN ? q->x_root : q->dy_root;
    const size_t origin = t == H_IN ? q->x_origin : q->dy_origin;
    const size_t offset = t == H_IN ? q->x_offset : q->dy_offset;
    if (root == NO_ROOT)
        return 0;
    size_t size = root_size(q, root);
    *block = root;
    *at = origin + offset;
    return offset <= size && origin <= size - offset && q->bytes <= size - origin - offset;
}

/* A backward call's tensors: none NULL, y and dy not write-only and dx not read-only, and dx
 * exactly y or dy or apart from both (y and dy may overlap as they like). */
static unsigned backward_violations(const request *q)
{
    unsigned v = 0;
    if (!q->buffers) {
        host_layout l;
        layout_host(q, &l);
        if (q->host_null_x || q->host_null_y || q->host_dy == HDY_NULL)
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        for (int t = H_IN; t <= H_DY; t += H_DY - H_IN)
            if (l.block[t] == l.block[H_OUT] && partially_overlap(l.at[t], l.at[H_OUT], q->bytes))
                v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
        return v;
    }
    if (wait_list_invalid(q))
        v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    v |= buffer_violations(q, q->x_root, q->x_sub, q->x_origin, q->x_offset, CL_MEM_WRITE_ONLY);
    v |= buffer_violations(q, q->dy_root, q->dy_sub, q->dy_origin, q->dy_offset,
                           CL_MEM_WRITE_ONLY);
    v |= buffer_violations(q, q->y_root, q->y_sub, q->y_origin, q->y_offset, CL_MEM_READ_ONLY);
    const int roots[2] = {q->x_root, q->dy_root};
    const size_t starts[2] = {q->x_origin + q->x_offset, q->dy_origin + q->dy_offset};
    for (int k = 0; k < 2; k++)
        if (roots[k] != NO_ROOT && roots[k] == q->y_root &&
            partially_overlap(starts[k], q->y_origin + q->y_offset, q->bytes))
            v |= BIT(CLSM_ERROR_INVALID_ARGUMENT);
    return v;
}

/* What block holds before the call: sentinels, then the inputs placed in it, dy over y
 * where they overlap. */
static unsigned char *initial_block(const request *q, int block, size_t size)
{
    unsigned char *m = xmalloc(size);
    memset(m, SENTINEL, size);
    const int inputs[2] = {H_IN, H_DY};
    for (int k = 0; k < 2; k++) {
        int b;
        size_t at;
        if (input_placement(q, inputs[k], &b, &at) && b == block)
            memcpy(m + at, inputs[k] == H_IN ? q->x : q->dy, q->bytes);
    }
    return m;
}

/* Input t as the call sees it, from its block's initial bytes (another input may share
 * them); NULL where it is not placed. */
static unsigned char *effective_input(const request *q, int t)
{
    int block;
    size_t at;
    if (!input_placement(q, t, &block, &at))
        return NULL;
    host_layout l;
    layout_host(q, &l);
    unsigned char *m = initial_block(q, block, q->buffers ? root_size(q, block) : l.size[block]);
    unsigned char *v = xmalloc(q->bytes);
    memcpy(v, m + at, q->bytes);
    free(m);
    return v;
}

typedef struct outcome {
    clsm_status status;
    /* Every byte the call could have written: the host blocks or the roots. */
    unsigned char *memory[ROOTS];
    size_t size[ROOTS];
    /* Where y is inside memory[y_block]; none for a statistics-only call. */
    int y_block, no_y;
    size_t y_at;
    /* stats_out as the call left it, with TENSOR_PAD bytes before and TAIL_PAD after on the
     * buffers path; NULL where the call sets none. */
    unsigned char *stats;
    size_t stats_size, stats_at;
} outcome;

static void outcome_free(outcome *o)
{
    for (int i = 0; i < ROOTS; i++)
        free(o->memory[i]);
    free(o->stats);
}

/* The host path, in the blocks of layout_host(). */
static void call_host(const request *q, clsm_context *ctx, outcome *o)
{
    host_layout l;
    layout_host(q, &l);
    unsigned char *at[H_TENSORS] = {NULL, NULL, NULL};
    /* A block of an empty tensor too, so that the call gets pointers it must not touch. */
    for (int t = 0; t < H_TENSORS; t++) {
        const int b = l.block[t];
        if (b < 0)
            continue;
        if (!o->memory[b]) {
            o->size[b] = l.size[b];
            o->memory[b] = initial_block(q, b, l.size[b]);
        }
        at[t] = o->memory[b] + l.at[t];
    }
    unsigned char *x = at[H_IN], *y = at[H_OUT];
    o->y_block = l.block[H_OUT];
    o->y_at = l.at[H_OUT];
    o->no_y = q->host_null_y;
    if (q->backward) {
        o->status = clsm_softmax_backward_host(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype,
                                               q->shape, q->scale, q->host_null_x ? NULL : x,
                                               q->host_dy == HDY_NULL ? NULL : at[H_DY],
                                               q->host_null_y ? NULL : y);
    } else if (!q->ex) {
        o->status = clsm_softmax_host(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape,
                                      q->scale, q->host_null_x ? NULL : x,
                                      q->host_null_y ? NULL : y);
    } else {
        /* Each tensor exactly as large as it must be, so that ASan sees overruns. */
        clsm_options opt = q->opt;
        clsm_tensor *t[TENSORS] = {&opt.mask, &opt.sinks, &opt.stats_in, &opt.stats_out};
        for (int k = 0; k < T_STATS_OUT; k++)
            t[k]->host = q->set[k] ? q->tensor[k] : NULL;
        if (q->options && q->set[T_STATS_OUT]) {
            o->stats_size = token_tensor(q, T_STATS_OUT) ? 64 : q->need[T_STATS_OUT];
            o->stats = xmalloc(o->stats_size);
            memset(o->stats, SENTINEL, o->stats_size);
            opt.stats_out.host = o->stats;
        }
        o->status = clsm_softmax_host_ex(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape,
                                         q->scale, q->null_options ? NULL : &opt,
                                         q->host_null_x ? NULL : x, q->host_null_y ? NULL : y);
    }
}

static cl_mem make_root(const request *q, int root, cl_context cl, cl_command_queue queue)
{
    size_t size = root_size(q, root);
    cl_int err;
    cl_mem m = clCreateBuffer(cl, q->root_flags[root], size, NULL, &err);
    if (err != CL_SUCCESS)
        setup_failed("clCreateBuffer", err);
    unsigned char *init = initial_block(q, root, size);
    err = clEnqueueWriteBuffer(queue, m, CL_TRUE, 0, size, init, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        setup_failed("clEnqueueWriteBuffer", err);
    free(init);
    return m;
}

static cl_mem view_of(cl_mem root, int sub, size_t origin, size_t root_bytes)
{
    if (!root || !sub)
        return root;
    cl_buffer_region region = {origin, root_bytes - origin};
    cl_int err;
    cl_mem m = clCreateSubBuffer(root, 0, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (err != CL_SUCCESS)
        setup_failed("clCreateSubBuffer", err);
    return m;
}

/* A buffer for option tensor k at TENSOR_PAD (or as q->bad_kind spoils it), holding its
 * host data, sentinel around it; NULL where the call does not set it. */
static cl_mem tensor_buffer(const request *q, int k, size_t *offset, size_t *size)
{
    if (!q->set[k])
        return NULL;
    const int bad = q->bad_tensor == k ? q->bad_kind : BAD_KINDS;
    size_t bytes = token_tensor(q, k) ? 64 : q->need[k];
    *size = TENSOR_PAD + bytes + TAIL_PAD - (bad == BAD_SMALL ? TAIL_PAD + 1 : 0);
    *offset = bad == BAD_MISALIGNED  ? TENSOR_PAD + 1
              : bad == BAD_HUGE_OFFSET ? SIZE_MAX - 7
                                       : TENSOR_PAD;
    cl_mem_flags flags = bad != BAD_FLAGS       ? CL_MEM_READ_WRITE
                         : k == T_STATS_OUT ? CL_MEM_READ_ONLY
                                            : CL_MEM_WRITE_ONLY;
    unsigned char *init = xmalloc(*size);
    memset(init, SENTINEL, *size);
    if (k != T_STATS_OUT)
        memcpy(init + TENSOR_PAD, q->tensor[k],
               bytes < *size - TENSOR_PAD ? bytes : *size - TENSOR_PAD);
    cl_int err;
    cl_mem m = clCreateBuffer(bad == BAD_FOREIGN ? g.foreign_cl : g.cl,
                              flags | CL_MEM_COPY_HOST_PTR, *size, init, &err);
    free(init);
    if (err != CL_SUCCESS)
        setup_failed("clCreateBuffer of an option", err);
    return m;
}

static void call_buffers(const request *q, clsm_context *ctx, outcome *o)
{
    cl_mem roots[ROOTS] = {NULL, NULL, NULL};
    const int dy_root = q->backward ? q->dy_root : NO_ROOT;
    for (int i = 0; i < ROOTS; i++) {
        if (q->x_root == i || q->y_root == i || dy_root == i)
            roots[i] = make_root(q, i, i == ROOT_F ? g.foreign_cl : g.cl,
                                 i == ROOT_F ? g.foreign_queue : g.queue);
    }
    cl_mem x = q->x_root == NO_ROOT ? NULL
                                    : view_of(roots[q->x_root], q->x_sub, q->x_origin,
                                              root_size(q, q->x_root));
    cl_mem y = q->y_root == NO_ROOT ? NULL
                                    : view_of(roots[q->y_root], q->y_sub, q->y_origin,
                                              root_size(q, q->y_root));
    cl_mem dy = dy_root == NO_ROOT ? NULL
                                   : view_of(roots[dy_root], q->dy_sub, q->dy_origin,
                                             root_size(q, dy_root));

    cl_event wait = NULL, waits[2] = {NULL, NULL};
    cl_uint n_waits = 0;
    const cl_event *wait_list = NULL;
    cl_int err = CL_SUCCESS;
    if (q->wait == WAIT_VALID || q->wait == WAIT_LIST_WITHOUT_COUNT) {
        wait = clCreateUserEvent(g.cl, &err);
        if (err != CL_SUCCESS)
            setup_failed("clCreateUserEvent", err);
        if (!q->wait_pending || q->wait == WAIT_LIST_WITHOUT_COUNT)
            clSetUserEventStatus(wait, CL_COMPLETE);
        waits[0] = wait;
        n_waits = q->wait == WAIT_VALID ? 1 + q->null_event : 0;
        wait_list = waits;
    } else if (q->wait == WAIT_COUNT_WITHOUT_LIST) {
        n_waits = q->mismatch_count;
    }

    cl_event done = NULL;
    clsm_options opt = q->opt;
    clsm_tensor *t[TENSORS] = {&opt.mask, &opt.sinks, &opt.stats_in, &opt.stats_out};
    size_t sizes[TENSORS] = {0, 0, 0, 0};
    if (q->options)
        for (int k = 0; k < TENSORS; k++)
            t[k]->buffer = tensor_buffer(q, k, &t[k]->offset, &sizes[k]);
    if (q->backward)
        o->status = clsm_softmax_backward_buffers(
            ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape, q->scale, x, q->x_offset, dy,
            q->dy_offset, y, q->y_offset, n_waits, wait_list, q->want_event ? &done : NULL);
    else if (!q->ex)
        o->status = clsm_softmax_buffers(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape,
                                         q->scale, x, q->x_offset, y, q->y_offset, n_waits,
                                         wait_list, q->want_event ? &done : NULL);
    else
        o->status = clsm_softmax_buffers_ex(ctx, (clsm_op)q->op, (clsm_dtype)q->dtype, q->shape,
                                            q->scale, q->null_options ? NULL : &opt, x,
                                            q->x_offset, y, q->y_offset, n_waits, wait_list,
                                            q->want_event ? &done : NULL);
    if (wait) {
        clSetUserEventStatus(wait, CL_COMPLETE);
        clReleaseEvent(wait);
    }
    if (o->status == CLSM_SUCCESS && q->want_event) {
        if (!done)
            fail("success without the event that was asked for");
        if (clWaitForEvents(1, &done) != CL_SUCCESS)
            fail("waiting for the returned event failed");
        clReleaseEvent(done);
    } else if (done) {
        fail("%s, yet an event was returned", clsm_status_string(o->status));
    }
    err = clFinish(g.queue);
    if (err != CL_SUCCESS)
        setup_failed("clFinish", err);

    for (int i = 0; i < ROOTS; i++) {
        if (!roots[i])
            continue;
        o->size[i] = root_size(q, i);
        o->memory[i] = xmalloc(o->size[i]);
        err = clEnqueueReadBuffer(i == ROOT_F ? g.foreign_queue : g.queue, roots[i], CL_TRUE, 0,
                                  o->size[i], o->memory[i], 0, NULL, NULL);
        if (err != CL_SUCCESS)
            setup_failed("clEnqueueReadBuffer", err);
    }
    o->y_block = q->y_root == NO_ROOT ? ROOT_A : q->y_root;
    o->no_y = q->y_root == NO_ROOT;
    o->y_at = q->y_origin + q->y_offset;
    if (opt.stats_out.buffer) {
        o->stats_size = sizes[T_STATS_OUT];
        o->stats_at = TENSOR_PAD;
        o->stats = xmalloc(o->stats_size);
        err = clEnqueueReadBuffer(q->bad_tensor == T_STATS_OUT && q->bad_kind == BAD_FOREIGN
                                      ? g.foreign_queue
                                      : g.queue,
                                  opt.stats_out.buffer, CL_TRUE, 0, o->stats_size, o->stats, 0,
                                  NULL, NULL);
        if (err != CL_SUCCESS)
            setup_failed("reading stats_out", err);
    }
    for (int k = 0; k < TENSORS; k++)
        if (t[k]->buffer)
            clReleaseMemObject(t[k]->buffer);
    if (x && x != roots[q->x_root])
        clReleaseMemObject(x);
    if (y && y != roots[q->y_root])
        clReleaseMemObject(y);
    if (dy && dy != roots[dy_root])
        clReleaseMemObject(dy);
    for (int i = 0; i < ROOTS; i++)
        if (roots[i])
            clReleaseMemObject(roots[i]);
}

static void call(const request *q, outcome *o)
{
    memset(o, 0, sizeof *o);
    clsm_context *ctx = g.ctx[q->ctx_index];
    if (q->buffers)
        call_buffers(q, ctx, o);
    else
        call_host(q, ctx, o);
}

/* ---- Checks ---- */

/* What memory held before the call: sentinels, and x where it was placed. */
static int untouched(const request *q, const outcome *o, int block, size_t from, size_t to)
{
    unsigned char *want = initial_block(q, block, o->size[block]);
    int same = to <= from || memcmp(o->memory[block] + from, want + from, to - from) == 0;
    free(want);
    return same;
}

/* Bytes [from, to) of stats_out kept their sentinel. */
static void check_stats_untouched(const outcome *o, size_t from, size_t to)
{
    for (size_t i = from; o->stats && i < to; i++)
        if (o->stats[i] != SENTINEL)
            fail("%s, yet stats_out changed at byte %zu", clsm_status_string(o->status), i);
}

static void check_nothing_written(const request *q, const outcome *o)
{
    for (int b = 0; b < ROOTS; b++)
        if (o->memory[b] && !untouched(q, o, b, 0, o->size[b]))
            fail("%s, yet memory changed (block %d)",
                 clsm_status_string(o->status), b);
}

static void check_only_y_written(const request *q, const outcome *o)
{
    for (int b = 0; b < ROOTS; b++) {
        if (!o->memory[b])
            continue;
        if (b != o->y_block) {
            if (!untouched(q, o, b, 0, o->size[b]))
                fail("success, but memory other than y changed (block %d)", b);
            continue;
        }
        if (!untouched(q, o, b, 0, o->y_at) ||
            !untouched(q, o, b, o->y_at + q->bytes, o->size[b]))
            fail("success, but bytes next to y changed");
    }
}

/* The units in the last place of |v| in a format with mbits stored bits and emin. */
static double ulp(double v, int mbits, int emin)
{
    int e;
    frexp(v, &e);
    return ldexp(1.0, (e - 1 < emin ? emin : e - 1) - mbits);
}

/*
 * The contract's accuracy bound for one element: F32 softmax relative 1e-5
 * (absolute 1e-35 below 1e-30), log-softmax absolute 1e-5*max(1,|ref|); F64
 * the same with 1e-13 (1e-300 below 1e-290); F16/BF16 one unit in the last
 * place of the correctly rounded result, which is at most 2.5 units of the
 * reference's own binade. A log-softmax reference beyond the storage range
 * may come back as -inf.
 */
static int close_enough(int op, int dtype, double got, double ref)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got)) {
        if (got == ref)
            return 1;
        double max = dtype == CLSM_F64   ? DBL_MAX
                     : dtype == CLSM_F16 ? 65504.0
                     : dtype == CLSM_BF16 ? (double)bf16_to_float(0x7F7Fu)
                                          : FLT_MAX;
        return got == -INFINITY && ref < -max * (1 - 0x1p-8);
    }
    double err = fabs(got - ref);
    if (dtype == CLSM_F16 || dtype == CLSM_BF16) {
        int mbits = dtype == CLSM_F16 ? 10 : 7, emin = dtype == CLSM_F16 ? -14 : -126;
        return err <= 2.5 * ulp(fabs(ref), mbits, emin);
    }
    double rel = dtype == CLSM_F64 ? 1e-13 : 1e-5;
    if (op == CLSM_LOG_SOFTMAX)
        return err <= rel * fmax(1.0, fabs(ref));
    double tiny = dtype == CLSM_F64 ? 1e-290 : 1e-30, floor = dtype == CLSM_F64 ? 1e-300 : 1e-35;
    return ref >= tiny ? err <= rel * ref : err <= floor;
}

/* Whether the kernels form u in the compute type (an additive mask, sinks or statistics
 * meet it), rather than keeping the exact product as v1 does. */
static int rounded_domain(const request *q)
{
    const int type = q->opt.mask_type;
    return q->options && ((type >= CLSM_MASK_ADD_F32 && type <= CLSM_MASK_ADD_BF16) ||
                          q->set[T_SINKS] || q->set[T_STATS_OUT] || q->set[T_STATS_IN]);
}

/*
 * u of every entry of slice (o, i) as the contract forms it, and at t[axis] its head's sink
 * (-inf without one, which changes nothing): scale*x (0 for scale 0, NaN staying NaN),
 * then the mask, causal and window.
 */
static void slice_u(const request *q, size_t o, size_t i, product *t)
{
    const size_t n = q->shape.axis, base = o * n * q->shape.inner + i;
    const clsm_options *opt = &q->opt;
    const int rounded = rounded_domain(q), keep = opt->mask_type == CLSM_MASK_KEEP_U8;
    size_t d[3];
    row_dims(q, d);
    const size_t r = o % d[2], h = o / d[2] % d[1], b = o / d[2] / d[1];
    const int mask = q->options && q->set[T_MASK] && opt->mask_type != CLSM_MASK_NONE &&
                     mask_type_valid(opt->mask_type);
    const __int128 last = (__int128)r + opt->causal_offset;
    for (size_t j = 0; j < n; j++) {
        double v = load(q->dtype, q->x, base + j * q->shape.inner);
        product p = {0, 0};
        if (q->scale == 0)
            p.hi = isnan(v) ? v : 0;
        else if (!rounded)
            p = scaled(q->dtype, q->scale, v);
        else if (q->dtype == CLSM_F64)
            p.hi = (double)q->scale * v;
        else
            p.hi = q->scale * (float)v;
        if (mask) {
            size_t at = b * opt->mask_stride[0] + h * opt->mask_stride[1] +
                        r * opt->mask_stride[2] + j * opt->mask_stride[3];
            if (keep) {
                if (q->tensor[T_MASK][at] == 0)
                    p.hi = -INFINITY, p.lo = 0;
            } else {
                double m = load(opt->mask_type == CLSM_MASK_ADD_F32   ? CLSM_F32
                                : opt->mask_type == CLSM_MASK_ADD_F16 ? CLSM_F16
                                                                      : CLSM_BF16,
                                q->tensor[T_MASK], at);
                p.hi = q->dtype == CLSM_F64 ? p.hi + m : (double)((float)p.hi + (float)m);
            }
        }
        if (q->options && opt->causal &&
            ((__int128)j > last || (opt->window && (__int128)j <= last - (__int128)opt->window)))
            p.hi = -INFINITY, p.lo = 0;
        t[j] = p;
    }
    t[n] = (product){-INFINITY, 0};
    if (q->options && q->set[T_SINKS])
        t[n].hi = load(q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32, q->tensor[T_SINKS], h);
}

/* What the contract makes of a slice's u (t[0..n-1], the sink at t[n]): its (max, sum) with
 * the special values, the position of the max, and the rest of the sum beside the max's own
 * term, whose 1 would round rest away even in long double. */
typedef struct slice_norm {
    int has_nan;
    size_t pos_inf, argmax;
    long double rest;
} slice_norm;

static slice_norm norm_of(const product *t, size_t n)
{
    slice_norm s = {0, 0, 0, 0};
    for (size_t j = 0; j <= n; j++) {
        s.has_nan |= isnan(t[j].hi) != 0;
        s.pos_inf += t[j].hi == INFINITY;
        if (product_greater(t[j], t[s.argmax]))
            s.argmax = j;
    }
    const product m = t[s.argmax];
    if (!s.has_nan && !s.pos_inf && m.hi != -INFINITY)
        for (size_t j = 0; j <= n; j++)
            if (j != s.argmax && t[j].hi != -INFINITY)
                s.rest += expl(product_minus(t[j], m));
    return s;
}

static void slice_reference(const product *t, size_t n, double stats[2])
{
    slice_norm s = norm_of(t, n);
    if (s.has_nan)
        stats[0] = stats[1] = NAN;
    else if (s.pos_inf)
        stats[0] = INFINITY, stats[1] = (double)s.pos_inf;
    else if (t[s.argmax].hi == -INFINITY)
        stats[0] = -INFINITY, stats[1] = 0;
    else
        stats[0] = t[s.argmax].hi, stats[1] = (double)(1 + s.rest);
}

static void fail_element(const request *q, size_t i, size_t base, size_t j, double got,
                         double ref, const char *rule)
{
    fail("%s%s %s [%zu,%zu,%zu] scale=%a: element %zu (slice base %zu, j=%zu): "
         "got %.17g, want %.17g (%s)",
         q->op == CLSM_SOFTMAX ? "softmax" : "log-softmax", q->backward ? " backward" : "",
         (const char *[]){"F32", "F16", "BF16", "F64"}[q->dtype], q->shape.outer, q->shape.axis,
         q->shape.inner, (double)q->scale, i, base, j, got, ref, rule);
}

/* The sum of a softmax slice may miss 1 by the elements' own bounds: relative ones, and the
 * absolute floor of each tiny one. */
static double sum_bound(int dtype, size_t n)
{
    switch (dtype) {
    case CLSM_F16:
        return 2.5 * 0x1p-10 + (double)n * 0x1p-24;
    case CLSM_BF16:
        return 2.5 * 0x1p-7 + (double)n * 0x1p-133;
    case CLSM_F64:
        return 1e-13 + (double)n * 1e-300;
    default:
        return 1e-5 + (double)n * 1e-35;
    }
}

/* The contract for one slice, evaluated in long double. */
static void check_slice(const request *q, const unsigned char *y, size_t base, size_t stride,
                        product *t)
{
    const size_t n = q->shape.axis;
    const int op = q->op, dtype = q->dtype;
    slice_u(q, base / (n * stride), base % stride, t);
    const slice_norm s = norm_of(t, n);
    const product m = t[s.argmax];
    const int sink = t[n].hi != -INFINITY;
    /* In long double: a double sum of thousands of F64 outputs may itself miss 1 by more
     * than the bound. */
    long double sum = 0;
    for (size_t j = 0; j < n; j++) {
        size_t i = base + j * stride;
        double got = load(dtype, y, i);
        double ref;
        const char *rule;
        int exact = 0;
        if (s.has_nan) {
            rule = "NaN in the slice";
            ref = NAN;
        } else if (s.pos_inf) {
            rule = "+inf entries share the mass";
            int hit = t[j].hi == INFINITY;
            exact = !hit;
            ref = op == CLSM_SOFTMAX ? (hit ? 1.0 / (double)s.pos_inf : 0.0)
                                     : (hit ? -log((double)s.pos_inf) : -INFINITY);
        } else if (m.hi == -INFINITY) {
            rule = "a fully masked slice";
            exact = 1;
            ref = op == CLSM_SOFTMAX ? 0.0 : -INFINITY;
        } else {
            rule = "softmax";
            long double d = t[j].hi == -INFINITY ? -INFINITY : product_minus(t[j], m);
            ref = op == CLSM_SOFTMAX ? (double)(expl(d) / (1 + s.rest))
                                     : (double)(d - log1pl(s.rest));
        }
        int ok = exact ? got == ref : close_enough(op, dtype, got, ref);
        if (isnan(got) && !canonical_nan(dtype, y, i)) {
            rule = "every NaN written is the canonical one";
            ok = 0;
        }
        /* The probabilities themselves, whatever the rounding. */
        if (!isnan(ref))
            ok &= op == CLSM_SOFTMAX ? got >= 0 && got <= 1 : got <= 0;
        if (!ok)
            fail_element(q, i, base, j, got, ref, rule);
        sum += got;
    }
    /* A slice sums to 1, less what a sink takes; a NaN or fully masked one to nothing. */
    if (op == CLSM_SOFTMAX && !s.has_nan && m.hi != -INFINITY &&
        (sum > 1 + sum_bound(dtype, n) || (!sink && sum < 1 - sum_bound(dtype, n))))
        fail("softmax slice at %zu sums to %.17Lg%s", base, sum, sink ? " with a sink" : "");
}

/* y from given statistics (max, sum) of each slice, with the contract's special values. An
 * entry above the given max belongs to no slice those statistics are of, and its exp may
 * overflow the compute type on the way: only its NaN is checked. */
static void check_slice_given(const request *q, const unsigned char *y, size_t base,
                              size_t stride, product *t)
{
    const size_t n = q->shape.axis, k = base / (n * stride) * stride + base % stride;
    const int op = q->op, dtype = q->dtype, sd = dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    const double gm = load(sd, q->tensor[T_STATS_IN], 2 * k);
    const double gs = load(sd, q->tensor[T_STATS_IN], 2 * k + 1);
    const double rel = dtype == CLSM_F64 ? 1e-13 : 1e-5;
    slice_u(q, base / (n * stride), base % stride, t);
    for (size_t j = 0; j < n; j++) {
        size_t i = base + j * stride;
        double got = load(dtype, y, i), u = t[j].hi;
        double ref;
        int exact = 0, checked = 1;
        /* No reduction sees the slice: a NaN entry is NaN on its own, whatever the statistics. */
        if (isnan(gm) || isnan(gs) || isnan(u)) {
            ref = NAN;
        } else if (gs == 0 || isinf(gs) || gm == -INFINITY) {
            exact = 1;
            ref = op == CLSM_SOFTMAX ? 0.0 : -INFINITY;
        } else if (gm == INFINITY) {
            exact = u != INFINITY;
            ref = op == CLSM_SOFTMAX ? (u == INFINITY ? 1 / gs : 0.0)
                                     : (u == INFINITY ? -log(gs) : -INFINITY);
        } else {
            checked = !(u > gm);
            long double d = (long double)u - gm;
            ref = op == CLSM_SOFTMAX ? (double)(expl(d) / gs) : (double)(d - logl(gs));
        }
        int ok = 1;
        if (exact)
            ok = got == ref || (isnan(got) && isnan(ref));
        else if (isnan(ref) || isnan(got))
            ok = isnan(ref) && isnan(got);
        else if (checked && !(isinf(ref) && got == ref)) {
            /* The terms' own magnitude bounds the compute type's rounding. */
            double scale = op == CLSM_SOFTMAX ? fabs(ref) * (1 + fabs(u - gm))
                                              : 1 + fabs(u - gm) + fabs(log(fabs(gs)));
            ok = close_enough(op, dtype, got, ref) || fabs(got - ref) <= 4 * rel * scale;
        }
        if (isnan(got) && !canonical_nan(dtype, y, i))
            ok = 0;
        if (!ok)
            fail_element(q, i, base, j, got, ref, "from the given statistics");
    }
}

/*
 * The backward rule for one slice, from y and dy as the call saw them, evaluated in long
 * double with IEEE special values: softmax S = sum_k (y_k == 0 ? 0 : y_k*dy_k), dx_j =
 * (y_j == 0 || s == 0) ? 0 : s*y_j*(dy_j - S); log-softmax S = sum_k dy_k, dx_j = s == 0 ?
 * 0 : s*(dy_j - (p_j == 0 ? 0 : p_j*S)) with p_j = exp(y_j) in the compute type; a NaN in y
 * or dy makes the slice NaN. Bound: the contract's, rel*|s|*B_j (F16/BF16 plus one unit in
 * the last place), with a floor for the compute type's subnormals: each of the n products
 * of S may round there (softmax), and so may exp(y_j) (log-softmax).
 * Left unchecked, but for the NaN rules: elements where a finite intermediate comes near
 * the compute type's largest value (its rounding then decides between a finite result, an
 * infinity and NaN), where exp(y_j) comes near underflowing to 0 or overflowing to inf and
 * that matters, and where an infinite p_j meets an S whose sign long double cannot settle.
 */
static void check_backward_slice(const request *q, const unsigned char *dx,
                                 const unsigned char *y, const unsigned char *dy, size_t base,
                                 size_t stride)
{
    const size_t n = q->shape.axis;
    const int op = q->op, dtype = q->dtype, f64 = dtype == CLSM_F64;
    const int narrow = dtype == CLSM_F16 || dtype == CLSM_BF16;
    const double rel = f64 ? 1e-13 : 1e-5;
    const double big = (f64 ? DBL_MAX : FLT_MAX) * 0x1p-8;
    /* Half the compute type's smallest subnormal, its largest rounding error there. */
    const long double eta = f64 ? 0x1p-1075L : 0x1p-150L;
    const double normal_min = f64 ? DBL_MIN : FLT_MIN;
    const long double s = q->scale, as = fabsl(s), grow = as > 1 ? as : 1;
    long double S = 0, mag = 0;
    int has_nan = 0;
    for (size_t k = 0; k < n; k++) {
        double yk = load(dtype, y, base + k * stride), dyk = load(dtype, dy, base + k * stride);
        has_nan |= isnan(yk) || isnan(dyk);
        long double t = op == CLSM_LOG_SOFTMAX ? (long double)dyk
                        : yk == 0              ? 0.0L
                                               : (long double)yk * dyk;
        S += t;
        if (isfinite(t))
            mag += fabsl(t);
    }
    const int sign_settled = !isfinite(S) || mag == 0 || fabsl(S) > mag * 0x1p-30L;
    for (size_t j = 0; j < n; j++) {
        const size_t i = base + j * stride;
        const double got = load(dtype, dx, i);
        const double yj = load(dtype, y, i), dyj = load(dtype, dy, i);
        if (isnan(got) && !canonical_nan(dtype, dx, i))
            fail_element(q, i, base, j, got, NAN, "every NaN written is the canonical one");
        if (has_nan) {
            if (!isnan(got))
                fail_element(q, i, base, j, got, NAN, "NaN in the slice's y or dy");
            continue;
        }
        if (q->scale == 0 || (op == CLSM_SOFTMAX && yj == 0)) {
            if (got != 0)
                fail_element(q, i, base, j, got, 0, "a zero factor");
            continue;
        }
        const long double dyf = isfinite(dyj) ? fabs(dyj) : 0;
        long double ref, b, envelope, floor = 4 * eta * (as + 1);
        if (op == CLSM_SOFTMAX) {
            ref = s * yj * (dyj - S);
            b = fabsl((long double)yj) * (fabs(dyj) + mag);
            envelope = dyf + mag;
            if (isfinite(yj) && fabs(yj) > 1)
                envelope *= fabs(yj);
            floor += 2 * eta * as * fabs(yj) * (long double)(n + 1);
        } else {
            const long double pe = expl(yj), max = f64 ? DBL_MAX : FLT_MAX;
            if (pe > max * (1 - 0x1p-20L) && pe < max * (1 + 0x1p-20L))
                continue;
            const long double p = f64 ? (long double)(double)pe : (long double)(float)pe;
            if (pe > 0 && pe < normal_min) {
                if (!isfinite(S) && pe < (f64 ? 0x1p-1071 : 0x1p-146))
                    continue;
                floor += 8 * eta * as * mag;
            }
            if (isinf(p) && !sign_settled)
                continue;
            ref = s * (dyj - (p == 0 ? 0.0L : p * S));
            b = fabs(dyj) + p * mag;
            envelope = dyf + (isfinite(p) ? p * mag : 0);
        }
        if (mag > envelope)
            envelope = mag;
        if (envelope * grow >= big)
            continue;
        if (isnan(ref)) {
            if (!isnan(got))
                fail_element(q, i, base, j, got, NAN, "IEEE arithmetic on infinite dy or y");
            continue;
        }
        if (isinf(ref)) {
            if (got != (double)ref)
                fail_element(q, i, base, j, got, (double)ref, "an infinite result");
            continue;
        }
        long double bound = rel * as * b + floor;
        if (narrow) {
            const int mbits = dtype == CLSM_F16 ? 10 : 7, emin = dtype == CLSM_F16 ? -14 : -126;
            const double storage_max = dtype == CLSM_F16 ? 65504.0 : (double)bf16_to_float(0x7F7Fu);
            bound += ulp(fabs((double)ref), mbits, emin);
            /* Past the storage's largest value, rounding may give the infinity. */
            if (isinf(got) && (got > 0) == (ref > 0) && fabsl(ref) + bound >= storage_max)
                continue;
        }
        if (!(fabsl(got - ref) <= bound))
            fail_element(q, i, base, j, got, (double)ref, "the backward bound");
    }
}

static void check_backward_result(const request *q, const unsigned char *dx,
                                  const unsigned char *y, const unsigned char *dy)
{
    for (size_t o = 0; o < q->shape.outer; o++)
        for (size_t i = 0; i < q->shape.inner; i++)
            check_backward_slice(q, dx, y, dy, o * q->shape.axis * q->shape.inner + i,
                                 q->shape.inner);
}

static void check_result(const request *q, const unsigned char *y)
{
    product *t = xmalloc((q->shape.axis + 1) * sizeof *t);
    for (size_t o = 0; o < q->shape.outer; o++)
        for (size_t i = 0; i < q->shape.inner; i++) {
            size_t base = o * q->shape.axis * q->shape.inner + i;
            if (q->options && q->set[T_STATS_IN])
                check_slice_given(q, y, base, q->shape.inner, t);
            else
                check_slice(q, y, base, q->shape.inner, t);
        }
    free(t);
}

/* stats_out: max exactly (it is one u, or the sink, as the compute type forms it), the sum
 * within the contract's relative bound, the special pairs exactly, NaN the canonical one. */
static void check_stats(const request *q, const unsigned char *stats)
{
    const int sd = q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    const double rel = q->dtype == CLSM_F64 ? 1e-13 : 1e-5;
    product *t = xmalloc((q->shape.axis + 1) * sizeof *t);
    for (size_t k = 0; k < q->slices; k++) {
        double want[2];
        slice_u(q, k / q->shape.inner, k % q->shape.inner, t);
        slice_reference(t, q->shape.axis, want);
        double max = load(sd, stats, 2 * k), sum = load(sd, stats, 2 * k + 1);
        int ok = isnan(want[0]) ? canonical_nan(sd, stats, 2 * k) &&
                                      canonical_nan(sd, stats, 2 * k + 1)
                                : max == want[0] && (isinf(want[0]) || want[1] == 0
                                                         ? sum == want[1]
                                                         : fabs(sum - want[1]) <= rel * want[1]);
        if (!ok)
            fail("stats_out of slice %zu: (%.17g, %.17g), want (%.17g, %.17g)", k, max, sum,
                 want[0], want[1]);
    }
    free(t);
}

static void check_same(const outcome *a, const outcome *b, const char *what)
{
    if (a->status != b->status)
        fail("%s: %s, then %s", what, clsm_status_string(a->status),
             clsm_status_string(b->status));
    for (int i = 0; i < ROOTS; i++)
        if (a->size[i] != b->size[i] ||
            (a->size[i] && memcmp(a->memory[i], b->memory[i], a->size[i]) != 0))
            fail("%s: the memory differs (block %d)", what, i);
    if (a->stats_size != b->stats_size ||
        (a->stats && memcmp(a->stats, b->stats, a->stats_size) != 0))
        fail("%s: stats_out differs", what);
}

/* Out of place on the host path, the plain call every other form must equal bitwise. */
static void free_request(request *q)
{
    free(q->x);
    free(q->dy);
    for (int k = 0; k < TENSORS; k++)
        free(q->tensor[k]);
}

/* y and dy of a backward call are as it saw them, where they overlapped each other. */
static void check_equals_plain_call(const request *q, const outcome *o, unsigned char *y,
                                    unsigned char *dy)
{
    request plain = *q;
    plain.buffers = 0;
    plain.host_layout = HOST_SEPARATE;
    plain.host_null_x = 0;
    plain.host_null_y = o->no_y;
    plain.misalign = 0;
    if (q->backward) {
        plain.x = y;
        plain.dy = dy;
        plain.host_dy = HDY_SEPARATE;
    }
    outcome p;
    call(&plain, &p);
    if (p.status != CLSM_SUCCESS)
        fail("the plain host call failed: %s", clsm_status_string(p.status));
    if (!o->no_y &&
        memcmp(p.memory[p.y_block] + p.y_at, o->memory[o->y_block] + o->y_at, q->bytes) != 0)
        fail("not bitwise equal to the out-of-place host call");
    if (o->stats && memcmp(p.stats, o->stats + o->stats_at, q->need[T_STATS_OUT]) != 0)
        fail("stats_out not bitwise equal to the out-of-place host call's");
    outcome_free(&p);
}

/* The rest of the API with bad or borrowed arguments; none may crash. */
static void extra_calls(const request *q)
{
    clsm_context *c = (clsm_context *)&c;
    if (clsm_context_create(NULL) != CLSM_ERROR_INVALID_ARGUMENT ||
        clsm_context_create_with_queue(NULL, g.queue) != CLSM_ERROR_INVALID_ARGUMENT)
        fail("a NULL out pointer was not refused");
    if (clsm_context_create_with_queue(&c, NULL) != CLSM_ERROR_INVALID_ARGUMENT || c != NULL)
        fail("a NULL queue was not refused, or *out was not set to NULL");
    if (clsm_context_create_with_queue(&c, g.queue) != CLSM_SUCCESS || !c)
        fail("borrowing the queue failed");
    clsm_context_release(c);
    clsm_context_release(NULL);
    if (clsm_context_queue(NULL) != NULL || clsm_kernel_name(NULL, CLSM_F32, q->shape) != NULL)
        fail("a getter answered a NULL context");
    if (!clsm_status_string((clsm_status)q->op) || !clsm_context_build_log(NULL) ||
        !clsm_version())
        fail("a string getter returned NULL");
}

static void check_kernel_name(const request *q)
{
    clsm_context *ctx = g.ctx[q->ctx_index];
    const char *name = clsm_kernel_name(ctx, (clsm_dtype)q->dtype, q->shape);
    if (!ctx) {
        if (name)
            fail("clsm_kernel_name answered a NULL context");
        return;
    }
    for (size_t i = 1; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        if (name && strcmp(name, FAMILIES[i]) == 0)
            return;
    fail("clsm_kernel_name gave %s", name ? name : "NULL");
}

/* ---- libFuzzer entry points ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cl_platform_id platform;
    cl_device_id device = NULL;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    if (err != CL_SUCCESS)
        setup_failed("no OpenCL device", err);
    g.cl = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    if (err == CL_SUCCESS)
        g.queue = clCreateCommandQueue(g.cl, device, 0, &err);
    if (err == CL_SUCCESS)
        g.foreign_cl = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    if (err == CL_SUCCESS)
        g.foreign_queue = clCreateCommandQueue(g.foreign_cl, device, 0, &err);
    if (err != CL_SUCCESS)
        setup_failed("OpenCL context or queue", err);
    cl_uint align_bits;
    cl_device_fp_config fp64 = 0;
    err = clGetDeviceInfo(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits,
                          NULL);
    if (err != CL_SUCCESS)
        setup_failed("CL_DEVICE_MEM_BASE_ADDR_ALIGN", err);
    g.base_align = align_bits / 8;
    clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    g.has_fp64 = fp64 != 0;

    /* Every family forced on the harness's queue, the automatic choice, and one context
     * of the library's own making, whose OpenCL context no buffer here belongs to. */
    for (int i = CTX_AUTO; i <= CTX_FAMILY_LAST; i++) {
        if (FAMILIES[i])
            setenv("CLSM_KERNEL", FAMILIES[i], 1);
        else
            unsetenv("CLSM_KERNEL");
        clsm_status st = clsm_context_create_with_queue(&g.ctx[i], g.queue);
        if (st != CLSM_SUCCESS)
            setup_failed(clsm_status_string(st), i);
    }
    unsetenv("CLSM_KERNEL");
    clsm_status st = clsm_context_create(&g.ctx[CTX_OWN]);
    if (st != CLSM_SUCCESS)
        setup_failed(clsm_status_string(st), CTX_OWN);
    g.ctx[CTX_NULL] = NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g.input = data;
    g.input_size = size;
    reader r = {data, size};
    request q;
    decode(r, &q);
    if (q.extra_calls)
        extra_calls(&q);
    check_kernel_name(&q);
    /* A host array as large as a huge mask's reach cannot be made; a call that took the
     * token in its place would read past it. */
    for (int k = 0; k < T_STATS_OUT; k++)
        if (!q.buffers && q.options && q.set[k] && token_tensor(&q, k) &&
            !q.need_overflows[k] && expected_statuses(&q) == BIT(CLSM_SUCCESS)) {
            free_request(&q);
            return 0;
        }

    outcome first, again;
    unsigned char *y = q.backward ? effective_input(&q, H_IN) : NULL;
    unsigned char *dy = q.backward ? effective_input(&q, H_DY) : NULL;
    call(&q, &first);
    unsigned want = expected_statuses(&q);
    if (!(want & BIT(first.status)))
        fail("got %s (status set wanted: %#x)", clsm_status_string(first.status), want);
    if (first.status != CLSM_SUCCESS || q.empty) {
        check_nothing_written(&q, &first);
        check_stats_untouched(&first, 0, first.stats_size);
    } else {
        if (first.no_y) {
            check_nothing_written(&q, &first);
        } else {
            check_only_y_written(&q, &first);
            if (q.backward)
                check_backward_result(&q, first.memory[first.y_block] + first.y_at, y, dy);
            else
                check_result(&q, first.memory[first.y_block] + first.y_at);
        }
        if (first.stats) {
            check_stats_untouched(&first, 0, first.stats_at);
            check_stats_untouched(&first, first.stats_at + q.need[T_STATS_OUT],
                                  first.stats_size);
            check_stats(&q, first.stats + first.stats_at);
        }
    }
    call(&q, &again);
    check_same(&first, &again, "a second identical call");
    if (first.status == CLSM_SUCCESS && !q.empty &&
        (q.buffers || q.host_layout != HOST_SEPARATE || q.misalign ||
         (q.backward && q.host_dy != HDY_SEPARATE)))
        check_equals_plain_call(&q, &first, y, dy);
    outcome_free(&again);
    outcome_free(&first);
    free(dy);
    free(y);
    free_request(&q);
    return 0;
}
