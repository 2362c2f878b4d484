"""AdamW (torch.optim.AdamW): Adam with decoupled weight decay, 1e-2 by default."""
from .adam import Adam


class AdamW(Adam):
    """Adam whose weight decay scales the parameter by 1 - lr * weight_decay before the step
    (Loshchilov & Hutter) instead of adding an L2 term to the gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
