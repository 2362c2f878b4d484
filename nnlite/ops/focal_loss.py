"""sigmoid_focal_loss, as torchvision.ops.focal_loss (RetinaNet, arXiv:1708.02002)."""
from ..nn import functional as F
from ..tensor import Tensor
from ._loss_utils import check_reduction


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
    p = inputs.sigmoid()
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
