/* One work-item per slice: for short slices, and for strided slices (inner > 1) on a
 * GPU, where neighbouring work-items take neighbouring columns so that their reads
 * coalesce.
 *
 * Needs softmax_common.cl before it. Any 1-D NDRange works: work-items loop over the
 * outer*inner slices. Offsets and sizes are in elements. x and y may be the same memory
 * (in place): each element is read for the last time by the work-item that writes it.
 */
kernel void softmax_item(global const store_t *x, ulong x_off, global store_t *y, ulong y_off,
                         ulong outer, ulong axis, ulong inner, float scale_f)
{
    real scale = scale_f;
    real a = scale_magnitude(scale);
    ulong slices = outer * inner;
    for (ulong s = get_global_id(0); s < slices; s += get_global_size(0)) {
        ulong o = s / inner;
        ulong base = o * axis * inner + (s - o * inner);
        slice_scalar(x + x_off + base, y + y_off + base, inner, axis, scale, a);
    }
}
