"""Indexing: x[idx] and x[idx] = v with ints, slices, None and Ellipsis.

Basic indices make views, computed here as (shape, strides, offset) so that
CPU and CUDA tensors index the same way. Tensor, list and bool-mask indices
go to advanced indexing (`advanced_index.py`).
"""
import numpy as np

from ..autograd.function import Function
from ..tensor import Tensor
from ._util import wrap
from .shape import array_strides, copy_array_into, strided_view


def _is_basic(item):
    return item is None or item is Ellipsis or isinstance(item, (int, np.integer, slice)) \
        and not isinstance(item, (bool, np.bool_))


def normalize_index(index):
    return index if isinstance(index, tuple) else (index,)


def basic_view_spec(shape, strides, index):
    """(shape, strides, offset) of x[index] for a tuple of basic indices."""
    n_real = sum(1 for it in index if it is not None and it is not Ellipsis)
    if sum(1 for it in index if it is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    out_shape, out_strides = [], []
    offset = 0
    dim = 0
    for it in index:
        if it is Ellipsis:
            for _ in range(len(shape) - n_real):
                out_shape.append(shape[dim])
                out_strides.append(strides[dim])
                dim += 1
        elif it is None:
            out_shape.append(1)
            out_strides.append(0)
        elif isinstance(it, slice):
            start, stop, step = it.indices(shape[dim])
            if step <= 0:
                raise ValueError("step must be greater than zero")
            length = max(0, (stop - start + step - 1) // step)
            out_shape.append(length)
            out_strides.append(strides[dim] * step)
            if length:
                offset += start * strides[dim]
            dim += 1
        else:
            i = int(it)
            size = shape[dim]
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
            offset += (i % size) * strides[dim]
            dim += 1
    for d in range(dim, len(shape)):
        out_shape.append(shape[d])
        out_strides.append(strides[d])
    return tuple(out_shape), tuple(out_strides), offset


def basic_view_array(a, index):
    shape, strides, offset = basic_view_spec(tuple(a.shape), array_strides(a), index)
    return strided_view(a, shape, strides, offset)


class BasicIndex(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.args = (x._array.shape, x.dtype, x._device, index)
        return x._view_of(basic_view_array(x._array, index))

    @staticmethod
    def backward(ctx, g):
        shape, dtype, device, index = ctx.args
        from .creation import zeros
        out = zeros(shape, dtype=dtype, device=device)
        copy_array_into(g._array, basic_view_array(out._array, index))
        return out, None


def getitem(x, index):
    index = normalize_index(index)
    if all(_is_basic(it) for it in index):
        return BasicIndex.apply(x, index)
    from .advanced_index import advanced_getitem
    return advanced_getitem(x, index)


class BasicIndexPut(Function):
    """x[index] = value for basic indices, in place, differentiable in x and value."""

    @staticmethod
    def forward(ctx, x, value, index):
        ctx.check_inplace(x)
        region = basic_view_array(x._array, index)
        src = value._array if isinstance(value, Tensor) else _scalar_array(value, x)
        copy_array_into(src, region)
        ctx.mark_dirty(x)
        ctx.args = (index, value._array.shape if isinstance(value, Tensor) else None, tuple(region.shape))
        return x

    @staticmethod
    def backward(ctx, g):
        index, value_shape, region_shape = ctx.args
        gx = g.clone()
        from .creation import fill_
        fill_(wrap(basic_view_array(gx._array, index), g._device), 0)
        gv = None
        if value_shape is not None and ctx.needs_input_grad[1]:
            from .reduction import sum_to_size
            gv = sum_to_size(BasicIndex.apply(g, index), value_shape)
        return gx, gv, None


def _scalar_array(value, x):
    return np.full((), value, dtype=x.dtype.np) if x._device.type == "cpu" else \
        _device_scalar(value, x)


def _device_scalar(value, x):
    from .binary import operand_array
    return operand_array(value, x.dtype, x._device).reshape(())


def setitem(x, index, value):
    index = normalize_index(index)
    if isinstance(value, Tensor):
        if value._device != x._device:
            raise RuntimeError(f"setitem: value is on {value._device} but the tensor is on {x._device}")
        if value.dtype is not x.dtype:
            value = value.to(x.dtype)
    elif not isinstance(value, (int, float, bool, np.number, np.bool_)):
        from .creation import tensor
        value = tensor(value, dtype=x.dtype, device=x._device)
    if all(_is_basic(it) for it in index):
        BasicIndexPut.apply(x, value, index)
        return
    from .advanced_index import advanced_setitem
    advanced_setitem(x, index, value)


__all__ = []

TENSOR_METHODS = []
