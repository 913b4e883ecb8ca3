/* VEC neighbouring strided slices (inner > 1) per work-item, one slice per vector lane:
 * the CPU kernel for strided layouts, where a row of VEC columns is one contiguous load
 * and no lane ever has to meet another. With fewer columns than a vector (inner < VEC), a
 * work-item takes a whole [axis, inner] slab instead, walked as the contiguous range it is
 * (slab_columns), every lane busy.
 *
 * Needs softmax_common.cl, softmax_entries.cl and softmax_vector.cl before it. Any 1-D
 * NDRange works: work-items loop over the outer * ceil(inner / VEC) blocks (one per outer
 * index where inner < VEC). A block whose shift is not finite in some lane or column, which
 * is cut short by the end of inner, or whose slices meet statistics, goes slice by slice
 * through the scalar path. x and y may be the same memory (in place): a block is read whole
 * before any of it is written, and after that each element is read before it is written.
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
    ulong blocks = outer * blocks_per_outer;
    for (ulong b = get_global_id(0); b < blocks; b += get_global_size(0)) {
        ulong outer_index = b / blocks_per_outer;
        ulong c = (b - outer_index * blocks_per_outer) * VEC;
        ulong base = outer_index * axis * inner + c;
        ulong s = outer_index * inner + c;
        uint lanes = inner - c < VEC ? (uint)(inner - c) : VEC;
#if !ROW_OPTIONS && !SLICE_STATS && WRITE_Y
        slice_ctx any = slice_ctx_of(&o, s);
        if (lanes == VEC && lanes_slices(xs + base, ys + base, 1, inner, axis, &any))
            continue;
        if (inner < VEC && slab_columns(xs + base, ys + base, axis, (uint)inner, &any, stream))
            continue;
#endif
        columns_scalar(xs, ys, base, lanes, axis, inner, &o, s);
    }
}
