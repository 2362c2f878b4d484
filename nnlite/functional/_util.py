"""Helpers of the functional layer: allocation, argument checks, broadcasting."""
import numpy as np

from ..backend import dtype as _dt
from ..backend.device import CPU
from ..backend.memory import device_empty, host_empty
from ..backend.layout import broadcast_plan, broadcast_shapes, contiguous_strides  # noqa: F401
from ..tensor import Tensor

wrap = Tensor._wrap


def empty_array(shape, dtype, device=CPU):
    """An uninitialised contiguous array for an op's output (through the caching allocator)."""
    if device.type == "cpu":
        return host_empty(tuple(shape), dtype.np)
    return device_empty(tuple(shape), dtype.np, device.index)


def empty_like_array(a, device, dtype=None):
    return empty_array(a.shape, _dt._FROM_NP[a.dtype] if dtype is None else dtype, device)


def new_tensor(shape, dtype, device):
    return wrap(empty_array(shape, dtype, device), device)


def flat(a):
    """A contiguous array viewed as 1-D (no copy)."""
    return a.reshape(-1) if len(a.shape) != 1 else a


def check_tensor(op, name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def check_same_device(op, *tensors):
    dev = None
    for t in tensors:
        if isinstance(t, Tensor):
            if dev is None:
                dev = t._device
            elif t._device != dev:
                raise RuntimeError(f"{op}: Expected all tensors to be on the same device, but found at "
                                   f"least two devices, {dev} and {t._device}!")
    return dev


def check_floating(op, name, x):
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}(): expected a floating point tensor for '{name}', got {x.dtype}")


def check_ndim(op, name, x, allowed):
    if x.ndim not in allowed:
        want = " or ".join(f"{n}D" for n in allowed)
        raise RuntimeError(f"{op}: Expected {want} (batched or unbatched) input to {op}, but got "
                           f"input of size: {list(x.shape)}" if name == "input" else
                           f"{op}: Expected {want} tensor for '{name}', but got size {list(x.shape)}")


def normalize_dim(op, dim, ndim):
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}(): dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return int(dim) % n


def normalize_dims(op, dims, ndim):
    """A sorted tuple of distinct non-negative dims (None means all)."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, (int, np.integer)):
        dims = (dims,)
    out = sorted(normalize_dim(op, d, ndim) for d in dims)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dim {out} appears multiple times in the list of dims")
    return tuple(out)


def as_tuple(x, n, name, op):
    if isinstance(x, (int, np.integer)):
        return (int(x),) * n
    x = tuple(int(v) for v in x)
    if len(x) == 1:
        return x * n
    if len(x) != n:
        raise ValueError(f"{op}: expected {name} to be a single integer or a tuple of {n} integers, "
                         f"got {x}")
    return x


