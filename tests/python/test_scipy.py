"""Conformance with scipy.special.softmax and log_softmax: axes, dtypes, scalars, empty arrays and SciPy's own examples."""
import numpy as np
import pytest
import scipy.special as sc

import clsoftmax as cs
from reference import FLOAT_DTYPES, assert_close, decimal_softmax, softmax_axis

OPS = [(cs.softmax, sc.softmax, False), (cs.log_softmax, sc.log_softmax, True)]
OP_IDS = ["softmax", "log_softmax"]
AXES_3D = [None, 0, 1, 2, -1, -3, (0, 2), (2, 0), (0, 1), (1, 2), (0, 1, 2), ()]


@pytest.mark.parametrize("ours, theirs, log", OPS, ids=OP_IDS)
@pytest.mark.parametrize("axis", AXES_3D, ids=str)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_random_arrays_over_every_axis(ours, theirs, log, axis, dtype, rng):
    x = (rng.standard_normal((3, 5, 7)) * 4).astype(dtype)
    got = ours(x, axis)
    assert got.dtype == np.dtype(dtype) and got.shape == x.shape
    # SciPy on the float64 values of x is the reference for every dtype.
    assert_close(got, theirs(x.astype(np.float64), axis), dtype, log)


@pytest.mark.parametrize("ours, theirs, log", OPS, ids=OP_IDS)
def test_float64_meets_scipy_bar(ours, theirs, log, rng):
    x = rng.standard_normal((6, 33)) * 30
    for axis in (None, 0, 1):
        got, want = ours(x, axis), theirs(x, axis)
        if log:
            # Near 0 a log-softmax is 1 - (tiny sum), so the bar is absolute there.
            assert np.all(np.abs(got - want) <= 1e-13 * np.maximum(1, np.abs(want)))
        else:
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


@pytest.mark.parametrize("ours, theirs, log", OPS, ids=OP_IDS)
def test_float64_takes_the_scale_as_a_double(ours, theirs, log, rng):
    # 0.1 and 1/3 are about 1e-9 away from their float32 roundings, far past the bar.
    x = rng.standard_normal((4, 200)) * 10
    for scale in (0.1, 1 / 3):
        got, want = ours(x, 1, scale=scale), theirs(scale * x, 1)
        assert np.all(np.abs(got - want) <= 1e-13 * np.maximum(1, np.abs(want)))


def test_mixed_magnitudes_match_the_50_digit_answer():
    x = np.array([[-25, 0, 25, 50], [1, 325, 749, 750]])
    want = np.array([decimal_softmax(row) for row in x])
    np.testing.assert_allclose(cs.softmax(x, axis=1), want, rtol=1e-13)
    np.testing.assert_allclose(cs.softmax(x.T, axis=0), want.T, rtol=1e-13)
    np.testing.assert_allclose(cs.softmax(x.reshape(2, 2, 2), axis=(1, 2)), want.reshape(2, 2, 2),
                               rtol=1e-13)
    np.testing.assert_allclose(cs.softmax(x, axis=1), sc.softmax(x, axis=1), rtol=1e-13)


def test_scipy_documented_examples():
    np.testing.assert_allclose(cs.log_softmax([1000, 1]), [0, -999], rtol=1e-13)
    np.testing.assert_allclose(cs.softmax([1000, 0, 0, 0]), [1, 0, 0, 0], rtol=1e-13)
    np.testing.assert_allclose(cs.softmax([1, 1]), [0.5, 0.5], rtol=1e-13)
    np.testing.assert_allclose(cs.softmax([0, 1]), np.array([1, np.e]) / (1 + np.e), rtol=1e-13)
    x = np.arange(4)
    want = decimal_softmax(x)
    np.testing.assert_allclose(cs.softmax(x), want, rtol=1e-13)
    np.testing.assert_allclose(cs.softmax(x + 100), want, rtol=1e-13)
    np.testing.assert_allclose(cs.softmax(x.reshape(2, 2)), want.reshape(2, 2), rtol=1e-13)
    np.testing.assert_allclose(cs.log_softmax(x), decimal_softmax(x, log=True), rtol=1e-13)
    np.testing.assert_allclose(cs.softmax([[1000, 0], [1000, 0]], axis=0), np.full((2, 2), 0.5),
                               rtol=1e-13)
    np.testing.assert_allclose(cs.softmax([[1000, 0], [1000, 0]], axis=1), [[1, 0], [1, 0]],
                               rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ours, theirs, log", OPS, ids=OP_IDS)
def test_large_and_very_negative_inputs_are_shifted(ours, theirs, log, dtype):
    for x in ([1000, 1001, 1002], [-1000, -1001, -1002], [-1e4, -1e4 - 1, -1e4 - 3]):
        x = np.array(x, dtype=dtype)
        got = ours(x)
        assert np.all(np.isfinite(got))
        assert_close(got, softmax_axis(x, None, log), dtype, log)
    np.testing.assert_allclose(cs.softmax([1000.0, 1001, 1002]), decimal_softmax([0, 1, 2]),
                               rtol=1e-13)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_axis_of_length_one_gives_one_and_zero(dtype, rng):
    x = (rng.standard_normal((4, 1, 3)) * 100).astype(dtype)
    assert np.array_equal(cs.softmax(x, axis=1), np.ones(x.shape, dtype))
    assert np.array_equal(cs.log_softmax(x, axis=1), np.zeros(x.shape, dtype))
    assert np.array_equal(cs.softmax(x, axis=()), np.ones(x.shape, dtype))


def test_zero_dimensional_inputs_return_numpy_scalars():
    for x, dtype in ((1000, np.float64), (np.float32(3), np.float32), (np.int8(5), np.float64),
                     (np.array(2.5, np.float16), np.float16), (True, np.float64)):
        for op, want in ((cs.softmax, 1.0), (cs.log_softmax, 0.0)):
            got = op(x)
            assert type(got) is np.dtype(dtype).type, (x, op, type(got))
            assert got == want
    assert repr(cs.softmax(1000)) == repr(sc.softmax(1000))
    for axis in (0, -1, ()):
        assert cs.softmax(np.float64(7), axis=axis) == sc.softmax(np.float64(7), axis=axis)
    with pytest.raises(np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError):
        cs.softmax(np.float64(7), axis=1)


@pytest.mark.parametrize("shape, axis", [((0, 3), 0), ((0, 3), 1), ((0, 3), None),
                                         ((0, 3), (0, 1)), ((0, 3), (1,)), ((3, 0), 0),
                                         ((3, 0), 1), ((2, 0, 4), (0, 2)), ((0,), None),
                                         ((0,), 0)], ids=str)
@pytest.mark.parametrize("ours, theirs, log", OPS, ids=OP_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_empty_arrays_behave_as_scipy(ours, theirs, log, shape, axis, dtype):
    x = np.zeros(shape, dtype)
    try:
        want = theirs(x, axis)
    except ValueError as e:
        with pytest.raises(type(e)):
            ours(x, axis)
        return
    got = ours(x, axis)
    assert got.shape == want.shape and got.dtype == want.dtype


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int32, np.int64, np.uint64])
def test_integers_compute_in_float64(dtype):
    x = np.arange(12, dtype=dtype).reshape(3, 4)
    # SciPy subtracts the max in the integer type, where unsigned differences wrap around.
    exact = x.astype(np.float64)
    got = cs.softmax(x, axis=1)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, sc.softmax(exact, axis=1), rtol=1e-13)
    got = cs.log_softmax(x, axis=0)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, sc.log_softmax(exact, axis=0), rtol=1e-13)


def test_booleans_lists_and_longdouble_compute_in_float64():
    got = cs.softmax([[True, False], [False, False]], axis=1)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, sc.softmax([[1.0, 0.0], [0.0, 0.0]], axis=1), rtol=1e-13)
    assert cs.softmax([1, 2, 3]).dtype == np.float64
    x = np.array([1.5, 2.5, -1.0], dtype=np.longdouble)
    got = cs.log_softmax(x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, sc.log_softmax(x.astype(np.float64)), rtol=1e-13)
