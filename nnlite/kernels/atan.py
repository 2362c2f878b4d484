"""Elementwise arctangent and its backward (complete-IoU's aspect-ratio term needs it).

Forward takes (x, y); backward takes (grad, x, grad_input); all flat contiguous arrays
of one size.
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


atan_fwd = KernelPair(atan_fwd_cpu, atan_fwd_cuda)
atan_bwd = KernelPair(atan_bwd_cpu, atan_bwd_cuda)
