"""ASGD (torch.optim.ASGD): averaged SGD with a decaying step size eta and an averaging weight mu."""
from ._fused import KX, FusedOptimizer, check_common, scalar_state
from .optimizer import advance_step, updating


class ASGD(FusedOptimizer):
    """p = p (1 - lambd eta) - eta g; ax += (p - ax) mu (ax = p while mu is 1); then
    eta = lr / (1 + lambd lr t)^alpha and mu = 1 / max(1, t - t0). eta and mu are float32 0-d
    states, as in torch, so the next step sees them rounded as torch does."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        check_common(lr, weight_decay=weight_decay)
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        super().__init__(params, defaults)

    def _update(self, p, grad, group, state):
        if not state:  # torch's order: step, eta, mu, ax
            state["step"] = scalar_state(0)
            state["eta"] = scalar_state(group["lr"])
            state["mu"] = scalar_state(1)
        ax = self._state_buffer(p, "ax", state)
        step = advance_step(state)
        lr, lambd = float(group["lr"]), float(group["lambd"])
        with updating(p) as param:
            KX.asgd(grad, param, ax, state["eta"].item(), state["mu"].item(), lambd,
                    float(group["weight_decay"]), bool(group["maximize"]))
        state["eta"].fill_(lr / ((1 + lambd * lr * step) ** float(group["alpha"])))
        state["mu"].fill_(1 / max(1, step - float(group["t0"])))
