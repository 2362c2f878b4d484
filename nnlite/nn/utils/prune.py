"""nnlite.nn.utils.prune: torch.nn.utils.prune's pruning methods, with torch's names and state.

Pruning parameter `name` of a module moves it to the parameter `name + "_orig"`, adds
the buffer `name + "_mask"`, and makes `name` a plain attribute equal to mask * orig,
recomputed before every forward by the pruning method itself, which is registered as a
forward pre-hook. Pruning the same tensor again turns that hook into a PruningContainer
whose new mask is computed only on what is still unpruned and combined with the old one.
`remove` makes the pruning permanent: `name` becomes a parameter again, holding mask * orig.

Masks are computed on the host (a copy of the scores) and sent to the tensor's device:
pruning runs once per call, not per step, and the selection must pick the same entries
as torch's CPU topk, ties included (see _prune_select.py). The masked forward is an
ordinary differentiable multiply, so gradients reach `name + "_orig"` through the mask.
"""
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from ...autograd.grad_mode import no_grad
from ...functional.creation import from_numpy, ones_like, rand, rand_like
from ...functional.shape import cat
from ._prune_select import topk_indices

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured",
           "RandomStructured", "LnStructured", "CustomFromMask", "identity", "random_unstructured",
           "l1_unstructured", "random_structured", "ln_structured", "global_unstructured",
           "custom_from_mask", "remove", "is_pruned"]


# ---------------------------------------------------------------- host helpers
def _host_view(t):
    """t's values as a numpy array, whatever its device; read only (on the CPU it is t's memory)."""
    return t.detach().cpu().numpy()


def _host_copy(t):
    """A writable numpy copy of t's values, whatever its device."""
    return np.array(_host_view(t), copy=True)


def _to_device_of(array, ref):
    """A new host array as a tensor with ref's dtype and device (no copy when that is the CPU)."""
    return from_numpy(np.ascontiguousarray(array)).to(device=ref.device, dtype=ref.dtype)


def _pruning_hooks(module, name):
    """(hook id, method) of the pruning hooks acting on `name`."""
    return [(k, hook) for k, hook in module._forward_pre_hooks.items()
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name]


# ---------------------------------------------------------------- base class
class BasePruningMethod(ABC):
    """Abstract base of pruning methods: subclasses define compute_mask and PRUNING_TYPE."""

    _tensor_name: str = None     # set by apply()
    PRUNING_TYPE = None          # subclasses: "unstructured", "structured" (with a `dim`) or "global"

    def __call__(self, module, inputs):
        # forward pre-hook: refresh the pruned tensor from the (possibly trained) original
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        """The mask for tensor t, starting from default_mask (same shape as t)."""

    def apply_mask(self, module):
        """mask * orig for the tensor this method prunes in `module`."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        """Prune `module.name` with cls(*args, **kwargs), on top of any earlier pruning of it.

        On an error the module is left exactly as it was (torch drops an earlier hook then)."""
        old = _pruning_hooks(module, name)
        if len(old) > 1:
            raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} of module "
                                 f"{module}. Use a PruningContainer.")
        method = cls(*args, **kwargs)
        method._tensor_name = name
        orig = getattr(module, name)
        if importance_scores is not None:
            if importance_scores.shape != orig.shape:
                raise AssertionError(f"importance_scores should have the same shape as parameter {name} "
                                     f"of {module}, got {importance_scores.shape} vs {orig.shape}")
        else:
            importance_scores = orig
        if old:
            return _prune_again(module, name, *old[0], method, importance_scores)
        return _prune_first_time(module, name, method, importance_scores)

    def prune(self, t, default_mask=None, importance_scores=None):
        """t times the mask computed from importance_scores (t itself by default)."""
        if importance_scores is not None:
            if importance_scores.shape != t.shape:
                raise AssertionError("importance_scores should have the same shape as tensor t, "
                                     f"got {importance_scores.shape} vs {t.shape}")
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else ones_like(t)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module):
        """Make the pruning permanent: `name` becomes a parameter holding mask * orig."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        name = self._tensor_name
        weight = self.apply_mask(module)
        if hasattr(module, name):
            delattr(module, name)
        orig = module._parameters[name + "_orig"]
        orig.data = weight.data
        del module._parameters[name + "_orig"]
        del module._buffers[name + "_mask"]
        setattr(module, name, orig)


def _prune_first_time(module, name, method, scores):
    """Move parameter `name` to name_orig, add name_mask, and register `method` as the hook."""
    orig = getattr(module, name)
    module.register_parameter(name + "_orig", orig)
    del module._parameters[name]
    try:
        module.register_buffer(name + "_mask", method.compute_mask(scores, default_mask=ones_like(orig)))
        setattr(module, name, method.apply_mask(module))
    except Exception:
        module.__dict__.pop(name, None)
        module._buffers.pop(name + "_mask", None)
        module.register_parameter(name, module._parameters.pop(name + "_orig"))
        raise
    module.register_forward_pre_hook(method)
    return method


def _prune_again(module, name, old_id, old_method, method, scores):
    """Add `method` to the container of the hook already pruning `name` and recompute the mask."""
    if isinstance(old_method, PruningContainer):
        container = old_method
    else:
        container = PruningContainer(old_method)
    container.add_pruning_method(method)
    try:
        mask = container.compute_mask(scores, default_mask=getattr(module, name + "_mask").detach().clone())
    except Exception:
        if container is old_method:       # undo the addition: the old hook stays as it was
            container._pruning_methods = container._pruning_methods[:-1]
        raise
    module.register_buffer(name + "_mask", mask)
    setattr(module, name, container.apply_mask(module))
    del module._forward_pre_hooks[old_id]      # as torch: the container is registered anew, last
    module.register_forward_pre_hook(container)
    return container


# ---------------------------------------------------------------- container
class PruningContainer(BasePruningMethod):
    """A sequence of pruning methods on one tensor, for iterative pruning."""

    def __init__(self, *args):
        self._pruning_methods = tuple()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:      # several methods (or none): they must all act on the first one's tensor
            self._tensor_name = getattr(args[0], "_tensor_name", None) if args else None
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method):
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named "
                             f"'{self._tensor_name}' to PruningContainer {self}. Found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        """The newest method's mask, computed on the still-unpruned part of t, merged into default_mask."""
        method = self._pruning_methods[-1]
        slc = _unpruned_part(method, t, default_mask)
        new_mask = default_mask.to(dtype=t.dtype).clone()    # clone: never write into the caller's mask
        partial_mask = method.compute_mask(t[slc], default_mask=default_mask[slc])
        new_mask[slc] = partial_mask.to(dtype=new_mask.dtype)
        return new_mask


def _unpruned_part(method, t, mask):
    """The index of what `method` may still prune: live entries, live channels, or everything."""
    if method.PRUNING_TYPE == "unstructured":
        return mask == 1
    n_dims = t.dim()
    if method.PRUNING_TYPE == "structured":
        if not hasattr(method, "dim"):
            raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the attribute '
                                 "`dim` defined.")
        dim = method.dim + n_dims if method.dim < 0 else method.dim
        if dim < 0:
            raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
        # a channel whose mask is all zeros is already pruned; the method sees only the others
        keep_channel = mask.sum(dim=[d for d in range(n_dims) if d != dim]) != 0
        return tuple(keep_channel if d == dim else slice(None) for d in range(n_dims))
    if method.PRUNING_TYPE == "global":
        return tuple(slice(None) for _ in range(n_dims))
    raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")


# ---------------------------------------------------------------- methods
class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones (the reparametrisation alone)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prunes `amount` entries chosen at random (nnlite's generator)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _checked_count(self.amount, t.numel())
        if k == 0:
            return default_mask.clone()
        scores = _host_view(rand_like(t)).reshape(-1)
        return _zero_entries(default_mask, topk_indices(scores, k, largest=True))

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the `amount` entries of smallest absolute value."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _checked_count(self.amount, t.numel())
        if k == 0:
            return default_mask.clone()
        scores = np.abs(_host_view(t)).reshape(-1)
        return _zero_entries(default_mask, topk_indices(scores, k, largest=False))

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes `amount` whole channels along `dim`, chosen at random (nnlite's generator)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        nchannels = t.shape[self.dim]
        k = _checked_count(self.amount, nchannels)
        if k == 0:
            return default_mask
        prob = _host_view(rand(nchannels))
        threshold = np.partition(prob, k - 1)[k - 1]      # torch: kthvalue(prob, k)
        return _channel_mask(t, self.dim, np.flatnonzero(prob > threshold), default_mask)

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the `amount` channels along `dim` of smallest L`n` norm (over the other dims)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        nchannels = t.shape[self.dim]
        k = _checked_count(self.amount, nchannels)
        if k == 0:
            return default_mask
        norms = _channel_norms(_host_view(t), self.n, self.dim)
        keep = topk_indices(norms, nchannels - k, largest=True)
        return _channel_mask(t, self.dim, keep, default_mask)

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where a given mask is zero."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        if default_mask.shape != self.mask.shape:
            raise AssertionError(f"default_mask shape {default_mask.shape} must match self.mask shape "
                                 f"{self.mask.shape}")
        return default_mask * self.mask.to(dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


def _zero_entries(default_mask, flat_indices):
    """default_mask with the given flat entries set to zero."""
    mask = _host_copy(default_mask)
    mask.reshape(-1)[flat_indices] = 0
    return _to_device_of(mask, default_mask)


def _channel_mask(t, dim, kept_channels, default_mask):
    """default_mask (in t's dtype) with every channel along dim but the kept ones zeroed."""
    keep = np.zeros(t.shape[dim], dtype=_host_view(t).dtype)
    keep[kept_channels] = 1
    shape = [1] * t.dim()
    shape[dim] = -1
    # one pass, broadcasting keep along dim
    return _to_device_of(_host_view(default_mask.to(dtype=t.dtype)) * keep.reshape(shape), t)


def _channel_norms(values, n, dim):
    """The L_n norm of every channel along dim, over all the other dims (torch.norm's p), in float64."""
    other_dims = [d for d in range(values.ndim) if d != dim % values.ndim]
    if (n == "fro" and len(other_dims) > 2) or (n == "nuc" and len(other_dims) != 2):
        # torch.norm hands these to linalg.matrix_norm, which wants exactly two dims
        raise RuntimeError("linalg.matrix_norm: dim must be a 2-tuple. Got " + " ".join(map(str, other_dims)))
    channels = np.moveaxis(values, dim, 0)
    if n == "nuc":
        return np.linalg.norm(channels.astype(np.float64), ord="nuc", axis=(1, 2))
    p = 2 if n == "fro" else n
    if not isinstance(p, numbers.Real):
        raise RuntimeError(f"norm(): unsupported norm type {n!r}")
    size = np.abs(channels.reshape(channels.shape[0], -1), dtype=np.float64)    # one float64 copy
    if p == math.inf:
        return size.max(axis=1)
    if p == -math.inf:
        return size.min(axis=1)
    if p == 0:
        return np.count_nonzero(size, axis=1).astype(np.float64)
    if p == 1:
        return size.sum(axis=1)
    if p == 2:
        return np.sqrt(np.einsum("ij,ij->i", size, size))
    with np.errstate(divide="ignore"):
        return np.power(size, p, out=size).sum(axis=1) ** (1.0 / p)


# ---------------------------------------------------------------- functions
def identity(module, name):
    """Reparametrise `module.name` as name_orig * name_mask with an all-ones mask."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    """Prune `amount` random entries of `module.name` (float: a fraction, int: a count)."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    """Prune the `amount` entries of `module.name` with the smallest |importance score|."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    """Prune `amount` random channels of `module.name` along `dim`."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    """Prune the `amount` channels along `dim` with the smallest L_n norm of importance scores."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module, name, mask):
    """Prune `module.name` where `mask` is zero."""
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prune all (module, name) pairs together, as one flattened tensor, with an unstructured method."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)     # walked twice below; a generator would be spent
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    with no_grad():     # the scores only choose entries; nothing here is differentiated
        scores = _flat_cat([importance_scores.get((m, n), getattr(m, n)) for m, n in parameters])
        default_mask = _flat_cat([getattr(m, n + "_mask") if hasattr(m, n + "_mask") else ones_like(getattr(m, n))
                                  for m, n in parameters])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
                        f"{pruning_method} of type {method.PRUNING_TYPE}")
    container.add_pruning_method(method)
    final_mask = container.compute_mask(scores, default_mask)
    start = 0
    for module, name in parameters:
        param = getattr(module, name)
        custom_from_mask(module, name, mask=final_mask[start:start + param.numel()].view_as(param))
        start += param.numel()


def _flat_cat(tensors):
    return cat([t.reshape(-1) for t in tensors])


def remove(module, name):
    """Make the pruning of `module.name` permanent and drop name_orig, name_mask and the hook."""
    for k, hook in _pruning_hooks(module, name):
        hook.remove(module)
        del module._forward_pre_hooks[k]
        return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module):
    """True if any submodule of `module` has a pruning hook."""
    return any(isinstance(hook, BasePruningMethod)
               for _, sub in module.named_modules() for hook in sub._forward_pre_hooks.values())


# ---------------------------------------------------------------- validation (torch's messages)
def _validate_pruning_amount_init(amount):
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    is_int = isinstance(amount, numbers.Integral)
    if (is_int and amount < 0) or (not is_int and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _checked_count(amount, tensor_size):
    """How many units `amount` prunes out of tensor_size (round for a fraction), checked."""
    count = amount if isinstance(amount, numbers.Integral) else round(amount * tensor_size)
    if count > tensor_size:
        raise ValueError(f"amount={count} should be smaller than the number of parameters to "
                         f"prune={tensor_size}")
    return int(count)


def _validate_structured_pruning(t):
    shape = t.shape
    if len(shape) <= 1:
        raise ValueError("Structured pruning can only be applied to multidimensional tensors. Found tensor "
                         f"of shape {shape} with {len(shape)} dims")


def _validate_pruning_dim(t, dim):
    if dim >= t.dim():
        raise IndexError(f"Invalid index {dim} for tensor of size {t.shape}")
