"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (torch.optim.SGD)."""
from .optimizer import K, Optimizer, updating


class SGD(Optimizer):
    """p -= lr * d, where d is the gradient (negated if maximize) plus weight_decay * p, or its
    momentum buffer b = momentum * b + (1 - dampening) * d (b = d on the first step), or for
    Nesterov d + momentum * b."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if differentiable:
            raise NotImplementedError("nnlite optimizers do not support differentiable=True")
        # foreach/fused are accepted for torch compatibility: every nnlite step is one fused kernel
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, wd = float(group["lr"]), float(group["weight_decay"])
            momentum, maximize = float(group["momentum"]), bool(group["maximize"])
            for p, grad in self._params_with_grad(group):
                if momentum == 0:
                    with updating(p) as param:
                        K.sgd(grad, param, lr, wd, maximize)
                    continue
                state = self.state[p]
                first = state.get("momentum_buffer") is None
                buf = self._state_buffer(p, "momentum_buffer", state)
                with updating(p) as param:
                    K.sgd_momentum(grad, param, buf, lr, wd, momentum, float(group["dampening"]),
                                   bool(group["nesterov"]), maximize, first)
        return loss
