"""Rprop (torch.optim.Rprop): resilient backpropagation, per-element step sizes driven by gradient signs."""
from ._fused import KX, FusedOptimizer, check_common, scalar_state
from .optimizer import advance_step, updating


class Rprop(FusedOptimizer):
    """Each element's step size grows by etaplus while its gradient keeps its sign and shrinks by
    etaminus when it flips (that step is then skipped), clamped to step_sizes; p -= sign(g) * step_size."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
                 foreach=None, maximize=False, differentiable=False):
        check_common(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes), "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _update(self, p, grad, group, state):
        if not state:  # torch's order: step, prev, step_size (which starts at lr)
            state["step"] = scalar_state(0)
        prev = self._state_buffer(p, "prev", state)
        step_size = self._filled_buffer(p, "step_size", group["lr"], state)
        advance_step(state)
        etaminus, etaplus = (float(e) for e in group["etas"])
        step_size_min, step_size_max = (float(s) for s in group["step_sizes"])
        with updating(p) as param:
            KX.rprop(grad, param, prev, step_size, etaminus, etaplus, step_size_min, step_size_max,
                     bool(group["maximize"]))
