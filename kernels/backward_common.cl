/* Shared by every backward kernel: the argument list, the per-slice sum S and the gradient rule.
 *
 * Needs softmax_common.cl, softmax_entries.cl and softmax_vector.cl before it, and
 * -DBACKWARD=1. With s the scale and f_j the cap's derivative at x_j (1 without a cap):
 *   softmax      S = sum_k y_k*dy_k,  dx_j = s*y_j*(dy_j - S)*f_j
 *   log-softmax  S = sum_k dy_k,      dx_j = s*(dy_j - exp(y_j)*S)*f_j
 * and dx_j = 0 at an entry the forward's options mask to -inf (-DMASK, -DCAUSAL, -DWINDOW,
 * -DKV_LENGTHS), which does not depend on x. S still runs over every entry, masked ones
 * included. The special values fall out of four rules:
 *  - a product with a zero factor from y counts as 0 whatever the other factor is (0*inf
 *    would be NaN), so entries a forward pass masked never poison their slice;
 *  - a NaN in y or dy is tracked apart from S, and makes the whole dx slice NaN but for its
 *    masked entries;
 *  - s = 0 gives dx = 0: the forward is then constant, and 0*inf must not make NaN;
 *  - S carries its rounding errors (TwoSum), so long slices meet the bound, which is
 *    relative to sum_k |terms|; once S is infinite its error term is dropped, as the
 *    TwoSum of an infinity is NaN.
 */

/* The parameters of every backward kernel (kernel_args.h). */
#define BACKWARD_ARGS CLSM_BACKWARD_ARGS(KERNEL_PARAM, COMMA)

/* The options among BACKWARD_ARGS, in the forward's struct (its other fields 0, their flags
 * off in a backward variant), which slice_ctx_of reads. */
options backward_options_of(BACKWARD_ARGS)
{
    options o = {0};
    o.scale = scale_of(scale_bits);
    CLSM_BACKWARD_ARGS(OPTION_SET, )
    return o;
}

#define BACKWARD_OPTIONS_OF_ARGS backward_options_of(CLSM_BACKWARD_ARGS(KERNEL_ARG_NAME, COMMA))

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

/* dx_j of a kept entry of a slice without NaN, whose sum is S; factor is the cap's
 * derivative there (1 without a cap). */
real grad(real yj, real dyj, real S, real scale, real factor)
{
#if LOG_SOFTMAX
    real p = exp(yj);
    real r = (dyj - (p == 0 ? (real)0 : p * S)) * factor;
#else
    /* y_j is a factor of the whole product, the cap's derivative's too. */
    real r = yj == 0 ? (real)0 : yj * (dyj - S) * factor;
#endif
    /* inf - inf makes NaN from infinite dy; written canonical like every NaN. */
    return scale == 0 ? (real)0 : canonical(scale * r);
}

#if SOFTCAP
/* The cap's derivative at u = s*v, u formed as entry_u forms it: 1 - tanh^2(u/c), as
 * sech^2 = 4e/(1 + e)^2 with e = exp(-2|u/c|), which keeps its relative accuracy where
 * 1 - tanh^2 would cancel (the bound is relative to it). */
real cap_slope(real v, const slice_ctx *c)
{
    real e = exp(-2 * fabs(c->scale * v / c->softcap));
    return 4 * e / ((1 + e) * (1 + e));
}

/* cap_slope(), lane by lane. */
INLINE realv cap_slope_v(realv v, const slice_ctx *c)
{
    realv e = exp(-2 * fabs(c->scale * v / c->softcap));
    return 4 * e / ((1 + e) * (1 + e));
}
#endif

/* The factor entry i of x gives dx: the cap's derivative, 1 without a cap (x is then not
 * read, and may be NULL). */
real factor_at(global const store_t *x, ulong i, const slice_ctx *c)
{
#if SOFTCAP
    return cap_slope(LOAD(x, i), c);
#else
    (void)x;
    (void)i;
    (void)c;
    return 1;
#endif
}

#if MASK
/* Whether the mask sets entry j to -inf, whatever x holds: a keep-mask's 0, an additive -inf. */
int mask_drops(const slice_ctx *c, ulong j)
{
#if MASK_ADD
    return MASK_VALUE(c->mask, j * c->mask_step) == -INFINITY;
#else
    return c->mask[j * c->mask_step] == 0;
#endif
}
#endif

/* Whether the options mask entry j of a slice to -inf: outside [begin, end), the entries
 * kept_range keeps, or by the mask. */
int dropped(const slice_ctx *c, ulong j, ulong begin, ulong end)
{
#if MASK
    if (mask_drops(c, j))
        return 1;
#else
    (void)c;
#endif
    return j < begin || j >= end;
}

/* Slice of n entries at stride apart, one at a time. */
void slice_backward_scalar(global const store_t *x, global const store_t *y,
                           global const store_t *dy, global store_t *dx, ulong stride, ulong n,
                           const slice_ctx *c)
{
    real sum = 0, comp = 0;
    int nan = 0;
    for (ulong j = 0; j < n; ++j) {
        real yj = LOAD(y, j * stride), dyj = LOAD(dy, j * stride);
        nan |= isnan(yj) || isnan(dyj);
        dot_add(&sum, &comp, term(yj, dyj));
    }
    real S = dot_total(sum, comp);
    ulong begin, end;
    kept_range(c, n, &begin, &end);
    for (ulong j = 0; j < n; ++j) {
        ulong i = j * stride;
        real v = dropped(c, j, begin, end) ? (real)0
                 : nan ? CANONICAL_NAN
                       : grad(LOAD(y, i), LOAD(dy, i), S, c->scale, factor_at(x, i, c));
        STORE(dx, i, v);
    }
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

/* grad() lane by lane, with each lane's S and factor, NaN in the lanes of NaN slices, and 0 in
 * the dropped lanes. */
INLINE realv grad_v(realv yv, realv dyv, realv S, maskv nan, real scale, realv factor,
                    maskv drop)
{
#if LOG_SOFTMAX
    realv p = exp(yv);
    realv r = (dyv - select(p * S, (realv)0, p == (realv)0)) * factor;
#else
    realv r = select(yv * (dyv - S) * factor, (realv)0, yv == (realv)0);
#endif
    realv g = scale == 0 ? (realv)0 : scale * r;
    g = select(g, (realv)CANONICAL_NAN, nan | isnan(g));
    return select(g, (realv)0, drop);
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

/* factor_at() of VEC contiguous entries of x. */
INLINE realv factor_v(global const store_t *x, const slice_ctx *c)
{
#if SOFTCAP
    return cap_slope_v(VLOAD(x), c);
#else
    (void)x;
    (void)c;
    return 1;
#endif
}

/* factor_v() of the n < VEC entries left at x. */
INLINE realv factor_tail(global const store_t *x, ulong n, const slice_ctx *c)
{
#if SOFTCAP
    return cap_slope_v(load_tail_raw(x, n), c);
#else
    (void)x;
    (void)n;
    (void)c;
    return 1;
#endif
}

/* The lanes of entries j to j + VEC - 1 that the mask drops. */
INLINE maskv mask_drops_v(const slice_ctx *c, ulong j)
{
#if MASK_ADD
    return mask_lanes(c, j) == (realv)(-INFINITY);
#elif MASK_KEEP
    return mask_lanes(c, j) == (realv)0;
#else
    (void)c;
    (void)j;
    return 0;
#endif
}

/* mask_drops_v() of the n < VEC entries left from j on, reading no mask entry past them. */
INLINE maskv mask_drops_tail(const slice_ctx *c, ulong j, ulong n)
{
#if MASK
    real lanes[VEC];
    for (uint k = 0; k < VEC; ++k)
        lanes[k] = k < n && mask_drops(c, j + k) ? 1 : 0;
    return VLOAD_REAL(lanes) != (realv)0;
#else
    (void)c;
    (void)j;
    (void)n;
    return 0;
#endif
}

/* Writes the n contiguous dx of a range, from entry j0 of a slice on, whose entries
 * kept_range keeps, and whose slice has sum S (NaN slice: nan); with stream, past the cache
 * where dx is aligned for it. */
INLINE void range_grad(global const store_t *x, global const store_t *y, global const store_t *dy,
                       global store_t *dx, ulong n, real S, int nan, const slice_ctx *c, ulong j0,
                       uint stream)
{
    realv Sv = (realv)S;
    maskv nanv = (maskv)(nan ? -1 : 0);
    real scale = c->scale;
    ulong full = n - n % VEC;
#if DTYPE_F32
    if (stream && (ulong)dx % sizeof(realv) == 0) {
        for (ulong i = 0; i < full; i += VEC)
            VSTORE_STREAM(dx + i, grad_v(VLOAD(y + i), VLOAD(dy + i), Sv, nanv, scale,
                                         factor_v(x + i, c), mask_drops_v(c, j0 + i)));
    } else
#endif
    {
        (void)stream;
        for (ulong i = 0; i < full; i += VEC)
            VSTORE_CANONICAL(dx + i, grad_v(VLOAD(y + i), VLOAD(dy + i), Sv, nanv, scale,
                                            factor_v(x + i, c), mask_drops_v(c, j0 + i)));
    }
    if (full < n)
        store_tail(dx + full, n - full,
                   grad_v(load_tail_raw(y + full, n - full), load_tail_raw(dy + full, n - full),
                          Sv, nanv, scale, factor_tail(x + full, n - full, c),
                          mask_drops_tail(c, j0 + full, n - full)));
}

/* dx of entries [from, to) of a contiguous slice of n entries at x, y, dy and dx, whose sum
 * is S (NaN slice: nan): 0 outside the entries kept_range keeps, range_grad inside. */
INLINE void slice_range_grad(global const store_t *x, global const store_t *y,
                             global const store_t *dy, global store_t *dx, ulong from, ulong to,
                             ulong n, real S, int nan, const slice_ctx *c, uint stream)
{
    ulong begin, end;
    kept_range(c, n, &begin, &end);
    ulong lo = clamp(begin, from, to), hi = clamp(end, lo, to);
    for (ulong j = from; j < lo; ++j)
        STORE(dx, j, 0);
    range_grad(x + lo, y + lo, dy + lo, dx + lo, hi - lo, S, nan, c, lo, stream);
    for (ulong j = hi; j < to; ++j)
        STORE(dx, j, 0);
}
