/* Outside consumer: softmax of [1, 2, 3], plain and soft-capped at 2 (v2's options struct),
 * through the installed public header and library. */
#include <stdio.h>

#include <clsoftmax.h>

int main(void)
{
    static const float x[3] = {1.0f, 2.0f, 3.0f};
    static const double want[2][3] = {{0.09003057, 0.24472847, 0.66524096},
                                      {0.19062966, 0.34698676, 0.46238358}};
    float y[2][3] = {{0}};
    clsm_options capped = CLSM_OPTIONS_INIT;
    capped.softcap = 2.0f;
    clsm_context *ctx = NULL;
    clsm_shape shape = {1, 3, 1};
    int bad = 0;

    clsm_status st = clsm_context_create(&ctx);
    if (st == CLSM_SUCCESS)
        st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x, y[0]);
    if (st == CLSM_SUCCESS)
        st = clsm_softmax_host_ex(ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0, &capped, x, y[1]);
    clsm_context_release(ctx);
    if (st != CLSM_SUCCESS) {
        fprintf(stderr, "consumer: %s\n", clsm_status_string(st));
        return 1;
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++) {
            double err = (double)y[k][i] - want[k][i];
            /* The known answers have 8 digits; the contract allows 1e-5 relative (and the
             * cap 8 * 2^-24 * 2 more). */
            if (!(err <= 2e-5 * want[k][i] && -err <= 2e-5 * want[k][i])) {
                fprintf(stderr, "consumer: y[%d][%d] = %.8f, want %.8f\n", k, i, y[k][i],
                        want[k][i]);
                bad = 1;
            }
        }
    if (!bad)
        printf("consumer: clsoftmax %s ok: %.8f %.8f %.8f, capped %.8f %.8f %.8f\n",
               clsm_version(), y[0][0], y[0][1], y[0][2], y[1][0], y[1][1], y[1][2]);
    return bad;
}
