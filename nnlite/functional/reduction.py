"""Reductions: sum, mean and the gradient helper sum_to_size.

Reduced dimensions are grouped into runs of adjacent dims; each run is one
pass of a (outer, R, inner) kernel over the contiguous intermediate, so any
set of dims reduces without a transposing copy.
"""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ._util import check_tensor, empty_array, flat, normalize_dims, wrap
from .shape import cast_array, contiguous_array, expand, reshape

KR = kernels("reduction")


def _runs(dims):
    """[(first, last), ...] of consecutive dims in a sorted tuple."""
    runs = []
    for d in dims:
        if runs and runs[-1][1] == d - 1:
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return runs


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def sum_array(a, dims, dtype, device):
    """The sum of array `a` over sorted `dims`, as a contiguous array without those dims."""
    if np.dtype(a.dtype) != dtype.np:
        a = cast_array(a, dtype.np)
    a = contiguous_array(a)
    shape = list(a.shape)
    accumulate = np.float64 if dtype.is_floating_point else np.int64
    for first, last in reversed(_runs(dims)):
        outer = _prod(shape[:first])
        R = _prod(shape[first:last + 1])
        inner = _prod(shape[last + 1:])
        out = empty_array(shape[:first] + shape[last + 1:], dtype, device)
        scratch = empty_array((KR.sum_scratch_size(outer, R, inner),), _dt.from_numpy_dtype(accumulate), device)
        if out.size:
            KR.sum_(flat(a), flat(out), outer, R, inner, scratch, accumulate(0))
        a = out
        shape = shape[:first] + shape[last + 1:]
    return a


def _keepdim_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _sum_dtype(x, dtype):
    if dtype is not None:
        return _dt.as_dtype(dtype)
    return x.dtype if x.dtype.is_floating_point else _dt.int64


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype, scale):
        out = sum_array(x._array, dims, dtype, x._device)
        shape = _keepdim_shape(x._array.shape, dims) if keepdim else tuple(out.shape)
        y = wrap(out.reshape(shape) if tuple(out.shape) != shape else out, x._device)
        if scale != 1:  # mean: one extra pass over the (small) output
            from .binary import K as KB, binary_forward
            y = binary_forward(KB.mul, y, scale, dtype, x._device)
        ctx.args = (x._array.shape, dims, x.dtype, scale)
        return y

    @staticmethod
    def backward(ctx, g):
        in_shape, dims, in_dtype, scale = ctx.args
        g = reshape(g, _keepdim_shape(in_shape, dims))
        if scale != 1:
            g = g * scale
        if g.dtype is not in_dtype:
            g = g.to(in_dtype)
        return expand(g, in_shape), None, None, None, None


def sum(input, dim=None, keepdim=False, *, dtype=None):
    check_tensor("sum", "input", input)
    dims = normalize_dims("sum", dim, input.ndim)
    return Sum.apply(input, dims, keepdim, _sum_dtype(input, dtype), 1)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    check_tensor("mean", "input", input)
    dtype = _dt.as_dtype(dtype) if dtype is not None else input.dtype
    if not dtype.is_floating_point:
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating "
                           f"point or complex dtype. Got: {dtype}")
    dims = normalize_dims("mean", dim, input.ndim)
    count = _prod(input._array.shape[d] for d in dims)
    scale = 1.0 / count if count else float("nan")
    return Sum.apply(input, dims, keepdim, dtype, scale)


def sum_to_size(g, *size):
    """Sum g over the dims that were broadcast to reach its shape from `size`."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    gshape = g._array.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise RuntimeError(f"size {list(shape)} is not expandable to size {list(gshape)}")
    dims = list(range(lead))
    for i, (n, m) in enumerate(zip(shape, gshape[lead:])):
        if n == 1 and m != 1:
            dims.append(lead + i)
        elif n != m:
            raise RuntimeError(f"size {list(shape)} is not expandable to size {list(gshape)}")
    out = sum(g, tuple(dims), keepdim=True) if dims else g
    return reshape(out, shape) if out._array.shape != shape else out


__all__ = ["sum", "mean", "sum_to_size"]

TENSOR_METHODS = __all__
