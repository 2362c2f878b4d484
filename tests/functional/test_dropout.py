"""Dropout: mask statistics and scaling, the same mask on CPU and CUDA for the same seed,
gradients through the regenerated mask, channel dropout, alpha dropout, in-place, errors."""
import warnings

import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

# The CUDA simulator runs the kernels in Python: uint64 hashing "overflows", NaN * 0 warns.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _seeded(fn, seed=0):
    """fn with the generator reseeded before every call (gradcheck calls it many times)."""
    def call(*args):
        nnlite.manual_seed(seed)
        return fn(*args)
    return call


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keeps_1_minus_p_and_scales_like_torch(p):
    x = np.abs(randn(200000, seed=1)) + 0.5
    y = F.dropout(nnlite.tensor(x), p).numpy()
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.01
    scale = np.float32(1) / np.float32(1 - p)  # torch: noise.div_(1 - p) in float32
    np.testing.assert_array_equal(y[kept], x[kept] * scale)


def test_same_seed_same_mask_on_cpu_and_cuda(device):
    x = np.ones(300, np.float32)
    nnlite.manual_seed(123)
    on_cpu = F.dropout(nnlite.tensor(x), 0.4).numpy()
    nnlite.manual_seed(123)
    here = F.dropout(nnlite.tensor(x, device=device), 0.4).cpu().numpy()
    np.testing.assert_array_equal(here, on_cpu)
    again = F.dropout(nnlite.tensor(x, device=device), 0.4).cpu().numpy()
    assert (again != here).any()  # the generator moved on


@pytest.mark.parametrize("n", [50, 70000])
def test_gradient_is_the_same_mask(device, n):
    if device == "cuda":
        n = 50
    x = nnlite.tensor(randn(n, seed=2), device=device, requires_grad=True)
    y = F.dropout(x, 0.3)
    g = randn(n, seed=3)
    y.backward(nnlite.tensor(g, device=device))
    mask = (y.detach().cpu().numpy() != 0) * np.float32(1 / np.float32(0.7))
    assert_close(x.grad, g * mask)


def test_gradcheck(device):
    x = nnlite.tensor(randn(12, dtype=np.float64, seed=4), device=device, requires_grad=True)
    assert gradcheck(_seeded(lambda t: F.dropout(t, 0.4)), (x,))
    y = nnlite.tensor(randn(2, 3, 2, dtype=np.float64, seed=5), device=device, requires_grad=True)
    assert gradcheck(_seeded(lambda t: F.dropout1d(t, 0.5)), (y,))
    assert gradcheck(_seeded(lambda t: F.alpha_dropout(t, 0.2, training=True)), (x,))


def test_p_one_zeroes_everything_and_propagates_nan(torch, device):
    x = nnlite.tensor([np.nan, np.inf, 1.0, -2.0], device=device, requires_grad=True)
    y = F.dropout(x, 1.0)
    assert_close(y, torch.nn.functional.dropout(torch.tensor([np.nan, np.inf, 1.0, -2.0]), 1.0))
    y.backward(nnlite.ones(4, device=device))
    assert_close(x.grad, np.zeros(4))


def test_eval_mode_and_p_zero_return_the_input():
    x = nnlite.tensor([1.0, 2.0])
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    images = nnlite.ones(2, 2, 2, 2)
    assert F.dropout2d(images, 0.0) is images
    assert F.alpha_dropout(x, 0.5) is x  # alpha_dropout's training defaults to False, as in torch
    ints = nnlite.tensor([1, 2])
    assert F.dropout(ints, 0.5, training=False) is ints


@pytest.mark.parametrize("fn, shape, group", [
    ("dropout2d", (4, 6, 3, 5), 15), ("dropout1d", (4, 6, 7), 7), ("dropout1d", (6, 7), 7),
    ("dropout3d", (3, 4, 2, 3, 2), 12), ("dropout3d", (4, 2, 3, 2), 12), ("dropout2d", (4, 6, 9), 9),
])
def test_channel_dropout_drops_whole_channels(device, fn, shape, group):
    x = nnlite.tensor(np.abs(randn(*shape, seed=6)) + 1, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = getattr(F, fn)(x, 0.5).cpu().numpy().reshape(-1, group)
    dropped = (y == 0).all(axis=1)
    kept = (y != 0).all(axis=1)
    assert (dropped | kept).all()
    assert dropped.any() and kept.any()
    assert_close(y[kept], x.cpu().numpy().reshape(-1, group)[kept] * 2)


def test_dropout2d_warns_about_3d_inputs():
    with pytest.warns(UserWarning, match="interpreted as shape \\(N, C, L\\)"):
        F.dropout2d(nnlite.ones(2, 3, 4), 0.5)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        F.dropout2d(nnlite.ones(2, 3), 0.5)


def test_alpha_dropout_matches_torchs_formula_and_statistics(torch):
    p = 0.3
    x = randn(200000, seed=7)
    y = F.alpha_dropout(nnlite.tensor(x), p, training=True).numpy()
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    dropped = np.isclose(y, alpha * a * (p - 1), rtol=0, atol=1e-6) & ~np.isclose(x * a + alpha * a * p, y)
    assert abs(dropped.mean() - p) < 0.01
    assert_close(y[~dropped], x[~dropped] * np.float32(a) + np.float32(alpha * a * p), rtol=1e-6, atol=1e-6)
    want = torch.nn.functional.alpha_dropout(torch.tensor(x), p, training=True).numpy()
    assert abs(y.mean() - want.mean()) < 0.01 and abs(y.std() - want.std()) < 0.01


def test_feature_alpha_dropout_drops_whole_channels():
    y = F.feature_alpha_dropout(nnlite.tensor(randn(8, 4, 5, seed=8)), 0.5, training=True).numpy()
    flat = y.reshape(32, 5)
    constant = np.isclose(flat, flat[:, :1]).all(axis=1)
    assert constant.any() and (~constant).any()


@pytest.mark.parametrize("fn", ["dropout", "dropout2d", "alpha_dropout"])
def test_inplace_in_a_graph_matches_out_of_place(device, fn):
    x_np = randn(2, 3, 4, 4, seed=9)
    results = []
    for inplace in (False, True):
        nnlite.manual_seed(5)
        x = nnlite.tensor(x_np, device=device, requires_grad=True)
        h = x * 2
        y = getattr(F, fn)(h, 0.5, training=True, inplace=inplace)
        assert (y is h) == inplace
        (y * y).sum().backward()
        results.append((y.detach().cpu().numpy(), x.grad.cpu().numpy()))
    assert_close(results[1][0], results[0][0])
    assert_close(results[1][1], results[0][1])


def test_inplace_without_graph_writes_into_the_input(device):
    x = nnlite.ones(1000, device=device)
    assert F.dropout(x, 0.5, inplace=True) is x
    values = set(np.unique(x.cpu().numpy()).tolist())
    assert values == {0.0, 2.0}


def test_inputs_are_not_modified(device):
    x_np = randn(3, 4, 5, 2, seed=10)
    x = nnlite.tensor(x_np, device=device)
    for fn in ("dropout", "dropout2d", "alpha_dropout", "feature_alpha_dropout"):
        getattr(F, fn)(x, 0.5, True)
    F.dropout1d(x[0], 0.5)
    assert_close(x, x_np)


def test_errors():
    x = nnlite.ones(4)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
            F.dropout(x, p)
        with pytest.raises(ValueError, match="dropout probability"):
            F.dropout2d(nnlite.ones(2, 2, 2), p)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        F.dropout(nnlite.tensor([1, 2]), 0.5)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 1D input"):
        F.dropout1d(x, 0.5)
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"):
        F.feature_alpha_dropout(x, 0.5, training=True)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.dropout(np.ones(3), 0.5)
