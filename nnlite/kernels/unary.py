"""Pointwise unary kernels, forward and backward.

Forward kernels take (x, y) and backward kernels (grad, saved, grad_input),
all flat contiguous arrays of one size. The functional layer has already cast
integer inputs of floating ops to the default float dtype.
"""
import math

import numpy as np
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK, pair_loop, unary_loop
from .fastmath import fexp, ftanh, like


# ---------------------------------------------------------------- scalar math

@njit(inline="always")
def _neg(v):
    return -v


@njit(inline="always")
def _abs(v):
    return abs(v)


@njit(inline="always")
def _exp(v):
    return fexp(v)


@njit(inline="always")
def _log(v):
    return math.log(v)


@njit(inline="always")
def _log1p(v):
    return math.log1p(v)


@njit(inline="always")
def _expm1(v):
    return math.expm1(v)


@njit(inline="always")
def _sqrt(v):
    return math.sqrt(v)


@njit(inline="always")
def _rsqrt(v):
    return like(v, 1) / math.sqrt(v)


@njit(inline="always")
def _sin(v):
    return math.sin(v)


@njit(inline="always")
def _cos(v):
    return math.cos(v)


@njit(inline="always")
def _tanh(v):
    return ftanh(v)


@njit(inline="always")
def _sigmoid(v):
    return like(v, 1) / (like(v, 1) + fexp(-v))


@njit(inline="always")
def _sign(v):
    return 1 if v > 0 else (-1 if v < 0 else 0)  # NaN gives 0, as torch.sign


@njit(inline="always")
def _floor(v):
    return np.floor(v)  # math.floor returns an int and would turn NaN/inf into garbage


@njit(inline="always")
def _ceil(v):
    return np.ceil(v)


@njit(inline="always")
def _round(v):
    return np.rint(v)  # half to even, as torch.round


@njit(inline="always")
def _logical_not(v):
    return not v


# ---------------------------------------------------------------- forward
# Op codes of the shared CUDA kernel (CPU kernels are one per op).
(NEG, ABS, EXP, LOG, LOG1P, EXPM1, SQRT, RSQRT, SIN, COS, TANH, SIGMOID, SIGN,
 FLOOR, CEIL, ROUND, LOGICAL_NOT) = range(17)


@cuda.jit(device=True)
def _unary_dev(op, y, i, v):
    # Each branch stores for itself, so no return types are unified. The
    # guards give IEEE results where Python's math module (which the CUDA
    # simulator runs) would raise; on a GPU they cost a compare.
    if op == NEG:
        y[i] = -v
    elif op == ABS:
        y[i] = abs(v)
    elif op == EXP:
        y[i] = math.exp(v) if not v >= 709.0 else math.inf  # (NaN passes)
    elif op == LOG:
        y[i] = math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)
    elif op == LOG1P:
        y[i] = math.log1p(v) if v > -1 else (-math.inf if v == -1 else math.nan)
    elif op == EXPM1:
        y[i] = math.expm1(v) if not v >= 709.0 else math.inf
    elif op == SQRT:
        y[i] = math.sqrt(v) if v >= 0 else math.nan
    elif op == RSQRT:
        y[i] = 1 / math.sqrt(v) if v > 0 else (math.copysign(math.inf, v) if v == 0 else math.nan)
    elif op == SIN:
        y[i] = math.sin(v) if not math.isinf(v) else math.nan
    elif op == COS:
        y[i] = math.cos(v) if not math.isinf(v) else math.nan
    elif op == TANH:
        y[i] = math.tanh(v)
    elif op == SIGMOID:
        y[i] = 1 / (1 + math.exp(-v)) if not v <= -709.0 else 0.0
    elif op == SIGN:
        y[i] = 1 if v > 0 else (-1 if v < 0 else 0)
    elif op == FLOOR:
        y[i] = math.floor(v) if abs(v) < 4503599627370496.0 else v  # |v| >= 2**52: integral already
    elif op == CEIL:
        y[i] = math.ceil(v) if abs(v) < 4503599627370496.0 else v
    elif op == ROUND:
        r = math.floor(v + 0.5) if abs(v) < 4503599627370496.0 else v
        if r - v == 0.5 and r % 2 != 0:  # halfway: to even, as torch.round
            r -= 1
        y[i] = r
    else:
        y[i] = not v


@cuda.jit(cache=True)
def unary_cuda(x, y, op):
    n, i, step = y.size, cuda.grid(1), cuda.gridsize(1)
    while i + 3 * step < n:  # four loads in flight per thread (kernels/_loops.py)
        v0, v1, v2, v3 = x[i], x[i + step], x[i + 2 * step], x[i + 3 * step]
        _unary_dev(op, y, i, v0)
        _unary_dev(op, y, i + step, v1)
        _unary_dev(op, y, i + 2 * step, v2)
        _unary_dev(op, y, i + 3 * step, v3)
        i += 4 * step
    while i < n:
        _unary_dev(op, y, i, x[i])
        i += step


@njit(parallel=True, cache=True)
def neg_cpu(x, y):
    unary_loop(_neg, x, y)


@njit(parallel=True, cache=True)
def abs_cpu(x, y):
    unary_loop(_abs, x, y)


@njit(parallel=True, cache=True)
def exp_cpu(x, y):
    unary_loop(_exp, x, y)


@njit(parallel=True, cache=True)
def log_cpu(x, y):
    unary_loop(_log, x, y)


@njit(parallel=True, cache=True)
def log1p_cpu(x, y):
    unary_loop(_log1p, x, y)


@njit(parallel=True, cache=True)
def expm1_cpu(x, y):
    unary_loop(_expm1, x, y)


@njit(parallel=True, cache=True)
def sqrt_cpu(x, y):
    unary_loop(_sqrt, x, y)


@njit(parallel=True, cache=True, error_model="numpy")
def rsqrt_cpu(x, y):
    unary_loop(_rsqrt, x, y)


@njit(parallel=True, cache=True)
def sin_cpu(x, y):
    unary_loop(_sin, x, y)


@njit(parallel=True, cache=True)
def cos_cpu(x, y):
    unary_loop(_cos, x, y)


@njit(parallel=True, cache=True, error_model="numpy")
def tanh_cpu(x, y):
    unary_loop(_tanh, x, y)


@njit(parallel=True, cache=True, error_model="numpy")
def sigmoid_cpu(x, y):
    unary_loop(_sigmoid, x, y)


@njit(parallel=True, cache=True)
def sign_cpu(x, y):
    unary_loop(_sign, x, y)


@njit(parallel=True, cache=True)
def floor_cpu(x, y):
    unary_loop(_floor, x, y)


@njit(parallel=True, cache=True)
def ceil_cpu(x, y):
    unary_loop(_ceil, x, y)


@njit(parallel=True, cache=True)
def round_cpu(x, y):
    unary_loop(_round, x, y)


@njit(parallel=True, cache=True)
def logical_not_cpu(x, y):
    unary_loop(_logical_not, x, y)


neg = KernelPair(neg_cpu, unary_cuda, NEG)
abs_ = KernelPair(abs_cpu, unary_cuda, ABS)
exp = KernelPair(exp_cpu, unary_cuda, EXP)
log = KernelPair(log_cpu, unary_cuda, LOG)
log1p = KernelPair(log1p_cpu, unary_cuda, LOG1P)
expm1 = KernelPair(expm1_cpu, unary_cuda, EXPM1)
sqrt = KernelPair(sqrt_cpu, unary_cuda, SQRT)
rsqrt = KernelPair(rsqrt_cpu, unary_cuda, RSQRT)
sin = KernelPair(sin_cpu, unary_cuda, SIN)
cos = KernelPair(cos_cpu, unary_cuda, COS)
tanh = KernelPair(tanh_cpu, unary_cuda, TANH)
sigmoid = KernelPair(sigmoid_cpu, unary_cuda, SIGMOID)
sign = KernelPair(sign_cpu, unary_cuda, SIGN)
floor = KernelPair(floor_cpu, unary_cuda, FLOOR)
ceil = KernelPair(ceil_cpu, unary_cuda, CEIL)
round_ = KernelPair(round_cpu, unary_cuda, ROUND)
logical_not = KernelPair(logical_not_cpu, unary_cuda, LOGICAL_NOT)


# ---------------------------------------------------------------- backward
# Each takes (grad, saved, grad_input); `saved` is the input x or the output y,
# whichever the derivative is cheaper in.


@njit(inline="always")
def _abs_bwd(g, x):
    return g * (1 if x > 0 else (-1 if x < 0 else 0))


@njit(inline="always")
def _mul_by(g, s):
    return g * s


@njit(inline="always")
def _div_by(g, x):
    return g / x


@njit(inline="always")
def _log1p_bwd(g, x):
    return g / (x + like(x, 1))


@njit(inline="always")
def _expm1_bwd(g, y):
    return g * (y + like(y, 1))


@njit(inline="always")
def _sqrt_bwd(g, y):
    return g / (y + y)


@njit(inline="always")
def _rsqrt_bwd(g, y):
    return like(g, -0.5) * g * y * y * y


@njit(inline="always")
def _sin_bwd(g, x):
    return g * math.cos(x)


@njit(inline="always")
def _cos_bwd(g, x):
    return -g * math.sin(x)


@njit(inline="always")
def _tanh_bwd(g, y):
    return g * (like(y, 1) - y * y)


@njit(inline="always")
def _sigmoid_bwd(g, y):
    return g * y * (like(y, 1) - y)


(ABS_BWD, MUL_SAME, DIV_SAME, LOG1P_BWD, EXPM1_BWD, SQRT_BWD, RSQRT_BWD, SIN_BWD,
 COS_BWD, TANH_BWD, SIGMOID_BWD) = range(11)


@cuda.jit(device=True)
def _backward_dev(op, g, s):
    if op == ABS_BWD:
        return g * (1 if s > 0 else (-1 if s < 0 else 0))
    if op == MUL_SAME:
        return g * s
    if op == DIV_SAME:
        return g / s
    if op == LOG1P_BWD:
        return g / (s + 1)
    if op == EXPM1_BWD:
        return g * (s + 1)
    if op == SQRT_BWD:
        return g / (s + s)
    if op == RSQRT_BWD:
        return -0.5 * g * s * s * s
    if op == SIN_BWD:
        return g * math.cos(s)
    if op == COS_BWD:
        return -g * math.sin(s)
    if op == TANH_BWD:
        return g * (1 - s * s)
    return g * s * (1 - s)


@cuda.jit(cache=True)
def unary_bwd_cuda(g, s, gx, op):
    n, i, step = gx.size, cuda.grid(1), cuda.gridsize(1)
    while i + 3 * step < n:  # four elements' loads in flight per thread (kernels/_loops.py)
        i1, i2, i3 = i + step, i + 2 * step, i + 3 * step
        g0, g1, g2, g3 = g[i], g[i1], g[i2], g[i3]
        s0, s1, s2, s3 = s[i], s[i1], s[i2], s[i3]
        gx[i] = _backward_dev(op, g0, s0)
        gx[i1] = _backward_dev(op, g1, s1)
        gx[i2] = _backward_dev(op, g2, s2)
        gx[i3] = _backward_dev(op, g3, s3)
        i += 4 * step
    while i < n:
        gx[i] = _backward_dev(op, g[i], s[i])
        i += step


@njit(parallel=True, cache=True)
def abs_bwd_cpu(g, s, gx):
    pair_loop(_abs_bwd, g, s, gx)


@njit(parallel=True, cache=True)
def mul_same_cpu(g, s, gx):
    pair_loop(_mul_by, g, s, gx)


@njit(parallel=True, cache=True, error_model="numpy")
def div_same_cpu(g, s, gx):
    pair_loop(_div_by, g, s, gx)


@njit(parallel=True, cache=True, error_model="numpy")
def log1p_bwd_cpu(g, s, gx):
    pair_loop(_log1p_bwd, g, s, gx)


@njit(parallel=True, cache=True)
def expm1_bwd_cpu(g, s, gx):
    pair_loop(_expm1_bwd, g, s, gx)


@njit(parallel=True, cache=True, error_model="numpy")
def sqrt_bwd_cpu(g, s, gx):
    pair_loop(_sqrt_bwd, g, s, gx)


@njit(parallel=True, cache=True)
def rsqrt_bwd_cpu(g, s, gx):
    pair_loop(_rsqrt_bwd, g, s, gx)


@njit(parallel=True, cache=True)
def sin_bwd_cpu(g, s, gx):
    pair_loop(_sin_bwd, g, s, gx)


@njit(parallel=True, cache=True)
def cos_bwd_cpu(g, s, gx):
    pair_loop(_cos_bwd, g, s, gx)


@njit(parallel=True, cache=True)
def tanh_bwd_cpu(g, s, gx):
    pair_loop(_tanh_bwd, g, s, gx)


@njit(parallel=True, cache=True)
def sigmoid_bwd_cpu(g, s, gx):
    pair_loop(_sigmoid_bwd, g, s, gx)


abs_bwd = KernelPair(abs_bwd_cpu, unary_bwd_cuda, ABS_BWD)
mul_same = KernelPair(mul_same_cpu, unary_bwd_cuda, MUL_SAME)
div_same = KernelPair(div_same_cpu, unary_bwd_cuda, DIV_SAME)
log1p_bwd = KernelPair(log1p_bwd_cpu, unary_bwd_cuda, LOG1P_BWD)
expm1_bwd = KernelPair(expm1_bwd_cpu, unary_bwd_cuda, EXPM1_BWD)
sqrt_bwd = KernelPair(sqrt_bwd_cpu, unary_bwd_cuda, SQRT_BWD)
rsqrt_bwd = KernelPair(rsqrt_bwd_cpu, unary_bwd_cuda, RSQRT_BWD)
sin_bwd = KernelPair(sin_bwd_cpu, unary_bwd_cuda, SIN_BWD)
cos_bwd = KernelPair(cos_bwd_cpu, unary_bwd_cuda, COS_BWD)
tanh_bwd = KernelPair(tanh_bwd_cpu, unary_bwd_cuda, TANH_BWD)
sigmoid_bwd = KernelPair(sigmoid_bwd_cpu, unary_bwd_cuda, SIGMOID_BWD)


# ---------------------------------------------------------------- clamp
# torch.clamp is min(max(x, lo), hi): NaN passes through, and lo > hi gives hi.

@njit(inline="always")
def _clamp(v, lo, hi):
    v = lo if v < lo else v
    return hi if v > hi else v


@njit(parallel=True, cache=True)
def clamp_cpu(x, y, lo, hi):
    if y.size <= SERIAL_WORK:
        for i in range(y.size):
            y[i] = _clamp(x[i], lo, hi)
    else:
        for i in prange(y.size):
            y[i] = _clamp(x[i], lo, hi)


@cuda.jit(cache=True)
def clamp_cuda(x, y, lo, hi):
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        y[i] = _clamp(x[i], lo, hi)


@njit(parallel=True, cache=True)
def clamp_bwd_cpu(g, x, gx, lo, hi):
    if gx.size <= SERIAL_WORK:
        for i in range(gx.size):
            gx[i] = g[i] if lo <= x[i] <= hi else 0
    else:
        for i in prange(gx.size):
            gx[i] = g[i] if lo <= x[i] <= hi else 0


@cuda.jit(cache=True)
def clamp_bwd_cuda(g, x, gx, lo, hi):
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[i] = g[i] if lo <= x[i] <= hi else 0


clamp = KernelPair(clamp_cpu, clamp_cuda)
clamp_bwd = KernelPair(clamp_bwd_cpu, clamp_bwd_cuda)
