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

#if !ROW_OPTIONS
/* VEC neighbouring slices of axis entries, axis a power of two below VEC, as the forward's
 * grouped_slices: each vector holds VEC / axis whole slices, whose S and NaN flags group_sum
 * and group_max reduce within it. Without it a slice shorter than a vector was all tail.
 * Only without ROW_OPTIONS, where no entry is dropped and every slice has the same context
 * c. */
INLINE void grouped_backward(global const store_t *x, global const store_t *y,
                             global const store_t *dy, global store_t *dx, uint axis,
                             const slice_ctx *c, uint stream)
{
    stream = stream && (ulong)dx % sizeof(realv) == 0;
    for (uint i = 0; i < axis; ++i) {
        ulong at = i * VEC;
        realv yv = VLOAD(y + at), dyv = VLOAD(dy + at);
        realv nan = group_max(select((realv)0, (realv)1, isnan(yv) | isnan(dyv)), axis);
        /* An infinite term makes its group's error term NaN, which dot_total_v drops, as
         * dot_add_v drops it. */
        realv sum, comp;
        group_sum(term_v(yv, dyv), axis, &sum, &comp);
        realv g = grad_v(yv, dyv, dot_total_v(sum, comp), nan > (realv)0, c->scale,
                         factor_v(x + at, c), 0);
#if DTYPE_F32
        if (stream)
            VSTORE_STREAM(dx + at, g);
        else
#endif
            VSTORE(dx + at, g);
    }
}
#endif

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
#if !ROW_OPTIONS
        /* Each width a constant, so that the lane masks are (softmax_row). */
        uint width = grouped_width(count, axis);
        if (width) {
            slice_ctx any = slice_ctx_of(&o, lead);
            ulong off = lead * axis;
            if (width == 2)
                grouped_backward(xs + off, ys + off, dys + off, dxs + off, 2, &any, stream);
            else if (width == 4)
                grouped_backward(xs + off, ys + off, dys + off, dxs + off, 4, &any, stream);
            else
                grouped_backward(xs + off, ys + off, dys + off, dxs + off, 8, &any, stream);
            continue;
        }
#endif
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
