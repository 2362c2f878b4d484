"""atan/atan2 against torch (values in every quadrant and on the axes, gradients there too),
bernoulli/bernoulli_ (frequencies, dtypes, tensor probabilities, errors), flip(dims=...)."""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, to_numpy

POINTS = np.array([(1.0, 2.0), (-1.0, 2.0), (-1.0, -2.0), (1.0, -2.0), (0.0, 3.0), (0.0, -3.0),
                   (2.0, 0.0), (-2.0, 0.0), (0.0, 0.0), (-0.0, -1.0)])


def test_atan_and_atan2_match_torch(torch, device):
    y, x = POINTS[:, 0].copy(), POINTS[:, 1].copy()
    ny, nx = nnlite.tensor(y, device=device, requires_grad=True), nnlite.tensor(x, device=device, requires_grad=True)
    ty, tx = torch.tensor(y, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = nnlite.atan2(ny, nx), torch.atan2(ty, tx)
    assert_close(out, expected, rtol=1e-15, atol=1e-15)
    # gradients away from the origin (torch's is 0/0 there), on the y axis included
    keep = np.hypot(y, x) > 0
    out.backward(nnlite.tensor(keep * 1.0, device=device))
    expected.backward(torch.tensor(keep * 1.0))
    assert_close(ny.grad, np.where(keep, ty.grad.numpy(), 0), rtol=1e-15, atol=1e-15)
    assert_close(nx.grad, np.where(keep, tx.grad.numpy(), 0), rtol=1e-15, atol=1e-15)
    assert_close(nnlite.atan(nnlite.tensor(y, device=device)), torch.atan(torch.tensor(y)))
    assert_close(nnlite.tensor(y, device=device).atan2(nnlite.tensor(2.0, device=device)), torch.atan2(torch.tensor(y), torch.tensor(2.0)))


def test_atan2_broadcasts_promotes_and_gradchecks(torch):
    got = nnlite.atan2(nnlite.tensor([[1], [-2]]), nnlite.tensor([3, -4, 0]))  # int64: default float
    want = torch.atan2(torch.tensor([[1], [-2]]), torch.tensor([3, -4, 0]))
    assert got.dtype is nnlite.float32 and tuple(got.shape) == (2, 3)
    assert_close(got, want, rtol=1e-6, atol=1e-7)
    rng = np.random.default_rng(0)
    y = nnlite.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    x = nnlite.tensor(rng.standard_normal((4,)), requires_grad=True)
    assert gradcheck(nnlite.atan2, (y, x))
    with pytest.raises(TypeError, match="atan2"):
        nnlite.atan2(nnlite.tensor([1.0]), 2.0)


def test_bernoulli_frequencies_and_dtypes(device):
    """Frequencies within 5 standard deviations (few draws on the simulator, which runs every
    CUDA thread as Python)."""
    nnlite.manual_seed(1)
    rows = 1000 if device == "cpu" else 20
    x = nnlite.empty(rows, 50, device=device)
    assert x.bernoulli_(0.3) is x
    values = to_numpy(x)
    assert set(np.unique(values)) <= {0.0, 1.0}
    assert abs(values.mean() - 0.3) < 5 * np.sqrt(0.21 / values.size)
    probs = nnlite.tensor([0.0, 1.0, 0.5], device=device).expand(rows * 10, 3)
    drawn = to_numpy(nnlite.bernoulli(probs))
    assert drawn.dtype == np.float32 and np.all(drawn[:, 0] == 0) and np.all(drawn[:, 1] == 1)
    assert abs(drawn[:, 2].mean() - 0.5) < 5 * np.sqrt(0.25 / len(drawn))
    ints = nnlite.zeros(3, 4, dtype=nnlite.int64, device=device).bernoulli_(nnlite.tensor([0.0, 1.0, 0.0, 1.0], device=device))
    assert ints.dtype is nnlite.int64 and to_numpy(ints).tolist() == [[0, 1, 0, 1]] * 3


def test_bernoulli_errors_and_leaves_probabilities_alone():
    probs = nnlite.tensor([0.2, 0.7])
    nnlite.bernoulli(probs)
    assert to_numpy(probs).tolist() == pytest.approx([0.2, 0.7])
    with pytest.raises(RuntimeError, match=r"p to be in \[0, 1\], but got p=1.5"):
        nnlite.empty(3).bernoulli_(1.5)
    with pytest.raises(RuntimeError, match="floating point tensor of probabilities"):
        nnlite.bernoulli(nnlite.tensor([0, 1]))


def test_flip_takes_dims_by_keyword(torch):
    a = np.arange(24.0).reshape(2, 3, 4)
    assert_close(nnlite.tensor(a).flip(dims=(0, 2)), torch.tensor(a).flip(dims=(0, 2)))
    assert_close(nnlite.flip(nnlite.tensor(a), dims=[1]), torch.flip(torch.tensor(a), dims=[1]))
    with pytest.raises(TypeError, match="multiple values for argument 'dims'"):
        nnlite.tensor(a).flip(0, dims=(1,))
