"""Likelihood losses, as torch.nn.functional: kl_div, poisson_nll_loss, gaussian_nll_loss.

kl_div is one Function on a fused kernel pair (kernels/loss_likelihood.py): its
reduced forward sums the loss in one pass without materialising it, and its
backward needs no logarithm for the input gradient. The other two are short
compositions of differentiable ops, written op for op as ATen / torch's Python
does, so their values, gradients and NaN/inf behaviour follow torch's.
"""
import math
import numbers
import warnings

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.layout import broadcast_shapes
from ..backend.lazy import kernels
from . import reduction as R
from . import shape as S
from . import unary as U
from ._arrays import contiguous_array
from ._util import check_same_device, check_tensor, empty_array, flat, wrap
from .activation import check_floating_input
from .binary import where
from .creation import ones_like, zeros_like
from .loss import _reduce, _reduction_mode

K = kernels("loss_likelihood")

_KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")


def _floating_pair(op, input, target):
    """input and target checked, promoted to one floating dtype and broadcast to one shape."""
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    check_same_device(op, input, target)
    dtype = _dt.result_type(input, target)
    input, target = input.to(dtype), target.to(dtype)
    check_floating_input(op, input)
    shape = broadcast_shapes(tuple(input.shape), tuple(target.shape))
    if tuple(input.shape) != shape:
        input = S.expand(input, shape)
    if tuple(target.shape) != shape:
        target = S.expand(target, shape)
    return input, target


# ------------------------------------------------------------------ kl_div

class KlDiv(Function):
    """The KL divergence loss of log-probabilities x against t (or log t), reduced by
    `count`: the element-wise loss when count is None, else its sum divided by count."""

    @staticmethod
    def forward(ctx, x, t, count, log_target):
        xa, ta = flat(contiguous_array(x._array)), flat(contiguous_array(t._array))
        dev, dtype = x._device, x.dtype
        ctx.save_for_backward(x, t)
        ctx.count, ctx.log_target = count, log_target
        if count is None:
            out = empty_array(tuple(x.shape), dtype, dev)
            if xa.size:
                K.kl_div_fwd(xa, ta, flat(out), log_target)
            return wrap(out, dev)
        partial = empty_array((K.partial_count(xa.size, dev.type == "cuda"),), dtype, dev)
        if partial.size:
            K.kl_div_sum(xa, ta, partial, log_target)
        total = wrap(R.sum_array(partial, (0,), dtype, dev), dev)
        return total if count == 1 else total * (1.0 / count if count else math.nan)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        xa, ta = flat(contiguous_array(x._array)), flat(contiguous_array(t._array))
        dev, dtype = g._device, x.dtype
        if ctx.count is None:
            ga, g_step = flat(contiguous_array(g.to(dtype)._array)), 1
        else:  # one value for every element: the output gradient over the reduction's count
            scale = 1.0 / ctx.count if ctx.count else math.nan
            ga, g_step = flat(contiguous_array((g.to(dtype) * scale)._array)), 0
        need_target = bool(ctx.needs_input_grad[1])
        gx = empty_array(tuple(x.shape), dtype, dev)
        gt = empty_array(tuple(x.shape), dtype, dev) if need_target else gx
        if xa.size:
            K.kl_div_bwd(xa, ta, ga, g_step, flat(gx), flat(gt), need_target, ctx.log_target)
        return wrap(gx, dev), (wrap(gt, dev) if need_target else None), None, None


def _kl_reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        return _reduction_mode(size_average, reduce, "mean")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=3)
    if reduction not in _KL_REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) element-wise, reduced; 'batchmean' divides the sum by input.size(0)."""
    reduction = _kl_reduction(size_average, reduce, reduction)
    check_tensor("kl_div", "input", input)
    batch = input.shape[0] if input.ndim else 1      # of the input as given, before broadcasting
    input, target = _floating_pair("kl_div", input, target)
    count = {"none": None, "sum": 1, "mean": input.numel(), "batchmean": batch}[reduction]
    return KlDiv.apply(input, target, count, bool(log_target))


# ------------------------------------------------------------------ poisson_nll_loss

def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """Negative log likelihood of target ~ Poisson(exp(input)) (log_input) or Poisson(input);
    `full` adds the Stirling approximation of log(target!) where target > 1."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    input, target = _floating_pair("poisson_nll_loss", input, target)
    if log_input:
        loss = U.exp(input) - target * input
    else:
        loss = input - target * U.log(input + eps)
    if full:
        stirling = target * U.log(target) - target + U.log(target * (2 * math.pi)) * 0.5
        loss = loss + where(target > 1, stirling, zeros_like(stirling))
    return _reduce(loss, reduction)


# ------------------------------------------------------------------ gaussian_nll_loss

def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log likelihood of target ~ N(input, var); var may have one dimension
    fewer than input, or one dimension of size 1 (homoscedastic), or be a float."""
    op = "gaussian_nll_loss"
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    if isinstance(var, numbers.Real) and not isinstance(var, bool):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = ones_like(input) * float(var)
    else:
        check_tensor(op, "var", var)
        check_same_device(op, input, target, var)
        if bool(R.any(var < 0).item()):
            raise ValueError("var has negative entry/entries")
    var = _homoscedastic_var(input, var)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    # torch clamps a clone in place under no_grad: the value is clamped, the gradient
    # passes as though it were not
    floor = U.clamp(var.detach(), min=eps)
    var = var + (floor - var.detach())
    loss = (U.log(var) + (input - target) ** 2 / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def _homoscedastic_var(input, var):
    """var reshaped to broadcast against input, by torch's rules (else ValueError)."""
    shape, vshape = tuple(input.shape), tuple(var.shape)
    if vshape == shape:
        return var
    if shape[:-1] == vshape:
        return S.unsqueeze(var, -1)
    if len(shape) == len(vshape) and sum(v for s, v in zip(shape, vshape) if s != v) == 1:
        return var
    raise ValueError("var is of incorrect size")


__all__ = ["gaussian_nll_loss", "kl_div", "poisson_nll_loss"]

TENSOR_METHODS = []
