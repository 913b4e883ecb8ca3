/* A request's kernel variant, and the build options that compile it, which are also its cache key. */
#include <stdio.h>

#include "internal.h"

clsm_variant clsm_variant_of(const clsm_request *r, clsm_family_id family, int write_y)
{
    const clsm_options *o = &r->opt;
    clsm_variant v = {
        .family = family,
        .dtype = r->dtype,
        .log_softmax = r->op == CLSM_LOG_SOFTMAX,
        .zero_scale = r->scale == 0,
        .mask = o->mask_type,
        .causal = o->causal != 0,
        .window = o->causal && o->window > 0,
        .sinks = o->sinks.buffer != NULL,
        .stats_out = o->stats_out.buffer != NULL,
        .stats_in = o->stats_in.buffer != NULL,
        .softcap = o->softcap > 0,
        .alibi = o->alibi_slopes.buffer != NULL,
        .kv_lengths = o->kv_lengths.buffer != NULL,
        .write_y = write_y,
    };
    return v;
}

/* Every flag, written out: two variants compile alike exactly when their options match. */
clsm_status clsm_variant_options(const clsm_variant *v, char *options)
{
    static const char *const dtype_names[] = {"F32", "F16", "BF16", "F64"};
    int n = snprintf(options, CLSM_OPTIONS_MAX, "-cl-std=CL1.2 -DFAMILY_%s=1 -DDTYPE_%s=1",
                     clsm_family_of(v->family)->name, dtype_names[v->dtype]);
#define APPEND_FLAG(field, FLAG, reach)                                                     \
    if (n >= 0 && (size_t)n < CLSM_OPTIONS_MAX)                                             \
        n += snprintf(options + n, CLSM_OPTIONS_MAX - (size_t)n, " -D" #FLAG "=%ld", v->field);
    CLSM_VARIANT_FLAGS(APPEND_FLAG)
#undef APPEND_FLAG
    /* CLSM_OPTIONS_MAX leaves room for every value, so this only catches a family name
     * longer than CLSM_FAMILY_NAME_MAX; two variants must never share a cut-short key. */
    return n >= 0 && (size_t)n < CLSM_OPTIONS_MAX ? CLSM_SUCCESS : CLSM_ERROR_BUILD_FAILED;
}
