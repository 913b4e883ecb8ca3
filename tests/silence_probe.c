/* Run by test_silence with fd 1 and 2 captured: first calls of every kernel family, dtype and op, which must print nothing. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <clsoftmax.h>

/* Exit codes say what failed, since printing is what the caller is looking for. */
enum { PROBE_OK = 0, PROBE_CONTEXT = 10, PROBE_CALL = 11 };

int main(void)
{
    static const char *const families[] = {"item", "group", "row", "columns", "split", "regs"};
    static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
    /* Strided for the columns family, contiguous rows for the others. */
    static const clsm_shape rows = {3, 40, 1}, columns = {2, 40, 17};
    static uint64_t x[2 * 40 * 17], y[2 * 40 * 17];
    memset(x, 0, sizeof x);
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        setenv("CLSM_KERNEL", families[f], 1);
        clsm_context *ctx;
        if (clsm_context_create(&ctx) != CLSM_SUCCESS)
            return PROBE_CONTEXT;
        clsm_shape shape = strcmp(families[f], "columns") == 0 ? columns : rows;
        for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
            for (int op = CLSM_SOFTMAX; op <= CLSM_LOG_SOFTMAX; op++) {
                clsm_status st = clsm_softmax_host(ctx, (clsm_op)op, dtypes[d], shape, 1.0f, x, y);
                if (st != CLSM_SUCCESS && st != CLSM_ERROR_UNSUPPORTED) {
                    clsm_context_release(ctx);
                    return PROBE_CALL;
                }
            }
        }
        clsm_context_release(ctx);
    }
    return PROBE_OK;
}
