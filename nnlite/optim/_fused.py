"""Shared pieces of the optimizers whose step is one fused kernel per parameter (nnlite.kernels.optim_extra):
torch's hyper-parameter checks, the accepted-but-unneeded flags, and 0-d scalar states."""
from ..backend.lazy import kernels
from ..functional.creation import full_like
from ..functional.creation import tensor as _tensor
from ..tensor import Tensor
from .optimizer import Optimizer

KX = kernels("optim_extra")


def check(ok, message):
    """Raise torch's ValueError `message` unless `ok`."""
    if not ok:
        raise ValueError(message)


def check_common(lr, eps=None, weight_decay=None):
    """The checks most torch optimizers share, in torch's order (lr, eps, weight_decay)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    check(0.0 <= float(lr), f"Invalid learning rate: {lr}")
    if eps is not None:
        check(0.0 <= eps, f"Invalid epsilon value: {eps}")
    if weight_decay is not None:
        check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")


def check_betas(betas):
    check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
    check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")


def scalar_state(value):
    """A 0-d CPU tensor of the default float dtype, as torch keeps step, mu_product, eta and mu."""
    return _tensor(float(value))


class FusedOptimizer(Optimizer):
    """step(): for every parameter with a gradient, `_update(p, grad_array, group, state)`.

    foreach, capturable and fused are accepted for torch compatibility: every
    nnlite step is already one fused kernel per parameter.
    """

    def __init__(self, params, defaults):
        if defaults.get("differentiable"):
            raise NotImplementedError(f"nnlite's {type(self).__name__} does not support differentiable=True")
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            for p, grad in self._params_with_grad(group):
                self._update(p, grad, group, self.state[p])
        return loss

    def _update(self, p, grad, group, state):
        raise NotImplementedError

    def _filled_buffer(self, param, name, value, state):
        """state[name] as a flat contiguous array, created filled with `value` like the parameter."""
        if name not in state:
            state[name] = full_like(param, float(value), dtype=param.dtype)
        return self._state_buffer(param, name, state)
