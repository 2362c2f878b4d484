"""Array-level helpers of the functional layer: contiguity, copies, casts and
strided views that work the same on numpy arrays and Numba device arrays.

Ops use these instead of numpy calls so that host code never computes on
device arrays: every element that moves goes through a kernel
(`kernels/copy.py`).
"""
import numpy as np

from ..backend.layout import contiguous_strides
from ..backend.lazy import kernels
from ..backend.memory import device_empty, device_index_of, device_view, host_empty, host_view
from ._util import empty_array

KC = kernels("copy")


def is_contiguous_array(a):
    if type(a) is np.ndarray:
        return a.flags.c_contiguous
    return a.is_c_contiguous()


def contiguous_array(a):
    """`a` itself when it is C-contiguous (and writeable), else a contiguous copy."""
    if is_contiguous_array(a):
        return a
    out = empty_for(a, a.shape)
    KC.strided_copy(a, out)
    return out


def empty_for(a, shape, np_dtype=None):
    """A new contiguous array on array a's device (dtype of a unless given)."""
    np_dtype = a.dtype if np_dtype is None else np.dtype(np_dtype)
    if type(a) is np.ndarray:
        return host_empty(tuple(shape), np_dtype)
    return device_empty(tuple(shape), np_dtype, device_index_of(a))


def copy_array_into(src, dst):
    """dst[...] = src (broadcasting src, casting its dtype)."""
    KC.strided_copy(src, dst)


def cast_array(a, np_dtype):
    out = empty_for(a, a.shape, np_dtype)
    KC.strided_copy(a, out)
    return out


def strided_view(a, shape, strides, offset=0):
    """A view of array a with element strides (no copy), on either device."""
    item = a.dtype.itemsize
    byte_strides = tuple(s * item for s in strides)
    if type(a) is np.ndarray:
        return host_view(a, shape, byte_strides, offset * item)
    return device_view(a, shape, byte_strides, offset * item)


def array_strides(a):
    item = a.dtype.itemsize
    return tuple(s // item for s in a.strides)


def expand_array(a, shape, device):
    """A contiguous copy of array a broadcast to `shape`."""
    out = empty_array(shape, _dtype_of(a), device)
    KC.strided_copy(a, out)
    return out


def _dtype_of(a):
    from ..backend.dtype import from_numpy_dtype
    return from_numpy_dtype(a.dtype)


def _view_strides(old_shape, old_strides, new_shape):
    """Strides for viewing (old_shape, old_strides) as new_shape, or None (PyTorch's computeStride)."""
    if not old_shape:
        return tuple(1 for _ in new_shape)
    numel = int(np.prod(old_shape, dtype=np.int64))
    if numel == 0:
        return contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = old_strides[-1]
    tensor_numel = 1
    view_numel = 1
    for d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[d]
        if d == 0 or (old_shape[d - 1] != 1 and old_strides[d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base_stride = old_strides[d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def infer_shape(op, shape, numel):
    shape = list(shape)
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}: invalid shape dimension {s}")
            known *= s
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape[neg[0]] = numel // known
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


def shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def reshape_array(a, shape):
    """View array a as `shape` when strides allow, else None."""
    if tuple(a.shape) == tuple(shape):
        return a
    if type(a) is np.ndarray and a.flags.c_contiguous:
        return a.reshape(shape)
    strides = _view_strides(tuple(a.shape), array_strides(a), tuple(shape))
    if strides is None:
        return None
    return strided_view(a, shape, strides)
