/* The backward pass with one work-group per slice: softmax_group's counterpart, for long
 * slices on a GPU. A slice of up to CACHED elements is kept in local memory between the
 * sum and the update, so that y and dy are read from global memory once; longer ones are
 * read again for the update.
 *
 * Needs backward_common.cl and what it needs before it, and -DWG=<work-group size, a power
 * of two>; launch with local size WG and any number of groups: groups loop over the
 * outer*inner slices. dx may be y or dy (in place): every work-item has read the whole
 * slice when the tree's barriers let any of them write.
 */

/* 16 KiB for y and dy together, whatever the dtype: with the tree's arrays, within the 32 KiB
 * of local memory every OpenCL 1.2 device has. */
#define CACHED (2048 / (sizeof(real) / 4))

__attribute__((reqd_work_group_size(WG, 1, 1)))
kernel void backward_group(BACKWARD_ARGS)
{
    local real y_cache[CACHED];
    local real dy_cache[CACHED];
    local real sums[WG];
    local real comps[WG];
    local int nans[WG];
    options o = BACKWARD_OPTIONS_OF_ARGS;
    uint lid = get_local_id(0);
    int cached = axis <= CACHED;
    ulong slices = outer * inner;
    for (ulong s = get_group_id(0); s < slices; s += get_num_groups(0)) {
        ulong outer_index = s / inner;
        ulong base = outer_index * axis * inner + (s - outer_index * inner);
        real sum = 0, comp = 0;
        int nan = 0;
        for (ulong j = lid; j < axis; j += WG) {
            real yj = LOAD(y, y_off + base + j * inner), dyj = LOAD(dy, dy_off + base + j * inner);
            if (cached) {
                y_cache[j] = yj;
                dy_cache[j] = dyj;
            }
            nan |= isnan(yj) || isnan(dyj);
            dot_add(&sum, &comp, term(yj, dyj));
        }
        sums[lid] = sum;
        comps[lid] = comp;
        nans[lid] = nan;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint half_size = WG / 2; half_size > 0; half_size >>= 1) {
            if (lid < half_size) {
                dot_merge(&sum, &comp, sums[lid + half_size], comps[lid + half_size]);
                nan |= nans[lid + half_size];
                sums[lid] = sum;
                comps[lid] = comp;
                nans[lid] = nan;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        real S = dot_total(sums[0], comps[0]);
        nan = nans[0];
        slice_ctx c = slice_ctx_of(&o, s);
        ulong begin, end;
        kept_range(&c, axis, &begin, &end);
        /* Each work-item reads back only the entries it cached itself. */
        for (ulong j = lid; j < axis; j += WG) {
            ulong k = base + j * inner;
            real yj = cached ? y_cache[j] : LOAD(y, y_off + k);
            real dyj = cached ? dy_cache[j] : LOAD(dy, dy_off + k);
            real v = dropped(&c, j, begin, end) ? (real)0
                     : nan ? CANONICAL_NAN
                           : grad(yj, dyj, S, c.scale, factor_at(x, x_off + k, &c));
            STORE(dx, dx_off + k, v);
        }
        /* The next slice overwrites slot 0 and the cache; nobody may still be reading them. */
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
