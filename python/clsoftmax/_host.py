"""The host path: NumPy inputs, any layout, through the library's _host entry points into new NumPy arrays."""
import math

import numpy as np

from . import _lib
from ._args import check_scale, require_last_axis
from ._dtypes import storage
from ._layout import Layout, check_empty, check_scalar_axis, reduced_axes
from ._options import Attention, requested, requested_rows
from ._sampling import SampleParameters, check_logits_shape


def call(handle, function, *args):
    """One library call on handle's context, with its status raised as an exception."""
    ptr = handle.enter()
    try:
        _lib.check(function(ptr, *args), ptr)
    finally:
        handle.exit()


def _attention(x, axes, st, options, what):
    """The options, or None without any; all but softcap need the last axis."""
    if not requested(**options):
        return None
    if requested_rows(**{k: v for k, v in options.items() if k != "softcap"}):
        require_last_axis(axes, x.ndim, what)
    return Attention(x.shape, st, **options)


def _forward_arguments(x, axis, scale, options):
    """A forward call's arguments, checked: x as an array of at least one dimension (a 0-d x
    is one element, reduced whole), the axis as then read, x's storage, the scale, whether
    x was 0-d, the reduced axes and the options."""
    x = np.asarray(x)
    st = storage(x.dtype)
    scale = check_scale(scale, wide=st.code == _lib.F64)
    scalar = x.ndim == 0
    if scalar:
        check_scalar_axis(axis)
        x, axis = x.reshape(1), None
    axes = reduced_axes(axis, x.ndim)
    att = _attention(x, axes, st, options, "mask, causal, sinks, alibi_slopes or kv_lengths")
    return x, axis, st, scale, scalar, axes, att


def softmax(handle, op, x, axis, scale, options, return_stats):
    x, axis, st, scale, scalar, axes, att = _forward_arguments(x, axis, scale, options)
    if return_stats:
        require_last_axis(axes, x.ndim, "return_stats")
    stats = np.empty(x.shape[:-1] + (2,), st.real) if return_stats else None
    if x.size == 0:
        check_empty(x.shape, axis)
        y = np.empty(x.shape, st.dtype)
    else:
        layout = Layout(x, axes, allow_fortran=att is None and not return_stats)
        work = layout.to_work(x, st.dtype)
        y = np.empty(work.shape, st.dtype)
        opt = att.host_struct() if att is not None else None
        if return_stats:
            opt = opt if opt is not None else _lib.Options()
            opt.stats_out = _lib.Tensor(host=stats.ctypes.data)
        call(handle, _lib.lib.clsm_softmax_host_ex, op, st.code, _lib.Shape(*layout.triple),
             scale, opt, work.ctypes.data, y.ctypes.data)
        y = layout.from_work(y)
    if scalar:
        y = y[0]
    return (y, stats) if return_stats else y


def logsumexp(handle, x, axis, scale, keepdims, options):
    x, _, st, scale, scalar, axes, att = _forward_arguments(x, axis, scale, options)
    if x.size == 0:
        # As SciPy's: the log of an empty sum is -inf.
        shape = [1 if a in axes else n for a, n in enumerate(x.shape) if keepdims or a not in axes]
        result = np.full(shape, -np.inf, st.dtype)
    else:
        layout = Layout(x, axes, allow_fortran=att is None)
        work = layout.to_work(x, st.dtype)
        outer, _, inner = layout.triple
        stats = np.empty((outer * inner, 2), st.real)
        opt = att.host_struct() if att is not None else _lib.Options()
        opt.stats_out = _lib.Tensor(host=stats.ctypes.data)
        call(handle, _lib.lib.clsm_softmax_host_ex, _lib.SOFTMAX, st.code,
             _lib.Shape(*layout.triple), scale, opt, work.ctypes.data, None)
        with np.errstate(divide="ignore"):
            lse = stats[:, 0] + np.log(stats[:, 1])
        result = layout.reduced_result(lse.astype(st.dtype), x.shape, axes, keepdims)
    if scalar:
        return result.reshape(())[()]
    return result[()] if result.ndim == 0 else result


def sample(handle, logits, scale, options, params, return_logprobs):
    x = np.asarray(logits)
    st = storage(x.dtype)
    scale = check_scale(scale, wide=st.code == _lib.F64)
    check_logits_shape(x.shape)
    att = _attention(x, (x.ndim - 1,), st, options, "mask")
    sampling = SampleParameters(x.shape[:-1], **params)
    tokens = np.empty(x.shape[:-1], np.int32)
    logprobs = np.empty(x.shape[:-1], st.real) if return_logprobs else None
    work = np.ascontiguousarray(x, dtype=st.dtype)
    call(handle, _lib.lib.clsm_sample_host, st.code, math.prod(x.shape[:-1]), x.shape[-1], scale,
         att.host_struct() if att is not None else None, sampling.host_struct(logprobs),
         work.ctypes.data, tokens.ctypes.data)
    # One row gives NumPy scalars, as a reduction to 0-d does.
    if x.ndim == 1:
        tokens, logprobs = tokens[()], None if logprobs is None else logprobs[()]
    return (tokens, logprobs) if return_logprobs else tokens


def _backward_x(x, y, softcap):
    """The forward's x of a backward call, needed for the cap's derivative only (else
    ignored): of y's shape."""
    if not softcap:
        return None
    if x is None:
        raise ValueError("clsoftmax: softcap needs x, the forward's input, for its derivative")
    if x.shape != y.shape:
        raise ValueError(f"clsoftmax: x and y differ in shape: {x.shape} and {y.shape}")
    return x


def backward(handle, y, dy, axis, scale, log, x, options):
    y, dy = np.asarray(y), np.asarray(dy)
    if y.shape != dy.shape:
        raise ValueError(f"clsoftmax: y and dy differ in shape: {y.shape} and {dy.shape}")
    st = storage(np.result_type(y.dtype, dy.dtype))
    scale = check_scale(scale, wide=st.code == _lib.F64)
    x = _backward_x(None if x is None else np.asarray(x), y, options["softcap"])
    scalar = y.ndim == 0
    if scalar:
        check_scalar_axis(axis)
        y, dy, axis = y.reshape(1), dy.reshape(1), None
        x = None if x is None else x.reshape(1)
    axes = reduced_axes(axis, y.ndim)
    # The gradient takes neither sinks nor ALiBi: they move u by what x does not change.
    att = _attention(y, axes, st, dict(options, sinks=None, alibi_slopes=None),
                     "mask, causal or kv_lengths")
    if y.size == 0:
        check_empty(y.shape, axis)
        return np.empty(y.shape, st.dtype)
    layout = Layout(y, axes, allow_fortran=att is None)
    y_work, dy_work = layout.to_work(y, st.dtype), layout.to_work(dy, st.dtype)
    x_work = None if x is None else layout.to_work(x, st.dtype)
    dx = np.empty(y_work.shape, st.dtype)
    op = _lib.LOG_SOFTMAX if log else _lib.SOFTMAX
    call(handle, _lib.lib.clsm_softmax_backward_host_ex, op, st.code, _lib.Shape(*layout.triple),
         scale, att.host_struct() if att is not None else None,
         None if x_work is None else x_work.ctypes.data, y_work.ctypes.data, dy_work.ctypes.data,
         dx.ctypes.data)
    dx = layout.from_work(dx)
    return dx[0] if scalar else dx
