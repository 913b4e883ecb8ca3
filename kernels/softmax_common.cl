/* Shared by every softmax kernel: storage types, the running (max, sum) state and the output rule.
 *
 * Build options: exactly one of -DDTYPE_F32 -DDTYPE_F16 -DDTYPE_BF16 -DDTYPE_F64, and
 * -DLOG_SOFTMAX=0|1, -DZERO_SCALE=0|1 (set when scale == 0, which means the uniform
 * distribution; 0 * inf would otherwise make NaN out of a non-NaN input).
 * Never build with -cl-fast-relaxed-math or -cl-finite-math-only: every rule below
 * relies on IEEE infinities and NaN.
 *
 * The contract's special values fall out of three rules:
 *  - the max is NaN-propagating, so a NaN anywhere makes the slice's max, and so every
 *    output, NaN;
 *  - when the max is infinite, an entry weighs 1 if it equals the max and 0 otherwise:
 *    k entries at +inf share the mass as 1/k, and a fully -inf slice is recognised by
 *    its max and written as 0 (softmax) or -inf (log-softmax);
 *  - with a finite max m, an entry weighs exp(fma(scale, v, -m)): the fma keeps
 *    scale*v - m exact to one rounding, and the rounding of m itself cancels out.
 * Sums are Kahan-compensated so slices of 2^24 and more meet the accuracy bound.
 */
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

#if ZERO_SCALE
#define PREPARE(v) (isnan(v) ? (v) : (real)0)
#else
#define PREPARE(v) (v)
#endif

typedef struct {
    real max;  /* max of scale*v so far, NaN once a NaN was seen */
    real sum;  /* sum of weights relative to max, Kahan-compensated by comp */
    real comp;
} state;

/* What the output pass needs of a whole slice. */
typedef struct {
    real max;
    real total;
    real log_total;
} slice_norm;

state state_empty(void)
{
    state s;
    s.max = -INFINITY;
    s.sum = 0;
    s.comp = 0;
    return s;
}

real max_nan(real a, real b)
{
    return (a > b || isnan(a)) ? a : b;
}

/* exp(from - to) for from <= to, exact 1 when equal so infinities never meet as inf - inf. */
real rescale(real from, real to)
{
    return from == to ? (real)1 : exp(from - to);
}

real weight(real v, real t, real max, real scale)
{
    if (isinf(max))
        return t == max ? (real)1 : (real)0;
    return exp(fma(scale, v, -max));
}

void state_add(state *s, real v, real scale)
{
    v = PREPARE(v);
    real t = scale * v;
    real max = max_nan(s->max, t);
    if (max != s->max) {
        real f = rescale(s->max, max);
        s->sum *= f;
        s->comp *= f;
        s->max = max;
    }
    real y = weight(v, t, max, scale) - s->comp;
    real sum = s->sum + y;
    s->comp = (sum - s->sum) - y;
    s->sum = sum;
}

/* Folds b into a; the order of merges is fixed by the caller, so results are deterministic. */
void state_merge(state *a, state b)
{
    real max = max_nan(a->max, b.max);
    a->sum = (a->sum - a->comp) * rescale(a->max, max) + (b.sum - b.comp) * rescale(b.max, max);
    a->comp = 0;
    a->max = max;
}

slice_norm norm_of(state s)
{
    slice_norm n;
    n.max = s.max;
    n.total = s.sum - s.comp;
    n.log_total = log(n.total);
    return n;
}

real output(real v, slice_norm n, real scale)
{
    v = PREPARE(v);
#if LOG_SOFTMAX
    if (isinf(n.max))
        return (n.max > 0 && scale * v == n.max) ? -n.log_total : -INFINITY;
    return fma(scale, v, -n.max) - n.log_total;
#else
    if (isinf(n.max))
        return (n.max > 0 && scale * v == n.max) ? 1 / n.total : (real)0;
    return exp(fma(scale, v, -n.max)) / n.total;
#endif
}
