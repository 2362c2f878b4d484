"""Core functions that transformer model files call: tril/triu, roll, meshgrid, log2, _assert, .data."""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("diagonal", [-2, -1, 0, 1, 3])
@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu_match_torch(device, name, diagonal):
    a = randn(2, 3, 4, dtype=np.float64)
    a[0, 0, 3] = np.inf  # a non-finite value in the zeroed part must become 0, not NaN
    ours = getattr(nnlite, name)(nnlite.tensor(a, device=device), diagonal)
    assert_close(ours, getattr(torch, name)(torch.tensor(a), diagonal), rtol=0, atol=0)
    assert_close(getattr(nnlite.tensor(a, device=device), name)(diagonal=diagonal), ours, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu_grad_and_inplace(name):
    a = randn(3, 5, dtype=np.float64)
    x = nnlite.tensor(a, requires_grad=True)
    assert gradcheck(lambda t: getattr(nnlite, name)(t, 1), (x,))
    y = nnlite.tensor(a)
    assert getattr(y, name + "_")(-1) is y
    assert_close(y, getattr(torch, name)(torch.tensor(a), -1), rtol=0, atol=0)


def test_tril_needs_a_matrix():
    with pytest.raises(RuntimeError, match="tril: input tensor must have at least 2 dimensions"):
        nnlite.tril(nnlite.zeros(3))


@pytest.mark.parametrize("shifts, dims", [(2, 0), (-1, 1), ((1, -2), (0, 2)), (7, None), (3, -1), (0, 1), (5, 1)])
def test_roll_matches_torch(device, shifts, dims):
    a = randn(3, 4, 5, dtype=np.float64)
    ours = nnlite.roll(nnlite.tensor(a, device=device), shifts, dims)
    assert_close(ours, torch.roll(torch.tensor(a), shifts, dims), rtol=0, atol=0)
    assert_close(nnlite.tensor(a, device=device).roll(shifts, dims), ours, rtol=0, atol=0)


def test_roll_grad_and_errors():
    x = nnlite.tensor(randn(3, 4, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda t: nnlite.roll(t, (1, -3), (0, 1)), (x,))
    assert gradcheck(lambda t: nnlite.roll(t, 5), (x,))
    with pytest.raises(RuntimeError, match="shifts and dimensions must align. shifts: 2, dims:1"):
        nnlite.roll(x, (1, 2), 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        nnlite.roll(x, 1, 2)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_torch(device, indexing):
    arrays = [np.arange(3.0), np.arange(4.0) * 2, np.array([5.0, 6.0])]
    ours = nnlite.meshgrid(*[nnlite.tensor(a, device=device) for a in arrays], indexing=indexing)
    theirs = torch.meshgrid(*[torch.tensor(a) for a in arrays], indexing=indexing)
    for o, t in zip(ours, theirs):
        assert_close(o, t, rtol=0, atol=0)
    listed = nnlite.meshgrid([nnlite.tensor(a, device=device) for a in arrays[:2]], indexing=indexing)
    for o, t in zip(listed, torch.meshgrid([torch.tensor(a) for a in arrays[:2]], indexing=indexing)):
        assert_close(o, t, rtol=0, atol=0)


def test_meshgrid_grad_and_errors():
    a = nnlite.tensor(np.arange(3.0), requires_grad=True)
    b = nnlite.tensor(np.arange(2.0), requires_grad=True)
    gx, gy = nnlite.meshgrid(a, b, indexing="ij")
    (gx * 2 + gy * 3).sum().backward()
    assert_close(a.grad, np.full(3, 4.0))
    assert_close(b.grad, np.full(2, 9.0))
    with pytest.raises(RuntimeError, match="Expected 0D or 1D tensor in the tensor list but got: 2D"):
        nnlite.meshgrid(nnlite.zeros(2, 2), indexing="ij")
    with pytest.raises(ValueError, match="indexing must be one of"):
        nnlite.meshgrid(a, b, indexing="ji")


def test_log2_matches_torch(device):
    a = np.array([8.0, 0.5, 1e-3, 3.0, 0.0, -1.0, np.inf, np.nan])
    ours = nnlite.log2(nnlite.tensor(a, device=device))
    assert_close(ours, torch.log2(torch.tensor(a)), rtol=0, atol=0)
    assert ours.cpu().numpy()[0] == 3.0  # exact for powers of two
    assert_close(nnlite.tensor(a[:4].astype(np.float32), device=device).log2(),
                 torch.log2(torch.tensor(a[:4].astype(np.float32))))
    assert nnlite.log2(nnlite.tensor([4, 16])).dtype is nnlite.float32  # integers compute in float
    y = nnlite.tensor(a[:4].copy(), device=device)
    y.log2_()
    assert_close(y, np.log2(a[:4]))


def test_log2_grad(device):
    x = nnlite.tensor(np.array([0.3, 1.5, 4.0, 10.0]), device=device, requires_grad=True)
    nnlite.log2(x).sum().backward()
    assert_close(x.grad, 1 / (np.array([0.3, 1.5, 4.0, 10.0]) * np.log(2)), rtol=1e-12)
    assert gradcheck(nnlite.log2, (nnlite.tensor(np.array([0.3, 1.5, 4.0]), requires_grad=True),))


def test_assert():
    nnlite._assert(True, "never raised")
    nnlite._assert(nnlite.tensor(True), "never raised")
    with pytest.raises(AssertionError, match="shape mismatch"):
        nnlite._assert(False, "shape mismatch")
    with pytest.raises(AssertionError, match="tensor condition"):
        nnlite._assert(nnlite.tensor(1) == 2, "tensor condition")


def test_data_of_a_view_of_a_leaf_is_writable():
    lin = nnlite.nn.Linear(4, 6)
    before = lin.bias.detach().numpy().copy()
    lin.bias[2:4].data.zero_()
    after = lin.bias.detach().numpy()
    assert (after[2:4] == 0).all() and np.array_equal(after[[0, 1, 4, 5]], before[[0, 1, 4, 5]])
    assert lin.bias.requires_grad and lin.bias.is_leaf
    d = lin.weight.data
    assert not d.requires_grad and d.grad_fn is None
    d.add_(1.0)  # the training-script idiom p.data.add_(...)
    assert_close(lin.weight, d)
    lin(nnlite.randn(2, 4)).sum().backward()  # the graph still works after writes through .data
    assert lin.weight.grad is not None
