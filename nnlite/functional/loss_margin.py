"""Margin and embedding losses, as torch.nn.functional: multi_margin_loss,
multilabel_margin_loss (fused per-row kernel pairs, kernels/loss_margin.py),
hinge_embedding_loss, margin_ranking_loss, soft_margin_loss,
multilabel_soft_margin_loss, cosine_embedding_loss, triplet_margin_loss and
triplet_margin_with_distance_loss (compositions of differentiable ops, op for op
as ATen writes them, so gradients and edge cases follow torch's).

The two kernel losses return one loss per sample; the reduction after them is an
ordinary differentiable op, as in loss.py.
"""
from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.layout import broadcast_shapes
from ..backend.lazy import kernels
from ..backend.memory import to_host
from . import reduction as R
from . import shape as S
from . import unary as U
from ._arrays import contiguous_array
from ._util import check_same_device, check_tensor, empty_array, flat, wrap
from .activation import check_floating_input, type_name
from .binary import minimum, where
from .creation import zeros_like
from .distance import pairwise_distance
from .loss import _constant, _reduce, _reduction_mode, binary_cross_entropy_with_logits

K = kernels("loss_margin")

_COSINE_EPS = 1e-12     # ATen's EPSILON in cosine_embedding_loss, added to both squared norms


def _long_target(op, target):
    check_tensor(op, "target", target)
    if target.dtype is not _dt.int64:
        raise RuntimeError(f"{op}: expected scalar type Long but found {type_name(target.dtype)} for 'target'")


def _rows(op, input):
    """(N, C) of a 0-D, 1-D or 2-D input, as ATen's margin-loss shape checks."""
    shape = tuple(input.shape)
    if not (len(shape) == 0 or (len(shape) in (1, 2) and shape[-1] != 0)):
        raise RuntimeError(f"{op}: Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{list(shape)}")
    if len(shape) <= 1:
        return 1, (shape[0] if shape else 1)
    return shape


def _host_ints(t):
    return to_host(flat(contiguous_array(t._array)))


# ------------------------------------------------------------------ multi_margin_loss

class MultiMarginLoss(Function):
    """Per-sample multi-class hinge loss of (N, C) scores against class indices (N,)."""

    @staticmethod
    def forward(ctx, x, target, weight, p, margin):
        N, C = ctx.rows = _rows("multi_margin_loss", x)
        dev = x._device
        xa, ta = flat(contiguous_array(x._array)), flat(contiguous_array(target._array))
        wa = flat(contiguous_array(weight._array)) if weight is not None else xa
        loss = empty_array((N,), x.dtype, dev)
        if N:
            K.multi_margin_fwd(xa, ta, wa, loss, C, p, margin, weight is not None)
        ctx.save_for_backward(x, target, weight)
        ctx.p, ctx.margin = p, margin
        return wrap(loss, dev)

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        N, C = ctx.rows
        dev = g._device
        xa, ta = flat(contiguous_array(x._array)), flat(contiguous_array(target._array))
        wa = flat(contiguous_array(weight._array)) if weight is not None else xa
        gx = empty_array(tuple(x.shape), x.dtype, dev)
        if N:
            K.multi_margin_bwd(xa, ta, wa, flat(contiguous_array(g.to(x.dtype)._array)), 1, flat(gx), C, ctx.p,
                               ctx.margin, weight is not None)
        return wrap(gx, dev), None, None, None, None


def _check_multi_margin(op, input, target, weight, N, C):
    if target.ndim > 1 or target.numel() != N:
        raise RuntimeError(f"{op}: target tensor should be 1-D with size equal to the number of input samples "
                           f"(batch size). Expected target size [{N}], but got {list(target.shape)}. Input has "
                           f"shape {list(input.shape)}.")
    if weight is not None:
        check_tensor(op, "weight", weight)
        _constant(op, "weight", weight)
        if weight.ndim > 1 or weight.numel() != C:
            raise RuntimeError(f"{op}: inconsistent weight size, expected {C} but got {list(weight.shape)}")
    t = _host_ints(target)
    if t.size and (t.min() < 0 or t.max() >= C):
        raise RuntimeError(f"{op}: target out of range: every target must be in [0, {C}), got values in "
                           f"[{int(t.min())}, {int(t.max())}]")


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """Multi-class hinge loss: sum over d != y of w[y] * max(0, margin - x[y] + x[d])^p / C per sample."""
    op = "multi_margin_loss"
    reduction = _reduction_mode(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and getattr(weight, "ndim", 1) != 1:
        raise ValueError("weight must be one-dimensional")
    check_floating_input(op, input)
    _long_target(op, target)
    check_same_device(op, input, target, weight)
    N, C = _rows(op, input)
    _check_multi_margin(op, input, target, weight, N, C)
    if weight is not None:
        weight = weight.to(input.dtype)
    loss = MultiMarginLoss.apply(input, target, weight, int(p), float(margin))
    if reduction == "none" and target.ndim == 0:
        loss = S.reshape(loss, ())
    return _reduce(loss, reduction)


# ------------------------------------------------------------------ multilabel_margin_loss

class MultilabelMarginLoss(Function):
    """Per-sample multi-label hinge loss; targets are class indices padded with -1."""

    @staticmethod
    def forward(ctx, x, target):
        N, C = ctx.rows = _rows("multilabel_margin_loss", x)
        dev = x._device
        xa, ta = flat(contiguous_array(x._array)), flat(contiguous_array(target._array))
        loss = empty_array((N,), x.dtype, dev)
        is_target = empty_array((N * C,), _dt.uint8, dev)
        if N:
            K.multilabel_margin_fwd(xa, ta, is_target, loss, C)
        ctx.save_for_backward(x, target)
        ctx.is_target = is_target
        return wrap(loss, dev)

    @staticmethod
    def backward(ctx, g):
        x, target = ctx.saved_tensors
        N, C = ctx.rows
        dev = g._device
        xa, ta = flat(contiguous_array(x._array)), flat(contiguous_array(target._array))
        gx = empty_array(tuple(x.shape), x.dtype, dev)
        if N:
            K.multilabel_margin_bwd(xa, ta, ctx.is_target, flat(contiguous_array(g.to(x.dtype)._array)), 1,
                                    flat(gx), C)
        return wrap(gx, dev), None


def _check_multilabel_target(op, input, target, N, C):
    shape, tshape = tuple(input.shape), tuple(target.shape)
    ok = (target.ndim <= 1 and target.numel() == C) if input.ndim <= 1 else tshape == (N, C)
    if not ok:
        raise RuntimeError(f"{op}: inconsistent target size: {list(tshape)} for input of size: {list(shape)}")
    t = _host_ints(target)
    if t.size and (t.min() < -1 or t.max() >= C):
        raise RuntimeError(f"{op}: argument #2 'target' is out of range: class indices in [0, {C}) padded with "
                           f"-1 expected, got values in [{int(t.min())}, {int(t.max())}]")


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss: each target class's score should beat every non-target's by 1."""
    op = "multilabel_margin_loss"
    reduction = _reduction_mode(size_average, reduce, reduction)
    check_floating_input(op, input)
    _long_target(op, target)
    check_same_device(op, input, target)
    N, C = _rows(op, input)
    _check_multilabel_target(op, input, target, N, C)
    loss = MultilabelMarginLoss.apply(input, target)
    if reduction == "none" and (input.ndim <= 1):
        loss = S.reshape(loss, ())
    return _reduce(loss, reduction)


# ------------------------------------------------------------------ element-wise margin losses

def _check_inputs(op, *named):
    for name, t in named:
        check_tensor(op, name, t)
    check_same_device(op, *(t for _, t in named))


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """input where target is 1, max(0, margin - input) where target is -1 (ATen's where form)."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    _check_inputs("hinge_embedding_loss", ("input", input), ("target", target))
    check_floating_input("hinge_embedding_loss", input)
    zeros = zeros_like(input)
    margin_clamp = U.clamp_min(margin - input, 0)
    out_margin = where(target != 1, margin_clamp, zeros)
    out_self = where(target != -1, input, zeros)
    return _reduce(out_margin + out_self, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target * (input1 - input2) + margin)."""
    reduction = _reduction_mode(size_average, reduce, reduction)
    _check_inputs("margin_ranking_loss", ("input1", input1), ("input2", input2), ("target", target))
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {list(input1.shape)}, input2: {list(input2.shape)}, target: "
                           f"{list(target.shape)} ")
    return _reduce(U.clamp_min(-target * (input1 - input2) + margin, 0), reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), the two-class logistic loss."""
    op = "soft_margin_loss"
    reduction = _reduction_mode(size_average, reduce, reduction)
    _check_inputs(op, ("input", input), ("target", target))
    check_floating_input(op, input)
    _constant(op, "target", target)
    # ATen's form, log1p(exp(z)), not softplus: it overflows to inf where torch's does
    return _reduce(U.log1p(U.exp(-(input * target))), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """The mean over classes of the (weighted) logistic loss of each label, per sample."""
    op = "multilabel_soft_margin_loss"
    reduction = _reduction_mode(size_average, reduce, reduction)
    _check_inputs(op, ("input", input), ("target", target))
    check_floating_input(op, input)
    if input.ndim == 0:
        raise IndexError(f"{op}: expected an input with a class dimension, got a 0-D tensor")
    shape = broadcast_shapes(tuple(input.shape), tuple(target.shape))
    input, target = S.expand(input, shape), S.expand(target.to(input.dtype), shape)
    # -(t log sigmoid(x) + (1 - t) log sigmoid(-x)) is the logits form of binary cross entropy
    loss = binary_cross_entropy_with_logits(input, target, reduction="none")
    if weight is not None:
        check_tensor(op, "weight", weight)
        loss = loss * weight
    C = input.shape[-1]
    return _reduce(R.sum(loss, -1) / C, reduction)


# ------------------------------------------------------------------ embedding losses

def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1."""
    op = "cosine_embedding_loss"
    reduction = _reduction_mode(size_average, reduce, reduction)
    _check_inputs(op, ("input1", input1), ("input2", input2), ("target", target))
    if target.ndim not in (0, 1):
        raise RuntimeError(f"{op}: 0D or 1D target tensor expected, multi-target not supported, got a target of "
                           f"size {list(target.shape)}")
    if target.ndim == 1 and not (input1.ndim == 2 and input2.ndim == 2):
        raise RuntimeError(f"{op}: 1D target tensor expects 2D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    if target.ndim == 0 and not (input1.ndim == 1 and input2.ndim == 1):
        raise RuntimeError(f"{op}: 0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    dim = target.ndim
    prod_sum = R.sum(input1 * input2, dim)
    mag_square1 = R.sum(input1 * input1, dim) + _COSINE_EPS
    mag_square2 = R.sum(input2 * input2, dim) + _COSINE_EPS
    cos = prod_sum / U.sqrt(mag_square1 * mag_square2)
    zeros = zeros_like(cos)
    output = where(target == 1, 1 - cos, zeros) + where(target == -1, U.clamp_min(cos - margin, 0), zeros)
    return _reduce(output, reduction)


def _check_triplet(op, anchor, positive, negative, margin):
    _check_inputs(op, ("anchor", anchor), ("positive", positive), ("negative", negative))
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, p, n = anchor.ndim, positive.ndim, negative.ndim
    if not a == p == n:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a}D, positive {p}D, and negative {n}D inputs")


def _triplet(distance, anchor, positive, negative, margin, swap, reduction):
    dist_pos = distance(anchor, positive)
    dist_neg = distance(anchor, negative)
    if swap:  # the positive may be closer to the negative than the anchor is (Balntas et al.)
        dist_neg = minimum(dist_neg, distance(positive, negative))
    return _reduce(U.clamp_min(margin + dist_pos - dist_neg, 0), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) with d the p-norm pairwise distance."""
    op = "triplet_margin_loss"
    reduction = _reduction_mode(size_average, reduce, reduction)
    _check_triplet(op, anchor, positive, negative, margin)
    return _triplet(lambda x1, x2: pairwise_distance(x1, x2, p, eps), anchor, positive, negative, margin, swap,
                    reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    """triplet_margin_loss with any distance callable (pairwise_distance when None)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    _check_triplet("triplet_margin_with_distance_loss", anchor, positive, negative, margin)
    if distance_function is not None and not callable(distance_function):
        raise TypeError(f"triplet_margin_with_distance_loss: distance_function must be callable or None, got "
                        f"{type(distance_function).__name__}")
    return _triplet(distance_function or pairwise_distance, anchor, positive, negative, margin, swap, reduction)


__all__ = ["cosine_embedding_loss", "hinge_embedding_loss", "margin_ranking_loss", "multi_margin_loss",
           "multilabel_margin_loss", "multilabel_soft_margin_loss", "soft_margin_loss", "triplet_margin_loss",
           "triplet_margin_with_distance_loss"]

TENSOR_METHODS = []
