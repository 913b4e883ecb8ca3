/* clsoftmax: softmax and log-softmax on OpenCL devices (the single public header). */
#ifndef CLSOFTMAX_H
#define CLSOFTMAX_H

#include <stddef.h>
#include <stdint.h>

#include <CL/cl.h>

/* The build reads the version from these three lines. */
#define CLSM_VERSION_MAJOR 2
#define CLSM_VERSION_MINOR 1
#define CLSM_VERSION_PATCH 0

#if defined(_WIN32) && defined(CLSM_BUILDING_SHARED)
#define CLSM_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CLSM_API __attribute__((visibility("default")))
#else
#define CLSM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Threading rule: every function may be called from any thread at any time,
 * and one context may be shared by several threads at once. Calls that share
 * a context are serialised internally only for as long as it takes to enqueue
 * their kernels. The first call that needs a kernel variant builds it without
 * holding up the others; calls that need the same variant meanwhile wait for
 * that build. A context must not be released while another thread uses it.
 *
 * The library never writes to stdout or stderr, also not the kernel
 * compiler's diagnostics; see clsm_context_build_log().
 */

/** Opaque handle holding a device, a queue, compiled kernels and staging buffers. */
typedef struct clsm_context clsm_context;

typedef enum clsm_status {
    CLSM_SUCCESS = 0,
    CLSM_ERROR_INVALID_ARGUMENT,  /**< NULL where a value is needed, unknown enum, non-finite
                                       scale, partially overlapping x/y, offset not a multiple
                                       of the element size, buffer from another context */
    CLSM_ERROR_INVALID_SHAPE,     /**< element count overflows size_t, or a cl_mem is smaller
                                       than offset + extent */
    CLSM_ERROR_UNSUPPORTED,       /**< valid request this device cannot run (CLSM_F64 without
                                       cl_khr_fp64) */
    CLSM_ERROR_DEVICE_NOT_FOUND,  /**< no OpenCL platform/device, or CLSM_DEVICE names none */
    CLSM_ERROR_BUILD_FAILED,      /**< kernel compilation failed; see clsm_context_build_log() */
    CLSM_ERROR_OUT_OF_MEMORY,     /**< host or device allocation failed */
    CLSM_ERROR_OPENCL,            /**< any other OpenCL error */
    CLSM_ERROR_MPI                /**< an MPI call failed (libclsoftmax_mpi only) */
} clsm_status;

typedef enum clsm_op { CLSM_SOFTMAX, CLSM_LOG_SOFTMAX } clsm_op;

/** Storage types. F32, F16 and BF16 are computed in f32; F64 in f64. */
typedef enum clsm_dtype { CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64 } clsm_dtype;

/**
 * A dense C-order tensor seen as [outer, axis, inner]; the operation runs
 * along 'axis'. For a NumPy array of shape s reduced on axis k:
 * outer = prod(s[:k]), axis = s[k], inner = prod(s[k+1:]).
 * Last-axis (row-wise) softmax is inner = 1.
 */
typedef struct clsm_shape {
    size_t outer, axis, inner;
} clsm_shape;

/** @return the library version as "MAJOR.MINOR.PATCH"; static storage. */
CLSM_API const char *clsm_version(void);

/** @return a static, human-readable name for @p status; never NULL, also for unknown values. */
CLSM_API const char *clsm_status_string(clsm_status status);

/**
 * Create a context on the default device, with its own OpenCL context and
 * in-order queue.
 *
 * The device is chosen by the CLSM_DEVICE environment variable if it is set
 * and not empty: "P:D" picks device D of platform P (indices from 0), anything
 * else picks the first device whose name contains it, ignoring case. Without
 * it, the first GPU of any platform, else the first device of any type.
 *
 * @param out receives the new context, or NULL on failure. Not NULL.
 * @return CLSM_SUCCESS, CLSM_ERROR_DEVICE_NOT_FOUND, CLSM_ERROR_OUT_OF_MEMORY,
 *         CLSM_ERROR_OPENCL, or CLSM_ERROR_INVALID_ARGUMENT if out is NULL or
 *         the CLSM_KERNEL testing override names no kernel family.
 */
CLSM_API clsm_status clsm_context_create(clsm_context **out);

/**
 * clsm_context_create() on a device the caller names, for programs that
 * choose a device without setting the environment (language bindings,
 * programs driving several devices).
 *
 * @param out receives the new context, or NULL on failure. Not NULL.
 * @param device read as CLSM_DEVICE is, and used instead of it: "P:D" picks
 *          device D of platform P, anything else the first device whose name
 *          contains it, ignoring case. NULL or "" is exactly
 *          clsm_context_create(), CLSM_DEVICE included. Borrowed for the
 *          call only.
 * @return as clsm_context_create(); CLSM_ERROR_DEVICE_NOT_FOUND when
 *         @p device names no device.
 */
CLSM_API clsm_status clsm_context_create_on_device(clsm_context **out, const char *device);

/**
 * Create a context that borrows the caller's queue. The queue, and its
 * OpenCL context, are retained here and released by clsm_context_release(),
 * so the caller may release its own references at any time. All work is
 * enqueued on this queue; out-of-order queues are supported.
 *
 * @param out receives the new context, or NULL on failure. Not NULL.
 * @param queue a valid command queue. Not NULL.
 * @return CLSM_SUCCESS, or CLSM_ERROR_INVALID_ARGUMENT for a NULL argument or
 *         a queue OpenCL does not recognise, or as clsm_context_create().
 */
CLSM_API clsm_status clsm_context_create_with_queue(clsm_context **out, cl_command_queue queue);

/**
 * Wait for nothing and release the context: its kernels, staging buffers and
 * its references to the OpenCL context and queue. Work already enqueued
 * keeps running. NULL is a no-op.
 */
CLSM_API void clsm_context_release(clsm_context *ctx);

/**
 * The queue all work of @p ctx is enqueued on (borrowed: do not release it).
 * Its context and device, from clGetCommandQueueInfo, are the ones to create
 * buffers for clsm_softmax_buffers() on. NULL for a NULL context.
 */
CLSM_API cl_command_queue clsm_context_queue(const clsm_context *ctx);

/**
 * The log of the last failed kernel build on this context, or "" if none.
 * Any thread may call it at any time. The string stays valid, unchanged, until
 * @p ctx is released, also when other threads' builds fail meanwhile (a later
 * call then returns their log). NULL is answered with "".
 */
CLSM_API const char *clsm_context_build_log(const clsm_context *ctx);

/**
 * The name of the kernel family that a call with this dtype and shape runs
 * on @p ctx's device, chosen by shape and device or forced by the
 * CLSM_KERNEL environment variable: for benchmarks and bug reports. NULL for
 * a NULL context. The string is static.
 */
CLSM_API const char *clsm_kernel_name(const clsm_context *ctx, clsm_dtype dtype,
                                      clsm_shape shape);

/**
 * Softmax or log-softmax over host memory; blocks until y is written. Copies
 * through device buffers that the context keeps for reuse; tensors larger
 * than the device's largest allocation go through in runs of outer slices.
 *
 * @param ctx the context; may be shared with other threads.
 * @param op CLSM_SOFTMAX or CLSM_LOG_SOFTMAX.
 * @param dtype the storage type of x and y.
 * @param shape the [outer, axis, inner] view; any dimension 0 is an empty
 *          tensor, however large the others, which succeeds and does nothing.
 * @param x outer*axis*inner elements of @p dtype (F16/BF16 as uint16_t bit
 *          patterns). Only read; may be NULL for an empty tensor.
 * @param y as many elements, written. May equal x (in place); any other
 *          overlap with x is CLSM_ERROR_INVALID_ARGUMENT.
 * @param scale any finite float, applied to x before the softmax
 *          (1/temperature), in the compute type: a product that overflows
 *          is an infinity. Zero gives the uniform distribution; NaN entries
 *          stay NaN. Every NaN written is the canonical quiet NaN (bits
 *          0x7fc00000 for F32, 0x7ff8000000000000 for F64, 0x7e00 for F16,
 *          0x7fc0 for BF16), so results compare bitwise.
 * @return CLSM_SUCCESS, or an error with y untouched where the error is
 *         found before launch: CLSM_ERROR_INVALID_ARGUMENT, _INVALID_SHAPE,
 *         _UNSUPPORTED (F64 without cl_khr_fp64), _OUT_OF_MEMORY (also a
 *         single outer slice larger than the device's largest allocation),
 *         _BUILD_FAILED, _OPENCL.
 */
CLSM_API clsm_status clsm_softmax_host(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                       clsm_shape shape, float scale, const void *x, void *y);

/**
 * Softmax or log-softmax on device buffers, enqueued on the context's queue;
 * returns once enqueued, without waiting. x and y stay borrowed until the
 * returned event completes.
 *
 * @param ctx,op,dtype,shape,scale as for clsm_softmax_host().
 * @param x,x_offset the input at byte offset x_offset of x, a buffer of the
 *          context's OpenCL context. Only read.
 * @param y,y_offset the output; the same buffer and offset as x is in place,
 *          any other overlap with x is CLSM_ERROR_INVALID_ARGUMENT.
 *          Offsets must be multiples of the element size.
 * @param num_events_in_wait_list,event_wait_list events the work waits for,
 *          as in clEnqueueNDRangeKernel; each must be an event of the
 *          context's OpenCL context (a NULL entry, or an event of another
 *          context, is CLSM_ERROR_INVALID_ARGUMENT).
 * @param event if not NULL, receives an event that completes when y is
 *          written; the caller releases it. Also for an empty tensor.
 * @return CLSM_SUCCESS once enqueued, or an error with nothing enqueued:
 *         CLSM_ERROR_INVALID_ARGUMENT (also a buffer or an event of another
 *         context, y created CL_MEM_READ_ONLY or x CL_MEM_WRITE_ONLY), _INVALID_SHAPE
 *         (a buffer smaller than offset + extent), _UNSUPPORTED,
 *         _BUILD_FAILED, _OUT_OF_MEMORY, _OPENCL.
 */
CLSM_API clsm_status clsm_softmax_buffers(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                          clsm_shape shape, float scale, cl_mem x,
                                          size_t x_offset, cl_mem y, size_t y_offset,
                                          cl_uint num_events_in_wait_list,
                                          const cl_event *event_wait_list, cl_event *event);

/* ---- v1.1: fused attention softmax and statistics ---- */

/** How clsm_options::mask is read. */
typedef enum clsm_mask_type {
    CLSM_MASK_NONE = 0,
    CLSM_MASK_ADD_F32, /**< additive, after scaling: u = scale*x + mask */
    CLSM_MASK_ADD_F16, /**< (F16/BF16 as uint16_t bit patterns) */
    CLSM_MASK_ADD_BF16,
    CLSM_MASK_KEEP_U8 /**< one byte each: 0 masks the entry (u = -inf), anything else keeps
                           u = scale*x */
} clsm_mask_type;

/**
 * An extra tensor: @c host for the _host entry points; @c buffer (a buffer of
 * the context's OpenCL context) and a byte @c offset for the _buffers ones.
 * A tensor is "set" when the member its entry point reads is not NULL.
 */
typedef struct clsm_tensor {
    void *host;
    cl_mem buffer;
    size_t offset;
} clsm_tensor;

/**
 * Options of the fused calls. Start from CLSM_OPTIONS_INIT, then set what you
 * use; all fields zero is exactly the v1 call.
 *
 * The struct only ever grows at its end, so that the ABI never has to break
 * for an option again: struct_size says how much of it the caller knows. A
 * struct_size below v2.0's struct is CLSM_ERROR_INVALID_ARGUMENT; above the
 * library's own, the bytes past what the library knows must be zero (a newer
 * caller that set no newer option), else CLSM_ERROR_UNSUPPORTED; fields past
 * struct_size read as zero.
 *
 * Entry j of slice (b, h, r) is first turned into u = scale*x_j in the
 * compute type; then u = softcap*tanh(u/softcap); then + mask (or -inf where a
 * keep-mask is 0); then - slope_h*|j - (r + off_b)| (ALiBi); then causal,
 * window and kv_lengths set the entries they mask to -inf (not read); then the
 * sinks join; softmax and log-softmax then run on u with every v1 rule (a
 * fully masked slice gives 0 / -inf, never NaN).
 */
typedef struct clsm_options {
    /** sizeof(clsm_options) as the caller compiled it: CLSM_OPTIONS_INIT sets it. */
    size_t struct_size;

    /** shape.outer seen as [batch, heads, rows] for the mask, causal, sinks, ALiBi and
     * kv_lengths fields; batch*heads*rows must equal outer. All 0: [1, 1, outer]. */
    size_t batch, heads, rows;

    clsm_mask_type mask_type;
    clsm_tensor mask;
    /** Elements between neighbours along batch, heads, rows and axis; 0
     * broadcasts. Entry j of slice (b, h, r) reads
     * mask[b*s[0] + h*s[1] + r*s[2] + j*s[3]]. */
    size_t mask_stride[4];

    /** Causal: entry j of row r is masked when j > r + causal_offset (for a
     * KV cache, causal_offset = axis - rows). With window w > 0, entries
     * j <= r + causal_offset - w are masked too (sliding window). */
    int causal;
    ptrdiff_t causal_offset;
    size_t window;

    /** Attention sinks: one logit per head (f32; f64 for F64 calls), in the
     * scaled domain, that joins every slice's max and sum of that head and
     * gets no output. */
    clsm_tensor sinks;

    /** Per-slice statistics, two values per slice: (max, sum), f32 (f64 for
     * F64), slice (o, i) at index 2*(o*inner + i). max = max_j u_j (with the
     * sink), sum = sum_j exp(u_j - max); log-sum-exp is max + log(sum). A
     * fully masked slice gives (-inf, 0), a NaN slice (NaN, NaN), k entries
     * at +inf (+inf, k). stats_out receives them, also with y NULL (host) or
     * y's buffer NULL (buffers), which computes only the statistics. With
     * stats_in set, y is computed from the given statistics in one pass
     * instead of the slice's own (the second half of a sharded softmax):
     * y_j = exp(u_j - max)/sum (log-softmax u_j - max - log(sum)); a zero or infinite sum
     * gives 0 (-inf), a +inf max gives the +inf entries 1/sum (-log(sum))
     * and the rest 0 (-inf), a NaN statistic a NaN slice; as no reduction
     * sees the slice, a NaN entry of x is NaN at that entry only. */
    clsm_tensor stats_out;
    clsm_tensor stats_in;

    /* ---- v2.0 ---- */

    /** Logit soft-capping: > 0 turns u into softcap*tanh(u/softcap) right after the scale
     * (+-inf entries give +-softcap, NaN stays NaN); 0 is off. Finite and >= 0. Sinks are
     * logits of the final domain: neither scaled nor capped. */
    float softcap;
    /** ALiBi: one slope per head (f32; f64 for F64 calls), after the mask
     * u -= slope_h*|j - (r + off_b)|, off_b as for causal (below). clsm_alibi_slopes()
     * computes them. Needs inner == 1. The host path refuses a slope that is not finite;
     * on the buffers path such a head's kept entries are NaN. A causal_offset beyond
     * +-2^60 counts as +-2^60 here (a window keeps its lower edge). */
    clsm_tensor alibi_slopes;
    /** One int32_t per batch entry: entries j >= len_b of every slice of batch b are
     * masked, without being read. With it, causal rows are aligned to the bottom right:
     * off_b = len_b - rows + causal_offset replaces causal_offset. Needs inner == 1. The
     * host path refuses a length below 0 or above axis; the buffers path clamps it to
     * [0, axis], and the clamped length also gives off_b. */
    clsm_tensor kv_lengths;
} clsm_options;

/** An options struct with nothing set: start from it, then set what you use. In C it is
 * designated, which -Wmissing-field-initializers accepts; C++11 has no designators. */
#ifdef __cplusplus
#define CLSM_OPTIONS_INIT {sizeof(clsm_options)}
#else
#define CLSM_OPTIONS_INIT {.struct_size = sizeof(clsm_options)}
#endif

/**
 * clsm_softmax_host() with options and a double scale; NULL options is
 * exactly that call. F64 calls use the scale as given, the others round it
 * once to float (so an F32 call is the v1 call).
 *
 * @return as clsm_softmax_host(), and CLSM_ERROR_INVALID_ARGUMENT for: a
 *         finite scale that overflows float in an F32, F16 or BF16 call; a
 *         struct_size below v2.0's (CLSM_ERROR_UNSUPPORTED: above the
 *         library's, with a non-zero byte past it); a softcap that is NaN,
 *         negative or infinite; an ALiBi slope that is not finite; a
 *         kv_lengths entry below 0 or above axis; mask, causal, sinks, ALiBi or
 *         kv_lengths with shape.inner != 1; batch*heads*rows != outer
 *         (unless all three are 0); a window without causal; sinks or
 *         stats_out together with stats_in (a slice with given statistics is
 *         not reduced, so it has none of its own); an unknown mask type; a
 *         mask type with a NULL mask; x NULL, or y NULL without stats_out; y or
 *         stats_out sharing bytes with any other tensor of the call (x and y
 *         may be the same, in place). CLSM_ERROR_INVALID_SHAPE when the
 *         largest mask index overflows.
 */
CLSM_API clsm_status clsm_softmax_host_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                          clsm_shape shape, double scale,
                                          const clsm_options *options, const void *x, void *y);

/**
 * clsm_softmax_buffers() with options; NULL options is exactly that call.
 * The option tensors are read from (stats_out written to) their buffers.
 *
 * @return as clsm_softmax_buffers() and clsm_softmax_host_ex(), and
 *         CLSM_ERROR_INVALID_SHAPE for a mask, sinks or stats buffer smaller
 *         than its offset plus its largest index. Option buffers follow x's
 *         rules: of the context's OpenCL context, offsets multiples of their
 *         element size, stats_out not CL_MEM_READ_ONLY and the others not
 *         CL_MEM_WRITE_ONLY (else CLSM_ERROR_INVALID_ARGUMENT).
 */
CLSM_API clsm_status clsm_softmax_buffers_ex(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                             clsm_shape shape, double scale,
                                             const clsm_options *options, cl_mem x,
                                             size_t x_offset, cl_mem y, size_t y_offset,
                                             cl_uint num_events_in_wait_list,
                                             const cl_event *event_wait_list, cl_event *event);

/**
 * Merges @p count (max, sum) pairs of @p in into @p inout, pair by pair, as
 * if the two slices had been one: max = max(a, b), sum = a.sum*exp(a.max -
 * max) + b.sum*exp(b.max - max), where a -inf side adds 0; when max is +inf
 * only the +inf sides' sums add; NaN on either side gives (NaN, NaN). The
 * shape of an MPI user function, so that it can back an MPI_Op. dtype F64
 * means f64 pairs, the others f32 pairs. NULL pointers or an unknown dtype
 * do nothing.
 */
CLSM_API void clsm_stats_merge(clsm_dtype dtype, size_t count, const void *in, void *inout);

/**
 * ALiBi slopes (ggml's and the ALiBi paper's formula) of heads @p first_head
 * to first_head + count - 1 out of @p heads_total, so that a tensor-parallel
 * rank computes only its own heads. With n = 2^floor(log2 heads_total),
 * m0 = 2^(-max_bias/n) and m1 = 2^(-max_bias/2/n), head h gets m0^(h+1) for
 * h < n, else m1^(2(h-n)+1), within 1e-6 relative (1e-13 for F64): computed
 * in double and, but for F64, rounded once to float. Needs no context or
 * device; blocks only for the computation and is thread-safe.
 *
 * @param dtype the dtype of the calls the slopes are for: F64 writes
 *          doubles, F32, F16 and BF16 write floats.
 * @param heads_total all heads of the model; not 0.
 * @param max_bias finite and > 0 (8 in the paper and most models).
 * @param first_head,count the heads to compute; first_head + count must not
 *          exceed heads_total. count 0 writes nothing.
 * @param slopes count floats (doubles for F64), written; borrowed for the
 *          call only. May be NULL when count is 0.
 * @return CLSM_SUCCESS, or CLSM_ERROR_INVALID_ARGUMENT, with @p slopes
 *         untouched, for an unknown dtype, heads_total 0, a max_bias that is
 *         not both finite and > 0, a range past heads_total, or NULL slopes
 *         with count > 0.
 */
CLSM_API clsm_status clsm_alibi_slopes(clsm_dtype dtype, size_t heads_total, double max_bias,
                                       size_t first_head, size_t count, void *slopes);

/* ---- v1.1: backward pass ---- */

/**
 * Gradient with respect to x of softmax or log-softmax, from the forward
 * output @p y and the upstream gradient @p dy, all three of dtype and shape,
 * each slice read once where it fits on chip:
 *   softmax      dx_j = scale * y_j * (dy_j - sum_k dy_k*y_k)
 *   log-softmax  dx_j = scale * (dy_j - exp(y_j) * sum_k dy_k)
 * in the compute type (f32; f64 for F64). NaN anywhere in a slice of y or dy
 * makes that dx slice NaN. A product with a zero factor from y (softmax
 * y_k = 0, log-softmax exp(y_k) = 0) counts as 0 even where the other factor
 * is infinite, so masked entries never poison a slice; softmax gives dx_j = 0
 * wherever y_j = 0, and scale 0 gives dx = 0 (the forward is then constant).
 * Infinite dy elsewhere follows IEEE arithmetic (inf - inf is NaN). dx may
 * be the same memory as dy or as y (in place, bitwise equal to out of
 * place). Blocking.
 *
 * @return as clsm_softmax_host(), with CLSM_ERROR_INVALID_ARGUMENT for a NULL
 *         y, dy or dx of a non-empty tensor and for dx sharing bytes with y or
 *         dy other than being the very same range.
 */
CLSM_API clsm_status clsm_softmax_backward_host(clsm_context *ctx, clsm_op op, clsm_dtype dtype,
                                                clsm_shape shape, float scale, const void *y,
                                                const void *dy, void *dx);

/**
 * clsm_softmax_backward_host() on device buffers, asynchronous like
 * clsm_softmax_buffers(); @p event completes when dx is written.
 *
 * @return as clsm_softmax_buffers(); y and dy follow x's rules (not
 *         CL_MEM_WRITE_ONLY), dx follows y's (not CL_MEM_READ_ONLY).
 */
CLSM_API clsm_status clsm_softmax_backward_buffers(clsm_context *ctx, clsm_op op,
                                                   clsm_dtype dtype, clsm_shape shape,
                                                   float scale, cl_mem y, size_t y_offset,
                                                   cl_mem dy, size_t dy_offset, cl_mem dx,
                                                   size_t dx_offset,
                                                   cl_uint num_events_in_wait_list,
                                                   const cl_event *event_wait_list,
                                                   cl_event *event);

/* ---- v2: the backward pass with the forward's options ---- */

/**
 * clsm_softmax_backward_host() for a forward call made with @p options, whose
 * u_j = scale*x_j the options then shaped: with g_j the v1.1 formula without
 * the scale,
 *   dx_j = g_j * scale * (1 - tanh^2(scale*x_j/softcap))   with softcap > 0,
 *   dx_j = g_j * scale                                      without,
 * and dx_j = 0 (whatever y, dy and x hold) at every entry an option masks to
 * -inf: a keep-mask's 0, an additive -inf, causal, window and kv_lengths. The
 * sums of g still run over every entry of the slice, masked ones included, as
 * PyTorch's do. ALiBi and sinks do not change the gradient: their tensors are
 * not read. stats_in and stats_out have no place here. NULL options is exactly
 * clsm_softmax_backward_host();
 * F64 calls use the scale as given, the others round it once to float.
 *
 * @param x the forward's input, read only with softcap > 0, of dtype and shape,
 *          and then dx may share no byte with it; without a cap it is not
 *          looked at (it may be NULL).
 * @param y,dy,dx as for clsm_softmax_backward_host().
 * @return as clsm_softmax_backward_host() and, for the options,
 *         clsm_softmax_host_ex(); CLSM_ERROR_INVALID_ARGUMENT also for
 *         stats_in or stats_out set, softcap > 0 with x NULL, and dx sharing
 *         bytes with a tensor the call reads (x with a cap, the mask,
 *         kv_lengths; ALiBi's and the sinks' are not read). The host path
 *         refuses a kv_lengths entry below 0 or above axis; the buffers path
 *         clamps it to [0, axis].
 *         Bound: the v1.1 bound times 1 - tanh^2(scale*x_j/softcap).
 */
CLSM_API clsm_status clsm_softmax_backward_host_ex(clsm_context *ctx, clsm_op op,
                                                   clsm_dtype dtype, clsm_shape shape,
                                                   double scale, const clsm_options *options,
                                                   const void *x, const void *y,
                                                   const void *dy, void *dx);

/**
 * clsm_softmax_backward_host_ex() on device buffers, asynchronous like
 * clsm_softmax_buffers(); @p event completes when dx is written. x (a NULL
 * buffer without softcap) follows y's rules, the option buffers those of
 * clsm_softmax_buffers_ex().
 */
CLSM_API clsm_status clsm_softmax_backward_buffers_ex(
    clsm_context *ctx, clsm_op op, clsm_dtype dtype, clsm_shape shape, double scale,
    const clsm_options *options, cl_mem x, size_t x_offset, cl_mem y, size_t y_offset, cl_mem dy,
    size_t dy_offset, cl_mem dx, size_t dx_offset, cl_uint num_events_in_wait_list,
    const cl_event *event_wait_list, cl_event *event);

/* ---- v2: sampling the next token ---- */

/**
 * How clsm_sample_host() and clsm_sample_buffers() draw a token from each
 * row. Start from CLSM_SAMPLING_INIT; it grows like clsm_options (its
 * struct_size rules are the same).
 *
 * Row r, u its logits as the options shaped them, T its temperature:
 *  - T = 0: the token is the smallest j with u_j = max u (greedy).
 *  - T > 0: p = softmax(u/T). In the order u descending, then j ascending,
 *    keep the first top_k entries (0, or >= vocab: all); of those, the
 *    shortest prefix whose mass reaches top_p of their mass (at least one
 *    entry); of those, the entries with p_j >= min_p * max p. The token is
 *    drawn from p restricted to the kept set, renormalised.
 *  - A row with a NaN gives token -1 (logprob NaN); a row of only -inf gives
 *    -1 (logprob -inf). +inf entries share all the mass, as in softmax.
 * Each entry weighs w = 2^((u - max u)/T * log2 e) <= 1, computed from IEEE
 * additions and products in f32 (exp in f64 for F64; docs/SEMANTICS.md),
 * counted in fixed point (floor(w * 2^62)) and summed exactly; the top-p
 * boundary is exact in those sums, min-p compares w >= min_p, and each kept
 * entry is drawn with probability its weight over the kept weight, within
 * 2^-64.
 * Randomness is Philox4x32-10, keyed by the seed; its counter is the offset
 * and, with the scalar seed, the row index (per-row seeds leave it out, so a
 * request keeps its tokens when it moves to another row). The token never
 * depends on the family, the work split or the thread count.
 */
typedef struct clsm_sampling {
    size_t struct_size; /**< sizeof(clsm_sampling) as the caller compiled it */
    float temperature;  /**< 0: greedy; finite and >= 0 */
    uint32_t top_k;     /**< 0: off */
    float top_p;        /**< in [0, 1]; 0 or 1: off */
    float min_p;        /**< in [0, 1]; 0: off */
    /** Per-row values (f32, uint32_t, f32, f32; one per row): when set they
     * replace the scalar above for every row. The host path checks each value
     * as the scalar; the buffers path cannot, and gives a row whose
     * temperature is negative or not finite token -1 and logprob NaN, and
     * clamps top_p and min_p to [0, 1] (NaN: 0, off). */
    clsm_tensor temperatures, top_ks, top_ps, min_ps;
    uint64_t seed;       /**< the key of every row, with the row index counted */
    clsm_tensor seeds;   /**< or one uint64_t key per row */
    uint64_t offset;     /**< counted with the key, e.g. the decoding step */
    /** Out (optional): one f32 per row (f64 for F64), log_softmax(u/T) at the
     * token before any filter (T = 0 uses T = 1), within the log-softmax bound;
     * NaN and -inf for the rows above. */
    clsm_tensor logprobs;
} clsm_sampling;

/** A sampling struct with nothing set: greedy, seed 0. */
#ifdef __cplusplus
#define CLSM_SAMPLING_INIT {sizeof(clsm_sampling)}
#else
#define CLSM_SAMPLING_INIT {.struct_size = sizeof(clsm_sampling)}
#endif

/**
 * One int32_t token per row of @p logits [rows, vocab] of @p dtype, drawn as
 * clsm_sampling says, after @p scale and @p options (may be NULL) shape the
 * logits exactly as for clsm_softmax_host_ex() with outer = rows, axis =
 * vocab, inner = 1. Blocking.
 *
 * rows = 0 succeeds and does nothing; vocab = 0 gives every row token -1 and
 * logprob -inf.
 *
 * @return CLSM_SUCCESS, or with nothing written: CLSM_ERROR_INVALID_ARGUMENT
 *         for NULL ctx, sampling, logits (with rows and vocab > 0) or tokens
 *         (rows > 0), a temperature that is negative or not finite, top_p or
 *         min_p outside [0, 1] (per-row values too), the options' errors of
 *         clsm_softmax_host_ex(), options sinks, stats_in or stats_out (a
 *         sampling call has no sink token and no statistics), and tokens or
 *         logprobs sharing bytes with any other tensor of the call;
 *         CLSM_ERROR_INVALID_SHAPE for vocab > INT32_MAX or rows*vocab
 *         overflowing; CLSM_ERROR_UNSUPPORTED for F64 on a device without it.
 */
CLSM_API clsm_status clsm_sample_host(clsm_context *ctx, clsm_dtype dtype, size_t rows,
                                      size_t vocab, double scale, const clsm_options *options,
                                      const clsm_sampling *sampling, const void *logits,
                                      int32_t *tokens);

/**
 * clsm_sample_host() on device buffers, asynchronous like
 * clsm_softmax_buffers(): @p event completes when the tokens (and logprobs)
 * are written. Every tensor of @p sampling is read from (logprobs written to)
 * its buffer, and follows the rules of clsm_softmax_buffers_ex()'s option
 * buffers; tokens and logprobs must not be CL_MEM_READ_ONLY.
 *
 * @return as clsm_sample_host(), and CLSM_ERROR_INVALID_SHAPE for a buffer
 *         smaller than its offset plus its extent (per-row tensors: rows
 *         values).
 */
CLSM_API clsm_status clsm_sample_buffers(clsm_context *ctx, clsm_dtype dtype, size_t rows,
                                         size_t vocab, double scale,
                                         const clsm_options *options,
                                         const clsm_sampling *sampling, cl_mem logits,
                                         size_t logits_offset, cl_mem tokens,
                                         size_t tokens_offset, cl_uint num_events_in_wait_list,
                                         const cl_event *event_wait_list, cl_event *event);

#ifdef __cplusplus
}
#endif

#endif /* CLSOFTMAX_H */
