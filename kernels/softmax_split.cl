/* Slices split into chunks across work-items, for few long contiguous slices (inner ==
 * 1): too few for one work-item or work-group each to keep the device busy.
 *
 * Needs softmax_common.cl and softmax_vector.cl before it. Two kernels over the same
 * chunks, chunk elements each (the last of a slice may be shorter), chunks per slice:
 *  - softmax_split_states writes each chunk's (max, sum) state to states: the max at
 *    [g], the sum at [n + g] and its error term at [2n + g], for chunk g of n;
 *  - softmax_split_output merges the states of its slice in chunk order, the same fixed
 *    order in every work-item, so every chunk of a slice uses the same norm and results
 *    are deterministic, and writes its chunk's outputs. Two fully masked chunks merge to
 *    an empty state, not NaN (state_merge).
 * Any 1-D NDRange works for both: work-items loop over the chunks. Offsets and sizes are
 * in elements. x and y may be the same memory (in place): the states are complete
 * before any output is written, and each chunk is read before it is written.
 */
/* Where chunk g lies: its slice, and its first element and length within x. */
void chunk_of(ulong g, ulong axis, ulong chunk, ulong chunks, ulong *slice, ulong *off,
              ulong *len)
{
    *slice = g / chunks;
    ulong begin = (g - *slice * chunks) * chunk;
    *off = *slice * axis + begin;
    *len = min(chunk, axis - begin);
}

/* Seen on PoCL 3.1: with the hint the kernel gets 512-bit vectors, without it 256-bit. */
__attribute__((vec_type_hint(realv)))
kernel void softmax_split_states(global const store_t *x, ulong x_off, ulong outer, ulong axis,
                                 ulong chunk, ulong chunks, float scale_f, global real *states)
{
    real scale = scale_f;
    real a = scale_magnitude(scale);
    ulong n = outer * chunks;
    for (ulong g = get_global_id(0); g < n; g += get_global_size(0)) {
        ulong s, offs[VEC], lens[VEC];
        chunk_of(g, axis, chunk, chunks, &s, &offs[0], &lens[0]);
        realv umax, hi, lo, sum, comp;
        batch_states(x + x_off, offs, lens, 1, scale, a, 0, &umax, &hi, &lo, &sum, &comp);
        states[g] = umax.s0;
        states[n + g] = sum.s0;
        states[2 * n + g] = comp.s0;
    }
}

/* Seen on PoCL 3.1: with the hint the kernel gets 512-bit vectors, without it 256-bit. */
__attribute__((vec_type_hint(realv)))
kernel void softmax_split_output(global const store_t *x, ulong x_off, global store_t *y,
                                 ulong y_off, ulong outer, ulong axis, ulong chunk,
                                 ulong chunks, float scale_f, global const real *states,
                                 uint stream)
{
    real scale = scale_f;
    real a = scale_magnitude(scale);
    ulong n = outer * chunks;
    for (ulong g = get_global_id(0); g < n; g += get_global_size(0)) {
        ulong s, off, len;
        chunk_of(g, axis, chunk, chunks, &s, &off, &len);
        state st = state_empty(a);
        for (ulong c = s * chunks; c < (s + 1) * chunks; ++c) {
            state part;
            set_max(&part, states[c], a);
            part.sum = states[n + c];
            part.comp = states[2 * n + c];
            state_merge(&st, part, a);
        }
        range_output(x + x_off + off, y + y_off + off, len, norm_of(st), scale, a, stream);
    }
}
