"""Reductions: sum, mean, prod, amax/amin, max/min, argmax/argmin, var/std,
logsumexp, norm, all/any and cumsum, with torch's semantics and gradients.

Each op runs its kernels on the canonical (outer, R, inner) layout that
`_reduce_layout.Layout` finds; backward kernels write gradients in that
layout and `Layout.restore` views them in the input's shape. `sum` instead
reduces each run of adjacent dims in turn, which never copies.
"""
import collections
import math
import types

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..tensor import Tensor
from ._reduce_layout import (Layout, extreme_value, fill_array, float_input, in_dim_order, keepdim_shape,
                             memory_order, numel_of, permuted, reduce_dims, runs, scratch_array, single_dim,
                             wide_dtype)
from ._util import check_tensor, empty_array, flat, wrap
from ._arrays import cast_array, contiguous_array, is_contiguous_array
from .shape import expand, reshape

builtin_max = max  # the public max below shadows it

KR = kernels("reduction")
KF = kernels("reduction_float")    # norm, var, logsumexp, tie counts
KS = kernels("cumsum")
KU = kernels("unary")

return_types = types.ModuleType("nnlite.return_types", "Named tuples returned by reductions, as torch.return_types.")
return_types.max = collections.namedtuple("max", ["values", "indices"], module="nnlite.return_types")
return_types.min = collections.namedtuple("min", ["values", "indices"], module="nnlite.return_types")


def _partials(outer, R, inner, np_dtype, device, cpu_n=None):
    """Scratch of the accumulating kernels: the CPU's (accumulate_scratch_size, or
    cpu_n) or the partial results of rows that CUDA splits across blocks."""
    if device.type != "cpu":
        return scratch_array(1, np_dtype, device, KR.cuda_partials_size(outer, R, inner))
    return scratch_array(KR.accumulate_scratch_size(outer, R, inner) if cpu_n is None else cpu_n, np_dtype, device)


def _threads(work):
    """Numba's thread count (for the max/min kernels, which cannot ask for it and stay
    cacheable); 1 for small work, which those kernels run serially anyway."""
    if work <= KR.SERIAL_WORK:
        return 1
    from numba import get_num_threads  # numba loads with the first kernel, not with nnlite
    return get_num_threads()


# ------------------------------------------------------------------ sum, mean

def sum_array(a, dims, dtype, device):
    """The sum of array `a` over sorted `dims`, as a contiguous array without those dims."""
    if np.dtype(a.dtype) != dtype.np or not dims:
        a = cast_array(a, dtype.np)  # a copy, so that the result never aliases the input
    accumulate = np.float64 if dtype.is_floating_point else np.int64
    if dims and dims[-1] - dims[0] + 1 == len(dims) and is_contiguous_array(a):  # one pass, the common case
        lay = Layout(a, dims)
        out = lay.empty(dtype, device)
        if out.size:
            scratch = _partials(lay.outer, lay.R, lay.inner, accumulate, device)
            KR.sum_(lay.array, out, lay.outer, lay.R, lay.inner, scratch, accumulate(0))
        return lay.result(out, False)
    order = memory_order(a)
    a = contiguous_array(permuted(a, order))
    shape = list(a.shape)
    for first, last in reversed(runs(sorted(order.index(d) for d in dims))):
        outer, R, inner = numel_of(shape[:first]), numel_of(shape[first:last + 1]), numel_of(shape[last + 1:])
        out = empty_array(shape[:first] + shape[last + 1:], dtype, device)
        scratch = _partials(outer, R, inner, accumulate, device)
        if out.size:
            KR.sum_(flat(a), flat(out), outer, R, inner, scratch, accumulate(0))
        a = out
        shape = shape[:first] + shape[last + 1:]
    return in_dim_order(a, [d for d in order if d not in dims])


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype, scale):
        out = sum_array(x._array, dims, dtype, x._device)
        shape = keepdim_shape(x._array.shape, dims) if keepdim else tuple(out.shape)
        y = wrap(out.reshape(shape) if tuple(out.shape) != shape else out, x._device)
        if scale != 1:  # mean: one extra pass over the (small) output
            from .binary import K as KB, binary_forward
            y = binary_forward(KB.mul, y, scale, dtype, x._device)
        ctx.args = (x._array.shape, dims, x.dtype, scale)
        return y

    @staticmethod
    def backward(ctx, g):
        in_shape, dims, in_dtype, scale = ctx.args
        g = reshape(g, keepdim_shape(in_shape, dims))
        if scale != 1:
            g = g * scale
        if g.dtype is not in_dtype:
            g = g.to(in_dtype)
        return expand(g, in_shape), None, None, None, None


def _sum_dtype(x, dtype):
    if dtype is not None:
        return _dt.as_dtype(dtype)
    return x.dtype if x.dtype.is_floating_point else _dt.int64


def sum(input, dim=None, keepdim=False, *, dtype=None):
    check_tensor("sum", "input", input)
    dims = reduce_dims("sum", dim, input.ndim)
    return Sum.apply(input, dims, keepdim, _sum_dtype(input, dtype), 1)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    check_tensor("mean", "input", input)
    dtype = _dt.as_dtype(dtype) if dtype is not None else input.dtype
    if not dtype.is_floating_point:
        which = "Input" if dtype is input.dtype else "Optional"
        raise RuntimeError(f"mean(): could not infer output dtype. {which} dtype must be either a floating "
                           f"point or complex dtype. Got: {dtype}")
    dims = reduce_dims("mean", dim, input.ndim)
    count = numel_of(input._array.shape[d] for d in dims)
    scale = 1.0 / count if count else float("nan")
    return Sum.apply(input, dims, keepdim, dtype, scale)


def sum_to_size(g, *size):
    """Sum g over the dims that were broadcast to reach its shape from `size`."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    gshape = g._array.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise RuntimeError(f"size {list(shape)} is not expandable to size {list(gshape)}")
    dims = list(range(lead))
    for i, (n, m) in enumerate(zip(shape, gshape[lead:])):
        if n == 1 and m != 1:
            dims.append(lead + i)
        elif n != m:
            raise RuntimeError(f"size {list(shape)} is not expandable to size {list(gshape)}")
    out = sum(g, tuple(dims), keepdim=True) if dims else g
    return reshape(out, shape) if out._array.shape != shape else out


# ------------------------------------------------------------------ prod

class Prod(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        lay = Layout(x._array, dims)
        out = lay.empty(x.dtype, x._device)
        one = (np.float64 if x.dtype.is_floating_point else np.int64)(1)
        scratch = _partials(lay.outer, lay.R, lay.inner, one.dtype, x._device)
        if out.size:
            KR.prod(lay.array, out, lay.outer, lay.R, lay.inner, scratch, one)
        ctx.save_for_backward(x)
        ctx.lay, ctx.keepdim = lay, keepdim
        return wrap(lay.result(out, keepdim), x._device)

    @staticmethod
    def backward(ctx, g):
        ctx.saved_tensors  # noqa: B018  (raises if x was modified in place)
        lay = ctx.lay
        gx = lay.empty(g.dtype, g._device, full=True)
        scratch = scratch_array(lay.n_out if lay.inner > 1 else 1, np.float64, g._device)
        if gx.size:
            KR.prod_bwd(lay.array, lay.canonical(g._array), gx, lay.outer, lay.R, lay.inner, scratch, 1.0)
        return wrap(lay.restore(gx), g._device), None, None


def prod(input, dim=None, keepdim=False, *, dtype=None):
    check_tensor("prod", "input", input)
    dims = tuple(range(input.ndim)) if dim is None else single_dim("prod", dim, input.ndim)
    x = input.to(_sum_dtype(input, dtype))
    return Prod.apply(x, dims, keepdim and dim is not None)


# ------------------------------------------------------------------ amax, amin, max, min

def _extreme_array(lay, largest, device):
    a = lay.array
    out = lay.empty(_dt.from_numpy_dtype(a.dtype), device)
    workers = _threads(a.size)
    # CUDA compares in the wide type that warps can shuffle (the kernel converts the identity to it).
    scratch = _partials(lay.outer, lay.R, lay.inner, a.dtype if device.type == "cpu" else wide_dtype(a.dtype),
                        device, KR.fold_scratch_size(lay.outer, lay.R, lay.inner, workers))
    if out.size:
        KR.extreme(a, out, lay.outer, lay.R, lay.inner, scratch, extreme_value(np.dtype(a.dtype), largest),
                   workers, largest)
    return out


class Extreme(Function):
    """amax/amin, and max()/min() without a dim: ties share the gradient evenly."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, largest):
        lay = Layout(x._array, dims)
        y = wrap(lay.result(_extreme_array(lay, largest, x._device), keepdim), x._device)
        ctx.save_for_backward(x, y)
        ctx.lay = lay
        return y

    @staticmethod
    def backward(ctx, g):
        _, y = ctx.saved_tensors
        lay = ctx.lay
        m = lay.canonical(y._array)
        share = lay.empty(g.dtype, g._device)
        gx = lay.empty(g.dtype, g._device, full=True)
        if gx.size:
            scratch = _partials(lay.outer, lay.R, lay.inner, np.float64, g._device)
            KF.tie_share(lay.array, m, lay.canonical(g._array), share, lay.outer, lay.R, lay.inner, scratch)
            KR.spread(lay.array, m, share, gx, lay.outer, lay.R, lay.inner, KR.SHARE)
        return wrap(lay.restore(gx), g._device), None, None, None


def _extreme(op, input, dim, keepdim, largest):
    check_tensor(op, "input", input)
    dims = reduce_dims(op, dim, input.ndim)
    _check_nonempty(op, input, dims, dim is None or (isinstance(dim, (tuple, list)) and not dim))
    if input.dtype is _dt.bool_:
        return _extreme(op, input.to(_dt.uint8), dim, keepdim, largest).to(_dt.bool_)
    return Extreme.apply(input, dims, keepdim, largest)


def _check_nonempty(op, x, dims, whole):
    if x.numel() == 0 and whole:
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                           "Specify the reduction dim with the 'dim' argument.")
    for d in dims:
        if x._array.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def amax(input, dim=(), keepdim=False):
    return _extreme("amax", input, dim, keepdim, True)


def amin(input, dim=(), keepdim=False):
    return _extreme("amin", input, dim, keepdim, False)


def _arg_arrays(x, dims, largest):
    """(layout, values, int64 indices) of the first extreme of x over dims."""
    if x.dtype is _dt.bool_:
        x = x.to(_dt.uint8)
    lay = Layout(x._array, dims)
    values = lay.empty(x.dtype, x._device)
    indices = lay.empty(_dt.int64, x._device)
    n = KR.arg_scratch_size(lay.outer, lay.R, lay.inner)
    value_dtype = x.dtype.np if x._device.type == "cpu" else wide_dtype(x.dtype.np)  # as in _extreme_array
    part_values = _partials(lay.outer, lay.R, lay.inner, value_dtype, x._device, n)
    part_indices = _partials(lay.outer, lay.R, lay.inner, np.int64, x._device, n)
    if values.size:
        KR.arg(lay.array, values, indices, lay.outer, lay.R, lay.inner, part_values, part_indices, largest)
    return lay, values, indices


class ExtremeWithIndex(Function):
    """max/min over one dim: (values, indices); the gradient goes to the selected index."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, largest):
        lay, values, indices = _arg_arrays(x, dims, largest)
        ctx.lay, ctx.indices = lay, indices
        values = wrap(lay.result(values, keepdim), x._device)
        if x.dtype is _dt.bool_:
            values = values.to(_dt.bool_)
        indices_t = wrap(lay.result(indices, keepdim), x._device)
        ctx.mark_non_differentiable(indices_t)
        return values, indices_t

    @staticmethod
    def backward(ctx, g, _g_indices):
        lay = ctx.lay
        gx = lay.empty(g.dtype, g._device, full=True)
        if gx.size:
            KR.index_bwd(ctx.indices, lay.canonical(g._array), gx, lay.outer, lay.R, lay.inner)
        return wrap(lay.restore(gx), g._device), None, None, None


def _max_min(op, largest, input, dim, keepdim, other):
    check_tensor(op, "input", input)
    if isinstance(dim, Tensor) or other is not None:
        from .binary import maximum, minimum
        return (maximum if largest else minimum)(input, dim if other is None else other)
    if dim is None:
        return _extreme(op, input, None, False, largest)
    if not isinstance(keepdim, (bool, np.bool_)):
        raise TypeError(f"{op}(): argument 'keepdim' must be bool, not {type(keepdim).__name__}")
    dims = single_dim(op, dim, input.ndim)
    _check_nonempty(op, input, dims, False)
    values, indices = ExtremeWithIndex.apply(input, dims, keepdim, largest)
    return getattr(return_types, op)(values, indices)


def max(input, dim=None, keepdim=False, *, other=None):
    """max(x) -> 0-d value; max(x, dim, keepdim) -> (values, indices); max(x, other) -> maximum."""
    return _max_min("max", True, input, dim, keepdim, other)


def min(input, dim=None, keepdim=False, *, other=None):
    return _max_min("min", False, input, dim, keepdim, other)


def _argextreme(op, largest, input, dim, keepdim):
    check_tensor(op, "input", input)
    if input.dtype is _dt.bool_:
        raise RuntimeError(f"{op}(): does not support bool input")
    if dim is None:
        if input.numel() == 0:
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        dims = tuple(range(input.ndim))
    else:
        dims = single_dim(op, dim, input.ndim)
        _check_nonempty(op, input, dims, False)
    lay, _, indices = _arg_arrays(input, dims, largest)
    return wrap(lay.result(indices, keepdim), input._device)


def argmax(input, dim=None, keepdim=False):
    return _argextreme("argmax", True, input, dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return _argextreme("argmin", False, input, dim, keepdim)


# ------------------------------------------------------------------ var, std

class VarMean(Function):
    """(var or std, mean) over dims with `correction` (Bessel's correction: 1)."""

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim, take_sqrt):
        lay = Layout(x._array, dims)
        var, mean_ = lay.empty(x.dtype, x._device), lay.empty(x.dtype, x._device)
        divisor = float(builtin_max(0, lay.R - correction))
        if lay.R == 0:
            fill_array(var, math.nan)
            fill_array(mean_, math.nan)
        elif var.size:
            # The sum kernel's float64 row sums, then squared deviations from their means.
            mean64 = lay.empty(_dt.float64, x._device)
            scratch = _partials(lay.outer, lay.R, lay.inner, np.float64, x._device)
            KR.sum_(lay.array, mean64, lay.outer, lay.R, lay.inner, scratch, 0.0)
            KF.var(lay.array, mean64, var, mean_, lay.outer, lay.R, lay.inner, scratch, divisor)
            if take_sqrt:
                KU.sqrt(var, var)
        result, m = wrap(lay.result(var, keepdim), x._device), wrap(lay.result(mean_, keepdim), x._device)
        ctx.save_for_backward(x, result, m)
        ctx.lay, ctx.divisor, ctx.take_sqrt = lay, divisor, take_sqrt
        ctx.set_materialize_grads(False)  # var() uses only the first output: no zeros for the mean's gradient
        return result, m

    @staticmethod
    def backward(ctx, g_result, g_mean):
        from .binary import eq, where
        x, result, m = ctx.saved_tensors
        lay = ctx.lay
        gx = None
        if g_result is not None:
            # d var / dx = 2 (x - mean) / divisor; d std / dx = (x - mean) / (std * divisor), 0 where std == 0.
            if ctx.take_sqrt:
                coef = where(eq(result, 0), 0.0, g_result / (result * ctx.divisor))
            else:
                coef = g_result * (2.0 / ctx.divisor if ctx.divisor else math.inf)
            out = lay.empty(x.dtype, x._device, full=True)
            if out.size:
                KR.spread(lay.array, lay.canonical(m._array), lay.canonical(coef._array), out,
                          lay.outer, lay.R, lay.inner, KR.CENTER)
            gx = wrap(lay.restore(out), x._device)
        if g_mean is not None:
            g_m = expand(reshape(g_mean / lay.R, keepdim_shape(lay.shape, lay.dims)), lay.shape)
            gx = g_m if gx is None else gx + g_m
        return gx, None, None, None, None


def _var_args(op, input, dim, unbiased, keepdim, correction):
    check_tensor(op, "input", input)
    if not input.dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    if isinstance(dim, bool):  # var(x, unbiased) form
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}(): cannot take both 'unbiased' and 'correction'")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return reduce_dims(op, dim, input.ndim), correction, keepdim


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dims, c, keepdim = _var_args("var", input, dim, unbiased, keepdim, correction)
    return VarMean.apply(input, dims, c, keepdim, False)[0]


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dims, c, keepdim = _var_args("std", input, dim, unbiased, keepdim, correction)
    return VarMean.apply(input, dims, c, keepdim, True)[0]


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dims, c, keepdim = _var_args("var_mean", input, dim, unbiased, keepdim, correction)
    return VarMean.apply(input, dims, c, keepdim, False)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dims, c, keepdim = _var_args("std_mean", input, dim, unbiased, keepdim, correction)
    return VarMean.apply(input, dims, c, keepdim, True)


# ------------------------------------------------------------------ logsumexp

class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        lay = Layout(x._array, dims)
        out = lay.empty(x.dtype, x._device)
        if lay.R == 0:
            fill_array(out, -math.inf)
        elif out.size:
            m = _extreme_array(lay, True, x._device)
            cpu_n = lay.n_out + KR.accumulate_scratch_size(lay.outer, lay.R, lay.inner)
            partial = _partials(lay.outer, lay.R, lay.inner, np.float64, x._device, cpu_n)
            KF.logsumexp(lay.array, m, out, lay.outer, lay.R, lay.inner, partial)
        y = wrap(lay.result(out, keepdim), x._device)
        ctx.save_for_backward(x, y)
        ctx.lay = lay
        return y

    @staticmethod
    def backward(ctx, g):
        _, y = ctx.saved_tensors
        lay = ctx.lay
        gx = lay.empty(g.dtype, g._device, full=True)
        if gx.size:
            KR.spread(lay.array, lay.canonical(y._array), lay.canonical(g._array), gx,
                      lay.outer, lay.R, lay.inner, KR.SOFTMAX)
        return wrap(lay.restore(gx), g._device), None, None


def logsumexp(input, dim, keepdim=False):
    check_tensor("logsumexp", "input", input)
    x = float_input(input)
    return LogSumExp.apply(x, reduce_dims("logsumexp", dim, x.ndim), keepdim)


# ------------------------------------------------------------------ norm

class Norm(Function):
    """The vector p-norm for a finite p; the gradients are torch's (0 where the norm is 0)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, p):
        lay = Layout(x._array, dims)
        if p == 0:
            out = cast_array(_count_array(lay, x._device), x.dtype.np)
        else:
            out = lay.empty(x.dtype, x._device)
            if out.size and lay.R == 0:
                fill_array(out, 0.0)
            elif out.size:
                scratch = _partials(lay.outer, lay.R, lay.inner, np.float64, x._device)
                KF.norm(lay.array, out, lay.outer, lay.R, lay.inner, scratch, 0.0, float(p))
        y = wrap(lay.result(out, keepdim), x._device)
        ctx.save_for_backward(x, y)
        ctx.dims, ctx.keepdim, ctx.p = dims, keepdim, p
        return y

    @staticmethod
    def backward(ctx, g):
        from .binary import eq, where
        from .unary import abs, sign
        x, y = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            from .creation import zeros_like
            return zeros_like(x), None, None, None
        if not ctx.keepdim:
            shape = keepdim_shape(x._array.shape, ctx.dims)
            g, y = reshape(g, shape), reshape(y, shape)
        if p == 1:
            return sign(x) * g, None, None, None
        if p == 2:
            return x * where(eq(y, 0), 0.0, g / y), None, None, None
        if p < 1:
            scaled = sign(x) * where(eq(x, 0), 0.0, abs(x) ** (p - 1))
            return scaled * g * y ** (1 - p), None, None, None
        scaled = sign(x) * abs(x) ** (p - 1)
        return scaled * where(eq(y, 0), 0.0, g / y ** (p - 1)), None, None, None


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    check_tensor("norm", "input", input)
    if out is not None:
        raise TypeError("norm(): nnlite does not support the 'out' argument")
    x = input.to(_dt.as_dtype(dtype)) if dtype is not None else input
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {x.dtype}")
    dims = reduce_dims("norm", dim, x.ndim)
    if isinstance(p, str):
        if p != "fro":
            raise RuntimeError(f"norm(): nnlite supports the vector norms and p='fro', got p={p!r}")
        if isinstance(dim, (tuple, list)) and len(dim) > 2:
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dims))}")
        p = 2
    if not isinstance(p, (int, float, np.number)) or isinstance(p, bool):
        raise TypeError(f"norm(): argument 'p' must be a number or 'fro', not {type(p).__name__}")
    if math.isinf(p):
        from .unary import abs
        return _extreme("norm", abs(x), dims, keepdim, p > 0)
    return Norm.apply(x, dims, keepdim, float(p))


# ------------------------------------------------------------------ all, any

def _count_array(lay, device):
    """The canonical int64 count of nonzero elements of a reduction."""
    count = lay.empty(_dt.int64, device)
    scratch = _partials(lay.outer, lay.R, lay.inner, np.int64, device)
    if count.size:
        KR.count_nonzero(lay.array, count, lay.outer, lay.R, lay.inner, scratch, np.int64(0))
    return count


def _count_nonzero(op, input, dim, keepdim):
    """(the count of nonzero elements over dim as an int64 tensor, the reduced size).

    For all and any, dim=() reduces nothing (as in torch), unlike the other reductions."""
    check_tensor(op, "input", input)
    dims = () if isinstance(dim, (tuple, list)) and len(dim) == 0 else reduce_dims(op, dim, input.ndim)
    lay = Layout(input._array, dims)
    return wrap(lay.result(_count_array(lay, input._device), keepdim), input._device), lay.R


def _logical_result(input, result):
    return result.to(_dt.uint8) if input.dtype is _dt.uint8 else result


def all(input, dim=None, keepdim=False):
    from .binary import eq
    count, n = _count_nonzero("all", input, dim, keepdim)
    return _logical_result(input, eq(count, n))


def any(input, dim=None, keepdim=False):
    from .binary import gt
    count, _ = _count_nonzero("any", input, dim, keepdim)
    return _logical_result(input, gt(count, 0))


# ------------------------------------------------------------------ cumsum

class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return wrap(_cumsum_array(x._array, dims, x.dtype, x._device, False), x._device)

    @staticmethod
    def backward(ctx, g):
        # The gradient of a prefix sum is the suffix sum of the gradient.
        return wrap(_cumsum_array(g._array, ctx.dims, g.dtype, g._device, True), g._device), None


def _cumsum_array(a, dims, dtype, device, reverse):
    lay = Layout(a, dims)
    out = lay.empty(dtype, device, full=True)
    zero = (np.float64 if dtype.is_floating_point else np.int64)(0)
    scratch = scratch_array(lay.n_out if lay.inner > 1 else 1, zero.dtype, device)
    if out.size:
        KS.cumsum(lay.array, out, lay.outer, lay.R, lay.inner, scratch, zero, reverse)
    return lay.restore(out)


def cumsum(input, dim, *, dtype=None):
    check_tensor("cumsum", "input", input)
    dims = single_dim("cumsum", dim, input.ndim)
    return Cumsum.apply(input.to(_sum_dtype(input, dtype)), dims)


__all__ = ["all", "amax", "amin", "any", "argmax", "argmin", "cumsum", "logsumexp", "max", "mean", "min", "norm",
           "prod", "return_types", "std", "std_mean", "sum", "sum_to_size", "var", "var_mean"]

TENSOR_METHODS = [n for n in __all__ if n not in ("return_types", "std_mean", "var_mean")]
