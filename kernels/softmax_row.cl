/* One work-item per contiguous slice (inner == 1), VEC elements at a time: the CPU
 * kernel, where a work-group runs on one thread and a barrier costs a loop, so that no
 * work-item ever waits for another.
 *
 * Needs softmax_common.cl and softmax_vector.cl before it. Any 1-D NDRange works: a
 * work-item takes batch (at least 1, at most VEC) neighbouring slices at a time and
 * finishes them together, which pays for short slices; long ones go one at a time so
 * that a slice is still in cache for its last pass. stream, for outputs larger than the
 * cache, writes them past it. Offsets and sizes are in elements. x and y may be the
 * same memory (in place): a slice is read whole before any of it is written, and after
 * that each element is read before it is written.
 */

/* Below this length gathering a slice per lane beats walking each slice with vectors
 * (PoCL 3.1, AVX-512: 1.7x at 4 elements, 1.2x at 6, 0.93x at 8). */
#define ROW_LANES_BELOW 8

/* Seen on PoCL 3.1: with the hint the kernel gets 512-bit vectors, without it 256-bit. */
__attribute__((vec_type_hint(realv)))
kernel void softmax_row(global const store_t *x, ulong x_off, global store_t *y, ulong y_off,
                        ulong outer, ulong axis, ulong inner, float scale_f, uint batch,
                        uint stream)
{
    real scale = scale_f;
    real a = scale_magnitude(scale);
    global const store_t *xs = x + x_off;
    global store_t *ys = y + y_off;
    global store_t *weights_out = 0;
#if KEEP_WEIGHTS
    weights_out = ys;
#endif
    (void)inner;
    batch = min(batch, (uint)VEC);
    for (ulong first = get_global_id(0) * batch; first < outer;
         first += get_global_size(0) * batch) {
        uint count = outer - first < batch ? (uint)(outer - first) : batch;
        /* Slices shorter than a vector: one per lane, gathered, with nothing to fold. */
        if (count == VEC && axis < ROW_LANES_BELOW &&
            lanes_slices(xs + first * axis, ys + first * axis, axis, 1, axis, scale, a))
            continue;
        ulong offs[VEC], lens[VEC];
        for (uint k = 0; k < count; ++k) {
            offs[k] = (first + k) * axis;
            lens[k] = axis;
        }
        realv umax, hi, lo, sum, comp;
        batch_states(xs, offs, lens, count, scale, a, weights_out, &umax, &hi, &lo, &sum, &comp);

        real his[VEC], los[VEC], totals[VEC], log_totals[VEC];
        VSTORE_REAL(his, hi);
        VSTORE_REAL(los, lo);
        VSTORE_REAL(totals, sum + comp);
        /* sum >= 1 (the max weighs exactly 1), so sum - 1 is exact where it matters. */
        VSTORE_REAL(log_totals, log1p((sum - 1) + comp));
        for (uint k = 0; k < count; ++k) {
            slice_norm nm = {his[k], los[k], totals[k], log_totals[k]};
#if KEEP_WEIGHTS
            if (isfinite(nm.hi)) {
                range_scale(ys + offs[k], axis, nm);
                continue;
            }
#endif
            range_output(xs + offs[k], ys + offs[k], axis, nm, scale, a, stream);
        }
    }
}
