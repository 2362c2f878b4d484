"""Kernels that fill new tensors: fill, arange, linspace, eye."""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair

SERIAL_WORK = 1 << 15


@njit(parallel=True, cache=True)
def fill_cpu(out, value):
    if out.size <= SERIAL_WORK:
        for i in range(out.size):
            out[i] = value
    else:
        for i in prange(out.size):
            out[i] = value


@cuda.jit(cache=True)
def fill_cuda(out, value):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value


@njit(parallel=True, cache=True)
def arange_cpu(out, start, step):
    for i in prange(out.size):
        out[i] = start + i * step


@cuda.jit(cache=True)
def arange_cuda(out, start, step):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = start + i * step


@njit(parallel=True, cache=True)
def linspace_cpu(out, start, end):
    # Like torch: the first half steps up from start, the second half down from
    # end, so both endpoints are exact.
    n = out.size
    step = (end - start) / (n - 1) if n > 1 else 0.0
    half = n // 2
    for i in prange(n):
        out[i] = start + i * step if i < half else end - (n - 1 - i) * step


@cuda.jit(cache=True)
def linspace_cuda(out, start, end):
    n = out.size
    step = (end - start) / (n - 1) if n > 1 else 0.0
    half = n // 2
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[i] = start + i * step if i < half else end - (n - 1 - i) * step


@njit(parallel=True, cache=True)
def eye_cpu(out, cols):
    for i in prange(out.size):
        out[i] = 1 if i // cols == i % cols else 0


@cuda.jit(cache=True)
def eye_cuda(out, cols):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = 1 if i // cols == i % cols else 0


fill = KernelPair(fill_cpu, fill_cuda)
arange = KernelPair(arange_cpu, arange_cuda)
linspace = KernelPair(linspace_cpu, linspace_cuda)
eye = KernelPair(eye_cpu, eye_cuda)
