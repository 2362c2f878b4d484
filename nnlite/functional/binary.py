"""Pointwise binary ops with broadcasting and PyTorch's type promotion."""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..backend.layout import broadcast_walk
from ..backend.memory import to_device
from ..tensor import Tensor
from ._util import empty_array, flat, wrap
from ._arrays import contiguous_array, expand_array

K = kernels("binary")

_Number = (int, float, bool, np.number, np.bool_)


# ------------------------------------------------------------------ operands

def promote(op, a, b, to_float=False):
    """Check two operands and bring them to one dtype and device.

    Returns (a, b, dtype, device): tensors cast to the result dtype (casts are
    differentiable), Python numbers left as they are, a zero-dim CPU tensor
    next to a CUDA tensor turned into a number (as torch allows).
    """
    ta = isinstance(a, Tensor)
    tb = isinstance(b, Tensor)
    if ta and tb:
        if a._device is not b._device and a._device != b._device:
            if not a._array.shape and a._device.type == "cpu":
                a, ta = a.item(), False
            elif not b._array.shape and b._device.type == "cpu":
                b, tb = b.item(), False
            else:
                raise RuntimeError(f"{op}: Expected all tensors to be on the same device, but found at "
                                   f"least two devices, {a._device} and {b._device}!")
        elif a._array.dtype is b._array.dtype and (not to_float or a._array.dtype.kind == "f"):
            return a, b, a.dtype, a._device  # the common case, kept cheap
    elif not ta and not tb:
        raise TypeError(f"{op}(): expected at least one Tensor argument, got "
                        f"{type(a).__name__} and {type(b).__name__}")
    if type(a) is np.ndarray or type(b) is np.ndarray:  # numpy arrays join in as tensors, as in torch
        from .creation import tensor
        device = a._device if ta else b._device
        a = tensor(a, device=device) if type(a) is np.ndarray else a
        b = tensor(b, device=device) if type(b) is np.ndarray else b
        ta, tb = True, True
    for x in (a, b):
        if not isinstance(x, (Tensor,) + _Number):
            raise TypeError(f"{op}(): unsupported operand type {type(x).__name__}")
    dtype = _dt.result_type(a, b)
    if to_float and not dtype.is_floating_point:
        dtype = _dt.get_default_dtype()
    if ta and a.dtype is not dtype:
        a = a.to(dtype)
    if tb and b.dtype is not dtype:
        b = b.to(dtype)
    return a, b, dtype, (a._device if ta else b._device)


_device_scalars = {}


def operand_array(x, dtype, device):
    """A contiguous array for operand x (a tensor, or a number as a 1-element array)."""
    if isinstance(x, Tensor):
        return contiguous_array(x._array)
    if device.type == "cpu":
        return _scalar_array(x, dtype)
    key = (x, dtype, device)  # small constants are reused instead of copied to the GPU each time
    arr = _device_scalars.get(key)
    if arr is None:
        arr = to_device(_scalar_array(x, dtype), device.index)
        if len(_device_scalars) < 1024:
            _device_scalars[key] = arr
    return arr


def _scalar_array(x, dtype):
    """x as a 0-d array of dtype (so it broadcasts like a scalar); integers wrap around
    as in torch (uint8 + 300 adds 44)."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool) and not dtype.is_floating_point:
        return np.array(x, dtype=np.int64).astype(dtype.np)
    return np.array(x, dtype=dtype.np)


def binary_arrays(kernel, a, b, out_dtype, device, out=None):
    """Run a broadcasting binary kernel on two contiguous arrays; returns the output array."""
    out_shape, walk = broadcast_walk(a.shape, b.shape)
    if walk is None:  # more than 4 non-collapsible dims: materialise the broadcast
        a = expand_array(a, out_shape, device)
        b = expand_array(b, out_shape, device)
        out_shape, walk = broadcast_walk(a.shape, b.shape)
    if out is None:
        out = empty_array(out_shape, out_dtype, device)
    if out.size:
        kernel(flat(a), flat(b), flat(out), walk if device.type == "cpu" else device_walk(walk, device))
    return out


_device_walks = {}


def device_walk(walk, device):
    """The walk array on a GPU, copied once per (shape combination, device)."""
    key = (id(walk), device)
    hit = _device_walks.get(key)
    if hit is None or hit[0] is not walk:
        if len(_device_walks) > 4096:
            _device_walks.clear()
        hit = _device_walks[key] = (walk, to_device(walk, device.index))
    return hit[1]


def binary_forward(kernel, a, b, dtype, device, out_dtype=None):
    """The output tensor of a binary kernel on operands a, b (tensors or numbers)."""
    xa = contiguous_array(a._array) if isinstance(a, Tensor) else operand_array(a, dtype, device)
    xb = contiguous_array(b._array) if isinstance(b, Tensor) else operand_array(b, dtype, device)
    return wrap(binary_arrays(kernel, xa, xb, out_dtype or dtype, device), device)


def _shape(x):
    return x._array.shape if isinstance(x, Tensor) else None


# ------------------------------------------------------------------ differentiable ops

class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        t = a if isinstance(a, Tensor) else b
        ctx.shapes = (_shape(a), _shape(b))
        return binary_forward(K.add, a, b, t.dtype, t._device)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (_sum_to(g, sa) if need_a else None), (_sum_to(g, sb) if need_b else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        dtype, device = _dtype_device(a, b)
        ctx.shapes = (_shape(a), _shape(b))
        return binary_forward(K.sub, a, b, dtype, device)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (_sum_to(g, sa) if need_a else None), (_sum_to(-g, sb) if need_b else None)


def _tensor_if(x, needed):
    """Save only what backward will read: a saved tensor pins memory and makes
    later in-place writes to it an error."""
    return x if needed and isinstance(x, Tensor) else None


def _saved_or_scalars(ctx):
    """The operands backward needs: saved tensors, or the Python numbers kept on ctx."""
    return tuple(n if t is None else t for t, n in zip(ctx.saved_tensors, ctx.scalars))


def _number(x):
    """x when it is a Python number (kept on ctx), None for tensors (saved instead)."""
    return None if isinstance(x, Tensor) else x


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        dtype, device = _dtype_device(a, b)
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(_tensor_if(a, need_b), _tensor_if(b, need_a))
        ctx.scalars = (_number(a), _number(b))
        ctx.shapes = (_shape(a), _shape(b))
        return binary_forward(K.mul, a, b, dtype, device)

    @staticmethod
    def backward(ctx, g):
        a, b = _saved_or_scalars(ctx)
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (_sum_to(mul(g, b), sa) if need_a else None), (_sum_to(mul(g, a), sb) if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        dtype, device = _dtype_device(a, b)
        out = binary_forward(K.div, a, b, dtype, device)
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(_tensor_if(b, need_a or need_b), out if need_b else None)
        ctx.shapes = (_shape(a), _shape(b))
        ctx.divisor = _number(b)
        return out

    @staticmethod
    def backward(ctx, g):
        b, out = ctx.saved_tensors
        b = ctx.divisor if b is None else b
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        g_over_b = div(g, b)
        ga = _sum_to(g_over_b, sa) if need_a else None
        gb = _sum_to(-(g_over_b * out), sb) if need_b else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        dtype, device = _dtype_device(a, b)
        out = binary_forward(K.pow, a, b, dtype, device)
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(_tensor_if(a, True), _tensor_if(b, need_a))
        ctx.scalars = (_number(a), _number(b))
        ctx.shapes = (_shape(a), _shape(b))
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = _saved_or_scalars(ctx)
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            # d/da a**b = b * a**(b-1), zero where b == 0 (torch's convention)
            if isinstance(b, Tensor):
                ga = where(eq(b, 0), 0.0, g * b * pow(a, sub(b, 1)))
            else:
                ga = g * (b * pow(a, b - 1)) if b != 0 else g * 0.0
            ga = _sum_to(ga, sa)
        if need_b:
            # d/db a**b = a**b * log(a), zero where a == 0 and b >= 0
            from .unary import log
            out = pow(a, b)
            if isinstance(a, Tensor):
                gb = where(logical_and(eq(a, 0), ge(b, 0)), 0.0, g * out * log(a))
            else:
                gb = g * out * float(np.log(a)) if a != 0 else g * 0.0
            gb = _sum_to(gb, sb)
        return ga, gb


class _MaxMin(Function):
    kernel_name = None

    @classmethod
    def forward(cls, ctx, a, b):
        dtype, device = _dtype_device(a, b)
        ctx.save_for_backward(a, b)
        return binary_forward(getattr(K, cls.kernel_name), a, b, dtype, device)

    @classmethod
    def backward(cls, ctx, g):
        a, b = ctx.saved_tensors
        # ties split the gradient in half, as in PyTorch
        half = g * 0.5
        wins_a = gt(a, b) if cls.kernel_name == "maximum" else lt(a, b)
        wins_b = lt(a, b) if cls.kernel_name == "maximum" else gt(a, b)
        tie = eq(a, b)
        need_a, need_b = ctx.needs_input_grad
        ga = _sum_to(where(tie, half, where(wins_a, g, 0.0)), a._array.shape) if need_a else None
        gb = _sum_to(where(tie, half, where(wins_b, g, 0.0)), b._array.shape) if need_b else None
        return ga, gb


class Maximum(_MaxMin):
    kernel_name = "maximum"


class Minimum(_MaxMin):
    kernel_name = "minimum"


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        dtype, device = _dtype_device(a, b)
        c = contiguous_array(cond._array)
        xa = operand_array(a, dtype, device)
        xb = operand_array(b, dtype, device)
        out_shape, walk = broadcast_walk(c.shape, xa.shape, xb.shape)
        if walk is None:
            c, xa, xb = (expand_array(v, out_shape, device) for v in (c, xa, xb))
            out_shape, walk = broadcast_walk(c.shape, xa.shape, xb.shape)
        out = empty_array(out_shape, dtype, device)
        if out.size:
            K.where(flat(c), flat(xa), flat(xb), flat(out),
                    walk if device.type == "cpu" else device_walk(walk, device))
        ctx.save_for_backward(cond)
        ctx.shapes = (_shape(a), _shape(b))
        return wrap(out, device)

    @staticmethod
    def backward(ctx, g):
        cond, = ctx.saved_tensors
        sa, sb = ctx.shapes
        _, need_a, need_b = ctx.needs_input_grad
        ga = _sum_to(where(cond, g, 0.0), sa) if need_a else None
        gb = _sum_to(where(cond, 0.0, g), sb) if need_b else None
        return None, ga, gb


def _dtype_device(a, b):
    t = a if isinstance(a, Tensor) else b
    return t.dtype, t._device


def _sum_to(g, shape):
    if shape is None:
        return None
    if g._array.shape == shape:
        return g
    from .reduction import sum_to_size
    return sum_to_size(g, shape)


# ------------------------------------------------------------------ public API

def add(input, other, *, alpha=1):
    a, b, _, _ = promote("add", input, other)
    if alpha != 1:
        b = mul(b, alpha)
    return Add.apply(a, b)


def sub(input, other, *, alpha=1):
    a, b, dtype, _ = promote("sub", input, other)
    if dtype is _dt.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if alpha != 1:
        b = mul(b, alpha)
    return Sub.apply(a, b)


subtract = sub


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def mul(input, other):
    a, b, _, _ = promote("mul", input, other)
    return Mul.apply(a, b)


multiply = mul


def div(input, other, *, rounding_mode=None):
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        from .unary import trunc
        q = div(input, other)
        a, _, dtype, _ = promote("div", input, other)
        return trunc(q) if dtype.is_floating_point else trunc(q).to(dtype)
    if rounding_mode is not None:
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")
    a, b, _, _ = promote("div", input, other, to_float=True)
    return Div.apply(a, b)


divide = true_divide = div


def pow(input, exponent):
    a, b, _, _ = promote("pow", input, exponent)
    return Pow.apply(a, b)


def maximum(input, other):
    _require_tensors("maximum", input, other)
    a, b, _, _ = promote("maximum", input, other)
    return Maximum.apply(a, b)


def minimum(input, other):
    _require_tensors("minimum", input, other)
    a, b, _, _ = promote("minimum", input, other)
    return Minimum.apply(a, b)


def _require_tensors(op, a, b):
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        raise TypeError(f"{op}(): argument 'other' must be Tensor, not "
                        f"{type(b if isinstance(a, Tensor) else a).__name__}")


def where(condition, input=None, other=None):
    if input is None and other is None:
        from .indexing import nonzero
        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor):
        raise TypeError(f"where(): argument 'condition' must be Tensor, not {type(condition).__name__}")
    a, b, _, device = promote("where", input, other)
    if condition._device != device:
        raise RuntimeError(f"where: Expected all tensors to be on the same device, but found at least "
                           f"two devices, {condition._device} and {device}!")
    if condition.dtype is not _dt.bool_:
        condition = ne(condition, 0)
    return Where.apply(condition, a, b)


def _no_grad_binary(op, kernel_name, input, other, out_dtype=None, to_float=False):
    a, b, dtype, device = promote(op, input, other, to_float=to_float)
    return binary_forward(getattr(K, kernel_name), a, b, dtype, device, out_dtype)


def floor_divide(input, other):
    _check_int_division("floor_divide", input, other)
    return _no_grad_binary("floor_divide", "floor_divide", input, other)


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b):
        dtype, device = _dtype_device(a, b)
        need_b = ctx.needs_input_grad[1]
        ctx.save_for_backward(_tensor_if(a, need_b), _tensor_if(b, need_b))
        ctx.scalars = (_number(a), _number(b))
        ctx.shapes = (_shape(a), _shape(b))
        return binary_forward(K.remainder, a, b, dtype, device)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = _sum_to(g, sa) if need_a else None
        gb = None
        if need_b:
            a, b = _saved_or_scalars(ctx)
            gb = _sum_to(-(g * floor_divide(a, b)), sb)
        return ga, gb


def remainder(input, other):
    _check_int_division("remainder", input, other)
    a, b, _, _ = promote("remainder", input, other)
    return Remainder.apply(a, b)



def _check_int_division(op, a, b):
    """Integer division by zero raises, as in PyTorch (kernels cannot raise)."""
    if isinstance(b, Tensor):
        if not b.dtype.is_floating_point and b._device.type == "cpu" and \
                (not isinstance(a, Tensor) or not a.dtype.is_floating_point) and \
                b._array.size and not np.all(b._array):
            raise ZeroDivisionError(f"{op}: integer division by zero")
    elif isinstance(b, (int, np.integer)) and b == 0 and \
            (not isinstance(a, Tensor) or not a.dtype.is_floating_point):
        raise ZeroDivisionError(f"{op}: integer division by zero")


def _comparison(name):
    def compare(input, other):
        return _no_grad_binary(name, name, input, other, out_dtype=_dt.bool_)
    compare.__name__ = name
    compare.__doc__ = f"Elementwise {name} (a bool tensor)."
    return compare


eq = _comparison("eq")
ne = _comparison("ne")
lt = _comparison("lt")
le = _comparison("le")
gt = _comparison("gt")
ge = _comparison("ge")
logical_and = _comparison("logical_and")
logical_or = _comparison("logical_or")
logical_xor = _comparison("logical_xor")
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def equal(input, other):
    """True if both tensors have the same shape and elements."""
    return tuple(input.shape) == tuple(other.shape) and bool(eq(input, other).all())


def bitwise_and(input, other):
    return _bitwise("bitwise_and", input, other)


def bitwise_or(input, other):
    return _bitwise("bitwise_or", input, other)


def bitwise_xor(input, other):
    return _bitwise("bitwise_xor", input, other)


def _bitwise(op, a, b):
    """&, |, ^ on integer and bool tensors (bool with bool stays bool), as torch."""
    for x in (a, b):
        floating = x.dtype.is_floating_point if isinstance(x, Tensor) else isinstance(x, float)
        if floating:
            dtype = x.dtype if isinstance(x, Tensor) else "float"
            raise RuntimeError(f"{op}: only integer and bool tensors are supported, got {dtype}")
    return _no_grad_binary(op, op, a, b)


def lerp(input, end, weight):
    """input + weight * (end - input)."""
    return add(input, mul(weight, sub(end, input)))


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2."""
    return add(input, mul(tensor1, tensor2), alpha=value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2."""
    return add(input, div(tensor1, tensor2), alpha=value)


def add_into(target, other):
    """target += other on raw arrays (no autograd, no version bump); same shape and device."""
    a = target._array
    b = operand_array(other, target.dtype, target._device)
    if b.dtype != a.dtype:
        b = other.to(target.dtype)._array
    if type(a) is np.ndarray and a.flags.c_contiguous or type(a) is not np.ndarray and a.is_c_contiguous():
        binary_arrays(K.add, a, contiguous_array(b), target.dtype, target._device, out=a)
    else:
        from ._arrays import copy_array_into
        copy_array_into(binary_arrays(K.add, contiguous_array(a), contiguous_array(b),
                                      target.dtype, target._device), a)


__all__ = ["add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide", "pow",
           "maximum", "minimum", "where", "floor_divide", "remainder", "eq", "ne", "lt", "le", "gt",
           "ge", "greater", "greater_equal", "less", "less_equal", "not_equal", "logical_and",
           "logical_or", "logical_xor", "equal", "bitwise_and", "bitwise_or", "bitwise_xor", "lerp",
           "addcmul", "addcdiv"]

TENSOR_METHODS = [n for n in __all__ if n not in ("where", "rsub")]
