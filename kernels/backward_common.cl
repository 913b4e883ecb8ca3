/* Shared by every backward kernel: the argument list, the per-slice sum S and the gradient rule.
 *
 * Needs softmax_common.cl, softmax_entries.cl and softmax_vector.cl before it, and
 * -DBACKWARD=1. With s the scale:
 *   softmax      S = sum_k y_k*dy_k,  dx_j = s*y_j*(dy_j - S)
 *   log-softmax  S = sum_k dy_k,      dx_j = s*(dy_j - exp(y_j)*S)
 * The special values fall out of four rules:
 *  - a product with a zero factor from y counts as 0 whatever the other factor is (0*inf
 *    would be NaN), so entries a forward pass masked never poison their slice;
 *  - a NaN in y or dy is tracked apart from S, and makes the whole dx slice NaN;
 *  - s = 0 gives dx = 0: the forward is then constant, and 0*inf must not make NaN;
 *  - S carries its rounding errors (TwoSum), so long slices meet the bound, which is
 *    relative to sum_k |terms|; once S is infinite its error term is dropped, as the
 *    TwoSum of an infinity is NaN.
 */

/* The parameters of every backward kernel (kernel_args.h). */
#define BACKWARD_ARGS CLSM_BACKWARD_ARGS(KERNEL_PARAM, COMMA)

/* What isnan gives for a realv. */
#if DTYPE_F64
typedef long8 maskv;
#else
typedef int16 maskv;
#endif

/* The term entry k adds to S. */
real term(real yk, real dyk)
{
#if LOG_SOFTMAX
    (void)yk;
    return dyk;
#else
    return yk == 0 ? (real)0 : yk * dyk;
#endif
}

/* add_compensated for S, whose terms, unlike weights, may be infinite. */
void dot_add(real *sum, real *comp, real t)
{
    real v = t + *comp;
    TWO_SUM(*sum, v, *sum, *comp);
    if (!isfinite(*sum))
        *comp = 0;
}

/* Folds the partial sum b into a; the caller fixes the order. */
void dot_merge(real *sum, real *comp, real b_sum, real b_comp)
{
    real c = *comp + b_comp, error;
    TWO_SUM(*sum, b_sum, *sum, error);
    *comp = isfinite(*sum) ? c + error : (real)0;
}

real dot_total(real sum, real comp)
{
    return isfinite(sum) ? sum + comp : sum;
}

/* dx_j of a slice without NaN, whose sum is S. */
real grad(real yj, real dyj, real S, real scale)
{
#if LOG_SOFTMAX
    real p = exp(yj);
    real r = dyj - (p == 0 ? (real)0 : p * S);
#else
    real r = yj == 0 ? (real)0 : yj * (dyj - S);
#endif
    /* inf - inf makes NaN from infinite dy; written canonical like every NaN. */
    return scale == 0 ? (real)0 : canonical(scale * r);
}

/* Slice of n entries at stride apart, one at a time. */
void slice_backward_scalar(global const store_t *y, global const store_t *dy,
                           global store_t *dx, ulong stride, ulong n, real scale)
{
    real sum = 0, comp = 0;
    int nan = 0;
    for (ulong j = 0; j < n; ++j) {
        real yj = LOAD(y, j * stride), dyj = LOAD(dy, j * stride);
        nan |= isnan(yj) || isnan(dyj);
        dot_add(&sum, &comp, term(yj, dyj));
    }
    real S = dot_total(sum, comp);
    for (ulong j = 0; j < n; ++j)
        STORE(dx, j * stride,
              nan ? CANONICAL_NAN : grad(LOAD(y, j * stride), LOAD(dy, j * stride), S, scale));
}

/* term(), lane by lane. */
INLINE realv term_v(realv yv, realv dyv)
{
#if LOG_SOFTMAX
    return dyv;
#else
    return select(yv * dyv, (realv)0, yv == (realv)0);
#endif
}

/* dot_add(), lane by lane. */
INLINE void dot_add_v(realv *sum, realv *comp, realv t)
{
    realv v = t + *comp;
    TWO_SUM(*sum, v, *sum, *comp);
    *comp = select((realv)0, *comp, isfinite(*sum));
}

INLINE realv dot_total_v(realv sum, realv comp)
{
    return select(sum, sum + comp, isfinite(sum));
}

/* grad() lane by lane, with each lane's S, and NaN in the lanes of NaN slices. */
INLINE realv grad_v(realv yv, realv dyv, realv S, maskv nan, real scale)
{
#if LOG_SOFTMAX
    realv p = exp(yv);
    realv r = dyv - select(p * S, (realv)0, p == (realv)0);
#else
    realv r = select(yv * (dyv - S), (realv)0, yv == (realv)0);
#endif
    realv g = scale == 0 ? (realv)0 : scale * r;
    return select(g, (realv)CANONICAL_NAN, nan | isnan(g));
}

/* The n < VEC entries left at p, the lanes beyond them 0 (which adds nothing to S). */
INLINE realv load_tail_raw(global const store_t *p, ulong n)
{
    real lanes[VEC];
    for (uint k = 0; k < VEC; ++k)
        lanes[k] = k < n ? LOAD(p, k) : (real)0;
    return VLOAD_REAL(lanes);
}

/* The per-lane partial sums of S over n contiguous entries, and their NaN lanes. */
INLINE void range_dot(global const store_t *y, global const store_t *dy, ulong n, realv *sum_out,
                      realv *comp_out, maskv *nan_out)
{
    ulong full = n - n % VEC;
    realv sum = 0, comp = 0;
    maskv nan = 0;
    for (ulong i = 0; i < full; i += VEC) {
        realv yv = VLOAD(y + i), dyv = VLOAD(dy + i);
        nan |= isnan(yv) | isnan(dyv);
        dot_add_v(&sum, &comp, term_v(yv, dyv));
    }
    if (full < n) {
        realv yv = load_tail_raw(y + full, n - full), dyv = load_tail_raw(dy + full, n - full);
        nan |= isnan(yv) | isnan(dyv);
        dot_add_v(&sum, &comp, term_v(yv, dyv));
    }
    *sum_out = sum;
    *comp_out = comp;
    *nan_out = nan;
}

/* S of count <= VEC ranges from their per-lane partial sums, lane k for range k. */
INLINE realv lanes_total(const realv *sums, const realv *comps)
{
    realv sum, comp;
    lanes_sum(sums, comps, &sum, &comp);
    return dot_total_v(sum, comp);
}

/* Writes the n contiguous dx of a range whose slice has sum S (NaN slice: nan); with
 * stream, past the cache where dx is aligned for it. */
INLINE void range_grad(global const store_t *y, global const store_t *dy, global store_t *dx,
                       ulong n, real S, int nan, real scale, uint stream)
{
    realv Sv = (realv)S;
    maskv nanv = (maskv)(nan ? -1 : 0);
    ulong full = n - n % VEC;
#if DTYPE_F32
    if (stream && (ulong)dx % sizeof(realv) == 0) {
        for (ulong i = 0; i < full; i += VEC)
            VSTORE_STREAM(dx + i, grad_v(VLOAD(y + i), VLOAD(dy + i), Sv, nanv, scale));
    } else
#endif
    {
        (void)stream;
        for (ulong i = 0; i < full; i += VEC)
            VSTORE_CANONICAL(dx + i, grad_v(VLOAD(y + i), VLOAD(dy + i), Sv, nanv, scale));
    }
    if (full < n)
        store_tail(dx + full, n - full,
                   grad_v(load_tail_raw(y + full, n - full), load_tail_raw(dy + full, n - full),
                          Sv, nanv, scale));
}
