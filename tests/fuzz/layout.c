/* Where a request's tensors lie: the host path's blocks, the buffers path's roots and the pads around each option tensor and per-row tensor, and what each holds before the call. */
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* Pads before and after each option tensor in its buffer, in its own elements, no two alike,
 * so that a kernel reading one tensor's offset for another's reads the wrong elements. The
 * tail shows writes past stats_out. */
static const size_t LEAD[TENSORS] = {[T_MASK] = 13, [T_SINKS] = 3, [T_STATS_IN] = 5,
                                     [T_ALIBI] = 11, [T_KV] = 17, [T_STATS_OUT] = 7};
static const size_t TAIL[TENSORS] = {[T_MASK] = 3, [T_SINKS] = 5, [T_STATS_IN] = 2,
                                     [T_ALIBI] = 6, [T_KV] = 1, [T_STATS_OUT] = 4};

/* Likewise for sampling's per-row tensors and logprobs, unlike the option tensors' too. */
static const size_t S_LEAD[S_TENSORS] = {[S_TEMPS] = 19, [S_TOP_KS] = 23, [S_TOP_PS] = 29,
                                         [S_MIN_PS] = 31, [S_SEEDS] = 37, [S_LOGPROBS] = 41};
static const size_t S_TAIL[S_TENSORS] = {[S_TEMPS] = 9, [S_TOP_KS] = 8, [S_TOP_PS] = 10,
                                         [S_MIN_PS] = 11, [S_SEEDS] = 12, [S_LOGPROBS] = 13};

void sample_pads(const request *q, int k, size_t *lead, size_t *tail)
{
    *lead = S_LEAD[k] * sample_element_size(q, k);
    *tail = S_TAIL[k] * sample_element_size(q, k);
}

size_t lp_delta(const request *q)
{
    const size_t element = sample_element_size(q, S_LOGPROBS);
    return q->lp_place == LP_INTO_TOKENS ? element
           : q->lp_place == LP_AFTER_TOKENS ? (q->out_bytes + element - 1) / element * element
                                            : 0;
}

/* Whether sampling's logprobs lie in the tokens' block or buffer. */
static int lp_with_tokens(const request *q)
{
    return q->sample && q->s_set[S_LOGPROBS] && q->lp_place != LP_OWN;
}

void tensor_pads(const request *q, int k, size_t *lead, size_t *tail)
{
    const size_t element = k == T_MASK          ? mask_element_size(q->opt.mask_type)
                           : k == T_KV            ? sizeof(int32_t)
                           : q->dtype == CLSM_F64 ? 8
                                                  : 4;
    *lead = LEAD[k] * element;
    *tail = TAIL[k] * element;
}

/* A root's size: what its users need, plus the input's signed adjustment. */
size_t root_size(const request *q, int root)
{
    size_t need = 0;
    size_t bytes = q->small ? q->bytes : 0;
    if (q->x_root == root) {
        size_t end = q->x_origin + (q->x_offset <= 0xFFFF ? q->x_offset : 0) + bytes;
        need = end > need ? end : need;
    }
    if (q->y_root == root) {
        const size_t at = q->y_origin + (q->y_offset <= 0xFFFF ? q->y_offset : 0);
        size_t end = at + (q->out_small ? q->out_bytes : 0);
        if (lp_with_tokens(q) && q->out_small)
            end = at + lp_delta(q) + q->s_need[S_LOGPROBS] > end
                      ? at + lp_delta(q) + q->s_need[S_LOGPROBS]
                      : end;
        need = end > need ? end : need;
    }
    if (q->backward && q->dy_root == root) {
        size_t end = q->dy_origin + (q->dy_offset <= 0xFFFF ? q->dy_offset : 0) + bytes;
        need = end > need ? end : need;
    }
    if (q->fx_root == root) {
        size_t end = q->fx_origin + (q->fx_offset <= 0xFFFF ? q->fx_offset : 0) + bytes;
        need = end > need ? end : need;
    }
    long size = (long)need + q->size_delta[root];
    /* The largest origin must stay inside the root, so its sub-buffer exists. */
    long least = (long)(3 * q->dev.base_align + 1);
    return (size_t)(size > least ? size : least);
}

/* A tensor in place in another, or overlapping it, shares its block; the one reaching
 * furthest ends exactly at the end of its block, so that ASan sees overreads. Sampling's
 * logprobs share the tokens' block where they lie with them. */
void layout_host(const request *q, host_layout *l)
{
    const size_t bytes = q->small ? q->bytes : 0;
    const size_t extent[H_TENSORS] = {bytes, q->out_small ? q->out_bytes : 0, bytes, bytes,
                                      q->out_small ? q->s_need[S_LOGPROBS] : 0};
    size_t misalign[BLOCKS] = {q->misalign, q->misalign * 3 & 7, q->misalign * 5 & 7,
                               q->misalign * 7 & 7};
    long rel[H_TENSORS] = {0, 0, 0, 0, 0};
    memset(l, 0, sizeof *l);
    l->block[H_IN] = 0;
    l->block[H_OUT] = 1;
    l->block[H_DY] = q->backward ? 2 : -1;
    l->block[H_X] = q->fx_host == HX_NULL ? -1 : BLOCK_X;
    l->block[H_LP] = -1;
    if (q->backward && (q->host_dy == HDY_SAME_AS_Y || q->host_dy == HDY_OVERLAP_Y)) {
        l->block[H_DY] = 0;
        rel[H_DY] = q->host_dy == HDY_OVERLAP_Y ? q->dy_overlap : 0;
    }
    if (q->host_layout == HOST_IN_PLACE || q->host_layout == HOST_OVERLAP) {
        const int partner = q->backward && !q->dx_on_y ? H_DY : H_IN;
        l->block[H_OUT] = l->block[partner];
        rel[H_OUT] = rel[partner] + (q->host_layout == HOST_OVERLAP ? q->overlap : 0);
    }
    if (q->fx_host == HX_SAME_AS_Y || q->fx_host == HX_OVERLAP_DX) {
        const int partner = q->fx_host == HX_SAME_AS_Y ? H_IN : H_OUT;
        l->block[H_X] = l->block[partner];
        rel[H_X] = rel[partner] + (q->fx_host == HX_OVERLAP_DX ? q->fx_overlap : 0);
    }
    /* Past the rows held the tokens are NULL (decode.c), and so are logprobs with them. */
    if (lp_with_tokens(q) && q->out_small) {
        l->block[H_LP] = l->block[H_OUT];
        rel[H_LP] = rel[H_OUT] + (long)lp_delta(q);
    }
    /* Sampling's tokens and logprobs are typed arrays, which a caller hands over aligned. */
    if (q->sample)
        misalign[l->block[H_OUT]] = 0;
    for (int b = 0; b < BLOCKS; b++) {
        long lo = 0, hi = 0;
        int used = 0;
        for (int t = 0; t < H_TENSORS; t++) {
            if (l->block[t] != b)
                continue;
            lo = used && lo < rel[t] ? lo : rel[t];
            hi = used && hi > rel[t] + (long)extent[t] ? hi : rel[t] + (long)extent[t];
            used = 1;
        }
        if (!used)
            continue;
        l->size[b] = misalign[b] + (size_t)(hi - lo);
        for (int t = 0; t < H_TENSORS; t++)
            if (l->block[t] == b)
                l->at[t] = misalign[b] + (size_t)(rel[t] - lo);
    }
}

/* Where input t (H_IN, H_DY or H_X) is before the call, if the harness could place it: block
 * and byte. */
static int input_placement(const request *q, int t, int *block, size_t *at)
{
    if (!q->small || (t == H_DY && !q->backward) || (t == H_X && !q->fx))
        return 0;
    if (!q->buffers) {
        host_layout l;
        layout_host(q, &l);
        *block = l.block[t];
        *at = l.at[t];
        return *block >= 0;
    }
    const int root = t == H_IN ? q->x_root : t == H_DY ? q->dy_root : q->fx_root;
    const size_t origin = t == H_IN ? q->x_origin : t == H_DY ? q->dy_origin : q->fx_origin;
    const size_t offset = t == H_IN ? q->x_offset : t == H_DY ? q->dy_offset : q->fx_offset;
    if (root == NO_ROOT)
        return 0;
    size_t size = root_size(q, root);
    *block = root;
    *at = origin + offset;
    return offset <= size && origin <= size - offset && q->bytes <= size - origin - offset;
}

/* Sentinels, then the inputs placed in the block, dy over y and x over both where they
 * overlap. */
unsigned char *initial_block(const request *q, int block, size_t size)
{
    unsigned char *m = xmalloc(size);
    ts_fill_sentinel(m, size);
    const int inputs[3] = {H_IN, H_DY, H_X};
    for (int k = 0; k < 3; k++) {
        int b;
        size_t at;
        if (input_placement(q, inputs[k], &b, &at) && b == block)
            memcpy(m + at, inputs[k] == H_IN ? q->x : inputs[k] == H_DY ? q->dy : q->fx,
                   q->bytes);
    }
    return m;
}

/* Input t as the call sees it, from its block's initial bytes (another input may share
 * them); NULL where it is not placed. */
unsigned char *effective_input(const request *q, int t)
{
    int block;
    size_t at;
    if (!input_placement(q, t, &block, &at))
        return NULL;
    host_layout l;
    layout_host(q, &l);
    unsigned char *m = initial_block(q, block, q->buffers ? root_size(q, block) : l.size[block]);
    unsigned char *v = xmalloc(q->bytes);
    memcpy(v, m + at, q->bytes);
    free(m);
    return v;
}
