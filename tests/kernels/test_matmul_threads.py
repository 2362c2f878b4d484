"""CPU products below the split size run with BLAS held to one thread, as the split ones do:
OpenBLAS's own threads would otherwise wake for them and then spin against Numba's."""
import numpy as np
import pytest

from nnlite.kernels import matmul as KM
from tests.helpers import assert_close


def test_small_products_hold_blas_to_one_thread(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if KM.get_num_threads() < 2 or not KM._blas_controller():
        pytest.skip("needs 2 Numba threads and threadpoolctl")
    seen = []

    class NumpyShim:
        """numpy, with matmul noting BLAS's thread count when it runs."""

        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def matmul(a, b, out):
            seen.append([i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"])
            return np.matmul(a, b, out=out)

    monkeypatch.setattr(KM, "np", NumpyShim())
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    out = np.empty((5, 3))
    KM.matmul(a, b, out)
    assert_close(out, a @ b, rtol=1e-12, atol=1e-12)
    assert seen and all(counts == [1] * len(counts) for counts in seen), seen
