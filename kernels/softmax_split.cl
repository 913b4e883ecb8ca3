/* Slices split into chunks across work-items, for few long contiguous slices (inner ==
 * 1): too few for one work-item or work-group each to keep the device busy.
 *
 * Needs softmax_common.cl, softmax_entries.cl and softmax_vector.cl before it. Two
 * kernels over the same chunks, chunk elements each (the last of a slice may be shorter),
 * chunks per slice:
 *  - softmax_split_states writes each chunk's (max, sum) state to scratch: the max at
 *    [g], the sum at [n + g] and its error term at [2n + g], for chunk g of n;
 *  - softmax_split_output merges the states of its slice in chunk order, the same fixed
 *    order in every work-item, so every chunk of a slice uses the same norm and results
 *    are deterministic, and writes its chunk's outputs. Two fully masked chunks merge to
 *    an empty state, not NaN (state_merge). With given statistics (STATS_IN) it is
 *    launched alone and merges nothing.
 * Any 1-D NDRange works for both: work-items loop over the chunks. x and y may be the same memory (in place): the states are complete
 * before any output is written, and each chunk is read before it is written.
 */
/* Where chunk g lies: its slice, its first entry within the slice, and its length. */
void chunk_of(ulong g, ulong axis, ulong chunk, ulong chunks, ulong *slice, ulong *begin,
              ulong *len)
{
    *slice = g / chunks;
    *begin = (g - *slice * chunks) * chunk;
    *len = min(chunk, axis - *begin);
}

/* chunk_of, cut to the entries causal, window and kv_lengths keep: an empty range where it keeps
 * none, at the chunk's start. */
void kept_chunk(const options *o, ulong g, ulong axis, ulong chunk, ulong chunks, ulong *slice,
                ulong *begin, ulong *len)
{
    chunk_of(g, axis, chunk, chunks, slice, begin, len);
    slice_ctx c = slice_ctx_of(o, *slice);
    ulong kept_begin, kept_end;
    kept_range(&c, axis, &kept_begin, &kept_end);
    ulong first = max(*begin, kept_begin), past = min(*begin + *len, kept_end);
    if (past <= first)
        past = first = *begin;
    *begin = first;
    *len = past - first;
}

/* Seen on PoCL 3.1: with the hint the kernel gets 512-bit vectors, without it 256-bit. */
__attribute__((vec_type_hint(realv)))
kernel void softmax_split_states(KERNEL_ARGS)
{
    options o = OPTIONS_OF_ARGS;
    ulong n = outer * chunks;
    for (ulong g = get_global_id(0); g < n; g += get_global_size(0)) {
        ulong s, begins[VEC], offs[VEC], lens[VEC];
        kept_chunk(&o, g, axis, chunk, chunks, &s, &begins[0], &lens[0]);
        offs[0] = s * axis + begins[0];
        realv umax, hi, lo, sum, comp;
        bundle_states(x + x_off, offs, lens, begins, 1, &o, s, 0, &umax, &hi, &lo, &sum, &comp);
        scratch[g] = umax.s0;
        scratch[n + g] = sum.s0;
        scratch[2 * n + g] = comp.s0;
    }
}

/* Seen on PoCL 3.1: with the hint the kernel gets 512-bit vectors, without it 256-bit. */
__attribute__((vec_type_hint(realv)))
kernel void softmax_split_output(KERNEL_ARGS)
{
    options o = OPTIONS_OF_ARGS;
    ulong n = outer * chunks;
    for (ulong g = get_global_id(0); g < n; g += get_global_size(0)) {
        ulong s, begin, len;
        kept_chunk(&o, g, axis, chunk, chunks, &s, &begin, &len);
#if STATS_IN
        slice_norm nm = norm_from_stats(&o, s);
#else
        state st = state_empty(o.a);
        for (ulong c = s * chunks; c < (s + 1) * chunks; ++c)
            state_merge(&st, state_from(scratch[c], scratch[n + c], scratch[2 * n + c], o.a),
                        o.a);
        /* Every chunk of the slice has the same state; its first writes the statistics. */
        slice_norm nm = finish_slice(st, &o, s, g == s * chunks);
#endif
#if WRITE_Y
        slice_ctx c = slice_ctx_of(&o, s);
        ulong off = s * axis + begin;
        range_output(x + x_off + off, y + y_off + off, len, nm, &c, begin, stream);
#if CUTS_RANGE
        /* The masked entries of the chunk, on either side of the kept ones. */
        ulong chunk_begin, chunk_len;
        chunk_of(g, axis, chunk, chunks, &s, &chunk_begin, &chunk_len);
        ulong chunk_off = s * axis + chunk_begin;
        range_fill_masked(y + y_off + chunk_off, off - chunk_off, nm);
        range_fill_masked(y + y_off + off + len, chunk_off + chunk_len - (off + len), nm);
#endif
#endif
    }
}
