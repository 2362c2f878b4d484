"""Normalization, as torch.nn.functional: batch_norm, layer_norm, group_norm, instance_norm,
local_response_norm, rms_norm, normalize.

batch_norm normalises each channel of (N, C, *) over the batch and spatial
dims (training: batch statistics, with the running stats updated in place;
eval: the running stats). layer_norm and group_norm normalise rows: the last
dims of each sample, or each group of channels of each sample; both run on
the row-norm kernels of `kernels/row_norm.py`, and so does instance_norm
(a group per channel; `kernels/instance_norm.py` folds its running stats).
local_response_norm and rms_norm have kernel files of their own; normalize
is norm, clamp_min and div.
"""
import math
import numbers

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.device import CPU
from ..backend.lazy import kernels
from ._util import check_same_device, check_tensor, empty_array, flat, wrap
from .activation import check_floating_input
from ._arrays import contiguous_array, copy_array_into, is_contiguous_array

K = kernels("normalization")
KN = kernels("row_norm")
KI = kernels("instance_norm")
KL = kernels("local_response_norm")
KR = kernels("rms_norm")


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
        raise RuntimeError(f"{op}: {name} should contain {size} elements not {t.numel()} (one per channel of "
                           f"the input of size {list(x.shape)})")
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
    if input.numel() == 0:
        # as torch: running stats untouched, and an empty output still linked to weight and bias
        # (their gradients are zeros rather than None, so optimizers see every parameter)
        out = input.clone()
        if weight is not None:
            out = out * weight[0]
        if bias is not None:
            out = out + bias[0]
        return out
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
            KN.row_norm(flat(a), _vector(weight, 1, W, dtype, dev), _vector(bias, 0, W, dtype, dev), flat(y),
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
        if not a.size:
            gw, gb = _zeros(W, dtype, dev), _zeros(W, dtype, dev)
        elif groups == 1 and channel_size == 1:  # layer_norm
            gw, gb = empty_array((W,), dtype, dev), empty_array((W,), dtype, dev)
            scratch = empty_array((KN.layer_norm_scratch_size(rows, D),), _dt.float64, CPU) \
                if dev.type == "cpu" else None  # the CPU kernel's partial sums
            KN.layer_norm_bwd(ga, a, w, mean, rstd, flat(gx) if need_x else ga, gw, gb, rows, D, scratch, need_x)
        else:  # group_norm: rows are (sample, group); W channels of channel_size elements
            gw, gb = empty_array((W,), dtype, dev), empty_array((W,), dtype, dev)
            N = rows // groups
            sums = empty_array((2 * N * W,), _dt.float64, CPU) if dev.type == "cpu" else None
            KN.group_norm_bwd(ga, a, w, mean, rstd, flat(gx) if need_x else ga, gw, gb, N, W, groups,
                              channel_size, sums, need_x)
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


# ------------------------------------------------------------------ instance_norm

class InstanceNorm(Function):
    """group_norm with a group per channel, plus the running stats' update."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        N, C = x.shape[0], x.shape[1]
        S = math.prod(tuple(x.shape)[2:])
        y = RowNorm.forward(ctx, x, weight, bias, C, S, (C,), eps)
        if running_mean is not None and N:
            mean, rstd = ctx.stats[:2]
            rm, rv = flat(contiguous_array(running_mean._array)), flat(contiguous_array(running_var._array))
            KI.instance_norm_running_stats(mean, rstd, rm, rv, N, C, S, float(eps), float(momentum))
            for stat, updated in ((running_mean, rm), (running_var, rv)):
                if not is_contiguous_array(stat._array):
                    copy_array_into(updated.reshape(tuple(stat._array.shape)), stat._array)
                stat._version[0] += 1
        return y

    @staticmethod
    def backward(ctx, g):
        gx, gw, gb = RowNorm.backward(ctx, g)[:3]
        return gx, gw, gb, None, None, None, None


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample over its spatial dims, as torch.nn.functional.instance_norm."""
    check_tensor("instance_norm", "input", input)
    shape = tuple(input.shape)
    if not use_input_stats:  # the running stats are the statistics: batch_norm's eval mode
        if running_mean is None or running_var is None:
            raise RuntimeError("instance_norm: expected running_mean and running_var to be defined when "
                               "use_input_stats is false")
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if math.prod(shape[2:]) == 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when training, got input size "
                         f"{list(shape)}")
    check_floating_input("instance_norm", input)
    C = shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_vector("instance_norm", name, t, C, input)
    if (running_mean is None) != (running_var is None):
        raise RuntimeError("instance_norm: running_mean and running_var must both be given or both be None")
    check_same_device("instance_norm", input, running_mean, running_var, weight, bias)
    return InstanceNorm.apply(input, weight, bias, running_mean, running_var, momentum, eps)


# ------------------------------------------------------------------ local_response_norm

class LocalResponseNorm(Function):
    """Across channels of (N, C, S): window [c - before, c + after] (kernels/local_response_norm.py)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k, before, after, sticky_first):
        a = flat(contiguous_array(x._array))
        shape = tuple(x.shape)
        N, C, S = shape[0], shape[1], math.prod(shape[2:])
        scale, y = empty_array(a.shape, x.dtype, x._device), empty_array(a.shape, x.dtype, x._device)
        KL.local_response_norm_fwd(a, scale, y, N, C, S, before, after, sticky_first, alpha / size, beta, k)
        ctx.save_for_backward(x)
        ctx.lrn = (scale, (N, C, S), before, after, sticky_first, beta, 2.0 * alpha * beta / size)
        return wrap(y.reshape(shape), x._device)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        scale, (N, C, S), before, after, sticky_first, beta, coef = ctx.lrn
        a, ga = flat(contiguous_array(x._array)), flat(contiguous_array(g._array))
        gx = empty_array(a.shape, x.dtype, x._device)
        ratio = empty_array(a.shape, x.dtype, x._device) if x._device.type == "cpu" else None
        KL.local_response_norm_bwd(ga, a, scale, ratio, gx, N, C, S, before, after, sticky_first, beta, coef)
        return wrap(gx.reshape(tuple(x.shape)), x._device), None, None, None, None, None, None, None


def _check_lrn(op, input, size, min_dim, max_dim=None):
    check_tensor(op, "input", input)
    if input.ndim < min_dim or (max_dim is not None and input.ndim > max_dim):
        want = f"{min_dim}D" if max_dim == min_dim else f"{min_dim}D or higher dimensionality"
        raise ValueError(f"{op}: expected {want} input (got {input.ndim} dimensions)")
    if not isinstance(size, numbers.Integral) or isinstance(size, bool):
        raise TypeError(f"{op}: size must be an int, got {type(size).__name__}")
    if size <= 0:
        raise RuntimeError(f"{op}: size should be greater than zero, but got {size}")
    check_floating_input(op, input)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Divide each channel by (k + alpha / size * sum of squares of its neighbour channels)^beta, as torch."""
    _check_lrn("local_response_norm", input, size, 3)
    if input.numel() == 0:
        return input
    return LocalResponseNorm.apply(input, int(size), float(alpha), float(beta), float(k), size // 2,
                                   (size - 1) // 2, False)


def cross_map_lrn2d(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """torch.nn.CrossMapLRN2d's op on (N, C, H, W): a symmetric window of (size - 1) // 2 channels each side,
    and channel 0 counted in every window, as torch's legacy implementation (the module's forward)."""
    _check_lrn("CrossMapLRN2d", input, size, 4, 4)
    if input.numel() == 0:
        return input
    half = (size - 1) // 2
    return LocalResponseNorm.apply(input, int(size), float(alpha), float(beta), float(k), half, half, True)


# ------------------------------------------------------------------ rms_norm

class RMSNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, D, eps):
        a = flat(contiguous_array(x._array))
        dev, dtype = x._device, x.dtype
        rows = a.size // D
        y, rstd = empty_array(a.shape, dtype, dev), empty_array((rows,), dtype, dev)
        if a.size:
            KR.rms_norm_fwd(a, _vector(weight, 1, D, dtype, dev), y, rstd, rows, D, float(eps))
        ctx.save_for_backward(x, weight)
        ctx.rms = (rstd, rows, D)
        return wrap(y.reshape(tuple(x.shape)), dev)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        rstd, rows, D = ctx.rms
        need_x, need_w = ctx.needs_input_grad[:2]
        dev, dtype = x._device, x.dtype
        a, ga = flat(contiguous_array(x._array)), flat(contiguous_array(g._array))
        gx = empty_array(a.shape, dtype, dev) if need_x else ga
        gw = empty_array((D,), dtype, dev) if a.size else _zeros(D, dtype, dev)
        if a.size:
            scratch = empty_array((KR.rms_norm_scratch_size(rows, D),), _dt.float64, CPU) \
                if dev.type == "cpu" else None
            KR.rms_norm_bwd(ga, a, _vector(weight, 1, D, dtype, dev), rstd, gx, gw, rows, D, scratch, need_x)
        return (wrap(gx.reshape(tuple(x.shape)), dev) if need_x else None,
                wrap(gw.reshape(tuple(weight.shape)), dev) if need_w else None, None, None)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the last dims) + eps) * weight, as torch.nn.functional.rms_norm;
    eps None is the machine epsilon of input's dtype."""
    check_tensor("rms_norm", "input", input)
    norm = (int(normalized_shape),) if isinstance(normalized_shape, numbers.Integral) else \
        tuple(int(s) for s in normalized_shape)
    shape = tuple(input.shape)
    if not norm or len(norm) > len(shape) or shape[len(shape) - len(norm):] != norm:
        raise RuntimeError(f"rms_norm: given normalized_shape={list(norm)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in norm)}], but got input of size {list(shape)}")
    check_floating_input("rms_norm", input)
    _check_affine("rms_norm", input, weight, None, norm, lambda t: (
        f"rms_norm: expected weight to be of same shape as normalized_shape, but got weight of shape "
        f"{list(t.shape)} and normalized_shape = {list(norm)}"))
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps)
    return RMSNorm.apply(input, weight, math.prod(norm), eps)


# ------------------------------------------------------------------ normalize

def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps), as torch.nn.functional.normalize (built on norm and div)."""
    from .reduction import norm
    from .unary import clamp_min
    check_tensor("normalize", "input", input)
    if out is not None:
        check_tensor("normalize", "out", out)
    result = input / clamp_min(norm(input, p, dim, keepdim=True), eps)
    if out is None:
        return result
    if tuple(out.shape) != tuple(result.shape) or out.dtype is not result.dtype:
        raise RuntimeError(f"normalize: out must have the result's shape {list(result.shape)} and dtype "
                           f"{result.dtype}, got {list(out.shape)} and {out.dtype}")
    from ..autograd import no_grad
    with no_grad():
        out.copy_(result)
    return out


__all__ = ["batch_norm", "group_norm", "instance_norm", "layer_norm", "local_response_norm", "normalize",
           "rms_norm"]

TENSOR_METHODS = []
