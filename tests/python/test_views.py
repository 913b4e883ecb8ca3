"""Inputs in any layout (strided, Fortran-order, negative strides, broadcast, read-only) give SciPy's results and stay unchanged."""
import numpy as np
import pytest
import scipy.special as sc

import clsoftmax as cs
from reference import assert_close


def _base(rng, dtype=np.float64):
    return (rng.standard_normal((6, 10, 8)) * 3).astype(dtype)


VIEWS = {
    "strided": lambda a: a[:, ::2, 1::3],
    "fortran": np.asfortranarray,
    "transposed": lambda a: a.transpose(2, 0, 1),
    "negative": lambda a: a[::-1, :, ::-2],
    "negative_fortran": lambda a: np.asfortranarray(a)[::-1],
    "broadcast": lambda a: np.broadcast_to(a[:1], a.shape),
    "readonly": lambda a: np.frombuffer(a.tobytes(), a.dtype).reshape(a.shape),
}


@pytest.mark.parametrize("view", VIEWS.values(), ids=VIEWS.keys())
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (1, 2), ()], ids=str)
def test_views_match_scipy_and_are_not_modified(view, axis, rng):
    x = view(_base(rng))
    before = x.copy()
    for ours, theirs in ((cs.softmax, sc.softmax), (cs.log_softmax, sc.log_softmax)):
        got = ours(x, axis)
        assert got.shape == x.shape
        assert not np.shares_memory(got, x)
        np.testing.assert_allclose(got, theirs(x, axis), rtol=1e-13, atol=1e-13)
    assert np.array_equal(x, before)


def test_float32_fortran_order_is_read_in_place_and_right(rng):
    x = np.asfortranarray(_base(rng, np.float32))
    before = x.copy(order="A")
    for axis in (0, 1, 2, (0, 1), (1, 2), (0, 2)):
        got = cs.softmax(x, axis)
        assert_close(got, sc.softmax(x.astype(np.float64), axis), np.float32)
    assert np.array_equal(x, before)


def test_backward_and_logsumexp_take_views(rng):
    y = cs.softmax(_base(rng), axis=1)
    dy = _base(rng)[:, :, ::-1]
    yv = np.asfortranarray(y)
    before = (yv.copy(), dy.copy())
    dx = cs.softmax_backward(yv, dy, axis=1)
    want = y * (dy - (dy * y).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(dx, want, rtol=1e-12, atol=1e-15)
    assert np.array_equal(yv, before[0]) and np.array_equal(dy, before[1])
    x = _base(rng)[::-1, ::3]
    np.testing.assert_allclose(cs.logsumexp(x, axis=(0, 2)), sc.logsumexp(x, axis=(0, 2)),
                               rtol=1e-13)
