"""The pytest side of the multi-process tests: which checks a worker script has, and one launch
of it per device and test session, whose per-check results the tests assert on."""
import ast
import os

import pytest

import nnlite
import nnlite.distributed as dist

from .harness import launch, mpiexec, shared_launch

WORKERS = os.path.dirname(os.path.abspath(__file__))
needs_mpi = pytest.mark.skipif(not dist.is_available() or mpiexec() is None,
                               reason="needs mpi4py and mpiexec: pip install mpi4py mpich")


def checks_of(script, device="cpu"):
    """The names of the checks a worker script runs on `device` (its source read, not run):
    @check ones everywhere, @cpu_check ones on the CPU."""
    kinds = {"check", "cpu_check"} if device == "cpu" else {"check"}
    tree = ast.parse(open(os.path.join(WORKERS, script)).read())
    return [f.name for f in tree.body if isinstance(f, ast.FunctionDef)
            and any(getattr(d, "id", None) in kinds for d in f.decorator_list)]


def device_checks(script):
    """(device, check) pairs for parametrize, the CUDA ones marked `cuda`."""
    return ([("cpu", c) for c in checks_of(script)]
            + [pytest.param("cuda", c, marks=pytest.mark.cuda) for c in checks_of(script, "cuda")])


def run_workers(script, device="cpu", timeout=300, **env):
    """Launch `script` on 2 ranks with tensors on `device` (CUDA: the GPU, or the simulator)."""
    env["NNLITE_TEST_DEVICE"] = device
    if device == "cuda":
        if not nnlite.cuda.is_available():
            pytest.skip("CUDA (or Numba's simulator) not available")
        env["NUMBA_ENABLE_CUDASIM"] = os.environ.get("NUMBA_ENABLE_CUDASIM", "0")
    return launch(os.path.join(WORKERS, script), env=env, timeout=timeout)


def worker_run(script, device):
    """One launch of `script` per device and test session, shared by its checks' tests."""
    return shared_launch(f"{script}-{device}", lambda: run_workers(script, device))
