"""cuBLAS through ctypes: GEMMs on CUDA run on NVIDIA's own library, nothing to compile.

numba-cuda has no tensor-core GEMM and a hand-tiled shared-memory SGEMM reaches a
small fraction of cuBLAS. NVIDIA ships cuBLAS as a pip wheel (`nvidia-cublas`,
part of nnlite's `cuda` extra, and already present wherever a CUDA build of
PyTorch is); this module loads it with ctypes and calls the strided-batched
GEMMs on the device pointers of Numba arrays. Without the library (or under
Numba's simulator, which has no device pointers) `available()` is False and
kernels/matmul.py runs its tiled kernel instead.

cuBLAS runs on the legacy default stream, the stream Numba launches nnlite's
kernels on, so GEMMs and kernels stay ordered without synchronising.

Float32 math follows PyTorch's defaults on CUDA: matmul, linear and attention
GEMMs in full float32 (`torch.backends.cuda.matmul.allow_tf32 = False`), and the
GEMMs of convolutions on TF32 tensor cores (`torch.backends.cudnn.allow_tf32 =
True`: cuDNN convolutions use TF32 by default). `tf32_math()` marks the GEMMs
inside it as convolution GEMMs; set `cublas.CONV_ALLOW_TF32 = False` (or the
environment variable NNLITE_CONV_TF32=0) for full float32 convolutions.

Set NNLITE_CUBLAS=0 to run the tiled kernel instead.
"""
import ctypes
import glob
import os
import sys
import threading
from contextlib import contextmanager

from .cuda import numba_cuda, simulator_enabled

OP_N, OP_T = 0, 1            # cublasOperation_t
CUDA_R_32F = 0               # cudaDataType_t
COMPUTE_32F_FAST_TF32 = 77   # cublasComputeType_t
GEMM_DEFAULT = -1            # cublasGemmAlgo_t
_INT_MAX = (1 << 31) - 1

CONV_ALLOW_TF32 = os.environ.get("NNLITE_CONV_TF32", "1") != "0"
_math = threading.local()    # .tf32: inside tf32_math()

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
    # handle, ops, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta, C, Ctype, ldc,
    # strideC, batch, computeType, algo
    lib.cublasGemmStridedBatchedEx.argtypes = [p, i32, i32, i32, i32, i32, p, p, i32, i32, i64, p, i32, i32, i64,
                                               p, p, i32, i32, i64, i32, i32, i32]
    return lib


@contextmanager
def tf32_math():
    """Float32 GEMMs inside run on TF32 tensor cores (when CONV_ALLOW_TF32): the
    convolutions' GEMMs, as cuDNN runs PyTorch's convolutions by default."""
    before = getattr(_math, "tf32", False)
    _math.tf32 = CONV_ALLOW_TF32
    try:
        yield
    finally:
        _math.tf32 = before


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


def _handle(context):
    """The cuBLAS handle of the GPU that `context` (a numba context) belongs to.
    Taking the device from the operands' context, not from numba's current-device
    lookup, saves some 30 us a GEMM."""
    device = context.device.id
    handle = _handles.get(device)
    if handle is None:
        with numba_cuda().gpus[device]:  # cuBLAS binds to the context current on this thread
            handle = ctypes.c_void_p()
            _check(library().cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        _handles[device] = handle
    return handle


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"matmul: {what} failed with cuBLAS status {status}")


def gemm_strided_batched(context, double, op_a, op_b, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc,
                         stride_c, batch):
    """C[i] = op(A[i]) @ op(B[i]) in cuBLAS's column-major terms, for i < batch, where
    the matrices lie `stride_*` elements apart from the device pointers a, b, c, on
    the GPU of `context` (the numba context of the arrays).
    Returns False (and does nothing) when a size exceeds cuBLAS's 32-bit ints."""
    if max(m, n, k, lda, ldb, ldc, batch) > _INT_MAX:
        return False
    lib = library()
    real = ctypes.c_double if double else ctypes.c_float
    one, zero = ctypes.byref(real(1.0)), ctypes.byref(real(0.0))
    handle = _handle(context)
    if not double and getattr(_math, "tf32", False):
        status = lib.cublasGemmStridedBatchedEx(handle, op_a, op_b, m, n, k, one, a, CUDA_R_32F, lda, stride_a,
                                                b, CUDA_R_32F, ldb, stride_b, zero, c, CUDA_R_32F, ldc, stride_c,
                                                batch, COMPUTE_32F_FAST_TF32, GEMM_DEFAULT)
        _check(status, "cublasGemmStridedBatchedEx (TF32)")
        return True
    gemm = lib.cublasDgemmStridedBatched if double else lib.cublasSgemmStridedBatched
    status = gemm(handle, op_a, op_b, m, n, k, one, a, lda, stride_a, b, ldb, stride_b, zero, c, ldc, stride_c,
                  batch)
    _check(status, "cublas" + ("D" if double else "S") + "gemmStridedBatched")
    return True
