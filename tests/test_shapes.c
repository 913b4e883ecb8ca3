/* F32 results over many [outer, axis, inner] shapes and scales, on every kernel family, against the reference. */
#include <criterion/criterion.h>

#include "support.h"

TestSuite(shapes, .init = ts_open_all, .fini = ts_close_all);

static const float scales[] = {1.0f, 0.5f, 3.0f, -1.0f, -0.25f, 0.0f};
#define N_SCALES (sizeof scales / sizeof scales[0])

/* Inputs in [-10, 10] keep |scale*x| <= 30: the f32 rounding of scale*x stays far inside 1e-5. */
static void check_shape(clsm_shape s, float scale, uint64_t seed)
{
    ts_check_random(CLSM_F32, s, scale, -10, 10, seed);
}

/* The largest count in outers[] that keeps outer*axis*inner within limit, at least 1. */
static size_t pick_outer(size_t k, size_t axis, size_t inner, size_t limit)
{
    static const size_t outers[] = {1, 2, 5, 13, 37};
    size_t outer = outers[k % (sizeof outers / sizeof outers[0])];
    while (outer > 1 && outer * axis * inner > limit)
        outer /= 2;
    return outer;
}

Test(shapes, row_wise_primes_and_powers_of_two_plus_minus_one)
{
    static const size_t axes[] = {1,    2,    3,    7,    31,   63,   64,   65,   127,
                                  128,  129,  255,  256,  257,  1021, 1023, 1024, 1025,
                                  4095, 4096, 4097, 4099, 8191, 8192, 8193, 65537};
    for (size_t k = 0; k < sizeof axes / sizeof axes[0]; k++) {
        clsm_shape s = {pick_outer(k, axes[k], 1, 1u << 18), axes[k], 1};
        check_shape(s, scales[k % N_SCALES], 100 + k);
    }
}

Test(shapes, strided_slices_with_inner_above_one)
{
    static const size_t inners[] = {2, 3, 17, 64, 80};
    static const size_t axes[] = {1, 3, 31, 64, 65, 257, 1025, 4099};
    size_t k = 0;
    for (size_t i = 0; i < sizeof inners / sizeof inners[0]; i++) {
        for (size_t a = 0; a < sizeof axes / sizeof axes[0]; a++, k++) {
            clsm_shape s = {pick_outer(k, axes[a], inners[i], 1u << 18), axes[a], inners[i]};
            check_shape(s, scales[k % N_SCALES], 200 + k);
        }
    }
}

/* Fewer neighbouring slices than a vector: the CPU walks each [axis, inner] slab as one
 * contiguous range, whose column pattern repeats every odd-part-of-inner vectors. The
 * lengths give slabs shorter than a vector, with fewer vectors than that period, and with
 * a partial vector after whole periods. */
Test(shapes, strided_slabs_with_inner_below_a_vector)
{
    static const size_t inners[] = {2, 3, 5, 6, 7, 8, 12, 15};
    static const size_t axes[] = {1, 5, 37, 300};
    size_t k = 0;
    for (size_t i = 0; i < sizeof inners / sizeof inners[0]; i++)
        for (size_t a = 0; a < sizeof axes / sizeof axes[0]; a++, k++)
            check_shape((clsm_shape){3, axes[a], inners[i]}, scales[k % N_SCALES], 900 + k);
}

Test(shapes, many_short_slices)
{
    const clsm_shape shapes[] = {
        {65536, 2, 1}, {20000, 7, 3}, {4099, 31, 1}, {3, 1, 20000}, {1, 5, 40000},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        check_shape(shapes[k], scales[k % N_SCALES], 300 + k);
}

/* Enough rows that the row kernel finishes them a vector's worth at a time (531 leaves a
 * remainder), at every slice length its in-register path takes and either side of it. */
Test(shapes, short_rows_finished_together_in_every_dtype)
{
    static const size_t axes[] = {2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65};
    static const clsm_dtype dtypes[] = {CLSM_F32, CLSM_F16, CLSM_BF16, CLSM_F64};
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
        for (size_t k = 0; k < sizeof axes / sizeof axes[0]; k++) {
            clsm_shape s = {531, axes[k], 1};
            ts_check_random(dtypes[d], s, scales[(k + d) % N_SCALES], -10, 10, 900 + 20 * d + k);
        }
}

Test(shapes, every_scale_on_row_and_strided_shapes)
{
    const clsm_shape shapes[] = {{3, 1000, 1}, {2, 129, 17}};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < N_SCALES; i++)
            check_shape(shapes[k], scales[i], 400 + 10 * k + i);
}

Test(shapes, random_shapes)
{
    ts_rng r = ts_rng_seed(500);
    for (size_t k = 0; k < 40; k++) {
        /* Log-uniform lengths visit short and long slices equally often. */
        size_t axis = (size_t)(1u << ts_rng_below(&r, 13)) + ts_rng_below(&r, 64);
        size_t inner = 1 + ts_rng_below(&r, 20);
        size_t outer = 1 + ts_rng_below(&r, 40);
        while (outer > 1 && outer * axis * inner > (1u << 18))
            outer /= 2;
        clsm_shape s = {outer, axis, inner};
        check_shape(s, scales[ts_rng_below(&r, N_SCALES)], 600 + k);
    }
}

Test(shapes, long_rows_of_2_20_and_2_20_plus_3)
{
    const clsm_shape shapes[] = {{1, 1u << 20, 1}, {2, (1u << 20) + 3, 1}, {1, 65537, 5}};
    check_shape(shapes[0], 1.0f, 700);
    check_shape(shapes[1], -0.25f, 701);
    check_shape(shapes[2], 3.0f, 702);
}

Test(shapes, one_slice_of_2_24)
{
    clsm_shape s = {1, 1u << 24, 1};
    check_shape(s, 1.0f, 800);
}
