"""scatter and gather: split inputs along a dimension across devices, and join outputs on one.

Both are differentiable (they are chunk/cat and .to(device), which autograd knows), so a
gradient of the gathered output flows back to the scattered input. They move tensors with
.to(device) only, so any list of devices works, "cpu" included; torch's versions need CUDA.
"""
import warnings

from ...backend.device import CPU, device as as_device
from ...tensor import Tensor

__all__ = ["gather", "scatter", "scatter_kwargs"]


def to_device(spec):
    """nnlite.device of a device id: an int is a CUDA ordinal (-1: the CPU, as torch's gather)."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        return CPU if spec == -1 else as_device("cuda", spec)
    return as_device(spec)


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(obj, "_asdict") and hasattr(obj, "_fields")


def _scatter_tensor(x, devices, dim):
    # chunk's sizes (ceil(n / k) each), so a short batch fills fewer devices, as in torch
    return [part.to(dev) for part, dev in zip(x.chunk(len(devices), dim), devices)]


def scatter(inputs, target_gpus, dim=0):
    """One entry per device: tensors are split along dim, containers split member-wise,
    anything else is passed to every device as is. Fewer entries come back when a tensor
    has fewer rows than there are devices."""
    devices = [to_device(d) for d in target_gpus]

    def split(obj):
        if isinstance(obj, Tensor):
            return _scatter_tensor(obj, devices, dim)
        if _is_namedtuple(obj):
            return [type(obj)(*members) for members in zip(*map(split, obj))]
        if isinstance(obj, tuple) and obj:
            return list(zip(*map(split, obj)))
        if isinstance(obj, list) and obj:
            return [list(members) for members in zip(*map(split, obj))]
        if isinstance(obj, dict) and obj:
            return [type(obj)(items) for items in zip(*map(split, obj.items()))]
        return [obj for _ in devices]

    return split(inputs)


def scatter_kwargs(inputs, kwargs, target_gpus, dim=0):
    """scatter for positional and keyword arguments; both come back as tuples of one length."""
    split_inputs = scatter(inputs, target_gpus, dim) if inputs else []
    split_kwargs = scatter(kwargs, target_gpus, dim) if kwargs else []
    count = max(len(split_inputs), len(split_kwargs))
    split_inputs = list(split_inputs) + [() for _ in range(count - len(split_inputs))]
    split_kwargs = list(split_kwargs) + [{} for _ in range(count - len(split_kwargs))]
    return tuple(split_inputs), tuple(split_kwargs)


def _gather_tensors(tensors, target, dim):
    from ...functional.shape import cat
    if dim == 0 and all(t.dim() == 0 for t in tensors):
        warnings.warn("Was asked to gather along dimension 0, but all input tensors were scalars; "
                      "will instead unsqueeze and return a vector.", stacklevel=3)
        tensors = [t.view(1) for t in tensors]
    return cat([t.to(target) for t in tensors], dim)


def gather(outputs, target_device, dim=0):
    """Join the per-device outputs on target_device: tensors concatenated along dim,
    containers member-wise (dicts by key), None stays None."""
    target = to_device(target_device)

    def join(parts):
        first = parts[0]
        if isinstance(first, Tensor):
            return _gather_tensors(parts, target, dim)
        if first is None:
            return None
        if isinstance(first, dict):
            if not all(len(first) == len(d) for d in parts):
                raise ValueError("All dicts must have the same number of keys")
            return type(first)((k, join([d[k] for d in parts])) for k in first)
        if _is_namedtuple(first):
            return type(first)._make(map(join, zip(*parts, strict=True)))
        return type(first)(map(join, zip(*parts, strict=True)))

    return join(outputs)
