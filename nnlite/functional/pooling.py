"""2-D pooling, as torch.nn.functional: max_pool2d, avg_pool2d, adaptive_avg_pool2d,
adaptive_max_pool2d (forward and backward kernels in kernels/pooling.py).

Inputs are (N, C, H, W) or unbatched (C, H, W); argument checks, output sizes
(ceil_mode included) and error messages follow PyTorch. Max pooling keeps the
flat index of each maximum in its (H, W) plane, as torch's return_indices
does, and backward sends each gradient to that index.
"""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..tensor import Tensor
from ._util import empty_array, wrap
from .conv import grad_array
from ._arrays import contiguous_array
from .shape import squeeze, unsqueeze

KP = kernels("pooling")


# ---------------------------------------------------------------- argument parsing


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _pair(op, name, value, allow_empty=False):
    """An int or a 1- or 2-tuple of ints as (h, w); None for an omitted stride."""
    if allow_empty and (value is None or (isinstance(value, (tuple, list)) and len(value) == 0)):
        return None
    values = (value,) if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or not all(_is_int(v) for v in values):
        raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, not {type(value).__name__}")
    if len(values) not in (1, 2):
        what = "either be omitted, a single int" if allow_empty else "either be a single int"
        raise RuntimeError(f"{op}: {name} must {what}, or a tuple of two ints")
    return int(values[0]), int(values[-1])


def _check_input(op, x, check_empty=True):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x.dtype not in (_dt.float32, _dt.float64):
        raise TypeError(f'"{op}" not implemented for \'{x.dtype.name}\' (nnlite pools float32 and '
                        'float64 tensors)')
    if op == "avg_pool2d" and x.ndim < 3:
        raise IndexError(f"avg_pool2d: Dimension out of range: expected a 3D or 4D input, but got input "
                         f"of size {list(x.shape)}")
    if x.ndim not in (3, 4) or (check_empty and 0 in tuple(x.shape[-3:])):
        raise RuntimeError(f"{op}: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size "
                           f"for input, but got:{list(x.shape)}")


def _output_size(size, k, pad, stride, dilation, ceil_mode):
    """torch's pooling_output_shape: with ceil_mode the last window must start in the input or left padding."""
    out = (size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _window(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """(kernel, stride, padding, dilation, out_size) pairs, checked as torch checks them."""
    kernel = _pair(op, "kernel_size", kernel_size)
    stride = _pair(op, "stride", stride, allow_empty=True) or kernel
    padding = _pair(op, "padding", padding)
    dilation = _pair(op, "dilation", dilation)
    if 0 in stride:
        raise RuntimeError(f"{op}: stride should not be zero")
    if min(kernel) <= 0:
        raise RuntimeError(f"{op}: kernel size should be greater than zero, but got kH: {kernel[0]} "
                           f"kW: {kernel[1]}")
    if min(stride) < 0:
        raise RuntimeError(f"{op}: stride should be greater than zero, but got dH: {stride[0]} dW: {stride[1]}")
    if min(dilation) <= 0:
        raise RuntimeError(f"{op}: dilation should be greater than zero, but got dilationH: {dilation[0]} "
                           f"dilationW: {dilation[1]}")
    for k, p, d in zip(kernel, padding, dilation):
        if p < 0:
            raise RuntimeError(f"{op}: pad must be non-negative, but got pad: {p}")
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise RuntimeError(f"{op}: pad should be smaller than or equal to half of kernel size, but got "
                           f"padW = {padding[1]}, padH = {padding[0]}, kW = {kernel[1]}, kH = {kernel[0]}")
    out = tuple(_output_size(n, k, p, s, d, ceil_mode)
                for n, k, p, s, d in zip(x.shape[-2:], kernel, padding, stride, dilation))
    if min(out) < 1:
        c, h, w = x.shape[-3:]
        raise RuntimeError(f"{op}: Given input size: ({c}x{h}x{w}). Calculated output size: "
                           f"({c}x{out[0]}x{out[1]}). Output size is too small")
    return kernel, stride, padding, dilation, out


def _batched(x):
    """(4-D view of x, whether x was batched)."""
    return (x, True) if x.ndim == 4 else (unsqueeze(x, 0), False)


def _unbatch(outputs, batched):
    if batched:
        return outputs
    if isinstance(outputs, tuple):
        return tuple(squeeze(t, 0) for t in outputs)
    return squeeze(outputs, 0)


# ---------------------------------------------------------------- max pooling


class MaxPool2d(Function):
    """Returns (values, indices); `args` are the kernel's window scalars, or () for adaptive."""

    @staticmethod
    def forward(ctx, input, out_size, args):
        ctx.set_materialize_grads(False)
        dev, dtype = input._device, input.dtype
        x = contiguous_array(input._array)
        out = empty_array((*x.shape[:2], *out_size), dtype, dev)
        idx = empty_array(out.shape, _dt.int64, dev)
        if out.size:
            (KP.max_pool2d_fwd if args else KP.adaptive_max_pool2d_fwd)(x, out, idx, *args)
        ctx.indices = idx
        ctx.meta = (x.shape, input.dtype, args)
        indices = wrap(idx, dev)
        ctx.mark_non_differentiable(indices)
        return wrap(out, dev), indices

    @staticmethod
    def backward(ctx, grad, _grad_indices):
        if grad is None:
            return None, None, None
        in_shape, dtype, args = ctx.meta
        g = grad_array(grad, dtype)
        dx = empty_array(in_shape, dtype, grad._device)
        if dx.size:
            (KP.max_pool2d_bwd if args else KP.adaptive_max_pool2d_bwd)(g, ctx.indices, dx, *args)
        return wrap(dx, grad._device), None, None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    _check_input("max_pool2d", input)
    kernel, stride, padding, dilation, out = _window("max_pool2d", input, kernel_size, stride, padding,
                                                     dilation, ceil_mode)
    x, batched = _batched(input)
    values, indices = MaxPool2d.apply(x, out, (*kernel, *stride, *padding, *dilation))
    return _unbatch((values, indices) if return_indices else values, batched)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


# ---------------------------------------------------------------- average pooling


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, input, out_size, args):
        dev = input._device
        x = contiguous_array(input._array)
        out = empty_array((*x.shape[:2], *out_size), input.dtype, dev)
        if out.size:
            (KP.avg_pool2d_fwd if args else KP.adaptive_avg_pool2d_fwd)(x, out, *args)
        ctx.meta = (x.shape, input.dtype, args)
        return wrap(out, dev)

    @staticmethod
    def backward(ctx, grad):
        in_shape, dtype, args = ctx.meta
        g = grad_array(grad, dtype)
        dx = empty_array(in_shape, dtype, grad._device)
        if dx.size:
            (KP.avg_pool2d_bwd if args else KP.adaptive_avg_pool2d_bwd)(g, dx, *args)
        return wrap(dx, grad._device), None, None


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    _check_input("avg_pool2d", input)
    kernel, stride, padding, _, out = _window("avg_pool2d", input, kernel_size, stride, padding, 1,
                                              ceil_mode)
    if divisor_override is not None:
        if not _is_int(divisor_override):
            raise TypeError("avg_pool2d(): argument 'divisor_override' must be int, not "
                            f"{type(divisor_override).__name__}")
        if divisor_override == 0:
            raise RuntimeError("avg_pool2d: divisor must be not zero")
    x, batched = _batched(input)
    args = (*kernel, *stride, *padding, bool(count_include_pad), int(divisor_override or 0))
    return _unbatch(AvgPool2d.apply(x, out, args), batched)


# ---------------------------------------------------------------- adaptive pooling


def _adaptive_size(op, x, output_size):
    """(OH, OW) from an int or a pair whose None entries keep the input's size."""
    sizes = (output_size, output_size) if _is_int(output_size) else output_size
    if not isinstance(sizes, (tuple, list)):
        raise TypeError(f"{op}(): output_size must be an int or a tuple of two ints or None, got "
                        f"{type(output_size).__name__}")
    if len(sizes) != 2:
        raise RuntimeError(f"{op}: output_size must be 2")
    sizes = tuple(int(n) if v is None else v for v, n in zip(sizes, x.shape[-2:]))
    if not all(_is_int(v) for v in sizes):
        raise TypeError(f"{op}(): output_size entries must be ints or None, got {output_size!r}")
    if min(sizes) < 0:
        raise RuntimeError(f"{op}: elements of output_size must be greater than or equal to 0 but "
                           f"received {list(sizes)}")
    for d in (-2, -1):
        if x.shape[d] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch dimensions, "
                               f"but input has sizes {list(x.shape)} with dimension {x.ndim + d} being empty")
    return tuple(int(v) for v in sizes)


def _check_adaptive_input(op, input):
    if isinstance(input, Tensor) and input.ndim not in (3, 4):
        raise RuntimeError(f"{op}(): Expected 3D or 4D tensor, but got: {list(input.shape)}")
    _check_input(op, input, check_empty=False)


def adaptive_avg_pool2d(input, output_size):
    _check_adaptive_input("adaptive_avg_pool2d", input)
    out = _adaptive_size("adaptive_avg_pool2d", input, output_size)
    x, batched = _batched(input)
    return _unbatch(AvgPool2d.apply(x, out, ()), batched)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    _check_adaptive_input("adaptive_max_pool2d", input)
    out = _adaptive_size("adaptive_max_pool2d", input, output_size)
    x, batched = _batched(input)
    values, indices = MaxPool2d.apply(x, out, ())
    return _unbatch((values, indices) if return_indices else values, batched)


__all__ = ["max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d"]

TENSOR_METHODS = []
