"""pairwise_distance, cosine_similarity and pdist: values and gradients vs PyTorch (float32 and
float64, zero distances and tiny norms included), gradcheck, CUDA kernels (tiny shapes), errors,
untouched inputs, empty and non-contiguous inputs."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _two(torch, name, x1, x2, device, **kw):
    """name(x1, x2, **kw) in nnlite and torch, backward with the same random gradient."""
    a, b = (nnlite.tensor(x, device=device, requires_grad=True) for x in (x1, x2))
    ta, tb = (torch.tensor(x, requires_grad=True) for x in (x1, x2))
    y = getattr(F, name)(a, b, **kw)
    ty = getattr(torch.nn.functional, name)(ta, tb, **kw)
    g = randn(*ty.shape, dtype=ty.detach().numpy().dtype, seed=9)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    return (y, a.grad, b.grad), (ty, ta.grad, tb.grad)


def _assert_all_close(ours, theirs, **tol):
    for o, t in zip(ours, theirs):
        assert_close(o, t, **tol)


# ------------------------------------------------------------------ cosine_similarity

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cosine_similarity_matches_torch(torch, device, dtype):
    x1, x2 = randn(4, 6, dtype=dtype), randn(4, 6, dtype=dtype, seed=1)
    x1[1] = 0            # a zero vector: its norm term drops out of the gradient
    x1[2] *= 1e-10       # a norm below eps: clamped, yet differentiated as the norm (torch's quirk)
    ours, theirs = _two(torch, "cosine_similarity", x1, x2, device)
    _assert_all_close(ours, theirs, **(TOL[dtype] if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)))
    assert ours[0].dtype.name == np.dtype(dtype).name


@pytest.mark.parametrize("shapes, dim", [(((2, 5, 3), (2, 5, 3)), 1), (((3, 1, 4), (5, 4)), -1),
                                         (((2, 3, 4), (1, 3, 1)), 0), (((6,), (6,)), 0)], ids=str)
def test_cosine_similarity_dims_and_broadcasting(torch, shapes, dim):
    x1, x2 = randn(*shapes[0], dtype=np.float64), randn(*shapes[1], dtype=np.float64, seed=2)
    ours, theirs = _two(torch, "cosine_similarity", x1, x2, "cpu", dim=dim)
    _assert_all_close(ours, theirs, **TOL[np.float64])


def test_cosine_similarity_large_parallel(torch):
    # the benchmark's shape, smaller: rows big enough for the parallel kernels
    x1, x2 = randn(300, 128), randn(300, 128, seed=3)
    ours, theirs = _two(torch, "cosine_similarity", x1, x2, "cpu", eps=1e-6)
    _assert_all_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_cosine_similarity_promotes_and_handles_empty(torch):
    x1, x2 = randn(3, 4), randn(3, 4, dtype=np.float64, seed=4)
    y = F.cosine_similarity(nnlite.tensor(x1), nnlite.tensor(x2))
    assert y.dtype.name == "float64"
    assert_close(y, torch.nn.functional.cosine_similarity(torch.tensor(x1), torch.tensor(x2)), rtol=1e-6)
    ours, theirs = _two(torch, "cosine_similarity", randn(3, 0), randn(3, 0), "cpu")
    _assert_all_close(ours, theirs)
    ours, theirs = _two(torch, "cosine_similarity", randn(0, 3), randn(0, 3), "cpu")
    _assert_all_close(ours, theirs)


def test_cosine_similarity_noncontiguous(torch):
    x1, x2 = randn(5, 4), randn(5, 4, seed=5)
    y = F.cosine_similarity(nnlite.tensor(x1).t(), nnlite.tensor(x2).t(), dim=0)
    assert_close(y, torch.nn.functional.cosine_similarity(torch.tensor(x1).t(), torch.tensor(x2).t(), dim=0))


def test_cosine_similarity_gradcheck(device):
    a = nnlite.tensor(randn(3, 4, dtype=np.float64), device=device, requires_grad=True)
    b = nnlite.tensor(randn(1, 4, dtype=np.float64, seed=6), device=device, requires_grad=True)
    assert gradcheck(lambda x, y: F.cosine_similarity(x, y), (a, b))


def test_cosine_similarity_errors():
    with pytest.raises(RuntimeError, match=r"size of tensor a \(4\) must match the size of tensor b \(5\)"):
        F.cosine_similarity(nnlite.tensor(randn(3, 4)), nnlite.tensor(randn(3, 5)))
    with pytest.raises(IndexError, match=r"cosine_similarity.*range of \[-1, 0\].*got 1"):
        F.cosine_similarity(nnlite.tensor(randn(4)), nnlite.tensor(randn(4)))
    with pytest.raises(RuntimeError, match="cosine_similarity.*floating point.*Long"):
        F.cosine_similarity(nnlite.tensor([[1, 2]]), nnlite.tensor([[3, 4]]))
    with pytest.raises(TypeError, match="cosine_similarity.*x2.*Tensor"):
        F.cosine_similarity(nnlite.tensor(randn(3, 4)), randn(3, 4))


# ------------------------------------------------------------------ pairwise_distance

@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_distance_matches_torch(torch, dtype, p):
    x1, x2 = randn(5, 6, dtype=dtype), randn(5, 6, dtype=dtype, seed=1)
    ours, theirs = _two(torch, "pairwise_distance", x1, x2, "cpu", p=p)
    _assert_all_close(ours, theirs, **(TOL[dtype] if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)))


def test_pairwise_distance_cuda(torch, device):
    x1, x2 = randn(3, 4), randn(3, 4, seed=2)
    ours, theirs = _two(torch, "pairwise_distance", x1, x2, device, keepdim=True)
    _assert_all_close(ours, theirs)


def test_pairwise_distance_zero_distance_and_broadcast(torch):
    x = randn(2, 3, dtype=np.float64)
    # eps=0 and equal rows: the distance is 0 and so is torch's gradient for p=2
    ours, theirs = _two(torch, "pairwise_distance", x, x.copy(), "cpu", eps=0.0)
    _assert_all_close(ours, theirs)
    assert (ours[1].numpy() == 0).all()
    ours, theirs = _two(torch, "pairwise_distance", randn(4, 3, dtype=np.float64), randn(3, dtype=np.float64), "cpu")
    _assert_all_close(ours, theirs, **TOL[np.float64])
    y = F.pairwise_distance(nnlite.tensor(randn(4)), nnlite.tensor(randn(4, seed=1)))
    assert y.shape == ()


def test_pairwise_distance_gradcheck():
    a = nnlite.tensor(randn(3, 4, dtype=np.float64), requires_grad=True)
    b = nnlite.tensor(randn(3, 4, dtype=np.float64, seed=7), requires_grad=True)
    assert gradcheck(lambda x, y: F.pairwise_distance(x, y, p=3.0), (a, b))


def test_pairwise_distance_errors():
    with pytest.raises(RuntimeError, match=r"size of tensor a \(4\) must match the size of tensor b \(5\)"):
        F.pairwise_distance(nnlite.tensor(randn(3, 4)), nnlite.tensor(randn(3, 5)))
    with pytest.raises(TypeError, match="pairwise_distance.*x1.*Tensor"):
        F.pairwise_distance([1.0], nnlite.tensor(randn(1)))


# ------------------------------------------------------------------ pdist

PDIST_X = np.array([[1.0, 2, 3], [1, 2, 3], [0, 5, 3], [2, 1, 3], [0.5, -1, 2]])  # rows 0 and 1 equal


@pytest.mark.parametrize("p", [2.0, 0.0, 0.5, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pdist_matches_torch(torch, device, dtype, p):
    x = PDIST_X.astype(dtype)
    a, t = nnlite.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.pdist(a, p), torch.nn.functional.pdist(t, p)
    g = randn(*ty.shape, dtype=dtype, seed=3)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    tol = TOL[dtype] if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    assert_close(y, ty, **tol)
    assert_close(a.grad, t.grad, **tol)    # zero distances give zero gradients, as in torch


def test_pdist_large_parallel(torch):
    x = randn(130, 20, seed=4)
    a, t = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.pdist(a), torch.nn.functional.pdist(t)
    g = randn(*ty.shape, seed=5)
    y.backward(nnlite.tensor(g))
    ty.backward(torch.tensor(g))
    assert_close(y, ty, rtol=1e-5, atol=1e-5)
    assert_close(a.grad, t.grad, rtol=1e-4, atol=1e-5)


def test_pdist_empty_and_noncontiguous(torch):
    for shape in [(1, 3), (0, 3), (3, 0)]:
        x = randn(*shape)
        assert_close(F.pdist(nnlite.tensor(x)), torch.nn.functional.pdist(torch.tensor(x)))
    x = randn(4, 6, seed=6)
    assert_close(F.pdist(nnlite.tensor(x).t()), torch.nn.functional.pdist(torch.tensor(x).t()), rtol=1e-5)


@pytest.mark.parametrize("p", [2.0, 1.5])
def test_pdist_gradcheck(device, p):
    a = nnlite.tensor(randn(4, 3, dtype=np.float64, seed=8), device=device, requires_grad=True)
    assert gradcheck(lambda x: F.pdist(x, p), (a,))


def test_pdist_errors():
    with pytest.raises(RuntimeError, match=r"pdist only supports 2D tensors, got: 1D \(size \[3\]\)"):
        F.pdist(nnlite.tensor(randn(3)))
    with pytest.raises(RuntimeError, match="pdist only supports non-negative p values, got p=-1"):
        F.pdist(nnlite.tensor(randn(3, 2)), p=-1)
    with pytest.raises(RuntimeError, match="pdist only supports floating-point dtypes, got Long"):
        F.pdist(nnlite.tensor([[1, 2], [3, 4]]))
    with pytest.raises(TypeError, match="pdist.*input.*Tensor"):
        F.pdist(randn(3, 2))


def test_distances_leave_inputs_alone():
    x1, x2 = randn(3, 4), randn(3, 4, seed=1)
    a, b = nnlite.tensor(x1, requires_grad=True), nnlite.tensor(x2, requires_grad=True)
    (F.cosine_similarity(a, b).sum() + F.pairwise_distance(a, b).sum() + F.pdist(a).sum()).backward()
    assert (a.detach().numpy() == x1).all() and (b.detach().numpy() == x2).all()
