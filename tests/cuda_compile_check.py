"""Compile every CUDA kernel the test suite launches to GPU code, on a machine with no GPU.

Numba's CUDA simulator runs kernels as Python, so a kernel that Numba cannot type
or lower for a real GPU still passes every simulated test. This closes that gap
in two steps:

    NNLITE_CUDA_SIGNATURES=1 python -m pytest tests   # the simulated tests note each kernel's
                                                      # argument types (tests/conftest.py)
    python tests/cuda_compile_check.py                # real numba-cuda: compile each noted
                                                      # (kernel, types) to sm_90 PTX

The second step needs NVIDIA's compiler libraries, not a GPU or a driver:
`pip install nvidia-cuda-nvcc-cu12 nvidia-cuda-nvrtc-cu12` (the NVVM and NVRTC wheels).
It prints each failure with Numba's error and exits non-zero if there was one.
.ci/run runs both steps.
"""
import glob
import importlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = os.path.join(ROOT, ".cuda_signatures")  # one JSON file per pytest process


# ---------------------------------------------------------------- record (simulator, from tests/conftest.py)

def _describe(arg):
    """A JSON-able description of a kernel argument's Numba type."""
    import numpy as np
    if hasattr(arg, "shape") and hasattr(arg, "dtype") and not np.isscalar(arg):
        host = np.asarray(getattr(arg, "_ary", arg))  # the simulator's device arrays wrap numpy arrays
        layout = "C" if host.flags.c_contiguous else ("F" if host.flags.f_contiguous and host.ndim > 1 else "A")
        return ["array", host.dtype.str, host.ndim, layout]
    if isinstance(arg, (bool, np.bool_)):
        return ["bool"]
    if isinstance(arg, np.generic):
        return ["scalar", arg.dtype.str]
    if isinstance(arg, int):
        return ["int"]
    if isinstance(arg, float):
        return ["float"]
    if isinstance(arg, tuple):
        return ["tuple", [_describe(a) for a in arg]]
    return ["other", type(arg).__name__]


class Recorder:
    """A pytest plugin: wraps the simulator's kernel call to note (module, name, types)."""

    def __init__(self):
        self.seen = set()

    def install(self):
        from numba.cuda.simulator.kernel import FakeCUDAKernel
        real_call = FakeCUDAKernel.__call__
        seen = self.seen

        def call(kernel, *args):
            if not kernel._device:
                fn = kernel.fn
                seen.add(json.dumps([fn.__module__, fn.__qualname__, [_describe(a) for a in args]]))
            return real_call(kernel, *args)
        FakeCUDAKernel.__call__ = call

    def pytest_unconfigure(self, config):
        if not self.seen:
            return
        os.makedirs(RECORDS, exist_ok=True)
        name = os.environ.get("PYTEST_XDIST_WORKER", "main")  # xdist workers each write their own
        with open(os.path.join(RECORDS, f"{name}.json"), "w") as f:
            json.dump(sorted(json.loads(s) for s in self.seen), f, indent=0)


# ---------------------------------------------------------------- compile (real numba-cuda)

def _numba_type(desc):
    import numpy as np
    from numba import types
    from numba.np.numpy_support import from_dtype
    kind = desc[0]
    if kind == "array":
        return types.Array(from_dtype(np.dtype(desc[1])), desc[2], desc[3])
    if kind == "bool":
        return types.boolean
    if kind == "scalar":
        return from_dtype(np.dtype(desc[1]))
    if kind == "int":
        return types.int64
    if kind == "float":
        return types.float64
    if kind == "tuple":
        return types.BaseTuple.from_types([_numba_type(d) for d in desc[1]])
    raise TypeError(f"cannot type a kernel argument described as {desc}")


def _recorded():
    entries = set()
    for path in glob.glob(os.path.join(RECORDS, "*.json")):
        with open(path) as f:
            entries.update(json.dumps(e) for e in json.load(f))
    return [json.loads(e) for e in sorted(entries)]


def compile_all():
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        sys.exit("cuda_compile_check: unset NUMBA_ENABLE_CUDASIM (this step uses the real numba-cuda)")
    sys.path[:0] = [ROOT, os.path.join(ROOT, "examples")]  # (the custom-kernel example's test imports it)
    from types import SimpleNamespace

    from numba import cuda
    from numba.cuda import dispatcher

    from nnlite.backend.cuda import LazyCudaFunction, _materialise, numba_cuda
    numba_cuda()  # nnlite's settings for numba-cuda
    # device functions compile for the current device's architecture; with no device, an H100/H200's
    dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=(9, 0))
    entries = _recorded()
    if not entries:
        sys.exit(f"cuda_compile_check: no kernel signatures in {RECORDS}; "
                 "run the tests with NNLITE_CUDA_SIGNATURES=1 first")
    failures = 0
    for module_name, qualname, descs in entries:
        module = importlib.import_module(module_name)
        name = qualname.split(".")[-1]
        kernel = getattr(module, name)
        if isinstance(kernel, LazyCudaFunction):
            _materialise(kernel.py_func.__globals__)
            kernel = getattr(module, name)
        try:
            cuda.compile_ptx(kernel.py_func, tuple(_numba_type(d) for d in descs), cc=(9, 0))
        except Exception as e:  # report every kernel, not only the first failure
            failures += 1
            message = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            print(f"FAILED {module_name}.{qualname}{descs}:\n    {type(e).__name__}: {message}")
    print(f"{len(entries) - failures} of {len(entries)} kernel signatures compiled to sm_90 PTX")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(compile_all())
