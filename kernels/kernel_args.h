/* The kernels' arguments and the variants' build flags, each declared once for host and kernels.
 *
 * Valid C and OpenCL C alike, like shared_constants.h: the host includes it, and every
 * program's sources embed it right after shared_constants.h (host/program.c). Each list is
 * an X-macro: the kernels expand it into their parameter lists and their options struct
 * (softmax_entries.cl, backward_common.cl), the host into the struct it fills, the table that
 * sets the arguments by name (host/kernel_args.c), the option tensors it stages
 * (host/host_path.c), and the -D flags that are also the program cache's key (host/variant.c).
 */
#ifndef CLSM_KERNEL_ARGS_H
#define CLSM_KERNEL_ARGS_H

/* The arguments, in order, as X(kind, type, name) separated by SEP; types are OpenCL's, offsets
 * and sizes count elements. Kinds:
 *   in, out   a tensor the kernel reads or writes (a global pointer to type);
 *   val       a scalar;
 *   oval      a scalar that the kernels' options struct holds too;
 *   opt_in, opt_out
 *             a clsm_options tensor of the same name, read or written: two arguments, the
 *             pointer and name_off, and a field of the options struct pointing at its start;
 *   scratch   the per-chunk states of the two-kernel families (split, regs).
 * first is the index of slice 0 in the whole tensor, for the options that depend on the row. */
#define CLSM_FORWARD_ARGS(X, SEP)                                                                  \
    X(in, store_t, x) SEP X(val, ulong, x_off) SEP X(out, store_t, y) SEP X(val, ulong, y_off)     \
    SEP X(val, ulong, outer) SEP X(oval, ulong, axis) SEP X(val, ulong, inner)                     \
    SEP X(val, ulong, scale_bits) SEP X(val, uint, bundle) SEP X(val, uint, stream)                \
    SEP X(oval, ulong, first) SEP X(opt_in, mask_t, mask) SEP X(oval, ulong4, mask_stride)         \
    SEP X(oval, ulong, heads) SEP X(oval, ulong, rows) SEP X(oval, long, causal_offset)            \
    SEP X(oval, ulong, window) SEP X(opt_in, real, sinks) SEP X(opt_out, real, stats_out)          \
    SEP X(opt_in, real, stats_in) SEP X(oval, float, softcap) SEP X(opt_in, real, alibi_slopes)    \
    SEP X(opt_in, int, kv_lengths) SEP X(scratch, real, scratch) SEP X(val, ulong, chunk)          \
    SEP X(val, ulong, chunks)

/* The sampling kernel's arguments: the forward's (x holds the logits; y and scratch are not
 * used), then CLSM_SAMPLE_ONLY_ARGS: the tokens, the log-probabilities, the per-row tensors
 * and the scalars of clsm_sampling. flags holds CLSM_SAMPLE_* bits (shared_constants.h):
 * which tensors are set. A SEP that is itself a macro (COMMA) would expand before the inner
 * list sees it, so the kernel joins the two lists itself (sample.cl). */
#define CLSM_SAMPLE_ONLY_ARGS(X, SEP)                                                              \
    X(out, int, tokens) SEP X(val, ulong, tokens_off) SEP X(out, real, logprobs)                  \
    SEP X(val, ulong, logprobs_off) SEP X(in, float, temperatures)                               \
    SEP X(val, ulong, temperatures_off) SEP X(in, uint, top_ks) SEP X(val, ulong, top_ks_off)    \
    SEP X(in, float, top_ps) SEP X(val, ulong, top_ps_off) SEP X(in, float, min_ps)              \
    SEP X(val, ulong, min_ps_off) SEP X(in, ulong, seeds) SEP X(val, ulong, seeds_off)           \
    SEP X(val, uint, flags) SEP X(val, float, temperature) SEP X(val, uint, top_k)               \
    SEP X(val, float, top_p) SEP X(val, float, min_p) SEP X(val, ulong, seed)                    \
    SEP X(val, ulong, offset)
#define CLSM_SAMPLE_ARGS(X, SEP) CLSM_FORWARD_ARGS(X, SEP) SEP CLSM_SAMPLE_ONLY_ARGS(X, SEP)

/* The backward kernels' arguments, in the same form: the forward's options that change the
 * gradient (the masks to -inf, and the cap with x, whose derivative it takes), under the
 * forward's names, so that slice_ctx_of reads them alike. */
#define CLSM_BACKWARD_ARGS(X, SEP)                                                                 \
    X(in, store_t, x) SEP X(val, ulong, x_off) SEP X(in, store_t, y) SEP X(val, ulong, y_off)     \
    SEP X(in, store_t, dy) SEP X(val, ulong, dy_off) SEP X(out, store_t, dx)                       \
    SEP X(val, ulong, dx_off) SEP X(val, ulong, outer) SEP X(oval, ulong, axis)                    \
    SEP X(val, ulong, inner) SEP X(val, ulong, scale_bits) SEP X(val, uint, bundle)                \
    SEP X(val, uint, stream) SEP X(oval, ulong, first) SEP X(opt_in, mask_t, mask)                 \
    SEP X(oval, ulong4, mask_stride) SEP X(oval, ulong, heads) SEP X(oval, ulong, rows)            \
    SEP X(oval, long, causal_offset) SEP X(oval, ulong, window) SEP X(oval, float, softcap)        \
    SEP X(opt_in, int, kv_lengths) SEP X(scratch, real, scratch) SEP X(val, ulong, chunk)          \
    SEP X(val, ulong, chunks)

/* The build flags after -DFAMILY_<name>=1 -DDTYPE_<name>=1, as X(field, FLAG, reach): the
 * host's clsm_variant field and the kernels' macro, an integer, 0 when unset. reach says what
 * a set flag makes an entry's u depend on besides x, which decides the paths the kernels may
 * take (softmax_entries.cl):
 *   row    the slice's row (b, h, r) or the entry's index j: such slices are never gathered
 *          into vector lanes, whose paths do not know them;
 *   slice  the slice's own state: slices are finished one at a time;
 *   both   row and slice;
 *   code   nothing: the flag only changes the code. */
#define CLSM_VARIANT_FLAGS(X)                                                                      \
    X(log_softmax, LOG_SOFTMAX, code) X(zero_scale, ZERO_SCALE, code) X(group_size, WG, code)      \
    X(items, ITEMS, code) X(mask, MASK, row) X(causal, CAUSAL, row) X(window, WINDOW, row)         \
    X(sinks, SINKS, both) X(stats_out, STATS_OUT, slice) X(stats_in, STATS_IN, slice)              \
    X(softcap, SOFTCAP, code) X(alibi, ALIBI, row) X(kv_lengths, KV_LENGTHS, row)                  \
    X(write_y, WRITE_Y, code) X(backward, BACKWARD, code)        \
    X(sample, SAMPLE, code)

#endif
