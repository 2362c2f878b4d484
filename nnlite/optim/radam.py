"""RAdam (torch.optim.RAdam): Adam with a rectified adaptive step, L2 or decoupled weight decay."""
from ._fused import KX, FusedOptimizer, check_betas, check_common, scalar_state
from .optimizer import advance_step, updating


class RAdam(FusedOptimizer):
    """While the variance estimate is unreliable (rho_t <= 5) the step is momentum SGD,
    p -= lr exp_avg / bc1; after it, Adam's step scaled by the rectification term r_t."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        check_common(lr, eps)
        check_betas(betas)
        check_common(lr, weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "decoupled_weight_decay": decoupled_weight_decay, "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, p, grad, group, state):
        if not state:  # torch's order: step, exp_avg, exp_avg_sq
            state["step"] = scalar_state(0)
        exp_avg = self._state_buffer(p, "exp_avg", state)
        exp_avg_sq = self._state_buffer(p, "exp_avg_sq", state)
        step = advance_step(state)
        lr, wd = float(group["lr"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        bias_correction1, bias_correction2 = 1 - beta1 ** step, 1 - beta2 ** step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        rectified = rho_t > 5.0
        rect = 1.0
        if rectified:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        decoupled = bool(group["decoupled_weight_decay"]) and wd != 0
        param_scale, l2 = (1 - lr * wd, 0.0) if decoupled else (1.0, wd)
        with updating(p) as param:
            KX.radam(grad, param, exp_avg, exp_avg_sq, param_scale, l2, 1 - beta1, beta2, lr, bias_correction1,
                     bias_correction2 ** 0.5, rect, float(group["eps"]), rectified, bool(group["maximize"]))
