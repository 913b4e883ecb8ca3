/* A request's kernel variant, and the build options that compile it, which are also its cache key. */
#include <stdio.h>

#include "internal.h"

clsm_variant clsm_variant_of(const clsm_request *r, clsm_family_id family, int write_y)
{
    const clsm_options *o = &r->opt;
    clsm_variant v = {
        .family = family,
        .dtype = r->dtype,
        .op = r->op,
        .zero_scale = r->scale == 0.0f,
        .mask = o->mask_type,
        .causal = o->causal != 0,
        .window = o->causal && o->window > 0,
        .sinks = o->sinks.buffer != NULL,
        .stats_out = o->stats_out.buffer != NULL,
        .stats_in = o->stats_in.buffer != NULL,
        .write_y = write_y,
    };
    return v;
}

/* Every field, written out: two variants compile alike exactly when their options match. */
void clsm_variant_options(const clsm_variant *v, char *options)
{
    static const char *const dtype_names[] = {"F32", "F16", "BF16", "F64"};
    snprintf(options, CLSM_OPTIONS_MAX,
             "-cl-std=CL1.2 -DFAMILY_%s=1 -DDTYPE_%s=1 -DLOG_SOFTMAX=%d -DZERO_SCALE=%d "
             "-DWG=%zu -DITEMS=%u -DMASK=%d -DCAUSAL=%d -DWINDOW=%d -DSINKS=%d -DSTATS_OUT=%d "
             "-DSTATS_IN=%d -DWRITE_Y=%d -DBACKWARD=%d",
             clsm_family_of(v->family)->name, dtype_names[v->dtype], v->op == CLSM_LOG_SOFTMAX,
             v->zero_scale, v->group_size, v->items, (int)v->mask, v->causal, v->window, v->sinks,
             v->stats_out, v->stats_in, v->write_y, v->backward);
}
