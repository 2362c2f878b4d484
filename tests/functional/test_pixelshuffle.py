"""pixel_shuffle, pixel_unshuffle and channel_shuffle: values and gradients vs PyTorch (float32,
float64, integers, extra batch dims, unbatched), gradcheck, CUDA (simulator, tiny shapes), errors,
empty and non-contiguous inputs, outputs that never alias the input, and the modules."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

# (op name, factor, input shape)
CASES = [
    ("pixel_shuffle", 2, (2, 8, 3, 4)),
    ("pixel_shuffle", 3, (9, 2, 2)),             # unbatched
    ("pixel_shuffle", 2, (2, 1, 4, 2, 3)),       # extra batch dims
    ("pixel_shuffle", 1, (2, 3, 2, 2)),
    ("pixel_unshuffle", 2, (2, 3, 4, 6)),
    ("pixel_unshuffle", 3, (2, 3, 3, 6, 3)),
    ("channel_shuffle", 2, (2, 6, 3, 2)),
    ("channel_shuffle", 3, (2, 6, 5)),           # 3-D
    ("channel_shuffle", 4, (1, 8, 2, 1, 2)),     # 5-D
    ("channel_shuffle", 1, (2, 3, 2)),
]


def _both(torch, name, factor, x, device="cpu"):
    xt = nnlite.tensor(x, device=device, requires_grad=x.dtype.kind == "f")
    tx = torch.tensor(x, requires_grad=x.dtype.kind == "f")
    return xt, tx, getattr(F, name)(xt, factor), getattr(torch.nn.functional, name)(tx, factor)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,factor,shape", CASES)
def test_matches_torch(torch, name, factor, shape, dtype):
    xt, tx, y, ty = _both(torch, name, factor, randn(*shape, seed=1, dtype=dtype))
    assert y.dtype is xt.dtype
    assert_close(y, ty, rtol=0, atol=0)
    g = randn(*ty.shape, seed=2, dtype=dtype)
    y.backward(nnlite.tensor(g))
    ty.backward(torch.tensor(g))
    assert_close(xt.grad, tx.grad, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["pixel_shuffle", "pixel_unshuffle", "channel_shuffle"])
def test_integers_and_empty_batches(torch, name):
    x = np.arange(2 * 4 * 2 * 2, dtype=np.int64).reshape(2, 4, 2, 2)
    _, _, y, ty = _both(torch, name, 2, x)
    assert y.dtype is nnlite.int64
    assert_close(y, ty, rtol=0, atol=0)
    _, _, y, ty = _both(torch, name, 2, np.zeros((0, 4, 2, 2), np.float32))
    # torch 2.13's pixel_unshuffle returns an empty input's clone, shape unchanged (its CPU kernel
    # returns early); nnlite keeps the documented (*, C*r*r, H/r, W/r) so later layers see the
    # channels they expect
    expected = (0, 16, 1, 1) if name == "pixel_unshuffle" else tuple(ty.shape)
    assert tuple(y.shape) == expected


def test_gradcheck():
    x = nnlite.tensor(randn(1, 4, 2, 2, seed=3, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda t: F.pixel_shuffle(t, 2), (x,))
    assert gradcheck(lambda t: F.pixel_unshuffle(t, 2), (x,))
    assert gradcheck(lambda t: F.channel_shuffle(t, 2), (x,))


def test_device_matches_torch(torch, device):
    for name, factor, shape in (CASES[0], CASES[4], CASES[6]):
        xt, tx, y, ty = _both(torch, name, factor, randn(*shape, seed=4), device=device)
        assert y.device.type == device
        assert_close(y, ty, rtol=0, atol=0)
        g = randn(*ty.shape, seed=5)
        y.backward(nnlite.tensor(g, device=device))
        ty.backward(torch.tensor(g))
        assert_close(xt.grad, tx.grad, rtol=0, atol=0)


def test_non_contiguous_input(torch):
    x = randn(2, 3, 4, 8, seed=6)
    ours = nnlite.tensor(x).transpose(1, 3)          # (2, 8, 4, 3)
    theirs = torch.tensor(x).transpose(1, 3)
    assert_close(F.pixel_shuffle(ours, 2), torch.nn.functional.pixel_shuffle(theirs, 2), rtol=0, atol=0)
    assert_close(F.channel_shuffle(ours, 4), torch.nn.functional.channel_shuffle(theirs, 4), rtol=0, atol=0)
    ours, theirs = nnlite.tensor(x)[:, :, :, ::2], torch.tensor(x)[:, :, :, ::2]
    assert_close(F.pixel_unshuffle(ours, 2), torch.nn.functional.pixel_unshuffle(theirs, 2), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["pixel_shuffle", "pixel_unshuffle", "channel_shuffle"])
def test_output_never_aliases_the_input(name):
    x_np = randn(1, 2, 2, 2, seed=7)
    x = nnlite.tensor(x_np)
    y = getattr(F, name)(x, 1)         # the identity permutation still returns a new tensor
    y.add_(1.0)
    assert np.array_equal(x.numpy(), x_np)
    z = getattr(F, name)(x, 2 if name != "pixel_shuffle" else 1)
    assert np.array_equal(x.numpy(), x_np) and z.numpy() is not x.numpy()


X = nnlite.zeros(2, 8, 3, 3)
ERRORS = [
    (lambda: F.pixel_shuffle(X, 3), RuntimeError, "input.size(-3)=8 is not divisible by 9"),
    (lambda: F.pixel_shuffle(nnlite.zeros(8, 3), 2), RuntimeError, "at least 3 dimensions, but got input with 2"),
    (lambda: F.pixel_shuffle(X, 0), RuntimeError, "expects a positive upscale_factor, but got 0"),
    (lambda: F.pixel_shuffle(X, 2.0), TypeError, "argument 'upscale_factor' (position 2) must be int, not float"),
    (lambda: F.pixel_unshuffle(X, 2), RuntimeError, "height to be divisible by downscale_factor, but input.size(-2)=3"),
    (lambda: F.pixel_unshuffle(nnlite.zeros(2, 8, 4, 5), 2), RuntimeError, "width to be divisible"),
    (lambda: F.pixel_unshuffle(X, -1), RuntimeError, "expects a positive downscale_factor, but got -1"),
    (lambda: F.channel_shuffle(X, 3), RuntimeError, "Got 8 channels and 3 groups"),
    (lambda: F.channel_shuffle(X, 0), RuntimeError, "must be positive. Value of groups:0"),
    (lambda: F.channel_shuffle(nnlite.zeros(2, 8), 2), RuntimeError, "> 2 dims, but got input with sizes [2, 8]"),
    (lambda: F.channel_shuffle(np.zeros((2, 8, 3)), 2), TypeError, "argument 'input' must be Tensor"),
]


@pytest.mark.parametrize("call,exc,message", ERRORS)
def test_bad_input_raises(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)


def test_modules_match_torch(torch):
    x = randn(2, 8, 2, 4, seed=8)
    pairs = [(nn.PixelShuffle(2), torch.nn.PixelShuffle(2)), (nn.PixelUnshuffle(2), torch.nn.PixelUnshuffle(2)),
             (nn.ChannelShuffle(4), torch.nn.ChannelShuffle(4))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == [] and list(ours.parameters()) == []
        assert_close(ours(nnlite.tensor(x)), theirs(torch.tensor(x)), rtol=0, atol=0)
