"""sigmoid_focal_loss, as torchvision.ops.focal_loss (RetinaNet, arXiv:1708.02002)."""
import nnlite
from ..autograd.function import Function
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array, empty_for
from ..functional._util import flat, wrap
from ..nn import functional as F
from ..tensor import Tensor
from ._loss_utils import check_reduction

K = kernels("focal_loss")


class SigmoidFocalLoss(Function):
    """The elementwise loss in one kernel pass, gradients for inputs and targets in one more."""

    @staticmethod
    def forward(ctx, inputs, targets, alpha, gamma):
        x, t = contiguous_array(inputs._array), contiguous_array(targets._array)
        out = empty_for(x, x.shape)
        if x.size:
            K.focal_fwd(flat(x), flat(t), flat(out), float(alpha), float(gamma))
        ctx.save_for_backward(inputs, targets)
        ctx.alpha, ctx.gamma = float(alpha), float(gamma)
        return wrap(out, inputs._device)

    @staticmethod
    def backward(ctx, g):
        inputs, targets = ctx.saved_tensors
        x, t = contiguous_array(inputs._array), contiguous_array(targets._array)
        g_flat = flat(contiguous_array(g._array))
        gx = empty_for(x, x.shape)
        if not ctx.needs_input_grad[1]:      # targets are usually labels: skip their gradient
            if x.size:
                K.focal_bwd_input(g_flat, flat(x), flat(t), flat(gx), ctx.alpha, ctx.gamma)
            return wrap(gx, g._device), None, None, None
        gt = empty_for(x, x.shape)
        if x.size:
            K.focal_bwd(g_flat, flat(x), flat(t), flat(gx), flat(gt), ctx.alpha, ctx.gamma)
        return wrap(gx, g._device), wrap(gt, g._device), None, None


def _fused_focal_applies(inputs, targets, gamma):
    """The fused kernels cover same-shape, same-dtype float inputs and gamma >= 0 (others
    take torchvision's composition, which broadcasts)."""
    return (inputs.shape == targets.shape and inputs.dtype == targets.dtype
            and inputs.dtype in (nnlite.float32, nnlite.float64)
            and inputs.device == targets.device and float(gamma) >= 0)


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """Binary cross-entropy on logits, down-weighted by (1 - p_t)^gamma on easy examples
    and weighted by alpha_t per class; alpha = -1 turns the weighting off."""
    for name, t in (("inputs", inputs), ("targets", targets)):
        if not isinstance(t, Tensor):
            raise TypeError(f"sigmoid_focal_loss(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if not (0 <= alpha <= 1) and alpha != -1:
        raise ValueError(f"sigmoid_focal_loss(): invalid alpha value {alpha}; alpha must be in "
                         "[0, 1] or -1 for no weighting")
    check_reduction("sigmoid_focal_loss", reduction)
    if _fused_focal_applies(inputs, targets, gamma):
        return _reduce(SigmoidFocalLoss.apply(inputs, targets, alpha, gamma), reduction)
    return _reduce(_composed_focal(inputs, targets, alpha, gamma), reduction)


def _composed_focal(inputs, targets, alpha, gamma):
    """torchvision's formula op by op (broadcasting shapes, mixed dtypes)."""
    p = inputs.sigmoid()
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
