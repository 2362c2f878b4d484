"""Where a reduction reads its input: dims, the (outer, R, inner) layout, scratch.

Every reduction kernel (kernels/reduction.py, reduction_float.py) reads a contiguous array as
`outer` blocks of `R` reduced rows of `inner` elements. `Layout` finds that
view of an input: an array that is a permutation of a contiguous array (a
transposed view) is read in memory order without a copy, and reduced dims
that are not adjacent in that order are moved together by one copy. It also
maps results and gradients between the canonical layout and the user's shape.
"""
import math

import numpy as np

from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ._util import empty_array, flat, normalize_dim, normalize_dims
from ._arrays import array_strides, contiguous_array, is_contiguous_array, reshape_array, strided_view

KC = kernels("creation")


numel_of = math.prod


def reduce_dims(op, dim, ndim):
    """Sorted distinct reduced dims; None and () mean every dim, as in torch."""
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, kept cheap
        return (dim % ndim,)
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    if not isinstance(dim, (int, np.integer, tuple, list)) or isinstance(dim, bool):
        raise TypeError(f"{op}(): argument 'dim' must be int or tuple of ints, not {type(dim).__name__}")
    dims = normalize_dims(op, dim, ndim)
    return dims if ndim else ()


def single_dim(op, dim, ndim):
    """(d,) for ops that take one dim (prod, cumsum, max(dim), argmax); () for 0-d input."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    d = normalize_dim(op, dim, ndim)
    return (d,) if ndim else ()


def permuted(a, order):
    """Array a with its dims reordered as `order` (a view, no copy)."""
    if tuple(order) == tuple(range(len(order))):
        return a
    strides = array_strides(a)
    return strided_view(a, tuple(a.shape[d] for d in order), tuple(strides[d] for d in order))


def memory_order(a):
    """The dim order in which array a is C-contiguous (identity when there is none)."""
    ndim = len(a.shape)
    identity = tuple(range(ndim))
    if ndim < 2 or is_contiguous_array(a):
        return identity
    strides = array_strides(a)
    order = tuple(sorted(identity, key=lambda d: -strides[d]))
    return order if order != identity and is_contiguous_array(permuted(a, order)) else identity


def argsort(seq):
    return tuple(sorted(range(len(seq)), key=lambda i: seq[i]))


def in_dim_order(out, kept):
    """An array whose dims are the original dims `kept`, reordered to increasing dim order."""
    return out if list(kept) == sorted(kept) else contiguous_array(permuted(out, argsort(kept)))


class Layout:
    """How one reduction reads array `a`: `array` is contiguous, its reduced dims
    adjacent, and it is read as (outer, R, inner) blocks.

    `order` is the input's dims in the order of `array` (None: as they are) and
    `kept` the unreduced dims in that order."""

    def __init__(self, a, dims):
        shape = self.shape = tuple(a.shape)
        self.dims = dims
        ndim = len(shape)
        if is_contiguous_array(a) and (not dims or dims[-1] - dims[0] + 1 == len(dims)):
            # The common case, kept cheap: a contiguous input, adjacent reduced dims.
            self.order, self.reorders = None, False
            self.kept = tuple(d for d in range(ndim) if d not in dims) if dims else tuple(range(ndim))
            self.array = flat(a)
            first = dims[0] if dims else ndim
        else:
            order = memory_order(a)
            positions = [order.index(d) for d in dims]
            if positions and len(positions) != 1 + max(positions) - min(positions):
                order = tuple(d for d in order if d not in dims) + tuple(d for d in order if d in dims)
                positions = list(range(ndim - len(dims), ndim))
            self.order = order
            self.kept = tuple(d for d in order if d not in dims)
            self.reorders = list(self.kept) != sorted(self.kept)
            self.array = flat(contiguous_array(permuted(a, order)))
            first = min(positions) if positions else ndim
            shape = [shape[d] for d in order]
        last = first + len(dims)
        self.outer = math.prod(shape[:first])
        self.R = math.prod(shape[first:last])
        self.inner = math.prod(shape[last:])
        self.n_out = self.outer * self.inner

    def empty(self, dtype, device, full=False):
        """An output array in the canonical layout (full: the input's size, for cumsum)."""
        return empty_array((self.n_out * self.R if full else self.n_out,), dtype, device)

    def result(self, out, keepdim):
        """The user-facing array of a canonical result."""
        if self.reorders:
            out = in_dim_order(out.reshape(tuple(self.shape[d] for d in self.kept)), self.kept)
        if keepdim:
            shape = tuple(1 if d in self.dims else n for d, n in enumerate(self.shape))
        else:
            shape = tuple(self.shape[d] for d in sorted(self.kept))
        return reshape_array(out, shape)

    def canonical(self, g):
        """Array g, shaped as a result of this reduction, in the canonical layout."""
        g = contiguous_array(g)
        if self.reorders:
            in_order = tuple(sorted(self.kept))
            g = reshape_array(g, tuple(self.shape[d] for d in in_order))
            g = contiguous_array(permuted(g, [in_order.index(d) for d in self.kept]))
        return flat(g)

    def restore(self, gx):
        """A canonical full-size array (a gradient) viewed in the input's shape."""
        if self.order is None:
            return gx.reshape(self.shape)
        gx = gx.reshape(tuple(self.shape[d] for d in self.order))
        return permuted(gx, argsort(self.order))


def scratch_array(n, np_dtype, device, cuda_n=1):
    """Kernel scratch: n elements on the CPU, cuda_n on CUDA (the partial results of
    rows that the CUDA reductions split across blocks; other CUDA kernels use none)."""
    return empty_array((n if device.type == "cpu" else cuda_n,), _dt.from_numpy_dtype(np_dtype), device)


def wide_dtype(np_dtype):
    """The accumulator of a sum (or a CUDA max) of np_dtype: float64, or int64 for integers and bools."""
    return np.dtype(np.float64 if np.dtype(np_dtype).kind in "fc" else np.int64)


def fill_array(out, value):
    if out.size:
        KC.fill(flat(out), out.dtype.type(value))
    return out


def keepdim_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def extreme_value(dtype, largest):
    """The identity of max (largest) or min in a numpy dtype: -inf/inf or the integer limits."""
    key = (dtype, largest)
    value = _EXTREME_VALUES.get(key)
    if value is None:
        if dtype.kind == "f":
            value = dtype.type(-np.inf if largest else np.inf)
        else:
            info = np.iinfo(dtype)
            value = dtype.type(info.min if largest else info.max)
        _EXTREME_VALUES[key] = value
    return value


_EXTREME_VALUES = {}


def float_input(x):
    return x if x.dtype.is_floating_point else x.to(_dt.get_default_dtype())


def runs(positions):
    """[(first, last), ...] of consecutive positions in a sorted list."""
    found = []
    for d in positions:
        if found and found[-1][1] == d - 1:
            found[-1][1] = d
        else:
            found.append([d, d])
    return found
