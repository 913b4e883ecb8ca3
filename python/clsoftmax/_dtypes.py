"""The storage type the library computes a NumPy dtype in: the result's dtype, the clsm_dtype, and the dtype of sinks and statistics."""
from typing import NamedTuple

import numpy as np

from . import _lib

try:
    from ml_dtypes import bfloat16 as _bfloat16

    BFLOAT16 = np.dtype(_bfloat16)
except ImportError:
    BFLOAT16 = None


class Storage(NamedTuple):
    dtype: np.dtype  # of the result, and of the input as the library reads it
    code: int  # clsm_dtype
    real: np.dtype  # of sinks and statistics


_F32 = Storage(np.dtype(np.float32), _lib.F32, np.dtype(np.float32))
_F64 = Storage(np.dtype(np.float64), _lib.F64, np.dtype(np.float64))
_EXACT = {
    np.dtype(np.float32): _F32,
    np.dtype(np.float64): _F64,
    np.dtype(np.float16): Storage(np.dtype(np.float16), _lib.F16, np.dtype(np.float32)),
}
if BFLOAT16 is not None:
    _EXACT[BFLOAT16] = Storage(BFLOAT16, _lib.BF16, np.dtype(np.float32))


def storage(dtype):
    """The storage for an input of this dtype; TypeError for one the library cannot take."""
    found = _EXACT.get(dtype)
    if found is not None:
        return found
    # Integers and booleans as NumPy computes them in float ufuncs; longdouble has no device type.
    if dtype.kind in "biu" or dtype == np.longdouble:
        return _F64
    raise TypeError(f"clsoftmax: unsupported dtype {dtype}; use float16, float32, float64, "
                    "bfloat16 (ml_dtypes), or integers or booleans (computed in float64)")


def exact_storage(dtype):
    """The storage of a device array, which is never converted: its dtype must be one."""
    found = _EXACT.get(dtype)
    if found is None:
        raise TypeError(f"clsoftmax: unsupported dtype {dtype} for a pyopencl array; "
                        "use float16, float32, float64 or bfloat16 (device arrays are not converted)")
    return found
