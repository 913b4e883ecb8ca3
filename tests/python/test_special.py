"""The contract's special values through the Python API: NaN slices, all -inf rows, +inf entries, ±FLT_MAX, denormals and scale."""
import numpy as np
import pytest

import clsoftmax as cs
from reference import assert_close, softmax

FLT_MAX = float(np.finfo(np.float32).max)
OPS = [(cs.softmax, False), (cs.log_softmax, True)]
OP_IDS = ["softmax", "log_softmax"]
inf, nan = np.inf, np.nan


@pytest.mark.parametrize("op, log", OPS, ids=OP_IDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_special_rows_against_the_contract(op, log, dtype):
    x = np.array([
        [1.0, nan, 2.0, 3.0],          # NaN anywhere: the whole slice is NaN
        [-inf, -inf, -inf, -inf],      # fully masked: 0 (log: -inf), not NaN
        [inf, 1.0, inf, -inf],         # two +inf entries share the mass
        [inf, nan, inf, 0.0],          # NaN wins over +inf
        [-inf, 0.5, -inf, 0.25],       # -inf entries are 0 (log: -inf)
        [1.0, 2.0, 3.0, 4.0],          # an ordinary row beside them is untouched
    ], dtype=dtype)
    got = op(x, axis=1)
    want = softmax(x.astype(np.float64), log)
    assert_close(got, want, dtype, log)
    if log:
        assert np.array_equal(got[1], np.full(4, -inf, dtype))
        np.testing.assert_allclose(got[2].astype(np.float64), [-np.log(2), -inf, -np.log(2), -inf],
                                   rtol=2e-3)
    else:
        assert np.array_equal(got[1], np.zeros(4, dtype))
        assert np.array_equal(got[2], np.array([0.5, 0, 0.5, 0], dtype))
    assert np.all(np.isnan(got[0])) and np.all(np.isnan(got[3]))
    assert not np.any(np.isnan(got[[1, 2, 4, 5]]))


def test_special_values_along_a_strided_axis():
    x = np.array([[nan, -inf, inf, 1.0], [1.0, -inf, inf, 2.0], [2.0, -inf, 1.0, 3.0]],
                 dtype=np.float32)
    got = cs.softmax(x, axis=0)
    assert_close(got, softmax(x.T.astype(np.float64)).T, np.float32)
    assert np.array_equal(got[:, 1], np.zeros(3, np.float32))
    assert np.array_equal(got[:, 2], np.array([1, 1, 0], np.float32) / 2)


@pytest.mark.parametrize("op, log", OPS, ids=OP_IDS)
def test_flt_max_in_float32_and_float64(op, log):
    x32 = np.array([FLT_MAX, -FLT_MAX, FLT_MAX, 0.0], np.float32)
    got = op(x32)
    want = softmax(x32.astype(np.float64), log)
    if log:
        # -FLT_MAX - FLT_MAX is beyond float32: the contract gives -inf there.
        want[1] = -inf
    assert_close(got, want, np.float32, log)
    assert_close(op(x32.astype(np.float64)), softmax(x32.astype(np.float64), log), np.float64,
                 log)


@pytest.mark.parametrize("op, log", OPS, ids=OP_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_denormal_inputs_and_outputs(op, log, dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([[tiny, -tiny, 0.0, 3 * tiny],
                  [0.0, -88.0, -100.0, -103.0]], dtype=dtype)   # exp of these is subnormal in f32
    got = op(x, axis=1)
    assert_close(got, softmax(x.astype(np.float64), log), dtype, log)
    expected = -np.log(4) if log else 0.25
    np.testing.assert_allclose(got[0].astype(np.float64), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_zero_gives_uniform_and_negative_scale_flips(dtype, rng):
    x = rng.standard_normal((3, 8)).astype(dtype)
    assert np.array_equal(cs.softmax(x, axis=1, scale=0.0), np.full(x.shape, 1 / 8, dtype))
    x[1, 3] = nan
    y = cs.softmax(x, axis=1, scale=0.0)
    assert np.all(np.isnan(y[1])) and np.array_equal(y[[0, 2]], np.full((2, 8), 1 / 8, dtype))
    x[1, 3] = 0
    assert_close(cs.softmax(x, axis=1, scale=-2.5), softmax(-2.5 * x.astype(np.float64)), dtype)
    assert_close(cs.log_softmax(x, axis=1, scale=0.125),
                 softmax(0.125 * x.astype(np.float64), log=True), dtype, log=True)
