/* clsoftmax-cold-start: milliseconds from the start of main to the first softmax result in a new process (the work bench/cold-start repeats). */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include <clsoftmax.h>

enum { ROWS = 4, COLS = 256 };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int main(void)
{
    double start = now_ms();
    static float x[ROWS * COLS], y[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++)
        x[i] = (float)(i % 17) * 0.25f;

    clsm_context *ctx;
    clsm_status status = clsm_context_create(&ctx);
    if (status == CLSM_SUCCESS)
        status = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, (clsm_shape){ROWS, COLS, 1},
                                   1.0f, x, y);
    double elapsed = now_ms() - start;
    clsm_context_release(ctx);
    if (status != CLSM_SUCCESS) {
        fprintf(stderr, "clsoftmax-cold-start: %s\n", clsm_status_string(status));
        return 1;
    }
    /* A time is only worth printing for a right result; each row must sum to 1. */
    for (int r = 0; r < ROWS; r++) {
        double sum = 0;
        for (int c = 0; c < COLS; c++)
            sum += y[r * COLS + c];
        if (fabs(sum - 1.0) > 1e-4) {
            fprintf(stderr, "clsoftmax-cold-start: row %d sums to %.9g\n", r, sum);
            return 1;
        }
    }
    printf("%.1f\n", elapsed);
    return 0;
}
