/* Outside consumer: softmax of [1, 2, 3] through the installed public header and library. */
#include <stdio.h>

#include <clsoftmax.h>

int main(void)
{
    static const float x[3] = {1.0f, 2.0f, 3.0f};
    static const double want[3] = {0.09003057, 0.24472847, 0.66524096};
    float y[3] = {0};
    clsm_context *ctx = NULL;
    clsm_shape shape = {1, 3, 1};
    int bad = 0;

    clsm_status st = clsm_context_create(&ctx);
    if (st == CLSM_SUCCESS)
        st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, shape, 1.0f, x, y);
    clsm_context_release(ctx);
    if (st != CLSM_SUCCESS) {
        fprintf(stderr, "consumer: %s\n", clsm_status_string(st));
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        double err = (double)y[i] - want[i];
        /* The known answer has 8 digits; the contract allows 1e-5 relative. */
        if (!(err <= 1e-5 * want[i] && -err <= 1e-5 * want[i])) {
            fprintf(stderr, "consumer: y[%d] = %.8f, want %.8f\n", i, y[i], want[i]);
            bad = 1;
        }
    }
    if (!bad)
        printf("consumer: clsoftmax %s ok: %.8f %.8f %.8f\n", clsm_version(), y[0], y[1], y[2]);
    return bad;
}
