"""The CUDA GEMM paths of kernels/matmul.py: cuBLAS (on a real GPU with NVIDIA's
library) and the tiled kernel (always; the simulator's only path), on every
layout the functional layer hands them: transposed views, broadcast batches,
single rows and columns."""
import numpy as np
import pytest

from nnlite.backend import cublas
from nnlite.backend.memory import device_view, to_device, to_host
from nnlite.kernels import matmul as KM
from tests.conftest import SIMULATED


def _strided(view, store):
    """A device view with the strides of `view`, a view of the C-contiguous host array `store`."""
    offset = view.__array_interface__["data"][0] - store.__array_interface__["data"][0]
    return device_view(to_device(store), view.shape, view.strides, offset)


def _operand(rng, batch, rows, cols, transposed, broadcast, dtype):
    """A (batch, rows, cols) view laid out as asked (transposed, stride-0 batch) and its storage."""
    shape = (1 if broadcast else batch, cols, rows) if transposed else (1 if broadcast else batch, rows, cols)
    store = rng.standard_normal(shape).astype(dtype)
    x = store.transpose(0, 2, 1) if transposed else store
    if broadcast:
        x = np.broadcast_to(x, (batch, rows, cols))
    return x, store


SHAPES = [(1, 5, 7, 3), (3, 4, 1, 6), (2, 1, 9, 5), (2, 6, 5, 1)] if SIMULATED else \
         [(1, 33, 65, 17), (4, 128, 1, 96), (3, 1, 300, 64), (2, 257, 129, 1), (8, 64, 64, 64)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb,bb", [(False, False, False), (True, False, False), (False, True, True),
                                      (True, True, False)])
def test_cuda_gemm_paths_match_numpy(cuda_device, dtype, ta, tb, bb):
    rng = np.random.default_rng(1)
    for nb, m, k, n in SHAPES:
        a, a_store = _operand(rng, nb, m, k, ta, False, dtype)
        b, b_store = _operand(rng, nb, k, n, tb, bb, dtype)
        want = np.matmul(a.astype(np.float64), b.astype(np.float64))
        tol = 1e-4 if dtype == np.float32 else 1e-12
        for path in (KM.matmul_tiled, KM.matmul):  # matmul: cuBLAS where available
            out = to_device(np.full((nb, m, n), np.nan, dtype))   # poisoned: every element must be written
            path(_strided(a, a_store), _strided(b, b_store), out)
            np.testing.assert_allclose(to_host(out), want, rtol=tol, atol=tol * np.sqrt(k),
                                       err_msg=f"{path.__name__} {(nb, m, k, n)}")


def test_cublas_is_used_on_a_real_gpu_and_never_under_the_simulator(cuda_device):
    if SIMULATED:
        assert not cublas.available()
        return
    if not cublas.available():
        pytest.skip("NVIDIA's cuBLAS library is not installed (pip install nnlite[cuda])")
    a = to_device(np.ones((1, 4, 3), np.float32))
    b = to_device(np.ones((1, 3, 2), np.float32))
    out = to_device(np.zeros((1, 4, 2), np.float32))
    assert KM._cublas_matmul(a, b, out)
    np.testing.assert_array_equal(to_host(out), np.full((1, 4, 2), 3, np.float32))


def test_tf32_math_runs_convolution_gemms_on_tensor_cores(cuda_device, monkeypatch):
    """Inside tf32_math() float32 GEMMs round their operands to TF32 (10-bit mantissa):
    close to float32 at TF32's tolerance, and not bit-equal to the float32 product."""
    if SIMULATED or not cublas.available():
        pytest.skip("needs a real GPU with cuBLAS")
    monkeypatch.setattr(cublas, "CONV_ALLOW_TF32", True)
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((2, 64, 256)).astype(np.float32), rng.standard_normal((2, 256, 32)).astype(np.float32))
    full, tf32 = (to_device(np.zeros((2, 64, 32), np.float32)) for _ in range(2))
    KM.matmul(to_device(a), to_device(b), full)
    with cublas.tf32_math():
        KM.matmul(to_device(a), to_device(b), tf32)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(to_host(full), want, rtol=1e-4, atol=1e-4 * 16)
    np.testing.assert_allclose(to_host(tf32), want, rtol=1e-2, atol=1e-2 * 16)
    assert not np.array_equal(to_host(tf32), to_host(full))
    assert not getattr(cublas._math, "tf32", False)   # the mark ends with the block


def test_layouts_cublas_cannot_take_fall_back(cuda_device):
    """Neither axis contiguous (a strided slice of both): the tiled kernel takes it."""
    rng = np.random.default_rng(2)
    store = rng.standard_normal((1, 8, 12)).astype(np.float32)
    a = store[:, ::2, ::3]
    b = rng.standard_normal((1, 4, 3)).astype(np.float32)
    assert KM._row_major(a) is None
    out = to_device(np.zeros((1, 4, 3), np.float32))
    KM.matmul(_strided(a, store), to_device(b), out)
    np.testing.assert_allclose(to_host(out), a @ b, rtol=1e-5, atol=1e-5)
