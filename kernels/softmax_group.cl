/* One work-group per slice: for long slices, which a single work-item would take too
 * long over. Each work-item folds a strided share of the slice into a (max, sum) state,
 * the states meet in a fixed-order tree in local memory, then every work-item writes
 * its share.
 *
 * Needs softmax_common.cl before it, and -DWG=<work-group size, a power of two>; launch
 * with local size WG and any number of groups: groups loop over the outer*inner slices.
 * Offsets and sizes are in elements. x and y may be the same memory (in place).
 */
__attribute__((reqd_work_group_size(WG, 1, 1)))
kernel void softmax_group(global const store_t *x, ulong x_off, global store_t *y, ulong y_off,
                          ulong outer, ulong axis, ulong inner, float scale_f)
{
    local real maxes[WG];
    local real sums[WG];
    real scale = scale_f;
    uint lid = get_local_id(0);
    ulong slices = outer * inner;
    for (ulong s = get_group_id(0); s < slices; s += get_num_groups(0)) {
        ulong o = s / inner;
        ulong base = o * axis * inner + (s - o * inner);
        state st = state_empty();
        for (ulong j = lid; j < axis; j += WG)
            state_add(&st, LOAD(x, x_off + base + j * inner), scale);
        maxes[lid] = st.max;
        sums[lid] = st.sum - st.comp;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint half_size = WG / 2; half_size > 0; half_size >>= 1) {
            if (lid < half_size) {
                state a = { maxes[lid], sums[lid], 0 };
                state b = { maxes[lid + half_size], sums[lid + half_size], 0 };
                state_merge(&a, b);
                maxes[lid] = a.max;
                sums[lid] = a.sum;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        state total = { maxes[0], sums[0], 0 };
        slice_norm n = norm_of(total);
        /* The next slice overwrites maxes[0]; nobody may still be reading it. */
        barrier(CLK_LOCAL_MEM_FENCE);
        for (ulong j = lid; j < axis; j += WG) {
            ulong k = base + j * inner;
            STORE(y, y_off + k, output(LOAD(x, x_off + k), n, scale));
        }
    }
}
