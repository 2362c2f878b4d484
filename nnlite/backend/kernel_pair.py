"""KernelPair: one operator, two targets.

A KernelPair holds a CPU kernel (`@njit(parallel=True, cache=True)`) and its
CUDA twin (`@cuda.jit(cache=True)`). Calling the pair runs the CPU kernel when
its first argument is a numpy array and launches the CUDA kernel otherwise,
sizing the grid from the largest array argument (kernels are grid-stride
loops, so any grid is correct).

Kernels follow destination passing: inputs, then outputs, then scalars; they
never allocate and never see a Tensor.

Families of tiny pointwise ops share one CUDA kernel that takes an op code as
its last scalar (a uniform branch costs nothing on a GPU, and one kernel
compiles instead of twenty): `KernelPair(add_cpu, arith_cuda, ADD)` appends
ADD to the CUDA launch only.
"""
import numpy as np

from .cuda import compiled
from .launch import grid_1d


class KernelPair:
    __slots__ = ("cpu", "cuda", "cuda_args", "__name__", "_launchers")

    def __init__(self, cpu, cuda, *cuda_args):
        self.cpu = cpu
        self.cuda = cuda
        self.cuda_args = cuda_args
        self.__name__ = getattr(cpu, "__name__", "kernel").removesuffix("_cpu")
        self._launchers = {}  # (blocks, threads) -> configured launch

    def __call__(self, *args):
        if type(args[0]) is np.ndarray:
            try:
                return self.cpu(*args)
            except Exception as e:
                _explain_cpu_failure(self.__name__, args, e)
                raise
        if hasattr(args[0], "_array"):  # tensors, from a user's Function
            return self(*_unwrap_tensors(self.__name__, args))
        return self.launch(max(_size(a) for a in args), *args)

    def launch(self, work, *args):
        """Launch the CUDA kernel over `work` grid-stride items."""
        config = grid_1d(work)
        launcher = self._launchers.get(config)
        if launcher is None:  # numba builds a launch configuration per [grid, block]: keep them
            launcher = self._launchers[config] = compiled(self.cuda)[config]
        return launcher(*args, *self.cuda_args)

    def __repr__(self):
        return f"KernelPair({self.__name__})"


def _unwrap_tensors(name, args):
    """The arrays of contiguous tensors on one device (other arguments pass through)."""
    arrays = []
    device = None
    for i, a in enumerate(args):
        if hasattr(a, "_array"):
            if not a.is_contiguous():
                raise RuntimeError(f"{name}: argument {i} is not contiguous; call .contiguous() first")
            if device is None:
                device = a.device
            elif a.device != device:
                raise RuntimeError(f"{name}: all tensors must be on one device, got {device} and {a.device}")
            a = a._array
        arrays.append(a)
    return arrays


def _size(a):
    return getattr(a, "size", 0) if hasattr(a, "shape") else 0


def _explain_cpu_failure(name, args, error):
    """Turn Numba's error for a dtype it cannot compile (float16 on CPU) into a clear one."""
    if any(getattr(a, "dtype", None) == np.float16 for a in args):
        raise TypeError(f"{name}: float16 tensors compute on CUDA only; on the CPU convert them "
                        "with .float() first") from error
