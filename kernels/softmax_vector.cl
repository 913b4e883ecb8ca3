/* Vector helpers for the CPU-shaped kernels: a work-item walks VEC elements at a time,
 * so that PoCL reaches its vectorised exp.
 *
 * Needs softmax_common.cl before it. A contiguous range is reduced in two passes over
 * the same memory, the max first and then the sum of weights against that max: the
 * range stays in cache between them, and a known max saves the online rescaling that
 * would cost more than the second pass. Each pass leaves one partial result per lane;
 * lanes_max and lanes_sum finish VEC ranges at once, lane k for range k, which costs a
 * few vector operations instead of a chain of horizontal ones per range. Ranges whose
 * shift is not finite (NaN, an infinite entry, a product that overflows, all -inf) take
 * the scalar path, which carries the special-value rules.
 */

/* Everything here is inlined into the kernels: PoCL compiles a function left out of line
 * that passes vectors by pointer at 256 bits wide, which doubles the instructions and
 * spills the exp constants to the stack. */
#define INLINE __attribute__((always_inline))

#if VEC == 16
#define CONVERT_REALV convert_float16
#define VLOAD_N vload16
#define LOAD_HALF_N load_half16
#define AS_FLOAT_N as_float16
#define CONVERT_UINT_N convert_uint16
#else
#define CONVERT_REALV convert_double8
#define VLOAD_N vload8
#define LOAD_HALF_N load_half8
#define AS_FLOAT_N as_float8
#define CONVERT_UINT_N convert_uint8
#endif

#if MASK
/* The mask of entries j to j + VEC - 1 of the slice: one load where they are neighbours. */
INLINE realv mask_lanes(const slice_ctx *c, ulong j)
{
    global const mask_t *p = c->mask + j * c->mask_step;
    if (c->mask_step == 1) {
#if MASK == 1
        return CONVERT_REALV(VLOAD_N(0, p));
#elif MASK == 2
        return CONVERT_REALV(LOAD_HALF_N(p));
#elif MASK == 3
        return CONVERT_REALV(AS_FLOAT_N(CONVERT_UINT_N(VLOAD_N(0, p)) << 16));
#else
        return CONVERT_REALV(VLOAD_N(0, p));
#endif
    }
    real lanes[VEC];
    for (uint k = 0; k < VEC; ++k)
#if MASK_ADD
        lanes[k] = MASK_VALUE(p, k * c->mask_step);
#else
        lanes[k] = p[k * c->mask_step];
#endif
    return VLOAD_REAL(lanes);
}
#endif

#if VEC == 16
#define LANE_INDEX ((realv)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#else
#define LANE_INDEX ((realv)(0, 1, 2, 3, 4, 5, 6, 7))
#endif

/* soft_cap (softmax_entries.cl), lane by lane. */
INLINE realv soft_cap_v(realv u, real cap)
{
    realv t = exp(-2 * fabs(u / cap));
    return copysign(cap * ((1 - t) / (1 + t)), u);
}

/* entry_uv's first step: u before the cap, the mask and ALiBi. */
INLINE realv scaled_uv(realv v, const slice_ctx *c)
{
#if ZERO_SCALE
    return select((realv)0, v, isnan(v));
#elif SCALED_DOMAIN
    return c->scale * v;
#else
    return copysign((real)1, c->scale) * v;
#endif
}

/* entry_u of entries j to j + VEC - 1 of the slice, whose x are v. */
INLINE realv entry_uv(realv v, const slice_ctx *c, ulong j)
{
    realv u = scaled_uv(v, c);
#if SOFTCAP
    u = soft_cap_v(u, c->softcap);
#endif
#if MASK_ADD
    u += mask_lanes(c, j);
#elif MASK_KEEP
    u = select(u, (realv)(-INFINITY), mask_lanes(c, j) == (realv)0);
#endif
#if ALIBI
    /* Each lane's distance as entry_u converts it from its exact integer: where the first
     * lane's is below 2^24 (f32's integers), adding the lane index is exact too. */
    long first = (long)j - c->center;
    realv d;
    if (first > -(1L << 24) && first < (1L << 24)) {
        d = (real)first + LANE_INDEX;
    } else {
        real lanes[VEC];
        for (uint k = 0; k < VEC; ++k)
            lanes[k] = (real)(first + (long)k);
        d = VLOAD_REAL(lanes);
    }
    u -= c->slope * fabs(d);
#endif
    return u;
}

/* u of the n < VEC entries left at p, from entry j0 of the slice on, with the lanes beyond
 * them set to pad. */
INLINE realv load_tail(global const store_t *p, ulong n, const slice_ctx *c, ulong j0, real pad)
{
    real lanes[VEC];
    for (uint k = 0; k < VEC; ++k)
        lanes[k] = k < n ? entry_u(LOAD(p, k), c, j0 + k) : pad;
    return VLOAD_REAL(lanes);
}

INLINE void store_tail(global store_t *p, ulong n, realv v)
{
    real lanes[VEC];
    VSTORE_REAL(lanes, v);
    for (uint k = 0; k < n; ++k)
        STORE(p, k, lanes[k]);
}

/* NaN-propagating max, lane by lane. */
INLINE realv max_nan_v(realv a, realv b)
{
    return select(b, a, isgreater(a, b) | isnan(a));
}

/* max(a, b) where b is never NaN: a NaN a is dropped, one instruction on a CPU. */
INLINE realv max_v(realv a, realv b)
{
    return select(b, a, isgreater(a, b));
}

/* v with each lane swapped with the one `step` (1, 2 or 4) away: written as swizzles, which
 * are one instruction, where PoCL 3.1's shuffle() went lane by lane through memory. */
INLINE realv swap_lanes(realv v, uint step)
{
#if VEC == 16
    return step == 1 ? v.s1032547698badcfe : step == 2 ? v.s23016745ab89efcd : v.s45670123cdef89ab;
#else
    return step == 1 ? v.s10325476 : step == 2 ? v.s23016745 : v.s45670123;
#endif
}

/* The group width of a bundle of count slices of axis entries: axis where VEC whole slices
 * fill whole vectors, a power of two below VEC, else 0 (no grouping). The callers pass each
 * width on as a constant, so that the loops over a bundle's vectors unroll into registers. */
INLINE uint grouped_width(uint count, ulong axis)
{
    if (count < VEC)
        return 0;
    return axis == 2 ? 2 : axis == 4 ? 4 : VEC > 8 && axis == 8 ? 8 : 0;
}

/* Lane k of the result reduces the aligned group of `width` lanes (2, 4 or 8) that holds
 * lane k, by a butterfly: each step meets the lane `step` away. Every lane of a group ends
 * with the same value, as a + b == b + a, and max_v is symmetric where no lane is NaN (a NaN
 * makes its slice's sum NaN whatever its max). */
INLINE realv group_max(realv v, uint width)
{
    for (uint step = 1; step < width; step *= 2)
        v = max_v(swap_lanes(v, step), v);
    return v;
}

/* The compensated sum of each group, as group_max: TwoSum's error term is exact, so either
 * order of a pair gives the same sum and error. Log-softmax needs the error term: a slice's
 * dominant output is -log(sum), whose size is sum's rounding error. */
INLINE void group_sum(realv v, uint width, realv *sum, realv *comp)
{
    realv c = 0;
    for (uint step = 1; step < width; step *= 2) {
        realv e;
        c += swap_lanes(c, step);
        TWO_SUM(v, swap_lanes(v, step), v, e);
        c += e;
    }
    *sum = v;
    *comp = c;
}

#if DTYPE_F64
#define WEIGHT_LEAST -708
#else
#define WEIGHT_LEAST -87
#endif

/* exp(a*u - (hi + lo)) per lane, for a finite shift. */
INLINE realv weights(realv u, real a, real hi, real lo)
{
    realv d = fma((realv)a, u, (realv)-hi) - lo;
#if ALIBI
    /* Below exp(WEIGHT_LEAST) a weight would be subnormal, and a vector instruction that
     * makes or takes a subnormal costs a microcode assist on x86 (PoCL does not flush them).
     * ALiBi's distances put a band of such weights in most slices, which doubled their time
     * (PoCL 3.1, AVX-512), so there they are 0: at most 1.7e-38 (3.3e-308 in f64), they
     * change no sum (at least 1), and their outputs stay within the contract's absolute
     * floor. NaN stays NaN, as isless is false for it. Only under ALiBi, so that the
     * other calls' code stays as it was measured. */
    realv least = (realv)WEIGHT_LEAST;
    return select(exp(select(d, (realv)0, isless(d, least))), (realv)0, isless(d, least));
#else
    return exp(d);
#endif
}

/* add_compensated, lane by lane. */
INLINE void sum_step(realv w, realv *sum, realv *comp)
{
    realv y = w + *comp;
    TWO_SUM(*sum, y, *sum, *comp);
}

/* VEC elements lane_stride apart: one load when they are neighbours. */
INLINE realv load_lanes(global const store_t *p, ulong lane_stride)
{
    if (lane_stride == 1)
        return VLOAD(p);
    real lanes[VEC];
    for (uint k = 0; k < VEC; ++k)
        lanes[k] = LOAD(p, k * lane_stride);
    return VLOAD_REAL(lanes);
}

INLINE void store_lanes(global store_t *p, ulong lane_stride, realv v)
{
    if (lane_stride == 1) {
        VSTORE_CANONICAL(p, v);
        return;
    }
    real lanes[VEC];
    VSTORE_REAL(lanes, canonical_v(v));
    for (uint k = 0; k < VEC; ++k)
        STORE(p, k * lane_stride, lanes[k]);
}

/* TwoSum of lo + hi, lane by lane, with both error terms kept. */
#define FOLD_SUMS(type, lo_sum, hi_sum, lo_comp, hi_comp, sum_out, comp_out) \
    do {                                                                    \
        type error_;                                                        \
        TWO_SUM((type)(lo_sum), (type)(hi_sum), sum_out, error_);           \
        comp_out = (lo_comp) + (hi_comp) + error_;                          \
    } while (0)

/* Per-lane max of u over n contiguous entries from entry j0 of the slice on, NaN ignored:
 * a NaN makes its weight, the range's sum and so every output computed from the total NaN,
 * which costs nothing per element. */
INLINE realv range_max(global const store_t *x, ulong n, const slice_ctx *c, ulong j0)
{
    ulong full = n - n % VEC;
    realv umax = (realv)(-INFINITY);
#if SOFTCAP && !MASK && !ALIBI
    /* The cap is increasing and comes last: the max of the capped u is the cap of the max,
     * one cap per slice instead of one per entry (the cap costs more than the exp). */
    for (ulong i = 0; i < full; i += VEC)
        umax = max_v(scaled_uv(VLOAD(x + i), c), umax);
    if (full)
        umax = soft_cap_v(umax, c->softcap);
#else
    for (ulong i = 0; i < full; i += VEC)
        umax = max_v(entry_uv(VLOAD(x + i), c, j0 + i), umax);
#endif
    if (full < n)
        umax = max_v(load_tail(x + full, n - full, c, j0 + full, -INFINITY), umax);
    return umax;
}

/* Weights a lane adds plainly before the block's sum joins the compensated one: a
 * compensated step is a chain of four dependent additions, which every vector would wait
 * on, and a plain one is a single addition. The weights are positive, so a block's sum of
 * at most SUM_BLOCK terms is within (SUM_BLOCK - 1) u of exact (u = 2^-24 in f32): 4.2e-7,
 * for any slice length, as the blocks are compensated. */
#define SUM_BLOCK 8

/* Per-lane compensated sums of the weights of n contiguous elements against the finite
 * shift hi + lo. With weights_out the weights are also written there, so that softmax
 * can scale them instead of computing every exp twice. */
INLINE void range_sum(global const store_t *x, ulong n, const slice_ctx *c, ulong j0, real hi,
                      real lo, realv *sum_out, realv *comp_out, global store_t *weights_out)
{
    /* Accumulated in locals: through the pointers, every step would wait on memory, the
     * compiler being unable to rule out that weights_out aliases them. */
    ulong full = n - n % VEC;
    realv sum = 0, comp = 0;
    for (ulong i = 0; i < full;) {
        realv block = 0;
        for (ulong end = min(full, i + SUM_BLOCK * VEC); i < end; i += VEC) {
            realv w = weights(entry_uv(VLOAD(x + i), c, j0 + i), c->a, hi, lo);
            if (weights_out)
                VSTORE(weights_out + i, w);
            block += w;
        }
        sum_step(block, &sum, &comp);
    }
    if (full < n) {
        realv w = weights(load_tail(x + full, n - full, c, j0 + full, -INFINITY), c->a, hi, lo);
        if (weights_out)
            store_tail(weights_out + full, n - full, w);
        sum_step(w, &sum, &comp);
    }
    *sum_out = sum;
    *comp_out = comp;
}

#if VEC == 16
/* Lane k of the result is the max of m[k]'s lanes. Each level halves the lanes per
 * range and doubles the ranges per vector, in a fixed order. */
INLINE realv lanes_max(const realv *m)
{
    realv t[8], u[4], w[2];
    for (uint i = 0; i < 8; ++i) {
        realv p = m[2 * i], q = m[2 * i + 1];
        t[i] = max_nan_v((realv)(p.lo, q.lo), (realv)(p.hi, q.hi));
    }
    for (uint i = 0; i < 4; ++i) {
        realv p = t[2 * i], q = t[2 * i + 1];
        u[i] = max_nan_v((realv)(p.s0123, p.s89ab, q.s0123, q.s89ab),
                         (realv)(p.s4567, p.scdef, q.s4567, q.scdef));
    }
    for (uint i = 0; i < 2; ++i) {
        realv p = u[2 * i], q = u[2 * i + 1];
        w[i] = max_nan_v((realv)(p.s01, p.s45, p.s89, p.scd, q.s01, q.s45, q.s89, q.scd),
                         (realv)(p.s23, p.s67, p.sab, p.sef, q.s23, q.s67, q.sab, q.sef));
    }
    return max_nan_v((realv)(w[0].even, w[1].even), (realv)(w[0].odd, w[1].odd));
}

/* Lane k of sum + comp is the compensated total of s[k] + c[k], in lanes_max's order. */
INLINE void lanes_sum(const realv *s, const realv *c, realv *sum, realv *comp)
{
    realv ts[8], tc[8], us[4], uc[4], ws[2], wc[2];
    for (uint i = 0; i < 8; ++i) {
        realv p = s[2 * i], q = s[2 * i + 1], pc = c[2 * i], qc = c[2 * i + 1];
        FOLD_SUMS(realv, ((realv)(p.lo, q.lo)), ((realv)(p.hi, q.hi)),
                  ((realv)(pc.lo, qc.lo)), ((realv)(pc.hi, qc.hi)), ts[i], tc[i]);
    }
    for (uint i = 0; i < 4; ++i) {
        realv p = ts[2 * i], q = ts[2 * i + 1], pc = tc[2 * i], qc = tc[2 * i + 1];
        FOLD_SUMS(realv, ((realv)(p.s0123, p.s89ab, q.s0123, q.s89ab)),
                  ((realv)(p.s4567, p.scdef, q.s4567, q.scdef)),
                  ((realv)(pc.s0123, pc.s89ab, qc.s0123, qc.s89ab)),
                  ((realv)(pc.s4567, pc.scdef, qc.s4567, qc.scdef)), us[i], uc[i]);
    }
    for (uint i = 0; i < 2; ++i) {
        realv p = us[2 * i], q = us[2 * i + 1], pc = uc[2 * i], qc = uc[2 * i + 1];
        FOLD_SUMS(realv,
                  ((realv)(p.s01, p.s45, p.s89, p.scd, q.s01, q.s45, q.s89, q.scd)),
                  ((realv)(p.s23, p.s67, p.sab, p.sef, q.s23, q.s67, q.sab, q.sef)),
                  ((realv)(pc.s01, pc.s45, pc.s89, pc.scd, qc.s01, qc.s45, qc.s89, qc.scd)),
                  ((realv)(pc.s23, pc.s67, pc.sab, pc.sef, qc.s23, qc.s67, qc.sab, qc.sef)),
                  ws[i], wc[i]);
    }
    FOLD_SUMS(realv, ((realv)(ws[0].even, ws[1].even)), ((realv)(ws[0].odd, ws[1].odd)),
              ((realv)(wc[0].even, wc[1].even)), ((realv)(wc[0].odd, wc[1].odd)), *sum, *comp);
}
#else
/* The same results one range at a time, by halving: for VEC 8 (f64). */
INLINE real reduce_max(realv v)
{
    if (any(isnan(v)))
        return NAN;
    double4 v4 = fmax(v.lo, v.hi);
    double2 v2 = fmax(v4.lo, v4.hi);
    return fmax(v2.x, v2.y);
}

INLINE realv lanes_max(const realv *m)
{
    real r[VEC];
    for (uint k = 0; k < VEC; ++k)
        r[k] = reduce_max(m[k]);
    return VLOAD_REAL(r);
}

INLINE void lanes_sum(const realv *s, const realv *c, realv *sum, realv *comp)
{
    real rs[VEC], rc[VEC];
    for (uint k = 0; k < VEC; ++k) {
        double4 s4, c4;
        FOLD_SUMS(double4, s[k].lo, s[k].hi, c[k].lo, c[k].hi, s4, c4);
        double2 s2, c2;
        FOLD_SUMS(double2, s4.lo, s4.hi, c4.lo, c4.hi, s2, c2);
        FOLD_SUMS(real, s2.x, s2.y, c2.x, c2.y, rs[k], rc[k]);
    }
    *sum = VLOAD_REAL(rs);
    *comp = VLOAD_REAL(rc);
}
#endif

/* The states of count <= VEC ranges of x, range k at offset offs[k] with lens[k]
 * entries, those of slice slice0 + k from its entry j0s[k] on, as lanes: lane k of each
 * result belongs to range k. With weights_out, the weights of a range with a finite shift
 * are also written at weights_out + offs[k]. */
INLINE void bundle_states(global const store_t *x, const ulong *offs, const ulong *lens,
                         const ulong *j0s, uint count, const options *o, ulong slice0,
                         global store_t *weights_out, realv *umax, realv *hi, realv *lo,
                         realv *sum, realv *comp)
{
    real a = o->a;
    realv sums[VEC], comps[VEC];
    for (uint k = 0; k < VEC; ++k) {
        sums[k] = (realv)0;
        /* Past count there is no slice, and its context would read options past its end
         * (a kv_lengths entry past the batch). */
        if (k >= count)
            continue;
        slice_ctx c = slice_ctx_of(o, slice0 + k);
        sums[k] = range_max(x + offs[k], lens[k], &c, j0s[k]);
    }
    *umax = lanes_max(sums);
    *hi = a * *umax;
    *lo = select(fma((realv)a, *umax, -*hi), (realv)0, isinf(*hi));

    real his[VEC], los[VEC];
    VSTORE_REAL(his, *hi);
    VSTORE_REAL(los, *lo);
    for (uint k = 0; k < VEC; ++k) {
        sums[k] = 0;
        comps[k] = 0;
        if (k >= count)
            continue;
        slice_ctx c = slice_ctx_of(o, slice0 + k);
        if (isfinite(his[k])) {
            range_sum(x + offs[k], lens[k], &c, j0s[k], his[k], los[k], &sums[k], &comps[k],
                      weights_out ? weights_out + offs[k] : 0);
        } else {
            state st = range_state_scalar(x + offs[k], 1, lens[k], &c, j0s[k]);
            sums[k].s0 = st.sum;
            comps[k].s0 = st.comp;
        }
    }
    lanes_sum(sums, comps, sum, comp);
    /* The vector max skips NaN; where a NaN meets an infinite shift, only the scalar
     * path's sum has seen it, and the output rules for an infinite shift would not. */
    *umax = select(*umax, *sum, isnan(*sum));
    *hi = select(*hi, *sum, isnan(*sum));
}

/* shifted(), lane by lane. */
INLINE realv shifted_v(realv u, real a, realv hi, realv lo)
{
    return select(fma((realv)a, u, -hi) - lo, (realv)(-INFINITY),
                  isequal((realv)a * u, (realv)(-INFINITY)));
}

/* The paths over several slices at once pass j = 0 to entry_uv, so they exist only where no
 * option makes u depend on the row or on j (ROW_OPTIONS, from kernel_args.h): a call under
 * such an option does not compile. */
#if !ROW_OPTIONS
/* width * VEC whole slices at once, one per lane of width vectors: slice b * VEC + k's
 * element j at x[(b * VEC + k) * lane_stride + j * stride]. Every step is a vector
 * operation, with nothing to fold across lanes. Returns 0, having written nothing, when a
 * lane's shift is not finite: those slices need the scalar path's rules. A NaN among finite
 * values makes its lane's sum, so its total, and so every output of the lane NaN. Only
 * without ROW_OPTIONS and SLICE_STATS, where every slice has the same context c; width is
 * a constant (1 or CLSM_COLUMNS_WIDE) at every call, so that the loops over it unroll. */
INLINE int lanes_slices(global const store_t *x, global store_t *y, ulong lane_stride,
                        ulong stride, ulong axis, uint width, const slice_ctx *c)
{
    real a = c->a;
    ulong block = VEC * lane_stride;
    realv umax[CLSM_COLUMNS_WIDE], hi[CLSM_COLUMNS_WIDE], lo[CLSM_COLUMNS_WIDE];
    for (uint b = 0; b < width; ++b)
        umax[b] = (realv)(-INFINITY);
    for (ulong j = 0; j < axis; ++j)
        for (uint b = 0; b < width; ++b)
            umax[b] = max_v(entry_uv(load_lanes(x + j * stride + b * block, lane_stride), c, 0),
                            umax[b]);
    for (uint b = 0; b < width; ++b) {
        hi[b] = a * umax[b];
        lo[b] = fma((realv)a, umax[b], -hi[b]);
        if (!all(isfinite(hi[b])))
            return 0;
    }
    realv sum[CLSM_COLUMNS_WIDE], comp[CLSM_COLUMNS_WIDE];
    for (uint b = 0; b < width; ++b)
        sum[b] = comp[b] = 0;
    for (ulong j = 0; j < axis; ++j)
        for (uint b = 0; b < width; ++b) {
            ulong at = j * stride + b * block;
            realv w = exp(fma((realv)a, entry_uv(load_lanes(x + at, lane_stride), c, 0), -hi[b]) -
                          lo[b]);
#if KEEP_WEIGHTS
            store_lanes(y + at, lane_stride, w);
#endif
            sum_step(w, &sum[b], &comp[b]);
        }
#if KEEP_WEIGHTS
    realv inverse[CLSM_COLUMNS_WIDE];
    for (uint b = 0; b < width; ++b)
        inverse[b] = 1 / (sum[b] + comp[b]);
    for (ulong j = 0; j < axis; ++j)
        for (uint b = 0; b < width; ++b) {
            ulong at = j * stride + b * block;
            store_lanes(y + at, lane_stride, load_lanes(y + at, lane_stride) * inverse[b]);
        }
#else
    realv total[CLSM_COLUMNS_WIDE], log_total[CLSM_COLUMNS_WIDE];
    for (uint b = 0; b < width; ++b) {
        total[b] = sum[b] + comp[b];
        /* sum >= 1 (the max weighs exactly 1), so sum - 1 is exact where it matters. */
        log_total[b] = log1p((sum[b] - 1) + comp[b]);
    }
    for (ulong j = 0; j < axis; ++j)
        for (uint b = 0; b < width; ++b) {
            ulong at = j * stride + b * block;
            realv d = shifted_v(entry_uv(load_lanes(x + at, lane_stride), c, 0), a, hi[b], lo[b]);
#if LOG_SOFTMAX
            store_lanes(y + at, lane_stride, d - log_total[b]);
#else
            store_lanes(y + at, lane_stride, exp(d) / total[b]);
#endif
        }
#endif
    return 1;
}

/* The columns of one [axis, inner] slab with 1 < inner < VEC, walked as the contiguous
 * range it is, so that every load and store is a whole vector: lane k of the slab's vector t
 * holds column (t * VEC + k) % inner, a pattern that repeats every period = inner /
 * gcd(inner, VEC) vectors. Each reduction keeps one vector per step of the period. The
 * period's VEC * period lanes are then rows * inner of them, rows of inner columns (rows =
 * VEC / gcd(inner, VEC), a power of two), so that summing its rows, each one (unaligned)
 * vector load from a private copy, folds the lanes into columns: lane i of the result is
 * column i's, the lanes past inner unused. The output pass spreads a vector of columns
 * back over the period, by storing it at every row. */

/* The period: the odd part of inner, VEC being a power of two above it; at most VEC - 1. */
INLINE uint slab_period(uint inner)
{
    return inner / (inner & (~inner + 1));
}

/* A period's lanes, and a vector past them that the last row's load reads. */
#define SLAB_LANES (VEC * VEC)

/* Lane by lane, for the `period` vectors of a period, the value in `columns` of each lane's
 * column. */
INLINE void slab_spread(realv columns, uint inner, uint period, realv *out)
{
    real lanes[SLAB_LANES];
    /* Row r + 1 overwrites what row r leaves past its inner lanes. */
    for (uint r = 0; r < VEC * period / inner; ++r)
        VSTORE_REAL(lanes + r * inner, columns);
    for (uint t = 0; t < period; ++t)
        out[t] = VLOAD_REAL(lanes + t * VEC);
}

/* Column i's max of the per-lane maxima m in lane i. The rows, a power of two of them,
 * fold pairwise, so that the chain of dependent steps is short. */
INLINE realv slab_fold_max(const realv *m, uint inner, uint period)
{
    real lanes[SLAB_LANES];
    for (uint t = 0; t < period; ++t)
        VSTORE_REAL(lanes + t * VEC, m[t]);
    VSTORE_REAL(lanes + period * VEC, (realv)(-INFINITY));
    uint rows = VEC * period / inner;
    realv row[VEC];
    for (uint r = 0; r < rows; ++r)
        row[r] = VLOAD_REAL(lanes + r * inner);
    for (uint step = 1; step < rows; step *= 2)
        for (uint r = 0; r < rows; r += 2 * step)
            row[r] = max_v(row[r + step], row[r]);
    return row[0];
}

/* Column i's compensated total of the per-lane sum + comp in lane i of *sum + *comp, the
 * rows folded pairwise in a fixed order. */
INLINE void slab_fold_sums(const realv *sums, const realv *comps, uint inner, uint period,
                           realv *sum, realv *comp)
{
    real s[SLAB_LANES], c[SLAB_LANES];
    for (uint t = 0; t < period; ++t) {
        VSTORE_REAL(s + t * VEC, sums[t]);
        VSTORE_REAL(c + t * VEC, comps[t]);
    }
    VSTORE_REAL(s + period * VEC, (realv)0);
    VSTORE_REAL(c + period * VEC, (realv)0);
    uint rows = VEC * period / inner;
    realv row_sum[VEC], row_comp[VEC];
    for (uint r = 0; r < rows; ++r) {
        row_sum[r] = VLOAD_REAL(s + r * inner);
        row_comp[r] = VLOAD_REAL(c + r * inner);
    }
    for (uint step = 1; step < rows; step *= 2)
        for (uint r = 0; r < rows; r += 2 * step)
            FOLD_SUMS(realv, row_sum[r], row_sum[r + step], row_comp[r], row_comp[r + step],
                      row_sum[r], row_comp[r]);
    *sum = row_sum[0];
    *comp = row_comp[0];
}

/* u of vector v of the slab: whole below full, else the rest entries of the tail, the
 * lanes past them set to pad. */
INLINE realv slab_u(global const store_t *x, ulong v, ulong full, uint rest, const slice_ctx *c,
                    real pad)
{
    if (v < full)
        return entry_uv(VLOAD(x + v * VEC), c, 0);
    return load_tail(x + full * VEC, rest, c, 0, pad);
}

/* Stores vector v of the slab, as slab_u loads it; with stream, past the cache (y must
 * then be aligned to a vector). */
INLINE void slab_store(global store_t *y, ulong v, ulong full, uint rest, realv w, uint stream)
{
    if (v >= full)
        store_tail(y + full * VEC, rest, w);
    else if (stream)
        VSTORE_STREAM(y + v * VEC, w);
    else
        VSTORE(y + v * VEC, w);
}

/* The slab at x (inner columns of axis entries, entry j of column i at x[j * inner + i]),
 * every column a slice with context c; period is slab_period(inner), passed apart so that
 * a call with a constant one keeps the accumulators in registers. Returns 0, having
 * written nothing, when a column's shift is not finite: those slices need the scalar
 * path's rules. A NaN among finite values makes its column's sum, so its total, and so
 * every output of the column NaN (written as the canonical NaN). Only without ROW_OPTIONS
 * and SLICE_STATS, as lanes_slices. */
INLINE int slab_columns_of(global const store_t *x, global store_t *y, ulong axis, uint inner,
                           uint period, const slice_ctx *c, uint stream)
{
    real a = c->a;
    ulong n = axis * inner, full = n / VEC;
    uint rest = (uint)(n % VEC);
    ulong vectors = full + (rest != 0);

    /* Per-lane max of u, one vector per step of the period; NaN is ignored, as in
     * range_max. */
    realv acc[VEC - 1];
    for (uint t = 0; t < period; ++t)
        acc[t] = (realv)(-INFINITY);
    for (ulong i = 0; i < vectors; i += period)
        for (uint t = 0; t < period && i + t < vectors; ++t)
            acc[t] = max_v(slab_u(x, i + t, full, rest, c, -INFINITY), acc[t]);
    realv umax = slab_fold_max(acc, inner, period);
    realv hi = a * umax;
    real his[VEC];
    VSTORE_REAL(his, hi);
    for (uint k = 0; k < inner; ++k)
        if (!isfinite(his[k]))
            return 0;
    realv lo = fma((realv)a, umax, -hi);

    realv hv[VEC - 1], lv[VEC - 1], sums[VEC - 1], comps[VEC - 1];
    slab_spread(hi, inner, period, hv);
    slab_spread(lo, inner, period, lv);
    for (uint t = 0; t < period; ++t)
        sums[t] = comps[t] = 0;
    for (ulong i = 0; i < vectors; i += period)
        for (uint t = 0; t < period && i + t < vectors; ++t) {
            realv w = exp(fma((realv)a, slab_u(x, i + t, full, rest, c, -INFINITY), -hv[t]) -
                          lv[t]);
#if KEEP_WEIGHTS
            slab_store(y, i + t, full, rest, w, 0);
#endif
            sum_step(w, &sums[t], &comps[t]);
        }
    realv sum, comp;
    slab_fold_sums(sums, comps, inner, period, &sum, &comp);

#if LOG_SOFTMAX
    /* sum >= 1 (the max weighs exactly 1), so sum - 1 is exact where it matters. */
    realv ltv[VEC - 1];
    slab_spread(log1p((sum - 1) + comp), inner, period, ltv);
    for (ulong i = 0; i < vectors; i += period)
        for (uint t = 0; t < period && i + t < vectors; ++t) {
            realv d = shifted_v(slab_u(x, i + t, full, rest, c, 0), a, hv[t], lv[t]);
            slab_store(y, i + t, full, rest, canonical_v(d - ltv[t]), stream);
        }
#else
    /* A product rounds once more than a quotient, well inside the bound, and costs a
     * fraction of a vector division. */
    realv iv[VEC - 1];
    slab_spread(1 / (sum + comp), inner, period, iv);
    for (ulong i = 0; i < vectors; i += period)
        for (uint t = 0; t < period && i + t < vectors; ++t) {
            ulong v = i + t;
#if KEEP_WEIGHTS
            realv w;
            if (v < full) {
                w = VLOAD(y + v * VEC);
            } else {
                real lanes[VEC];
                for (uint k = 0; k < VEC; ++k)
                    lanes[k] = k < rest ? LOAD(y + full * VEC, k) : 0;
                w = VLOAD_REAL(lanes);
            }
#else
            realv w = exp(shifted_v(slab_u(x, v, full, rest, c, 0), a, hv[t], lv[t]));
#endif
            slab_store(y, v, full, rest, canonical_v(w * iv[t]), stream);
        }
#endif
    return 1;
}

/* slab_columns_of, with the period of inner 2, 4 and 8 (1) as a constant. A constant
 * period 3 too (inner 3, 6, 12) showed no gain above the noise of a shared machine, for
 * a third more code to compile. */
INLINE int slab_columns(global const store_t *x, global store_t *y, ulong axis, uint inner,
                        const slice_ctx *c, uint stream)
{
#if KEEP_WEIGHTS
    /* Weights kept in y are read back: only outputs written once go past the cache. */
    stream = 0;
#endif
    stream = stream && (ulong)y % sizeof(realv) == 0;
    uint period = slab_period(inner);
    if (period == 1)
        return slab_columns_of(x, y, axis, inner, 1, c, stream);
    return slab_columns_of(x, y, axis, inner, period, c, stream);
}
#endif

#if STATS_IN
#define OUTPUTS_NAN_FIXED(v) canonical_v(v)
#else
#define OUTPUTS_NAN_FIXED(v) (v)
#endif

INLINE realv outputs(realv u, slice_norm nm, real a)
{
    realv d = shifted_v(u, a, (realv)nm.hi, (realv)nm.lo);
#if LOG_SOFTMAX
    return d - nm.log_total;
#else
    return exp(d) / nm.total;
#endif
}

/* Writes the n contiguous outputs of a range whose slice has norm nm; with stream, past
 * the cache where y is aligned for it. */
INLINE void range_output(global const store_t *x, global store_t *y, ulong n, slice_norm nm,
                         const slice_ctx *c, ulong j0, uint stream)
{
    if (!isfinite(nm.hi)) {
        range_output_scalar(x, y, 1, n, nm, c, j0);
        return;
    }
    ulong full = n - n % VEC;
    if (stream && (ulong)y % sizeof(realv) == 0) {
        for (ulong i = 0; i < full; i += VEC)
            VSTORE_STREAM(y + i, OUTPUTS_NAN_FIXED(outputs(entry_uv(VLOAD(x + i), c, j0 + i), nm, c->a)));
    } else {
        for (ulong i = 0; i < full; i += VEC)
            VSTORE(y + i, OUTPUTS_NAN_FIXED(outputs(entry_uv(VLOAD(x + i), c, j0 + i), nm, c->a)));
    }
    if (full < n)
        store_tail(y + full, n - full,
                   OUTPUTS_NAN_FIXED(outputs(load_tail(x + full, n - full, c, j0 + full, 0), nm, c->a)));
}

/* n contiguous masked outputs (fill_masked_scalar). */
INLINE void range_fill_masked(global store_t *y, ulong n, slice_norm nm)
{
    realv v = (realv)masked_output(nm);
    ulong full = n - n % VEC;
    for (ulong i = 0; i < full; i += VEC)
        VSTORE_CANONICAL(y + i, v);
    fill_masked_scalar(y, 1, full, n, nm);
}

/* Divides the n weights that bundle_states wrote at y by the slice's total. */
INLINE void range_scale(global store_t *y, ulong n, slice_norm nm)
{
    /* A product rounds once more than a quotient, well inside the bound, and costs a
     * fraction of a vector division. */
    real inverse = 1 / nm.total;
    ulong full = n - n % VEC;
    for (ulong i = 0; i < full; i += VEC)
        VSTORE(y + i, VLOAD(y + i) * inverse);
    for (ulong i = full; i < n; ++i)
        STORE(y, i, LOAD(y, i) * inverse);
}
