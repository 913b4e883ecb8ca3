/* Sampling one token per row of logits: greedy, temperature, top-k, top-p and min-p, drawn
 * exactly from the kept set by a counter-based generator.
 *
 * Needs softmax_common.cl and softmax_entries.cl before it (built with -DSAMPLE=1, which puts
 * entry_u in the contract's scaled domain), and -DWG=<work-group size>. One work-group takes
 * one row at a time; each work-item owns a contiguous chunk of it, cut into SUBS sub-blocks.
 *
 * Why every token is independent of the work split: each row is reduced only with exact
 * operations. The max and the first index of the max compare exactly; the candidates of a
 * small top-k are a set; counts are integers; and masses are sums of fixed-point weights,
 * floor(w * 2^62) with w <= 1 the weight of weight_of, added exactly in 128
 * bits. The kept set is then a prefix of the order (u descending, j ascending), cut by the
 * first of top-k, top-p and min-p to end, and the token is the kept entry j at which the
 * cumulative kept mass in index order first exceeds t = floor(M * U / 2^64), M the kept mass
 * and U 64 bits of Philox4x32-10. Each entry is drawn with probability m_j / M within 2^-64.
 * A weight below 2^-62 of the max counts as 0: such an entry is never drawn.
 */

/* A work-group of one needs no barrier, and on a CPU each would split the kernel's loops. A
 * larger one passes every barrier in every work-item in the same order, so every phase of
 * the row runs, over an empty range where the row does not need it; a work-group of one
 * skips such phases. */
#if WG > 1
#define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#define PHASE(needed) 1
#else
#define BARRIER()
#define PHASE(needed) (needed)
#endif

#define SUBS (WG == 1 ? CLSM_SAMPLE_SUBS_CPU : CLSM_SAMPLE_SUBS) /* shared_constants.h */
/* Radix digits: a work-item's buckets are private, 256 for a work-group of one, 16 for the
 * GPUs' work-items, whose buckets meet in local memory. */
#define RADIX (WG == 1 ? 8 : 4)
#define BUCKETS (1 << RADIX)
#define KS CLSM_SAMPLE_SMALL_K
#define SAMPLE_ARGS \
    CLSM_FORWARD_ARGS(KERNEL_PARAM, COMMA), CLSM_SAMPLE_ONLY_ARGS(KERNEL_PARAM, COMMA)

/* ---- 128-bit unsigned integers, for exact masses ---- */
typedef struct {
    ulong lo, hi;
} u128;

u128 u128_of(ulong v)
{
    u128 r = {v, 0};
    return r;
}

u128 u128_add(u128 a, u128 b)
{
    u128 r;
    r.lo = a.lo + b.lo;
    r.hi = a.hi + b.hi + (r.lo < a.lo);
    return r;
}

u128 u128_sub(u128 a, u128 b)
{
    u128 r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo);
    return r;
}

int u128_less(u128 a, u128 b)
{
    return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

/* a * b where the product fits 128 bits (a.hi * b must). */
u128 u128_mul(u128 a, ulong b)
{
    u128 r;
    r.lo = a.lo * b;
    r.hi = mul_hi(a.lo, b) + a.hi * b;
    return r;
}

/* ceil(a / 2^s) */
u128 u128_shr_ceil(u128 a, uint s)
{
    if (s == 0)
        return a;
    if (s >= 128)
        return u128_of(a.lo || a.hi ? 1 : 0);
    u128 r;
    int rest;
    if (s >= 64) {
        r.lo = s == 64 ? a.hi : a.hi >> (s - 64);
        r.hi = 0;
        rest = a.lo != 0 || (s > 64 && (a.hi << (128 - s)) != 0);
    } else {
        r.lo = (a.lo >> s) | (a.hi << (64 - s));
        r.hi = a.hi >> s;
        rest = (a.lo << (64 - s)) != 0;
    }
    return rest ? u128_add(r, u128_of(1)) : r;
}

real u128_real(u128 a)
{
    return (real)a.hi * (real)0x1p64 + (real)a.lo;
}

/* ---- Philox4x32-10 (Salmon et al., SC'11) ---- */
uint4 philox4x32_10(uint4 c, uint2 k)
{
    for (int i = 0; i < 10; ++i) {
        uint hi0 = mul_hi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        uint hi1 = mul_hi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

/* 64 random bits of a row: keyed by the seed, counted by the offset and, for the scalar
 * seed, the row. */
ulong row_random(ulong seed, ulong offset, ulong row)
{
    uint4 r = philox4x32_10((uint4)((uint)offset, (uint)(offset >> 32), (uint)row,
                                    (uint)(row >> 32)),
                            (uint2)((uint)seed, (uint)(seed >> 32)));
    return (ulong)r.x | (ulong)r.y << 32;
}

/* ---- keys: u's order as unsigned integers ---- */
#if DTYPE_F64
typedef ulong key_t;
#define KEY_BITS 64
key_t key_of(real u)
{
    ulong b = as_ulong(u + 0.0); /* -0 is +0 */
    return (b >> 63) ? ~b : b | 0x8000000000000000UL;
}
real u_of_key(key_t k)
{
    return as_double((k >> 63) ? k & 0x7fffffffffffffffUL : ~k);
}
#else
typedef uint key_t;
#define KEY_BITS 32
key_t key_of(real u)
{
    uint b = as_uint(u + 0.0f);
    return (b >> 31) ? ~b : b | 0x80000000u;
}
real u_of_key(key_t k)
{
    return as_float((k >> 31) ? k & 0x7fffffffu : ~k);
}
#endif

/* The weight of u against the row's max m at temperature 1/(pre * inv_t): w = 2^z,
 * z = (u - m) * pre * inv_t * log2(e) <= 0, pre being 1 but where 1/t would overflow
 * (row_view). With m = +inf the +inf entries share the mass (v1's rule).
 * For the f32 compute type 2^z is written out, z = n + f with n = rint(z) and |f| <= 1/2,
 * 2^f by its Taylor polynomial of degree 7 (within 6e-9 relative, below f32's rounding),
 * times 2^n: only additions and products, rounded as IEEE says (FP_CONTRACT is off), so the
 * weights, and with them the token, are the same bits on every device, and the vector lanes
 * cost a third of a library exp. 2^f is exactly 1 at f = 0, so w never exceeds 1. Below
 * 2^-64 the weight is 0, as its fixed point would be. F64 calls take exp. */
#if DTYPE_F64
real weight_of(real u, real m, real pre, real inv_t)
{
    if (isinf(m))
        return u == m ? (real)1 : (real)0;
    return exp((u - m) * pre * inv_t);
}
#else
#define EXP2_TAYLOR(f)                                                                            \
    (1.0f + (f) * (0.693147182f +                                                                 \
                   (f) * (0.240226507f +                                                          \
                          (f) * (0.0555041087f +                                                  \
                                 (f) * (0.00961812911f +                                          \
                                        (f) * (0.00133335581f +                                   \
                                               (f) * (0.000154035304f +                           \
                                                      (f) * 0.0000152527338f)))))))
#define LOG2_E 1.44269502f
/* 1.5 * 2^23: z + ROUNDER - ROUNDER is z rounded to an integer (to even), exactly, for
 * |z| < 2^22, in two IEEE additions where rint may be a library call. */
#define ROUNDER 12582912.0f

float weight_of(float u, float m, float pre, float inv_t)
{
    if (isinf(m))
        return u == m ? 1.0f : 0.0f;
    float z = (u - m) * pre * inv_t * LOG2_E;
    if (!(z >= -64.0f))
        return 0;
    float n = (z + ROUNDER) - ROUNDER, f = z - n;
    return EXP2_TAYLOR(f) * as_float(((int)n + 127) << 23);
}
#endif

/* floor(w * 2^62): through a signed conversion, which a CPU's vector units have and the
 * unsigned one they emulate; 2^62 keeps w = 1 inside it. */
ulong fixed_of(real w)
{
    return (ulong)convert_long(w * (real)0x1p62);
}


/* ceil(p * mass) for 0 < p < 1: the mass a top-p prefix must reach, exactly. */
u128 top_p_goal(float p, u128 mass)
{
    uint bits = as_uint(p), e = bits >> 23;
    ulong mant = e ? (bits & 0x7fffffu) | 0x800000u : bits & 0x7fffffu;
    uint shift = e ? 150 - e : 149;
    return u128_shr_ceil(u128_mul(mass, mant), shift);
}

/* floor(mass * r / 2^64): uniform in [0, mass) for r uniform in [0, 2^64). */
u128 draw_target(u128 mass, ulong r)
{
    u128 t = {mass.hi * r, mul_hi(mass.hi, r)};
    return u128_add(t, u128_of(mul_hi(mass.lo, r)));
}

/* One row as the work-group sees it. */
typedef struct {
    global const store_t *x;
    slice_ctx c;
    ulong from, to; /* this work-item's entries that causal, window and kv_lengths keep */
    ulong lo, sub;  /* its chunk's start, and the length of a sub-block */
    real m, t;      /* the row's max and temperature */
    /* 1/(pre * t), pre being 2^64 where 1/t would overflow f32 (t below 2^-100), else 1:
     * scaling t and u - m by the same power of two is exact, and keeps a tie with the max
     * at weight 1, where u - m times an infinite 1/t would be NaN. */
    real pre, inv_t;
    real min_p;
} row_view;

real u_at(const row_view *v, ulong j)
{
    return entry_u(LOAD(v->x, j), &v->c, j);
}


/* The kept set: entries with key > vk, or key == vk and j <= jk, for top-k and likewise for
 * top-p; min-p is checked on the weight. */
typedef struct {
    int topk, topp;
    key_t vk, vp;
    ulong jk, jp;
} kept_cut;

int kept(const kept_cut *cut, key_t key, ulong j)
{
    return (!cut->topk || key > cut->vk || (key == cut->vk && j <= cut->jk)) &&
           (!cut->topp || key > cut->vp || (key == cut->vp && j <= cut->jp));
}

/* A work-group of one on a CPU walks its row in explicit vectors of VEC entries, which reach
 * PoCL's vectorised exp; where an option makes u depend on j or the cap applies, it takes the
 * scalar path. Each entry's u and weight are the scalar path's, lane by lane. */
#define VECTOR_ROW (WG == 1 && !ROW_OPTIONS && !SOFTCAP && !ZERO_SCALE)
#if VECTOR_ROW
/* ulongv: lanes of fixed-point weights; indexv: lanes of indices or counts, as wide as a
 * comparison of reals, which selects them directly (vocab < 2^31). */
#if DTYPE_F64
typedef ulong8 ulongv;
typedef ulong8 indexv;
typedef ulong8 keyv;
typedef long8 cmpv;
#define AS_KEYV as_ulong8
#define AS_SIGNED_KEYV as_long8
typedef ulong index_lane;
#define TO_ULONGV convert_ulong8
#define TO_LONGV convert_long8
#define MASK_OF(c) (c)
#define LANES (ulong8)(0, 1, 2, 3, 4, 5, 6, 7)
#define AS_INDEXV as_ulong8
#else
typedef ulong16 ulongv;
typedef uint16 indexv;
typedef uint16 keyv;
typedef int16 cmpv;
#define AS_KEYV as_uint16
#define AS_SIGNED_KEYV as_int16
typedef uint index_lane;
#define TO_ULONGV convert_ulong16
#define TO_LONGV convert_long16
#define MASK_OF(c) convert_long16(c)
#define LANES (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define AS_INDEXV as_uint16
#endif

realv u_vec(const row_view *v, ulong j)
{
    return v->c.scale * VLOAD(v->x + j);
}

/* key_of, lane by lane. */
keyv key_vec(realv u)
{
    keyv b = AS_KEYV(u + (real)0);
    keyv negative = AS_KEYV(AS_SIGNED_KEYV(b) >> (KEY_BITS - 1));
    return b ^ (negative | (keyv)((key_t)1 << (KEY_BITS - 1)));
}

/* kept, lane by lane: true lanes are all ones. */
cmpv kept_vec(const kept_cut *cut, keyv key, ulong j)
{
    indexv at = (indexv)(index_lane)j + LANES;
    cmpv ok = (cmpv)-1;
    if (cut->topk)
        ok &= (key > (keyv)cut->vk) | ((key == (keyv)cut->vk) & (at <= (indexv)(index_lane)cut->jk));
    if (cut->topp)
        ok &= (key > (keyv)cut->vp) | ((key == (keyv)cut->vp) & (at <= (indexv)(index_lane)cut->jp));
    return ok;
}

/* weight_of, lane by lane, for the u of VEC entries. */
realv weights_vec(const row_view *v, realv u)
{
#if DTYPE_F64
    return exp((u - v->m) * v->pre * v->inv_t);
#else
    realv z = (u - v->m) * v->pre * v->inv_t * LOG2_E, n = (z + ROUNDER) - ROUNDER, frac = z - n;
    return select(EXP2_TAYLOR(frac) * as_float16((convert_int16(n) + 127) << 23), (realv)0.0f,
                  !(z >= -64.0f));
#endif
}

ulongv fixed_vec(realv w)
{
    return TO_ULONGV(TO_LONGV(w * (real)0x1p62));
}

/* The fixed-point weights f of the VEC entries from j, whose u and w are given, where the
 * cut and min-p keep them, else 0. */
ulongv kept_fixed_vec(const row_view *v, const kept_cut *cut, realv u, realv w, ulongv f,
                      ulong j)
{
    cmpv keep = (w >= v->min_p);
    if (cut->topk || cut->topp)
        keep &= kept_vec(cut, key_vec(u), j);
    return select((ulongv)0, f, MASK_OF(keep));
}

/* Lane sums into 128 bits: lo wraps, hi counts the carries. */
#define LANES_ADD(lo, hi, f)                                                                       \
    do {                                                                                           \
        ulongv f_ = (f);                                                                           \
        (lo) += f_;                                                                                \
        (hi) += TO_ULONGV(-MASK_OF((lo) < f_));                                                    \
    } while (0)

u128 lanes_total(ulongv lo, ulongv hi)
{
    ulong l[VEC], h[VEC];
    u128 total = u128_of(0);
    *(ulongv *)l = lo;
    *(ulongv *)h = hi;
    for (int i = 0; i < VEC; ++i) {
        u128 lane = {l[i], h[i]};
        total = u128_add(total, lane);
    }
    return total;
}
#endif

/* The exact sum of every work-item's value, and the sum of those before this one. */
typedef struct {
    u128 total, before;
} group_total;

group_total group_sum(local ulong *lo, local ulong *hi, u128 mine, uint lid)
{
    lo[lid] = mine.lo;
    hi[lid] = mine.hi;
    BARRIER();
    group_total g = {u128_of(0), u128_of(0)};
    for (uint i = 0; i < WG; ++i) {
        if (i == lid)
            g.before = g.total;
        u128 v = {lo[i], hi[i]};
        g.total = u128_add(g.total, v);
    }
    BARRIER();
    return g;
}

/* Radix select, RADIX bits a pass from the top: the key of the entry at rank need (1 = the
 * first) of the order among the finite entries that cut keeps, ranked by count (by_mass 0)
 * or by fixed-point mass, and the rank (count or mass) left within that key's ties. */
typedef struct {
    key_t key;
    u128 need;
} selected;

selected select_key(const row_view *v, const kept_cut *cut, int by_mass, u128 need,
                    local ulong *l_lo, local ulong *l_hi, uint lid)
{
    key_t prefix = 0;
    for (int shift = KEY_BITS - RADIX; shift >= 0; shift -= RADIX) {
        int whole = shift + RADIX == KEY_BITS; /* no digit decided yet */
        key_t high = whole ? 0 : prefix >> (shift + RADIX);
        u128 bucket[BUCKETS];
        for (int b = 0; b < BUCKETS; ++b)
            bucket[b] = u128_of(0);
        ulong j = v->from;
#if VECTOR_ROW
        if (isfinite(v->m)) {
            for (; j + VEC <= v->to; j += VEC) {
                realv u = u_vec(v, j);
                keyv key = key_vec(u);
                cmpv in = kept_vec(cut, key, j) & (u > -INFINITY);
                if (!whole)
                    in &= (key >> (shift + RADIX)) == (keyv)high;
                if (!any(in))
                    continue;
                ulongv f = by_mass ? fixed_vec(weights_vec(v, u)) : (ulongv)1;
                f = select((ulongv)0, f, MASK_OF(in));
                key_t keys[VEC];
                ulong fs[VEC];
                *(keyv *)keys = key;
                *(ulongv *)fs = f;
                for (int i = 0; i < VEC; ++i) {
                    uint b = (uint)(keys[i] >> shift) & (BUCKETS - 1);
                    bucket[b] = u128_add(bucket[b], u128_of(fs[i]));
                }
            }
        }
#endif
        for (; j < v->to; ++j) {
            real u = u_at(v, j);
            key_t key = key_of(u);
            if (u == -INFINITY || !kept(cut, key, j) || (!whole && (key >> (shift + RADIX)) != high))
                continue;
            uint b = (uint)(key >> shift) & (BUCKETS - 1);
            bucket[b] = u128_add(bucket[b],
                                 u128_of(by_mass ? fixed_of(weight_of(u, v->m, v->pre, v->inv_t)) : 1));
        }
        for (int b = 0; b < BUCKETS; ++b) {
            l_lo[lid * BUCKETS + b] = bucket[b].lo;
            l_hi[lid * BUCKETS + b] = bucket[b].hi;
        }
        BARRIER();
        for (int b = BUCKETS - 1; b >= 0; --b) {
            u128 in_b = u128_of(0);
            for (uint i = 0; i < WG; ++i) {
                u128 part = {l_lo[i * BUCKETS + b], l_hi[i * BUCKETS + b]};
                in_b = u128_add(in_b, part);
            }
            if (!u128_less(in_b, need) || b == 0) {
                prefix |= (key_t)b << shift;
                break;
            }
            need = u128_sub(need, in_b);
        }
        BARRIER();
    }
    selected r = {prefix, need};
    return r;
}

/* The index of the c-th (1 = the first) finite entry with this key that cut keeps. */
ulong nth_tie(const row_view *v, const kept_cut *cut, key_t key, ulong c, local ulong *l_lo,
              local ulong *l_hi, local ulong *l_found, uint lid)
{
    /* A work-group of one holds all the ties: no count first. */
    ulong mine = 0, before = 0;
#if WG > 1
    for (ulong j = v->from; j < v->to; ++j) {
        real u = u_at(v, j);
        mine += u != -INFINITY && key_of(u) == key && kept(cut, key, j);
    }
    before = group_sum(l_lo, l_hi, u128_of(mine), lid).before.lo;
#else
    mine = c;
#endif
    if (before < c && c <= before + mine) {
        ulong left = c - before, j = v->from;
#if VECTOR_ROW
        for (; j + VEC <= v->to; j += VEC) {
            realv u = u_vec(v, j);
            keyv k = key_vec(u);
            cmpv tie = (k == (keyv)key) & (u > -INFINITY) & kept_vec(cut, k, j);
            index_lane n[VEC];
            *(indexv *)n = -AS_INDEXV(tie);
            ulong count = 0;
            for (int i = 0; i < VEC; ++i)
                count += n[i];
            if (count >= left)
                break;
            left -= count;
        }
#endif
        for (; j < v->to; ++j) {
            real u = u_at(v, j);
            if (u != -INFINITY && key_of(u) == key && kept(cut, key, j) && --left == 0) {
                *l_found = j;
                break;
            }
        }
    }
    BARRIER();
    ulong found = *l_found;
    BARRIER();
    return found;
}

/* The exact masses of the row: of every finite entry (all), of the kept ones (kept), and
 * of the kept ones before this work-item (before); sub holds this work-item's kept mass by
 * sub-block of its chunk. */
typedef struct {
    u128 all, kept, before;
    u128 sub[SUBS];
} row_mass;

row_mass row_masses(const row_view *v, const kept_cut *cut, local ulong *l_lo, local ulong *l_hi,
                    uint lid)
{
    row_mass r;
    u128 mine_all = u128_of(0), mine = u128_of(0);
    for (int b = 0; b < SUBS; ++b) {
        r.sub[b] = u128_of(0);
        ulong from = max(v->from, v->lo + b * v->sub), to = min(v->to, v->lo + (b + 1) * v->sub);
        ulong j = from;
#if VECTOR_ROW
        if (isfinite(v->m)) {
            ulongv lo = 0, hi = 0, all_lo = 0, all_hi = 0;
            /* Without a cut the kept entries are all of them: one sum serves. */
            int everything = !cut->topk && !cut->topp && v->min_p == 0;
            if (everything) {
                for (; j + VEC <= to; j += VEC)
                    LANES_ADD(lo, hi, fixed_vec(weights_vec(v, u_vec(v, j))));
            } else {
                for (; j + VEC <= to; j += VEC) {
                    realv u = u_vec(v, j), w = weights_vec(v, u);
                    ulongv f = fixed_vec(w);
                    LANES_ADD(all_lo, all_hi, f);
                    LANES_ADD(lo, hi, kept_fixed_vec(v, cut, u, w, f, j));
                }
            }
            r.sub[b] = lanes_total(lo, hi);
            mine_all = u128_add(mine_all, everything ? r.sub[b] : lanes_total(all_lo, all_hi));
        }
#endif
        for (; j < to; ++j) {
            real u = u_at(v, j);
            real w = weight_of(u, v->m, v->pre, v->inv_t);
            ulong f = fixed_of(w);
            mine_all = u128_add(mine_all, u128_of(f));
            if (f && kept(cut, key_of(u), j) && w >= v->min_p)
                r.sub[b] = u128_add(r.sub[b], u128_of(f));
        }
        mine = u128_add(mine, r.sub[b]);
    }
    r.all = group_sum(l_lo, l_hi, mine_all, lid).total;
    group_total g = group_sum(l_lo, l_hi, mine, lid);
    r.kept = g.total;
    r.before = g.before;
    return r;
}

/* The kept entry at which the kept mass, summed in index order, first passes target; run
 * is the kept mass before this work-item. -1 where it lies in another work-item's chunk. */
long locate(const row_view *v, const kept_cut *cut, const u128 *kept_sub, u128 target,
            u128 run)
{
    if (u128_less(target, run))
        return -1;
    for (int b = 0; b < SUBS; ++b) {
        u128 next = u128_add(run, kept_sub[b]);
        if (!u128_less(target, next)) {
            run = next;
            continue;
        }
        ulong from = max(v->from, v->lo + b * v->sub), to = min(v->to, v->lo + (b + 1) * v->sub);
        ulong j = from;
#if VECTOR_ROW
        if (isfinite(v->m)) {
            for (; j + VEC <= to; j += VEC) {
                realv u = u_vec(v, j), w = weights_vec(v, u);
                ulong f[VEC];
                *(ulongv *)f = kept_fixed_vec(v, cut, u, w, fixed_vec(w), j);
                for (int i = 0; i < VEC; ++i) {
                    run = u128_add(run, u128_of(f[i]));
                    if (u128_less(target, run))
                        return (long)(j + i);
                }
            }
        }
#endif
        for (; j < to; ++j) {
            real u = u_at(v, j);
            real w = weight_of(u, v->m, v->pre, v->inv_t);
            ulong f = fixed_of(w);
            if (f && kept(cut, key_of(u), j) && w >= v->min_p) {
                run = u128_add(run, u128_of(f));
                if (u128_less(target, run))
                    return (long)j;
            }
        }
        break;
    }
    return -1;
}

/* What pass 1 finds in a work-item's entries. */
typedef struct {
    real m;      /* the max of u, NaN aside */
    ulong arg;   /* its first index */
    uint nan_seen, finite;
    uint n;      /* candidates found, of at most k */
} row_stats;

/* Entry j with u joins the candidates cu, cj of a small top-k: kept in order, u descending
 * and then j ascending, as j only grows. */
void candidate(real u, ulong j, uint k, real *cu, uint *cj, uint *n)
{
    if (*n == k && !(u > cu[*n - 1]))
        return;
    uint i = *n < k ? (*n)++ : *n - 1;
    for (; i > 0 && u > cu[i - 1]; --i) {
        cu[i] = cu[i - 1];
        cj[i] = cj[i - 1];
    }
    cu[i] = u;
    cj[i] = (uint)j;
}

/* Pass 1 over this work-item's entries; k > 0 gathers the candidates of a small top-k. */
row_stats stats_of(const row_view *v, uint k, real *cu, uint *cj)
{
    row_stats st = {-INFINITY, v->to, 0, 0, 0};
    ulong j = v->from;
#if VECTOR_ROW
    realv vmax = -INFINITY;
    indexv at = 0, finite = 0;
    cmpv nan_seen = 0;
    for (; j + VEC <= v->to; j += VEC) {
        realv u = u_vec(v, j);
        nan_seen |= isnan(u);
        at = select(at, (indexv)(index_lane)j + LANES, u > vmax);
        vmax = select(vmax, u, u > vmax);
        finite -= AS_INDEXV(u > -INFINITY); /* true is -1 */
        if (k && (st.n < k || any(u > (realv)cu[st.n - 1]))) {
            real lanes[VEC];
            *(realv *)lanes = u;
            for (int i = 0; i < VEC; ++i)
                if (lanes[i] > -INFINITY)
                    candidate(lanes[i], j + i, k, cu, cj, &st.n);
        }
    }
    real lm[VEC];
    index_lane la[VEC], lf[VEC];
    *(realv *)lm = vmax;
    *(indexv *)la = at;
    *(indexv *)lf = finite;
    for (int i = 0; i < VEC; ++i) {
        if (lm[i] > st.m || (lm[i] == st.m && lm[i] > -INFINITY && la[i] < st.arg)) {
            st.m = lm[i];
            st.arg = la[i];
        }
        st.finite += (uint)lf[i];
    }
    st.nan_seen = any(nan_seen);
#endif
    for (; j < v->to; ++j) {
        real u = u_at(v, j);
        if (isnan(u)) {
            st.nan_seen = 1;
            continue;
        }
        if (u > st.m) {
            st.m = u;
            st.arg = j;
        }
        if (u == -INFINITY)
            continue;
        ++st.finite;
        if (k)
            candidate(u, j, k, cu, cj, &st.n);
    }
    return st;
}

/* A small top-k (k <= KS): the row's k first entries, merged from the work-items' lists in
 * local memory, then top-p and min-p over them and the draw, by one work-item. */
int small_top_k(const row_view *v, uint k, float p, ulong random, local const real *l_cu,
                local const uint *l_cj, real *u_token)
{
    uint at[WG];
    for (uint i = 0; i < WG; ++i)
        at[i] = 0;
    real uk[KS];
    uint jk[KS];
    ulong fk[KS];
    u128 mass = u128_of(0);
    for (uint r = 0; r < k; ++r) {
        uint best = 0;
        for (uint i = 1; i < WG; ++i)
            if (l_cu[i * KS + at[i]] > l_cu[best * KS + at[best]])
                best = i;
        uk[r] = l_cu[best * KS + at[best]];
        jk[r] = l_cj[best * KS + at[best]];
        ++at[best];
        fk[r] = fixed_of(weight_of(uk[r], v->m, v->pre, v->inv_t));
        mass = u128_add(mass, u128_of(fk[r]));
    }
    uint keep = k;
    if (p > 0) {
        u128 goal = top_p_goal(p, mass), run = u128_of(0);
        for (keep = 0; keep < k && u128_less(run, goal); ++keep)
            run = u128_add(run, u128_of(fk[keep]));
    }
    while (keep > 1 && !(weight_of(uk[keep - 1], v->m, v->pre, v->inv_t) >= v->min_p))
        --keep;
    u128 kept_mass = u128_of(0);
    for (uint r = 0; r < keep; ++r)
        kept_mass = u128_add(kept_mass, u128_of(fk[r]));
    u128 target = draw_target(kept_mass, random), run = u128_of(0);
    /* In index order, as every other path draws. */
    uint last = 0;
    for (uint r = 0; r < keep; ++r) {
        uint next = KS;
        for (uint i = 0; i < keep; ++i)
            if ((r == 0 || jk[i] > last) && (next == KS || jk[i] < jk[next]))
                next = i;
        last = jk[next];
        run = u128_add(run, u128_of(fk[next]));
        if (u128_less(target, run)) {
            *u_token = uk[next];
            return (int)jk[next];
        }
    }
    return -1; /* not reached: target < kept_mass */
}

__attribute__((reqd_work_group_size(WG, 1, 1)))
kernel void sample_rows(SAMPLE_ARGS)
{
    options o = OPTIONS_OF_ARGS;
    local real l_max[WG];
    local ulong l_arg[WG];
    local uint l_nan[WG], l_finite[WG];
    local ulong l_lo[WG * BUCKETS], l_hi[WG * BUCKETS];
    local real l_cu[WG * KS];
    local uint l_cj[WG * KS];
    local ulong l_found;
    local int l_token;
    uint lid = get_local_id(0);
    ulong per = (axis + WG - 1) / WG;
    row_view v;
    v.lo = min((ulong)lid * per, axis);
    ulong hi = min(v.lo + per, axis);
    v.sub = (per + SUBS - 1) / SUBS;

    for (ulong s = get_group_id(0); s < outer; s += get_num_groups(0)) {
        v.x = x + x_off + s * axis;
        v.c = slice_ctx_of(&o, s);
        ulong begin, end;
        kept_range(&v.c, axis, &begin, &end);
        v.from = max(v.lo, begin);
        v.to = max(v.from, min(hi, end));

        /* The row's parameters. */
        float tf = (flags & CLSM_SAMPLE_TEMPERATURES) ? temperatures[temperatures_off + s]
                                                      : temperature;
        int bad = !(tf >= 0) || isinf(tf);
        real t = bad ? (real)1 : (real)tf;
        uint k = (flags & CLSM_SAMPLE_TOP_KS) ? top_ks[top_ks_off + s] : top_k;
        /* Clamped to [0, 1]; NaN is 0, off. */
        float p = fmin(fmax((flags & CLSM_SAMPLE_TOP_PS) ? top_ps[top_ps_off + s] : top_p, 0.0f),
                       1.0f);
        if (p >= 1.0f)
            p = 0;
        v.min_p = fmin(fmax((flags & CLSM_SAMPLE_MIN_PS) ? min_ps[min_ps_off + s] : min_p, 0.0f),
                       1.0f);
        ulong random = (flags & CLSM_SAMPLE_SEEDS) ? row_random(seeds[seeds_off + s], offset, 0)
                                                   : row_random(seed, offset, first + s);
        int small = t > 0 && k > 0 && k <= KS;

        /* Pass 1: the max and its first index, NaN, the finite entries, and a small top-k's
         * candidates, in order (u descending, j ascending). */
        real cu[KS];
        uint cj[KS];
        row_stats st = stats_of(&v, small ? k : 0, cu, cj);
        real m = st.m;
        ulong arg = st.arg;
        uint nan_seen = st.nan_seen, finite = st.finite, n = st.n;
        l_max[lid] = m;
        l_arg[lid] = arg;
        l_nan[lid] = nan_seen;
        l_finite[lid] = finite;
        if (small)
            for (uint i = 0; i < KS; ++i) {
                l_cu[lid * KS + i] = i < n ? cu[i] : (real)-INFINITY;
                l_cj[lid * KS + i] = i < n ? cj[i] : 0;
            }
        BARRIER();
        for (uint i = 0; i < WG; ++i) {
            nan_seen |= l_nan[i];
            if (i != lid)
                finite += l_finite[i];
            if (l_max[i] > m || (l_max[i] == m && l_arg[i] < arg)) {
                m = l_max[i];
                arg = l_arg[i];
            }
        }
        BARRIER();
        v.m = m;
        v.t = t > 0 ? t : (real)1; /* greedy rows' log-probabilities are at T = 1 */
        v.pre = v.t < (real)0x1p-100 ? (real)0x1p64 : (real)1;
        v.inv_t = 1 / (v.t * v.pre);

        int live = !nan_seen && !bad && m != -INFINITY;
        int drawn_small = live && small, general = live && t > 0 && !small;
        row_view idle = v;
        idle.to = idle.from;
        int token = live && t == 0 ? (int)arg : -1;
        real u_token = m;

        if (PHASE(drawn_small)) {
            if (lid == 0 && drawn_small)
                l_token = small_top_k(&v, min(k, finite), p, random, l_cu, l_cj, &u_token);
            BARRIER();
            if (drawn_small)
                token = l_token;
            BARRIER();
        }

        kept_cut cut = {0};
        int top_k_on = general && k > 0 && k < finite;
        if (PHASE(top_k_on)) {
            selected sel =
                select_key(top_k_on ? &v : &idle, &cut, 0, u128_of(k), l_lo, l_hi, lid);
            cut.vk = sel.key;
            cut.jk = nth_tie(top_k_on ? &v : &idle, &cut, cut.vk, sel.need.lo, l_lo, l_hi,
                             &l_found, lid);
            cut.topk = top_k_on;
        }

        int top_p_on = general && p > 0;
        if (PHASE(top_p_on)) {
            row_view whole = top_p_on ? v : idle;
            whole.min_p = 0;
            u128 goal = top_p_goal(p, row_masses(&whole, &cut, l_lo, l_hi, lid).kept);
            selected sel = select_key(top_p_on ? &v : &idle, &cut, 1, goal, l_lo, l_hi, lid);
            cut.vp = sel.key;
            /* The ties needed: the fewest c with c * q >= what is left to reach. */
            ulong q = fixed_of(weight_of(u_of_key(cut.vp), m, v.pre, v.inv_t)), c = 0;
            for (ulong step = 1UL << 32; step; step >>= 1)
                if (u128_less(u128_mul(u128_of(q), c + step), sel.need))
                    c += step;
            cut.jp =
                nth_tie(top_p_on ? &v : &idle, &cut, cut.vp, c + 1, l_lo, l_hi, &l_found, lid);
            cut.topp = top_p_on;
        }

        /* The draw of the general path, and the row's mass for its log-probability. */
        int masses = general || (live && (flags & CLSM_SAMPLE_LOGPROBS));
        row_mass rm = {0};
        if (PHASE(masses)) {
            rm = row_masses(masses ? &v : &idle, &cut, l_lo, l_hi, lid);
            long found = general
                             ? locate(&v, &cut, rm.sub, draw_target(rm.kept, random), rm.before)
                             : -1;
            if (found >= 0)
                l_found = (ulong)found;
            BARRIER();
            if (general)
                token = (int)l_found;
            BARRIER();
        }
        if (lid == 0 && general)
            u_token = u_at(&v, (ulong)token);
        /* all is the sum of 2^62 * w over the row. */
        real logprob = nan_seen || bad ? CANONICAL_NAN
                       : !live         ? (real)-INFINITY
                                       : (isinf(m) ? (real)0 : (u_token - m) / v.t) -
                                     log(u128_real(rm.all) * (real)0x1p-62);
        if (lid == 0) {
            tokens[tokens_off + s] = token;
            if (flags & CLSM_SAMPLE_LOGPROBS)
                logprobs[logprobs_off + s] = logprob;
        }
    }
}
