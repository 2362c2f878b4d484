"""NAdam (torch.optim.NAdam): Adam with Nesterov momentum and momentum decay, L2 or decoupled weight decay."""
from ._fused import KX, FusedOptimizer, check, check_betas, check_common, scalar_state
from .optimizer import advance_step, updating


class NAdam(FusedOptimizer):
    """mu_t = beta1 (1 - 0.96^(t momentum_decay) / 2), mu_product = prod mu_t (a float32 0-d state, as in
    torch, so its rounding is torch's); p -= lr (1 - mu_t) / (1 - mu_product) g / denom
    + lr mu_{t+1} / (1 - mu_product mu_{t+1}) exp_avg / denom, denom = sqrt(exp_avg_sq / bc2) + eps."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_common(lr, eps)
        check_betas(betas)
        check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        check(0.0 <= momentum_decay, f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, p, grad, group, state):
        if not state:  # torch's order: step, mu_product, exp_avg, exp_avg_sq
            state["step"] = scalar_state(0)
            state["mu_product"] = scalar_state(1)
        exp_avg = self._state_buffer(p, "exp_avg", state)
        exp_avg_sq = self._state_buffer(p, "exp_avg_sq", state)
        step = advance_step(state)
        lr, wd, decay = float(group["lr"]), float(group["weight_decay"]), float(group["momentum_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * decay)))
        mu_product = state["mu_product"]
        mu_product.mul_(mu)
        mu_product_value = mu_product.item()
        grad_coef = -lr * (1.0 - mu) / (1.0 - mu_product_value)
        avg_coef = (-lr * mu_next) / (1.0 - mu_product_value * mu_next)
        decoupled = bool(group["decoupled_weight_decay"]) and wd != 0
        param_scale, l2 = (1 - lr * wd, 0.0) if decoupled else (1.0, wd)
        with updating(p) as param:
            KX.nadam(grad, param, exp_avg, exp_avg_sq, param_scale, l2, 1 - beta1, beta2, 1 - beta2 ** step,
                     float(group["eps"]), grad_coef, avg_coef, bool(group["maximize"]))
