"""Losses, as torch.nn.functional: cross_entropy (class indices or probabilities,
class weights, ignore_index, label smoothing), nll_loss, mse_loss, l1_loss,
smooth_l1_loss, huber_loss, binary_cross_entropy(_with_logits).

cross_entropy with class indices is log_softmax followed by the NLL kernel
(which also carries the label-smoothing term); with probabilities it is
composed of differentiable ops, as in ATen. Pointwise losses are one
Function, `PointwiseLoss`, whose kernels give the gradients for input and
target; weights and the reduction are ordinary differentiable ops after it.
"""
import math
import warnings

from ..autograd.function import Function
from ..autograd.grad_mode import state as _grad_state
from ..backend import dtype as _dt
from ..backend.layout import broadcast_shapes
from ..backend.lazy import kernels
from ..backend.memory import to_host
from . import binary as B
from . import reduction as R
from . import shape as S
from ._util import check_same_device, check_tensor, empty_array, flat, wrap
from .activation import check_floating_input, log_softmax, type_name
from .creation import full
from ._arrays import contiguous_array

K = kernels("loss")

_CLASS_TARGET_DTYPES = ("int64", "uint8")


# ------------------------------------------------------------------ shared checks

def _reduction_mode(size_average, reduce, reduction):
    """The reduction string, from the legacy size_average/reduce flags when given (as torch)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else ("sum" if reduce else "none")
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                      "instead.", stacklevel=3)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    return R.sum(loss) if reduction == "sum" else R.mean(loss)


def _constant(op, name, t):
    """ATen does not differentiate these losses with respect to weights."""
    if t is not None and t.requires_grad and _grad_state.enabled:
        raise RuntimeError(f"The function '{op}' is not differentiable with respect to argument '{name}'. "
                           "This input cannot have requires_grad True.")


def _first(array):
    """Element 0 of a (device) array, on the host."""
    return to_host(array[:1])[0]


# ------------------------------------------------------------------ nll / cross_entropy

class NllLoss(Function):
    """Negative log likelihood of class-index targets, with label smoothing s:
    -(1 - s) * w[t] * logp[t] - (s / C) * sum_c w[c] * logp[c] per sample."""

    @staticmethod
    def forward(ctx, logp, target, weight, ignore_index, reduction, smoothing):
        a = contiguous_array(logp._array)
        shape = tuple(a.shape)
        C = shape[0] if len(shape) == 1 else shape[1]
        inner = math.prod(shape[2:])
        dev, dtype = logp._device, logp.dtype
        t = flat(contiguous_array(target._array))
        loss, target_weight = empty_array((t.size,), dtype, dev), empty_array((t.size,), dtype, dev)
        if t.size:
            K.nll(flat(a), t, _class_weights(weight, C, dtype, dev), loss, target_weight, C, inner, ignore_index,
                  smoothing)
        if reduction == "mean":  # the weighted mean divides by the targets' total weight
            denom = R.sum_array(target_weight, (0,), dtype, dev).reshape(1)
        else:
            denom = full((1,), 1, dtype=dtype, device=dev)._array
        if reduction == "none":  # one loss per target; an unbatched input (C,) has one, 0-dim
            out = wrap(loss.reshape(tuple(target._array.shape) if len(shape) > 1 else ()), dev)
        else:
            out = wrap(R.sum_array(loss, (0,), dtype, dev), dev)
            if reduction == "mean":
                out = B.div(out, wrap(denom.reshape(()), dev))
        ctx.save_for_backward(target, weight)
        ctx.args = (shape, denom, C, inner, ignore_index, smoothing, reduction)
        return out

    @staticmethod
    def backward(ctx, g):
        target, weight = ctx.saved_tensors
        shape, denom, C, inner, ignore_index, smoothing, reduction = ctx.args
        dev = g._device
        gx = empty_array(shape, g.dtype, dev)
        t = flat(contiguous_array(target._array))
        if t.size:
            K.nll_bwd(t, _class_weights(weight, C, g.dtype, dev), flat(contiguous_array(g._array)),
                      1 if reduction == "none" else 0, denom, flat(gx), C, inner, ignore_index, smoothing)
        return wrap(gx, dev), None, None, None, None, None


def _class_weights(weight, C, dtype, device):
    if weight is None:
        return full((C,), 1, dtype=dtype, device=device)._array
    return flat(contiguous_array(weight._array))


def _check_class_target(op, input, target, weight, ignore_index):
    """torch's checks of nll_loss_nd, then of the targets' values."""
    if target.dtype.name not in _CLASS_TARGET_DTYPES:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {type_name(target.dtype)}")
    shape, tshape = tuple(input.shape), tuple(target.shape)
    if len(shape) >= 2 and shape[0] != (tshape[0] if tshape else 0):
        raise ValueError(f"Expected input batch_size ({shape[0]}) to match target batch_size "
                         f"({tshape[0] if tshape else 0}).")
    if len(shape) == 1 and (len(tshape) > 1 or math.prod(tshape) != 1):
        raise RuntimeError(f"{op}: expected a 0D or 1-element target for an unbatched input of size "
                           f"{list(shape)}, got a target of size {list(tshape)}")
    if len(shape) == 2 and len(tshape) != 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if len(shape) > 2 and tshape != shape[:1] + shape[2:]:
        if len(shape) == 4 and len(tshape) == 3:
            raise RuntimeError(f"size mismatch (got input: {list(shape)} , target: {list(tshape)}")
        raise RuntimeError(f"Expected target size {list(shape[:1] + shape[2:])}, got {list(tshape)}")
    C = shape[0] if len(shape) == 1 else shape[1]
    if weight is not None:
        check_tensor(op, "weight", weight)
        if weight.numel() != C:
            raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes but "
                               f"got weight tensor of shape: {list(weight.shape)}")
        if weight.dtype is not input.dtype:
            raise RuntimeError(f"expected scalar type {type_name(input.dtype)} but found "
                               f"{type_name(weight.dtype)}")
    check_same_device(op, input, target, weight)
    _check_target_values(target, C, int(ignore_index))


def _check_target_values(target, C, ignore_index):
    t = flat(contiguous_array(target._array))
    if not t.size:
        return
    first_bad = full((1,), t.size, dtype=_dt.int64, device=target._device)._array
    K.first_bad_target(t, C, ignore_index, first_bad)
    k = int(_first(first_bad))
    if k < t.size:
        raise IndexError(f"Target {int(_first(t[k:k + 1]))} is out of bounds.")


def _check_logits(op, input, target):
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    if input.ndim == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    check_floating_input(op, input)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log likelihood of class-index targets given log-probabilities (N, C, d1, ...)."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    _check_logits("nll_loss", input, target)
    _check_class_target("nll_loss", input, target, weight, ignore_index)
    return NllLoss.apply(input, target, weight, int(ignore_index), reduction, 0.0)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross entropy of logits (C), (N, C) or (N, C, d1, ...) against class indices or probabilities."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    _check_logits("cross_entropy", input, target)
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    if tuple(target.shape) == tuple(input.shape):
        if not target.dtype.is_floating_point:
            raise RuntimeError(f"Expected floating point type for target with class probabilities, got "
                               f"{type_name(target.dtype)}")
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing, class_dim)
    _check_class_target("cross_entropy", input, target, weight, ignore_index)
    return NllLoss.apply(log_softmax(input, class_dim), target, weight, int(ignore_index), reduction,
                         float(label_smoothing))


def _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing, class_dim):
    # ATen's cross_entropy_loss_prob_target, op for op
    C = input.shape[class_dim]
    check_same_device("cross_entropy", input, target, weight)
    if weight is not None and weight.numel() != C:
        raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes but got "
                           f"weight tensor of shape: {list(weight.shape)}")
    logp = log_softmax(input, class_dim)
    if label_smoothing > 0.0:
        target = target * (1 - label_smoothing) + label_smoothing / C
    terms = logp * target
    if weight is not None:
        terms = terms * S.reshape(weight, tuple(C if d == class_dim else 1 for d in range(input.ndim)))
    if reduction == "none":
        return -R.sum(terms, class_dim)
    total = -R.sum(terms)
    return total if reduction == "sum" else total / (input.numel() // C if C else 0)


# ------------------------------------------------------------------ pointwise losses

class PointwiseLoss(Function):
    """The element-wise loss of kernel `kernel` (loss.py) on same-shape x and t."""

    @staticmethod
    def forward(ctx, x, t, pos_weight, kernel, p):
        xa, ta = contiguous_array(x._array), contiguous_array(t._array)
        pw = contiguous_array(pos_weight._array) if pos_weight is not None else xa
        out = empty_array(xa.shape, x.dtype, x._device)
        if xa.size:
            getattr(K, kernel)(flat(xa), flat(ta), flat(pw), flat(out), p)
        ctx.save_for_backward(x, t, pos_weight)
        ctx.kernel, ctx.p = kernel, p
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        x, t, pos_weight = ctx.saved_tensors
        xa, ta = contiguous_array(x._array), contiguous_array(t._array)
        pw = contiguous_array(pos_weight._array) if pos_weight is not None else xa
        gx, gt = empty_array(xa.shape, x.dtype, x._device), empty_array(xa.shape, x.dtype, x._device)
        if xa.size:
            getattr(K, ctx.kernel + "_bwd")(flat(contiguous_array(g._array)), flat(xa), flat(ta), flat(pw),
                                            flat(gx), flat(gt), ctx.p)
        need_x, need_t = ctx.needs_input_grad[:2]
        return (wrap(gx, g._device) if need_x else None, wrap(gt, g._device) if need_t else None, None, None,
                None)


def _operands(op, input, target, broadcast):
    """input and target checked, cast to one floating dtype and (if allowed) broadcast to one shape."""
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    check_same_device(op, input, target)
    dtype = _dt.result_type(input, target)
    input, target = input.to(dtype), target.to(dtype)
    check_floating_input(op, input)
    if tuple(input.shape) != tuple(target.shape) and broadcast:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)
        shape = broadcast_shapes(tuple(input.shape), tuple(target.shape))
        input, target = S.expand(input, shape), S.expand(target, shape)
    return input, target


def _pointwise(op, kernel, input, target, reduction, p=0.0, weight=None, mean_over_weight=True):
    """Loss `kernel` element-wise, times `weight` (same size as input, as torch's
    mse/l1/huber weights), reduced; the weighted mean divides by sum(weight)
    (mse, l1) or by the number of elements (huber), as torch does."""
    input, target = _operands(op, input, target, broadcast=True)
    loss = PointwiseLoss.apply(input, target, None, kernel, input.dtype.np.type(p))
    if weight is None:
        return _reduce(loss, reduction)
    check_tensor(op, "weight", weight)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean" and mean_over_weight:
        return R.sum(loss) / R.sum(weight)
    return _reduce(loss, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input - target)^2, reduced; as torch.nn.functional.mse_loss."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    return _pointwise("mse_loss", "mse", input, target, reduction, weight=weight)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input - target|, reduced; as torch.nn.functional.l1_loss."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    return _pointwise("l1_loss", "l1", input, target, reduction, weight=weight)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Squared error below beta, absolute error (minus beta / 2) above; as torch."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return _pointwise("smooth_l1_loss", "l1", input, target, reduction)
    return _pointwise("smooth_l1_loss", "smooth_l1", input, target, reduction, beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Squared error below delta, delta-scaled absolute error above; as torch."""
    reduction = _reduction_mode(None, None, reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    return _pointwise("huber_loss", "huber", input, target, reduction, delta, weight, mean_over_weight=False)


def _weighted(op, loss, weight, reduction):
    if weight is not None:
        check_tensor(op, "weight", weight)
        _constant(op, "weight", weight)
        loss = loss * S.expand(weight, tuple(loss.shape))
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(t log x + (1 - t) log(1 - x)) with the logs clamped at -100, as torch."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    check_tensor("binary_cross_entropy", "input", input)
    check_tensor("binary_cross_entropy", "target", target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    check_floating_input("binary_cross_entropy", input)
    if target.dtype is not input.dtype:
        raise RuntimeError(f"Found dtype {type_name(target.dtype)} but expected {type_name(input.dtype)}")
    check_same_device("binary_cross_entropy", input, target, weight)
    for name, t in (("input", input), ("target", target)):
        if _outside_unit(t):
            raise RuntimeError(f"all elements of {name} should be between 0 and 1")
    loss = PointwiseLoss.apply(input, target, None, "bce", input.dtype.np.type(0))
    return _weighted("binary_cross_entropy", loss, weight, reduction)


def _outside_unit(t):
    a = flat(contiguous_array(t._array))
    if not a.size:
        return False
    flag = full((1,), 0, dtype=_dt.int64, device=t._device)._array
    K.outside_unit(a, flag)
    return bool(_first(flag))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """binary_cross_entropy of sigmoid(input), computed stably from the logits, as torch."""
    op = "binary_cross_entropy_with_logits"
    reduction = _reduction_mode(size_average, reduce, reduction)
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    target_dtype = target.dtype
    input, target = _operands(op, input, target, broadcast=False)
    if pos_weight is not None:
        check_tensor(op, "pos_weight", pos_weight)
        _constant(op, "pos_weight", pos_weight)
        check_same_device(op, input, pos_weight)
        pos_weight = S.expand(pos_weight.to(input.dtype), tuple(input.shape))
    flag = input.dtype.np.type(0 if pos_weight is None else 1)
    loss = _weighted(op, PointwiseLoss.apply(input, target, pos_weight, "bce_logits", flag), weight, reduction)
    # torch builds this loss in place in a buffer made from the target, so the result has the
    # target's dtype: float64 logits with float32 labels give a float32 loss
    return loss.to(target_dtype) if target_dtype.is_floating_point else loss


__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss", "l1_loss",
           "mse_loss", "nll_loss", "smooth_l1_loss"]

TENSOR_METHODS = []
