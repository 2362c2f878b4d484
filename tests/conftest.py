"""Test setup shared by every test file.

CUDA tests run on a real GPU when the machine has one and otherwise on
Numba's CUDA simulator, so `python -m pytest` exercises every CUDA kernel on
any machine. The simulator must be chosen before numba.cuda is imported,
hence this happens at conftest import time.
"""
import os
import shutil

if "NUMBA_ENABLE_CUDASIM" not in os.environ:
    has_gpu = os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None
    if not has_gpu:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nnlite  # noqa: E402

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")

# Convolutions on a real GPU use TF32 GEMMs by default (as cuDNN does for torch); the
# tests compare with float32 references at float32 tolerances, so they turn it off,
# as torch's own tests do. tests/kernels/test_matmul.py checks the TF32 path itself.
from nnlite.backend import cublas as _cublas  # noqa: E402
_cublas.CONV_ALLOW_TF32 = False


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: runs CUDA kernels (on the simulator when no GPU)")
    if SIMULATED and os.environ.get("NNLITE_CUDA_SIGNATURES"):
        # note each simulated kernel launch's argument types for tests/cuda_compile_check.py
        from tests.cuda_compile_check import Recorder
        recorder = Recorder()
        recorder.install()
        config.pluginmanager.register(recorder, "nnlite-cuda-signatures")


def _cuda_ok():
    try:
        return nnlite.cuda.is_available()
    except Exception:
        return False


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    """Run a test on the CPU and on CUDA (GPU or simulator); keep CUDA shapes small."""
    if request.param == "cuda" and not _cuda_ok():
        pytest.skip("CUDA is not available (install numba-cuda for the simulator)")
    return request.param


@pytest.fixture(params=[pytest.param("cuda", marks=pytest.mark.cuda)])
def cuda_device(request):
    """For CUDA-only tests: "cuda" (GPU or simulator), skipped when numba-cuda is missing."""
    if not _cuda_ok():
        pytest.skip("CUDA is not available (install numba-cuda for the simulator)")
    return "cuda"


@pytest.fixture
def real_gpu():
    """For tests of what the simulator cannot model (CUDA array interface, DLPack on device)."""
    if SIMULATED or not _cuda_ok():
        pytest.skip("needs a real CUDA GPU")


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _seed():
    nnlite.manual_seed(0)
    np.random.seed(0)
