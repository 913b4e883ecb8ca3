/* One work-group per slice: for long slices, which a single work-item would take too
 * long over. Each work-item folds a strided share of the slice into a (max, sum) state,
 * the states meet in a fixed-order tree in local memory, then every work-item writes
 * its share.
 *
 * Needs softmax_common.cl and softmax_entries.cl before it, and -DWG=<work-group size, a
 * power of two>; launch with local size WG and any number of groups: groups loop over the
 * outer*inner slices. x and y may be the same memory (in place).
 */
__attribute__((reqd_work_group_size(WG, 1, 1)))
kernel void softmax_group(KERNEL_ARGS)
{
    local real umaxes[WG];
    local real sums[WG];
    local real comps[WG];
    options o = OPTIONS_OF_ARGS;
    real a = o.a;
    uint lid = get_local_id(0);
    ulong slices = outer * inner;
    for (ulong s = get_group_id(0); s < slices; s += get_num_groups(0)) {
        ulong outer_index = s / inner;
        ulong base = outer_index * axis * inner + (s - outer_index * inner);
        slice_ctx c = slice_ctx_of(&o, s);
        ulong begin, end;
        kept_range(&c, axis, &begin, &end);
#if STATS_IN
        slice_norm n = norm_from_stats(&o, s);
#else
        state st = state_empty(a);
        for (ulong j = begin + lid; j < end; j += WG)
            state_add(&st, entry_u(LOAD(x, x_off + base + j * inner), &c, j), a);
        umaxes[lid] = st.umax;
        sums[lid] = st.sum;
        comps[lid] = st.comp;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint half_size = WG / 2; half_size > 0; half_size >>= 1) {
            if (lid < half_size) {
                state_merge(&st,
                            state_from(umaxes[lid + half_size], sums[lid + half_size],
                                       comps[lid + half_size], a),
                            a);
                umaxes[lid] = st.umax;
                sums[lid] = st.sum;
                comps[lid] = st.comp;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        /* Statistics are written by one work-item. */
        slice_norm n = finish_slice(state_from(umaxes[0], sums[0], comps[0], a), &o, s, lid == 0);
        /* The next slice overwrites slot 0; nobody may still be reading it. */
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
#if WRITE_Y
        for (ulong j = lid; j < axis; j += WG) {
            ulong k = base + j * inner;
            STORE(y, y_off + k,
                  isnan(n.total) || j < begin || j >= end
                      ? masked_output(n)
                      : OUTPUT_OF(entry_u(LOAD(x, x_off + k), &c, j), n, a));
        }
#endif
    }
}
