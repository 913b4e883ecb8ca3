/* The backward pass with slices split into chunks across work-items: softmax_split's
 * counterpart, for few long contiguous slices (inner == 1).
 *
 * Needs backward_common.cl and what it needs before it. Two kernels over the same chunks
 * (chunk_of in softmax_split.cl's terms: chunk elements each, the last of a slice may be
 * shorter, chunks per slice):
 *  - backward_split_sums writes each chunk's partial S to scratch: the sum at [g], its error
 *    term at [n + g] and whether it holds a NaN at [2n + g], for chunk g of n;
 *  - backward_split_output merges its slice's partial sums in chunk order, the same fixed
 *    order in every work-item, so results are deterministic, and writes its chunk's dx.
 * Any 1-D NDRange works for both: work-items loop over the chunks. dx may be y or dy (in
 * place): the sums are complete before any dx is written, and each chunk is read before it
 * is written.
 */

/* Chunk g's first element in the tensor and its length. */
void backward_chunk(ulong g, ulong axis, ulong chunk, ulong chunks, ulong *off, ulong *len)
{
    ulong slice = g / chunks, begin = (g - slice * chunks) * chunk;
    *off = slice * axis + begin;
    *len = min(chunk, axis - begin);
}

/* Seen on PoCL 3.1 for the forward kernels: with the hint a kernel gets 512-bit vectors. */
__attribute__((vec_type_hint(realv)))
kernel void backward_split_sums(BACKWARD_ARGS)
{
    ulong n = outer * chunks;
    for (ulong g = get_global_id(0); g < n; g += get_global_size(0)) {
        ulong off, len;
        backward_chunk(g, axis, chunk, chunks, &off, &len);
        realv sums[VEC], comps[VEC];
        for (uint k = 0; k < VEC; ++k)
            sums[k] = comps[k] = 0;
        maskv nan;
        range_dot(y + y_off + off, dy + dy_off + off, len, &sums[0], &comps[0], &nan);
        realv sum, comp;
        lanes_sum(sums, comps, &sum, &comp);
        scratch[g] = sum.s0;
        scratch[n + g] = isfinite(sum.s0) ? comp.s0 : (real)0;
        scratch[2 * n + g] = any(nan) ? 1 : 0;
    }
}

/* Seen on PoCL 3.1 for the forward kernels: with the hint a kernel gets 512-bit vectors. */
__attribute__((vec_type_hint(realv)))
kernel void backward_split_output(BACKWARD_ARGS)
{
    options o = BACKWARD_OPTIONS_OF_ARGS;
    ulong n = outer * chunks;
    for (ulong g = get_global_id(0); g < n; g += get_global_size(0)) {
        ulong slice = g / chunks, lead = slice * chunks;
        real sum = 0, comp = 0;
        int nan = 0;
        for (ulong k = lead; k < lead + chunks; ++k) {
            dot_merge(&sum, &comp, scratch[k], scratch[n + k]);
            nan |= scratch[2 * n + k] != 0;
        }
        ulong off, len;
        backward_chunk(g, axis, chunk, chunks, &off, &len);
        ulong base = slice * axis, from = off - base;
        slice_ctx c = slice_ctx_of(&o, slice);
        slice_range_grad(x + x_off + base, y + y_off + base, dy + dy_off + base,
                         dx + dx_off + base, from, from + len, axis, dot_total(sum, comp), nan,
                         &c, stream);
    }
}
