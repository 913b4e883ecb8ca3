/* Slices held in registers, for GPUs: each element of x is read from global memory once and
 * each element of y written once, wherever a slice fits one work-group.
 *
 * Needs softmax_common.cl and softmax_entries.cl before it, and -DITEMS=4|16: the entries each
 * work-item holds, in a private array that a GPU keeps in registers (every index is known at
 * compile time). A work-group takes bundle slices at a time (a power of two dividing its size),
 * each held by parts = local size / bundle work-items; along a contiguous slice (inner == 1)
 * neighbouring work-items hold neighbouring vectors of RV entries, across strided slices
 * neighbouring work-items hold neighbouring slices, so that reads coalesce either way. The
 * (max, sum) reductions go through local memory in a fixed order, so results are
 * deterministic: the max first, then the weights against it, which no rescaling touches.
 *
 * A slice longer than parts*ITEMS is cut into chunks chunk entries long (a multiple of 16),
 * chunks per slice, one per work-group:
 *  - softmax_regs_states writes each chunk's state to scratch as softmax_split_states does:
 *    the max at [g], the sum at [n + g] and its error term at [2n + g], for chunk g of n;
 *  - softmax_regs, with chunks > 1, merges the chunk states of its slice in a fixed order
 *    and writes its chunk, which it has read again. With chunks == 1 (launched alone) it
 *    reduces the entries it holds; with given statistics (STATS_IN) it reduces nothing.
 * Local size at most MAX_GROUP, any number of work-groups: they loop over the (bundle of
 * slices, chunk) tasks. x and y may be the same memory (in place): each entry is written only
 * by the work-item that read it, after reading it.
 */

/* The largest work-group of a variant, which sizes its local memory (shared_constants.h):
 * host/families.c gives CLSM_REGS_FEW (4) entries a work-item to contiguous slices up to 1024
 * long, in work-groups of up to CLSM_REGS_FEW_GROUP (256), and CLSM_REGS_MANY (16) to longer
 * ones, in up to CLSM_REGS_MAX_GROUP (1024; CLSM_REGS_MAX_GROUP_F64, 512, of f64). The two
 * kernels' arrays together then take 24 KiB, within the 32 KiB of local memory every device
 * has (oclgrind counts both kernels' against each). */
#if ITEMS == CLSM_REGS_FEW
#define MAX_GROUP CLSM_REGS_FEW_GROUP
#elif DTYPE_F64
#define MAX_GROUP CLSM_REGS_MAX_GROUP_F64
#else
#define MAX_GROUP CLSM_REGS_MAX_GROUP
#endif

/* The vectors entries move in: 16 bytes (8 for 16-bit types holding 4 entries). raw_t is
 * the storage bits of one entry; decode and encode turn them into reals and back. Loads and
 * stores are plain ones of vector types rather than vloadn and vstoren, which oclgrind
 * counts as calls, not as global memory traffic (bench/traffic). */
#if DTYPE_F32
#define RV 4
typedef float raw_t;
typedef float4 raw_v;
#elif DTYPE_F64
#define RV 2
typedef double raw_t;
typedef double2 raw_v;
#elif ITEMS < 8
#define RV 4
typedef ushort raw_t;
typedef ushort4 raw_v;
#else
#define RV 8
typedef ushort raw_t;
typedef ushort8 raw_v;
#endif
#define BLOCKS (ITEMS / RV)

typedef union {
    raw_v v;
    raw_t s[RV];
} raw_block;

real decode(raw_t b)
{
#if DTYPE_F16
    return vload_half(0, (const half *)&b);
#elif DTYPE_BF16
    return as_float((uint)b << 16);
#else
    return b;
#endif
}

raw_t encode(real v)
{
#if DTYPE_F16
    if (isnan(v))
        return CANONICAL_HALF_NAN;
    ushort b;
    vstore_half_rte(v, 0, (half *)&b);
    return b;
#elif DTYPE_BF16
    return bf16_from_float(v);
#else
    return v;
#endif
}

/* Work-item (c, p) holds part p of slice c of its work-group's bundle. */
typedef struct {
    uint cols, parts, c, p;
    uint firsts; /* the partial results a reduction's first level leaves, about sqrt(parts) */
    int strided;
} layout;

layout layout_of(uint cols, int strided)
{
    layout l;
    uint lid = get_local_id(0);
    l.cols = cols;
    l.parts = get_local_size(0) / cols;
    l.strided = strided;
    l.c = strided ? lid % cols : lid / l.parts;
    l.p = strided ? lid / cols : lid % l.parts;
    l.firsts = 1;
    while (l.firsts * l.firsts < l.parts)
        l.firsts *= 2;
    return l;
}

/* The local slot of part p of the work-item's slice: the local id of the work-item holding
 * it, so that neighbouring work-items use neighbouring slots (no bank conflicts). */
uint slot(const layout *l, uint p)
{
    return l->strided ? p * l->cols + l->c : l->c * l->parts + p;
}

/* What a work-group's task gives one work-item: its slice and the chunk's entries. */
typedef struct {
    ulong s;          /* the slice, of the launch's outer*inner */
    int active;       /* s < outer*inner; the others only join the barriers */
    ulong base;       /* offset of the slice's entry 0 in x and y */
    ulong q;          /* the chunk's index within its slice */
    ulong begin, end; /* the chunk's entries */
    ulong kb, ke;     /* those causal, window and kv_lengths keep, empty at begin where none */
    slice_ctx ctx;
} task;

task task_of(ulong g, const layout *l, const options *o, ulong outer, ulong axis, ulong inner,
             ulong chunk, ulong chunks)
{
    task t;
    t.q = g % chunks;
    t.s = g / chunks * l->cols + l->c;
    t.active = t.s < outer * inner;
    t.base = t.begin = t.end = t.kb = t.ke = 0;
    if (!t.active)
        return t;
    ulong outer_index = t.s / inner;
    t.base = outer_index * axis * inner + (t.s - outer_index * inner);
    t.begin = t.q * chunk;
    t.end = min(t.begin + chunk, axis);
    t.ctx = slice_ctx_of(o, t.s);
    ulong kept_begin, kept_end;
    kept_range(&t.ctx, axis, &kept_begin, &kept_end);
    t.kb = max(t.begin, kept_begin);
    t.ke = min(t.end, kept_end);
    if (t.ke <= t.kb)
        t.kb = t.ke = t.begin;
    return t;
}

/* The index in its slice of entry i of the work-item's block k. */
ulong entry_index(const task *t, const layout *l, uint k, uint i)
{
    return t->begin + ((ulong)k * l->parts + l->p) * RV + i;
}

int kept(const task *t, ulong j)
{
    return j >= t->kb && j < t->ke;
}

/* The work-item's entries of the chunk as u; -inf where nothing is kept. A contiguous slice
 * whose chunk starts on a vector boundary is read in whole vectors. */
void load_u(real *u, global const store_t *x, ulong x_off, ulong inner, const task *t,
            const layout *l)
{
    global const raw_t *slice = (global const raw_t *)x + x_off + t->base;
    int vectors = !l->strided && (x_off + t->base + t->begin) % RV == 0;
#pragma unroll
    for (uint k = 0; k < BLOCKS; ++k) {
        ulong j0 = entry_index(t, l, k, 0);
        if (vectors && j0 >= t->kb && j0 + RV <= t->ke) {
            raw_block b;
            b.v = *(global const raw_v *)(slice + j0);
#pragma unroll
            for (uint i = 0; i < RV; ++i)
                u[k * RV + i] = entry_u(decode(b.s[i]), &t->ctx, j0 + i);
        } else {
#pragma unroll
            for (uint i = 0; i < RV; ++i)
                u[k * RV + i] = kept(t, j0 + i)
                                    ? entry_u(decode(slice[(j0 + i) * inner]), &t->ctx, j0 + i)
                                    : -INFINITY;
        }
    }
}

/* The max (NaN if any is) of v over the parts of each slice, for every part: a first level
 * where part p < firsts folds parts p + firsts, p + 2*firsts, ..., then every part folds the
 * firsts results. Four barriers per slice for the max and the sum, whatever the size. */
real slice_max(local real *slots, real v, const layout *l)
{
    uint me = slot(l, l->p);
    slots[me] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l->p < l->firsts) {
        for (uint q = l->p + l->firsts; q < l->parts; q += l->firsts)
            v = max_nan(v, slots[slot(l, q)]);
        slots[me] = v;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    real m = slots[slot(l, 0)];
    for (uint q = 1; q < l->firsts; ++q)
        m = max_nan(m, slots[slot(l, q)]);
    return m;
}

/* Adds (sum2, comp2) to (sum, comp), the error of the sums' addition kept (state_merge). */
void combine(real *sum, real *comp, real sum2, real comp2)
{
    real c = *comp + comp2, error;
    TWO_SUM(*sum, sum2, *sum, error);
    *comp = c + error;
}

/* (sum, comp) over the parts of each slice, for every part, in slice_max's order. Its slots
 * are not slice_max's, so that a slice's sum and the next one's max need no barrier between
 * them. */
void slice_sum(local real *sums, local real *comps, real *sum, real *comp, const layout *l)
{
    uint me = slot(l, l->p);
    sums[me] = *sum;
    comps[me] = *comp;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l->p < l->firsts) {
        for (uint q = l->p + l->firsts; q < l->parts; q += l->firsts)
            combine(sum, comp, sums[slot(l, q)], comps[slot(l, q)]);
        sums[me] = *sum;
        comps[me] = *comp;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    *sum = sums[slot(l, 0)];
    *comp = comps[slot(l, 0)];
    for (uint q = 1; q < l->firsts; ++q)
        combine(sum, comp, sums[slot(l, q)], comps[slot(l, q)]);
}

/* The state of the chunk from the entries its work-items hold. */
state chunk_state(const real *u, local real *maxes, local real *sums, local real *comps,
                  const task *t, const layout *l, real a)
{
    real m = -INFINITY;
#pragma unroll
    for (uint i = 0; i < ITEMS; ++i)
        m = max_nan(m, u[i]);
    state st = state_from(slice_max(maxes, m, l), 0, 0, a);
#pragma unroll
    for (uint k = 0; k < BLOCKS; ++k)
#pragma unroll
        for (uint i = 0; i < RV; ++i)
            if (kept(t, entry_index(t, l, k, i)))
                add_compensated(&st, weight(u[k * RV + i], a, st.hi, st.lo));
    slice_sum(sums, comps, &st.sum, &st.comp, l);
    return st;
}

/* The state of the whole slice from its chunks' states, as chunk_state from entries: part p
 * takes chunks p, p + parts, ..., each weighing its sum against the slice's max. */
state merged_state(global const real *scratch, ulong chunks, ulong n, local real *maxes,
                   local real *sums, local real *comps, const task *t, const layout *l, real a)
{
    ulong first = t->s * chunks, count = t->active ? chunks : 0;
    real m = -INFINITY;
    for (ulong q = l->p; q < count; q += l->parts)
        m = max_nan(m, scratch[first + q]);
    state st = state_from(slice_max(maxes, m, l), 0, 0, a);
    for (ulong q = l->p; q < count; q += l->parts) {
        real f = weight(scratch[first + q], a, st.hi, st.lo);
        combine(&st.sum, &st.comp, scratch[n + first + q] * f, scratch[2 * n + first + q] * f);
    }
    slice_sum(sums, comps, &st.sum, &st.comp, l);
    return st;
}

/* The work-item's outputs of the chunk; in whole vectors where load_u would read them so. */
void store_y(global store_t *y, ulong y_off, ulong inner, const real *u, slice_norm nm, real a,
             const task *t, const layout *l)
{
    global raw_t *slice = (global raw_t *)y + y_off + t->base;
    int vectors = !l->strided && (y_off + t->base + t->begin) % RV == 0;
#pragma unroll
    for (uint k = 0; k < BLOCKS; ++k) {
        ulong j0 = entry_index(t, l, k, 0);
        raw_block b;
#pragma unroll
        for (uint i = 0; i < RV; ++i)
            b.s[i] = encode(isnan(nm.total) || !kept(t, j0 + i)
                                ? masked_output(nm)
                                : OUTPUT_OF(u[k * RV + i], nm, a));
        if (vectors && j0 + RV <= t->end) {
            *(global raw_v *)(slice + j0) = b.v;
        } else {
#pragma unroll
            for (uint i = 0; i < RV; ++i)
                if (j0 + i < t->end)
                    slice[(j0 + i) * inner] = b.s[i];
        }
    }
}

kernel void softmax_regs_states(KERNEL_ARGS)
{
    local real maxes[MAX_GROUP];
    local real sums[MAX_GROUP];
    local real comps[MAX_GROUP];
    options o = OPTIONS_OF_ARGS;
    layout l = layout_of(bundle, inner > 1);
    ulong n = outer * inner * chunks;
    ulong tasks = (outer * inner + l.cols - 1) / l.cols * chunks;
    for (ulong g = get_group_id(0); g < tasks; g += get_num_groups(0)) {
        task t = task_of(g, &l, &o, outer, axis, inner, chunk, chunks);
        real u[ITEMS];
        load_u(u, x, x_off, inner, &t, &l);
        state st = chunk_state(u, maxes, sums, comps, &t, &l, o.a);
        if (t.active && l.p == 0) {
            ulong i = t.s * chunks + t.q;
            scratch[i] = st.umax;
            scratch[n + i] = st.sum;
            scratch[2 * n + i] = st.comp;
        }
    }
}

kernel void softmax_regs(KERNEL_ARGS)
{
    local real maxes[MAX_GROUP];
    local real sums[MAX_GROUP];
    local real comps[MAX_GROUP];
    options o = OPTIONS_OF_ARGS;
    layout l = layout_of(bundle, inner > 1);
    ulong n = outer * inner * chunks;
    ulong tasks = (outer * inner + l.cols - 1) / l.cols * chunks;
    for (ulong g = get_group_id(0); g < tasks; g += get_num_groups(0)) {
        task t = task_of(g, &l, &o, outer, axis, inner, chunk, chunks);
        real u[ITEMS];
#if WRITE_Y
        load_u(u, x, x_off, inner, &t, &l);
#else
        /* Statistics only: the entries make the state where the chunk is the whole slice. */
        if (chunks == 1)
            load_u(u, x, x_off, inner, &t, &l);
#endif
#if STATS_IN
        if (!t.active)
            continue;
        slice_norm nm = norm_from_stats(&o, t.s);
#else
        state st = chunks == 1 ? chunk_state(u, maxes, sums, comps, &t, &l, o.a)
                               : merged_state(scratch, chunks, n, maxes, sums, comps, &t, &l,
                                              o.a);
        /* Past the last barrier of the task. */
        if (!t.active)
            continue;
        /* Every chunk of the slice has the same state; part 0 of its first writes the
         * statistics. */
        slice_norm nm = finish_slice(st, &o, t.s, l.p == 0 && t.q == 0);
#endif
#if WRITE_Y
        store_y(y, y_off, inner, u, nm, o.a, &t, &l);
#endif
    }
}
