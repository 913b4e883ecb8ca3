/* The backward pass for VEC neighbouring strided slices (inner > 1) per work-item, one slice
 * per vector lane: softmax_columns' counterpart, the CPU kernel for strided layouts.
 *
 * Needs backward_common.cl and what it needs before it. Any 1-D NDRange works: work-items
 * loop over the outer * ceil(inner / VEC) blocks; a block cut short by the end of inner goes
 * slice by slice through the scalar path. dx may be y or dy (in place): a block is read
 * whole before any of it is written, and then each element is read before it is written.
 */

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
