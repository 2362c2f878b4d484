"""The matrix-product primitive that linear, conv2d, bmm and attention build on.

CPU: numpy's BLAS (sgemm/dgemm; Numba's own loops reach a fraction of its
speed), run as single-threaded slices, one or two per core, called from
Numba's threads where it can (see `_cpu_matmul`). CUDA: cuBLAS's strided-batched
GEMM where NVIDIA's library is installed (backend/cublas.py; one call for the
whole batch, transposed views passed as transposes), else a tiled shared-memory
kernel, one TILE x TILE output tile per block, looping over tiles of K, with a
grid-stride loop over (batch, tile row, tile column) so the launch helper may
cap the grid.

`matmul(a, b, out)` takes 3-D arrays (batch, M, K) @ (batch, K, N) -> (batch, M, N)
of any strides (transposed views need no copy), or 2-D arrays.
"""
import ctypes
import threading
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import float32, float64, get_num_threads, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..backend import cublas
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
# and GEMMs). So a product is cut into single-threaded GEMMs, a couple per
# core (BLAS pinned to one thread meanwhile through threadpoolctl): conv2d
# forward+backward ran 25-30% faster on an idle 2-core machine and 3-10x
# faster on a loaded one.
#
# The slices run on Numba's own OpenMP threads, which call numpy's OpenBLAS
# directly: one thread pool for kernels and GEMMs, so no idle worker spins
# while another pool's threads need its core. That matters most when torch
# was imported first and Numba runs on torch's OpenMP runtime, loaded with a
# long spin: a (8,256,14,14) conv2d step took 33 ms with a separate pool and
# 21 ms this way. Where numpy's BLAS is not an ILP64 OpenBLAS (conda's MKL,
# Apple's Accelerate), a small Python thread pool runs the slices (numpy
# releases the GIL).

SPLIT_MIN_OUTPUT = 1 << 16  # smaller products run as one plain numpy matmul
_blas = None                # threadpoolctl.ThreadpoolController, or False without it
_gemm_dtypes = None         # dtypes whose BLAS GEMM Numba's threads can call
_pool = None                # (threads, ThreadPoolExecutor)
_blas_lock = threading.Lock()  # BLAS's thread count is process-wide: one split product at a time

_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS = 101, 111  # CBLAS enums; transposed is _CBLAS_NO_TRANS + 1


@intrinsic
def cblas_gemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """c = alpha * a @ b + beta * c for 2-D row-major matrices, by the BLAS GEMM registered
    under nnlite_cblas_sgemm / nnlite_cblas_dgemm (ILP64: 64-bit sizes), callable from Numba
    kernels (hold `blas_on_numba_threads` around them). a, b and c are arrays whose first
    element starts the matrix; lda, ldb, ldc their row strides; trans_* 1 reads that operand
    transposed. alpha folds a scale into the product, beta = 1 accumulates into c."""
    sig = types.void(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        dtype = signature.args[11].dtype
        real = ir.FloatType() if dtype == types.float32 else ir.DoubleType()
        ptr = real.as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real, ptr, i64, ptr, i64,
                                               real, ptr, i64])
        gemm = cgutils.get_or_insert_function(builder.module, fnty,
                                              "nnlite_cblas_sgemm" if dtype == types.float32 else "nnlite_cblas_dgemm")
        size = {i: context.cast(builder, args[i], signature.args[i], types.int64) for i in (0, 1, 2, 3, 4, 7, 9, 12)}
        scalar = {i: context.cast(builder, args[i], signature.args[i], dtype) for i in (5, 10)}
        trans = [builder.trunc(builder.add(size[i], i64(_CBLAS_NO_TRANS)), i32) for i in (0, 1)]
        data = [context.make_array(signature.args[i])(context, builder, args[i]).data for i in (6, 8, 11)]
        builder.call(gemm, [i32(_CBLAS_ROW_MAJOR), *trans, size[2], size[3], size[4], scalar[5], data[0],
                            size[7], data[1], size[9], scalar[10], data[2], size[12]])
        return context.get_dummy_value()
    return sig, codegen


@njit(inline="always")
def _cblas_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc):
    """c = a @ b (cblas_gemm with alpha 1, beta 0)."""
    cblas_gemm(trans_a, trans_b, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)


@njit(inline="always")
def cblas_gemm_add(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc):
    """c += a @ b (cblas_gemm with alpha 1, beta 1)."""
    cblas_gemm(trans_a, trans_b, m, n, k, 1, a, lda, b, ldb, 1, c, ldc)


@njit(parallel=True, nogil=True, cache=True)
def gemm_slices_cpu(a, b, out, trans_a, lda, trans_b, ldb, parts):
    """out[i] = a[i] @ b[i], cut into about `parts` blocks (whole matrices, else
    row or column blocks of each), one BLAS call per block from Numba's threads."""
    nb, m, n = out.shape
    k = a.shape[2]
    ldc = out.strides[1] // out.itemsize
    per = (parts + nb - 1) // nb  # blocks per matrix
    for s in prange(nb * per):
        i, j = s // per, s % per
        if m >= n:
            lo, hi = m * j // per, m * (j + 1) // per
            if hi > lo:
                _cblas_gemm(trans_a, trans_b, hi - lo, n, k, a[i, lo:hi], lda, b[i], ldb, out[i, lo:hi], ldc)
        else:
            lo, hi = n * j // per, n * (j + 1) // per
            if hi > lo:
                _cblas_gemm(trans_a, trans_b, m, hi - lo, k, a[i], lda, b[i, :, lo:hi], ldb, out[i, :, lo:hi], ldc)


def _blas_controller():
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController()
        except ImportError:
            _blas = False
    return _blas


def _numba_gemm_dtypes():
    """Hands numpy's ILP64 OpenBLAS sgemm/dgemm to LLVM under nnlite's names
    (once); returns the dtypes that worked."""
    global _gemm_dtypes
    if _gemm_dtypes is None:
        _gemm_dtypes = set()
        blas = _blas_controller()
        for lib in blas.lib_controllers if blas else ():
            if lib.internal_api != "openblas" or _gemm_dtypes:
                continue
            dll = ctypes.CDLL(lib.filepath)
            for dtype, name in ((np.float32, "sgemm"), (np.float64, "dgemm")):
                found = [f for f in (getattr(dll, f"{p}cblas_{name}64_", None) for p in ("scipy_", "")) if f]
                if found:
                    llvm.add_symbol(f"nnlite_cblas_{name}", ctypes.cast(found[0], ctypes.c_void_p).value)
                    _gemm_dtypes.add(np.dtype(dtype))
    return _gemm_dtypes


def can_call_blas(dtype):
    """Whether Numba kernels can call BLAS's GEMM for this dtype (numpy's OpenBLAS found)."""
    return bool(_blas_controller()) and np.dtype(dtype) in _numba_gemm_dtypes()


@contextmanager
def blas_on_numba_threads(dtype):
    """For kernels that call _cblas_gemm / cblas_gemm_add from their prange loops: yields
    True with BLAS held to one thread per caller (its thread count is process-wide, hence the
    lock), or False where BLAS cannot be called from Numba for this dtype."""
    blas = _blas_controller()
    if not can_call_blas(dtype):
        yield False
        return
    with _blas_lock, blas.limit(limits=1, user_api="blas"):
        yield True


def _row_major(x):
    """(transposed, leading dimension) of a stack of matrices as BLAS sees it, or
    None when neither of its last two axes has unit stride."""
    rows, cols = (st // x.dtype.itemsize for st in x.strides[-2:])  # (device arrays have no .itemsize)
    # a single row or column: that stride is never stepped, so any valid one will do
    if x.shape[-1] == 1:
        cols = 1
    if x.shape[-2] == 1:
        rows = max(1, x.shape[-1]) if cols == 1 else 1
    if cols == 1 and rows >= max(1, x.shape[-1]):
        return 0, rows
    if rows == 1 and cols >= max(1, x.shape[-2]):
        return 1, cols
    return None


def _gemm_on_numba_threads(a, b, out, parts):
    """Runs out = a @ b as gemm_slices_cpu if BLAS and the layouts allow; True if it did."""
    if out.dtype not in _numba_gemm_dtypes() or a.dtype != out.dtype or b.dtype != out.dtype:
        return False
    if len(out.shape) == 2:
        a, b, out = a[None], b[None], out[None]
    if 0 in out.shape or a.shape[2] == 0 or any(st % out.itemsize for x in (a, b, out) for st in x.strides):
        return False
    layout_a, layout_b = _row_major(a), _row_major(b)
    if layout_a is None or layout_b is None or _row_major(out) != (0, out.strides[1] // out.itemsize):
        return False
    gemm_slices_cpu(a, b, out, *layout_a, *layout_b, parts)
    return True


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
    """out = a @ b for numpy arrays, in single-threaded BLAS slices over the cores."""
    global _pool
    cores = get_num_threads()
    blas = _blas_controller()
    if cores < 2 or not blas or len(out.shape) not in (2, 3):
        np.matmul(a, b, out=out)
        return
    with _blas_lock, blas.limit(limits=1, user_api="blas"):
        if out.size < SPLIT_MIN_OUTPUT:
            # Small products on one BLAS thread too: OpenBLAS's own threads would wake for
            # them, then spin and take the cores from Numba's next kernel (ResNet-18 batch-1
            # inference on 2 threads: 88-100 ms -> 33-40 ms; 46 ms on 1 thread).
            np.matmul(a, b, out=out)
            return
        if _gemm_on_numba_threads(a, b, out, 2 * cores):
            return
        # the cores pull slices as they free up, so a core that another process
        # slows down takes fewer of them
        if _pool is None or _pool[0] < cores:
            _pool = (cores, ThreadPoolExecutor(cores, thread_name_prefix="nnlite-gemm"))
        for job in [_pool[1].submit(np.matmul, *part) for part in _slices(a, b, out, 2 * cores)]:
            job.result()


def _cublas_matmul(a, b, out):
    """out = a @ b for 3-D device arrays through cuBLAS; False when the layouts or
    sizes do not fit it (then the tiled kernel runs)."""
    nb, m, k = a.shape
    n = b.shape[2]
    size = out.dtype.itemsize
    if 0 in (nb, m, n, k) or any(st % size for x in (a, b, out) for st in x.strides):
        return False
    layout_a, layout_b, layout_out = _row_major(a), _row_major(b), _row_major(out)
    if layout_a is None or layout_b is None or layout_out is None or layout_out[0]:
        return False
    # Row-major out = a @ b is column-major out^T = b^T @ a^T: cuBLAS sees b first,
    # and a row-major matrix's transposed flag is cuBLAS's op on it.
    (trans_a, lda), (trans_b, ldb), (_, ldc) = layout_a, layout_b, layout_out
    return cublas.gemm_strided_batched(
        out.gpu_data.context, out.dtype == np.float64, cublas.OP_T if trans_b else cublas.OP_N, cublas.OP_T if trans_a else cublas.OP_N,
        n, m, k, b.device_ctypes_pointer.value, ldb, b.strides[0] // size,
        a.device_ctypes_pointer.value, lda, a.strides[0] // size,
        out.device_ctypes_pointer.value, ldc, out.strides[0] // size, nb)


def matmul_tiled(a, b, out):
    """out = a @ b for 3-D float32/float64 device arrays by the tiled kernel."""
    kernel = matmul_f64_cuda if a.dtype == np.float64 else matmul_f32_cuda
    nb, m, _ = a.shape
    n = b.shape[2]
    blocks = nb * ((m + TILE - 1) // TILE) * ((n + TILE - 1) // TILE)
    if blocks:
        grid, _threads = grid_blocks(blocks, TILE * TILE)
        compiled(kernel)[grid, (TILE, TILE)](a, b, out)
    return out


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
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"matmul on CUDA supports float32 and float64, got {a.dtype}")
    if cublas.available() and _cublas_matmul(a, b, out):
        return out
    return matmul_tiled(a, b, out)
