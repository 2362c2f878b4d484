"""Adamax (torch.optim.Adamax): Adam with the infinity norm, L2 weight decay and maximize."""
from ._fused import KX, FusedOptimizer, check_betas, check_common, scalar_state
from .optimizer import advance_step, updating


class Adamax(FusedOptimizer):
    """exp_avg = lerp(exp_avg, g, 1 - beta1); exp_inf = max(beta2 * exp_inf, |g| + eps);
    p -= lr / (1 - beta1^t) * exp_avg / exp_inf."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_common(lr, eps)
        check_betas(betas)
        check_common(lr, weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        super().__init__(params, defaults)

    def _update(self, p, grad, group, state):
        if not state:  # torch's order: step, exp_avg, exp_inf
            state["step"] = scalar_state(0)
        exp_avg = self._state_buffer(p, "exp_avg", state)
        exp_inf = self._state_buffer(p, "exp_inf", state)
        step = advance_step(state)
        beta1, beta2 = (float(b) for b in group["betas"])
        clr = float(group["lr"]) / (1 - beta1 ** step)
        with updating(p) as param:
            KX.adamax(grad, param, exp_avg, exp_inf, clr, 1 - beta1, beta2, float(group["eps"]),
                      float(group["weight_decay"]), bool(group["maximize"]))
