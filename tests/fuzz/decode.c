/* The fuzzer's decoder: input bytes to a request, every argument of a forward, backward or sampling call, valid or not, with its tensors' data. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "request.h"

/*
 * Input layout: a fixed header of HEADER bytes (missing bytes read as 0), then
 * the tensor data, repeated cyclically when shorter than the tensor; a backward
 * call's dy is the data from element count + 1 on, likewise (so y's bytes, one spare
 * byte and dy's, when written out in full).
 *   0      bit 0: buffers entry point, else host; bits 1-4: context, modulo CTX_COUNT:
 *          0 automatic, 1 to TS_FAMILIES the family ts_families[value - 1] forced (item,
 *          group, row, columns, split, regs), then the library's own context (CTX_OWN),
 *          then NULL (CTX_NULL)
 *   1, 2   op, dtype: ts_ops[], ts_dtypes[] modulo their count (from 0xF0 up: unknown
 *          enum values, BAD_ENUMS[])
 *   3-8    outer, axis, inner, u16 little-endian each (from 0xFFF0 up: HUGE[])
 *   9      scale: below 0x80 SCALES[], else the float whose bits are bytes 10-13
 *   14     host layout: bits 0-1 HOST_*, bit 2 NULL y (else x), bit 3 both NULL,
 *          bits 4-6 misalignment of the arrays in bytes
 *   15     host overlap: y = x + this signed byte count (0 counts as 1)
 *   16, 17 x, y buffer: bits 0-1 root (X_ROOTS[], Y_ROOTS[]), bit 2 a sub-buffer, bits 3-4
 *          its origin in multiples of the device's base alignment
 *   18     flags of the three roots, two bits each: 1 read-only, 2 write-only, else read-write
 *   19-22  x and y byte offsets, u16 each (from 0xFFF0 up: HUGE_OFFSETS[])
 *   23-25  signed byte count added to each root's size (negative: too small)
 *   26     bits 0-1 wait list (WAIT_*), bit 2 its event still pending during the call,
 *          bit 3 ask for an event, bits 4-5 count for a mismatched list, bit 6 a NULL
 *          event after the valid one
 *   27     bit 0 data as raw bit patterns, else one byte per element (value_of_byte);
 *          bit 1 also the context constructors and getters with bad arguments; bit 2 the v2
 *          fields (bytes 53-77) follow, and the data after them (else every v2 field is 0,
 *          v1.1's call, so that inputs written before v2 decode as they did)
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
 *   48     bit 0 the backward entry points (bytes 28-47 unused but with bit 4), whose y
 *          and dx take x's and y's place in the fields above, and dy its own: bit 1 on the
 *          host path, dx in place in (HOST_IN_PLACE) or overlapping (HOST_OVERLAP) y, else
 *          dy; bits 2-3 dy on the host path (HDY_*); a NULL dx is byte 14's NULL y; bit 4
 *          (with bit 0) bytes 28-47 and the v2 fields apply to the backward call as to the
 *          forward (byte 28 bit 0 its _ex entry point, bit 1 its options NULL), and both
 *          those and bytes 78-82 follow, whatever byte 27's bit 2 says (without bit 4 a
 *          backward call is v1.1's, so that inputs written before decode as they did);
 *          bit 5 (without bit 0) the sampling entry points, below
 *   49     dy buffer: bits 0-1 root (DY_ROOTS[]), bit 2 a sub-buffer, bits 3-4 its origin
 *   50, 51 dy byte offset, u16 (from 0xFFF0 up: HUGE_OFFSETS[])
 *   52     host dy overlap: dy = y + this signed byte count (0 counts as 1)
 * The v2 fields, a forward call's (the _ex scale; the options' with options):
 *   53     softcap: SOFTCAPS[] by the low four bits
 *   54     ALiBi slopes: bits 0-1 none, ALIBI_SLOPES (clsm_alibi_slopes with max_bias
 *          MAX_BIASES[] by bits 2-3), ALIBI_VALUES (value_of_byte of bytes 66-69, head h
 *          from byte 66 + h % 4), ALIBI_ONE (clsm_alibi_slopes, but head byte 66 % heads
 *          value_of_byte(byte 67))
 *   55     kv_lengths: bits 0-2 KV_*, from bytes 70-77 (batch entry b from byte 70 + b % 8;
 *          KV_RAW: the i32 of bytes 70-73 or 74-77 by b % 2)
 *   56     struct_size by the low four bits (decode_struct_size): the library's own, too
 *          small ones, larger ones, and larger ones with a nonzero byte past the library's
 *          struct
 *   57     the _ex entry points' double scale: 0 byte 9's float, below 0x80 DOUBLE_SCALES[]
 *          (from 1), else the double whose bits are bytes 58-65
 * The backward _ex fields (byte 48 bit 4), the forward's x (data from element 2*(count+1) on,
 * after dy's and one more spare byte) and what dx shares:
 *   78     bits 0-1 x on the host path (HX_*); bits 2-4 the option tensor whose host array
 *          (host path) or buffer and offset (buffers path) are dx's, where the options set
 *          it: 1 + T_* up to T_KV (mask, sinks, stats_in, ALiBi slopes, kv_lengths), else
 *          none
 *   79     host x overlap: x = dx + this signed byte count (0 counts as 1)
 *   80     x buffer: bits 0-1 root (FX_ROOTS[]), bit 2 a sub-buffer, bits 3-4 its origin
 *   81, 82 x byte offset, u16 (from 0xFFF0 up: HUGE_OFFSETS[])
 * The sampling entry points (byte 48 bit 5): the logits are x, [outer, axis, 1] (bytes 7-8
 * unused), the tokens y; the options' bytes and the v2 fields apply as to the forward, with
 * options where byte 28 bit 0 is set, and the double scale always; bytes 78-82 are unused.
 *   83-86  temperature (TEMPERATURES[]), top_k (TOP_KS[]), top_p and min_p (FRACTIONS[]),
 *          each by the byte's low four bits
 *   87     bits 0-4 the per-row tensors set: temperatures, top_ks, top_ps, min_ps, seeds;
 *          bit 5 logprobs; bit 6 a NULL sampling struct; bit 7 per-row seeds repeat in pairs
 *   88     the sampling struct's struct_size by the low four bits (decode_struct_size's)
 *   89-96  row r's temperature (low four bits) and top_k (high) from byte 89 + r % 8
 *   97-104 row r's top_p (low) and min_p (high) from byte 97 + r % 8
 *   105-112 the seed, u64; row r's own seed, where set, is it plus r (or r/2) times 2^64/phi
 *   113-120 the offset, u64
 *   121    buffers path: bits 0-2 which per-row tensor gets a bad buffer (1 + S_*), bits 3-5
 *          how (BAD_*)
 *   122    bits 0-1 where the logprobs lie (LP_*)
 */
#define HEADER 53
#define V2_HEADER 78
#define BWD_EX_HEADER 83
#define SAMPLE_HEADER 123

static const int X_ROOTS[4] = {ROOT_A, ROOT_A, ROOT_F, NO_ROOT};
static const int Y_ROOTS[4] = {ROOT_B, ROOT_A, ROOT_F, NO_ROOT};
static const int DY_ROOTS[4] = {ROOT_B, ROOT_A, ROOT_F, NO_ROOT};
/* A: y's root, where x may lie anywhere; B: dx's (and dy's) by default, where it may not
 * meet dx. */
static const int FX_ROOTS[4] = {ROOT_A, ROOT_B, ROOT_F, NO_ROOT};
enum { DIMS_ZERO, DIMS_FACTORS, DIMS_RAW, DIMS_HUGE };
enum { STRIDES_FULL, STRIDES_BROADCAST, STRIDES_RAW, STRIDES_HUGE };

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
static const int BAD_MASK_TYPES[3] = {5, -1, 0x7FFFFFFF};
static const int BAD_ENUMS[16] = {2, 3, 4, 5, -1, -2, 7, 8, 16, 255, 256, 1000, 65536, -65536,
                                  0x7FFFFFFF, -0x7FFFFFFF - 1};
static const float SCALES[] = {
    1.0f, -1.0f, 0.5f, 2.0f, 0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX,
    FLT_MIN, 0x1p-149f, -0x1p-149f, 1e-40f, 1e-30f, 1e30f, 3.0f, -0.25f, 100.0f, 1e4f,
    0.125f, 1e-3f};
#define N_SCALES (sizeof SCALES / sizeof SCALES[0])
/* Small and large caps, a negative zero (off), then the ones the contract refuses. */
static const float SOFTCAPS[16] = {0,         0.5f,  1,       2,     5,   30, 50,       1e-3f,
                                   0x1p-149f, 1e30f, FLT_MAX, -0.0f, NAN, -1, INFINITY, -INFINITY};
static const double MAX_BIASES[4] = {8, 1, 0.25, 64};
/* Greedy, ordinary and extreme temperatures, then the ones the contract refuses. */
static const float TEMPERATURES[16] = {0,       1,     0.7f,   0.5f, 2,   1e-3f,    100,
                                       0x1p-149f, FLT_MAX, -0.0f, 1e-30f, -1, NAN, INFINITY,
                                       -INFINITY, -0x1p-149f};
/* top_p and min_p: off, ordinary, at the edges of [0, 1], then outside it. */
static const float FRACTIONS[16] = {0,          1,    0.5f, 0.9f, 0.99f, 1e-7f, 0x1.fffffep-1f,
                                    0x1p-149f,  0.3f, 0.05f, -0.0f, NAN,  -0.1f, 1.5f,
                                    INFINITY,   -INFINITY};
enum { ALIBI_NONE, ALIBI_SLOPES, ALIBI_VALUES, ALIBI_ONE };
/* Every batch entry's length: KV_BYTES from its byte, modulo axis + 1; KV_BELOW and
 * KV_ABOVE the same but one entry -1 or axis + 1; KV_PICKS one of KV_PICKS' values. */
enum { KV_NONE, KV_BYTES, KV_ZERO, KV_AXIS, KV_BELOW, KV_ABOVE, KV_PICKS, KV_RAW };
/* Scales a float cannot hold: inexact, beyond FLT_MAX (or just below where it rounds to
 * it), below the smallest subnormal, and a double's extremes. */
static const double DOUBLE_SCALES[] = {
    0.1,     1.0 / 3, 1 + 0x1p-30, -0.7,      1e39,  -1e39, 0x1.ffffffp127, 0x1.fffffefffffffp127,
    1e-50,   -1e-50,  1e-46,       DBL_MAX,   -DBL_MAX, DBL_MIN, 0x1p-1074, 1e300,
    NAN,     INFINITY, -INFINITY,  2.5};
#define N_DOUBLE_SCALES (sizeof DOUBLE_SCALES / sizeof DOUBLE_SCALES[0])

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "fuzz_softmax: setup: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

typedef struct reader {
    const uint8_t *p;
    size_t n;
    size_t header; /* HEADER, V2_HEADER with the v2 fields, BWD_EX_HEADER with those too */
} reader;

/* Whether the backward call takes the options' bytes (byte 48, bits 0 and 4). */
static int has_backward_ex(const uint8_t *p, size_t n)
{
    return n > 48 && (p[48] & 0x11) == 0x11;
}

/* Whether the call is a sampling one (byte 48, bit 5 without bit 0). */
static int has_sample(const uint8_t *p, size_t n)
{
    return n > 48 && (p[48] & 0x21) == 0x20;
}

static size_t header_size(const uint8_t *p, size_t n)
{
    if (has_sample(p, n))
        return SAMPLE_HEADER;
    if (has_backward_ex(p, n))
        return BWD_EX_HEADER;
    return n > 27 && (p[27] >> 2) & 1 ? V2_HEADER : HEADER;
}

static uint8_t byte_at(reader r, size_t i)
{
    return i < r.n && i < r.header ? r.p[i] : 0;
}

static uint16_t u16_at(reader r, size_t i)
{
    return (uint16_t)(byte_at(r, i) | byte_at(r, i + 1) << 8);
}

static uint32_t u32_at(reader r, size_t i)
{
    return (uint32_t)u16_at(r, i) | (uint32_t)u16_at(r, i + 2) << 16;
}

static uint64_t u64_at(reader r, size_t i)
{
    return (uint64_t)u32_at(r, i) | (uint64_t)u32_at(r, i + 4) << 32;
}

/* Data byte i (of the bytes after the header, repeated), or 0 without data. */
static uint8_t data_at(reader r, size_t i)
{
    size_t data = r.n > r.header ? r.n - r.header : 0;
    return data ? r.p[r.header + i % data] : 0;
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

/* Byte 57: the _ex entry points' double scale, or the float one already decoded. */
static double decode_double_scale(reader r, double scale)
{
    uint8_t s = byte_at(r, 57);
    if (s == 0)
        return scale;
    if (s < 0x80)
        return DOUBLE_SCALES[(s - 1) % N_DOUBLE_SCALES];
    uint64_t bits = u64_at(r, 58);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* A growing struct's struct_size by the low four bits of a byte: the library's own; too
 * small ones (0, 1, one byte or one field short, short of the field last added); larger ones
 * with a zero tail; larger ones with a nonzero byte past the library's struct, first, last or
 * alone. Byte 56 for the options, 88 for sampling. */
static void decode_struct_size(uint8_t b, size_t own, size_t last_field, size_t *size,
                               long *tail)
{
    const size_t sizes[16] = {own,      0,       1,       own - 1,  own - 8, last_field,
                              own + 1,  own + 8, own + 64, own + 8, own + 8, own + 64,
                              own + 1,  own,     own,      own};
    static const long tails[16] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 7, 63, 0, -1, -1, -1};
    *size = sizes[b & 15];
    *tail = tails[b & 15];
}

static size_t decode_dim(uint16_t v)
{
    return v >= 0xFFF0 ? HUGE[v & 15] : v;
}

static size_t decode_offset(uint16_t v)
{
    return v >= 0xFFF0 ? HUGE_OFFSETS[v & 15] : v;
}

static cl_mem_flags decode_flags(unsigned bits)
{
    return bits == 1 ? CL_MEM_READ_ONLY : bits == 2 ? CL_MEM_WRITE_ONLY : CL_MEM_READ_WRITE;
}

int dtype_valid(int dtype)
{
    for (int i = 0; i < TS_DTYPES; i++)
        if (dtype == (int)ts_dtypes[i])
            return 1;
    return 0;
}

int mask_type_valid(int type)
{
    return type >= CLSM_MASK_NONE && type <= CLSM_MASK_KEEP_U8;
}

clsm_dtype mask_dtype(int type)
{
    return type == CLSM_MASK_ADD_F32 ? CLSM_F32 : type == CLSM_MASK_ADD_BF16 ? CLSM_BF16 : CLSM_F16;
}

size_t mask_element_size(int type)
{
    return type == CLSM_MASK_KEEP_U8 ? 1 : ts_dtype_size(mask_dtype(type));
}

/* The elements of the statistics and sinks of a call: f64 for F64, else f32. */
static size_t stat_size(int dtype)
{
    return dtype == CLSM_F64 ? 8 : 4;
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

void row_dims(const request *q, size_t d[3])
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

int token_tensor(const request *q, int k)
{
    return q->need_overflows[k] || q->need[k] > MAX_TENSOR_BYTES;
}

clsm_tensor *option_tensor(clsm_options *o, int k)
{
    clsm_tensor *t[TENSORS] = {[T_MASK] = &o->mask,          [T_SINKS] = &o->sinks,
                               [T_STATS_IN] = &o->stats_in,  [T_ALIBI] = &o->alibi_slopes,
                               [T_KV] = &o->kv_lengths,      [T_STATS_OUT] = &o->stats_out};
    return t[k];
}

double compute_scale(const request *q)
{
    return q->dtype == CLSM_F64 ? q->scale : (double)(float)q->scale;
}

clsm_status struct_size_status(const request *q)
{
    if (q->struct_size < sizeof(clsm_options))
        return CLSM_ERROR_INVALID_ARGUMENT;
    return q->tail_byte >= 0 ? CLSM_ERROR_UNSUPPORTED : CLSM_SUCCESS;
}

clsm_status sampling_size_status(const request *q)
{
    if (q->sampling_size < sizeof(clsm_sampling))
        return CLSM_ERROR_INVALID_ARGUMENT;
    return q->sampling_tail >= 0 ? CLSM_ERROR_UNSUPPORTED : CLSM_SUCCESS;
}

const clsm_sampling *pass_sampling(const request *q, const clsm_sampling *s, sampling_block *b)
{
    memset(b, 0, sizeof *b);
    b->s = *s;
    b->s.struct_size = q->sampling_size;
    if (q->sampling_tail >= 0)
        b->tail[q->sampling_tail] = 1;
    return &b->s;
}

size_t sample_element_size(const request *q, int k)
{
    return k == S_SEEDS ? 8 : k == S_LOGPROBS ? stat_size(q->dtype) : 4;
}

clsm_tensor *sample_tensor(clsm_sampling *s, int k)
{
    clsm_tensor *t[S_TENSORS] = {[S_TEMPS] = &s->temperatures, [S_TOP_KS] = &s->top_ks,
                                 [S_TOP_PS] = &s->top_ps,      [S_MIN_PS] = &s->min_ps,
                                 [S_SEEDS] = &s->seeds,        [S_LOGPROBS] = &s->logprobs};
    return t[k];
}

const clsm_options *pass_options(const request *q, const clsm_options *opt, options_block *b)
{
    memset(b, 0, sizeof *b);
    b->opt = *opt;
    b->opt.struct_size = q->struct_size;
    if (q->tail_byte >= 0)
        b->tail[q->tail_byte] = 1;
    return &b->opt;
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
    if (q->ex || q->sample)
        q->scale = decode_double_scale(r, q->scale);
    o->softcap = SOFTCAPS[byte_at(r, 53) & 15];
    q->set[T_ALIBI] = (byte_at(r, 54) & 3) != ALIBI_NONE;
    q->set[T_KV] = (byte_at(r, 55) & 7) != KV_NONE;
    decode_struct_size(byte_at(r, 56), sizeof(clsm_options), offsetof(clsm_options, softcap),
                       &q->struct_size, &q->tail_byte);

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
    /* In the order of the tensors' first seeds, so that those still decode as written. */
    static const int BAD_TENSORS[8] = {-1,      T_MASK, T_SINKS, T_STATS_IN,
                                       T_STATS_OUT, T_ALIBI, T_KV,   -1};
    q->bad_tensor = BAD_TENSORS[bad & 7];
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
    q->need_overflows[T_ALIBI] = mul_overflows(d[1], stat_size(q->dtype), &q->need[T_ALIBI]);
    q->need_overflows[T_KV] = mul_overflows(d[0], sizeof(int32_t), &q->need[T_KV]);
    for (int k = 0; k < T_STATS_OUT; k++) {
        if (!q->set[k])
            continue;
        size_t bytes = token_tensor(q, k) ? TOKEN_BYTES : q->need[k];
        q->tensor[k] = xmalloc(bytes);
        memset(q->tensor[k], 0, bytes);
    }
}

/* The slopes of byte 54: clsm_alibi_slopes' for the call's heads, arbitrary values, or the
 * former with one head's arbitrary (bytes 66-69). */
static void fill_slopes(reader r, request *q)
{
    const clsm_dtype sd = q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    const size_t heads = q->need[T_ALIBI] / stat_size(q->dtype);
    const uint8_t mode = byte_at(r, 54) & 3;
    unsigned char *t = q->tensor[T_ALIBI];
    if (heads == 0)
        return;
    if (mode == ALIBI_VALUES) {
        for (size_t h = 0; h < heads; h++)
            ts_store(sd, t, h, value_of_byte(byte_at(r, 66 + h % 4)));
        return;
    }
    if (clsm_alibi_slopes(sd, heads, MAX_BIASES[(byte_at(r, 54) >> 2) & 3], 0, heads, t) !=
        CLSM_SUCCESS) {
        fprintf(stderr, "fuzz_softmax: setup: clsm_alibi_slopes refused %zu heads\n", heads);
        exit(1);
    }
    if (mode == ALIBI_ONE)
        ts_store(sd, t, byte_at(r, 66) % heads, value_of_byte(byte_at(r, 67)));
}

/* The lengths of byte 55, each batch entry's from bytes 70-77. */
static void fill_lengths(reader r, request *q)
{
    const size_t batch = q->need[T_KV] / sizeof(int32_t);
    const int64_t axis = q->shape.axis < INT32_MAX ? (int64_t)q->shape.axis : INT32_MAX - 1;
    const int64_t picks[8] = {0, axis, -1, axis + 1, INT32_MIN, INT32_MAX, 1, axis / 2};
    const uint8_t mode = byte_at(r, 55) & 7;
    int32_t *len = (int32_t *)(void *)q->tensor[T_KV];
    for (size_t b = 0; b < batch; b++) {
        const uint8_t v = byte_at(r, 70 + b % 8);
        int64_t l = v % (axis + 1);
        if (mode == KV_ZERO)
            l = 0;
        else if (mode == KV_AXIS)
            l = axis;
        else if (mode == KV_PICKS)
            l = picks[v & 7];
        else if (mode == KV_RAW)
            l = (int32_t)u32_at(r, 70 + 4 * (b % 2));
        len[b] = (int32_t)l;
    }
    if (batch && (mode == KV_BELOW || mode == KV_ABOVE))
        len[byte_at(r, 70) % batch] = mode == KV_BELOW ? -1 : (int32_t)(axis + 1);
}

/* Host data for the tensors the call sets, from the data bytes and bytes 42-47. A mask
 * whose reach overflows or is too large to hold gets a token array: a call must refuse it
 * (q->need tells whether it can). */
static void fill_tensors(reader r, request *q)
{
    const clsm_options *o = &q->opt;
    const clsm_dtype sd = q->dtype == CLSM_F64 ? CLSM_F64 : CLSM_F32;
    if (q->set[T_MASK] && mask_type_valid(o->mask_type) && q->tensor[T_MASK]) {
        size_t n = (token_tensor(q, T_MASK) ? TOKEN_BYTES : q->need[T_MASK]) /
                   mask_element_size(o->mask_type);
        /* Every seventh data byte from the fourth, so that the mask is not x again. */
        for (size_t i = 0; i < n; i++) {
            uint8_t b = data_at(r, i * 7 + 3);
            if (o->mask_type == CLSM_MASK_KEEP_U8)
                q->tensor[T_MASK][i] = b & 3;
            else
                ts_store(mask_dtype(o->mask_type), q->tensor[T_MASK], i, value_of_byte(b));
        }
    }
    if (q->set[T_SINKS] && !token_tensor(q, T_SINKS))
        for (size_t h = 0; h < q->need[T_SINKS] / stat_size(q->dtype); h++)
            ts_store(sd, q->tensor[T_SINKS], h, value_of_byte(q->values[h % 6]));
    if (q->set[T_ALIBI] && !token_tensor(q, T_ALIBI))
        fill_slopes(r, q);
    if (q->set[T_KV] && !token_tensor(q, T_KV))
        fill_lengths(r, q);
    if (!q->set[T_STATS_IN] || token_tensor(q, T_STATS_IN))
        return;
    /* The slices' own statistics need every tensor they read, within its bounds. */
    double *own = NULL;
    int readable = !option_violations(q);
    for (int k = 0; k < T_STATS_OUT; k++)
        readable &= k == T_STATS_IN || !token_tensor(q, k);
    if (q->stats_own && readable) {
        clsm_options ro;
        reference_options(q, &ro);
        ro.stats_in.host = NULL;
        own = xmalloc(2 * q->slices * sizeof *own);
        ref_softmax_ex((clsm_op)q->op, (clsm_dtype)q->dtype, q->shape, compute_scale(q), &ro,
                       q->x, NULL, own);
    }
    for (size_t k = 0; k < 2 * q->slices; k++)
        ts_store(sd, q->tensor[T_STATS_IN], k, own ? own[k] : value_of_byte(q->values[k % 6]));
    free(own);
}

/* Element i of a tensor from data element e: value_of_byte of its byte, or its bytes raw. */
static void fill_element(reader r, const request *q, unsigned char *t, size_t i, size_t e)
{
    const size_t element = ts_dtype_size((clsm_dtype)q->dtype);
    if (q->raw_data && r.n > r.header)
        for (size_t k = 0; k < element; k++)
            t[i * element + k] = data_at(r, e * element + k);
    else
        ts_store((clsm_dtype)q->dtype, t, i,
                 r.n > r.header ? value_of_byte(data_at(r, e)) : 0.0);
}

/* Bytes 78-82: a backward _ex call's x, on either path, and the option tensor over dx. */
static void decode_backward_x(reader r, request *q)
{
    const uint8_t h = byte_at(r, 78), xm = byte_at(r, 80);
    const int over = (h >> 2) & 7;
    q->fx_host = h & 3;
    q->over_dx = q->options && over >= 1 && over <= 1 + T_KV && q->set[over - 1] ? over - 1 : -1;
    q->fx_overlap = (int8_t)byte_at(r, 79);
    if (q->fx_overlap == 0)
        q->fx_overlap = 1;
    q->fx_root = FX_ROOTS[xm & 3];
    q->fx_sub = (xm >> 2) & 1;
    q->fx_origin = q->fx_sub ? ((xm >> 3) & 3) * q->dev.base_align : 0;
    q->fx_offset = decode_offset(u16_at(r, 81));
}

/* top_k by four bits: off, small, about the small path's 64, the radix path's, and about
 * the vocabulary. */
static uint32_t top_k_of(unsigned v, size_t vocab)
{
    const uint64_t near = vocab < UINT32_MAX ? vocab : UINT32_MAX - 1;
    const uint64_t ks[16] = {0,  1,  2,   3,   5,        10,   50,       63,
                             64, 65, 100, 200, near - 1, near, near + 1, UINT32_MAX};
    return (uint32_t)ks[v & 15];
}

/* Bytes 83-122: the sampling struct, its per-row tensors' values and where they lie. */
static void decode_sample(reader r, request *q)
{
    const size_t rows = q->shape.outer;
    clsm_sampling *s = &q->sampling;
    *s = (clsm_sampling)CLSM_SAMPLING_INIT;
    s->temperature = TEMPERATURES[byte_at(r, 83) & 15];
    s->top_k = top_k_of(byte_at(r, 84), q->shape.axis);
    s->top_p = FRACTIONS[byte_at(r, 85) & 15];
    s->min_p = FRACTIONS[byte_at(r, 86) & 15];
    const uint8_t set = byte_at(r, 87);
    for (int k = 0; k < S_TENSORS; k++) {
        q->s_set[k] = (set >> k) & 1;
        q->s_need_overflows[k] = mul_overflows(rows, sample_element_size(q, k), &q->s_need[k]);
    }
    q->null_sampling = (set >> 6) & 1;
    decode_struct_size(byte_at(r, 88), sizeof(clsm_sampling), offsetof(clsm_sampling, logprobs),
                       &q->sampling_size, &q->sampling_tail);
    s->seed = u64_at(r, 105);
    s->offset = u64_at(r, 113);
    const uint8_t bad = byte_at(r, 121);
    q->s_bad_tensor = (bad & 7) >= 1 && (bad & 7) <= S_TENSORS ? (bad & 7) - 1 : -1;
    q->s_bad_kind = (bad >> 3) & 7;
    q->lp_place = byte_at(r, 122) & 3;
    /* Rows past what the harness holds get token arrays: a call must refuse before it reads
     * them (statuses.c). */
    for (int k = 0; k < S_LOGPROBS; k++) {
        if (!q->s_set[k])
            continue;
        const int held = rows <= MAX_ROWS;
        q->s_tensor[k] = xmalloc(held ? q->s_need[k] : TOKEN_BYTES);
        memset(q->s_tensor[k], 0, held ? q->s_need[k] : TOKEN_BYTES);
        for (size_t i = 0; held && i < rows; i++) {
            const uint8_t a = byte_at(r, 89 + i % 8), b = byte_at(r, 97 + i % 8);
            unsigned char *t = q->s_tensor[k];
            const uint64_t seed = s->seed + (set >> 7 ? i / 2 : i) * 0x9E3779B97F4A7C15u;
            if (k == S_TEMPS)
                ((float *)(void *)t)[i] = TEMPERATURES[a & 15];
            else if (k == S_TOP_KS)
                ((uint32_t *)(void *)t)[i] = top_k_of(a >> 4, q->shape.axis);
            else if (k == S_TOP_PS)
                ((float *)(void *)t)[i] = FRACTIONS[b & 15];
            else if (k == S_MIN_PS)
                ((float *)(void *)t)[i] = FRACTIONS[b >> 4];
            else
                memcpy(t + 8 * i, &seed, 8);
        }
    }
}

void decode(const uint8_t *data, size_t size, const fuzz_device *dev, request *q)
{
    reader r = {data, size, header_size(data, size)};
    memset(q, 0, sizeof *q);
    q->opt.struct_size = sizeof q->opt;
    q->struct_size = sizeof q->opt;
    q->tail_byte = -1;
    q->dev = *dev;
    uint8_t b0 = byte_at(r, 0);
    q->buffers = b0 & 1;
    q->ctx_index = ((b0 >> 1) & 15) % CTX_COUNT;
    uint8_t op = byte_at(r, 1), dtype = byte_at(r, 2);
    q->op = op < 0xF0 ? (int)ts_ops[op % TS_OPS] : BAD_ENUMS[op & 15];
    q->dtype = dtype < 0xF0 ? (int)ts_dtypes[dtype % TS_DTYPES] : BAD_ENUMS[dtype & 15];
    q->sample = has_sample(data, size);
    /* Sampling's logits are rows: [outer, axis, 1]. */
    uint16_t dims[3] = {u16_at(r, 3), u16_at(r, 5), q->sample ? 1 : u16_at(r, 7)};
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
                        mul_overflows(q->count, ts_dtype_size((clsm_dtype)q->dtype), &q->bytes);
    q->small = !q->empty && !q->count_overflows && dtype_valid(q->dtype) &&
               q->count <= MAX_ELEMENTS;
    q->out_bytes = q->bytes;
    q->out_small = q->small;
    if (q->sample) {
        q->out_overflows = mul_overflows(q->shape.outer, sizeof(int32_t), &q->out_bytes);
        q->out_small = q->shape.outer <= MAX_ROWS;
    }

    uint8_t host = byte_at(r, 14);
    q->host_layout = host & 3;
    q->host_null_x = q->host_layout == HOST_NULL && (!(host & 4) || (host & 8));
    q->host_null_y = q->host_layout == HOST_NULL && ((host & 4) || (host & 8));
    q->misalign = (host >> 4) & 7;
    q->overlap = (int8_t)byte_at(r, 15);
    if (q->overlap == 0)
        q->overlap = 1;
    /* Tokens and logprobs are int32_t and real arrays: a call may take them aligned only. */
    if (q->sample)
        q->overlap = q->overlap / 8 * 8 + (q->overlap % 8 ? (q->overlap > 0 ? 8 : -8) : 0);
    /* Real arrays are only handed over for tensors the harness holds. Sampling writes its
     * tokens for an empty vocabulary too. */
    if (!q->buffers && !q->empty && !q->small && !q->host_null_x && !q->host_null_y)
        q->host_null_x = 1;
    if (q->sample && !q->buffers && !q->out_small)
        q->host_null_y = 1;

    uint8_t xm = byte_at(r, 16), ym = byte_at(r, 17), fl = byte_at(r, 18);
    q->x_root = X_ROOTS[xm & 3];
    q->y_root = Y_ROOTS[ym & 3];
    q->x_sub = (xm >> 2) & 1;
    q->y_sub = (ym >> 2) & 1;
    q->x_origin = q->x_sub ? ((xm >> 3) & 3) * dev->base_align : 0;
    q->y_origin = q->y_sub ? ((ym >> 3) & 3) * dev->base_align : 0;
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
    q->backward = bw & 1;
    q->dx_on_y = (bw >> 1) & 1;
    q->host_dy = (bw >> 2) & 3;
    q->dy_root = DY_ROOTS[dym & 3];
    q->dy_sub = (dym >> 2) & 1;
    q->dy_origin = q->dy_sub ? ((dym >> 3) & 3) * dev->base_align : 0;
    q->dy_offset = decode_offset(u16_at(r, 50));
    q->dy_overlap = (int8_t)byte_at(r, 52);
    if (q->dy_overlap == 0)
        q->dy_overlap = 1;
    q->fx_host = HX_NULL;
    q->fx_root = NO_ROOT;
    q->over_dx = -1;
    if (!q->backward || has_backward_ex(data, size))
        decode_options(r, q);
    if (q->backward && q->ex)
        decode_backward_x(r, q);
    if (q->sample)
        decode_sample(r, q);

    if (!q->small)
        return;
    q->slices = q->shape.outer * q->shape.inner;
    q->x = xmalloc(q->bytes);
    for (size_t i = 0; i < q->count; i++)
        fill_element(r, q, q->x, i, i);
    if (q->options)
        fill_tensors(r, q);
    if (!q->backward)
        return;
    /* Past y's elements and one spare, so that a crafted input is y's bytes, one byte and
     * dy's; a shorter one cycles, mostly onto other bytes than y's. */
    q->dy = xmalloc(q->bytes);
    for (size_t i = 0; i < q->count; i++)
        fill_element(r, q, q->dy, i, q->count + 1 + i);
    if (!q->ex)
        return;
    q->fx = xmalloc(q->bytes);
    for (size_t i = 0; i < q->count; i++)
        fill_element(r, q, q->fx, i, 2 * (q->count + 1) + i);
}

void free_request(request *q)
{
    free(q->x);
    free(q->dy);
    free(q->fx);
    for (int k = 0; k < TENSORS; k++)
        free(q->tensor[k]);
    for (int k = 0; k < S_TENSORS; k++)
        free(q->s_tensor[k]);
}
