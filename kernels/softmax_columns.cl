/* VEC neighbouring strided slices (inner > 1) per vector, one slice per lane: the CPU kernel
 * for strided layouts, where a row of VEC columns is one contiguous load and no lane ever
 * has to meet another. A work-item takes CLSM_COLUMNS_WIDE such blocks side by side, so that
 * it reads each row of the slab as one contiguous range. With fewer columns than a vector
 * (inner < VEC), a work-item takes a whole [axis, inner] slab instead, walked as the
 * contiguous range it is (slab_columns), every lane busy.
 *
 * Needs softmax_common.cl, softmax_entries.cl and softmax_vector.cl before it. Any 1-D
 * NDRange works: work-items loop over the outer * ceil(ceil(inner / VEC) / CLSM_COLUMNS_WIDE)
 * units (one per outer index where inner < VEC). Blocks that do not fill a unit go one by
 * one. A block whose shift is not finite in some lane or column, which is cut short by the
 * end of inner, or whose slices meet statistics, goes slice by slice through the scalar
 * path. x and y may be the same memory (in place): a block is read whole before any of it
 * is written, and after that each element is read before it is written.
 */

/* The scalar path for lanes [0, lanes) of the block at base, slice s first. */
void columns_scalar(global const store_t *x, global store_t *y, ulong base, uint lanes,
                    ulong axis, ulong inner, const options *o, ulong s)
{
    for (uint k = 0; k < lanes; ++k)
        slice_scalar(x + base + k, y + base + k, inner, axis, o, s + k);
}

/* Seen on PoCL 3.1: with the hint the kernel gets 512-bit vectors, without it 256-bit. */
__attribute__((vec_type_hint(realv)))
kernel void softmax_columns(KERNEL_ARGS)
{
    options o = OPTIONS_OF_ARGS;
    global const store_t *xs = x + x_off;
    global store_t *ys = y + y_off;
    ulong blocks_per_outer = (inner + VEC - 1) / VEC;
    ulong units_per_outer = (blocks_per_outer + CLSM_COLUMNS_WIDE - 1) / CLSM_COLUMNS_WIDE;
    for (ulong t = get_global_id(0); t < outer * units_per_outer; t += get_global_size(0)) {
        ulong outer_index = t / units_per_outer;
        ulong first = (t - outer_index * units_per_outer) * CLSM_COLUMNS_WIDE;
        ulong end = min(first + CLSM_COLUMNS_WIDE, blocks_per_outer);
        ulong slab = outer_index * axis * inner, slices = outer_index * inner;
#if !ROW_OPTIONS && !SLICE_STATS && WRITE_Y
        slice_ctx any = slice_ctx_of(&o, slices);
        if (inner < VEC) {
            if (slab_columns(xs + slab, ys + slab, axis, (uint)inner, &any, stream))
                continue;
        } else if (first + CLSM_COLUMNS_WIDE <= inner / VEC &&
                   lanes_slices(xs + slab + first * VEC, ys + slab + first * VEC, 1, inner, axis,
                                CLSM_COLUMNS_WIDE, &any)) {
            continue;
        }
#endif
        for (ulong b = first; b < end; ++b) {
            ulong c = b * VEC;
            uint lanes = inner - c < VEC ? (uint)(inner - c) : VEC;
#if !ROW_OPTIONS && !SLICE_STATS && WRITE_Y
            if (lanes == VEC &&
                lanes_slices(xs + slab + c, ys + slab + c, 1, inner, axis, 1, &any))
                continue;
#endif
            columns_scalar(xs, ys, slab + c, lanes, axis, inner, &o, slices + c);
        }
    }
}
