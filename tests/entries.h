/* The public entry points as one table, and a runner that gives a call's host data to any of them, so that each concern (bad input, determinism, threads, in place, events) is written once and runs on every entry point. No Criterion: threads may call it. */
#ifndef CLSM_TEST_ENTRIES_H
#define CLSM_TEST_ENTRIES_H

#include "checks.h"

/*
 * Every argument an entry point takes; each reads the ones it has. The forward's x is in[0]
 * and its y is out; the backward's y and dy are in[0] and in[1], its x (the _ex entries', read
 * with a cap) in[2], and its dx is out. Sampling's logits are in[0] as [rows, vocab, 1] (its
 * adaptors pass shape.outer and shape.axis, so a sampling call keeps inner 1), its tokens out,
 * and it takes no op.
 */
typedef struct ts_args {
    clsm_context *ctx;
    clsm_op op;
    clsm_dtype dtype;
    clsm_shape shape;
    double scale; /* the v1 entry points take it as a float */
    const clsm_options *options;
    const void *in[3]; /* the host entries' */
    void *out;
    cl_mem in_buffer[3]; /* the buffers entries' */
    size_t in_offset[3];
    cl_mem out_buffer;
    size_t out_offset;
    cl_uint num_events;
    const cl_event *events;
    cl_event *event;
    const clsm_sampling *sampling; /* the sampling entries' */
} ts_args;

typedef struct ts_entry {
    const char *name;
    unsigned inputs; /* 1: x; 2: y and dy (and x with options) */
    bool buffers;    /* device memory: asynchronous, with a wait list and an event */
    bool options;    /* takes clsm_options */
    clsm_status (*call)(const ts_args *a);
    bool sample; /* draws a token per row (clsm_sampling): out is rows int32_t */
} ts_entry;

/* host, buffers, host_ex, buffers_ex, backward_host, backward_buffers, backward_host_ex,
 * backward_buffers_ex, sample_host, sample_buffers. A new public entry point gets a row here,
 * and every concern suite runs it. */
#define TS_ENTRIES 10
extern const ts_entry ts_entries[TS_ENTRIES];
#define TS_FOR_EACH_ENTRY(e) for (const ts_entry *e = ts_entries; e < ts_entries + TS_ENTRIES; e++)
/* 0 .. TS_ENTRIES - 1, for Criterion's parameterized tests. */
extern const size_t ts_entry_indices[TS_ENTRIES];

/* A call's data in host memory, for any entry point. */
typedef struct ts_data {
    clsm_op op;
    clsm_dtype dtype;
    clsm_shape shape;
    double scale; /* the v1 entry points take it as a float */
    /* The _ex entries' options (NULL for the others): tensors in their host members;
     * stats_out.host receives the statistics. */
    const clsm_options *options;
    const void *in[3]; /* as ts_args' */
    /* The sampling entries' (NULL for the others): per-row tensors in their host members;
     * logprobs.host receives the log-probabilities. */
    const clsm_sampling *sampling;
} ts_data;

/* The bytes of e's output for d: rows tokens for sampling, else every element of d. */
size_t ts_output_bytes(const ts_entry *e, const ts_data *d);

/* The memory the output shares: none; in[0]'s (x, or the backward's y); in[1]'s (dy); or
 * in[0]'s with in[1] the same tensor too (the backward's y, dy and dx one array). */
typedef enum ts_alias { TS_APART, TS_ON_IN0, TS_ON_IN1, TS_ON_BOTH } ts_alias;

/*
 * d's tensors as entry e takes them, in a and in the buffers s holds. Host entries get d's
 * arrays, or out holding a copy of the input the output aliases. Buffers entries get every
 * tensor, the option tensors and sampling's per-row tensors included, in a buffer of its own
 * at an offset and before a pad that no other tensor of the call shares, so that a kernel
 * argument read in the wrong place shows; the outputs start as sentinels. out:
 * ts_output_bytes, or NULL for a statistics-only _ex call. Sampling has no in place.
 */
/* x or y, dy, the output, the backward's x, the option tensors (mask, sinks, stats_in, ALiBi
 * slopes, kv_lengths, stats_out), and sampling's (temperatures, top_ks, top_ps, min_ps,
 * seeds, logprobs). */
#define TS_SLOTS 16
typedef struct ts_staged {
    const ts_entry *entry;
    const ts_data *data;
    ts_alias alias;
    void *out;
    clsm_options options;   /* the buffers' copy of d's */
    clsm_sampling sampling; /* likewise */
    cl_mem buffer[TS_SLOTS];
    size_t offset[TS_SLOTS], bytes[TS_SLOTS], total[TS_SLOTS]; /* of its data, and its buffer */
    unsigned char *before[TS_SLOTS]; /* each tensor as staged, pads included */
    cl_command_queue queue;
} ts_staged;
ts_report ts_stage(const ts_entry *e, clsm_context *ctx, const ts_data *d, ts_alias alias,
                   void *out, ts_staged *s, ts_args *a);
/*
 * After the call: reads the output (statistics, log-probabilities) back into out
 * (stats_out.host, logprobs.host),
 * releases the buffers, and fails where the call wrote past its output's bytes, changed an
 * input, or wrote anything while returning an error.
 */
ts_report ts_unstage(ts_staged *s, clsm_status status);

/* ts_stage, the call, the wait for its event (which a successful buffers call must give),
 * and ts_unstage; *status receives the call's status. Check the report first: where staging
 * fails, there was no call, and *status is CLSM_ERROR_OPENCL. */
ts_report ts_run(const ts_entry *e, clsm_context *ctx, const ts_data *d, ts_alias alias,
                 void *out, clsm_status *status);

/* out, and the statistics d's options asked for, against the f64 reference of d. Sampling's
 * tokens against tests/sample_reference.c (ref_sample_judge: greedy rows the first argmax,
 * the others inside the kept set, the buffers path's rules for per-row values it cannot
 * refuse), and its log-probabilities within the log-softmax bound. */
ts_report ts_check_result(const ts_entry *e, const ts_data *d, const void *out);

/*
 * Options that switch on every fused path a shape allows, for the _ex entries in the
 * concern suites: with inner == 1 an additive f32 mask over [batch 1, heads, rows], causal
 * with a window, a sink and an ALiBi slope per head and a KV length that masks the last
 * entry; soft-capping on any shape, and statistics out (stats, allocated for any entry) for
 * the forward entries, as the backward refuses them. Sampling refuses sinks and statistics,
 * and gets neither. Host arrays, freed by ts_options_free.
 */
typedef struct ts_options {
    clsm_options o;
    void *mask, *sinks, *stats, *slopes;
    int32_t length;
} ts_options;
void ts_options_make(ts_options *t, const ts_entry *e, clsm_dtype dtype, clsm_shape shape,
                     uint64_t seed);
void ts_options_free(ts_options *t);

/*
 * A sampling struct for the sampling entries in the concern suites. With per_row, every
 * per-row tensor and logprobs, in host memory: row r takes case (r + seed) % 8 of greedy,
 * temperature alone, top-k 50 with top-p 0.9, min-p 0.05, top-p alone, top-k 200 (past the
 * small top-k), top-k 1, and top-p 1 (off) with min-p 0.3, each row its own seed. Else case
 * seed % 8 as the scalars, a scalar seed and offset, and no logprobs. Freed by
 * ts_sampling_free.
 */
typedef struct ts_sampling {
    clsm_sampling s;
    float *temperatures, *top_ps, *min_ps;
    uint32_t *top_ks;
    uint64_t *seeds;
    void *logprobs;
} ts_sampling;
void ts_sampling_make(ts_sampling *t, clsm_dtype dtype, size_t rows, bool per_row,
                      uint64_t seed);
void ts_sampling_free(ts_sampling *t);

/* The element size of the statistics and sinks of a dtype's calls: f64 for F64, else f32. */
clsm_dtype ts_stats_dtype(clsm_dtype dtype);
/* The bytes of one element of a mask type. */
size_t ts_mask_element_size(clsm_mask_type type);
/* The mask elements an option set reads: its largest index plus one. */
size_t ts_mask_elements(const clsm_options *o, clsm_shape shape);

#endif
