"""Tensor creation: tensor, as_tensor, from_numpy, zeros, ones, full, arange, rand, ..."""
import math
import numbers

import numpy as np

from ..backend import dtype as _dt
from ..backend import random as _random
from ..backend.cuda import is_available as _cuda_available, numba_cuda
from ..backend.device import CPU, device as as_device
from ..backend.lazy import kernels
from ..backend.memory import to_device
from ..tensor import Tensor
from ._util import empty_array, flat, wrap

K = kernels("creation")
R = kernels("random")


def _device_of(device):
    if device is None:
        return CPU
    dev = as_device(device)
    if dev.type == "cuda" and not _cuda_available():
        raise RuntimeError(f"nnlite: device '{dev}' requested but CUDA is not available "
                           "(no GPU found, or numba-cuda is not installed: pip install nnlite[cuda])")
    return dev


def _size_args(op, size):
    """Accept f(2, 3), f((2, 3)) and f([2, 3]) like torch."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = int(s.item())
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{op}(): argument 'size' must be a tuple of ints, but found element of "
                            f"type {type(s).__name__}")
        if s < 0:
            raise RuntimeError(f"{op}(): Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
    return tuple(out)


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad = True
    return t


def _infer_dtype(data):
    """torch.tensor's dtype inference for nested Python data."""
    kinds = set()

    def walk(x):
        if isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
        elif isinstance(x, Tensor):
            kinds.add(x.dtype)
        elif isinstance(x, (bool, np.bool_)):
            kinds.add(_dt.bool_)
        elif isinstance(x, numbers.Integral):
            kinds.add(_dt.int64)
        elif isinstance(x, numbers.Real):
            kinds.add(_dt.get_default_dtype())
        else:
            raise TypeError(f"Could not infer dtype of {type(x).__name__}")
    walk(data)
    if not kinds:
        return _dt.get_default_dtype()
    out = None
    for k in kinds:
        out = k if out is None else _dt.promote_types(out, k)
    return out


def _array_from_data(data, dtype, device, copy):
    """(array, device) for tensor()/as_tensor(): copies unless `copy` is False and it can share."""
    dev = _device_of(device) if device is not None else None
    if dtype is not None:
        dtype = _dt.as_dtype(dtype)
    if isinstance(data, Tensor):
        src_dev = data._device
        arr = data._array
        dev = dev or src_dev
        t = data.detach()
        if dtype is not None and dtype is not data.dtype:
            t = t.to(dtype)
        if dev != src_dev:
            t = t.to(dev)
        elif copy and t._array is arr:
            t = t.clone()
        return t._array, dev
    if hasattr(data, "__cuda_array_interface__") and not isinstance(data, np.ndarray):
        dev = dev or as_device("cuda")
        if dev.type == "cuda":
            darr = numba_cuda().as_cuda_array(data)
            t = wrap(darr, dev)
            if dtype is not None and _dt.from_numpy_dtype(darr.dtype) is not dtype:
                t = t.to(dtype)
            elif copy:
                t = t.clone()
            return t._array, dev
        data = numba_cuda().as_cuda_array(data).copy_to_host()
    dev = dev or CPU
    if isinstance(data, np.ndarray):
        arr = data
        if dtype is None:
            dtype = _dt.from_numpy_dtype(arr.dtype)
        if arr.dtype != dtype.np or not arr.dtype.isnative:
            arr = arr.astype(dtype.np)
        elif copy:
            arr = arr.copy()
    elif isinstance(data, (np.generic,)):
        arr = np.asarray(data, dtype=dtype.np if dtype else None)
        if dtype is None:
            dtype = _dt.from_numpy_dtype(arr.dtype)
            arr = arr.astype(dtype.np, copy=False)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in _flatten(data)):
            data = _tensors_to_lists(data)
        if dtype is None:
            dtype = _infer_dtype(data)
        try:
            arr = np.array(data, dtype=dtype.np)
        except ValueError as e:
            raise ValueError(f"tensor(): could not build a tensor from the given data: {e}") from None
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
        arr = arr.copy(order="C")
    if dev.type == "cuda":
        return to_device(arr, dev.index), dev
    return arr, dev


def _flatten(data):
    for v in data:
        if isinstance(v, (list, tuple)):
            yield from _flatten(v)
        else:
            yield v


def _tensors_to_lists(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_tensors_to_lists(v) for v in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor with a copy of `data` (nested lists, scalars, arrays, tensors)."""
    arr, dev = _array_from_data(data, dtype, device, copy=True)
    return _finish(wrap(arr, dev), requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like tensor() but shares memory when it can (numpy on CPU, CUDA arrays on CUDA)."""
    if isinstance(data, Tensor) and (dtype is None or _dt.as_dtype(dtype) is data.dtype) and (
            device is None or as_device(device) == data._device):
        return data
    arr, dev = _array_from_data(data, dtype, device, copy=False)
    return wrap(arr, dev)


def from_numpy(ndarray):
    """A CPU tensor sharing memory with a numpy array."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype not in _dt._FROM_NP:
        raise TypeError(f"can't convert np.ndarray of type {ndarray.dtype}. The only supported types "
                        "are: float64, float32, float16, int64, int32, uint8, and bool.")
    if not ndarray.dtype.isnative:
        raise ValueError("given numpy array has byte order different from the native byte order")
    return wrap(ndarray, CPU)


def _new(op, size, dtype, device):
    dtype = _dt.get_default_dtype() if dtype is None else _dt.as_dtype(dtype)
    dev = _device_of(device)
    return wrap(empty_array(_size_args(op, size), dtype, dev), dev), dtype


def _filled(op, size, value, dtype, device, requires_grad):
    t, dtype = _new(op, size, dtype, device)
    fill_(t, value)
    return _finish(t, requires_grad)


def fill_(t, value):
    """Fill a tensor's array in place (no autograd; used by creation and Tensor.fill_)."""
    if t._array.size:
        K.fill(flat(t._array), t.dtype.np.type(value))
    return t


def empty(*size, dtype=None, device=None, requires_grad=False, **_):
    t, _d = _new("empty", size, dtype, device)
    return _finish(t, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, **_):
    return _filled("zeros", size, 0, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, **_):
    return _filled("ones", size, 1, dtype, device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, **_):
    if dtype is None:
        dtype = _dt.scalar_dtype(fill_value)
    return _filled("full", (size,), fill_value, dtype, device, requires_grad)


def _like(x, dtype, device):
    return (x.dtype if dtype is None else dtype), (x._device if device is None else device)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return empty(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return zeros(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return ones(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return full(input.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("arange(): upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        dtype = _dt.int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) \
            else _dt.get_default_dtype()
    n = max(0, math.ceil((end - start) / step))
    t, _d = _new("arange", (n,), dtype, device)
    if n:
        K.arange(t._array, _scalar_for(t, start), _scalar_for(t, step))
    return _finish(t, requires_grad)


def _scalar_for(t, v):
    """A kernel scalar argument of the tensor's kind (float64 for floats, int64 for ints)."""
    return float(v) if t.dtype.is_floating_point else int(v)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    t, _d = _new("linspace", (steps,), dtype, device)
    if steps:
        K.linspace(t._array, float(start), float(end))
    return _finish(t, requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    m = n if m is None else m
    t, _d = _new("eye", (n, m), dtype, device)
    if t._array.size:
        K.eye(flat(t._array), m)
    return _finish(t, requires_grad)


# ------------------------------------------------------------------ random

def _gen(generator, dev):
    return generator if generator is not None else _random.default_generator(dev)


def uniform_(t, low=0.0, high=1.0, generator=None):
    if t._array.size:
        seed, offset = _gen(generator, t._device).take(t._array.size)
        R.uniform_fill(flat(t._array), seed, offset, float(low), float(high))
    return t


def normal_(t, mean=0.0, std=1.0, generator=None):
    if t._array.size:
        seed, offset = _gen(generator, t._device).take(2 * t._array.size)  # Box-Muller: 2 draws each
        R.normal_fill(flat(t._array), seed, offset, float(mean), float(std))
    return t


def _random_float(op, size, dtype, device):
    t, dtype = _new(op, size, dtype, device)
    if not dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating point dtype, got {dtype}")
    return t


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    return _finish(uniform_(_random_float("rand", size, dtype, device), generator=generator), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    return _finish(normal_(_random_float("randn", size, dtype, device), generator=generator), requires_grad)


def bernoulli(input, p=None, *, generator=None):
    """torch.bernoulli: 1 with probability `input` (elementwise), or with probability `p` (a
    float) in input's shape; the result has input's dtype."""
    if not isinstance(input, Tensor):
        raise TypeError(f"bernoulli(): argument 'input' must be Tensor, not {type(input).__name__}")
    if p is not None:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        probs = None
    else:
        if not input.dtype.is_floating_point:
            raise RuntimeError(f"bernoulli: expected a floating point tensor of probabilities, got {input.dtype}")
        probs = input.detach()
    float_dtype = input.dtype if input.dtype.is_floating_point else _dt.get_default_dtype()
    draws = uniform_(empty_like(input, dtype=float_dtype), generator=generator)
    hits = draws < (p if probs is None else probs)
    return hits.to(input.dtype)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    t, dtype = _new("randint", (size,), dtype if dtype is not None else _dt.int64, device)
    if t._array.size:
        seed, offset = _gen(generator, t._device).take(t._array.size)
        R.randint_fill(flat(t._array), seed, offset, int(low), int(high - low))
    return _finish(t, requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return rand(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return randn(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randint_like(input, low, high=None, *, dtype=None, device=None, **_):
    dtype, device = _like(input, dtype, device)
    return randint(low, high, input.shape, dtype=dtype, device=device)


def randperm(n, *, generator=None, dtype=None, device=None):
    """A random permutation of 0..n-1 (argsort of uniform keys)."""
    keys = rand(n, dtype=_dt.float64, generator=generator)
    perm = np.argsort(keys._array, kind="stable").astype((dtype and _dt.as_dtype(dtype).np) or np.int64)
    return tensor(perm, device=device)


__all__ = ["arange", "as_tensor", "bernoulli", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
           "linspace", "ones", "ones_like", "rand", "rand_like", "randint", "randint_like", "randn",
           "randn_like", "randperm", "tensor", "zeros", "zeros_like"]

TENSOR_METHODS = []
