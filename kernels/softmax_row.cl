/* One work-item per contiguous slice (inner == 1), VEC elements at a time: the CPU
 * kernel, where a work-group runs on one thread and a barrier costs a loop, so that no
 * work-item ever waits for another.
 *
 * Needs softmax_common.cl, softmax_entries.cl and softmax_vector.cl before it. Any 1-D
 * NDRange works: a work-item takes bundle (at least 1, at most VEC) neighbouring slices at
 * a time and finishes them together, which pays for short slices; long ones go one at a
 * time so that a slice is still in cache for its last pass; a bundle of VEC slices of one
 * to TILE_VECS vectors each is held in private memory instead (tile_slices). stream: the
 * host wants outputs written past the cache. x and y may be the same memory (in place): a slice
 * is read whole before any of it is written, and after that each element is read before
 * it is written.
 */

/* Below this length gathering a slice per lane beats walking each slice with vectors
 * (PoCL 3.1, AVX-512: 1.7x at 4 elements, 1.2x at 6, 0.93x at 8). */
#define ROW_LANES_BELOW 8

/* Slices from VEC to TILE_VECS * VEC long go VEC at a time through tile_slices. */
#define TILE_VECS 4

/* Like lanes_slices (softmax_vector.cl), it shares one context among slices: only where no
 * option reaches the row or j. */
#if !ROW_OPTIONS
/* VEC neighbouring slices of VEC <= axis <= TILE_VECS * VEC entries, held in private
 * memory from their one read to their one write, with none of the per-slice loops,
 * tails and bookkeeping of the general path, which cost a short slice more than its
 * exps. A slice's last vector ends where the slice ends, so nothing outside it is read or
 * written: its first lanes repeat entries of the vector before, are left out of the sum,
 * and are written again with the same values. Returns 0, having written nothing, when a
 * slice's shift is not finite: those need the scalar path's rules. A NaN among finite
 * values makes its slice's sum, so its total, and so all its outputs NaN. Only without
 * ROW_OPTIONS and SLICE_STATS, where every slice has the same context c. */
INLINE int tile_slices(global const store_t *x, global store_t *y, ulong axis,
                       const slice_ctx *c, uint stream)
{
    real a = c->a;
    uint vecs = (uint)((axis + VEC - 1) / VEC);
    ulong last = axis - VEC;
    realv fresh = (realv)(vecs * VEC - axis); /* lanes of the last vector below it repeat */
    realv v[VEC][TILE_VECS], maxes[VEC];
    for (uint k = 0; k < VEC; ++k) {
        realv m = (realv)(-INFINITY);
        for (uint i = 0; i < vecs; ++i) {
            ulong j = i + 1 < vecs ? i * VEC : last;
            v[k][i] = entry_uv(VLOAD(x + k * axis + j), c, j);
            m = max_v(v[k][i], m);
        }
        maxes[k] = m;
    }
    realv umax = lanes_max(maxes);
    realv hi = a * umax;
    if (!all(isfinite(hi)))
        return 0;
    real his[VEC], los[VEC];
    VSTORE_REAL(his, hi);
    VSTORE_REAL(los, fma((realv)a, umax, -hi));
    /* A lane adds at most TILE_VECS <= SUM_BLOCK weights, plainly, as range_sum's blocks:
     * lanes_sum then joins the lanes with their errors. */
    realv sums[VEC], comps[VEC];
    for (uint k = 0; k < VEC; ++k) {
        realv sum = 0;
        for (uint i = 0; i < vecs; ++i) {
            realv w = exp(fma((realv)a, v[k][i], (realv)-his[k]) - los[k]);
#if !LOG_SOFTMAX
            v[k][i] = w;
#endif
            sum += i + 1 < vecs ? w : select((realv)0, w, isgreaterequal(LANE_INDEX, fresh));
        }
        sums[k] = sum;
        comps[k] = 0;
    }
    realv total, total_comp;
    lanes_sum(sums, comps, &total, &total_comp);
    real norms[VEC];
#if LOG_SOFTMAX
    /* sum >= 1 (the max weighs exactly 1), so sum - 1 is exact where it matters. */
    VSTORE_REAL(norms, log1p((total - 1) + total_comp));
#else
    /* A product rounds once more than a quotient, well inside the bound. */
    VSTORE_REAL(norms, 1 / (total + total_comp));
#endif
    /* Past the cache only where every store is a whole aligned vector: a line written
     * partly past the cache and partly through it is flushed, at many times the cost. */
    int aligned = stream && axis % VEC == 0 && (ulong)y % sizeof(realv) == 0;
    for (uint k = 0; k < VEC; ++k) {
        for (uint i = 0; i < vecs; ++i) {
#if LOG_SOFTMAX
            realv out = shifted_v(v[k][i], a, (realv)his[k], (realv)los[k]) - norms[k];
#else
            realv out = v[k][i] * norms[k];
#endif
            global store_t *p = y + k * axis + (i + 1 < vecs ? i * VEC : last);
            if (aligned)
                VSTORE_STREAM(p, canonical_v(out));
            else
                VSTORE_CANONICAL(p, out);
        }
    }
    return 1;
}
#endif

/* VEC neighbouring slices of axis entries, axis a power of two below VEC: each vector holds
 * VEC / axis whole slices, reduced within it by group_max and group_sum, so that a slice
 * costs a few swizzles and no gather, transpose or tail. A bundle with a shift that is not
 * finite goes slice by slice through the scalar path, which carries the special-value
 * rules. Only without ROW_OPTIONS and SLICE_STATS, where every slice has the
 * same context c. */
INLINE void grouped_slices(global const store_t *x, global store_t *y, uint axis,
                           const slice_ctx *c, const options *o, ulong first_slice, uint stream)
{
    /* The bundle's axis vectors go through each step together, so that their chains of
     * dependent operations overlap: one vector at a time, each waited on the last (PoCL 3.1,
     * AVX-512: 156 cycles a vector). axis is a constant at every call. */
    real a = c->a;
    realv u[8], hi[8], lo[8], out[8];
    int finite = 1;
    for (uint i = 0; i < axis; ++i) {
        u[i] = entry_uv(VLOAD(x + i * VEC), c, 0);
        realv umax = group_max(u[i], axis);
        hi[i] = a * umax;
        lo[i] = fma((realv)a, umax, -hi[i]);
        finite &= all(isfinite(hi[i]));
    }
    if (!finite) {
        for (uint k = 0; k < VEC; ++k)
            slice_scalar(x + k * axis, y + k * axis, 1, axis, o, first_slice + k);
        return;
    }
    for (uint i = 0; i < axis; ++i) {
        realv w = exp(fma((realv)a, u[i], -hi[i]) - lo[i]), sum, comp;
        group_sum(w, axis, &sum, &comp);
#if LOG_SOFTMAX
        /* sum >= 1 (the max weighs exactly 1), so sum - 1 is exact where it matters. */
        out[i] = shifted_v(u[i], a, hi[i], lo[i]) - log1p((sum - 1) + comp);
#else
        out[i] = w / (sum + comp);
#endif
    }
    int aligned = stream && (ulong)y % sizeof(realv) == 0;
    for (uint i = 0; i < axis; ++i) {
        if (aligned)
            VSTORE_STREAM(y + i * VEC, canonical_v(out[i]));
        else
            VSTORE_CANONICAL(y + i * VEC, out[i]);
    }
}

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
    bundle = min(bundle, (uint)VEC);
    for (ulong first_slice = get_global_id(0) * bundle; first_slice < outer;
         first_slice += get_global_size(0) * bundle) {
        uint count = outer - first_slice < bundle ? (uint)(outer - first_slice) : bundle;
#if !ROW_OPTIONS && !SLICE_STATS && WRITE_Y
        /* Slices shorter than a vector: one per lane, gathered, with nothing to fold. */
        slice_ctx any = slice_ctx_of(&o, first_slice);
        /* Each width a constant, so that the shuffles' lane masks are constants: with a mask
         * known only at run time PoCL 3.1 ran 8-entry rows slower than the general path. */
        uint width = grouped_width(count, axis);
        if (width) {
            global const store_t *xb = xs + first_slice * axis;
            global store_t *yb = ys + first_slice * axis;
            if (width == 2)
                grouped_slices(xb, yb, 2, &any, &o, first_slice, stream);
            else if (width == 4)
                grouped_slices(xb, yb, 4, &any, &o, first_slice, stream);
            else
                grouped_slices(xb, yb, 8, &any, &o, first_slice, stream);
            continue;
        }
        if (count == VEC && axis < ROW_LANES_BELOW &&
            lanes_slices(xs + first_slice * axis, ys + first_slice * axis, axis, 1, axis, 1, &any))
            continue;
        if (count == VEC && axis >= VEC && axis <= TILE_VECS * VEC &&
            tile_slices(xs + first_slice * axis, ys + first_slice * axis, axis, &any, stream))
            continue;
#endif
        /* The kept entries of each slice (all of them without causal or kv_lengths). */
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
        bundle_states(xs, offs, lens, begins, count, &o, first_slice, weights_out, &umax, &hi,
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
#if CUTS_RANGE
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
