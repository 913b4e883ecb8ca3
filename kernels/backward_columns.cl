/* The backward pass for VEC neighbouring strided slices (inner > 1) per work-item, one slice
 * per vector lane: softmax_columns' counterpart, the CPU kernel for strided layouts.
 *
 * Needs backward_common.cl and what it needs before it. Any 1-D NDRange works: work-items
 * loop over the outer * ceil(inner / VEC) blocks; a block cut short by the end of inner goes
 * slice by slice through the scalar path. dx may be y or dy (in place): a block is read
 * whole before any of it is written, and then each element is read before it is written.
 */

#if !ROW_OPTIONS
/* Vector v of the slab's n = full * VEC + rest entries at p, as slab_u walks them: the lanes
 * past the tail 0, which adds nothing to S. */
INLINE realv slab_raw(global const store_t *p, ulong v, ulong full, uint rest)
{
    return v < full ? VLOAD(p + v * VEC) : load_tail_raw(p + full * VEC, rest);
}

/* The backward pass of a whole [axis, inner] slab with 1 < inner < VEC, walked as the
 * contiguous range it is, as the forward's slab_columns_of walks it: one accumulator per
 * step of the period, folded into columns, then spread back over the period. Without it
 * each of these slices went through the scalar path. Only without ROW_OPTIONS, where every
 * column has the same context c, so that no entry is dropped. */
INLINE void slab_backward_of(global const store_t *x, global const store_t *y,
                             global const store_t *dy, global store_t *dx, ulong axis,
                             uint inner, uint period, const slice_ctx *c, uint stream)
{
    ulong n = axis * inner, full = n / VEC;
    uint rest = (uint)(n % VEC);
    ulong vectors = full + (rest != 0);
    /* A column's NaN flag as 1 in its lanes, which slab_fold_max folds like a max. */
    realv sums[VEC - 1], comps[VEC - 1], nans[VEC - 1];
    for (uint t = 0; t < period; ++t)
        sums[t] = comps[t] = nans[t] = 0;
    for (ulong i = 0; i < vectors; i += period)
        for (uint t = 0; t < period && i + t < vectors; ++t) {
            realv yv = slab_raw(y, i + t, full, rest), dyv = slab_raw(dy, i + t, full, rest);
            nans[t] = select(nans[t], (realv)1, isnan(yv) | isnan(dyv));
            dot_add_v(&sums[t], &comps[t], term_v(yv, dyv));
        }
    /* An infinite partial sum makes its column's error term NaN in the fold, which
     * dot_total_v then drops, as dot_add_v drops it. */
    realv sum, comp;
    slab_fold_sums(sums, comps, inner, period, &sum, &comp);
    realv Sv[VEC - 1], nanv[VEC - 1];
    slab_spread(dot_total_v(sum, comp), inner, period, Sv);
    slab_spread(slab_fold_max(nans, inner, period), inner, period, nanv);
    stream = stream && (ulong)dx % sizeof(realv) == 0;
    for (ulong i = 0; i < vectors; i += period)
        for (uint t = 0; t < period && i + t < vectors; ++t) {
            ulong v = i + t;
            realv factor = v < full ? factor_v(x + v * VEC, c)
                                    : factor_tail(x + full * VEC, rest, c);
            realv g = grad_v(slab_raw(y, v, full, rest), slab_raw(dy, v, full, rest), Sv[t],
                             nanv[t] > (realv)0, c->scale, factor, 0);
            slab_store(dx, v, full, rest, g, stream);
        }
}

/* slab_backward_of, with the period of inner 2, 4 and 8 (1) as a constant, as slab_columns. */
INLINE void slab_backward(global const store_t *x, global const store_t *y,
                          global const store_t *dy, global store_t *dx, ulong axis, uint inner,
                          const slice_ctx *c, uint stream)
{
    uint period = slab_period(inner);
    if (period == 1)
        slab_backward_of(x, y, dy, dx, axis, inner, 1, c, stream);
    else
        slab_backward_of(x, y, dy, dx, axis, inner, period, c, stream);
}
#endif

/* Seen on PoCL 3.1 for the forward kernels: with the hint a kernel gets 512-bit vectors. */
__attribute__((vec_type_hint(realv)))
kernel void backward_columns(BACKWARD_ARGS)
{
    options o = BACKWARD_OPTIONS_OF_ARGS;
    global const store_t *xs = x + x_off, *ys = y + y_off, *dys = dy + dy_off;
    global store_t *dxs = dx + dx_off;
    ulong blocks_per_outer = (inner + VEC - 1) / VEC;
    ulong blocks = outer * blocks_per_outer;
    for (ulong b = get_global_id(0); b < blocks; b += get_global_size(0)) {
        ulong outer_index = b / blocks_per_outer;
        ulong c = (b - outer_index * blocks_per_outer) * VEC;
        ulong base = outer_index * axis * inner + c;
        ulong s = outer_index * inner + c;
#if !ROW_OPTIONS
        if (inner < VEC) {
            slice_ctx any = slice_ctx_of(&o, s);
            slab_backward(xs + base, ys + base, dys + base, dxs + base, axis, (uint)inner, &any,
                          stream);
            continue;
        }
#endif
        /* The lanes are slices, which pass one j and one row for all: slices whose options
         * reach the row or j take the scalar path. */
        if (ROW_OPTIONS || inner - c < VEC) {
            for (ulong k = 0; k < min(inner - c, (ulong)VEC); ++k) {
                slice_ctx ck = slice_ctx_of(&o, s + k);
                slice_backward_scalar(xs + base + k, ys + base + k, dys + base + k,
                                      dxs + base + k, inner, axis, &ck);
            }
            continue;
        }
        slice_ctx any = slice_ctx_of(&o, s);
        realv sum = 0, comp = 0;
        maskv nan = 0;
        for (ulong j = 0; j < axis; ++j) {
            realv yv = load_lanes(ys + base + j * inner, 1), dyv = load_lanes(dys + base + j * inner, 1);
            nan |= isnan(yv) | isnan(dyv);
            dot_add_v(&sum, &comp, term_v(yv, dyv));
        }
        realv S = dot_total_v(sum, comp);
        for (ulong j = 0; j < axis; ++j) {
            ulong k = base + j * inner;
            store_lanes(dxs + k, 1, grad_v(load_lanes(ys + k, 1), load_lanes(dys + k, 1), S, nan,
                                           any.scale, factor_v(xs + k, &any), 0));
        }
    }
}
