"""The options (mask, causal, causal_offset, window, sinks, return_stats; v2 softcap, alibi_slopes, kv_lengths) and logsumexp against a NumPy float64 reference."""
import numpy as np
import pytest
import scipy.special as sc

import clsoftmax as cs
from reference import assert_close, bfloat16, scaled, softmax, stats

B, H, R, N = 2, 3, 4, 24
OPS = [(cs.softmax, False), (cs.log_softmax, True)]
OP_IDS = ["softmax", "log_softmax"]


def attention(x, scale=1.0, add=None, keep=None, causal=False, offset=0, window=0):
    """u = scale*x in float64, then the mask, then causal and window to -inf, as the header orders them."""
    u = scaled(x, scale)
    if add is not None:
        u = u + np.asarray(add, dtype=np.float64)
    if keep is not None:
        u = np.where(keep, u, -np.inf)
    if causal:
        r = np.arange(u.shape[-2])[:, None]
        j = np.arange(u.shape[-1])[None, :]
        hidden = j > r + offset
        if window:
            hidden |= j <= r + offset - window
        u = np.where(hidden, -np.inf, u)
    return u


@pytest.fixture
def x(rng):
    return (rng.standard_normal((B, H, R, N)) * 3).astype(np.float32)


# Each shape broadcasts to (B, H, R, N) in its own way: whole, per row, per key, per head
# and row, and one whose batch axes cannot merge into a stride (it is copied first).
KEEP_SHAPES = [(B, H, R, N), (R, N), (B, 1, 1, N), (1, H, R, 1), (N,)]


@pytest.mark.parametrize("shape", KEEP_SHAPES, ids=str)
def test_keep_mask_broadcasts(x, rng, shape):
    keep = rng.random(shape) > 0.3
    got = cs.softmax(x, -1, mask=keep)
    assert_close(got, softmax(attention(x, keep=np.broadcast_to(keep, x.shape))), np.float32)


def test_keep_mask_over_batch_axes_that_do_not_merge(rng):
    x = rng.standard_normal((2, 3, 2, 2, 8)).astype(np.float32)
    keep = rng.random((2, 1, 2, 2, 8)) > 0.3
    got = cs.softmax(x, -1, mask=keep)
    assert_close(got, softmax(attention(x, keep=np.broadcast_to(keep, x.shape))), np.float32)
    keep = rng.random((2, 3, 1, 1, 8)) > 0.3
    got = cs.softmax(x[:, :, 0], -1, mask=keep[:, :, 0])
    assert_close(got, softmax(attention(x[:, :, 0], keep=np.broadcast_to(keep[:, :, 0],
                                                                       x[:, :, 0].shape))),
                 np.float32)


def test_fully_masked_rows_give_zeros_and_stats_minus_inf_zero(x):
    keep = np.ones((R, N), bool)
    keep[1] = False
    y, st = cs.softmax(x, -1, mask=keep, return_stats=True)
    assert np.array_equal(y[:, :, 1], np.zeros((B, H, N), np.float32))
    assert np.all(st[:, :, 1, 0] == -np.inf) and np.all(st[:, :, 1, 1] == 0)
    ly = cs.log_softmax(x, -1, mask=keep)
    assert np.all(ly[:, :, 1] == -np.inf)
    assert np.all(cs.logsumexp(x, -1, mask=keep)[:, :, 1] == -np.inf)


@pytest.mark.parametrize("op, log", OPS, ids=OP_IDS)
def test_additive_masks(x, rng, op, log):
    add = np.where(rng.random((R, N)) > 0.2, rng.standard_normal((R, N)), -np.inf)
    for mask in (add.astype(np.float32), add.astype(np.float16),
                 np.round(add * 3).clip(-1e9, 1e9).astype(np.int32)):
        got = op(x, -1, scale=0.5, mask=mask)
        want = softmax(attention(x, 0.5, add=mask.astype(np.float64)), log)
        assert_close(got, want, np.float32, log)


@pytest.mark.skipif(bfloat16 is None, reason="ml_dtypes is not installed")
def test_bfloat16_mask_and_bfloat16_x(x, rng):
    add = rng.standard_normal((R, N)).astype(bfloat16)
    got = cs.softmax(x, -1, mask=add)
    assert_close(got, softmax(attention(x, add=add.astype(np.float64))), np.float32)
    xb = x.astype(bfloat16)
    got = cs.softmax(xb, -1)
    assert got.dtype == bfloat16
    assert_close(got, softmax(xb.astype(np.float64)), bfloat16)


@pytest.mark.parametrize("op, log", OPS, ids=OP_IDS)
def test_causal_with_offset(x, op, log):
    for offset in (0, N - R, -1):
        got = op(x, -1, causal=True, causal_offset=offset)
        assert_close(got, softmax(attention(x, causal=True, offset=offset), log), np.float32, log)
    got = cs.softmax(x, -1, causal=True)
    assert np.all(got[..., 0, 1:] == 0) and np.all(got[..., 0, 0] == 1)


def test_sliding_window(x):
    for window in (1, 3, N):
        got = cs.softmax(x, -1, causal=True, causal_offset=N - R, window=window)
        want = softmax(attention(x, causal=True, offset=N - R, window=window))
        assert_close(got, want, np.float32)
    got = cs.softmax(x, -1, causal=True, causal_offset=N - R, window=1)
    assert np.all(got[..., N - R:][..., np.arange(R), np.arange(R)] == 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sinks_and_statistics(rng, dtype):
    x = (rng.standard_normal((B, H, R, N)) * 3).astype(dtype)
    sinks = rng.standard_normal(H) * 2
    y, st = cs.softmax(x, -1, scale=0.75, sinks=sinks, return_stats=True)
    assert st.dtype == dtype and st.shape == (B, H, R, 2)
    u = attention(x, 0.75)
    s = np.broadcast_to(sinks.astype(dtype).astype(np.float64)[:, None], (B, H, R))
    assert_close(y, softmax(u, sinks=s), dtype)
    m, total = stats(u, s)
    assert_close(st[..., 0], m, dtype)
    assert_close(st[..., 1], total, dtype)
    # The sink takes mass but no output: rows sum to less than 1.
    assert np.all(y.sum(axis=-1) < 1)


def test_return_stats_alone(x):
    for op, log in OPS:
        y, st = op(x, -1, return_stats=True)
        assert_close(y, softmax(scaled(x), log), np.float32, log)
        m, total = stats(scaled(x))
        assert_close(st[..., 0], m, np.float32)
        assert_close(st[..., 1], total, np.float32)
    y, st = cs.softmax(np.float32(3), return_stats=True)
    assert y == 1 and st.tolist() == [3, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_matches_scipy(rng, dtype):
    x = (rng.standard_normal((3, 5, 7)) * 4).astype(dtype)
    exact = x.astype(np.float64)
    for axis in (None, 0, 1, -1, (0, 2), (1, 2)):
        for keepdims in (False, True):
            got = cs.logsumexp(x, axis, keepdims=keepdims)
            want = sc.logsumexp(exact, axis, keepdims=keepdims)
            assert np.shape(got) == np.shape(want) and got.dtype == dtype
            assert_close(got, want, dtype, log=True)
    assert type(cs.logsumexp(x)) is np.dtype(dtype).type
    assert_close(cs.logsumexp(x, scale=-0.5), sc.logsumexp(-0.5 * exact), dtype, log=True)


def test_logsumexp_special_values_and_options(x):
    rows = np.array([[-np.inf] * 3, [np.inf, 1, np.inf], [np.nan, 1, 2], [1, 2, 3]], np.float32)
    got = cs.logsumexp(rows, axis=1)
    assert got[0] == -np.inf and got[1] == np.inf and np.isnan(got[2])
    assert_close(got[3], sc.logsumexp([1.0, 2, 3]), np.float32, log=True)
    u = attention(x, 2.0, causal=True, offset=1)
    m, total = stats(u)
    assert_close(cs.logsumexp(x, -1, scale=2.0, causal=True, causal_offset=1),
                 m + np.log(total), np.float32, log=True)
    assert cs.logsumexp(np.zeros((0, 3)), 0).tolist() == [-np.inf] * 3
    assert cs.logsumexp(np.float16(2)) == np.float16(2)


# ---- v2: softcap, alibi_slopes, kv_lengths ----

def shaped(x, scale=1.0, softcap=0.0, slopes=None, kv=None, causal=False, offset=0):
    """The v2 order in float64: scale, the cap, ALiBi's bias, then causal and kv_lengths to
    -inf, with rows aligned at r + kv - R + offset (kv) or r + offset."""
    u = scaled(x, scale)
    if softcap:
        u = softcap * np.tanh(u / softcap)
    rows, n = u.shape[-2], u.shape[-1]
    r = np.arange(rows)[:, None]
    j = np.arange(n)[None, :]
    lengths = np.full(u.shape[0], n) if kv is None else np.asarray(kv)
    out = np.empty_like(u)
    for b in range(u.shape[0]):
        centre = r + offset + (lengths[b] - rows if kv is not None else 0)
        ub = u[b]
        if slopes is not None:
            ub = ub - np.asarray(slopes, np.float64)[:, None, None] * np.abs(j - centre)
        hidden = j >= lengths[b]
        if causal:
            hidden = hidden | (j > centre)
        out[b] = np.where(hidden, -np.inf, ub)
    return out


@pytest.mark.parametrize("op, log", OPS, ids=OP_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softcap(rng, op, log, dtype):
    x = (rng.standard_normal((B, H, R, N)) * 80).astype(dtype)
    x[0, 0, 0, :2] = [np.inf, -np.inf]
    got = op(x, -1, scale=0.5, softcap=30.0)
    assert_close(got, softmax(shaped(x, 0.5, softcap=30.0), log), dtype, log)
    # Along another axis too: soft-capping needs no rows.
    got = op(x, 1, softcap=30.0)
    want = np.moveaxis(softmax(np.moveaxis(shaped(x, softcap=30.0), 1, -1), log), -1, 1)
    assert_close(got, want, dtype, log)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_alibi_with_a_kv_cache_offset(rng, dtype):
    x = (rng.standard_normal((B, H, R, N)) * 3).astype(dtype)
    slopes = cs.alibi_slopes(H)
    got, st = cs.softmax(x, -1, alibi_slopes=slopes, causal=True, causal_offset=N - R,
                         return_stats=True)
    u = shaped(x, slopes=slopes, causal=True, offset=N - R)
    assert_close(got, softmax(u), dtype)
    assert_close(st[..., 1], stats(u)[1], dtype)
    # Without causal, the bias alone.
    got = cs.log_softmax(x, -1, alibi_slopes=slopes, causal_offset=N - R)
    assert_close(got, softmax(shaped(x, slopes=slopes, offset=N - R), True), dtype, True)


@pytest.mark.parametrize("causal", [False, True])
def test_kv_lengths_mask_each_sequences_tail(rng, causal):
    x = (rng.standard_normal((B, H, R, N)) * 3).astype(np.float32)
    kv = np.array([5, N], np.int64)
    got = cs.softmax(x, -1, kv_lengths=kv, causal=causal)
    assert_close(got, softmax(shaped(x, kv=kv, causal=causal)), np.float32)
    assert np.all(got[0, ..., 5:] == 0)
    assert cs.logsumexp(x, -1, kv_lengths=kv).shape == (B, H, R)


def test_v2_options_bad_input(x):
    for cap in (np.nan, -1.0, np.inf):
        with pytest.raises(ValueError, match="softcap"):
            cs.softmax(x, -1, softcap=cap)
    with pytest.raises(TypeError, match="softcap"):
        cs.softmax(x, -1, softcap="3")
    with pytest.raises(ValueError, match="alibi_slopes"):
        cs.softmax(x, -1, alibi_slopes=np.ones(H + 1))
    with pytest.raises(ValueError, match="last axis"):
        cs.softmax(x, 0, alibi_slopes=np.ones(H))
    with pytest.raises(ValueError, match="kv_lengths"):
        cs.softmax(x, -1, kv_lengths=[N, N, N])
    with pytest.raises(ValueError, match="kv_lengths"):
        cs.softmax(x, -1, kv_lengths=[-1, N])
    with pytest.raises(ValueError, match="kv_lengths"):
        cs.softmax(x, -1, kv_lengths=[0, N + 1])
    with pytest.raises(TypeError, match="kv_lengths"):
        cs.softmax(x, -1, kv_lengths=[0.5, 1.0])
