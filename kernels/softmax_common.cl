/* Shared by every softmax kernel: storage types, the running (max, sum) state and the output rule.
 *
 * Build options: exactly one of -DDTYPE_F32 -DDTYPE_F16 -DDTYPE_BF16 -DDTYPE_F64, and
 * -DLOG_SOFTMAX=0|1, -DZERO_SCALE=0|1 (set when scale == 0, which means the uniform
 * distribution; 0 * inf would otherwise make NaN out of a non-NaN input).
 * Never build with -cl-fast-relaxed-math or -cl-finite-math-only: every rule below
 * relies on IEEE infinities and NaN.
 *
 * With s = scale, write s*v = a*u where a = |s| and u = sign(s)*v. The max of the
 * exact products is a*max(u), so the state tracks max(u), which compares exactly, and
 * keeps the shift a*max(u) as an unevaluated sum hi + lo (hi = fl(a*max u), lo its
 * rounding error). An entry then weighs exp(fma(a, u, -hi) - lo): exactly 1 for the
 * max itself and never above 1, however large the values; a shift rounded to f32
 * alone can sit ulp(hi)/2 away from the true max, and exp of that overflows.
 *
 * The contract's special values fall out of three rules:
 *  - the max is NaN-propagating, so a NaN anywhere makes the shift, and so every
 *    output, NaN;
 *  - when hi is infinite (an infinite entry, or a product that overflows f32), an
 *    entry weighs 1 if its product equals hi and 0 otherwise: k entries at +inf share
 *    the mass as 1/k, and a fully -inf slice is recognised by hi = -inf and written as
 *    0 (softmax) or -inf (log-softmax);
 *  - sums carry their rounding errors (TwoSum), so slices of 2^24 and more meet the
 *    accuracy bound, and the error term also feeds log1p, so log-softmax stays
 *    accurate near 0.
 */

/* TwoSum and the hi + lo shift are exact only if no a*b + c is fused behind our back. */
#pragma OPENCL FP_CONTRACT OFF

#if DTYPE_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
typedef double store_t;
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#elif DTYPE_F32
typedef float real;
typedef float store_t;
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#elif DTYPE_F16
/* Storage only: vload_half and vstore_half are core OpenCL, no cl_khr_fp16 needed. */
typedef float real;
typedef half store_t;
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half_rte((v), (i), (p))
#elif DTYPE_BF16
typedef float real;
typedef ushort store_t;
#define LOAD(p, i) as_float((uint)(p)[i] << 16)
#define STORE(p, i, v) ((p)[i] = bf16_from_float(v))

/* Round to nearest even; NaN stays NaN (quiet) instead of rounding into infinity. */
ushort bf16_from_float(float f)
{
    uint b = as_uint(f);
    if (isnan(f))
        return (ushort)((b >> 16) | 0x40u);
    return (ushort)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
#else
#error "build with one of DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_F64"
#endif

typedef struct {
    real umax;     /* max of u = sign(scale)*v so far, NaN once a NaN was seen */
    real hi, lo;   /* a*umax as hi + lo */
    real sum;      /* sum of weights relative to a*umax is sum + comp, comp holding */
    real comp;     /* the rounding errors of the additions */
} state;

/* What the output pass needs of a whole slice. */
typedef struct {
    real hi, lo;
    real total;
    real log_total;
} slice_norm;

real max_nan(real a, real b)
{
    return (a > b || isnan(a)) ? a : b;
}

void set_max(state *s, real umax, real a)
{
    s->umax = umax;
    s->hi = a * umax;
    s->lo = isinf(s->hi) ? (real)0 : fma(a, umax, -s->hi);
}

state state_empty(real a)
{
    state s;
    set_max(&s, -INFINITY, a);
    s.sum = 0;
    s.comp = 0;
    return s;
}

/* exp(a*u - (hi + lo)), the weight of u against the shift hi + lo. */
real weight(real u, real a, real hi, real lo)
{
    if (isinf(hi))
        return a * u == hi ? (real)1 : (real)0;
    return exp(fma(a, u, -hi) - lo);
}

/* The a of s*v = a*u. The zero-scale variant uses 1: its u are all 0 (or NaN), and
 * 0 * -inf, the empty state's max, would be NaN. */
real scale_magnitude(real scale)
{
#if ZERO_SCALE
    return 1;
#else
    return fabs(scale);
#endif
}

/* sign(scale)*v, or 0 for the zero-scale variant, where only NaN must survive. */
real to_u(real v, real scale)
{
#if ZERO_SCALE
    return isnan(v) ? v : (real)0;
#else
    return copysign((real)1, scale) * v;
#endif
}

/* Kahan summation with the error of each addition taken by TwoSum, exact whichever of
 * sum and w is larger: plain Kahan loses the small terms when a new max adds 1 to a
 * rescaled, tiny sum, and those terms are all log-softmax has near 0. Feeding comp back
 * into the next term, rather than summing the errors apart, keeps comp small enough
 * that its own rounding does not drift over 2^24 terms. */
void add_compensated(state *s, real w)
{
    real y = w + s->comp;
    real sum = s->sum + y;
    real y_part = sum - s->sum;
    s->comp = (s->sum - (sum - y_part)) + (y - y_part);
    s->sum = sum;
}

void state_add(state *s, real u, real a)
{
    real umax = max_nan(s->umax, u);
    if (!(umax == s->umax)) {
        real old = s->umax;
        set_max(s, umax, a);
        real f = weight(old, a, s->hi, s->lo);
        s->sum *= f;
        s->comp *= f;
    }
    add_compensated(s, weight(u, a, s->hi, s->lo));
}

/* Folds b into s; the caller fixes the order of merges, so results are deterministic.
 * Unlike add_compensated, the comps are added apart from the TwoSum of the sums: fed
 * into b.sum, s->comp would vanish when b holds the max and s->comp the only trace of
 * the small terms. */
void state_merge(state *s, state b, real a)
{
    real fa = 1, fb = 1;
    if (!(s->umax == b.umax)) {
        real old = s->umax;
        set_max(s, max_nan(old, b.umax), a);
        fa = weight(old, a, s->hi, s->lo);
        fb = weight(b.umax, a, s->hi, s->lo);
    }
    real x = s->sum * fa, y = b.sum * fb;
    real sum = x + y;
    real y_part = sum - x;
    s->comp = s->comp * fa + b.comp * fb + ((x - (sum - y_part)) + (y - y_part));
    s->sum = sum;
}

slice_norm norm_of(state s)
{
    slice_norm n;
    n.hi = s.hi;
    n.lo = s.lo;
    n.total = s.sum + s.comp;
    /* sum >= 1 (the max weighs exactly 1), so sum - 1 is exact where it matters. */
    n.log_total = log1p((s.sum - 1) + s.comp);
    return n;
}

real output(real u, slice_norm n, real a)
{
#if LOG_SOFTMAX
    if (isinf(n.hi))
        return (n.hi > 0 && a * u == n.hi) ? -n.log_total : -INFINITY;
    return (fma(a, u, -n.hi) - n.lo) - n.log_total;
#else
    if (isinf(n.hi))
        return (n.hi > 0 && a * u == n.hi) ? 1 / n.total : (real)0;
    return exp(fma(a, u, -n.hi) - n.lo) / n.total;
#endif
}
