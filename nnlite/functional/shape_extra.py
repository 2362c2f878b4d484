"""Shape ops that model files call: tril/triu, roll, meshgrid, and torch._assert.

All are compositions of existing differentiable ops (masked_fill, narrow + cat,
reshape + expand), so they need no kernels of their own and their gradients
come from those ops.
"""
import numpy as np

from . import shape as S
from ._util import check_tensor, normalize_dim
from .creation import tensor as _tensor
from .indexing import masked_fill


def _triangle(op, x, diagonal, keep_lower):
    check_tensor(op, "input", x)
    if x.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got {x.ndim}")
    rows, cols = x.shape[-2], x.shape[-1]
    # the (rows, cols) mask of entries to zero; masked_fill broadcasts it over leading dims
    # np.tri(k) is True where j - i <= k
    if keep_lower:
        zero = ~np.tri(rows, cols, int(diagonal), dtype=np.bool_)
    else:
        zero = np.tri(rows, cols, int(diagonal) - 1, dtype=np.bool_)
    return masked_fill(x, _tensor(zero, device=x.device), 0)


def tril(input, diagonal=0):
    """The lower triangle (j - i <= diagonal) of the last two dims, the rest zero, as torch.tril."""
    return _triangle("tril", input, diagonal, True)


def triu(input, diagonal=0):
    """The upper triangle (j - i >= diagonal) of the last two dims, the rest zero, as torch.triu."""
    return _triangle("triu", input, diagonal, False)


def _as_tuple(v):
    return tuple(int(i) for i in v) if isinstance(v, (tuple, list)) else (int(v),)


def roll(input, shifts, dims=None):
    """Elements shifted cyclically along dims; without dims over the flattened tensor, as torch.roll."""
    check_tensor("roll", "input", input)
    shifts = _as_tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        return S.reshape(roll(S.flatten(input), shifts, 0), *input.shape)
    dims = _as_tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    out = input
    for shift, dim in zip(shifts, dims):
        d = normalize_dim("roll", dim, input.ndim)
        n = input.shape[d] if input.ndim else 1
        s = shift % n if n else 0
        if s:  # the last s entries move to the front
            out = S.cat([S.narrow(out, d, n - s, s), S.narrow(out, d, 0, n - s)], d)
    return out if out is not input else S.clone(input)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids (expanded views) of 0-D/1-D tensors; indexing "ij" (default) or "xy"."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    if not tensors:
        raise RuntimeError("torch.meshgrid: Expected at least one tensor")
    for t in tensors:
        check_tensor("meshgrid", "tensors", t)
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t.ndim}D")
        if t.dtype is not tensors[0].dtype or t.device != tensors[0].device:
            raise RuntimeError("torch.meshgrid: Expected all tensors in the tensor list to have the same dtype "
                               "and device")
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:  # the first two inputs vary along columns and rows
        axes[0], axes[1] = 1, 0
    shape = [0] * len(tensors)
    for t, a in zip(tensors, axes):
        shape[a] = t.numel()
    grids = []
    for t, a in zip(tensors, axes):
        view = [1] * len(tensors)
        view[a] = t.numel()
        grids.append(S.expand(S.reshape(t, *view), *shape))
    return tuple(grids)


def _assert(condition, message):
    """torch._assert: raises AssertionError(message) when condition is false."""
    if not bool(condition):
        raise AssertionError(message)


__all__ = ["tril", "triu", "roll", "meshgrid", "_assert"]

TENSOR_METHODS = ["tril", "triu", "roll"]
