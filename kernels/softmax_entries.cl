/* What turns an entry of x into the u the softmax runs on (scale, cap, mask, ALiBi, causal
 * window, kv_lengths), the fused options around a slice (sinks, statistics in and out), the
 * parameters and options of every kernel, and the scalar path over a slice.
 *
 * Needs kernel_args.h and softmax_common.cl before it. Build options, all 0 when unset:
 *  -DMASK=0..4: the clsm_mask_type; -DCAUSAL, -DWINDOW (window > 0), -DSINKS, -DSTATS_OUT,
 *  -DSTATS_IN, -DSOFTCAP, -DALIBI, -DKV_LENGTHS: which options are set; -DWRITE_Y=0 for
 *  statistics only (kernel_args.h lists them all).
 * Mask, causal, sinks, ALiBi and kv_lengths only come with inner == 1, where slice o is row
 * (b, h, r) of [batch, heads, rows].
 */
#define MASK_ADD (MASK >= 1 && MASK <= 3)
#define MASK_KEEP (MASK == 4)
/* From the reach of each flag in CLSM_VARIANT_FLAGS (kernel_args.h): options that make u
 * depend on the row or on j, so that slices cannot be gathered into lanes (whose paths pass
 * j = 0), and options that meet each slice's state, so that it is finished one slice at a
 * time. */
#define REACHES_ROW(field, FLAG, reach) REACHES_ROW_##reach(FLAG)
#define REACHES_ROW_row(FLAG) || FLAG
#define REACHES_ROW_both(FLAG) || FLAG
#define REACHES_ROW_slice(FLAG)
#define REACHES_ROW_code(FLAG)
#define REACHES_SLICE(field, FLAG, reach) REACHES_SLICE_##reach(FLAG)
#define REACHES_SLICE_row(FLAG)
#define REACHES_SLICE_both(FLAG) || FLAG
#define REACHES_SLICE_slice(FLAG) || FLAG
#define REACHES_SLICE_code(FLAG)
#define ROW_OPTIONS (0 CLSM_VARIANT_FLAGS(REACHES_ROW))
#define SLICE_STATS (0 CLSM_VARIANT_FLAGS(REACHES_SLICE))
/* Options that keep only a range of each slice (kept_range), and mask the rest unread. */
#define CUTS_RANGE (CAUSAL || KV_LENGTHS)

/* u = scale*v in the compute type, as the contract forms it, wherever something is added to
 * it (a mask, a sink), reported (statistics) or sampled from. Elsewhere s*v = a*u with a = |s| and u =
 * sign(s)*v, and the shift keeps the exact product (softmax_common.cl). */
#define SCALED_DOMAIN (MASK_ADD || SINKS || STATS_OUT || STATS_IN || SOFTCAP || ALIBI || SAMPLE)

#if MASK == 1
typedef float mask_t;
#define MASK_VALUE(p, i) ((real)(p)[i])
#elif MASK == 2
typedef half mask_t;
#define MASK_VALUE(p, i) ((real)vload_half((i), (p)))
#elif MASK == 3
typedef ushort mask_t;
#define MASK_VALUE(p, i) ((real)as_float((uint)(p)[i] << 16))
#else
typedef uchar mask_t;
#endif

/* A kernel's parameters, from an argument list of kernel_args.h. */
#define KERNEL_PARAM(kind, type, name) KERNEL_PARAM_##kind(type, name)
#define KERNEL_PARAM_in(type, name) global const type *name
#define KERNEL_PARAM_out(type, name) global type *name
#define KERNEL_PARAM_val(type, name) type name
#define KERNEL_PARAM_oval(type, name) type name
#define KERNEL_PARAM_opt_in(type, name) global const type *name, ulong name##_off
#define KERNEL_PARAM_opt_out(type, name) global type *name, ulong name##_off
#define KERNEL_PARAM_scratch(type, name) global type *name
/* The names alone, to pass the parameters on. */
#define KERNEL_ARG_NAME(kind, type, name) KERNEL_ARG_NAME_##kind(name)
#define KERNEL_ARG_NAME_in(name) name
#define KERNEL_ARG_NAME_out(name) name
#define KERNEL_ARG_NAME_val(name) name
#define KERNEL_ARG_NAME_oval(name) name
#define KERNEL_ARG_NAME_opt_in(name) name, name##_off
#define KERNEL_ARG_NAME_opt_out(name) name, name##_off
#define KERNEL_ARG_NAME_scratch(name) name
#define COMMA ,

/* The parameters of every forward kernel. */
#define KERNEL_ARGS CLSM_FORWARD_ARGS(KERNEL_PARAM, COMMA)

/* The scale as the host passes it: a double's bits for F64, else a float's in the low half. */
real scale_of(ulong bits)
{
#if DTYPE_F64
    return as_double(bits);
#else
    return as_float((uint)bits);
#endif
}

/* The options among KERNEL_ARGS (oval, opt_in, opt_out), gathered once per kernel; an option
 * tensor points at its first element. */
#define OPTION_FIELD(kind, type, name) OPTION_FIELD_##kind(type, name)
#define OPTION_FIELD_in(type, name)
#define OPTION_FIELD_out(type, name)
#define OPTION_FIELD_val(type, name)
#define OPTION_FIELD_oval(type, name) type name;
#define OPTION_FIELD_opt_in(type, name) global const type *name;
#define OPTION_FIELD_opt_out(type, name) global type *name;
#define OPTION_FIELD_scratch(type, name)
typedef struct {
    real scale, a; /* s*v = a*u */
    CLSM_FORWARD_ARGS(OPTION_FIELD, )
} options;

#define OPTION_SET(kind, type, name) OPTION_SET_##kind(name)
#define OPTION_SET_in(name)
#define OPTION_SET_out(name)
#define OPTION_SET_val(name)
#define OPTION_SET_oval(name) o.name = name;
#define OPTION_SET_opt_in(name) o.name = name + name##_off;
#define OPTION_SET_opt_out(name) o.name = name + name##_off;
#define OPTION_SET_scratch(name)

options options_of(KERNEL_ARGS)
{
    options o;
    o.scale = scale_of(scale_bits);
#if ZERO_SCALE || SCALED_DOMAIN
    /* The zero-scale variant's u are all 0 (or NaN), and 0 * -inf, the empty state's max,
     * would be NaN. */
    o.a = 1;
#else
    o.a = fabs(o.scale);
#endif
    CLSM_FORWARD_ARGS(OPTION_SET, )
    return o;
}

#define OPTIONS_OF_ARGS options_of(CLSM_FORWARD_ARGS(KERNEL_ARG_NAME, COMMA))

/* What entry j of one slice needs besides x. */
typedef struct {
    real scale, a;
    real softcap;
    global const mask_t *mask; /* the slice's row of the mask */
    ulong mask_step;
    real slope; /* ALiBi: u -= slope * |j - center| */
    long center;
    /* causal, window, kv_lengths: entries outside [keep_lo, keep_hi] are masked */
    long keep_lo, keep_hi;
} slice_ctx;

/* Slice s of the launch (o * inner + i). */
slice_ctx slice_ctx_of(const options *o, ulong s)
{
    slice_ctx c;
    c.scale = o->scale;
    c.a = o->a;
    c.softcap = o->softcap;
    c.mask = 0;
    c.mask_step = 0;
    c.slope = 0;
    c.center = 0;
    c.keep_lo = LONG_MIN;
    c.keep_hi = LONG_MAX;
#if ROW_OPTIONS
    ulong row = o->first + s;
    ulong r = row % o->rows, h = row / o->rows % o->heads, b = row / o->rows / o->heads;
#endif
#if MASK
    c.mask = o->mask + b * o->mask_stride.s0 + h * o->mask_stride.s1 + r * o->mask_stride.s2;
    c.mask_step = o->mask_stride.s3;
#endif
#if ALIBI || CAUSAL || KV_LENGTHS
    /* Row r is aligned at r + offset: the causal_offset, or with kv_lengths the bottom right
     * of the batch entry's kept columns. The host keeps these sums from overflowing. */
    long offset = o->causal_offset;
#endif
#if KV_LENGTHS
    long len = clamp((long)o->kv_lengths[b], 0L, (long)o->axis);
    offset += len - (long)o->rows;
    c.keep_hi = len - 1;
#endif
#if CAUSAL
    /* Entry j is kept when r + offset - window < j <= r + offset. */
    long last = (long)r + offset;
    c.keep_hi = min(c.keep_hi, last);
#if WINDOW
    c.keep_lo = last - (long)o->window + 1;
#endif
#endif
#if ALIBI
    /* A slope that is not finite makes the head's kept entries NaN: inf * 0 would be NaN at
     * the centre only, and u - inf -inf elsewhere. */
    c.slope = isfinite(o->alibi_slopes[h]) ? o->alibi_slopes[h] : CANONICAL_NAN;
    c.center = (long)r + offset;
#endif
    return c;
}

/* cap*tanh(u/cap) from one exp, which the CPUs' OpenCL vectorises and their tanh does not
 * (PoCL's was 3 to 5 times slower than the whole plain softmax). With t = exp(-2|z|) <= 1
 * nothing overflows; (1 - t)/(1 + t) is within about 6 units of 1's last place of tanh|z|
 * (exp's 3 ulp, then a subtraction, a sum and a quotient), so the capped u is within about
 * 7 units of cap's last place: inside the contract's 8*eps*cap, which is absolute in cap
 * for this reason. +-inf give +-cap; NaN stays NaN. softmax_vector.cl's soft_cap_v is the
 * same, lane by lane. */
real soft_cap(real u, real cap)
{
    real t = exp(-2 * fabs(u / cap));
    return copysign(cap * ((1 - t) / (1 + t)), u);
}

/* u of entry j of the slice, whose x is v, in the contract's order: scaled, capped, masked,
 * then ALiBi's bias. Causal, window and kv_lengths are not here: they cut the ranges every
 * path walks (kept_range). FP_CONTRACT is off (softmax_common.cl), so that u is what the
 * reference forms: no step is fused into another. */
real entry_u(real v, const slice_ctx *c, ulong j)
{
#if ZERO_SCALE
    real u = isnan(v) ? v : (real)0;
#elif SCALED_DOMAIN
    real u = c->scale * v;
#else
    real u = copysign((real)1, c->scale) * v;
#endif
#if SOFTCAP
    u = soft_cap(u, c->softcap);
#endif
#if MASK_ADD
    u += MASK_VALUE(c->mask, j * c->mask_step);
#elif MASK_KEEP
    if (c->mask[j * c->mask_step] == 0)
        u = -INFINITY;
#endif
#if ALIBI
    u -= c->slope * fabs((real)((long)j - c->center));
#endif
    return u;
}

/* Causal, window and kv_lengths keep the entries [*begin, *end) of a slice of n (none:
 * begin == end); the others are -inf whatever x holds, so every path reduces and computes only
 * the kept ones, and writes the rest without reading them (fill_masked). */
void kept_range(const slice_ctx *c, ulong n, ulong *begin, ulong *end)
{
#if CUTS_RANGE
    long first = max(c->keep_lo, 0L), past = min(c->keep_hi + 1, (long)n);
    *begin = past > first ? (ulong)first : 0;
    *end = past > first ? (ulong)past : 0;
#else
    (void)c;
    *begin = 0;
    *end = n;
#endif
}

/* The output of a masked entry: 0 or -inf, or NaN in a NaN slice. */
real masked_output(slice_norm nm)
{
    if (isnan(nm.total))
        return CANONICAL_NAN;
    return LOG_SOFTMAX ? -INFINITY : (real)0;
}

/* Entries [from, to) of a slice at stride apart, masked. */
void fill_masked_scalar(global store_t *y, ulong stride, ulong from, ulong to, slice_norm nm)
{
    real v = masked_output(nm);
    for (ulong j = from; j < to; ++j)
        STORE(y, j * stride, v);
}

/* The norm of a slice from its own state: with its head's sink joined, and its statistics
 * written when write_stats (the split family writes them from one chunk only). */
slice_norm finish_slice(state st, const options *o, ulong s, int write_stats)
{
#if SINKS
    ulong head = (o->first + s) / o->rows % o->heads;
    state_merge(&st, state_from(o->sinks[head], 1, 0, o->a), o->a);
#endif
#if STATS_OUT
    /* In the scaled domain, a = 1: the max is hi itself and the sum is relative to it.
     * A fully masked slice's entries each weigh 1 against its -inf max (weight()), which
     * output() reads as a masked slice; its reported sum is 0. */
    if (write_stats) {
        real max = st.hi, sum = max == -INFINITY ? (real)0 : st.sum + st.comp;
        if (isnan(max) || isnan(sum))
            max = sum = CANONICAL_NAN;
        o->stats_out[2 * s] = max;
        o->stats_out[2 * s + 1] = sum;
    }
#endif
    return norm_of(st);
}

/* The norm of slice s from the given statistics, with the contract's special values: a
 * NaN gives a NaN slice, a zero sum (or a -inf max) a fully masked one, and a +inf max
 * shares the mass among the +inf entries (output()). An infinite sum leaves every entry 0
 * (-inf) too, the limit of a +inf one, which an entry far above the given max would otherwise
 * turn into inf / inf. */
slice_norm norm_from_stats(const options *o, ulong s)
{
    real max = o->stats_in[2 * s], sum = o->stats_in[2 * s + 1];
    slice_norm n;
    n.lo = 0;
    if (isnan(max) || isnan(sum)) {
        n.hi = n.total = n.log_total = CANONICAL_NAN;
    } else if (sum == 0 || isinf(sum) || max == -INFINITY) {
        n.hi = -INFINITY;
        n.total = 0;
        n.log_total = -INFINITY;
    } else {
        n.hi = max;
        n.total = sum;
        n.log_total = log(sum);
    }
    return n;
}

real canonical(real v)
{
    return isnan(v) ? CANONICAL_NAN : v;
}

/* The output of an entry. With given statistics no reduction sees the slice, so a NaN entry
 * is NaN on its own, whatever the statistics, and must be the canonical NaN. */
#if STATS_IN
#define OUTPUT_OF(u, nm, a) output_given((u), (nm), (a))
real output_given(real u, slice_norm nm, real a)
{
    return isnan(u) ? CANONICAL_NAN : canonical(output(u, nm, a));
}
#else
#define OUTPUT_OF(u, nm, a) output((u), (nm), (a))
#endif

/* The state of n entries at stride apart, from entry j0 of the slice on, one at a time: the
 * general path, and the fallback of the vector kernels for slices whose shift is not
 * finite. */
state range_state_scalar(global const store_t *x, ulong stride, ulong n, const slice_ctx *c,
                         ulong j0)
{
    state st = state_empty(c->a);
    for (ulong j = 0; j < n; ++j)
        state_add(&st, entry_u(LOAD(x, j * stride), c, j0 + j), c->a);
    return st;
}

void range_output_scalar(global const store_t *x, global store_t *y, ulong stride, ulong n,
                         slice_norm nm, const slice_ctx *c, ulong j0)
{
    /* A NaN slice, whichever path found it: its total is NaN. */
    if (isnan(nm.total)) {
        for (ulong j = 0; j < n; ++j)
            STORE(y, j * stride, CANONICAL_NAN);
        return;
    }
    for (ulong j = 0; j < n; ++j)
        STORE(y, j * stride,
              OUTPUT_OF(entry_u(LOAD(x, j * stride), c, j0 + j), nm, c->a));
}

/* Slice s, of n entries at stride apart, one at a time. */
void slice_scalar(global const store_t *x, global store_t *y, ulong stride, ulong n,
                  const options *o, ulong s)
{
    slice_ctx c = slice_ctx_of(o, s);
    ulong begin, end;
    kept_range(&c, n, &begin, &end);
#if STATS_IN
    slice_norm nm = norm_from_stats(o, s);
#else
    slice_norm nm = finish_slice(
        range_state_scalar(x + begin * stride, stride, end - begin, &c, begin), o, s, 1);
#endif
#if WRITE_Y
    range_output_scalar(x + begin * stride, y + begin * stride, stride, end - begin, nm, &c,
                        begin);
    fill_masked_scalar(y, stride, 0, begin, nm);
    fill_masked_scalar(y, stride, end, n, nm);
#endif
}
