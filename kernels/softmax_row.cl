/* One work-item per contiguous slice (inner == 1), VEC elements at a time: the CPU
 * kernel, where a work-group runs on one thread and a barrier costs a loop, so that no
 * work-item ever waits for another.
 *
 * Needs softmax_common.cl, softmax_entries.cl and softmax_vector.cl before it. Any 1-D
 * NDRange works: a work-item takes batch (at least 1, at most VEC) neighbouring slices at
 * a time and finishes them together, which pays for short slices; long ones go one at a
 * time so that a slice is still in cache for its last pass. stream, for outputs larger
 * than the cache, writes them past it. x and y may be the same memory (in place): a slice
 * is read whole before any of it is written, and after that each element is read before
 * it is written.
 */

/* Below this length gathering a slice per lane beats walking each slice with vectors
 * (PoCL 3.1, AVX-512: 1.7x at 4 elements, 1.2x at 6, 0.93x at 8). */
#define ROW_LANES_BELOW 8

/* Seen on PoCL 3.1: with the hint the kernel gets 512-bit vectors, without it 256-bit. */
__attribute__((vec_type_hint(realv)))
kernel void softmax_row(KERNEL_ARGS)
{
    options o = OPTIONS_OF_ARGS;
    global const store_t *xs = x + x_off;
    global store_t *ys = y + y_off;
    global store_t *weights_out = 0;
#if KEEP_WEIGHTS
    weights_out = ys;
#endif
    batch = min(batch, (uint)VEC);
    for (ulong first_slice = get_global_id(0) * batch; first_slice < outer;
         first_slice += get_global_size(0) * batch) {
        uint count = outer - first_slice < batch ? (uint)(outer - first_slice) : batch;
#if !ROW_OPTIONS && !SLICE_STATS && WRITE_Y
        /* Slices shorter than a vector: one per lane, gathered, with nothing to fold. */
        slice_ctx any = slice_ctx_of(&o, first_slice);
        if (count == VEC && axis < ROW_LANES_BELOW &&
            lanes_slices(xs + first_slice * axis, ys + first_slice * axis, axis, 1, axis, &any))
            continue;
#endif
        /* The kept entries of each slice (all of them without causal). */
        ulong offs[VEC], lens[VEC], begins[VEC];
        for (uint k = 0; k < count; ++k) {
            slice_ctx c = slice_ctx_of(&o, first_slice + k);
            ulong end;
            kept_range(&c, axis, &begins[k], &end);
            offs[k] = (first_slice + k) * axis + begins[k];
            lens[k] = end - begins[k];
        }
        slice_norm norms[VEC];
#if STATS_IN
        for (uint k = 0; k < count; ++k)
            norms[k] = norm_from_stats(&o, first_slice + k);
#else
        realv umax, hi, lo, sum, comp;
        batch_states(xs, offs, lens, begins, count, &o, first_slice, weights_out, &umax, &hi,
                     &lo, &sum, &comp);
        real umaxes[VEC], his[VEC], los[VEC], sums[VEC], comps[VEC];
        VSTORE_REAL(umaxes, umax);
        VSTORE_REAL(his, hi);
        VSTORE_REAL(los, lo);
        VSTORE_REAL(sums, sum);
        VSTORE_REAL(comps, comp);
#if SLICE_STATS
        for (uint k = 0; k < count; ++k)
            norms[k] = finish_slice(state_from(umaxes[k], sums[k], comps[k], o.a), &o,
                                    first_slice + k, 1);
#else
        /* The logs of VEC slices in one vector: a scalar log costs as much as a short
         * slice. sum >= 1 (the max weighs exactly 1), so sum - 1 is exact where it
         * matters. */
        real log_totals[VEC];
        VSTORE_REAL(log_totals, log1p((sum - 1) + comp));
        for (uint k = 0; k < count; ++k) {
            norms[k].hi = his[k];
            norms[k].lo = los[k];
            norms[k].total = sums[k] + comps[k];
            norms[k].log_total = log_totals[k];
        }
#endif
#endif
#if WRITE_Y
        for (uint k = 0; k < count; ++k) {
#if CAUSAL
            ulong start = (first_slice + k) * axis;
            range_fill_masked(ys + start, begins[k], norms[k]);
            range_fill_masked(ys + offs[k] + lens[k], start + axis - (offs[k] + lens[k]),
                              norms[k]);
#endif
#if KEEP_WEIGHTS
            if (isfinite(norms[k].hi)) {
                range_scale(ys + offs[k], lens[k], norms[k]);
                continue;
            }
#endif
            slice_ctx c = slice_ctx_of(&o, first_slice + k);
            range_output(xs + offs[k], ys + offs[k], lens[k], norms[k], &c, begins[k], stream);
        }
#endif
    }
}
