"""Normalization, as torch.nn.functional: batch_norm, layer_norm, group_norm.

batch_norm normalises each channel of (N, C, *) over the batch and spatial
dims (training: batch statistics, with the running stats updated in place;
eval: the running stats). layer_norm and group_norm normalise rows: the last
dims of each sample, or each group of channels of each sample; both run on
the row-norm kernels of `kernels/normalization.py`.
"""
import math
import numbers

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.device import CPU
from ..backend.lazy import kernels
from ._util import check_same_device, check_tensor, empty_array, flat, wrap
from .activation import check_floating_input
from ._arrays import contiguous_array, copy_array_into, is_contiguous_array

K = kernels("normalization")


def _vector(t, fill, size, dtype, device):
    """The flat contiguous array of an optional per-channel tensor (None -> `fill`s)."""
    if t is not None:
        return flat(contiguous_array(t._array))
    from .creation import full
    return full((size,), fill, dtype=dtype, device=device)._array


def _check_vector(op, name, t, size, x):
    if t is None:
        return
    check_tensor(op, name, t)
    if t.numel() != size:
        raise RuntimeError(f"{name} should contain {size} elements not {t.numel()}")
    if t.dtype is not x.dtype:
        raise RuntimeError(f"{op}: mixed dtype: {name} is {t.dtype} but input is {x.dtype}; all inputs must "
                           "share the same datatype")


# ------------------------------------------------------------------ batch_norm

class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        a = contiguous_array(x._array)
        shape = tuple(a.shape)
        N, C, S = shape[0], shape[1], math.prod(shape[2:])
        dev, dtype = x._device, x.dtype
        y = empty_array(shape, dtype, dev)
        mean, invstd = empty_array((C,), dtype, dev), empty_array((C,), dtype, dev)
        has_stats = running_mean is not None
        # the kernel updates the running stats in place (in a contiguous copy, written back, if need be)
        rm = flat(contiguous_array(running_mean._array)) if has_stats else mean
        rv = flat(contiguous_array(running_var._array)) if has_stats else invstd
        update = training and has_stats
        K.batch_norm(flat(a), _vector(weight, 1, C, dtype, dev), _vector(bias, 0, C, dtype, dev), flat(y),
                     mean, invstd, rm, rv, N, C, S, float(eps), float(momentum), bool(training), update)
        if update:
            for stat, updated in ((running_mean, rm), (running_var, rv)):
                if not is_contiguous_array(stat._array):
                    copy_array_into(updated.reshape(tuple(stat._array.shape)), stat._array)
                stat._version[0] += 1
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, invstd, (N, C, S), bool(training))
        return wrap(y, dev)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, invstd, (N, C, S), training = ctx.stats
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dev, dtype = x._device, x.dtype
        a = contiguous_array(x._array)
        gx = empty_array(a.shape, dtype, dev)
        gw, gb = empty_array((C,), dtype, dev), empty_array((C,), dtype, dev)
        K.batch_norm_bwd(flat(contiguous_array(g._array)), flat(a), _vector(weight, 1, C, dtype, dev), mean,
                         invstd, flat(gx), gw, gb, N, C, S, training, need_x)
        return (wrap(gx, dev) if need_x else None, wrap(gw, dev) if need_w else None,
                wrap(gb, dev) if need_b else None, None, None, None, None, None)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise each channel (dim 1) of input over the batch and spatial dims, as torch."""
    check_tensor("batch_norm", "input", input)
    if input.ndim < 2:
        raise RuntimeError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), got input of "
                           f"size {list(input.shape)}")
    shape = tuple(input.shape)
    if training and math.prod(shape[:1] + shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError(f"{'running_mean' if running_mean is None else 'running_var'} must be defined in "
                           "evaluation mode")
    check_floating_input("batch_norm", input)
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_vector("batch_norm", name, t, shape[1], input)
    check_same_device("batch_norm", input, running_mean, running_var, weight, bias)
    if not isinstance(momentum, numbers.Real) or isinstance(momentum, bool):
        raise TypeError(f"batch_norm(): argument 'momentum' must be float, not {type(momentum).__name__}")
    if (running_mean is None) != (running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var must both be given or both be None")
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training), momentum, eps)


# ------------------------------------------------------------------ layer_norm / group_norm

class RowNorm(Function):
    """Rows of D elements normalised on their own; `groups`/`channel_size` say how
    the weights (of weight_shape) map onto a row (layer_norm: 1 group, channel size 1)."""

    @staticmethod
    def forward(ctx, x, weight, bias, groups, channel_size, weight_shape, eps):
        a = contiguous_array(x._array)
        dev, dtype = x._device, x.dtype
        W = math.prod(weight_shape)
        D = W // groups * channel_size
        rows = a.size // D if D else 0
        y = empty_array(a.shape, dtype, dev)
        mean, rstd = empty_array((rows,), dtype, dev), empty_array((rows,), dtype, dev)
        if a.size:
            K.row_norm(flat(a), _vector(weight, 1, W, dtype, dev), _vector(bias, 0, W, dtype, dev), flat(y),
                       mean, rstd, rows, D, groups, channel_size, float(eps))
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, rstd, rows, D, groups, channel_size, weight_shape)
        return wrap(y, dev)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, rstd, rows, D, groups, channel_size, weight_shape = ctx.stats
        W = math.prod(weight_shape)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dev, dtype = x._device, x.dtype
        a = flat(contiguous_array(x._array))
        ga = flat(contiguous_array(g._array))
        w = _vector(weight, 1, W, dtype, dev)
        gx = empty_array(x._array.shape, dtype, dev) if need_x else None
        gw, gb = empty_array((W,), dtype, dev), empty_array((W,), dtype, dev)
        if groups == 1 and channel_size == 1:  # layer_norm: one fused pass for all three gradients
            scratch = None  # partial sums of the CPU kernel; the CUDA one needs none
            if dev.type == "cpu":
                scratch = empty_array((K.layer_norm_scratch_size(rows, D),), _dt.float64, CPU)
            if a.size:
                K.layer_norm_bwd(ga, a, w, mean, rstd, flat(gx) if need_x else ga, gw, gb, rows, D, scratch,
                                 need_x)
            else:
                gw, gb = _zeros(W, dtype, dev), _zeros(W, dtype, dev)
        else:
            if need_x and a.size:
                K.row_norm_bwd(ga, a, w, mean, rstd, flat(gx), rows, D, groups, channel_size)
            if need_w or need_b:
                K.affine_grad(ga, a, mean, rstd, gw, gb, rows // groups, W, groups, channel_size)
        return (wrap(gx, dev) if need_x else None, wrap(gw.reshape(weight_shape), dev) if need_w else None,
                wrap(gb.reshape(weight_shape), dev) if need_b else None, None, None, None, None)


def _zeros(n, dtype, device):
    from .creation import zeros
    return zeros(n, dtype=dtype, device=device)._array


def _check_affine(op, x, weight, bias, expected, message):
    for t in (weight, bias):
        if t is None:
            continue
        check_tensor(op, "weight" if t is weight else "bias", t)
        if tuple(t.shape) != expected:
            raise RuntimeError(message(t))
        if t.dtype is not x.dtype:
            raise RuntimeError(f"{op}: expected weight and bias of the input's dtype {x.dtype}, got {t.dtype}")
    check_same_device(op, x, weight, bias)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) dims, as torch.nn.functional.layer_norm."""
    check_tensor("layer_norm", "input", input)
    norm = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(int(s) for s in
                                                                                    normalized_shape)
    shape = tuple(input.shape)
    if not norm or shape[len(shape) - len(norm):] != norm or len(norm) > len(shape):
        raise RuntimeError(f"Given normalized_shape={list(norm)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in norm)}], but got input of size{list(shape)}")
    check_floating_input("layer_norm", input)
    _check_affine("layer_norm", input, weight, bias, norm, lambda t: (
        f"Expected {'weight' if t is weight else 'bias'} to be of same shape as normalized_shape, but got "
        f"{'weight' if t is weight else 'bias'} of shape {list(t.shape)} and normalized_shape = {list(norm)}"))
    return RowNorm.apply(input, weight, bias, 1, 1, norm, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each group of channels of each sample, as torch.nn.functional.group_norm."""
    check_tensor("group_norm", "input", input)
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    shape = tuple(input.shape)
    C = shape[1]
    if num_groups <= 0 or C % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got "
                           f"input of shape {list(shape)} and num_groups={num_groups}")
    check_floating_input("group_norm", input)
    _check_affine("group_norm", input, weight, bias, (C,), lambda t: (
        f"Expected {'weight' if t is weight else 'bias'} to be a vector of size equal to the number of "
        f"channels in input, but got {'weight' if t is weight else 'bias'} of shape {list(t.shape)} and "
        f"input of shape {list(shape)}"))
    return RowNorm.apply(input, weight, bias, int(num_groups), math.prod(shape[2:]), (C,), eps)


__all__ = ["batch_norm", "group_norm", "layer_norm"]

TENSOR_METHODS = []
