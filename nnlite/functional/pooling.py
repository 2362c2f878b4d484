"""Pooling in 1, 2 and 3 dimensions, as torch.nn.functional: max_pool{1,2,3}d, avg_pool{1,2,3}d,
adaptive_avg_pool{1,2,3}d, adaptive_max_pool{1,2,3}d, lp_pool{1,2,3}d and max_unpool{1,2,3}d.

Inputs are (N, C, *spatial) or unbatched (C, *spatial); argument checks, output
sizes (ceil_mode included) and error messages follow PyTorch. One kernel family
(kernels/pooling.py) serves every dimension: the Functions view any input as
(1, planes, D, H, W) with the missing leading spatial sizes 1, which costs no
copy. Max pooling keeps the flat index of each maximum in its spatial volume, as
torch's return_indices does, and backward sends each gradient to that index.
lp_pool is composed from avg_pool and pointwise ops exactly as torch composes it
(so its gradients match torch's, NaN at all-zero windows included); max_unpool is
indexing's scatter along each flattened volume, and its backward the gather.
"""
import math

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..tensor import Tensor
from ._util import check_same_device, empty_array, flat, wrap
from .conv import grad_array
from ._arrays import contiguous_array
from .creation import from_numpy, zeros
from .indexing import gather

KP = kernels("pooling")
KA = kernels("pooling_adaptive")
KI = kernels("indexing")
KC = kernels("creation")

_COUNT = {1: "one int", 2: "two ints", 3: "three ints"}
_AXES = {1: ("W",), 2: ("H", "W"), 3: ("T", "H", "W")}


# ---------------------------------------------------------------- argument parsing


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _tuple(op, name, value, nd, allow_empty=False):
    """An int or a 1- or nd-tuple of ints as an nd-tuple; None for an omitted stride."""
    if allow_empty and (value is None or (isinstance(value, (tuple, list)) and len(value) == 0)):
        return None
    values = (value,) if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or not all(_is_int(v) for v in values):
        raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, not {type(value).__name__}")
    if len(values) not in (1, nd):
        what = "either be omitted, a single int" if allow_empty else "either be a single int"
        raise RuntimeError(f"{op}: {name} must {what}, or a tuple of {_COUNT[nd]}")
    return tuple(int(v) for v in values) * (nd if len(values) == 1 else 1)


def _check_input(op, x, nd, check_empty=True):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x.dtype not in (_dt.float32, _dt.float64):
        raise TypeError(f'"{op}" not implemented for \'{x.dtype.name}\' (nnlite pools float32 and '
                        'float64 tensors)')
    if op == "avg_pool2d" and x.ndim < 3:
        raise IndexError(f"avg_pool2d: Dimension out of range: expected a 3D or 4D input, but got input "
                         f"of size {list(x.shape)}")
    if x.ndim not in (nd + 1, nd + 2) or (check_empty and 0 in tuple(x.shape[-nd - 1:])):
        raise RuntimeError(f"{op}: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with optional 0 dim "
                           f"batch size for input, but got:{list(x.shape)}")


def _output_size(size, k, pad, stride, dilation, ceil_mode):
    """torch's pooling_output_shape: with ceil_mode the last window must start in the input or left padding."""
    out = (size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _names(prefix, values, nd):
    return " ".join(f"{prefix}{a}: {v}" for a, v in zip(_AXES[nd], values))


def _window(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """(kernel, stride, padding, dilation, out_size) nd-tuples, checked as torch checks them."""
    kernel = _tuple(op, "kernel_size", kernel_size, nd)
    stride = _tuple(op, "stride", stride, nd, allow_empty=True) or kernel
    padding = _tuple(op, "padding", padding, nd)
    dilation = _tuple(op, "dilation", dilation, nd)
    if 0 in stride:
        raise RuntimeError(f"{op}: stride should not be zero")
    if min(kernel) <= 0:
        raise RuntimeError(f"{op}: kernel size should be greater than zero, but got {_names('k', kernel, nd)}")
    if min(stride) < 0:
        raise RuntimeError(f"{op}: stride should be greater than zero, but got {_names('d', stride, nd)}")
    if min(dilation) <= 0:
        raise RuntimeError(f"{op}: dilation should be greater than zero, but got "
                           f"{_names('dilation', dilation, nd)}")
    for k, p, d in zip(kernel, padding, dilation):
        if p < 0:
            raise RuntimeError(f"{op}: pad must be non-negative, but got pad: {p}")
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    if any(p > k // 2 for k, p in zip(kernel, padding)):
        pads = ", ".join(f"pad{a} = {p}" for a, p in zip(_AXES[nd][::-1], padding[::-1]))
        ks = ", ".join(f"k{a} = {k}" for a, k in zip(_AXES[nd][::-1], kernel[::-1]))
        raise RuntimeError(f"{op}: pad should be smaller than or equal to half of kernel size, but got "
                           f"{pads}, {ks}")
    out = tuple(_output_size(n, k, p, s, d, ceil_mode)
                for n, k, p, s, d in zip(x.shape[-nd:], kernel, padding, stride, dilation))
    if min(out) < 1:
        c = x.shape[-nd - 1]
        given = "x".join(str(v) for v in (c, *x.shape[-nd:]))
        calc = "x".join(str(v) for v in (c, *out))
        raise RuntimeError(f"{op}: Given input size: ({given}). Calculated output size: ({calc}). "
                           "Output size is too small")
    return kernel, stride, padding, dilation, out


def _pad3(values, fill):
    """An nd-tuple of window scalars as the kernels' (depth, height, width) triple."""
    return (fill,) * (3 - len(values)) + tuple(values)


def _volumes(a, nd):
    """A contiguous (*lead, *spatial) array viewed as the kernels' (1, planes, D, H, W), no copy."""
    spatial = tuple(a.shape[len(a.shape) - nd:])
    return a.reshape((1, math.prod(a.shape[:len(a.shape) - nd])) + _pad3(spatial, 1))


# ---------------------------------------------------------------- max pooling


class MaxPool(Function):
    """Returns (values, indices); `args` are the kernel's window scalars, or () for adaptive."""

    @staticmethod
    def forward(ctx, input, out_size, args):
        ctx.set_materialize_grads(False)
        dev, dtype, nd = input._device, input.dtype, len(out_size)
        x = contiguous_array(input._array)
        out = empty_array((*x.shape[:-nd], *out_size), dtype, dev)
        idx = empty_array(out.shape, _dt.int64, dev)
        if out.size:
            (KP.max_pool_fwd if args else KA.adaptive_max_pool_fwd)(
                _volumes(x, nd), _volumes(out, nd), _volumes(idx, nd), *args)
        ctx.indices = idx
        ctx.meta = (x.shape, dtype, nd, args)
        indices = wrap(idx, dev)
        ctx.mark_non_differentiable(indices)
        return wrap(out, dev), indices

    @staticmethod
    def backward(ctx, grad, _grad_indices):
        if grad is None:
            return None, None, None
        in_shape, dtype, nd, args = ctx.meta
        g = grad_array(grad, dtype)
        dx = empty_array(in_shape, dtype, grad._device)
        if dx.size:
            (KP.max_pool_bwd if args else KA.adaptive_max_pool_bwd)(
                _volumes(g, nd), _volumes(ctx.indices, nd), _volumes(dx, nd), *args)
        return wrap(dx, grad._device), None, None


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _check_input(op, input, nd)
    kernel, stride, padding, dilation, out = _window(op, input, nd, kernel_size, stride, padding, dilation,
                                                     ceil_mode)
    args = (*_pad3(kernel, 1), *_pad3(stride, 1), *_pad3(padding, 0), *_pad3(dilation, 1))
    values, indices = MaxPool.apply(input, out, args)
    return (values, indices) if return_indices else values


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


# ---------------------------------------------------------------- average pooling


class AvgPool(Function):
    @staticmethod
    def forward(ctx, input, out_size, args):
        dev, nd = input._device, len(out_size)
        x = contiguous_array(input._array)
        out = empty_array((*x.shape[:-nd], *out_size), input.dtype, dev)
        if out.size:
            (KP.avg_pool_fwd if args else KA.adaptive_avg_pool_fwd)(_volumes(x, nd), _volumes(out, nd), *args)
        ctx.meta = (x.shape, input.dtype, nd, args)
        return wrap(out, dev)

    @staticmethod
    def backward(ctx, grad):
        in_shape, dtype, nd, args = ctx.meta
        g = grad_array(grad, dtype)
        dx = empty_array(in_shape, dtype, grad._device)
        if dx.size:
            (KP.avg_pool_bwd if args else KA.adaptive_avg_pool_bwd)(_volumes(g, nd), _volumes(dx, nd), *args)
        return wrap(dx, grad._device), None, None


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    _check_input(op, input, nd)
    kernel, stride, padding, _, out = _window(op, input, nd, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if not _is_int(divisor_override):
            raise TypeError(f"{op}(): argument 'divisor_override' must be int, not "
                            f"{type(divisor_override).__name__}")
        if divisor_override == 0:
            raise RuntimeError(f"{op}: divisor must be not zero")
    args = (*_pad3(kernel, 1), *_pad3(stride, 1), *_pad3(padding, 0), bool(count_include_pad),
            int(divisor_override or 0))
    return AvgPool.apply(input, out, args)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


# ---------------------------------------------------------------- adaptive pooling


def _adaptive_size(op, x, output_size, nd):
    """The output's spatial sizes from an int or an nd-tuple whose None entries keep the input's size."""
    sizes = (output_size,) * nd if _is_int(output_size) else output_size
    if not isinstance(sizes, (tuple, list)):
        raise TypeError(f"{op}(): output_size must be an int or a tuple of {_COUNT[nd]} or None, got "
                        f"{type(output_size).__name__}")
    if len(sizes) != nd:
        raise RuntimeError(f"{op}: output_size must be {nd}")
    sizes = tuple(int(n) if v is None else v for v, n in zip(sizes, x.shape[-nd:]))
    if not all(_is_int(v) for v in sizes):
        raise TypeError(f"{op}(): output_size entries must be ints or None, got {output_size!r}")
    if min(sizes) < 0:
        raise RuntimeError(f"{op}: elements of output_size must be greater than or equal to 0 but "
                           f"received {list(sizes)}")
    for d in range(-nd, 0):
        if x.shape[d] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch dimensions, "
                               f"but input has sizes {list(x.shape)} with dimension {x.ndim + d} being empty")
    return tuple(int(v) for v in sizes)


def _check_adaptive_input(op, input, nd):
    if isinstance(input, Tensor) and input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: {list(input.shape)}")
    _check_input(op, input, nd, check_empty=False)


def _adaptive_avg(op, nd, input, output_size):
    _check_adaptive_input(op, input, nd)
    return AvgPool.apply(input, _adaptive_size(op, input, output_size, nd), ())


def _adaptive_max(op, nd, input, output_size, return_indices):
    _check_adaptive_input(op, input, nd)
    values, indices = MaxPool.apply(input, _adaptive_size(op, input, output_size, nd), ())
    return (values, indices) if return_indices else values


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool1d(input, output_size, return_indices=True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool2d(input, output_size, return_indices=True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool3d(input, output_size, return_indices=True)


# ---------------------------------------------------------------- power-average pooling


def _lp_pool(op, nd, input, norm_type, kernel_size, stride, ceil_mode):
    """torch's composition: (sign(s) * relu(|s|) * prod(k)) ** (1/p) with s = avg_pool(x ** p)."""
    from .activation import relu
    from .binary import mul, pow
    from .unary import abs, sign
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}(): argument 'norm_type' must be a number, not {type(norm_type).__name__}")
    kernel = _tuple(op, "kernel_size", kernel_size, nd)
    avg = _avg_pool(op, nd, pow(input, norm_type), kernel_size, stride, 0, ceil_mode, True, None)
    scaled = mul(mul(sign(avg), relu(abs(avg))), math.prod(kernel))
    return pow(scaled, 1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


# ---------------------------------------------------------------- max unpooling


class MaxUnpool(Function):
    """out.flat[idx] = x in each (n, c) volume (the rest 0): indexing's scatter; backward is its gather."""

    @staticmethod
    def forward(ctx, input, indices, out_size):
        dev, nd = input._device, len(out_size)
        x = contiguous_array(input._array)
        idx = contiguous_array(indices._array)
        out = empty_array((*x.shape[:-nd], *out_size), input.dtype, dev)
        L, K = math.prod(out_size), math.prod(x.shape[-nd:])
        if out.size:
            KC.fill(flat(out), 0)
            if x.size:
                KI.scatter(flat(idx), flat(x), flat(out), L, K, 1, False)
        ctx.indices = idx
        ctx.meta = (x.shape, input.dtype, L, K)
        return wrap(out, dev)

    @staticmethod
    def backward(ctx, grad):
        in_shape, dtype, L, K = ctx.meta
        g = grad_array(grad, dtype)
        dx = empty_array(in_shape, dtype, grad._device)
        if dx.size:
            KI.gather(flat(g), flat(ctx.indices), flat(dx), L, K, 1)
        return wrap(dx, grad._device), None, None


def _unpool_size(op, x, nd, kernel, stride, padding, output_size):
    """torch's _unpool_output_size: (in - 1) * s - 2p + k, or output_size within a stride of it."""
    default = [(n - 1) * s + k - 2 * p for n, k, s, p in zip(x.shape[-nd:], kernel, stride, padding)]
    if output_size is None:
        return tuple(default)
    sizes = list(output_size)
    if len(sizes) == nd + 2:
        sizes = sizes[2:]
    if len(sizes) != nd:
        raise ValueError(f"{op}: output_size should be a sequence containing {nd} or {nd + 2} elements, but "
                         f"it has a length of '{len(sizes)}'")
    for d, (want, base, s) in enumerate(zip(sizes, default, stride)):
        if not base - s < want < base + s:
            raise ValueError(f'{op}: invalid output_size "{output_size}" (dim {d} must be between {base - s} '
                             f'and {base + s})')
    return tuple(int(v) for v in sizes)


def _index_bounds(indices):
    """(min, max) of a non-empty int64 index tensor (one host read on CUDA)."""
    a = indices._array
    if indices._device.type == "cpu":
        return int(a.min()), int(a.max())
    from .reduction import amax, amin
    return int(amin(indices).item()), int(amax(indices).item())


def _max_unpool(op, nd, input, indices, kernel_size, stride, padding, output_size):
    for name, t in (("input", input), ("indices", indices)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    check_same_device(op, input, indices)
    if input.dtype not in (_dt.float32, _dt.float64):
        raise TypeError(f'"{op}" not implemented for \'{input.dtype.name}\' (nnlite unpools float32 and '
                        'float64 tensors)')
    if indices.dtype is not _dt.int64:
        raise RuntimeError(f"{op}: elements in indices should be type int64 but got: {indices.dtype.name}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: Input to max_unpooling{nd}d should be a {nd + 1}d or {nd + 2}d Tensor, but "
                           f"got a tensor with {input.ndim} dimensions.")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: Expected shape of indices to be same as that of the input tensor "
                           f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}")
    for d in range(input.ndim - nd - 1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{op}: Expected input to have non-zero size for non-batch dimensions, but got "
                               f"{list(input.shape)} with dimension {d} being empty.")
    kernel = _tuple(op, "kernel_size", kernel_size, nd)
    stride = _tuple(op, "stride", stride, nd, allow_empty=True) or kernel
    padding = _tuple(op, "padding", padding, nd)
    out = _unpool_size(op, input, nd, kernel, stride, padding, output_size)
    if min(out) < 0:
        raise RuntimeError(f"{op}: output size must be non-negative, but got {list(out)}")
    if input.numel():
        lo, hi = _index_bounds(indices)
        bad = lo if lo < 0 else hi if hi >= math.prod(out) else None
        if bad is not None:
            raise RuntimeError(f"{op}: Found an invalid max index: {bad} (output volumes are of size "
                               f"{'x'.join(str(v) for v in out)})")
    return MaxUnpool.apply(input, indices, out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


# ---------------------------------------------------------------- fractional max pooling
# Windows of a fixed size at pseudo-random starts: the starts come from one random number per
# (n, c, dim), computed on the host in the input's dtype (as torch, so that given
# _random_samples the result is torch's exactly). The max is composed from differentiable ops:
# gather every window's taps from the flattened volume, then max with indices over the taps.


def _fractional_starts(samples, in_size, out_size, k, dtype):
    """(N, C, out) window starts: int((i + u) * a) - int(u * a), a = (in - k) / (out - 1); the last is in - k."""
    u = samples.astype(dtype)
    starts = np.empty(samples.shape + (out_size,), np.int64)
    if out_size > 1:
        alpha = dtype.type(in_size - k) / dtype.type(out_size - 1)
        i = np.arange(out_size - 1, dtype=dtype)
        starts[..., :-1] = ((i + u[..., None]) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)[..., None]
    starts[..., out_size - 1] = in_size - k
    return starts


def _fractional_max_pool(op, nd, input, kernel_size, output_size, output_ratio, return_indices, _random_samples):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: {list(input.shape)}")
    if input.dtype not in (_dt.float32, _dt.float64):
        raise RuntimeError(f"{op}: expected a float32 or float64 input, but got {input.dtype.name}")
    kernel = _int_tuple(kernel_size, nd)
    spatial = tuple(input.shape[-nd:])
    if output_size is None:
        ratio = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * nd
        output_size = tuple(int(n * r) for n, r in zip(spatial, ratio))
    out = _int_tuple(output_size, nd)
    for name, o, k, n in zip(("time", "height", "width")[3 - nd:], out, kernel, spatial):
        if o + k - 1 > n:
            raise RuntimeError(f"{op}(): pool {name} {k} too large relative to input {name} {n}")
    batched = input.ndim == nd + 2
    x = input if batched else input.unsqueeze(0)
    n, c = x.shape[0], x.shape[1]
    if _random_samples is None:
        from .creation import rand
        _random_samples = rand(n, c, nd, dtype=input.dtype, device=input.device)
    if tuple(_random_samples.shape) != (n, c, nd):
        raise RuntimeError(f"{op}(): expected _random_samples of shape {[n, c, nd]}, but got "
                           f"{list(_random_samples.shape)}")
    u = _random_samples.detach().cpu().numpy()
    # samples [..., 0] drive the last dim in 2-D (width, height); in 3-D they run T, H, W
    order = (1, 0) if nd == 2 else (0, 1, 2)
    starts = [_fractional_starts(u[..., j], s, o, k, input.dtype.np) for j, s, o, k in
              zip(order, spatial, out, kernel)]
    # flat index of every tap of every window: (N, C, *out, *kernel)
    idx = np.zeros((n, c) + out + kernel, np.int64)
    stride = 1
    for d in reversed(range(nd)):
        pos = starts[d].reshape((n, c) + tuple(out[d] if e == d else 1 for e in range(nd)) + (1,) * nd) \
            + np.arange(kernel[d]).reshape((1, 1) + (1,) * nd + tuple(kernel[d] if e == d else 1 for e in range(nd)))
        idx += pos * stride
        stride *= spatial[d]
    taps = math.prod(kernel)
    if x.numel() == 0:  # (gather of an empty tensor loses its graph: a zero-size slice keeps it)
        values = x.reshape(n, c, math.prod(spatial))[:, :, :1].reshape(n, c, *(1,) * nd).expand(n, c, *out)
        indices = zeros(n, c, *out, dtype=_dt.int64, device=input.device)
        return (values, indices) if return_indices else values
    flat_idx = from_numpy(idx.reshape(n, c, math.prod(out) * taps)).to(input.device)
    gathered = gather(x.reshape(n, c, math.prod(spatial)), 2, flat_idx).reshape(n, c, *out, taps)
    values, which = gathered.max(dim=-1)
    indices = gather(flat_idx.reshape(n, c, *out, taps), -1, which.unsqueeze(-1)).squeeze(-1)
    if not batched:
        values, indices = values.squeeze(0), indices.squeeze(0)
    return (values, indices) if return_indices else values


def _int_tuple(v, nd):
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * nd


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """Fractional max pooling over (N, C, H, W) or (C, H, W) input, as torch."""
    return _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """Fractional max pooling over (N, C, T, H, W) or (C, T, H, W) input, as torch."""
    return _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
           "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
           "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d",
           "max_unpool2d", "max_unpool3d",
           "fractional_max_pool2d", "fractional_max_pool3d"]

TENSOR_METHODS = []
