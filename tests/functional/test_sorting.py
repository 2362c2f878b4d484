"""Sorting: sort/argsort/msort/topk/kthvalue/unique vs PyTorch (stable order, ties, NaN,
dtypes, 0-d/empty/transposed inputs, long CUDA rows), gradients, and bad-input errors."""
import sys

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import to_numpy

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's numpy scalars on NaN


@pytest.fixture(autouse=True, scope="module")
def _prompt_simulated_barriers():
    """The CUDA tile sort holds barriers: the simulator polls its threads at each one in steps
    of Python's thread switch interval, so shorten it while this module runs."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(interval)


TORCH_DTYPES = {np.float32: "float32", np.float64: "float64", np.int64: "int64", np.int32: "int32",
                np.uint8: "uint8", np.bool_: "bool"}


def _data(shape, dtype, seed=0, ties=False):
    """Random data: distinct floats unless ties; integers drawn from a small range (many ties)."""
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0, 9, size=shape).astype(dtype)
    if ties:
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return rng.permutation(np.prod(shape, dtype=np.int64)).reshape(shape).astype(dtype) - 5


def _both(x, device):
    import torch
    return nnlite.tensor(x, device=device), torch.tensor(x)


def _equal(actual, expected):
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    assert a.dtype == e.dtype, f"dtype {a.dtype} != expected {e.dtype}"
    np.testing.assert_array_equal(a, e)


def _shapes(device):
    # CUDA under the simulator runs a Python thread per GPU thread: small shapes there.
    return [(0,), (7,), (3, 5)] + ([(4, 1100)] if device == "cpu" else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torch_stable(torch, device, dtype, dim, descending):
    for shape in _shapes(device):
        for ties in (False, True):
            x = _data(shape, dtype, seed=len(shape), ties=ties)
            a, t = _both(x, device)
            got = nnlite.sort(a, dim=dim, descending=descending)
            want = torch.sort(t, dim=dim, descending=descending, stable=True)
            _equal(got.values, want.values)
            _equal(got.indices, want.indices)
            _equal(nnlite.argsort(a, dim, descending), torch.argsort(t, dim=dim, descending=descending, stable=True))


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.bool_])
def test_sort_small_int_and_bool_dtypes(torch, device, dtype):
    x = _data((3, 6), dtype, seed=3)
    a, t = _both(x, device)
    for descending in (False, True):
        got = a.sort(descending=descending)
        want = t.sort(descending=descending, stable=True)
        _equal(got.values, want.values)
        _equal(got.indices, want.indices)


def test_sort_nan_is_largest(torch, device):
    nan = float("nan")
    x = np.array([[2.0, nan, -1.0, nan, 2.0, -np.inf, np.inf, 0.0]], np.float64)
    a, t = _both(x, device)
    for descending in (False, True):
        got = nnlite.sort(a, descending=descending)
        want = torch.sort(t, descending=descending, stable=True)
        np.testing.assert_array_equal(to_numpy(got.values), to_numpy(want.values))  # NaN == NaN here
        _equal(got.indices, want.indices)
    top = nnlite.topk(a, 3)
    np.testing.assert_array_equal(to_numpy(top.values), [[nan, nan, np.inf]])
    _equal(top.indices, torch.topk(t, 3).indices)


def test_sort_zero_dim_transposed_and_result_type(torch, device):
    a, t = _both(np.array(3.5, np.float32), device)
    got = nnlite.sort(a)
    assert type(got).__name__ == "sort" and got.values is got[0] and got.indices is got[1]
    _equal(got.values, torch.sort(t).values)
    _equal(got.indices, torch.sort(t).indices)
    _equal(nnlite.argsort(a), torch.argsort(t))
    x = _data((5, 3), np.float32, seed=4, ties=True)
    a, t = _both(x, device)
    for dim in (0, 1, -1):
        got = a.T.sort(dim=dim, descending=True)
        want = t.T.sort(dim=dim, descending=True, stable=True)
        _equal(got.values, want.values)
        _equal(got.indices, want.indices)


def test_sort_long_row_cuda_path(torch, device):
    """Rows over the CUDA tile (1024 elements) take the global merge passes (one pass for 1100,
    two for 2100: the passes start in either buffer)."""
    for n, directions in ((1100, (False, True)), (2100, (True,))):
        x = _data((1, n), np.int64, seed=5)  # integers 0..8: long runs of ties test stability
        a, t = _both(x, device)
        for descending in directions:
            got = a.sort(descending=descending)
            want = t.sort(descending=descending, stable=True)
            _equal(got.values, want.values)
            _equal(got.indices, want.indices)


def test_sort_parallel_cpu_paths(torch):
    """Work over the CPU kernels' serial size: prange over runs and pairs, one long row."""
    for shape, dim in (((40, 700), -1), ((700, 40), 0), ((1, 20000), -1)):
        x = _data(shape, np.float32, seed=16, ties=True)
        a, t = _both(x, "cpu")
        for descending in (False, True):
            got = a.sort(dim=dim, descending=descending)
            want = t.sort(dim=dim, descending=descending, stable=True)
            _equal(got.values, want.values)
            _equal(got.indices, want.indices)
            top = a.topk(5, dim=dim, largest=descending)
            _equal(top.indices, want.indices.narrow(dim, 0, 5))


def test_msort_matches_torch(torch, device):
    x = _data((4, 3), np.float64, seed=6, ties=True)
    a, t = _both(x, device)
    _equal(nnlite.msort(a), torch.msort(t))
    _equal(a.msort(), t.msort())


def test_inputs_are_not_modified(device):
    x = _data((3, 5), np.float32, seed=7)
    a = nnlite.tensor(x, device=device)
    nnlite.sort(a, dim=0)
    nnlite.topk(a, 2)
    nnlite.unique(a, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(to_numpy(a), x)


# ------------------------------------------------------------------ topk, kthvalue

@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, -1])
def test_topk_matches_torch(torch, device, largest, dim):
    for shape in _shapes(device):
        x = _data(shape, np.float32, seed=8)
        a, t = _both(x, device)
        n = shape[dim]
        for k in sorted({0, min(1, n), n // 2, n}):
            got = nnlite.topk(a, k, dim=dim, largest=largest)
            want = torch.topk(t, k, dim=dim, largest=largest)
            assert type(got).__name__ == "topk"
            _equal(got.values, want.values)
            _equal(got.indices, want.indices)


def test_topk_ties_lowest_index_first(torch, device):
    x = np.array([[1, 3, 3, 0, 3, 1]], np.int64)
    a, t = _both(x, device)
    got = a.topk(3)
    _equal(got.values, torch.topk(t, 3).values)
    np.testing.assert_array_equal(to_numpy(got.indices), [[1, 2, 4]])
    got = a.topk(2, largest=False)
    np.testing.assert_array_equal(to_numpy(got.indices), [[3, 0]])


def test_topk_few_of_many_ties_and_nan(torch, device):
    """Small k of long rows takes the bounded-heap kernel (on CUDA with 256 rows or more): its
    order must equal the stable sort's first k, NaN first when largest."""
    x = _data((256, 9), np.float64, seed=15, ties=True)
    x[::7, 3] = np.nan
    x[::11, 8] = np.nan
    a, t = _both(x, device)
    for largest in (True, False):
        got = nnlite.topk(a, 2, largest=largest)
        want = torch.sort(t, descending=largest, stable=True)
        np.testing.assert_array_equal(to_numpy(got.values), want.values[:, :2].numpy())
        _equal(got.indices, want.indices[:, :2])


@pytest.mark.parametrize("keepdim", [False, True])
def test_kthvalue_matches_torch(torch, device, keepdim):
    x = _data((3, 5), np.float64, seed=9)
    a, t = _both(x, device)
    for dim, k in ((0, 1), (0, 3), (-1, 2), (1, 5)):
        got = nnlite.kthvalue(a, k, dim, keepdim)
        want = torch.kthvalue(t, k, dim, keepdim)
        assert type(got).__name__ == "kthvalue"
        _equal(got.values, want.values)
        _equal(got.indices, want.indices)
    a, t = _both(np.array(2.0), device)
    _equal(a.kthvalue(1).values, t.kthvalue(1).values)


# ------------------------------------------------------------------ unique

@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.float64, np.uint8, np.bool_])
def test_unique_matches_torch(torch, device, dtype):
    for shape in [(0,), (), (9,), (3, 4)]:
        x = _data(shape, dtype, seed=10, ties=True)
        a, t = _both(x, device)
        _equal(nnlite.unique(a), torch.unique(t))
        got = a.unique(return_inverse=True, return_counts=True)
        want = t.unique(return_inverse=True, return_counts=True)
        assert len(got) == 3
        for g, w in zip(got, want):
            _equal(g, w)
        got = nnlite.unique(a, sorted=False, return_counts=True)
        _equal(got[1], torch.unique(t, return_counts=True)[1])


def test_unique_nans_are_distinct(torch, device):
    x = np.array([3.0, np.nan, 1.0, np.nan, 3.0], np.float32)
    a, t = _both(x, device)
    got = nnlite.unique(a, return_inverse=True, return_counts=True)
    want = torch.unique(t, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(to_numpy(got[0]), to_numpy(want[0]))
    _equal(got[1], want[1])
    _equal(got[2], want[2])


def test_unique_dim_not_supported(device):
    a = nnlite.tensor([[1, 2], [1, 2]], device=device)
    with pytest.raises(NotImplementedError, match=r"unique\(\).*dim= is not supported yet"):
        nnlite.unique(a, dim=0)


# ------------------------------------------------------------------ gradients

def test_values_gradients_match_torch(torch, device):
    x = _data((3, 5), np.float64, seed=11)
    g = np.random.default_rng(12).standard_normal((3, 5))
    cases = [(lambda m: m.sort(dim=0, descending=True).values, g),
             (lambda m: m.topk(2, dim=-1).values, g[:, :2]),
             (lambda m: m.kthvalue(2, 0).values, g[0]),
             (lambda m: m.msort(), g)]
    for fn, grad in cases:
        a = nnlite.tensor(x, device=device, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        fn(a).backward(nnlite.tensor(grad, device=device))
        fn(t).backward(torch.tensor(grad))
        np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), rtol=1e-12, atol=0)


def test_gradcheck_and_no_index_gradients(device):
    x = nnlite.tensor(_data((2, 4), np.float64, seed=13) / 3, device=device, requires_grad=True)
    assert gradcheck(lambda v: nnlite.sort(v, dim=-1).values, (x,))
    assert gradcheck(lambda v: nnlite.topk(v, 3, dim=-1, largest=False).values, (x,))
    out = nnlite.sort(x)
    assert out.values.requires_grad and not out.indices.requires_grad
    assert not nnlite.argsort(x).requires_grad
    assert not nnlite.unique(x).requires_grad
    s = nnlite.tensor(2.0, device=device, requires_grad=True)
    nnlite.sort(s).values.backward()
    assert float(s.grad) == 1.0


# ------------------------------------------------------------------ errors

def test_errors_match_torch(torch, device):
    a, t = _both(_data((3, 4), np.float32, seed=14), device)
    for op in ("sort", "argsort"):
        with pytest.raises(IndexError, match=rf"{op}.*Dimension out of range \(expected to be in range of "
                                             r"\[-2, 1\], but got 2\)"):
            getattr(nnlite, op)(a, dim=2)
    with pytest.raises(IndexError, match=r"topk.*Dimension out of range"):
        nnlite.topk(a, 1, dim=-3)
    with pytest.raises(IndexError, match=r"kthvalue.*Dimension out of range"):
        nnlite.kthvalue(a, 1, dim=5)
    for k in (5, -1):
        with pytest.raises(RuntimeError, match="selected index k out of range"):
            nnlite.topk(a, k)
        with pytest.raises(RuntimeError, match="selected index k out of range"):
            torch.topk(t, k)
    with pytest.raises(RuntimeError, match=r"kthvalue\(\): selected number k out of range for dimension 1"):
        nnlite.kthvalue(a, 0)
    b = nnlite.tensor([True, False], device=device)
    with pytest.raises(RuntimeError, match="topk does not support bool"):
        nnlite.topk(b, 1)
    with pytest.raises(NotImplementedError, match="kthvalue"):
        nnlite.kthvalue(b, 1)
    with pytest.raises(TypeError, match=r"sort\(\): argument 'input' must be Tensor, not list"):
        nnlite.sort([3, 1])
    with pytest.raises(TypeError, match=r"topk\(\): argument 'k' must be int, not float"):
        nnlite.topk(a, 1.5)
    with pytest.raises(TypeError, match=r"sort\(\): dim must be an int, got float"):
        nnlite.sort(a, dim=1.0)
