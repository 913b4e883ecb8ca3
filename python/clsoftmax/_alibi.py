"""ALiBi slopes from the library's clsm_alibi_slopes, as a new float32 NumPy array."""
import numbers
import operator

import numpy as np

from . import _lib


def _count(value, name):
    value = operator.index(value)
    # ctypes would wrap a negative or too large int into a valid size_t.
    if not 0 <= value <= _lib.SIZE_MAX:
        raise ValueError(f"clsoftmax: {name} must be a count >= 0, got {value}")
    return value


def alibi_slopes(heads, max_bias, first_head, count):
    heads = _count(heads, "heads")
    first_head = _count(first_head, "first_head")
    if count is None:
        if first_head > heads:
            raise ValueError(f"clsoftmax: first_head {first_head} is past heads {heads}")
        count = heads - first_head
    count = _count(count, "count")
    if not isinstance(max_bias, numbers.Real):
        raise TypeError(f"clsoftmax: max_bias must be a real number, got "
                        f"{type(max_bias).__name__}")
    max_bias = float(max_bias)
    # More than heads is refused whatever first_head is, so it is not worth allocating:
    # the library is asked with no output, which it refuses as well.
    out = np.empty(count, np.float32) if count <= heads else None
    status = _lib.lib.clsm_alibi_slopes(_lib.F32, heads, max_bias, first_head, count,
                                        None if out is None else out.ctypes.data)
    if status == _lib.INVALID_ARGUMENT:
        raise ValueError(f"clsoftmax: alibi_slopes needs heads > 0, a finite max_bias > 0 "
                         f"and first_head + count <= heads; got heads={heads}, "
                         f"max_bias={max_bias}, first_head={first_head}, count={count}")
    _lib.check(status)
    return out
