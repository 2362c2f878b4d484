"""RMSprop (torch.optim.RMSprop), with momentum, centering, L2 weight decay and maximize."""
from ._fused import KX, FusedOptimizer, check, check_common, scalar_state
from .optimizer import advance_step, updating


class RMSprop(FusedOptimizer):
    """square_avg = alpha * square_avg + (1 - alpha) * g^2; centered subtracts grad_avg^2 (grad_avg
    the running mean of g); p -= lr * g / (sqrt(...) + eps), through a momentum buffer if momentum > 0."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        check_common(lr, eps)
        check(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        check(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, p, grad, group, state):
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        if not state:  # torch's order: step, square_avg[, momentum_buffer][, grad_avg]
            state["step"] = scalar_state(0)
        square_avg = self._state_buffer(p, "square_avg", state)
        buf = self._state_buffer(p, "momentum_buffer", state) if momentum > 0 else None
        grad_avg = self._state_buffer(p, "grad_avg", state) if centered else None
        advance_step(state)
        scalars = (float(group["lr"]), float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]))
        maximize = bool(group["maximize"])
        with updating(p) as param:
            if buf is None and grad_avg is None:
                KX.rmsprop(grad, param, square_avg, *scalars, maximize)
            elif buf is None:
                KX.rmsprop_centered(grad, param, square_avg, grad_avg, *scalars, maximize)
            elif grad_avg is None:
                KX.rmsprop_momentum(grad, param, square_avg, buf, *scalars, momentum, maximize)
            else:
                KX.rmsprop_centered_momentum(grad, param, square_avg, grad_avg, buf, *scalars, momentum, maximize)
