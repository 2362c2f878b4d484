"""nnlite's fast kernel launch (nnlite/backend/fast_launch.py) against numba-cuda's own.

The checks need numba-cuda's real device-array and dispatcher classes, which the
simulator replaces, so tests/_fast_launch_checks.py runs them once in a process
without the simulator (fake device addresses, no GPU, no driver) and each check
is reported here as its own test. On a GPU the whole CUDA suite runs through the
fast path as well.
"""
import ast
import os
import subprocess
import sys

import pytest

from nnlite.backend import cuda as backend_cuda
from nnlite.backend import fast_launch

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS_FILE = os.path.join(HERE, "_fast_launch_checks.py")
# the check names, read from the file: importing it here would import numba.cuda's
# simulator in place of the classes it checks
CHECKS = [node.name for node in ast.parse(open(CHECKS_FILE).read()).body
          if isinstance(node, ast.FunctionDef) and node.name.startswith("check_")]


@pytest.fixture(scope="module")
def results():
    pytest.importorskip("numba_cuda")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0", NNLITE_FAST_LAUNCH="1")
    done = subprocess.run([sys.executable, CHECKS_FILE], env=env,
                          cwd=os.path.dirname(HERE), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_fast_launch(results, check):
    assert f"{check} ok" in results.splitlines(), results[-4000:]


def test_the_simulator_gets_numbas_dispatcher(cuda_device):
    """Under the simulator compiled() hands out the dispatcher itself (fast_launch never runs)."""
    if not backend_cuda.SIMULATOR:
        pytest.skip("a real GPU: compiled() hands out FastKernels there")
    from nnlite.kernels.binary import arith_cuda  # any kernel
    kernel = backend_cuda.compiled(arith_cuda)
    assert not isinstance(kernel, fast_launch.FastKernel)
    assert type(kernel).__module__.startswith("numba.cuda.simulator"), type(kernel)
