"""softmax_backward against the header's formulas in float64, with its bound, over axes, dtypes and masked entries, and with the forward's options (softcap, mask, causal, kv_lengths)."""
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


def reference_ex(x, y, dy, axis, scale, log, softcap=0.0, dropped=None):
    """reference() with the forward's options: times the cap's derivative 1/cosh(u/softcap)**2
    at u = scale*x as float32 forms it (float64 as given), and 0 exactly where dropped."""
    dx, bound = reference(y, dy, axis, scale, log)
    if softcap:
        wide = np.asarray(y).dtype == np.float64
        s = float(scale) if wide else float(np.float32(scale))
        u = s * np.asarray(x, dtype=np.float64)
        if not wide:
            u = u.astype(np.float32).astype(np.float64)
        f = 1 / np.cosh(u / softcap) ** 2
        dx, bound = dx * f, bound * f
    if dropped is not None:
        dx, bound = np.where(dropped, 0.0, dx), np.where(dropped, 0.0, bound)
    return dx, bound


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0], ids=str)
def test_softcap_takes_the_caps_derivative(rng, log, dtype, axis):
    x = (rng.standard_normal((5, 6, 9)) * 4).astype(dtype)
    y = (cs.log_softmax if log else cs.softmax)(x, axis, scale=0.5, softcap=1.5)
    dy = rng.uniform(-1, 1, x.shape).astype(dtype)
    dx = cs.softmax_backward(y, dy, axis, scale=0.5, log=log, x=x, softcap=1.5)
    assert dx.dtype == dtype and dx.shape == x.shape
    want, bound = reference_ex(x, y, dy, axis, 0.5, log, softcap=1.5)
    assert np.all(np.abs(dx - want) <= REL[np.dtype(dtype)] * bound + 1e-300)
    # The factor matters here: without it the gradient is another.
    plain, _ = reference(y, dy, axis, 0.5, log)
    assert np.max(np.abs(dx - plain)) > 1e3 * np.max(REL[np.dtype(dtype)] * bound)


def dropped_entries(shape, keep=None, add=None, causal=False, offset=0, window=0, lengths=None):
    """The entries of x of shape (B, H, R, N) that the options set to -inf, by the header's
    rules: a keep-mask's False, an additive -inf, causal and window, kv_lengths (which move
    the causal rows to the bottom right)."""
    b_, _, r_, n_ = shape
    out = np.zeros(shape, bool)
    if keep is not None:
        out |= ~np.broadcast_to(keep, shape)
    if add is not None:
        out |= np.broadcast_to(add, shape) == -np.inf
    j = np.arange(n_)[None, None, None, :]
    r = np.arange(r_)[None, None, :, None]
    last = r + offset
    if lengths is not None:
        length = np.asarray(lengths)[:, None, None, None]
        out |= j >= length
        last = last + length - r_
    if causal:
        out |= j > last
        if window:
            out |= j <= last - window
    return out


def test_masked_entries_get_zero_and_the_sums_take_them(rng):
    """dx = 0 exactly where the options mask, whatever dy holds there; log_softmax's sum of
    dy still takes those entries, as PyTorch's does."""
    shape = (2, 3, 4, 12)
    x = (rng.standard_normal(shape) * 2).astype(np.float64)
    keep = rng.random((4, 12)) > 0.2
    lengths = np.array([12, 9])
    options = dict(mask=keep, causal=True, causal_offset=1, window=6, kv_lengths=lengths)
    dropped = dropped_entries(shape, keep=keep, causal=True, offset=1, window=6, lengths=lengths)
    assert dropped.any() and not dropped.all()
    for log in (False, True):
        y = (cs.log_softmax if log else cs.softmax)(x, -1, softcap=3.0, **options)
        assert np.array_equal(y == (-np.inf if log else 0), dropped)
        dy = rng.uniform(-1, 1, shape)
        dy[dropped] = 40.0
        dx = cs.softmax_backward(y, dy, -1, log=log, x=x, softcap=3.0, **options)
        assert np.all(dx[dropped] == 0)
        want, bound = reference_ex(x, y, dy, -1, 1.0, log, softcap=3.0, dropped=dropped)
        assert np.all(np.abs(dx - want) <= 1e-13 * bound + 1e-300)
        if log:
            # Leaving the masked dy out of the sums would move the kept entries by far more.
            kept = np.where(dropped, 0.0, dy)
            without, _ = reference_ex(x, y, kept, -1, 1.0, log, softcap=3.0, dropped=dropped)
            assert np.mean((np.abs(dx - without) > 1e-6)[~dropped]) > 0.9


def test_additive_masks_drop_their_minus_inf_entries(rng):
    shape = (1, 2, 3, 10)
    x = rng.standard_normal(shape).astype(np.float32)
    add = np.where(rng.random((3, 10)) > 0.3, rng.uniform(-1, 1, (3, 10)), -np.inf)
    add = add.astype(np.float32)
    y = cs.log_softmax(x, -1, mask=add)
    dy = rng.uniform(-1, 1, shape).astype(np.float32)
    dx = cs.softmax_backward(y, dy, -1, log=True, mask=add)
    dropped = dropped_entries(shape, add=add)
    assert np.all(dx[dropped] == 0)
    want, bound = reference_ex(x, y, dy, -1, 1.0, True, dropped=dropped)
    assert np.all(np.abs(dx - want) <= 1e-5 * bound)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_gradient_with_options_matches_central_differences(rng, log):
    """dx of L(x) = sum(w * y(x)), y the forward with the cap, a mask and causal rows, against
    central differences of the forward in float64."""
    shape = (1, 2, 3, 7)
    x = rng.uniform(-2, 2, shape)
    add = np.where(rng.random((3, 7)) > 0.2, rng.uniform(-1, 1, (3, 7)), -np.inf)
    options = dict(softcap=1.2, mask=add, causal=True, causal_offset=3, window=5)
    op = cs.log_softmax if log else cs.softmax
    y = op(x, -1, scale=0.8, **options)
    w = np.where(np.isneginf(y), 0.0, rng.uniform(-1, 1, shape))
    numeric = np.zeros(shape)
    for i in np.ndindex(*shape):
        h = 1e-6 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        with np.errstate(invalid="ignore"):
            numeric[i] = (np.sum(np.where(w == 0, 0.0, w * op(up, -1, scale=0.8, **options)))
                          - np.sum(np.where(w == 0, 0.0, w * op(down, -1, scale=0.8,
                                                                 **options)))) / (up[i] - down[i])
    dx = cs.softmax_backward(y, w, -1, scale=0.8, log=log, x=x, **options)
    assert np.max(np.abs(dx - numeric)) <= 1e-6 * np.max(np.abs(dx))


def test_backward_option_errors(rng):
    x = rng.standard_normal((2, 3, 5))
    y = cs.softmax(x, -1)
    with pytest.raises(ValueError, match="softcap needs x"):
        cs.softmax_backward(y, y, -1, softcap=2.0)
    with pytest.raises(ValueError, match="differ in shape"):
        cs.softmax_backward(y, y, -1, softcap=2.0, x=x[:, :2])
    with pytest.raises(ValueError, match="softcap"):
        cs.softmax_backward(y, y, -1, softcap=-1.0, x=x)
    with pytest.raises(ValueError, match="last axis"):
        cs.softmax_backward(y, y, 1, causal=True)
    with pytest.raises(ValueError, match="kv_lengths"):
        cs.softmax_backward(y, y, -1, kv_lengths=np.array([6, 1]))
    with pytest.raises(TypeError):
        cs.softmax_backward(y, y, -1, sinks=np.zeros(3))
    # Without a cap x is not read.
    assert np.array_equal(cs.softmax_backward(y, y, -1, x=x[:1]), cs.softmax_backward(y, y, -1))
