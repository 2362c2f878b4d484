"""Sorting: sort, argsort, msort, topk, kthvalue and unique, with torch's signatures.

Every sort is stable (torch's stable=True order, whatever `stable` says):
equal values keep their input order, also in descending sorts, and NaN sorts
as the largest value. The sorted dim is moved last and made contiguous, so the
kernels (kernels/sorting.py) sort contiguous rows; results move back to the
input's dim order. sort/topk/kthvalue values carry gradients: the backward
scatters the output gradient to the selected indices (the public scatter, so
it is differentiable again). Indices, argsort and unique have no gradient.
"""
import collections

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..backend.memory import to_host
from ._arrays import contiguous_array
from ._reduce_layout import argsort as _argsort_seq, permuted
from ._util import check_tensor, empty_array, flat, normalize_dim, wrap
from .reduction import _cumsum_array, return_types

KS = kernels("sorting")
SELECT_MIN_ROWS_CUDA = 256   # rows that a thread-per-row topk needs to beat the CUDA sort

return_types.sort = collections.namedtuple("sort", ["values", "indices"], module="nnlite.return_types")
return_types.topk = collections.namedtuple("topk", ["values", "indices"], module="nnlite.return_types")
return_types.kthvalue = collections.namedtuple("kthvalue", ["values", "indices"], module="nnlite.return_types")


# ------------------------------------------------------------------ sorting rows

def _key_array(a):
    """The array the kernels compare: bool as uint8 (Numba compares bools as ints anyway)."""
    return a.view(np.uint8) if a.dtype == np.bool_ else a


def _rows_view(a, dim):
    """(x, rows, L, order): array a with dim moved last, as a flat contiguous array of rows."""
    order = tuple(d for d in range(len(a.shape)) if d != dim) + (dim,)
    x = flat(contiguous_array(permuted(a, order)))
    L = a.shape[dim]
    return x, (x.size // L if L else 0), L, order


def _sorted_rows(a, dim, descending, device):
    """(values, indices, order): array a sorted along dim, as (rows, L) arrays whose rows are
    a's lines along dim, with a's other dims (in `order`) in front."""
    x, rows, L, order = _rows_view(a, dim)
    dtype = _dt.from_numpy_dtype(a.dtype)
    values = empty_array((rows, L), dtype, device)
    indices = empty_array((rows, L), _dt.int64, device)
    if x.size:
        # CUDA's merge passes need only an index scratch; the CPU's also a value scratch.
        scratch_values = empty_array((x.size if device.type == "cpu" else 1,), dtype, device)
        scratch_indices = empty_array((x.size,), _dt.int64, device)
        KS.sort_rows(_key_array(x), flat(_key_array(values)), flat(indices), flat(_key_array(scratch_values)),
                     scratch_indices, rows, L, bool(descending))
    return values, indices, order


def _restore(rows_array, a_shape, order, lo, hi):
    """Columns lo:hi of a (rows, L) result, in the input's dim order (dim keeps hi - lo)."""
    part = contiguous_array(_columns(rows_array, lo, hi))
    shape = tuple(a_shape[d] for d in order[:-1]) + (hi - lo,)
    return contiguous_array(permuted(part.reshape(shape), _argsort_seq(order)))


def _columns(rows_array, lo, hi):
    if (lo, hi) == (0, rows_array.shape[1]):
        return rows_array
    from .indexing import basic_view_array
    return basic_view_array(rows_array, (slice(None), slice(lo, hi)))


def _heap_pays(rows, L, k, device):
    """topk by a bounded heap per row (O(L log k)) rather than a full sort: when k is small
    against L; on CUDA (a thread per row) only when there are rows enough to fill the GPU."""
    return 0 < k and 4 * k <= L and (device.type == "cpu" or rows >= SELECT_MIN_ROWS_CUDA)


def _first_k_rows(a, dim, descending, k, device):
    """(values, indices, order) of the first k of each row in the sort order, as (rows, k) arrays."""
    x, rows, L, order = _rows_view(a, dim)
    values = empty_array((rows, k), _dt.from_numpy_dtype(a.dtype), device)
    indices = empty_array((rows, k), _dt.int64, device)
    KS.select_rows(_key_array(x), flat(_key_array(values)), flat(indices), rows, L, k, bool(descending))
    return values, indices, order


def _selection(x, dim, descending, lo, hi):
    """(values, indices) arrays: positions lo:hi of x sorted along dim (x at least 1-d)."""
    a = x._array
    L = a.shape[dim]
    if lo == 0 and _heap_pays(a.size // L if L else 0, L, hi, x._device):
        values, indices, order = _first_k_rows(a, dim, descending, hi, x._device)
    else:
        values, indices, order = _sorted_rows(a, dim, descending, x._device)
    return _restore(values, a.shape, order, lo, hi), _restore(indices, a.shape, order, lo, hi)


class Select(Function):
    """Sorted values lo:hi along dim and their indices; the gradient goes back to those indices."""

    @staticmethod
    def forward(ctx, x, dim, descending, lo, hi):
        scalar = x.ndim == 0
        if scalar:
            x = wrap(x._array.reshape(1), x._device)
        values, indices = _selection(x, dim, descending, lo, hi)
        if scalar:
            values, indices = values.reshape(()), indices.reshape(())
        values, indices = wrap(values, x._device), wrap(indices, x._device)
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        ctx.args = (tuple(x.shape) if not scalar else (), dim)
        return values, indices

    @staticmethod
    def backward(ctx, g, _g_indices):
        (indices,) = ctx.saved_tensors
        shape, dim = ctx.args
        if not shape:
            return g, None, None, None, None
        from .creation import zeros
        from .indexing import scatter
        gx = scatter(zeros(shape, dtype=g.dtype, device=g.device), dim, indices, g)
        return gx, None, None, None, None


def _check_args(op, input, dim):
    check_tensor(op, "input", input)
    return normalize_dim(op, dim, input.ndim)


def _size_along(x, dim):
    return x.shape[dim] if x.ndim else 1


def sort(input, dim=-1, descending=False, *, stable=False):
    """(values, indices) of input sorted along dim. Always stable (torch's stable=True order):
    equal values keep their input order, ascending or descending; NaN sorts as the largest value."""
    d = _check_args("sort", input, dim)
    n = _size_along(input, d)
    return return_types.sort(*Select.apply(input, d, bool(descending), 0, n))


def argsort(input, dim=-1, descending=False, *, stable=False):
    """The indices that sort input along dim; always stable (see sort)."""
    d = _check_args("argsort", input, dim)
    a = input._array.reshape(1) if input.ndim == 0 else input._array
    values, indices, order = _sorted_rows(a, d, descending, input._device)
    out = _restore(indices, a.shape, order, 0, a.shape[d])
    return wrap(out.reshape(()) if input.ndim == 0 else out, input._device)


def msort(input):
    """input sorted along its first dim (the values of sort(input, dim=0)); stable."""
    check_tensor("msort", "input", input)
    return sort(input, dim=0).values


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The k largest (smallest) values along dim and their indices, in sorted order (also when
    sorted=False). Equal values: the lowest index first. NaN counts as the largest value."""
    d = _check_args("topk", input, dim)
    if input.dtype is _dt.bool_:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
    if not 0 <= k <= _size_along(input, d):
        raise RuntimeError("selected index k out of range")
    return return_types.topk(*Select.apply(input, d, bool(largest), 0, int(k)))


def kthvalue(input, k, dim=-1, keepdim=False):
    """The k-th smallest value (1-based) along dim and its index. With equal values the
    index is the stable order's (torch leaves it unspecified)."""
    d = _check_args("kthvalue", input, dim)
    if input.dtype is _dt.bool_:
        raise NotImplementedError("\"kthvalue_cpu\" not implemented for 'Bool'")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"kthvalue(): argument 'k' must be int, not {type(k).__name__}")
    if not 1 <= k <= _size_along(input, d):
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    values, indices = Select.apply(input, d, False, int(k) - 1, int(k))
    if not keepdim and input.ndim:
        from .shape import squeeze
        values, indices = squeeze(values, d), squeeze(indices, d)
    return return_types.kthvalue(values, indices)


# ------------------------------------------------------------------ unique

def _runs(a, n, dtype, device):
    """(distinct values, inverse (flat), first sorted position of each value) of the n elements of a."""
    if n == 0:
        return empty_array((0,), dtype, device), empty_array((0,), _dt.int64, device), \
            empty_array((0,), _dt.int64, device)
    sorted_values, order, _ = _sorted_rows(flat(contiguous_array(a)).reshape((1, n)), 1, False, device)
    sorted_values, order = flat(sorted_values), flat(order)
    starts = empty_array((n,), _dt.int64, device)
    KS.run_starts(_key_array(sorted_values), starts)
    group = _cumsum_array(starts, (0,), _dt.int64, device, False)  # 1-based run numbers
    n_unique = int(to_host(group[n - 1:])[0])
    uniques = empty_array((n_unique,), dtype, device)
    inverse = empty_array((n,), _dt.int64, device)
    first = empty_array((n_unique,), _dt.int64, device)
    KS.run_results(_key_array(sorted_values), order, group, _key_array(uniques), inverse, first)
    return uniques, inverse, first


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values of the flattened input in ascending order (also when sorted=False, as
    torch's CPU does), with the inverse (each element's place, in input's shape) and the counts
    on request. NaNs are all distinct, as in torch. dim= is not supported yet."""
    check_tensor("unique", "input", input)
    if dim is not None:
        raise NotImplementedError("unique(): dim= is not supported yet (only dim=None, the flattened input)")
    device = input._device
    a = input._array
    n = int(np.prod(a.shape, dtype=np.int64))
    uniques, inverse, first = _runs(a, n, input.dtype, device)
    n_unique = uniques.shape[0]
    out = [wrap(uniques, device)]
    if return_inverse:
        out.append(wrap(inverse.reshape(tuple(a.shape)), device))
    if return_counts:
        counts = empty_array((n_unique,), _dt.int64, device)
        if n_unique:
            KS.run_lengths(first, n, counts)
        out.append(wrap(counts, device))
    return out[0] if len(out) == 1 else tuple(out)


__all__ = ["argsort", "kthvalue", "msort", "sort", "topk", "unique"]

TENSOR_METHODS = list(__all__)
