"""Adadelta (torch.optim.Adadelta), with lr, L2 weight decay and maximize."""
from ._fused import KX, FusedOptimizer, check, check_common, scalar_state
from .optimizer import advance_step, updating


class Adadelta(FusedOptimizer):
    """square_avg = rho * square_avg + (1 - rho) g^2; delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g;
    acc_delta = rho * acc_delta + (1 - rho) delta^2; p -= lr * delta."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        check_common(lr)
        check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        check_common(lr, eps, weight_decay)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "capturable": capturable, "foreach": foreach, "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, p, grad, group, state):
        if not state:  # torch's order: step, square_avg, acc_delta
            state["step"] = scalar_state(0)
        square_avg = self._state_buffer(p, "square_avg", state)
        acc_delta = self._state_buffer(p, "acc_delta", state)
        advance_step(state)
        with updating(p) as param:
            KX.adadelta(grad, param, square_avg, acc_delta, float(group["lr"]), float(group["rho"]),
                        float(group["eps"]), float(group["weight_decay"]), bool(group["maximize"]))
