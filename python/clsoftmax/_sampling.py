"""The sampling parameters (temperature, top_k, top_p, min_p, seed, offset), each a scalar or one value per row, checked and made into a clsm_sampling."""
import math
import numbers
import operator

import numpy as np

from . import _lib
from ._args import is_device_array

_FLT_MAX = float(np.finfo(np.float32).max)
_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1


def _temperature_ok(t):
    # Past FLT_MAX a temperature would reach the library as an infinity.
    return np.isfinite(t) & (t >= 0) & (t <= _FLT_MAX)


def _fraction_ok(p):
    return (p >= 0) & (p <= 1)


# The real parameters: the clsm_sampling field of the per-row tensor (that of the scalar is the
# parameter's name), the rule, on float64 values, and the rule in words. Per row they are f32.
_REALS = {
    "temperature": ("temperatures", _temperature_ok, "finite and >= 0"),
    "top_p": ("top_ps", _fraction_ok, "in [0, 1]"),
    "min_p": ("min_ps", _fraction_ok, "in [0, 1]"),
}
# The integer parameters, >= 0: the field of the per-row tensor and its dtype.
_INTEGERS = {"top_k": ("top_ks", np.uint32), "seed": ("seeds", np.uint64)}


def _scalar(name, value):
    """A scalar parameter as the library's field takes it; TypeError or ValueError else."""
    if name in _REALS:
        if not isinstance(value, numbers.Real):
            raise TypeError(f"clsoftmax: {name} must be a real number, got "
                            f"{type(value).__name__}")
        value = float(value)
        _, ok, rule = _REALS[name]
        if not ok(value):
            raise ValueError(f"clsoftmax: {name} must be {rule}, got {value}")
        return value
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"clsoftmax: {name} must be an integer, got "
                        f"{type(value).__name__}") from None
    if value < 0 or (name == "seed" and value > _UINT64_MAX):
        raise ValueError(f"clsoftmax: {name} must be an integer "
                         f"{'in [0, 2**64)' if name == 'seed' else '>= 0'}, got {value}")
    # top_k at or past the vocabulary keeps it all, and a vocabulary fits 31 bits.
    return min(value, _UINT32_MAX)


def _per_row(name, a, rows_shape):
    """A per-row parameter as the contiguous array the library reads, one value per row."""
    rows = math.prod(rows_shape)
    real = name in _REALS
    if a.dtype.kind not in ("biuf" if real else "iu"):
        raise TypeError(f"clsoftmax: per-row {name} must be "
                        f"{'real numbers' if real else 'integers'}, got dtype {a.dtype}")
    if a.shape not in (tuple(rows_shape), (rows,)):
        raise ValueError(f"clsoftmax: per-row {name} needs one value per row, shape "
                         f"{tuple(rows_shape)} or ({rows},) for these logits; got shape {a.shape}")
    if real:
        _, ok, rule = _REALS[name]
        bad = ~ok(a.astype(np.float64))
    else:
        # A 64-bit integer never passes 2**64, the seeds' bound.
        rule, bad = "an integer >= 0", a < 0
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"clsoftmax: {name} must be {rule}; at row {tuple(int(i) for i in where)} "
                         f"it is {a[tuple(where)]}")
    if name == "top_k":
        # Checked >= 0; a narrow dtype could not hold the bound.
        a = np.minimum(a.astype(np.uint64), _UINT32_MAX)
    return np.ascontiguousarray(a.reshape(rows),
                                dtype=np.float32 if real else _INTEGERS[name][1])


class SampleParameters:
    """The sampling parameters of one call, checked: the scalar fields, and the per-row
    arrays the tensors point into."""

    def __init__(self, rows_shape, temperature, top_k, top_p, min_p, seed, offset):
        self.fields = {}
        self.per_row = {}  # the tensor's field: its array
        given = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, seed=seed)
        for name, value in given.items():
            if is_device_array(value):
                raise TypeError(f"clsoftmax: per-row {name} must be a NumPy array or a sequence "
                                "(it is copied to the device), not a pyopencl array")
            if np.ndim(value) == 0:
                self.fields[name] = _scalar(name, value[()] if isinstance(value, np.ndarray)
                                            else value)
            else:
                tensor = (_REALS.get(name) or _INTEGERS[name])[0]
                self.per_row[tensor] = _per_row(name, np.asarray(value), rows_shape)
        try:
            offset = operator.index(offset)
        except TypeError:
            raise TypeError(f"clsoftmax: offset must be an integer, got "
                            f"{type(offset).__name__}") from None
        if not 0 <= offset <= _UINT64_MAX:
            raise ValueError(f"clsoftmax: offset must be an integer in [0, 2**64), got {offset}")
        self.fields["offset"] = offset

    def struct(self, tensors):
        """The clsm_sampling, with tensors (field: Tensor) for the per-row arrays' copies and
        for logprobs."""
        s = _lib.Sampling(**self.fields)
        for field, tensor in tensors.items():
            setattr(s, field, tensor)
        return s

    def host_struct(self, logprobs):
        """The clsm_sampling for clsm_sample_host, pointing into the arrays held here and into
        logprobs (None: not asked for)."""
        tensors = {field: _lib.Tensor(host=a.ctypes.data) for field, a in self.per_row.items()}
        if logprobs is not None:
            tensors["logprobs"] = _lib.Tensor(host=logprobs.ctypes.data)
        return self.struct(tensors)


def check_logits_shape(shape):
    """Logits need a last axis, the vocabulary."""
    if len(shape) == 0:
        raise ValueError("clsoftmax: sample needs logits of at least one dimension, the last "
                         "one the vocabulary; got a 0-d array")
