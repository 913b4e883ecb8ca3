/* Shared by every softmax kernel: storage types, the running (max, sum) state and the output rule.
 *
 * After shared_constants.h, the constants the host shares, which every program starts with.
 * Build options (host/variant.c writes them): exactly one of -DDTYPE_F32 -DDTYPE_F16
 * -DDTYPE_BF16 -DDTYPE_F64, -DLOG_SOFTMAX=0|1, -DZERO_SCALE=0|1 (set when scale == 0,
 * which means the uniform distribution; 0 * inf would otherwise make NaN out of a non-NaN
 * input), and the fused options of softmax_entries.cl.
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

/* Softmax stores the weights and scales them in place of a second exp wherever the
 * storage type holds a weight exactly, and the weights are against the slice's own max:
 * not with given statistics or a sink (softmax_entries.cl), nor without y. */
#define KEEP_WEIGHTS (!LOG_SOFTMAX && (DTYPE_F32 || DTYPE_F64) && WRITE_Y && !STATS_IN && !SINKS)

/* realv packs VEC reals, 64 bytes: explicit vectors are what reaches the vectorised exp on
 * a CPU (PoCL does not vectorise strict-FP scalar loops itself). On CPUs without AVX-512
 * they are wider than a register on purpose: each operation becomes two independent ones,
 * and with 32-byte vectors the row kernel ran 20 to 30% slower under PoCL compiling for
 * haswell (262144x32 F32 softmax 14.0 ms against 10.7 to 11.4). clang warns on every call
 * passing such a vector that its calling convention differs without AVX-512, and PoCL
 * prints the count on the process's stderr; every call here is inlined into one module
 * compiled for one target, so no convention is ever crossed, and the warning is off. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#endif

/* Whole vectors of half bits. PoCL 3.1 compiles vload_half16 as a load aligned to the
 * vector, which faults (vmovaps) on a slice that starts between two 16-byte boundaries:
 * the bits are moved as ushort vectors aligned like one element, and converted from a
 * private copy, which is aligned. */
typedef ushort16 __attribute__((aligned(2))) ushort16_unaligned;
typedef ushort8 __attribute__((aligned(2))) ushort8_unaligned;

float16 load_half16(global const half *p)
{
    ushort16 bits = *(global const ushort16_unaligned *)p;
    return vload_half16(0, (const half *)&bits);
}

float8 load_half8(global const half *p)
{
    ushort8 bits = *(global const ushort8_unaligned *)p;
    return vload_half8(0, (const half *)&bits);
}

void store_half16(global half *p, float16 v)
{
    ushort16 bits;
    vstore_half16_rte(v, 0, (half *)&bits);
    *(global ushort16_unaligned *)p = bits;
}

/* The one NaN the library writes: sign and payload of a computed NaN depend on operand
 * order, which the compiler may choose differently for in-place and separate buffers. */
#if DTYPE_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#define VEC CLSM_LANES_F64 /* shared_constants.h */
#if VEC != 8
#error "the f64 vector types below are spelled double8"
#endif
typedef double8 realv;
typedef ulong8 bitsv;
#define AS_REAL as_double
#define AS_REAL_V as_double8
#define AS_BITS_V as_ulong8
#define CANONICAL_NAN_BITS 0x7ff8000000000000UL
#define VLOAD_REAL(p) vload8(0, (p))
#define VSTORE_REAL(p, v) vstore8((v), 0, (p))
#else
typedef float real;
#define VEC CLSM_LANES_F32 /* shared_constants.h */
#if VEC != 16
#error "the f32 vector types below are spelled float16"
#endif
typedef float16 realv;
typedef uint16 bitsv;
#define AS_REAL as_float
#define AS_REAL_V as_float16
#define AS_BITS_V as_uint16
#define CANONICAL_NAN_BITS 0x7fc00000u
#define VLOAD_REAL(p) vload16(0, (p))
#define VSTORE_REAL(p, v) vstore16((v), 0, (p))
#endif
#define CANONICAL_NAN AS_REAL(CANONICAL_NAN_BITS)

/* In the integer domain, where no optimisation may treat one NaN as good as another.
 * Outputs are NaN only in a NaN slice, and only two places write them: the scalar paths
 * (range_output_scalar, softmax_group), which write CANONICAL_NAN over a NaN slice, and
 * lanes_slices, whose NaN lanes go through this (VSTORE_CANONICAL). The vector paths of
 * single slices hand NaN slices to the scalar one. */
realv canonical_v(realv v)
{
    return AS_REAL_V(select(AS_BITS_V(v), (bitsv)CANONICAL_NAN_BITS, isnan(v)));
}

#if DTYPE_F32 || DTYPE_F64
typedef real store_t;
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#if DTYPE_F32
#define VLOAD(p) vload16(0, (p))
/* PoCL splits vstore16 into four 128-bit stores; a vector type aligned like a float
 * gives one unaligned full-width store. */
typedef float16 __attribute__((aligned(4))) float16_unaligned;
#define VSTORE(p, v) (*(global float16_unaligned *)(p) = (v))
#if defined(__has_builtin)
#if __has_builtin(__builtin_nontemporal_store)
/* Past the cache, so that a written line is not first read: 8 bytes of traffic per
 * element instead of 12, for outputs too large to stay in cache anyway. p must be
 * aligned to the vector's size. */
#define VSTORE_STREAM(p, v) __builtin_nontemporal_store((v), (global float16 *)(p))
#endif
#endif
#else
#define VLOAD(p) vload8(0, (p))
#define VSTORE(p, v) vstore8((v), 0, (p))
#endif
#define VSTORE_CANONICAL(p, v) VSTORE(p, canonical_v(v))
#elif DTYPE_F16
/* Storage only: vload_half and vstore_half are core OpenCL, no cl_khr_fp16 needed. */
typedef half store_t;
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) store_half(p, i, v)
#define VLOAD(p) load_half16(p)
#define VSTORE(p, v) store_half16((p), (v))
#define VSTORE_CANONICAL(p, v) vstore_half16_canonical(p, v)
/* The conversion gives NaN whatever payload the device likes (0x7fff on PoCL), so NaN
 * bits are written here. */
#define CANONICAL_HALF_NAN 0x7e00

void store_half(global half *p, ulong i, float v)
{
    if (isnan(v))
        ((global ushort *)p)[i] = CANONICAL_HALF_NAN;
    else
        vstore_half_rte(v, i, p);
}

void vstore_half16_canonical(global half *p, float16 v)
{
    store_half16(p, v);
    if (!any(isnan(v)))
        return;
    float lanes[16];
    vstore16(v, 0, lanes);
    for (uint k = 0; k < 16; ++k)
        if (isnan(lanes[k]))
            ((global ushort *)p)[k] = CANONICAL_HALF_NAN;
}
#elif DTYPE_BF16
typedef ushort store_t;
#define LOAD(p, i) as_float((uint)(p)[i] << 16)
#define STORE(p, i, v) ((p)[i] = bf16_from_float(v))
#define VLOAD(p) as_float16(convert_uint16(vload16(0, (p))) << 16)
#define VSTORE(p, v) vstore16(bf16_from_float16(v), 0, (p))
#define VSTORE_CANONICAL(p, v) VSTORE(p, v)

/* Round to nearest even; NaN becomes the canonical quiet NaN instead of rounding into
 * infinity. */
ushort bf16_from_float(float f)
{
    uint b = as_uint(f);
    if (isnan(f))
        return (ushort)(CANONICAL_NAN_BITS >> 16);
    return (ushort)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

ushort16 bf16_from_float16(float16 f)
{
    uint16 b = as_uint16(f);
    uint16 rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
    return convert_ushort16(select(rounded, (uint16)(CANONICAL_NAN_BITS >> 16), isnan(f)));
}
#else
#error "build with one of DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_F64"
#endif
#ifndef VSTORE_STREAM
#define VSTORE_STREAM(p, v) VSTORE(p, v)
#endif

/* s + e = a + b exactly (TwoSum, whichever of a and b is larger), for scalars and vectors
 * alike; s and e may be a or b. */
#define TWO_SUM(a, b, s, e)                                   \
    do {                                                      \
        __typeof__(a) a_ = (a), b_ = (b);                     \
        __typeof__(a) s_ = a_ + b_;                           \
        __typeof__(a) b_part_ = s_ - a_;                      \
        (e) = (a_ - (s_ - b_part_)) + (b_ - b_part_);         \
        (s) = s_;                                             \
    } while (0)

typedef struct {
    real umax;     /* max of u so far (see to_u), NaN once a NaN was seen */
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

/* A state rebuilt from the parts kept between passes, work-items or kernels. */
state state_from(real umax, real sum, real comp, real a)
{
    state s;
    set_max(&s, umax, a);
    s.sum = sum;
    s.comp = comp;
    return s;
}

state state_empty(real a)
{
    return state_from(-INFINITY, 0, 0, a);
}

/* exp(a*u - (hi + lo)), the weight of u against the shift hi + lo. */
real weight(real u, real a, real hi, real lo)
{
    if (isinf(hi))
        return a * u == hi ? (real)1 : (real)0;
    return exp(fma(a, u, -hi) - lo);
}

/* Kahan summation with the error of each addition taken by TwoSum, exact whichever of
 * sum and w is larger: plain Kahan loses the small terms when a new max adds 1 to a
 * rescaled, tiny sum, and those terms are all log-softmax has near 0. Feeding comp back
 * into the next term, rather than summing the errors apart, keeps comp small enough
 * that its own rounding does not drift over 2^24 terms. */
void add_compensated(state *s, real w)
{
    real y = w + s->comp;
    TWO_SUM(s->sum, y, s->sum, s->comp);
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
    real comp = s->comp * fa + b.comp * fb, error;
    TWO_SUM(s->sum * fa, b.sum * fb, s->sum, error);
    s->comp = comp + error;
}

#if DTYPE_F64
real log1p_nonneg(real t)
{
    return log1p(t);
}
#else
/* log1p for t >= 0, within about 2 ulp: PoCL's scalar log1p and log cost as much as a
 * whole 32-element slice. Reduces 1 + t to 2^e * (1 + m) with 1 + m in [sqrt(1/2),
 * sqrt(2)], then log1p(m) = 2 atanh(s), s = m / (2 + m), by its odd series: |s| < 0.172,
 * so the terms left out are below 2^-28 of the result. */
float log1p_nonneg(float t)
{
    const float ln2_hi = 0.693145752f, ln2_lo = 1.42860677e-06f; /* ln2_hi * e is exact */
    float m = t, correction = 0;
    int e = 0;
    float u = 1 + t;
    if (u > 1.41421356f) {
        /* ilogb and ldexp rather than frexp, whose pointer oclgrind's uninitialised-value
         * checks cannot follow. */
        e = ilogb(u);
        float f = ldexp(u, -e); /* u = f * 2^e, f in [1, 2) */
        if (f > 1.41421356f) {
            f *= 0.5f;
            e += 1;
        }
        m = f - 1;
        /* u lost t - (u - 1) to rounding; log moves by that over u. */
        correction = (t - (u - 1)) / u;
    }
    float s = m / (2 + m);
    float s2 = s * s;
    float series = 1 + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
    return (float)e * ln2_hi + ((float)e * ln2_lo + correction + 2 * s * series);
}
#endif

slice_norm norm_of(state s)
{
    slice_norm n;
    n.hi = s.hi;
    n.lo = s.lo;
    n.total = s.sum + s.comp;
    /* sum >= 1 (the max weighs exactly 1), so sum - 1 is exact where it matters. */
    n.log_total = log1p_nonneg((s.sum - 1) + s.comp);
    return n;
}

/* a*u - (hi + lo) for a finite shift. s*v is formed in the compute type, so an entry
 * whose product overflows to -inf is -inf, not its exact distance to the shift; a NaN
 * slice's NaN total still makes every output NaN. */
real shifted(real u, real a, real hi, real lo)
{
    return a * u == -INFINITY ? -INFINITY : fma(a, u, -hi) - lo;
}

real output(real u, slice_norm n, real a)
{
#if LOG_SOFTMAX
    if (isinf(n.hi))
        return (n.hi > 0 && a * u == n.hi) ? -n.log_total : -INFINITY;
    return shifted(u, a, n.hi, n.lo) - n.log_total;
#else
    if (isinf(n.hi))
        return (n.hi > 0 && a * u == n.hi) ? 1 / n.total : (real)0;
    return exp(shifted(u, a, n.hi, n.lo)) / n.total;
#endif
}
