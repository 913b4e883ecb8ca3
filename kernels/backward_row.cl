/* The backward pass with one work-item per contiguous slice (inner == 1), VEC elements at a
 * time: softmax_row's counterpart, the CPU kernel. The update reads the slice again, from
 * cache: a work-item finishes up to bundle short slices together, and a long slice alone.
 *
 * Needs backward_common.cl and what it needs before it. Any 1-D NDRange works: a
 * work-item takes bundle (at least 1, at most VEC) neighbouring slices at a time. stream:
 * the host wants outputs written past the cache. dx may be y or dy (in place): the slices
 * are read whole before any of them is written, and then each element is read before it
 * is written.
 */

/* Seen on PoCL 3.1 for the forward kernels: with the hint a kernel gets 512-bit vectors. */
__attribute__((vec_type_hint(realv)))
kernel void backward_row(BACKWARD_ARGS)
{
    options o = BACKWARD_OPTIONS_OF_ARGS;
    global const store_t *xs = x + x_off, *ys = y + y_off, *dys = dy + dy_off;
    global store_t *dxs = dx + dx_off;
    bundle = min(bundle, (uint)VEC);
    for (ulong lead = get_global_id(0) * bundle; lead < outer;
         lead += get_global_size(0) * bundle) {
        uint count = outer - lead < bundle ? (uint)(outer - lead) : bundle;
        realv sums[VEC], comps[VEC];
        int nan[VEC];
        for (uint k = 0; k < VEC; ++k) {
            sums[k] = comps[k] = 0;
            nan[k] = 0;
            if (k >= count)
                continue;
            maskv nan_lanes;
            ulong off = (lead + k) * axis;
            range_dot(ys + off, dys + off, axis, &sums[k], &comps[k], &nan_lanes);
            nan[k] = any(nan_lanes);
        }
        real S[VEC];
        VSTORE_REAL(S, lanes_total(sums, comps));
        for (uint k = 0; k < count; ++k) {
            ulong off = (lead + k) * axis;
            slice_ctx c = slice_ctx_of(&o, lead + k);
            slice_range_grad(xs + off, ys + off, dys + off, dxs + off, 0, axis, axis, S[k],
                             nan[k], &c, stream);
        }
    }
}
