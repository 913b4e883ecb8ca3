/* Every storage type against the f64 reference with the contract's bounds, on every kernel variant. */
#include <criterion/criterion.h>

#include "support.h"

TestSuite(dtypes, .init = ts_open_all, .fini = ts_close_all);

static const clsm_shape shapes[] = {{7, 1000, 1}, {3, 257, 17}, {2, 4099, 3}, {64, 33, 2}};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static void check_dtype(clsm_dtype dtype, const float *scales, size_t n_scales, double range,
                        uint64_t seed)
{
    for (size_t k = 0; k < N_SHAPES; k++)
        for (size_t i = 0; i < n_scales; i++)
            ts_check_random(dtype, shapes[k], scales[i], -range, range, seed + 10 * k + i);
}

Test(dtypes, f32_within_1e_5)
{
    const float scales[] = {1.0f, 3.0f, -0.25f};
    check_dtype(CLSM_F32, scales, 3, 10, 1000);
}

Test(dtypes, f64_within_1e_13)
{
    const float scales[] = {1.0f, 3.0f, -0.25f};
    check_dtype(CLSM_F64, scales, 3, 10, 2000);
}

/*
 * F16/BF16 data stay in [-4, 4] at |scale| <= 1: a log-softmax result then
 * never gets so close to 0 that the f32 rounding of the sum alone, which the
 * contract's f32 computation implies, reaches one f16 unit in the last place.
 */
Test(dtypes, f16_within_one_ulp_of_the_rounded_reference)
{
    const float scales[] = {1.0f, -1.0f, 0.5f};
    check_dtype(CLSM_F16, scales, 3, 4, 3000);
}

Test(dtypes, bf16_within_one_ulp_of_the_rounded_reference)
{
    const float scales[] = {1.0f, -1.0f, 0.5f};
    check_dtype(CLSM_BF16, scales, 3, 4, 4000);
}

/* Long slices expose summation error: naive f32 accumulation over 2^20 terms misses 1e-5. */
Test(dtypes, long_rows_of_2_20_in_every_dtype)
{
    const clsm_shape s = {1, 1u << 20, 1};
    ts_check_random(CLSM_F32, s, 1.0f, -10, 10, 5000);
    ts_check_random(CLSM_F64, s, 1.0f, -10, 10, 5001);
    ts_check_random(CLSM_F16, s, 1.0f, -4, 4, 5002);
    ts_check_random(CLSM_BF16, s, 1.0f, -4, 4, 5003);
}

Test(dtypes, f64_long_strided_slices)
{
    const clsm_shape s = {2, 65537, 3};
    ts_check_random(CLSM_F64, s, 0.5f, -10, 10, 6000);
}
