"""Lazy access to numba.cuda.

Importing numba.cuda costs ~0.2 s even on a machine without a GPU, so nnlite
never imports it until a CUDA tensor or kernel is actually used. Kernel files
write `from nnlite.backend.cuda import cuda` and then `@cuda.jit(cache=True)`
exactly as with numba: the decorator records the function and the real
`numba.cuda.jit` is applied on the first launch. At that moment the kernel
module's globals are "materialised": the stand-in `cuda` name becomes the real
numba.cuda module and every lazy kernel/device function becomes the real
dispatcher, so Numba (and its simulator) see ordinary CUDA code.
"""
import os

from . import fast_launch

_real = None


def numba_cuda():
    """The real numba.cuda module (imported on first use)."""
    global _real
    if _real is None:
        _numpy_compat()
        # nnlite sizes every grid to its work, so small tensors launch small grids on
        # purpose; numba-cuda would warn (through Python's warnings machinery, a few
        # microseconds) on each such launch. A user's own setting wins.
        os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")
        from numba import cuda as real
        _real = real
    return _real


def _numpy_compat():
    """numba-cuda 0.30 (in maintenance; no fix planned, NVIDIA/numba-cuda#907) registers
    an overload of np.row_stack, which NumPy 2.5 removed, when its CUDA target first
    compiles: every kernel launch then fails. np.row_stack was always np.vstack."""
    import numpy as np
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack


# Numba reads this once, when numba.cuda is first imported; so do we.
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def simulator_enabled():
    return SIMULATOR


_contexts = {}


def context(index=0):
    """The CUDA context of GPU `index` (its primary context), looked up once:
    numba's current_context() costs about 30 us a call, more than a kernel launch."""
    ctx = _contexts.get(index)
    if ctx is None:
        cuda = numba_cuda()
        if index:
            with gpu(index):
                ctx = cuda.current_context()
        else:
            ctx = cuda.current_context()
        _contexts[index] = ctx
    return ctx


def gpu(index):
    """numba's GPU `index` (entering it makes it current), or torch's error for an ordinal
    the machine lacks: numba's own is a bare IndexError, and -1 would pick the last GPU."""
    gpus = numba_cuda().gpus
    if 0 <= index < len(gpus):
        return gpus[index]
    raise RuntimeError(f"CUDA error: invalid device ordinal: device cuda:{index} was asked for but this "
                       f"machine has {len(gpus)} CUDA device(s) (cuda:0 to cuda:{len(gpus) - 1})")


def is_available():
    """True when a CUDA GPU (or Numba's CUDA simulator) can run kernels."""
    try:
        return bool(numba_cuda().is_available())
    except Exception:  # numba-cuda missing or a broken driver: no CUDA
        return False


class LazyCudaFunction:
    """A function decorated with `cuda.jit`; compiled by numba.cuda on first use."""

    def __init__(self, py_func, options):
        self.py_func = py_func
        self.options = options
        self._dispatcher = None
        self.__name__ = py_func.__name__
        self.__qualname__ = py_func.__qualname__
        self.__doc__ = py_func.__doc__
        self.__module__ = py_func.__module__

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            _materialise(self.py_func.__globals__)
        return self._dispatcher

    def _build(self):
        if self._dispatcher is None:
            options = self.options
            if SIMULATOR:  # the simulator's jit takes no NVVM-level options
                options = {k: v for k, v in options.items() if k != "forceinline"}
            self._dispatcher = numba_cuda().jit(**options)(self.py_func)
        return self._dispatcher

    def __getitem__(self, config):
        return self.dispatcher[config]

    def __repr__(self):
        return f"<lazy cuda.jit {self.__qualname__}>"


_fast_kernels = {}


def compiled(kernel):
    """The launchable form of a kernel, whether still lazy or materialised: on a GPU a
    FastKernel around its numba.cuda dispatcher (see fast_launch.py), under the
    simulator or with NNLITE_FAST_LAUNCH=0 the dispatcher itself."""
    dispatcher = kernel.dispatcher if isinstance(kernel, LazyCudaFunction) else kernel
    if SIMULATOR or not fast_launch.ENABLED:
        return dispatcher
    fast = _fast_kernels.get(dispatcher)
    if fast is None:
        fast = _fast_kernels[dispatcher] = fast_launch.FastKernel(dispatcher)
    return fast


class _CudaStandIn:
    """Stands in for `numba.cuda` inside kernel modules until a kernel runs."""

    def jit(self, func=None, **options):
        if func is None:
            return lambda f: LazyCudaFunction(f, options)
        if not callable(func):
            raise TypeError("nnlite's lazy cuda.jit takes keyword options only (no signatures)")
        return LazyCudaFunction(func, options)

    def __getattr__(self, name):
        return getattr(numba_cuda(), name)


cuda = _CudaStandIn()


class _LibdeviceStandIn:
    """Stands in for `numba.cuda.libdevice` (NVIDIA's math library: exact log2, ...)
    inside kernel modules until a kernel runs."""

    def __getattr__(self, name):
        return getattr(_real_libdevice(), name)


def _real_libdevice():
    numba_cuda()
    from numba.cuda import libdevice as real
    return real


libdevice = _LibdeviceStandIn()

_materialised = set()


def _materialise(module_globals):
    """Swap the stand-ins in a kernel module's globals for real numba.cuda objects.

    Device functions imported from other kernel modules are materialised with
    their own module, so a kernel calling them compiles against real code.
    """
    key = id(module_globals)
    if key in _materialised:
        return
    _materialised.add(key)
    real = numba_cuda()
    pending = []
    for name, value in list(module_globals.items()):
        if value is cuda:
            module_globals[name] = real
        elif value is libdevice:
            module_globals[name] = _real_libdevice()
        elif isinstance(value, LazyCudaFunction):
            module_globals[name] = value._build()
            if value.py_func.__globals__ is not module_globals:
                pending.append(value.py_func.__globals__)
    for other in pending:
        _materialise(other)
