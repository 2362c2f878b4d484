"""cuBLAS through ctypes: GEMMs on CUDA run on NVIDIA's own library, nothing to compile.

numba-cuda has no tensor-core GEMM and a hand-tiled shared-memory SGEMM reaches a
small fraction of cuBLAS. NVIDIA ships cuBLAS as a pip wheel (`nvidia-cublas`,
part of nnlite's `cuda` extra, and already present wherever a CUDA build of
PyTorch is); this module loads it with ctypes and calls the strided-batched
GEMMs on the device pointers of Numba arrays. Without the library (or under
Numba's simulator, which has no device pointers) `available()` is False and
kernels/matmul.py runs its tiled kernel instead.

cuBLAS runs on the legacy default stream, the stream Numba launches nnlite's
kernels on, so GEMMs and kernels stay ordered without synchronising. Float32
GEMMs use cuBLAS's default math, full float32 like PyTorch's default
(`torch.backends.cuda.matmul.allow_tf32 = False`); set NVIDIA_TF32_OVERRIDE
as with any cuBLAS program to change that.

Set NNLITE_CUBLAS=0 to run the tiled kernel instead.
"""
import ctypes
import glob
import os
import sys
import threading

from .cuda import numba_cuda, simulator_enabled

OP_N, OP_T = 0, 1            # cublasOperation_t
_INT_MAX = (1 << 31) - 1

_lock = threading.Lock()
_lib = None                  # the loaded library, or False when there is none
_handles = {}                # CUDA device id -> cublasHandle_t


def _candidate_paths():
    """Where libcublas may be: NVIDIA's pip wheels (any CUDA major), then the system."""
    try:  # the loader numba-cuda itself uses, when installed
        from cuda.pathfinder import load_nvidia_dynamic_lib
        yield load_nvidia_dynamic_lib("cublas").abs_path
    except Exception:
        pass
    for site in sys.path:
        for pattern in ("nvidia/cublas/lib/libcublas.so*", "nvidia/cu*/lib/libcublas.so*"):
            yield from sorted(glob.glob(os.path.join(site, pattern)), reverse=True)
    yield "libcublas.so"
    for major in (13, 12, 11):
        yield f"libcublas.so.{major}"


def _declare(lib):
    """Argument types of the few entry points used (the real C signatures)."""
    p, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
    lib.cublasCreate_v2.argtypes = [ctypes.POINTER(p)]
    lib.cublasDestroy_v2.argtypes = [p]
    for name in ("cublasSgemmStridedBatched", "cublasDgemmStridedBatched"):
        getattr(lib, name).argtypes = [p, i32, i32, i32, i32, i32, p, p, i32, i64, p, i32, i64, p, p, i32, i64,
                                       i32]
    return lib


def library():
    """The loaded cuBLAS library, or None."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                _lib = _load()
    return _lib or None


def _load():
    if simulator_enabled() or os.environ.get("NNLITE_CUBLAS", "1") == "0":
        return False
    for path in _candidate_paths():
        if path is None or "libcublasLt" in path:
            continue
        try:
            return _declare(ctypes.CDLL(path))
        except (OSError, AttributeError):
            continue
    return False


def available():
    """True when GEMMs on CUDA go to cuBLAS."""
    return library() is not None


def _handle():
    device = numba_cuda().get_current_device().id
    handle = _handles.get(device)
    if handle is None:
        numba_cuda().current_context()  # cuBLAS binds to the context current on this thread
        handle = ctypes.c_void_p()
        _check(library().cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        _handles[device] = handle
    return handle


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"matmul: {what} failed with cuBLAS status {status}")


def gemm_strided_batched(double, op_a, op_b, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c,
                         batch):
    """C[i] = op(A[i]) @ op(B[i]) in cuBLAS's column-major terms, for i < batch, where
    the matrices lie `stride_*` elements apart from the device pointers a, b, c.
    Returns False (and does nothing) when a size exceeds cuBLAS's 32-bit ints."""
    if max(m, n, k, lda, ldb, ldc, batch) > _INT_MAX:
        return False
    lib = library()
    real = ctypes.c_double if double else ctypes.c_float
    one, zero = real(1.0), real(0.0)
    gemm = lib.cublasDgemmStridedBatched if double else lib.cublasSgemmStridedBatched
    status = gemm(_handle(), op_a, op_b, m, n, k, ctypes.byref(one), a, lda, stride_a, b, ldb, stride_b,
                  ctypes.byref(zero), c, ldc, stride_c, batch)
    _check(status, "cublas" + ("D" if double else "S") + "gemmStridedBatched")
    return True
