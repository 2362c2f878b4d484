"""Elementwise arctangent and its backward (complete-IoU's aspect-ratio term needs it), and
atan2's forward (rotated-box angles; its gradient is arithmetic, in nnlite/functional/atan.py).

atan forward takes (x, y); backward (grad, x, grad_input); atan2 (y, x, out): all flat
contiguous arrays of one size.
"""
import math

from numba import njit

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import pair_loop, unary_loop


@njit(inline="always")
def _atan(v):
    return math.atan(v)


@njit(inline="always")
def _atan_bwd(g, x):
    return g / (x * x + 1)          # d/dx atan(x) = 1 / (1 + x^2)


@njit(parallel=True, cache=True)
def atan_fwd_cpu(x, y):
    unary_loop(_atan, x, y)


@cuda.jit(cache=True)
def atan_fwd_cuda(x, y):
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        y[i] = math.atan(x[i])


@njit(parallel=True, cache=True)
def atan_bwd_cpu(g, x, gx):
    pair_loop(_atan_bwd, g, x, gx)


@cuda.jit(cache=True)
def atan_bwd_cuda(g, x, gx):
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[i] = g[i] / (x[i] * x[i] + 1)


@njit(inline="always")
def _atan2(y, x):
    return math.atan2(y, x)         # IEEE's signed zeros: atan2(-0.0, -1) = -pi


@njit(parallel=True, cache=True)
def atan2_fwd_cpu(y, x, out):
    pair_loop(_atan2, y, x, out)


@cuda.jit(cache=True)
def atan2_fwd_cuda(y, x, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = math.atan2(y[i], x[i])


atan_fwd = KernelPair(atan_fwd_cpu, atan_fwd_cuda)
atan2_fwd = KernelPair(atan2_fwd_cpu, atan2_fwd_cuda)
atan_bwd = KernelPair(atan_bwd_cpu, atan_bwd_cuda)
