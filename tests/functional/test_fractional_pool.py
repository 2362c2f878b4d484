"""fractional_max_pool2d/3d and FractionalMaxPool2d/3d: with _random_samples given, values,
indices and gradients equal torch's exactly (float32 and float64); gradcheck; random windows
from nnlite's generator; CUDA (simulator); errors; module attributes and buffer."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

CONFIGS = [  # (nd, input shape, kernel_size, kwargs)
    (2, (2, 3, 9, 11), (2, 3), dict(output_size=(4, 5))),
    (2, (3, 10, 10), 3, dict(output_ratio=(0.5, 0.5))),                 # unbatched
    (2, (1, 2, 5, 5), 2, dict(output_size=1)),                          # one window: at the end
    (2, (2, 2, 6, 7), 2, dict(output_size=(5, 6))),                     # overlapping windows
    (3, (2, 2, 7, 8, 9), (2, 2, 3), dict(output_size=(3, 4, 2))),
    (3, (2, 7, 8, 9), 2, dict(output_ratio=(0.5, 0.7, 0.3))),           # unbatched
]


def _samples(nd, shape, dtype, seed=5):
    n = shape[0] if len(shape) == nd + 2 else 1
    return np.random.default_rng(seed).random((n, shape[len(shape) - nd - 1], nd)).astype(dtype)


def _run(nd, shape, k, kwargs, dtype, device="cpu"):
    x, u = randn(*shape, seed=1, dtype=dtype), _samples(nd, shape, dtype)
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    y, idx = getattr(F, f"fractional_max_pool{nd}d")(xt, k, return_indices=True,
                                                       _random_samples=nnlite.tensor(u, device=device), **kwargs)
    g = randn(*y.shape, seed=2, dtype=dtype)
    y.backward(nnlite.tensor(g, device=device))
    return x, u, g, y, idx, xt


def _torch_run(torch, nd, k, kwargs, x, u, g):
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = getattr(torch.nn.functional, f"fractional_max_pool{nd}d")(
        tx, k, return_indices=True, _random_samples=torch.tensor(u), **kwargs)
    ty.backward(torch.tensor(g))
    return ty, ti, tx.grad


@pytest.mark.parametrize("nd, shape, k, kwargs", CONFIGS)
def test_matches_torch_exactly(torch, nd, shape, k, kwargs):
    for dtype in (np.float32, np.float64):
        x, u, g, y, idx, xt = _run(nd, shape, k, kwargs, dtype)
        ty, ti, tgrad = _torch_run(torch, nd, k, kwargs, x, u, g)
        assert y.dtype.np == dtype and idx.dtype is nnlite.int64
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(idx.numpy(), ti.numpy())
        np.testing.assert_array_equal(xt.grad.numpy(), tgrad.numpy())
        assert_close(xt, x)  # input untouched


@pytest.mark.parametrize("nd, shape, k, kwargs", [CONFIGS[0], CONFIGS[4]])
def test_cuda_matches_torch(torch, cuda_device, nd, shape, k, kwargs):
    shape = shape[:2] + tuple(min(s, 6) for s in shape[2:])
    kwargs = dict(output_size=(2,) * nd)
    x, u, g, y, idx, xt = _run(nd, shape, k, kwargs, np.float32, cuda_device)
    ty, ti, tgrad = _torch_run(torch, nd, k, kwargs, x, u, g)
    assert y.device.type == cuda_device
    assert_close(y.cpu(), ty)
    np.testing.assert_array_equal(idx.cpu().numpy(), ti.numpy())
    assert_close(xt.grad.cpu(), tgrad)


@pytest.mark.parametrize("nd", [2, 3])
def test_gradcheck(nd):
    x = nnlite.tensor(randn(1, 2, *(5,) * nd, seed=3, dtype=np.float64), requires_grad=True)
    u = nnlite.tensor(_samples(nd, (1, 2) + (5,) * nd, np.float64))
    op = getattr(F, f"fractional_max_pool{nd}d")
    assert gradcheck(lambda t: op(t, 2, output_size=3, _random_samples=u), (x,))


def test_non_contiguous_input(torch):
    x_np = randn(2, 3, 8, 14, seed=1)
    x = nnlite.tensor(x_np, requires_grad=True)
    u = _samples(2, (2, 3, 8, 7), np.float32)
    y = F.fractional_max_pool2d(x[..., ::2], 2, output_size=(4, 3), _random_samples=nnlite.tensor(u))
    ty = torch.nn.functional.fractional_max_pool2d(torch.tensor(x_np)[..., ::2], 2, output_size=(4, 3),
                                                   _random_samples=torch.tensor(u))
    np.testing.assert_array_equal(y.detach().numpy(), ty.numpy())
    assert_close(x, x_np)


def test_random_windows_use_nnlite_generator():
    x = nnlite.tensor(randn(2, 3, 13, 13, seed=1))  # alpha = 11/5: windows move with the draw
    nnlite.manual_seed(7)
    a, ia = F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True)
    nnlite.manual_seed(7)
    b, ib = F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True)
    assert tuple(a.shape) == (2, 3, 6, 6)
    np.testing.assert_array_equal(ia.numpy(), ib.numpy())
    c, ic = F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True)
    assert not np.array_equal(ia.numpy(), ic.numpy())  # a fresh draw moves the windows
    # every output is the max of a 2x2 window of its own plane
    xs = x.numpy().reshape(2, 3, 169)
    np.testing.assert_array_equal(np.take_along_axis(xs, ia.numpy().reshape(2, 3, 36), 2), a.numpy().reshape(2, 3, 36))


def test_empty_batch():
    x = nnlite.zeros(0, 2, 6, 6, requires_grad=True)
    y = F.fractional_max_pool2d(x, 2, output_size=3)
    assert tuple(y.shape) == (0, 2, 3, 3)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 2, 6, 6)


def test_errors():
    x = nnlite.tensor(randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match="fractional_max_pool2d requires specifying either an output_size or an "
                                         "output_ratio"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(RuntimeError, match=r"fractional_max_pool2d\(\): pool height 3 too large relative to "
                                           r"input height 5"):
        F.fractional_max_pool2d(x, 3, output_size=(4, 2))
    with pytest.raises(RuntimeError, match=r"fractional_max_pool3d\(\): Expected 4D or 5D tensor, but got: "
                                           r"\[2, 5, 5\]"):
        F.fractional_max_pool3d(x[0], 2, output_size=2)
    with pytest.raises(RuntimeError, match=r"expected _random_samples of shape \[1, 2, 2\], but got \[1, 2, 3\]"):
        F.fractional_max_pool2d(x, 2, output_size=2, _random_samples=nnlite.rand(1, 2, 3))
    with pytest.raises(RuntimeError, match=r"fractional_max_pool2d: expected a float32 or float64 input"):
        F.fractional_max_pool2d(x.long(), 2, output_size=2)


# ---------------------------------------------------------------- modules

@pytest.mark.parametrize("name, kwargs", [("FractionalMaxPool2d", dict(kernel_size=2, output_ratio=0.5)),
                                          ("FractionalMaxPool3d", dict(kernel_size=(1, 2, 2), output_size=3,
                                                                       return_indices=True))])
def test_module_attributes_match_torch(torch, name, kwargs):
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    for attr in ("kernel_size", "output_size", "output_ratio", "return_indices"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []


def test_module_with_samples_matches_torch(torch):
    x, u = randn(2, 3, 7, 7, seed=1), _samples(2, (2, 3, 7, 7), np.float32)
    ours = nn.FractionalMaxPool2d(3, output_size=(3, 4), _random_samples=nnlite.tensor(u))
    theirs = torch.nn.FractionalMaxPool2d(3, output_size=(3, 4), _random_samples=torch.tensor(u))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["_random_samples"]
    np.testing.assert_array_equal(ours(nnlite.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy())


def test_module_errors():
    with pytest.raises(ValueError, match="FractionalMaxPool2d requires specifying either an output size, or a "
                                         "pooling ratio"):
        nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="only one of output_size and output_ratio may be specified"):
        nn.FractionalMaxPool3d(2, output_size=2, output_ratio=0.5)
    with pytest.raises(ValueError, match=r"output_ratio must be between 0 and 1 \(got 1.5\)"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="kernel_size must be greater than 0, but got 0"):
        nn.FractionalMaxPool3d(0, output_size=2)


def test_exported():
    for name in ("FractionalMaxPool2d", "FractionalMaxPool3d"):
        assert name in nn.__all__
    for name in ("fractional_max_pool2d", "fractional_max_pool3d"):
        assert getattr(nnlite, name) is getattr(F, name)
