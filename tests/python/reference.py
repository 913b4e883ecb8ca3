"""The float64 reference of the Python tests (the library's contract in NumPy, and a 50-digit one in decimal) and the per-dtype accuracy check."""
import decimal

import numpy as np

try:
    from ml_dtypes import bfloat16
except ImportError:
    bfloat16 = None

# The storage dtypes the library keeps; bfloat16 only where ml_dtypes is installed.
FLOAT_DTYPES = [np.float16, np.float32, np.float64] + ([bfloat16] if bfloat16 else [])

# The contract's bounds: relative for softmax (absolute below ATOL), absolute times
# max(1, |ref|) for log-softmax. float16 and bfloat16 are rounded once from float32, so
# their bound is about a unit in the last place.
REL = {np.dtype(np.float16): 2.0**-10, np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-13}
ATOL = {np.dtype(np.float16): 2.0**-24, np.dtype(np.float32): 1e-35, np.dtype(np.float64): 1e-300}
if bfloat16:
    REL[np.dtype(bfloat16)] = 2.0**-7
    ATOL[np.dtype(bfloat16)] = 1e-35


def scaled(x, scale=1.0):
    """scale*x in float64, with scale rounded to float32 as the library takes it."""
    return float(np.float32(scale)) * np.asarray(x, dtype=np.float64)


def stats(u, sinks=None):
    """(max, sum) of each last-axis slice of u, by the contract: a NaN slice (NaN, NaN),
    an all -inf one (-inf, 0), k entries at +inf (+inf, k). sinks: one logit per slice."""
    m = u.max(axis=-1)
    if sinks is not None:
        m = np.maximum(m, sinks)
    with np.errstate(invalid="ignore", over="ignore"):
        shift = np.where(np.isfinite(m), m, 0.0)
        s = np.exp(u - shift[..., None]).sum(axis=-1)
        if sinks is not None:
            s = s + np.exp(sinks - shift)
    s = np.where(m == np.inf, (u == np.inf).sum(axis=-1), s)
    s = np.where(m == -np.inf, 0.0, s)
    nan = np.isnan(u).any(axis=-1)
    return np.where(nan, np.nan, m), np.where(nan, np.nan, s)


def softmax(u, log=False, sinks=None):
    """Softmax (log-softmax) of each last-axis slice of u, with the contract's special values."""
    m, s = stats(u, sinks)
    mm, ss = m[..., None], s[..., None]
    with np.errstate(all="ignore"):
        y = u - mm - np.log(ss) if log else np.exp(u - mm) / ss
        at_inf = np.where(u == np.inf, -np.log(ss) if log else 1.0 / ss, -np.inf if log else 0.0)
    y = np.where(mm == np.inf, at_inf, y)
    y = np.where(mm == -np.inf, -np.inf if log else 0.0, y)
    return np.where(np.isnan(mm), np.nan, y)


def softmax_axis(x, axis, log=False, scale=1.0):
    """The reference over any axis (an int or a tuple), through a move to the last one."""
    u = scaled(x, scale)
    axes = tuple(range(u.ndim)) if axis is None else np.atleast_1d(axis) % max(u.ndim, 1)
    axes = tuple(int(a) for a in axes)
    moved = np.moveaxis(u, axes, range(u.ndim - len(axes), u.ndim))
    flat = moved.reshape(moved.shape[: u.ndim - len(axes)] + (-1,))
    y = softmax(flat, log).reshape(moved.shape)
    return np.moveaxis(y, range(u.ndim - len(axes), u.ndim), axes)


def decimal_softmax(values, log=False):
    """Softmax of a 1-D list of numbers to 50 digits, rounded to float64 at the end."""
    with decimal.localcontext() as c:
        c.prec = 50
        v = [decimal.Decimal(float(a)) for a in values]
        m = max(v)
        total = sum((a - m).exp() for a in v)
        if log:
            return np.array([float(a - m - total.ln()) for a in v])
        return np.array([float((a - m).exp() / total) for a in v])


def assert_close(got, want, dtype, log=False):
    """got (of dtype) within the contract's bound of the float64 reference want; NaN and
    infinities exactly where want has them."""
    dtype = np.dtype(dtype)
    got = np.asarray(got).astype(np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    special = ~np.isfinite(want)
    assert np.array_equal(got[special & ~np.isnan(want)], want[special & ~np.isnan(want)]), (
        got, want)
    finite = np.isfinite(want)
    err = np.abs(got[finite] - want[finite])
    scale = np.maximum(1.0, np.abs(want)) if log else np.abs(want)
    bound = REL[dtype] * scale[finite] + ATOL[dtype]
    worst = np.argmax(err - bound) if err.size else None
    assert np.all(err <= bound), (
        f"{dtype}: error {err[worst]:.3g} over bound {bound[worst]:.3g} "
        f"(got {got[finite][worst]!r}, want {want[finite][worst]!r})")
