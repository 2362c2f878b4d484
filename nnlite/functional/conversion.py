"""Tensor.to(): dtype casts and device copies, both differentiable."""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.device import device as as_device
from ..backend.memory import to_device
from ..tensor import Tensor
from ._util import wrap
from ._arrays import cast_array, contiguous_array


class ToDtype(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return wrap(cast_array(x._array, dtype.np), x._device)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.in_dtype), None


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, dev):
        ctx.in_device = x._device
        return wrap(move_array(x._array, x._device, dev), dev)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.in_device), None


def move_array(a, src, dst):
    """A copy of array a (on device src) on device dst."""
    a = contiguous_array(a)
    if src.type == "cuda":
        a = a.copy_to_host()
    if dst.type == "cuda":
        return to_device(a, dst.index)
    return np.array(a, copy=True) if src.type == "cpu" else a


def _parse_to(args, kwargs):
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dev, dtype = a._device, a.dtype
        elif isinstance(a, (_dt.dtype, type, np.dtype)) and not isinstance(a, str):
            dtype = a
        elif isinstance(a, (str, int)) or hasattr(a, "type"):
            dev = a
        elif isinstance(a, bool):
            pass
        elif a is not None:
            raise TypeError(f"to() received an invalid combination of arguments: {type(a).__name__}")
    return (as_device(dev) if dev is not None else None,
            _dt.as_dtype(dtype) if dtype is not None else None, copy)


def to(x, *args, **kwargs):
    dev, dtype, copy = _parse_to(args, dict(kwargs))
    if dev is not None and dev.type == "cuda":
        from .creation import _device_of
        dev = _device_of(dev)
    y = x
    if dtype is not None and dtype is not x.dtype:
        y = ToDtype.apply(y, dtype)
    if dev is not None and dev != x._device:
        y = ToDevice.apply(y, dev)
    if copy and y is x:
        y = x.clone()
    return y


def view_as_dtype(x, dtype):
    """Reinterpret the bytes of x as another dtype of the same size (Tensor.view(dtype))."""
    dtype = _dt.as_dtype(dtype)
    if dtype.itemsize != x.dtype.itemsize:
        raise RuntimeError("nnlite: view(dtype) needs a dtype of the same element size")
    return x._view_of(x._array.view(dtype.np))


__all__ = ["to"]

TENSOR_METHODS = __all__
