"""Pointwise unary ops: neg, abs, exp, log, sqrt, tanh, sigmoid, clamp, ... with gradients."""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..tensor import Tensor
from ._util import check_tensor, flat, wrap
from ._arrays import contiguous_array, empty_for

K = kernels("unary")


def unary_array(kernel, a):
    """Run a unary kernel over a contiguous copy-free view of array a; returns a new array."""
    a = contiguous_array(a)
    out = empty_for(a, a.shape)
    if a.size:
        kernel(flat(a), flat(out))
    return out


def _float_input(op, x):
    """Floating ops on integer tensors compute in the default float dtype, as torch does."""
    check_tensor(op, "input", x)
    return x if x.dtype.is_floating_point else x.to(_dt.get_default_dtype())


class _Unary(Function):
    """A unary op: `kernel` forward; backward kernel(grad, saved) where saved is the
    input (`save = "x"`) or the output (`save = "y"`)."""

    family = K             # the kernel module (kernels/unary.py unless an op has its own)
    kernel = None          # names in it
    backward_kernel = None
    save = "x"

    @classmethod
    def forward(cls, ctx, x):
        y = wrap(unary_array(getattr(cls.family, cls.kernel), x._array), x._device)
        if cls.backward_kernel is not None:
            ctx.save_for_backward(x if cls.save == "x" else y)
        return y

    @classmethod
    def backward(cls, ctx, g):
        saved, = ctx.saved_tensors
        s = contiguous_array(saved._array)
        out = empty_for(s, s.shape)
        if s.size:
            getattr(cls.family, cls.backward_kernel)(flat(contiguous_array(g._array)), flat(s), flat(out))
        return wrap(out, g._device)


def _make(name, kernel, backward_kernel=None, save="x", floating=True):
    fn_cls = type(name.capitalize(), (_Unary,), {
        "kernel": kernel, "backward_kernel": backward_kernel, "save": save})

    def op(input):
        x = _float_input(name, input) if floating else input
        if not floating:
            check_tensor(name, "input", x)
        return fn_cls.apply(x)
    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name}."
    return fn_cls, op


Exp, exp = _make("exp", "exp", "mul_same", save="y")
Log, log = _make("log", "log", "div_same")
Log1p, log1p = _make("log1p", "log1p", "log1p_bwd")
Expm1, expm1 = _make("expm1", "expm1", "expm1_bwd", save="y")
Sqrt, sqrt = _make("sqrt", "sqrt", "sqrt_bwd", save="y")
Rsqrt, rsqrt = _make("rsqrt", "rsqrt", "rsqrt_bwd", save="y")
Sin, sin = _make("sin", "sin", "sin_bwd")
Cos, cos = _make("cos", "cos", "cos_bwd")
Tanh, tanh = _make("tanh", "tanh", "tanh_bwd", save="y")
Sigmoid, sigmoid = _make("sigmoid", "sigmoid", "sigmoid_bwd", save="y")


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return wrap(unary_array(K.neg, x._array), x._device)

    @staticmethod
    def backward(ctx, g):
        return neg(g)


def neg(input):
    check_tensor("neg", "input", input)
    if input.dtype is _dt.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are "
                           "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return Neg.apply(input)


negative = neg


class Abs(_Unary):
    kernel = "abs_"
    backward_kernel = "abs_bwd"


def abs(input):
    check_tensor("abs", "input", input)
    return Abs.apply(input)


absolute = abs


def _rounding(name, kernel):
    def op(input):
        check_tensor(name, "input", input)
        if not input.dtype.is_floating_point:
            return input.clone()
        return _NoGrad.apply(input, kernel)
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (zero gradient, as in torch)."
    return op


class _NoGrad(Function):
    """A piecewise-constant op: its gradient is zero everywhere."""

    @staticmethod
    def forward(ctx, x, kernel):
        return wrap(unary_array(getattr(K, kernel), x._array), x._device)

    @staticmethod
    def backward(ctx, g):
        from .creation import zeros_like
        return zeros_like(g), None


floor = _rounding("floor", "floor")
ceil = _rounding("ceil", "ceil")
round_ = _rounding("round", "round_")


def round(input, *, decimals=0):
    if decimals:
        scale = 10.0 ** decimals
        return round_(input * scale) / scale
    return round_(input)


def trunc(input):
    return where_sign(input, floor(input), ceil(input))


fix = trunc


def where_sign(x, if_pos, if_neg):
    from .binary import ge, where
    return where(ge(x, 0), if_pos, if_neg)


def sign(input):
    check_tensor("sign", "input", input)
    if input.dtype is _dt.bool_:
        return input.clone()
    return _NoGrad.apply(input, "sign")


def logical_not(input):
    check_tensor("logical_not", "input", input)
    out = empty_for(input._array, input._array.shape, np.bool_)
    a = contiguous_array(input._array)
    if a.size:
        K.logical_not(flat(a), flat(out))
    return wrap(out, input._device)


def bitwise_not(input):
    if input.dtype is not _dt.bool_:
        raise TypeError(f"bitwise_not: nnlite supports bool tensors only, got {input.dtype}")
    return logical_not(input)


def square(input):
    return input * input


def reciprocal(input):
    from .binary import div
    return div(1.0, _float_input("reciprocal", input))


def sgn(input):
    return sign(input)


# ------------------------------------------------------------------ clamp

class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        a = contiguous_array(x._array)
        out = empty_for(a, a.shape)
        kind = float if x.dtype.is_floating_point else int
        lo_v = kind(lo) if lo is not None else (-np.inf if kind is float else np.iinfo(a.dtype).min)
        hi_v = kind(hi) if hi is not None else (np.inf if kind is float else np.iinfo(a.dtype).max)
        if a.size:
            K.clamp(flat(a), flat(out), lo_v, hi_v)
        ctx.save_for_backward(x)
        ctx.bounds = (lo_v, hi_v)
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        lo, hi = ctx.bounds
        a = contiguous_array(x._array)
        out = empty_for(a, a.shape)
        if a.size:
            K.clamp_bwd(flat(contiguous_array(g._array)), flat(a), flat(out), lo, hi)
        return wrap(out, g._device), None, None


def clamp(input, min=None, max=None):
    check_tensor("clamp", "input", input)
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from .binary import maximum, minimum
        y = input
        if min is not None:
            y = maximum(y, min if isinstance(min, Tensor) else _like(min, input))
        if max is not None:
            y = minimum(y, max if isinstance(max, Tensor) else _like(max, input))
        return y
    x = input
    if not x.dtype.is_floating_point and any(isinstance(v, float) for v in (min, max)):
        x = x.to(_dt.get_default_dtype())
    return Clamp.apply(x, min, max)


def _like(v, x):
    from .creation import full_like
    return full_like(x, v)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


__all__ = ["abs", "absolute", "bitwise_not", "ceil", "clamp", "clamp_max", "clamp_min", "clip", "cos", "exp",
           "expm1", "fix", "floor", "log", "log1p", "logical_not", "neg", "negative", "reciprocal", "round",
           "rsqrt", "sgn", "sigmoid", "sign", "sin", "sqrt", "square", "tanh", "trunc"]

TENSOR_METHODS = __all__
