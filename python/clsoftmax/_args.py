"""Checks shared by the host and device paths: the scale, the rule that options need the last axis, and what a device array is."""
import math
import numbers
import sys

import numpy as np

_FLT_MAX = float(np.finfo(np.float32).max)


def check_scale(scale, wide=False):
    """scale as the library takes it: finite, and finite as a float32 unless wide (the forward
    calls' double scale of float64 data); ValueError for anything else."""
    if not isinstance(scale, numbers.Real):
        raise TypeError(f"clsoftmax: scale must be a real number, got {type(scale).__name__}")
    value = float(scale)
    if not math.isfinite(value):
        raise ValueError(f"clsoftmax: scale must be finite, got {value}")
    # Past FLT_MAX it would round to an infinity as a float.
    if not wide and abs(value) > _FLT_MAX:
        raise ValueError(f"clsoftmax: scale must be finite as a float32, got {value}")
    return value


def require_last_axis(axes, ndim, what):
    if axes != (ndim - 1,):
        raise ValueError(f"clsoftmax: {what} needs the softmax over the last axis only "
                         f"(axis=-1), got axes {axes} of {ndim}")


def is_device_array(a):
    # Without pyopencl.array imported there can be no such array; never import it here.
    module = sys.modules.get("pyopencl.array")
    return module is not None and isinstance(a, module.Array)
