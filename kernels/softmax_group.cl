/* One work-group per slice: for long slices, which a single work-item would take too
 * long over. Each work-item folds a strided share of the slice into a (max, sum) state,
 * the states meet in a fixed-order tree in local memory, then every work-item writes
 * its share.
 *
 * Needs softmax_common.cl before it, and -DWG=<work-group size, a power of two>; launch
 * with local size WG and any number of groups: groups loop over the outer*inner slices.
 * Offsets and sizes are in elements. x and y may be the same memory (in place).
 */
state load_state(local const real *umaxes, local const real *sums, local const real *comps,
                 uint i, real a)
{
    state s;
    set_max(&s, umaxes[i], a);
    s.sum = sums[i];
    s.comp = comps[i];
    return s;
}

__attribute__((reqd_work_group_size(WG, 1, 1)))
kernel void softmax_group(global const store_t *x, ulong x_off, global store_t *y, ulong y_off,
                          ulong outer, ulong axis, ulong inner, float scale_f)
{
    local real umaxes[WG];
    local real sums[WG];
    local real comps[WG];
    real scale = scale_f;
    real a = scale_magnitude(scale);
    uint lid = get_local_id(0);
    ulong slices = outer * inner;
    for (ulong s = get_group_id(0); s < slices; s += get_num_groups(0)) {
        ulong o = s / inner;
        ulong base = o * axis * inner + (s - o * inner);
        state st = state_empty(a);
        for (ulong j = lid; j < axis; j += WG)
            state_add(&st, to_u(LOAD(x, x_off + base + j * inner), scale), a);
        umaxes[lid] = st.umax;
        sums[lid] = st.sum;
        comps[lid] = st.comp;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint half_size = WG / 2; half_size > 0; half_size >>= 1) {
            if (lid < half_size) {
                state_merge(&st, load_state(umaxes, sums, comps, lid + half_size, a), a);
                umaxes[lid] = st.umax;
                sums[lid] = st.sum;
                comps[lid] = st.comp;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        slice_norm n = norm_of(load_state(umaxes, sums, comps, 0, a));
        /* The next slice overwrites slot 0; nobody may still be reading it. */
        barrier(CLK_LOCAL_MEM_FENCE);
        for (ulong j = lid; j < axis; j += WG) {
            ulong k = base + j * inner;
            STORE(y, y_off + k,
                  isnan(n.total) ? CANONICAL_NAN : output(to_u(LOAD(x, x_off + k), scale), n, a));
        }
    }
}
