"""Adagrad (torch.optim.Adagrad), with lr_decay, initial_accumulator_value, L2 weight decay and maximize."""
from ._fused import KX, FusedOptimizer, check, check_common, scalar_state
from .optimizer import advance_step, updating


class Adagrad(FusedOptimizer):
    """sum += g^2; p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps).

    As in torch, the state (step, sum) is created for every parameter when the
    optimizer is built, with sum filled by initial_accumulator_value.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_common(lr)
        check(0.0 <= lr_decay, f"Invalid lr_decay value: {lr_decay}")
        check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        check(0.0 <= initial_accumulator_value,
              f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        check_common(lr, eps)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state[p], group)

    def _init_state(self, p, state, group):
        state["step"] = scalar_state(0)
        self._filled_buffer(p, "sum", group["initial_accumulator_value"], state)

    def _update(self, p, grad, group, state):
        if not state:
            self._init_state(p, state, group)
        state_sum = self._state_buffer(p, "sum", state)
        step = advance_step(state)
        clr = float(group["lr"]) / (1 + (step - 1) * float(group["lr_decay"]))
        with updating(p) as param:
            KX.adagrad(grad, param, state_sum, clr, float(group["weight_decay"]), float(group["eps"]),
                       bool(group["maximize"]))
