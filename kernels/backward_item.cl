/* The backward pass with one work-item per slice: softmax_item's counterpart, for short and
 * strided slices.
 *
 * Needs backward_common.cl and what it needs before it. Any 1-D NDRange works: work-items
 * loop over the outer*inner slices. dx may be y or dy (in place): a work-item reads its
 * slice whole before it writes any of it, and then reads each element before writing it.
 */
kernel void backward_item(BACKWARD_ARGS)
{
    options o = BACKWARD_OPTIONS_OF_ARGS;
    ulong slices = outer * inner;
    for (ulong s = get_global_id(0); s < slices; s += get_global_size(0)) {
        ulong outer_index = s / inner;
        ulong base = outer_index * axis * inner + (s - outer_index * inner);
        slice_ctx c = slice_ctx_of(&o, s);
        slice_backward_scalar(x + x_off + base, y + y_off + base, dy + dy_off + base,
                              dx + dx_off + base, inner, axis, &c);
    }
}
