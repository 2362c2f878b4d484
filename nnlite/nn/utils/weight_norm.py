"""weight_norm / remove_weight_norm (torch.nn.utils.weight_norm, the forward pre-hook version).

`weight` is replaced by two parameters, `weight_g` (the norm) and `weight_v`
(the direction), and recomputed as v * g / ||v|| before every forward.
"""
import warnings

from ...autograd.grad_mode import no_grad
from ..parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm", "norm_except_dim", "weight_norm_fn"]


def norm_except_dim(v, pow=2, dim=0):
    """The p-norm of v over every dim but `dim`, kept broadcastable against v.

    dim == -1 means "no dim kept": the norm of the whole tensor, a 0-d tensor
    (torch gives -1 this meaning, so weight_norm(dim=None) passes -1).
    """
    from ...functional.reduction import norm
    if dim == -1:
        return norm(v, pow)
    if dim < 0:
        dim += v.ndim
    others = tuple(d for d in range(v.ndim) if d != dim)
    if not others:  # a 1-D v keeps its only dim: each element is its own norm
        from ...functional.unary import abs
        return abs(v)
    return norm(v, pow, dim=others, keepdim=True)


def weight_norm_fn(v, g, dim=0):
    """v * (g / ||v||) with the norm taken over every dim but `dim` (torch._weight_norm)."""
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that recomputes `name` from `name_g` and `name_v`."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        return weight_norm_fn(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"),
                              self.dim)

    @staticmethod
    def apply(module, name, dim):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        if name not in module._parameters or module._parameters[name] is None:
            raise ValueError(f"weight_norm: module {type(module).__name__} has no parameter named '{name}'")
        fn = WeightNorm(name, dim)
        weight = module._parameters[name]
        if fn.dim != -1 and not -weight.ndim <= fn.dim < weight.ndim:
            raise IndexError(f"weight_norm: Dimension out of range (expected to be in range of "
                             f"[{-weight.ndim}, {weight.ndim - 1}], but got {fn.dim})")
        del module._parameters[name]
        with no_grad():
            g = norm_except_dim(weight, 2, fn.dim)
        module.register_parameter(name + "_g", Parameter(g.detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        with no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Reparametrize module.<name> as g * v / ||v|| (norm over every dim but `dim`; None: whole tensor)."""
    warnings.warn("`nnlite.nn.utils.weight_norm` is deprecated in favor of "
                  "`nnlite.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=2)
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Undo weight_norm: `name` becomes one Parameter again, holding the current weight."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
