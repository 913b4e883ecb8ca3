/* One work-item per slice: for short slices, and for strided slices (inner > 1) on a
 * GPU, where neighbouring work-items take neighbouring columns so that their reads
 * coalesce.
 *
 * Needs softmax_common.cl and softmax_entries.cl before it. Any 1-D NDRange works:
 * work-items loop over the outer*inner slices. x and y may be the same memory (in place):
 * each element is read for the last time by the work-item that writes it.
 */
kernel void softmax_item(KERNEL_ARGS)
{
    options o = OPTIONS_OF_ARGS;
    ulong slices = outer * inner;
    for (ulong s = get_global_id(0); s < slices; s += get_global_size(0)) {
        ulong outer_index = s / inner;
        ulong base = outer_index * axis * inner + (s - outer_index * inner);
        slice_scalar(x + x_off + base, y + y_off + base, inner, axis, &o, s);
    }
}
