"""The v1.1 keyword options (mask, causal, window, sinks), checked against x's shape and made into a clsm_options."""
import math
import operator

import numpy as np

from . import _lib
from ._dtypes import BFLOAT16


def _mask_type(dtype):
    if dtype == np.bool_:
        return _lib.MASK_KEEP_U8, np.dtype(np.uint8)
    if dtype == np.float32:
        return _lib.MASK_ADD_F32, dtype
    if dtype == np.float16:
        return _lib.MASK_ADD_F16, dtype
    if BFLOAT16 is not None and dtype == BFLOAT16:
        return _lib.MASK_ADD_BF16, dtype
    if dtype.kind in "iuf":
        return _lib.MASK_ADD_F32, np.dtype(np.float32)
    raise TypeError(f"clsoftmax: unsupported mask dtype {dtype}; use bool (True keeps an entry) "
                    "or real numbers (added to scale*x)")


def _batch_heads_rows(shape):
    """x of shape (..., H, R, N) is [batch = prod(...), heads = H, rows = R]."""
    lead = (1, 1, 1) + tuple(shape[:-1])
    return math.prod(lead[:-2]), lead[-2], lead[-1]


def _merged_strides(m, x_shape):
    """Element strides over [batch, heads, rows, axis] of m broadcast to x_shape, zero where
    it broadcasts; None when m's batch dimensions do not merge into a single stride."""
    ndim = len(x_shape)
    shape = (1,) * (ndim - m.ndim) + m.shape
    strides = (0,) * (ndim - m.ndim) + tuple(s // m.itemsize for s in m.strides)
    strides = [0 if n == 1 else s for n, s in zip(shape, strides)]
    heads_rows_axis = ([0, 0, 0] + strides)[-3:]
    # The batch index b flattens x's leading dimensions, so one stride S serves them all only
    # if each that x holds at more than 1 has stride S times the extent of those after it.
    batch, span = 0, 1
    for n, s in reversed(list(zip(x_shape[:-3], strides[:-3]))):
        if n == 1:
            continue
        if span == 1:
            batch = s
        elif s != batch * span:
            return None
        span *= n
    return [batch] + heads_rows_axis


class Attention:
    """The options of one call, checked, with the NumPy arrays they point into."""

    def __init__(self, x_shape, storage, mask, causal, causal_offset, window, sinks):
        self.batch, self.heads, self.rows = _batch_heads_rows(x_shape)
        self.causal = bool(causal)
        self.causal_offset = operator.index(causal_offset)
        self.window = operator.index(window)
        if not _lib.PTRDIFF_MIN <= self.causal_offset <= _lib.PTRDIFF_MAX:
            raise ValueError(f"clsoftmax: causal_offset {self.causal_offset} is out of range")
        if not 0 <= self.window <= _lib.SIZE_MAX:
            raise ValueError(f"clsoftmax: window must be a count >= 0, got {self.window}")
        if not self.causal and (self.window or self.causal_offset):
            raise ValueError("clsoftmax: window and causal_offset need causal=True")
        self.mask_type, self.mask, self.mask_stride = _lib.MASK_NONE, None, (0, 0, 0, 0)
        if mask is not None:
            self._set_mask(np.asarray(mask), x_shape)
        self.sinks = None
        if sinks is not None:
            self._set_sinks(np.asarray(sinks), storage)

    def _set_mask(self, m, x_shape):
        self.mask_type, dtype = _mask_type(m.dtype)
        try:
            fits = np.broadcast_shapes(m.shape, x_shape) == tuple(x_shape)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"clsoftmax: a mask of shape {m.shape} does not broadcast to x's "
                             f"shape {tuple(x_shape)}")
        if m.dtype == np.bool_:
            m = m.view(np.uint8)
        m = np.ascontiguousarray(m, dtype=dtype)
        stride = _merged_strides(m, x_shape)
        if stride is None:
            m = np.ascontiguousarray(np.broadcast_to(m, x_shape))
            stride = _merged_strides(m, x_shape)
        self.mask, self.mask_stride = m, tuple(stride)

    def _set_sinks(self, s, storage):
        if s.dtype.kind not in "biuf":
            raise TypeError(f"clsoftmax: unsupported sinks dtype {s.dtype}; use real numbers")
        if s.shape != (self.heads,):
            raise ValueError(f"clsoftmax: sinks needs one value per head, shape ({self.heads},) "
                             f"for this x; got shape {s.shape}")
        self.sinks = np.ascontiguousarray(s, dtype=storage.real)

    def struct(self, mask, sinks):
        """The clsm_options, with mask and sinks the Tensors of the arrays' copies to read."""
        opt = _lib.Options()
        opt.batch, opt.heads, opt.rows = self.batch, self.heads, self.rows
        opt.mask_type = self.mask_type
        if mask is not None:
            opt.mask = mask
        opt.mask_stride[:] = self.mask_stride
        opt.causal = self.causal
        opt.causal_offset = self.causal_offset
        opt.window = self.window
        if sinks is not None:
            opt.sinks = sinks
        return opt

    def host_struct(self):
        """The clsm_options for the host entry points, pointing into the arrays held here."""
        return self.struct(_host_tensor(self.mask), _host_tensor(self.sinks))


def _host_tensor(a):
    return None if a is None else _lib.Tensor(host=a.ctypes.data)


def requested(mask, causal, causal_offset, window, sinks):
    return mask is not None or bool(causal) or bool(window) or bool(causal_offset) or sinks is not None
