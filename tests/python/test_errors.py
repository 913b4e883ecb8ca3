"""Bad arguments raise the right exception (ValueError, AxisError, TypeError, RuntimeError) and leave the interpreter running."""
import numpy as np
import pytest
import scipy.special as sc

import clsoftmax as cs

AxisError = np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError
X = np.zeros((2, 3, 4), np.float32)


@pytest.mark.parametrize("op", [cs.softmax, cs.log_softmax, cs.logsumexp])
def test_bad_axes(op):
    for axis in (3, -4, (0, 3), (5,)):
        with pytest.raises(AxisError):
            op(X, axis)
    for axis in ((0, 0), (1, -2), (2, -1, 0)):
        with pytest.raises(ValueError, match="repeated axis"):
            op(X, axis)
    with pytest.raises(TypeError):
        op(X, 1.5)


@pytest.mark.parametrize("op", [cs.softmax, cs.log_softmax, cs.logsumexp])
def test_unsupported_dtypes(op):
    for x in (np.ones(3, np.complex64), [1 + 2j, 3], np.array(["a", "b"]), np.array([1, None]),
              np.array(["2020-01-01"], "datetime64[D]")):
        with pytest.raises(TypeError, match="dtype"):
            op(x)


def test_backward_rejects_what_the_forward_rejects():
    with pytest.raises(TypeError):
        cs.softmax_backward(np.ones(3, np.complex128), np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        cs.softmax_backward(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        cs.softmax_backward(np.ones((2, 3)), np.ones(3))
    with pytest.raises(AxisError):
        cs.softmax_backward(np.ones((2, 3)), np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError):
        cs.softmax_backward(np.ones((2, 3)), np.ones((2, 3)), scale=np.nan)


@pytest.mark.parametrize("scale", [np.nan, np.inf, -np.inf, 1e39, -3.5e38])
def test_non_finite_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        cs.softmax(X, scale=scale)


def test_a_scale_past_float32_is_taken_for_float64_data():
    x = np.array([[0.0, 1e-39, -1e-39]])
    np.testing.assert_allclose(cs.softmax(x, scale=1e39), sc.softmax(1e39 * x, axis=1), rtol=1e-13)


def test_scale_of_the_wrong_type():
    for scale in (1j, "2", None, np.array([1.0, 2.0])):
        with pytest.raises(TypeError, match="scale"):
            cs.softmax(X, scale=scale)


def test_options_need_the_last_axis():
    m = np.ones(4, bool)
    for kw in (dict(mask=m), dict(causal=True), dict(sinks=np.zeros(2)), dict(return_stats=True)):
        for axis in (None, 0, 1, (1, 2)):
            with pytest.raises(ValueError, match="last axis"):
                cs.softmax(X, axis, **kw)
    with pytest.raises(ValueError, match="last axis"):
        cs.logsumexp(X, 1, causal=True)


def test_bad_masks():
    for shape in ((5,), (3, 3), (4, 2, 3, 4), (2, 1, 2)):
        with pytest.raises(ValueError, match="broadcast"):
            cs.softmax(X, -1, mask=np.ones(shape, bool))
    with pytest.raises(TypeError, match="mask dtype"):
        cs.softmax(X, -1, mask=np.ones(4, np.complex64))
    with pytest.raises(TypeError, match="mask dtype"):
        cs.softmax(X, -1, mask=np.array(["a"] * 4))


def test_bad_causal_window_and_sinks():
    with pytest.raises(ValueError, match="causal"):
        cs.softmax(X, -1, window=2)
    with pytest.raises(ValueError, match="causal"):
        cs.softmax(X, -1, causal_offset=1)
    with pytest.raises(ValueError, match="window"):
        cs.softmax(X, -1, causal=True, window=-1)
    with pytest.raises(ValueError, match="causal_offset"):
        cs.softmax(X, -1, causal=True, causal_offset=2**70)
    with pytest.raises(TypeError):
        cs.softmax(X, -1, causal=True, window=1.5)
    for sinks in (np.zeros(3), np.zeros(1), np.zeros((2, 1)), 0.0):
        with pytest.raises(ValueError, match="sinks"):
            cs.softmax(X, -1, sinks=sinks)
    with pytest.raises(TypeError, match="sinks"):
        cs.softmax(X, -1, sinks=np.zeros(2, np.complex64))


def test_contexts():
    with pytest.raises(RuntimeError, match="DEVICE_NOT_FOUND"):
        cs.Context("no-such-device-anywhere")
    with pytest.raises(RuntimeError, match="DEVICE_NOT_FOUND"):
        cs.Context("99:0")
    with pytest.raises(TypeError):
        cs.Context(0)
    with pytest.raises(ValueError):
        cs.Context("pthread\0")
    with cs.Context() as c:
        c.softmax(X, -1)
    for call in (lambda: c.softmax(X), lambda: c.logsumexp(X), lambda: c.device_name,
                 lambda: c.softmax_backward(X, X)):
        with pytest.raises(ValueError, match="closed"):
            call()
    c.close()
