"""Backend pieces around numba.cuda that the op tests do not reach."""
import numpy as np

from nnlite.backend import cuda as backend_cuda


def test_numpy_without_row_stack_gets_the_alias_numba_cuda_needs(monkeypatch):
    """NumPy 2.5 removed np.row_stack; numba-cuda 0.30 looks it up when it first compiles."""
    monkeypatch.delattr(np, "row_stack", raising=False)
    backend_cuda._numpy_compat()
    assert np.row_stack is np.vstack


def test_numpy_with_row_stack_is_left_alone(monkeypatch):
    marker = object()
    monkeypatch.setattr(np, "row_stack", marker, raising=False)
    backend_cuda._numpy_compat()
    assert np.row_stack is marker
