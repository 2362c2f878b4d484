"""The matrix-product primitive that linear, conv2d, bmm and attention build on.

CPU: BLAS through numpy (multithreaded sgemm/dgemm; Numba's own loops reach a
fraction of its speed). CUDA: a tiled shared-memory kernel, one TILE x TILE
output tile per block, looping over tiles of K, with a grid-stride loop over
(batch, tile row, tile column) so the launch helper may cap the grid.

`matmul(a, b, out)` takes 3-D arrays (batch, M, K) @ (batch, K, N) -> (batch, M, N)
of any strides (transposed views need no copy), or 2-D arrays.
"""
import numpy as np
from numba import float32, float64

from ..backend.cuda import SIMULATOR, compiled, cuda
from ..backend.launch import grid_blocks

TILE = 4 if SIMULATOR else 16  # the simulator runs one Python thread per GPU thread


@cuda.jit(device=True)
def _gemm_tiles(a, b, out, ta, tb, zero):
    nb, m, k = a.shape
    n = b.shape[2]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    rows = (m + TILE - 1) // TILE
    cols = (n + TILE - 1) // TILE
    for blk in range(cuda.blockIdx.x, nb * rows * cols, cuda.gridDim.x):
        batch = blk // (rows * cols)
        r = (blk // cols) % rows
        c = blk % cols
        i = r * TILE + ty
        j = c * TILE + tx
        acc = zero  # accumulate in the output's precision
        for k0 in range(0, k, TILE):
            # stage one tile of a and of b in shared memory (zeros past the edges)
            ta[ty, tx] = a[batch, i, k0 + tx] if i < m and k0 + tx < k else 0
            tb[ty, tx] = b[batch, k0 + ty, j] if k0 + ty < k and j < n else 0
            cuda.syncthreads()
            for kk in range(TILE):
                acc += ta[ty, kk] * tb[kk, tx]
            cuda.syncthreads()
        if i < m and j < n:
            out[batch, i, j] = acc


@cuda.jit(cache=True)
def matmul_f32_cuda(a, b, out):
    ta = cuda.shared.array((TILE, TILE), float32)
    tb = cuda.shared.array((TILE, TILE), float32)
    _gemm_tiles(a, b, out, ta, tb, float32(0))


@cuda.jit(cache=True)
def matmul_f64_cuda(a, b, out):
    ta = cuda.shared.array((TILE, TILE), float64)
    tb = cuda.shared.array((TILE, TILE), float64)
    _gemm_tiles(a, b, out, ta, tb, float64(0))


def matmul(a, b, out):
    """out = a @ b for 2-D or 3-D arrays on one device (out is C-contiguous)."""
    if type(a) is np.ndarray:
        np.matmul(a, b, out=out)
        return out
    if len(a.shape) == 2:
        from ..backend.memory import device_view
        a, b, out3 = (device_view(x, (1,) + tuple(x.shape), (0,) + tuple(x.strides)) for x in (a, b, out))
        matmul(a, b, out3)
        return out
    if a.dtype == np.float32:
        kernel = matmul_f32_cuda
    elif a.dtype == np.float64:
        kernel = matmul_f64_cuda
    else:
        raise TypeError(f"matmul on CUDA supports float32 and float64, got {a.dtype}")
    nb, m, _ = a.shape
    n = b.shape[2]
    blocks = nb * ((m + TILE - 1) // TILE) * ((n + TILE - 1) // TILE)
    if blocks:
        grid, _threads = grid_blocks(blocks, TILE * TILE)
        compiled(kernel)[grid, (TILE, TILE)](a, b, out)
    return out
