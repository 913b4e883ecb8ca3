/* The fuzzer's request: every argument of a forward, backward or sampling call, decoded from the input bytes (decode.c), placed (layout.c), judged (statuses.c, results.c) and made (fuzz_softmax.c). */
#ifndef FUZZ_REQUEST_H
#define FUZZ_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <clsoftmax.h>

#include "checks.h"

/* The contexts a call can get: the automatic choice, each of ts_families[] forced (at
 * CTX_FAMILY + i), one of the library's own making, whose OpenCL context no buffer here
 * belongs to, and NULL. */
enum { CTX_AUTO, CTX_FAMILY, CTX_OWN = CTX_FAMILY + TS_FAMILIES, CTX_NULL, CTX_COUNT };
enum { HOST_SEPARATE, HOST_IN_PLACE, HOST_OVERLAP, HOST_NULL };
/* Where a backward call's dy lies on the host path. */
enum { HDY_SEPARATE, HDY_SAME_AS_Y, HDY_OVERLAP_Y, HDY_NULL };
/* Where the forward's x of a backward _ex call lies on the host path: a block of its own, y's
 * very bytes, dx's (moved by fx_overlap), or NULL. */
enum { HX_SEPARATE, HX_SAME_AS_Y, HX_OVERLAP_DX, HX_NULL };
enum { WAIT_NONE, WAIT_VALID, WAIT_COUNT_WITHOUT_LIST, WAIT_LIST_WITHOUT_COUNT };
/* Roots of the buffers path: A and B in the harness's OpenCL context, F in another one. */
enum { ROOT_A, ROOT_B, ROOT_F, ROOTS, NO_ROOT = -1 };
/* The host path's blocks: one in place of each root, and the forward's x's own. */
enum { BLOCK_X = ROOTS, BLOCKS };
/* The option tensors, the one the call writes last, and how a buffer of one can be wrong
 * (BAD_KINDS: not at all). */
enum { T_MASK, T_SINKS, T_STATS_IN, T_ALIBI, T_KV, T_STATS_OUT, TENSORS };
enum { BAD_SMALL, BAD_MISALIGNED, BAD_HUGE_OFFSET, BAD_FOREIGN, BAD_FLAGS, BAD_KINDS };
/* The host path's tensors: the input (x, a backward call's y, sampling's logits), the output
 * (y, dx, sampling's tokens), a backward call's dy, a backward _ex call's x (the forward's
 * input), and sampling's logprobs where they share the tokens' block. */
enum { H_IN, H_OUT, H_DY, H_X, H_LP, H_TENSORS };
/* Sampling's per-row tensors, and its logprobs (written). */
enum { S_TEMPS, S_TOP_KS, S_TOP_PS, S_MIN_PS, S_SEEDS, S_LOGPROBS, S_TENSORS };
/* Where sampling's logprobs lie: their own array or buffer, at the tokens' first byte, one
 * logprob into the tokens, or right after them. */
enum { LP_OWN, LP_ON_TOKENS, LP_INTO_TOKENS, LP_AFTER_TOKENS };

/* Elements of a tensor the harness allocates; larger shapes are cut down. */
#define MAX_ELEMENTS 16384
/* Option tensors larger than this are not allocated: a mask's reach can be huge. */
#define MAX_TENSOR_BYTES ((size_t)1 << 22)
/* The array that stands in for an option tensor too large to hold. */
#define TOKEN_BYTES 64

/* What the harness's device brings to a request. */
typedef struct fuzz_device {
    size_t base_align; /* sub-buffer origins are multiples of this */
    int has_fp64;
} fuzz_device;

typedef struct request {
    fuzz_device dev;
    int buffers;
    int ctx_index;
    int op, dtype;
    clsm_shape shape;
    double scale; /* as the call is given it: a float's value but for the _ex entry points */
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
    /* the backward _ex entry points' x, the forward's input: HX_* on the host path, a root
     * (NO_ROOT for NULL) on the buffers path; HX_NULL and NO_ROOT for the other calls */
    int fx_host;
    long fx_overlap;
    int fx_root, fx_sub;
    size_t fx_origin, fx_offset;
    unsigned char *fx; /* count elements, NULL unless small or without the _ex call */
    /* The option tensor (T_*) a backward _ex call places at dx's first byte, or -1. */
    int over_dx;
    /* the sampling entry points: x is the logits [rows, vocab, 1], y the tokens, and opt the
     * options (given with byte 28 bit 0, as the _ex calls'); scale is always the double one */
    int sample;
    size_t out_bytes;    /* the output's: bytes, or sampling's rows int32_t */
    int out_overflows;   /* sampling's rows * 4 does not fit in size_t */
    int out_small;       /* small enough for the harness to hold */
    int null_sampling;
    clsm_sampling sampling; /* the scalars; its struct_size is the library's own */
    size_t sampling_size;   /* the struct_size the call passes, and a byte past the */
    long sampling_tail;     /* library's struct that it sets (none: -1) */
    int s_set[S_TENSORS];
    size_t s_need[S_TENSORS]; /* rows values of each, in bytes */
    int s_need_overflows[S_TENSORS];
    unsigned char *s_tensor[S_TENSORS]; /* the per-row values (rows of them, small rows) */
    int s_bad_tensor, s_bad_kind;       /* a per-row buffer spoilt as bad_tensor's */
    int lp_place;                       /* LP_* */
    /* the _ex entry points: opt holds the scalar options, the tensors are set per call */
    int ex, null_options;
    int options; /* ex with options */
    clsm_options opt;
    /* The struct_size the call passes, and the byte past the library's struct that it sets
     * (none: -1); opt.struct_size is always the library's own. */
    size_t struct_size;
    long tail_byte;
    int set[TENSORS]; /* which tensors the call sets */
    int stats_own;    /* stats_in holds the slices' own statistics */
    uint8_t values[6];
    int bad_tensor, bad_kind;
    size_t slices; /* outer*inner, for small tensors */
    /* what each tensor needs, in bytes; overflow: it does not fit in size_t */
    size_t need[TENSORS];
    int need_overflows[TENSORS];
    unsigned char *tensor[TENSORS]; /* the host data of mask, sinks and stats_in */
} request;

static inline int mul_overflows(size_t a, size_t b, size_t *product)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 1;
    *product = a * b;
    return 0;
}

/* Rows a sampling call's per-row tensors and logprobs are held for; past them the harness
 * sets none (host) or makes token buffers, too small. */
#define MAX_ROWS 65536

/* decode.c */
void decode(const uint8_t *data, size_t size, const fuzz_device *dev, request *q);
void free_request(request *q);
/* malloc, or the end of the run: the harness cannot go on without its memory. */
void *xmalloc(size_t n);
int dtype_valid(int dtype);
int mask_type_valid(int type);
/* The dtype of an additive mask type's elements. */
clsm_dtype mask_dtype(int type);
size_t mask_element_size(int type);
/* [batch, heads, rows] as the options give them, all 0 (or no options) being [1, 1, outer]. */
void row_dims(const request *q, size_t d[3]);
/* Whether tensor k is too large to hold (or its size overflows): a token array stands in. */
int token_tensor(const request *q, int k);
/* The member of o that holds option tensor k. */
clsm_tensor *option_tensor(clsm_options *o, int k);
/* The scale the call computes with: as given for F64, else rounded once to float. */
double compute_scale(const request *q);
/* Whether the options as passed are refused for their struct_size: the status, or
 * CLSM_SUCCESS. */
clsm_status struct_size_status(const request *q);
/* The bytes of options a call passes: the options, and room for a struct_size past them. */
typedef struct options_block {
    clsm_options opt;
    unsigned char tail[64];
} options_block;
/* opt, in b, with q's struct_size and tail byte. */
const clsm_options *pass_options(const request *q, const clsm_options *opt, options_block *b);
/* Likewise for sampling: its struct_size status, and the struct a call passes. */
clsm_status sampling_size_status(const request *q);
typedef struct sampling_block {
    clsm_sampling s;
    unsigned char tail[64];
} sampling_block;
const clsm_sampling *pass_sampling(const request *q, const clsm_sampling *s, sampling_block *b);
/* Each per-row tensor's element size. */
size_t sample_element_size(const request *q, int k);
/* The member of s that holds per-row tensor k. */
clsm_tensor *sample_tensor(clsm_sampling *s, int k);

/* layout.c */
/* Where each tensor of the host path lies: its block and byte, and each block's size. */
typedef struct host_layout {
    int block[H_TENSORS]; /* -1: none (dy of a forward call, x of all but backward _ex) */
    size_t at[H_TENSORS];
    size_t size[BLOCKS];
} host_layout;
void layout_host(const request *q, host_layout *l);
size_t root_size(const request *q, int root);
/* Where option tensor k sits in its buffer: the bytes before it and after it. */
void tensor_pads(const request *q, int k, size_t *lead, size_t *tail);
/* Likewise for sampling's per-row tensor k. */
void sample_pads(const request *q, int k, size_t *lead, size_t *tail);
/* The bytes from the tokens' first to where sampling's logprobs start, for LP_ON_TOKENS,
 * LP_INTO_TOKENS and LP_AFTER_TOKENS. */
size_t lp_delta(const request *q);
unsigned char *initial_block(const request *q, int block, size_t size);
unsigned char *effective_input(const request *q, int t);

/* statuses.c */
#define BIT(status) (1u << (status))
/* The statuses the contract allows for the request, as a set of bits (1u << status). */
unsigned expected_statuses(const request *q);
/* The options' own scalar fields: nonzero where the contract refuses them. */
unsigned option_violations(const request *q);

/* results.c: after a successful call, on aligned host copies of what it wrote. */
/* q's options as tests/reference.c takes them: host tensors, and causal within its reach. */
void reference_options(const request *q, clsm_options *o);
/* y (NULL for statistics only) and stats_out (NULL without) of a forward call. */
ts_report check_forward(const request *q, const void *y, const void *stats);
/* dx of a backward call from y, dy and x (NULL for all but the _ex calls) as it saw them. */
ts_report check_backward(const request *q, const void *dx, const void *y, const void *dy,
                         const void *x);
/* Sampling's tokens and logprobs (NULL without) against tests/sample_reference.c, with the
 * logits as the call saw them. */
ts_report check_sample(const request *q, const int32_t *tokens, const void *logprobs,
                       const void *logits);

#endif
