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
    real scale = scale_of(scale_bits);
    global const store_t *ys = y + y_off, *dys = dy + dy_off;
    global store_t *dxs = dx + dx_off;
    bundle = min(bundle, (uint)VEC);
    for (ulong first = get_global_id(0) * bundle; first < outer;
         first += get_global_size(0) * bundle) {
        uint count = outer - first < bundle ? (uint)(outer - first) : bundle;
        realv sums[VEC], comps[VEC];
        int nan[VEC];
        for (uint k = 0; k < VEC; ++k) {
            sums[k] = comps[k] = 0;
            nan[k] = 0;
            if (k >= count)
                continue;
            maskv nan_lanes;
            ulong off = (first + k) * axis;
            range_dot(ys + off, dys + off, axis, &sums[k], &comps[k], &nan_lanes);
            nan[k] = any(nan_lanes);
        }
        real S[VEC];
        VSTORE_REAL(S, lanes_total(sums, comps));
        for (uint k = 0; k < count; ++k) {
            ulong off = (first + k) * axis;
            range_grad(ys + off, dys + off, dxs + off, axis, S[k], nan[k], scale, stream);
        }
    }
}
