"""Pooling modules in 1, 2 and 3 dimensions: torch's attributes, repr, (empty) state_dict and forward."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn

MODULES = [  # (class name, args, kwargs, input shape)
    ("MaxPool1d", (3,), dict(stride=2, padding=1, dilation=1, ceil_mode=True), (2, 3, 9)),
    ("MaxPool2d", (2,), {}, (2, 3, 6, 6)),
    ("MaxPool3d", (2, 1, 1, 2), dict(return_indices=True, ceil_mode=True), (1, 2, 4, 5, 4)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 3, 9)),
    ("AvgPool2d", ((2, 3),), dict(divisor_override=4), (2, 3, 6, 6)),
    ("AvgPool3d", (3, 2, 1), dict(ceil_mode=True, count_include_pad=False, divisor_override=None), (1, 2, 4, 5, 4)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}, (1, 2, 4, 5, 4)),
    ("AdaptiveMaxPool1d", (4,), dict(return_indices=True), (2, 3, 9)),
    ("AdaptiveMaxPool3d", ((2, 3, 1),), {}, (1, 2, 4, 5, 4)),
    ("LPPool1d", (2, 3), dict(stride=2), (2, 3, 9)),
    ("LPPool2d", (1.5, (2, 3)), dict(stride=1, ceil_mode=True), (2, 3, 6, 6)),
    ("LPPool3d", (2, 2), {}, (1, 2, 4, 5, 4)),
]


@pytest.mark.parametrize("name, args, kwargs, shape", MODULES)
def test_pool_modules_match_torch(torch, name, args, kwargs, shape):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    public = {k: v for k, v in vars(theirs).items() if not k.startswith("_") and k != "training"}
    assert {k: getattr(ours, k) for k in public} == public
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    x = np.abs(randn(*shape, seed=1)) + 0.1 if name.startswith("LP") else randn(*shape, seed=1)
    y, ty = ours(nnlite.tensor(x)), theirs(torch.tensor(x))
    if isinstance(ty, tuple):
        assert np.array_equal(y[1].numpy(), ty[1].numpy())
        y, ty = y[0], ty[0]
    assert_close(y, ty)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_modules_match_torch(torch, nd):
    shape = {1: (2, 3, 9), 2: (1, 2, 7, 6), 3: (1, 2, 5, 4, 4)}[nd]
    pool, tpool = getattr(nn, f"MaxPool{nd}d")(2, return_indices=True), getattr(torch.nn, f"MaxPool{nd}d")(
        2, return_indices=True)
    unpool, tunpool = getattr(nn, f"MaxUnpool{nd}d")(2), getattr(torch.nn, f"MaxUnpool{nd}d")(2)
    assert repr(unpool) == repr(tunpool)
    assert (unpool.kernel_size, unpool.stride, unpool.padding) == (tunpool.kernel_size, tunpool.stride,
                                                                   tunpool.padding)
    assert list(unpool.state_dict()) == []
    x = randn(*shape, seed=2)
    (y, i), (ty, ti) = pool(nnlite.tensor(x)), tpool(torch.tensor(x))
    assert_close(unpool(y, i), tunpool(ty, ti))
    size = shape[2:]
    assert_close(unpool(y, i, output_size=size), tunpool(ty, ti, output_size=size))


def test_modules_backward():
    x = nnlite.tensor(randn(1, 2, 4, 4, 4, seed=3), requires_grad=True)
    nn.Sequential(nn.MaxPool3d(2), nn.AdaptiveAvgPool3d(1)).forward(x).sum().backward()
    assert tuple(x.grad.shape) == (1, 2, 4, 4, 4)
    assert float(x.grad.sum().item()) == pytest.approx(2.0)   # one max per channel, weight 1
