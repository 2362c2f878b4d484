"""In-place ops (x.add_(y), x.relu_(), x[i] += v, ...) with PyTorch's autograd semantics.

Every in-place op is "compute the new value, then write it into x":

- without a graph the value is computed and copied into x's memory;
- with one, x takes the new value's history (`CopyInto` marks x dirty), and
  when the op's backward needs x's old value the op runs on a clone, so the
  write does not invalidate what backward saved;
- when x is a view of a base that is part of a graph, the base itself takes
  the new history (`ViewScatter`, PyTorch's CopySlices): the base's gradient
  flows back with the view's region replaced by the gradient of the op, and
  x becomes a fresh view of the new base.
"""
from ..autograd.function import Function
from ..autograd.grad_mode import state as _grad_state
from ..backend import dtype as _dt
from ._util import wrap
from ._arrays import array_strides, copy_array_into, strided_view


class CopyInto(Function):
    """dst <- src in place: dst's old value gets no gradient, src gets all of it."""

    @staticmethod
    def forward(ctx, dst, src):
        ctx.check_inplace(dst)
        copy_array_into(src._array, dst._array)
        ctx.mark_dirty(dst)
        ctx.src_shape = src._array.shape
        return dst

    @staticmethod
    def backward(ctx, g):
        from .reduction import sum_to_size
        return None, sum_to_size(g, ctx.src_shape)


def view_spec(view, base):
    """(shape, element strides, element offset) of `view` inside `base`'s memory."""
    item = base._array.dtype.itemsize
    offset = (_address(view._array) - _address(base._array)) // item
    return tuple(view._array.shape), array_strides(view._array), offset


def _address(a):
    if hasattr(a, "__array_interface__"):
        return a.__array_interface__["data"][0]
    if hasattr(a, "__cuda_array_interface__"):
        return a.__cuda_array_interface__["data"][0]
    return a._ary.__array_interface__["data"][0]  # the CUDA simulator's arrays wrap numpy


class AsStridedView(Function):
    """A view of base described by a view_spec; backward scatters into zeros."""

    @staticmethod
    def forward(ctx, base, spec):
        ctx.base_meta = (base._array.shape, base.dtype, base._device)
        ctx.spec = spec
        return base._view_of(strided_view(base._array, *spec))

    @staticmethod
    def backward(ctx, g):
        from .creation import zeros
        shape, dtype, device = ctx.base_meta
        out = zeros(shape, dtype=dtype, device=device)
        copy_array_into(g._array, strided_view(out._array, *ctx.spec))
        return out, None


class ViewScatter(Function):
    """base[region of spec] <- src, in place on the base (PyTorch's CopySlices)."""

    @staticmethod
    def forward(ctx, base, src, spec):
        if base.grad_fn is None and base._requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
        copy_array_into(src._array, strided_view(base._array, *spec))
        ctx.mark_dirty(base)
        ctx.spec = spec
        ctx.src_shape = src._array.shape
        return base

    @staticmethod
    def backward(ctx, g):
        from .creation import fill_
        from .reduction import sum_to_size
        g_base = g.clone()
        fill_(wrap(strided_view(g_base._array, *ctx.spec), g._device), 0)
        g_src = sum_to_size(AsStridedView.apply(g, ctx.spec), ctx.src_shape)
        return g_base, g_src, None


def write_into_view(view, result):
    """Store `result` into `view`, recording the write on the view's base."""
    base = view._base
    spec = view_spec(view, base)
    ViewScatter.apply(base, result, spec)
    fresh = AsStridedView.apply(base, spec)
    view.grad_fn, view._output_nr, view._requires_grad = fresh.grad_fn, fresh._output_nr, True
    return view


def check_result(op, self, result):
    """The result of an in-place op must keep self's shape, and cast to self's dtype."""
    if tuple(result._array.shape) != tuple(self._array.shape):
        raise RuntimeError(f"{op}: output with shape {list(self.shape)} doesn't match the broadcast shape "
                           f"{list(result.shape)}")
    if result.dtype is not self.dtype:
        if _category(result.dtype) > _category(self.dtype):
            raise RuntimeError(f"{op}: result type {_type_name(result.dtype)} can't be cast to the desired "
                               f"output type {_type_name(self.dtype)}")
        result = result.to(self.dtype)
    return result


def _category(d):
    return 0 if d is _dt.bool_ else (2 if d.is_floating_point else 1)


def _type_name(d):
    return {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
            "uint8": "Byte", "bool": "Bool"}[d.name]


def _in_graph(self, operands):
    if not _grad_state.enabled:
        return False
    if self._requires_grad or (self._base is not None and self._base._requires_grad):
        return True
    return any(getattr(o, "_requires_grad", False) for o in operands)


def inplace(op, self, compute, operands=(), uses_self=True):
    """Store compute(self) into self with torch's in-place semantics (see the module doc).

    `operands` are the other tensors compute reads (they decide whether a graph
    is recorded); `uses_self` says whether the op's backward reads self's old value.
    """
    graph = _in_graph(self, operands)
    if graph and self._requires_grad and self.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    result = compute(self.clone() if graph and uses_self and self._requires_grad else self)
    result = check_result(op, self, result)
    if graph and self._base is not None and (self._base._requires_grad or result._requires_grad):
        return write_into_view(self, result)
    if graph and result._requires_grad:
        return CopyInto.apply(self, result)
    copy_array_into(result._array, self._array)
    self._version[0] += 1
    return self


__all__ = []

TENSOR_METHODS = []
