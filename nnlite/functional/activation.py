"""Activations, as torch.nn.functional: relu, leaky_relu, gelu, silu, elu/selu/celu,
hardtanh/relu6, softplus, hardsigmoid, hardswish, mish (with in-place variants),
and softmax / log_softmax.

Every pointwise activation is one autograd Function, `Activation`, around a
kernel pair of `kernels/activation.py` named after the op; its backward
kernel reads the saved input (the output, for relu, as torch keeps it).
"""
import math
import warnings

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import state as _grad_state
from ..backend import dtype as _dt
from ..backend.device import CPU
from ..backend.dtype import from_numpy_dtype
from ..backend.lazy import kernels
from ._util import check_tensor, empty_array, flat, normalize_dim, wrap
from .inplace import inplace as run_inplace
from ._arrays import empty_for, contiguous_array, is_contiguous_array

K = kernels("activation")
KS = kernels("softmax")

_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
               "int32": "Int", "uint8": "Byte", "bool": "Bool"}


def type_name(dtype):
    """torch's name for a dtype in error messages ('Float', 'Long', ...)."""
    return _TYPE_NAMES[dtype.name]


def check_floating_input(op, x, integers_ok=False):
    """The input check of the activations, softmax, norms and losses: a tensor of a
    dtype the op computes in (float16 only on CUDA)."""
    check_tensor(op, "input", x)
    d = x.dtype
    if not d.is_floating_point and (not integers_ok or d.name == "bool"):
        raise NotImplementedError(f'"{op}" not implemented for \'{type_name(d)}\'')
    if d.name == "float16" and x._device.type == "cpu":
        raise TypeError(f"{op}: float16 tensors compute on CUDA only; on the CPU convert them with .float() "
                        "first")


class Activation(Function):
    """y = kernel(x; a, b, c); backward kernel `<kernel>_bwd` of (grad, saved); both in the kernel
    module `family` (kernels/activation.py unless given)."""

    @staticmethod
    def forward(ctx, x, kernel, params, save_output, family=K):
        a = contiguous_array(x._array)
        y = empty_for(a, a.shape)
        if a.size:
            getattr(family, kernel)(flat(a), flat(y), *params)
        y = wrap(y, x._device)
        ctx.kernel, ctx.params, ctx.family = kernel, params, family
        ctx.save_for_backward(y if save_output else x)
        return y

    @staticmethod
    def backward(ctx, g):
        saved, = ctx.saved_tensors
        s = contiguous_array(saved._array)
        gx = empty_for(s, s.shape)
        if s.size:
            getattr(ctx.family, ctx.kernel + "_bwd")(flat(contiguous_array(g._array)), flat(s), flat(gx),
                                                      *ctx.params)
        return wrap(gx, g._device), None, None, None, None


def _apply(op, kernel, x, inplace, params=(), save_output=False, integers_ok=False, family=K):
    """Run activation `kernel` (of kernel module `family`) on x, out of place or (inplace=True) into x itself."""
    check_floating_input(op, x, integers_ok)
    cast = x.dtype.np.type
    params = tuple(cast(p) for p in params) + (cast(0),) * (3 - len(params))
    if not inplace:
        return Activation.apply(x, kernel, params, save_output, family)
    if not records_graph(x) and is_contiguous_array(x._array):
        # Nothing to record: the kernel writes straight over x (elementwise, so aliasing is safe).
        if x._array.size:
            getattr(family, kernel)(flat(x._array), flat(x._array), *params)
        x._version[0] += 1
        return x
    # An op that keeps its output (relu) never reads x's old value again, so it needs no clone of x.
    return run_inplace(op + "_", x, lambda t: Activation.apply(t, kernel, params, save_output, family),
                       uses_self=not save_output)


def records_graph(x):
    """Whether an in-place op on x must be recorded (x, or the base it views, is in a graph)."""
    return _grad_state.enabled and (x._requires_grad or x._base is not None and x._base._requires_grad)


def relu(input, inplace=False):
    """max(x, 0); NaN stays NaN, integer tensors stay integer."""
    return _apply("relu", "relu", input, inplace, save_output=True, integers_ok=True)


def relu_(input):
    return relu(input, inplace=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _apply("leaky_relu", "leaky_relu", input, inplace, (negative_slope,))


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _apply("gelu", "gelu" if approximate == "none" else "gelu_tanh", input, False)


def silu(input, inplace=False):
    return _apply("silu", "silu", input, inplace)


def mish(input, inplace=False):
    return _apply("mish", "mish", input, inplace)


def elu(input, alpha=1.0, inplace=False):
    return _apply("elu", "elu", input, inplace, (alpha, 1.0, 1.0))


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    return _apply("selu", "elu", input, inplace, (SELU_ALPHA * SELU_SCALE, SELU_SCALE, 1.0))


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _apply("celu", "elu", input, inplace, (alpha, 1.0, 1.0 / alpha))


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _apply("hardtanh", "hardtanh", input, inplace, (min_val, max_val), integers_ok=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    return _apply("softplus", "softplus", input, False, (beta, threshold))


def hardsigmoid(input, inplace=False):
    return _apply("hardsigmoid", "hardsigmoid", input, inplace)


def hardswish(input, inplace=False):
    return _apply("hardswish", "hardswish", input, inplace)


# ------------------------------------------------------------------ softmax

def _layout(shape, dim):
    """(outer, R, inner) of a contiguous array normalised along dim."""
    outer = math.prod(shape[:dim])
    return outer, (shape[dim] if shape else 1), math.prod(shape[dim + 1:])


def _scratch(a, layout):
    """Accumulators of the CPU kernels (the CUDA kernels need none)."""
    if type(a) is not np.ndarray:
        return None
    return empty_array((KS.softmax_scratch_size(*layout),), from_numpy_dtype(a.dtype), CPU)


class Softmax(Function):
    """softmax (log=False) or log_softmax (log=True) along one dim; keeps its output."""

    @staticmethod
    def forward(ctx, x, dim, log):
        a = contiguous_array(x._array)
        layout = _layout(tuple(a.shape), dim)
        y = empty_for(a, a.shape)
        if a.size:
            KS.softmax(flat(a), flat(y), *layout, _scratch(a, layout), log)
        y = wrap(y, x._device)
        ctx.layout, ctx.log = layout, log
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        ya = y._array
        gx = empty_for(ya, ya.shape)
        if ya.size:
            KS.softmax_bwd(flat(contiguous_array(g._array)), flat(ya), flat(gx), *ctx.layout,
                           _scratch(ya, ctx.layout), ctx.log)
        return wrap(gx, g._device), None, None


def _softmax(op, input, dim, stacklevel, dtype, log):
    check_tensor(op, "input", input)
    if isinstance(stacklevel, _dt.dtype):  # torch.softmax(input, dim, dtype): dtype third
        stacklevel, dtype = 3, stacklevel
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to "
                      "include dim=X as an argument.", stacklevel=stacklevel)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    if dtype is not None:
        input = input.to(dtype)
    check_floating_input(op, input)
    return Softmax.apply(input, normalize_dim(op, dim, input.ndim), log)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along dim, computed stably (as torch.nn.functional.softmax)."""
    return _softmax("softmax", input, dim, _stacklevel, dtype, log=False)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - log(sum(exp(x))) along dim, computed stably (as torch.nn.functional.log_softmax)."""
    return _softmax("log_softmax", input, dim, _stacklevel, dtype, log=True)


__all__ = ["celu", "celu_", "elu", "elu_", "gelu", "hardsigmoid", "hardswish", "hardtanh", "hardtanh_",
           "leaky_relu", "leaky_relu_", "log_softmax", "mish", "relu", "relu6", "relu_", "selu", "selu_",
           "silu", "softmax", "softplus"]

TENSOR_METHODS = ["relu", "relu_", "softmax", "log_softmax"]
