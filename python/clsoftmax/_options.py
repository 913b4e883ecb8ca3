"""The keyword options (mask, causal, window, sinks, softcap, alibi_slopes, kv_lengths), checked against x's shape and made into a clsm_options."""
import math
import numbers
import operator

import numpy as np

from . import _lib
from ._dtypes import BFLOAT16

_FLT_MAX = float(np.finfo(np.float32).max)


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

    def __init__(self, x_shape, storage, mask, causal, causal_offset, window, sinks, softcap,
                 alibi_slopes, kv_lengths):
        # Soft-capping alone works along any axis: then no row view is set.
        self.rows_view = requested_rows(mask, causal, causal_offset, window, sinks,
                                        alibi_slopes, kv_lengths)
        self.batch, self.heads, self.rows = (_batch_heads_rows(x_shape) if self.rows_view
                                             else (0, 0, 0))
        self.softcap = _check_softcap(softcap)
        self.causal = bool(causal)
        self.causal_offset = operator.index(causal_offset)
        self.window = operator.index(window)
        if not _lib.PTRDIFF_MIN <= self.causal_offset <= _lib.PTRDIFF_MAX:
            raise ValueError(f"clsoftmax: causal_offset {self.causal_offset} is out of range")
        if not 0 <= self.window <= _lib.SIZE_MAX:
            raise ValueError(f"clsoftmax: window must be a count >= 0, got {self.window}")
        if not self.causal and self.window:
            raise ValueError("clsoftmax: window needs causal=True")
        aligned = self.causal or alibi_slopes is not None
        if self.causal_offset and not aligned:
            raise ValueError("clsoftmax: causal_offset needs causal=True or alibi_slopes")
        self.mask_type, self.mask, self.mask_stride = _lib.MASK_NONE, None, (0, 0, 0, 0)
        if mask is not None:
            self._set_mask(np.asarray(mask), x_shape)
        self.sinks = None
        if sinks is not None:
            self.sinks = self._per_head(np.asarray(sinks), storage, "sinks")
        self.alibi_slopes = None
        if alibi_slopes is not None:
            self.alibi_slopes = self._per_head(np.asarray(alibi_slopes), storage,
                                               "alibi_slopes")
        self.kv_lengths = None
        if kv_lengths is not None:
            self._set_kv_lengths(np.asarray(kv_lengths), x_shape)

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

    def _per_head(self, s, storage, name):
        if s.dtype.kind not in "biuf":
            raise TypeError(f"clsoftmax: unsupported {name} dtype {s.dtype}; use real numbers")
        if s.shape != (self.heads,):
            raise ValueError(f"clsoftmax: {name} needs one value per head, shape ({self.heads},) "
                             f"for this x; got shape {s.shape}")
        return np.ascontiguousarray(s, dtype=storage.real)

    def _set_kv_lengths(self, lengths, x_shape):
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"clsoftmax: kv_lengths must be integers, got {lengths.dtype}")
        if lengths.shape != (self.batch,):
            raise ValueError(f"clsoftmax: kv_lengths needs one length per batch entry, shape "
                             f"({self.batch},) for this x; got shape {lengths.shape}")
        # The library refuses lengths outside [0, N] on the host path and clamps them on the
        # device; as int32 they must fit first.
        if lengths.size and (lengths.min() < 0 or lengths.max() > x_shape[-1]):
            raise ValueError(f"clsoftmax: kv_lengths must lie in [0, {x_shape[-1]}], got "
                             f"[{lengths.min()}, {lengths.max()}]")
        self.kv_lengths = np.ascontiguousarray(lengths, dtype=np.int32)

    def struct(self, mask, sinks, alibi_slopes, kv_lengths):
        """The clsm_options, with the tensors given as the Tensors of the arrays' copies to
        read."""
        opt = _lib.Options()
        opt.softcap = self.softcap
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
        if alibi_slopes is not None:
            opt.alibi_slopes = alibi_slopes
        if kv_lengths is not None:
            opt.kv_lengths = kv_lengths
        return opt

    def host_struct(self):
        """The clsm_options for the host entry points, pointing into the arrays held here."""
        return self.struct(_host_tensor(self.mask), _host_tensor(self.sinks),
                           _host_tensor(self.alibi_slopes), _host_tensor(self.kv_lengths))


def _host_tensor(a):
    return None if a is None else _lib.Tensor(host=a.ctypes.data)


def _check_softcap(softcap):
    if not isinstance(softcap, numbers.Real):
        raise TypeError(f"clsoftmax: softcap must be a real number, got {type(softcap).__name__}")
    value = float(softcap)
    if not (math.isfinite(value) and value >= 0) or value > _FLT_MAX:
        raise ValueError(f"clsoftmax: softcap must be finite and >= 0, got {value}")
    return value


def requested_rows(mask, causal, causal_offset, window, sinks, alibi_slopes, kv_lengths):
    """Whether the options need x's rows: the last axis, seen as [batch, heads, rows]."""
    return (mask is not None or bool(causal) or bool(window) or bool(causal_offset)
            or sinks is not None or alibi_slopes is not None or kv_lengths is not None)


def requested(softcap=0.0, **options):
    """Whether any option is set."""
    return requested_rows(**options) or not isinstance(softcap, numbers.Real) or softcap != 0
