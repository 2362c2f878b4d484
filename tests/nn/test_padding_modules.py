"""The padding layers (Reflection-, Replication-, Zero-, Constant- and CircularPad in 1-3 dims):
stored padding, repr, state_dict, and forward + gradients vs torch on batched and unbatched
inputs in float32 and float64, CUDA (simulator, tiny shapes), rank errors, inputs never modified."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn

KINDS = ["Reflection", "Replication", "Zero", "Constant", "Circular"]
# per dims: an int padding, and a tuple with distinct sides (each < the input size, as reflect needs)
PADDINGS = {1: (2, (1, 3)), 2: (1, (2, 0, 1, 2)), 3: (1, (1, 0, 2, 1, 0, 1))}


def _make(lib, kind, dims, padding):
    cls = getattr(lib, f"{kind}Pad{dims}d")
    return cls(padding, 1.5) if kind == "Constant" else cls(padding)


def _shape(dims, batched):
    spatial = (4, 5, 6)[3 - dims:]
    return ((2, 3) if batched else (3,)) + spatial


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch(torch, kind, dims):
    for padding in PADDINGS[dims]:
        ours, theirs = _make(nn, kind, dims, padding), _make(torch.nn, kind, dims, padding)
        assert ours.padding == theirs.padding and isinstance(ours.padding, tuple)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == [] and list(ours.parameters()) == []
        for batched, dtype in ((True, np.float32), (False, np.float64)):
            x = randn(*_shape(dims, batched), seed=dims, dtype=dtype)
            xt = nnlite.tensor(x, requires_grad=True)
            tx = torch.tensor(x, requires_grad=True)
            y, ty = ours(xt), theirs(tx)
            assert y.dtype is xt.dtype
            assert_close(y, ty, rtol=0, atol=0)
            g = randn(*ty.shape, seed=7, dtype=dtype)
            y.backward(nnlite.tensor(g))
            ty.backward(torch.tensor(g))
            assert_close(xt.grad, tx.grad, rtol=1e-6, atol=1e-6)
            assert np.array_equal(xt.detach().numpy(), x)


def test_list_padding_and_negative_padding(torch):
    x = randn(2, 3, 5, 6, seed=1)
    for ours, theirs in ((nn.ZeroPad2d([1, -1, 0, 2]), torch.nn.ZeroPad2d([1, -1, 0, 2])),
                         (nn.ConstantPad1d((-1, 2), -3), torch.nn.ConstantPad1d((-1, 2), -3)),
                         (nn.ReplicationPad2d((0, 0, 2, 1)), torch.nn.ReplicationPad2d((0, 0, 2, 1)))):
        assert repr(ours) == repr(theirs)
        assert_close(ours(nnlite.tensor(x)), theirs(torch.tensor(x)), rtol=0, atol=0)


def test_device_matches_torch(torch, device):
    x = randn(1, 2, 3, 4, seed=2)
    for kind in KINDS:
        ours, theirs = _make(nn, kind, 2, (1, 2, 2, 0)), _make(torch.nn, kind, 2, (1, 2, 2, 0))
        xt = nnlite.tensor(x, device=device, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        y, ty = ours(xt), theirs(tx)
        assert y.device.type == device
        assert_close(y, ty, rtol=0, atol=0)
        g = randn(*ty.shape, seed=3)
        y.backward(nnlite.tensor(g, device=device))
        ty.backward(torch.tensor(g))
        assert_close(xt.grad, tx.grad, rtol=1e-6, atol=1e-6)


def test_empty_batch():
    for kind in KINDS:
        y = _make(nn, kind, 2, 1)(nnlite.zeros(0, 2, 3, 3))
        assert tuple(y.shape) == (0, 2, 5, 5)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_circular_pad_checks_the_rank(dims):
    x = nnlite.zeros(*(2,) * (dims + 3))
    with pytest.raises(ValueError, match=rf"expected {dims + 1}D or {dims + 2}D input \(got {dims + 3}D input\)"):
        _make(nn, "Circular", dims, 1)(x)


def test_bad_padding_raises_from_pad():
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        nn.ReflectionPad1d(3)(nnlite.zeros(1, 2, 3))
    with pytest.raises(NotImplementedError, match="Padding size 4 is not supported for 2D input"):
        nn.ReplicationPad2d(1)(nnlite.zeros(2, 3))
