/* Checks the test support itself (f16/bf16 rounding, the comparator, the reference), which every other test trusts. */
#include <float.h>
#include <math.h>

#include <criterion/criterion.h>

#include "reference.h"
#include "support.h"

Test(support, f16_known_values_round_to_nearest_even)
{
    static const struct {
        double v;
        uint16_t bits;
    } cases[] = {
        {1.0, 0x3C00},
        {-2.0, 0xC000},
        {65504.0, 0x7BFF},
        {65519.99, 0x7BFF},
        {65520.0, 0x7C00},
        {1e300, 0x7C00},
        {0x1p-24, 0x0001},
        {0x1p-25, 0x0000},
        {0x1.8p-24, 0x0002},
        {0x1p-14, 0x0400},
        {1.0 + 0x1p-11, 0x3C00},
        {1.0 + 0x1.8p-10, 0x3C02},
        {-0.0, 0x8000},
        {-INFINITY, 0xFC00},
        {0.1, 0x2E66},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = ts_f16_from_double(cases[i].v);
        cr_expect_eq(got, cases[i].bits, "f16(%a) = 0x%04x, want 0x%04x", cases[i].v, got,
                     cases[i].bits);
    }
    cr_expect(isnan(ts_f16_to_double(ts_f16_from_double(NAN))), "NaN does not stay NaN");
}

Test(support, bf16_known_values_round_to_nearest_even)
{
    static const struct {
        double v;
        uint16_t bits;
    } cases[] = {
        {1.0, 0x3F80},
        {-1.0, 0xBF80},
        {1.0 + 0x1p-8, 0x3F80},
        {1.0 + 0x1.8p-7, 0x3F82},
        {FLT_MAX, 0x7F80},
        {0x1.fep127, 0x7F7F},
        {0x1p-133, 0x0001},
        {0x1p-126, 0x0080},
        {0.1, 0x3DCD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = ts_bf16_from_double(cases[i].v);
        cr_expect_eq(got, cases[i].bits, "bf16(%a) = 0x%04x, want 0x%04x", cases[i].v, got,
                     cases[i].bits);
    }
    cr_expect_eq(ts_bf16_to_double(0x7F7F), ts_dtype_max(CLSM_BF16));
}

/* Every non-NaN pattern survives a round trip, and every midpoint goes to the even neighbour. */
static void check_all_patterns(uint16_t (*from)(double), double (*to)(uint16_t), uint16_t inf)
{
    for (uint32_t b = 0; b <= 0xFFFF; b++) {
        uint16_t h = (uint16_t)b;
        if ((h & 0x7FFF) > inf)
            continue;
        cr_assert_eq(from(to(h)), h, "pattern 0x%04x does not round-trip", h);
        if ((h & 0x7FFF) >= inf)
            continue;
        double mid = (to(h) + to((uint16_t)(h + 1))) / 2;
        uint16_t even = h % 2 == 0 ? h : (uint16_t)(h + 1);
        cr_assert_eq(from(mid), even, "midpoint above 0x%04x gave 0x%04x", h, from(mid));
    }
}

Test(support, f16_all_patterns_round_trip_and_ties_go_to_even)
{
    check_all_patterns(ts_f16_from_double, ts_f16_to_double, 0x7C00);
}

Test(support, bf16_all_patterns_round_trip_and_ties_go_to_even)
{
    check_all_patterns(ts_bf16_from_double, ts_bf16_to_double, 0x7F80);
}

static bool check_one(clsm_op op, clsm_dtype dtype, double got, double expected)
{
    /* An axis of 2: length-1 axes are held to exact equality (see below). */
    double y[2]; /* storage for two elements of any dtype, aligned */
    ts_store(dtype, y, 0, got);
    ts_store(dtype, y, 1, got);
    const double want[2] = {expected, expected};
    clsm_shape s = {1, 2, 1};
    return ts_check(op, dtype, s, y, want).ok;
}

static bool check_one_on_axis_of_one(clsm_op op, clsm_dtype dtype, double got, double expected)
{
    double y[1];
    ts_store(dtype, y, 0, got);
    clsm_shape s = {1, 1, 1};
    return ts_check(op, dtype, s, y, &expected).ok;
}

Test(support, comparator_wants_exactly_one_and_zero_on_an_axis_of_length_one)
{
    cr_expect(check_one_on_axis_of_one(CLSM_LOG_SOFTMAX, CLSM_F32, 0.0, 0.0));
    cr_expect(check_one_on_axis_of_one(CLSM_LOG_SOFTMAX, CLSM_BF16, -0.0, 0.0));
    cr_expect(check_one_on_axis_of_one(CLSM_SOFTMAX, CLSM_F16, 1.0, 1.0));
    cr_expect(check_one_on_axis_of_one(CLSM_SOFTMAX, CLSM_F64, NAN, NAN));
    cr_expect(check_one_on_axis_of_one(CLSM_LOG_SOFTMAX, CLSM_F32, -INFINITY, -INFINITY));
    cr_expect(!check_one_on_axis_of_one(CLSM_LOG_SOFTMAX, CLSM_F32, -1e-30, 0.0));
    cr_expect(!check_one_on_axis_of_one(CLSM_LOG_SOFTMAX, CLSM_F64, 1e-300, 0.0));
    cr_expect(!check_one_on_axis_of_one(CLSM_LOG_SOFTMAX, CLSM_BF16, -1e-38, 0.0));
    cr_expect(!check_one_on_axis_of_one(CLSM_LOG_SOFTMAX, CLSM_F16, ts_f16_to_double(0x8001), 0.0));
    cr_expect(!check_one_on_axis_of_one(CLSM_SOFTMAX, CLSM_F32, 1.0f - 0x1p-24, 1.0));
    cr_expect(!check_one_on_axis_of_one(CLSM_SOFTMAX, CLSM_F16, ts_f16_to_double(0x3BFF), 1.0));
}

Test(support, comparator_applies_the_contract_bounds)
{
    cr_expect(check_one(CLSM_SOFTMAX, CLSM_F32, 0.5 * (1 + 0.9e-5), 0.5));
    cr_expect(!check_one(CLSM_SOFTMAX, CLSM_F32, 0.5 * (1 + 1.1e-5), 0.5));
    cr_expect(check_one(CLSM_SOFTMAX, CLSM_F32, 1e-36, 5e-36));
    cr_expect(!check_one(CLSM_SOFTMAX, CLSM_F32, 1e-36, 0.0));
    cr_expect(!check_one(CLSM_SOFTMAX, CLSM_F32, NAN, 0.5));
    cr_expect(!check_one(CLSM_SOFTMAX, CLSM_F32, 0.5, NAN));
    cr_expect(check_one(CLSM_SOFTMAX, CLSM_F32, NAN, NAN));
    cr_expect(check_one(CLSM_LOG_SOFTMAX, CLSM_F32, -100.0009, -100.0));
    cr_expect(!check_one(CLSM_LOG_SOFTMAX, CLSM_F32, -100.0011, -100.0));
    cr_expect(check_one(CLSM_LOG_SOFTMAX, CLSM_F32, 9e-6, 1e-300));
    cr_expect(check_one(CLSM_LOG_SOFTMAX, CLSM_F32, -9e-6, 0.0));
    cr_expect(!check_one(CLSM_LOG_SOFTMAX, CLSM_F32, -1.1e-5, 0.0));
    cr_expect(!check_one(CLSM_SOFTMAX, CLSM_F64, 1e-320, 0.0));
    cr_expect(!check_one(CLSM_LOG_SOFTMAX, CLSM_F32, -FLT_MAX, -INFINITY));
    cr_expect(check_one(CLSM_LOG_SOFTMAX, CLSM_F32, -INFINITY, -2.0 * FLT_MAX));
    cr_expect(check_one(CLSM_SOFTMAX, CLSM_F64, 0.25 * (1 + 0.9e-13), 0.25));
    cr_expect(!check_one(CLSM_SOFTMAX, CLSM_F64, 0.25 * (1 + 1.1e-13), 0.25));
    cr_expect(check_one(CLSM_SOFTMAX, CLSM_F16, ts_f16_to_double(0x3C01), 1.0));
    cr_expect(!check_one(CLSM_SOFTMAX, CLSM_F16, ts_f16_to_double(0x3C02), 1.0));
    cr_expect(check_one(CLSM_LOG_SOFTMAX, CLSM_F16, -65504.0, -70000.0));
    cr_expect(!check_one(CLSM_LOG_SOFTMAX, CLSM_F16, -65504.0, -INFINITY));
    cr_expect(check_one(CLSM_SOFTMAX, CLSM_BF16, ts_bf16_to_double(0x3E7F), 0.25));
    cr_expect(!check_one(CLSM_SOFTMAX, CLSM_BF16, ts_bf16_to_double(0x3E7E), 0.25));
}

static void check_reference(clsm_op op, const double *x, size_t n, float scale,
                            const double *want)
{
    double y[8];
    clsm_shape s = {1, n, 1};
    ref_softmax(op, CLSM_F64, s, scale, x, y);
    for (size_t i = 0; i < n; i++) {
        bool same = isnan(want[i]) ? isnan(y[i]) != 0
                                   : y[i] == want[i] || fabs(y[i] - want[i]) <= 1e-15;
        cr_expect(same, "%s element %zu: %.17g, want %.17g", ts_op_name(op), i, y[i], want[i]);
    }
}

Test(support, reference_matches_hand_computed_values)
{
    const double x[] = {1, 2, 3};
    const double soft[] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219};
    const double log_soft[] = {-2.4076059644443806, -1.4076059644443804, -0.4076059644443803};
    check_reference(CLSM_SOFTMAX, x, 3, 1.0f, soft);
    check_reference(CLSM_LOG_SOFTMAX, x, 3, 1.0f, log_soft);

    const double pair[] = {0, log(3.0)};
    const double soft_twice[] = {0.1, 0.9};
    check_reference(CLSM_SOFTMAX, pair, 2, 2.0f, soft_twice);
}

Test(support, reference_applies_the_special_rules)
{
    const double inf = INFINITY;
    const double with_nan[] = {1, NAN, 2};
    const double nan3[] = {NAN, NAN, NAN};
    check_reference(CLSM_SOFTMAX, with_nan, 3, 1.0f, nan3);
    check_reference(CLSM_SOFTMAX, with_nan, 3, 0.0f, nan3);

    const double two_inf[] = {inf, 3, inf, -inf};
    const double two_inf_soft[] = {0.5, 0, 0.5, 0};
    const double two_inf_log[] = {-log(2.0), -inf, -log(2.0), -inf};
    check_reference(CLSM_SOFTMAX, two_inf, 4, 1.0f, two_inf_soft);
    check_reference(CLSM_LOG_SOFTMAX, two_inf, 4, 1.0f, two_inf_log);

    const double masked[] = {-inf, -inf};
    const double zeros[] = {0, 0};
    const double neg_inf[] = {-inf, -inf};
    const double halves[] = {0.5, 0.5};
    check_reference(CLSM_SOFTMAX, masked, 2, 1.0f, zeros);
    check_reference(CLSM_LOG_SOFTMAX, masked, 2, 1.0f, neg_inf);
    check_reference(CLSM_SOFTMAX, masked, 2, 0.0f, halves);
    check_reference(CLSM_SOFTMAX, masked, 2, -1.0f, halves);
}
