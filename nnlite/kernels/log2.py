"""log2 forward and backward kernels (flat contiguous arrays of one size).

math.log2 rather than log(x) / ln 2, so powers of two give exact integers as in torch.
"""
import math

from numba import njit

from ..backend.cuda import SIMULATOR, cuda, libdevice
from ..backend.kernel_pair import KernelPair
from ._loops import pair_loop, unary_loop


@njit(inline="always")
def _log2(v):
    return math.log2(v)


@njit(inline="always")
def _log2_bwd(g, x):
    return g / (x * 0.6931471805599453)  # d/dx log2(x) = 1 / (x ln 2)


@njit(parallel=True, cache=True)
def log2_fwd_cpu(x, y):
    unary_loop(_log2, x, y)


@cuda.jit(cache=True)
def log2_fwd_cuda(x, y):
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        v = x[i]
        # libdevice's log2 (numba-cuda lowers math.log2 of a float64 with a rounding error:
        # log2(8) came out 2.9999999999999996 on an H200); float32 values go through it
        # in float64 too, exact on powers of two and correctly rounded on the store.
        # The simulator has no libdevice (its stubs return None): Python's math.log2 there.
        # The guards give IEEE results where the simulator's Python math would raise.
        if v > 0:
            y[i] = math.log2(v) if SIMULATOR else libdevice.log2(v)
        else:
            y[i] = -math.inf if v == 0 else math.nan


@njit(parallel=True, cache=True)
def log2_bwd_cpu(g, x, gx):
    pair_loop(_log2_bwd, g, x, gx)


@cuda.jit(cache=True)
def log2_bwd_cuda(g, x, gx):
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[i] = g[i] / (x[i] * 0.6931471805599453)


log2_fwd = KernelPair(log2_fwd_cpu, log2_fwd_cuda)
log2_bwd = KernelPair(log2_bwd_cpu, log2_bwd_cuda)
