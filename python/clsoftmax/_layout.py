"""Axis arguments read as SciPy reads them, and the [outer, axis, inner] view the library takes of an array."""
import math

import numpy as np

try:
    from numpy.lib.array_utils import normalize_axis_tuple
except ImportError:  # NumPy 1.x
    from numpy.core.numeric import normalize_axis_tuple


def reduced_axes(axis, ndim):
    """The sorted axes a call reduces over: all for None; AxisError out of range,
    ValueError for a repeated axis, as NumPy's reductions."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(normalize_axis_tuple(axis, ndim, "axis")))


def check_scalar_axis(axis):
    """A 0-d array takes what NumPy's reductions take for one (None, 0, -1, ()), no more."""
    np.max(np.zeros(()), axis=axis)


def check_empty(shape, axis):
    """Raises where SciPy's softmax of an empty array raises: when a reduced axis is empty."""
    np.max(np.empty(shape), axis=axis, keepdims=True)


def adjacent(axes):
    return all(b == a + 1 for a, b in zip(axes, axes[1:]))


def triple(shape, axes):
    """[outer, axis, inner] of a C-order shape reduced over adjacent axes; no axes at all is
    every element its own slice."""
    first, end = (axes[0], axes[-1] + 1) if axes else (len(shape), len(shape))
    return math.prod(shape[:first]), math.prod(shape[first:end]), math.prod(shape[end:])


class Layout:
    """An array seen as the library's [outer, axis, inner] tensor: the transpose of it
    (order) that is C-contiguous with the reduced axes adjacent, and the way back."""

    def __init__(self, x, axes, allow_fortran=True):
        ndim = x.ndim
        if not adjacent(axes):
            self.order = tuple(a for a in range(ndim) if a not in axes) + axes
            axes = tuple(range(ndim - len(axes), ndim))
        elif allow_fortran and x.flags.f_contiguous and not x.flags.c_contiguous:
            # Reversed, a Fortran-order array is a C-order one: read in place, no copy.
            self.order = tuple(reversed(range(ndim)))
            axes = tuple(sorted(ndim - 1 - a for a in axes))
        else:
            self.order = tuple(range(ndim))
        self.identity = self.order == tuple(range(ndim))
        self.triple = triple([x.shape[a] for a in self.order], axes)
        # x's kept axes, in the order the library walks the slices.
        self.kept = tuple(a for i, a in enumerate(self.order) if i not in axes)

    def to_work(self, a, dtype):
        """a, of x's shape, as the C-contiguous array of dtype the library reads."""
        return np.ascontiguousarray(a if self.identity else a.transpose(self.order), dtype=dtype)

    def from_work(self, y):
        """The library's output in x's layout: y or a view of it, no copy."""
        return y if self.identity else y.transpose(np.argsort(self.order))

    def reduced_result(self, r, x_shape, axes, keepdims):
        """A per-slice result r, in the library's slice order, in x's axis order."""
        r = r.reshape([x_shape[a] for a in self.kept]).transpose(np.argsort(self.kept))
        if keepdims:
            r = r.reshape([1 if a in axes else n for a, n in enumerate(x_shape)])
        return r
