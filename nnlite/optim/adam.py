"""Adam (torch.optim.Adam), with amsgrad, maximize, and L2 or decoupled weight decay."""
from .optimizer import K, Optimizer, advance_step, step_counter, updating


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias corrections:

    m = lerp(m, g, 1 - beta1), v = beta2 * v + (1 - beta2) * g^2,
    p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),
    with v replaced by its running maximum for amsgrad. weight_decay adds
    wd * p to g (L2), or with decoupled_weight_decay (AdamW) scales p by
    1 - lr * wd first.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("nnlite optimizers do not support differentiable=True")
        # foreach/capturable/fused are accepted for torch compatibility (every step is one fused kernel)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            for p, grad in self._params_with_grad(group):
                self._update(p, grad, group)
        return loss

    def _update(self, p, grad, group):
        lr, wd, eps = float(group["lr"]), float(group["weight_decay"]), float(group["eps"])
        beta1, beta2 = (float(b) for b in group["betas"])
        state = self.state[p]
        if not state:  # torch's state order: step, exp_avg, exp_avg_sq[, max_exp_avg_sq]
            state["step"] = step_counter()
        exp_avg = self._state_buffer(p, "exp_avg", state)
        exp_avg_sq = self._state_buffer(p, "exp_avg_sq", state)
        max_exp_avg_sq = self._state_buffer(p, "max_exp_avg_sq", state) if group["amsgrad"] else None
        step = advance_step(state)
        # the step's scalars, computed in Python exactly as torch computes them
        decoupled = bool(group["decoupled_weight_decay"])
        param_scale = 1 - lr * wd if decoupled and wd != 0 else 1.0
        l2 = 0.0 if decoupled else wd
        step_size = lr / (1 - beta1 ** step)
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        scalars = (param_scale, l2, 1 - beta1, beta2, 1 - beta2, step_size, bias_correction2_sqrt, eps,
                   bool(group["maximize"]))
        with updating(p) as param:
            if max_exp_avg_sq is None:
                K.adam(grad, param, exp_avg, exp_avg_sq, *scalars)
            else:
                K.adam_amsgrad(grad, param, exp_avg, exp_avg_sq, max_exp_avg_sq, *scalars)
