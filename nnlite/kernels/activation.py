"""Pointwise activation kernels, forward and backward (softmax lives in softmax.py).

Pointwise ops share one signature so the functional layer treats them alike:
forward `(x, y, a, b, c)` and backward `(g, s, gx, a, b, c)`, where a, b, c
are the op's scalar parameters (negative slope, alpha, beta, bounds...; unused
ones are 0) already cast to the input's dtype, and `s` is the saved input
(or the output, for relu). Each CPU kernel folds its scalar function into one
loop so LLVM vectorises it; the CUDA twins share a kernel that takes an op code.

Numerics follow ATen's CPU kernels formula by formula (the same comparisons,
so NaN takes the same branch). Constants go through `like(v, c)`, which gives
`c` in v's float type: a Python float literal would silently turn float32
math into float64 (half the vector width, different rounding).
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .fastmath import ferf, fexp, fexpm1, flog1p, ftanh, like


SQRT1_2 = 0.7071067811865476           # 1/sqrt(2)
GELU_PDF = 0.3989422804014327          # 1/sqrt(2*pi)
GELU_TANH_BETA = 0.7978845608028654    # sqrt(2/pi)
GELU_TANH_KAPPA = 0.044715
ONE_SIXTH_F32 = 0.1666666716337204     # float32(1/6): ATen's hardsigmoid backward uses it for every dtype


# ---------------------------------------------------------------- loop skeletons

@njit(inline="always")
def _map(f, x, y, a, b, c):
    if y.size <= SERIAL_WORK:
        for i in range(y.size):
            y[i] = f(x[i], a, b, c)
    else:
        for i in prange(y.size):
            y[i] = f(x[i], a, b, c)


@njit(inline="always")
def _map_grad(f, g, s, gx, a, b, c):
    if gx.size <= SERIAL_WORK:
        for i in range(gx.size):
            gx[i] = f(g[i], s[i], a, b, c)
    else:
        for i in prange(gx.size):
            gx[i] = f(g[i], s[i], a, b, c)


# ---------------------------------------------------------------- scalar math (CPU)

@njit(inline="always")
def _relu(v, a, b, c):
    return like(v, 0) if v <= 0 else v


@njit(inline="always")
def _relu_bwd(g, y, a, b, c):           # from the output: y > 0 exactly where x > 0
    return like(g, 0) if y <= 0 else g  # NaN passes the gradient, as torch's threshold_backward


@njit(inline="always")
def _leaky_relu(v, slope, b, c):
    return v if v > 0 else v * slope


@njit(inline="always")
def _leaky_relu_bwd(g, v, slope, b, c):
    return g if v > 0 else g * slope


# ferf (kernels/fastmath.py) is inlined into these kernels. Numba's cache keys on this file's text
# only: after changing a fastmath function, change this file too, or stale kernels are loaded.
@njit(inline="always")
def _gelu(v, a, b, c):
    return v * like(v, 0.5) * (like(v, 1) + ferf(v * like(v, SQRT1_2)))


@njit(inline="always")
def _gelu_bwd(g, v, a, b, c):
    cdf = like(v, 0.5) * (like(v, 1) + ferf(v * like(v, SQRT1_2)))
    pdf = like(v, GELU_PDF) * fexp(v * v * like(v, -0.5))
    return g * (cdf + v * pdf)


@njit(inline="always")
def _gelu_tanh(v, a, b, c):
    inner = like(v, GELU_TANH_BETA) * (v + like(v, GELU_TANH_KAPPA) * v * v * v)
    return like(v, 0.5) * v * (like(v, 1) + ftanh(inner))


@njit(inline="always")
def _gelu_tanh_bwd(g, v, a, b, c):
    v2 = v * v
    t = ftanh(like(v, GELU_TANH_BETA) * (v + like(v, GELU_TANH_KAPPA) * v2 * v))
    left = like(v, 0.5) * (like(v, 1) + t)
    right = like(v, 0.5) * v * (like(v, 1) - t * t) * like(v, GELU_TANH_BETA) * (
        like(v, 1) + like(v, 3 * GELU_TANH_KAPPA) * v2)
    return g * (left + right)


@njit(inline="always")
def _silu(v, a, b, c):
    return v / (like(v, 1) + fexp(-v))


@njit(inline="always")
def _silu_bwd(g, v, a, b, c):
    s = like(v, 1) / (like(v, 1) + fexp(-v))
    return g * s * (like(v, 1) + v * (like(v, 1) - s))


@njit(inline="always")
def _elu(v, neg_coef, pos_coef, input_scale):
    # elu, selu and celu: alpha * scale as neg_coef, scale as pos_coef
    return fexpm1(v * input_scale) * neg_coef if v <= 0 else v * pos_coef


@njit(inline="always")
def _elu_bwd(g, v, neg_coef, pos_coef, input_scale):
    return g * input_scale * neg_coef * fexp(v * input_scale) if v <= 0 else g * pos_coef


@njit(inline="always")
def _hardtanh(v, lo, hi, c):
    v = lo if v < lo else v             # torch.clamp's order: NaN passes, lo > hi is rejected earlier
    return hi if v > hi else v


@njit(inline="always")
def _hardtanh_bwd(g, v, lo, hi, c):
    return like(g, 0) if v <= lo or v >= hi else g


@njit(inline="always")
def _softplus(v, beta, threshold, c):
    return v if v * beta > threshold else flog1p(fexp(v * beta)) / beta


@njit(inline="always")
def _softplus_bwd(g, v, beta, threshold, c):
    z = fexp(v * beta)
    return g if v * beta > threshold else g * z / (z + like(z, 1))


@njit(inline="always")
def _relu6_of_shift(v):
    t = v + like(v, 3)                  # min(max(v + 3, 0), 6), letting NaN through
    t = like(v, 0) if t < 0 else t
    return like(v, 6) if t > 6 else t


@njit(inline="always")
def _hardsigmoid(v, a, b, c):
    return _relu6_of_shift(v) / like(v, 6)


@njit(inline="always")
def _hardsigmoid_bwd(g, v, a, b, c):
    return g * like(g, ONE_SIXTH_F32) if v > -3 and v < 3 else like(g, 0)


@njit(inline="always")
def _hardswish(v, a, b, c):
    return v * _relu6_of_shift(v) / like(v, 6)


@njit(inline="always")
def _hardswish_bwd(g, v, a, b, c):
    if v <= -3:
        return like(g, 0)
    return g * (v / like(v, 3) + like(v, 0.5)) if v < 3 else g


@njit(inline="always")
def _mish(v, a, b, c):
    return v * ftanh(flog1p(fexp(v)))


@njit(inline="always")
def _mish_bwd(g, v, a, b, c):
    s = like(v, 1) / (like(v, 1) + fexp(-v))
    t = ftanh(flog1p(fexp(v)))
    return g * (t + v * s * (like(v, 1) - t * t))


# ---------------------------------------------------------------- pointwise kernels

(RELU, LEAKY_RELU, GELU, GELU_TANH, SILU, ELU, HARDTANH, SOFTPLUS, HARDSIGMOID, HARDSWISH,
 MISH) = range(11)


@njit(parallel=True, cache=True)
def relu_cpu(x, y, a, b, c):
    _map(_relu, x, y, a, b, c)


@njit(parallel=True, cache=True)
def leaky_relu_cpu(x, y, a, b, c):
    _map(_leaky_relu, x, y, a, b, c)


@njit(parallel=True, cache=True)
def gelu_cpu(x, y, a, b, c):
    _map(_gelu, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def gelu_tanh_cpu(x, y, a, b, c):
    _map(_gelu_tanh, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def silu_cpu(x, y, a, b, c):
    _map(_silu, x, y, a, b, c)


@njit(parallel=True, cache=True)
def elu_cpu(x, y, a, b, c):
    _map(_elu, x, y, a, b, c)


@njit(parallel=True, cache=True)
def hardtanh_cpu(x, y, a, b, c):
    _map(_hardtanh, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def softplus_cpu(x, y, a, b, c):
    _map(_softplus, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def hardsigmoid_cpu(x, y, a, b, c):
    _map(_hardsigmoid, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def hardswish_cpu(x, y, a, b, c):
    _map(_hardswish, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def mish_cpu(x, y, a, b, c):
    _map(_mish, x, y, a, b, c)


@cuda.jit(device=True)
def _activation_dev(op, y, i, v, a, b, c):
    # Each branch stores for itself so that integer relu stays integer.
    if op == RELU:
        y[i] = 0 if v <= 0 else v
    elif op == LEAKY_RELU:
        y[i] = v if v > 0 else v * a
    elif op == GELU:
        y[i] = v * 0.5 * (1 + math.erf(v * SQRT1_2))
    elif op == GELU_TANH:
        y[i] = 0.5 * v * (1 + math.tanh(GELU_TANH_BETA * (v + GELU_TANH_KAPPA * v * v * v)))
    elif op == SILU:
        y[i] = v / (1 + math.exp(-v))
    elif op == ELU:
        y[i] = math.expm1(v * c) * a if v <= 0 else v * b
    elif op == HARDTANH:
        t = a if v < a else v
        y[i] = b if t > b else t
    elif op == SOFTPLUS:
        y[i] = v if v * a > b else math.log1p(math.exp(v * a)) / a
    elif op == MISH:
        y[i] = v * math.tanh(math.log1p(math.exp(v)))
    else:
        t = v + 3
        t = 0 if t < 0 else t
        t = 6 if t > 6 else t
        y[i] = t / 6 if op == HARDSIGMOID else v * t / 6


@cuda.jit(cache=True)
def activation_cuda(x, y, a, b, c, op):
    n, i, step = y.size, cuda.grid(1), cuda.gridsize(1)
    while i + 3 * step < n:  # four loads in flight per thread (kernels/_loops.py)
        v0, v1, v2, v3 = x[i], x[i + step], x[i + 2 * step], x[i + 3 * step]
        _activation_dev(op, y, i, v0, a, b, c)
        _activation_dev(op, y, i + step, v1, a, b, c)
        _activation_dev(op, y, i + 2 * step, v2, a, b, c)
        _activation_dev(op, y, i + 3 * step, v3, a, b, c)
        i += 4 * step
    while i < n:
        _activation_dev(op, y, i, x[i], a, b, c)
        i += step


relu = KernelPair(relu_cpu, activation_cuda, RELU)
leaky_relu = KernelPair(leaky_relu_cpu, activation_cuda, LEAKY_RELU)
gelu = KernelPair(gelu_cpu, activation_cuda, GELU)
gelu_tanh = KernelPair(gelu_tanh_cpu, activation_cuda, GELU_TANH)
silu = KernelPair(silu_cpu, activation_cuda, SILU)
elu = KernelPair(elu_cpu, activation_cuda, ELU)
hardtanh = KernelPair(hardtanh_cpu, activation_cuda, HARDTANH)
softplus = KernelPair(softplus_cpu, activation_cuda, SOFTPLUS)
hardsigmoid = KernelPair(hardsigmoid_cpu, activation_cuda, HARDSIGMOID)
hardswish = KernelPair(hardswish_cpu, activation_cuda, HARDSWISH)
mish = KernelPair(mish_cpu, activation_cuda, MISH)


@njit(parallel=True, cache=True)
def relu_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_relu_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True)
def leaky_relu_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_leaky_relu_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True)
def gelu_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_gelu_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def gelu_tanh_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_gelu_tanh_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def silu_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_silu_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True)
def elu_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_elu_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True)
def hardtanh_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_hardtanh_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def softplus_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_softplus_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def hardsigmoid_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_hardsigmoid_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def hardswish_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_hardswish_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def mish_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_mish_bwd, g, s, gx, a, b, c)


@cuda.jit(device=True)
def _activation_bwd_dev(op, g, v, a, b, c):
    if op == RELU:
        return 0 if v <= 0 else g
    if op == LEAKY_RELU:
        return g if v > 0 else g * a
    if op == GELU:
        cdf = 0.5 * (1 + math.erf(v * SQRT1_2))
        return g * (cdf + v * GELU_PDF * math.exp(-0.5 * v * v))
    if op == GELU_TANH:
        t = math.tanh(GELU_TANH_BETA * (v + GELU_TANH_KAPPA * v * v * v))
        right = 0.5 * v * (1 - t * t) * GELU_TANH_BETA * (1 + 3 * GELU_TANH_KAPPA * v * v)
        return g * (0.5 * (1 + t) + right)
    if op == SILU:
        s = 1 / (1 + math.exp(-v))
        return g * s * (1 + v * (1 - s))
    if op == ELU:
        return g * c * a * math.exp(v * c) if v <= 0 else g * b
    if op == HARDTANH:
        return 0 if v <= a or v >= b else g
    if op == SOFTPLUS:
        z = math.exp(v * a)
        return g if v * a > b else g * z / (z + 1)
    if op == HARDSIGMOID:
        return g * ONE_SIXTH_F32 if v > -3 and v < 3 else 0
    if op == HARDSWISH:
        if v <= -3:
            return 0
        return g * (v / 3 + 0.5) if v < 3 else g
    s = 1 / (1 + math.exp(-v))
    t = math.tanh(math.log1p(math.exp(v)))
    return g * (t + v * s * (1 - t * t))


@cuda.jit(cache=True)
def activation_bwd_cuda(g, s, gx, a, b, c, op):
    n, i, step = gx.size, cuda.grid(1), cuda.gridsize(1)
    while i + 3 * step < n:  # four elements' loads in flight per thread (kernels/_loops.py)
        i1, i2, i3 = i + step, i + 2 * step, i + 3 * step
        g0, g1, g2, g3 = g[i], g[i1], g[i2], g[i3]
        s0, s1, s2, s3 = s[i], s[i1], s[i2], s[i3]
        gx[i] = _activation_bwd_dev(op, g0, s0, a, b, c)
        gx[i1] = _activation_bwd_dev(op, g1, s1, a, b, c)
        gx[i2] = _activation_bwd_dev(op, g2, s2, a, b, c)
        gx[i3] = _activation_bwd_dev(op, g3, s3, a, b, c)
        i += 4 * step
    while i < n:
        gx[i] = _activation_bwd_dev(op, g[i], s[i], a, b, c)
        i += step


relu_bwd = KernelPair(relu_bwd_cpu, activation_bwd_cuda, RELU)
leaky_relu_bwd = KernelPair(leaky_relu_bwd_cpu, activation_bwd_cuda, LEAKY_RELU)
gelu_bwd = KernelPair(gelu_bwd_cpu, activation_bwd_cuda, GELU)
gelu_tanh_bwd = KernelPair(gelu_tanh_bwd_cpu, activation_bwd_cuda, GELU_TANH)
silu_bwd = KernelPair(silu_bwd_cpu, activation_bwd_cuda, SILU)
elu_bwd = KernelPair(elu_bwd_cpu, activation_bwd_cuda, ELU)
hardtanh_bwd = KernelPair(hardtanh_bwd_cpu, activation_bwd_cuda, HARDTANH)
softplus_bwd = KernelPair(softplus_bwd_cpu, activation_bwd_cuda, SOFTPLUS)
hardsigmoid_bwd = KernelPair(hardsigmoid_bwd_cpu, activation_bwd_cuda, HARDSIGMOID)
hardswish_bwd = KernelPair(hardswish_bwd_cpu, activation_bwd_cuda, HARDSWISH)
mish_bwd = KernelPair(mish_bwd_cpu, activation_bwd_cuda, MISH)
