"""The matrix-product primitive that linear, conv2d, bmm and attention build on.

CPU: BLAS through numpy (sgemm/dgemm; Numba's own loops reach a fraction of
its speed), run as single-threaded slices, one or two per core (see
`_cpu_matmul`). CUDA: a tiled shared-memory kernel, one TILE x TILE
output tile per block, looping over tiles of K, with a grid-stride loop over
(batch, tile row, tile column) so the launch helper may cap the grid.

`matmul(a, b, out)` takes 3-D arrays (batch, M, K) @ (batch, K, N) -> (batch, M, N)
of any strides (transposed views need no copy), or 2-D arrays.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import float32, float64, get_num_threads

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


# ---------------------------------------------------------------- CPU: BLAS in slices
# Multithreaded OpenBLAS synchronises its threads inside every call, and its
# threads take turns with Numba's on the same cores (conv2d alternates kernels
# and GEMMs). Splitting a product into single-threaded GEMMs, a couple per
# core, run from a small thread pool (numpy releases the GIL), needs one join
# instead: conv2d forward+backward ran 25-30% faster on an idle 2-core
# machine and 3-10x faster on a loaded one. BLAS is pinned to one thread
# meanwhile through threadpoolctl.

SPLIT_MIN_OUTPUT = 1 << 16  # smaller products run as one plain numpy matmul
_blas = None                # threadpoolctl.ThreadpoolController, or False without it
_pool = None                # (threads, ThreadPoolExecutor)
_blas_lock = threading.Lock()  # BLAS's thread count is process-wide: one split product at a time


def _blas_controller():
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController()
        except ImportError:
            _blas = False
    return _blas


def _slices(a, b, out, parts):
    """(a, b, out) views that split one product into at most `parts` independent ones:
    along the batch, else along the longer side of the output."""
    if len(out.shape) == 3 and out.shape[0] > 1:
        parts = min(parts, out.shape[0])
        edges = [out.shape[0] * i // parts for i in range(parts + 1)]
        return [(a[lo:hi], b[lo:hi], out[lo:hi]) for lo, hi in zip(edges, edges[1:])]
    if len(out.shape) == 3:
        a, b, out = a[0], b[0], out[0]
    m, n = out.shape
    edges = [max(m, n) * i // parts for i in range(parts + 1)]
    if n >= m:
        return [(a, b[:, lo:hi], out[:, lo:hi]) for lo, hi in zip(edges, edges[1:])]
    return [(a[lo:hi], b, out[lo:hi]) for lo, hi in zip(edges, edges[1:])]


def _cpu_matmul(a, b, out):
    """out = a @ b for numpy arrays; the cores pull slices as they free up, so a
    core that another process slows down takes fewer of them."""
    global _pool
    cores = get_num_threads()
    blas = _blas_controller()
    if cores < 2 or not blas or out.size < SPLIT_MIN_OUTPUT or len(out.shape) not in (2, 3):
        np.matmul(a, b, out=out)
        return
    if _pool is None or _pool[0] < cores:
        _pool = (cores, ThreadPoolExecutor(cores, thread_name_prefix="nnlite-gemm"))
    with _blas_lock, blas.limit(limits=1, user_api="blas"):
        for job in [_pool[1].submit(np.matmul, *part) for part in _slices(a, b, out, 2 * cores)]:
            job.result()


def matmul(a, b, out):
    """out = a @ b for 2-D or 3-D arrays of any strides on one device."""
    if type(a) is np.ndarray:
        _cpu_matmul(a, b, out)
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
