"""nnlite.kernels: CPU/CUDA kernel pairs, and what you need to write your own.

Write a CPU kernel with `@numba.njit(parallel=True, cache=True)` and its CUDA
twin with `@cuda.jit(cache=True)` (the `cuda` below defers importing
numba.cuda until a kernel actually runs on a GPU), pair them with
`KernelPair(cpu, cuda)` and call the pair with arrays or contiguous tensors;
it runs on the device the data lives on. See examples/custom_kernel.py.

The family modules (`nnlite.kernels.unary`, ...) load on first use.
"""
from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ..backend.launch import grid_1d, grid_blocks

__all__ = ["cuda", "KernelPair", "grid_1d", "grid_blocks"]
