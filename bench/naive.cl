/* The naive baseline: the textbook three-kernel softmax, kept as a reference point.
 *
 * slice_max writes each slice's max to a buffer, slice_sum each slice's sum of exp(x - max),
 * and normalize_softmax or normalize_log_softmax writes every element from those two. One
 * work-item per slice for the reductions, one per element for the last kernel; the NDRange
 * may be larger than needed. A slice is x[o, :, i] of an [outer, axis, inner] tensor, and
 * slice s = o * inner + i, so neighbouring work-items read neighbouring columns when inner > 1.
 */

ulong slice_base(ulong s, ulong axis, ulong inner)
{
    ulong o = s / inner;
    return o * axis * inner + (s - o * inner);
}

kernel void slice_max(global const float *x, global float *max_out, ulong slices, ulong axis,
                      ulong inner)
{
    ulong s = get_global_id(0);
    if (s >= slices)
        return;
    ulong base = slice_base(s, axis, inner);
    float m = x[base];
    for (ulong k = 1; k < axis; ++k)
        m = fmax(m, x[base + k * inner]);
    max_out[s] = m;
}

kernel void slice_sum(global const float *x, global const float *max_in, global float *sum_out,
                      ulong slices, ulong axis, ulong inner)
{
    ulong s = get_global_id(0);
    if (s >= slices)
        return;
    ulong base = slice_base(s, axis, inner);
    float m = max_in[s], sum = 0.0f;
    for (ulong k = 0; k < axis; ++k)
        sum += exp(x[base + k * inner] - m);
    sum_out[s] = sum;
}

/* The slice of element e: its outer index times inner, plus its inner index. */
ulong slice_of(ulong e, ulong axis, ulong inner)
{
    return e / (axis * inner) * inner + e % inner;
}

kernel void normalize_softmax(global const float *x, global const float *max_in,
                              global const float *sum_in, global float *y, ulong n, ulong axis,
                              ulong inner)
{
    ulong e = get_global_id(0);
    if (e >= n)
        return;
    ulong s = slice_of(e, axis, inner);
    y[e] = exp(x[e] - max_in[s]) / sum_in[s];
}

kernel void normalize_log_softmax(global const float *x, global const float *max_in,
                                  global const float *sum_in, global float *y, ulong n,
                                  ulong axis, ulong inner)
{
    ulong e = get_global_id(0);
    if (e >= n)
        return;
    ulong s = slice_of(e, axis, inner);
    y[e] = x[e] - max_in[s] - log(sum_in[s]);
}
