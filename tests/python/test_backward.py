"""softmax_backward against the header's formulas in float64, with its bound, over axes, dtypes and masked entries."""
import numpy as np
import pytest

import clsoftmax as cs


def reference(y, dy, axis, scale, log):
    """The header's formulas, and the scale of its accuracy bound, in float64."""
    y, dy = y.astype(np.float64), dy.astype(np.float64)
    s = float(np.float32(scale))
    with np.errstate(invalid="ignore"):
        if log:
            e = np.exp(y)
            dx = s * (dy - e * dy.sum(axis=axis, keepdims=True))
            bound = abs(s) * (np.abs(dy) + e * np.abs(dy).sum(axis=axis, keepdims=True))
        else:
            # A zero factor from y counts as 0, even against an infinite dy.
            prod = np.where(y == 0, 0.0, dy * y)
            dx = np.where(y == 0, 0.0, s * y * (dy - prod.sum(axis=axis, keepdims=True)))
            bound = np.where(y == 0, 0.0, abs(s) * np.abs(y) *
                             (np.abs(dy) + np.abs(prod).sum(axis=axis, keepdims=True)))
    return dx, bound


REL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-13}


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0, (0, 2)], ids=str)
def test_gradient_within_the_bound(rng, log, dtype, axis):
    x = rng.standard_normal((4, 6, 9)) * 3
    y = (cs.log_softmax if log else cs.softmax)(x.astype(dtype), axis)
    dy = rng.uniform(-1, 1, x.shape).astype(dtype)
    dx = cs.softmax_backward(y, dy, axis, scale=1.5, log=log)
    assert dx.dtype == dtype and dx.shape == x.shape
    want, bound = reference(y, dy, axis, 1.5, log)
    assert np.all(np.abs(dx - want) <= REL[np.dtype(dtype)] * bound + 1e-300)


def test_masked_entries_do_not_poison_the_slice(rng):
    x = rng.standard_normal((3, 8)).astype(np.float32)
    keep = np.ones((3, 8), bool)
    keep[:, 2] = False
    keep[1] = False
    y = cs.softmax(x, -1, mask=keep)
    dy = rng.uniform(-1, 1, x.shape).astype(np.float32)
    dy[:, 2] = np.inf
    dx = cs.softmax_backward(y, dy, axis=-1)
    assert np.all(dx[:, 2] == 0) and np.all(dx[1] == 0)
    assert not np.any(np.isnan(dx))
    want, bound = reference(y, dy, -1, 1.0, False)
    assert np.all(np.abs(dx - want) <= 1e-5 * bound)


def test_nan_makes_the_slice_nan_and_scale_zero_gives_zero(rng):
    y = cs.softmax(rng.standard_normal((3, 5)), axis=1)
    dy = rng.standard_normal((3, 5))
    dy[1, 3] = np.nan
    dx = cs.softmax_backward(y, dy, axis=1)
    assert np.all(np.isnan(dx[1])) and not np.any(np.isnan(dx[[0, 2]]))
    assert np.array_equal(cs.softmax_backward(y, dy[[0, 2, 0]], axis=1, scale=0.0),
                          np.zeros((3, 5)))


def test_common_dtype_and_float16(rng):
    y = cs.softmax(rng.standard_normal((2, 16)).astype(np.float16), axis=1)
    dy = rng.standard_normal((2, 16)).astype(np.float16)
    dx = cs.softmax_backward(y, dy, axis=1)
    assert dx.dtype == np.float16
    want, bound = reference(y, dy, 1, 1.0, False)
    assert np.all(np.abs(dx - want) <= 1e-5 * bound + 2.0**-10 * np.abs(want) + 2.0**-24)
    # float16 y with float64 dy is computed in float64.
    assert cs.softmax_backward(y, dy.astype(np.float64), axis=1).dtype == np.float64
    assert cs.softmax_backward(np.float64(1), np.float64(5)) == 0
