"""Conv1d, Conv3d, ConvTranspose1d/2d/3d vs torch.nn: signatures, attributes, reprs, state-dict
layout, default init, outputs and gradients after loading a torch layer's state dict, output_size."""
import copy
import inspect
import math

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn

SPECS = [
    ("Conv1d", (3, 8, 3), {}),
    ("Conv1d", (4, 8, 5), dict(stride=2, padding=2, dilation=2, groups=2, bias=False)),
    ("Conv1d", (4, 6, 4), dict(padding="same", padding_mode="reflect")),
    ("Conv1d", (4, 6, 3), dict(padding="valid")),
    ("ConvTranspose1d", (4, 6, 3), {}),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2, dilation=2)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, output_padding=1)),
    ("ConvTranspose2d", (4, 8, (3, 2)), dict(stride=(2, 1), padding=(1, 0), groups=4, bias=False,
                                            dilation=(1, 3))),
    ("Conv3d", (2, 4, 3), dict(padding=1)),
    ("Conv3d", (4, 4, (2, 3, 2)), dict(padding="same", dilation=(1, 1, 2), groups=2,
                                      padding_mode="circular")),
    ("Conv3d", (2, 2, 2), dict(stride=(1, 2, 1), padding=(1, 0, 1), padding_mode="replicate", bias=False)),
    ("ConvTranspose3d", (2, 4, 2), dict(stride=2, output_padding=1)),
    ("ConvTranspose3d", (4, 2, (2, 3, 2)), dict(stride=(1, 2, 2), padding=(0, 1, 1), groups=2, dilation=(2, 1, 1),
                                               bias=False)),
]


def _ids(specs):
    return [f"{name}-{i}" for i, (name, _, _) in enumerate(specs)]


@pytest.mark.parametrize("name", ["Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"])
def test_signatures_match_torch(torch, name):
    for method in ("__init__", "forward"):
        ours = inspect.signature(getattr(getattr(nn, name), method)).parameters
        theirs = inspect.signature(getattr(getattr(torch.nn, name), method)).parameters
        assert [(p.name, p.default, p.kind) for p in ours.values()] == \
            [(p.name, p.default, p.kind) for p in theirs.values()]


@pytest.mark.parametrize("name, args, kwargs", SPECS, ids=_ids(SPECS))
def test_repr_attributes_and_state_dict_match_torch(torch, name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    for attr, value in vars(theirs).items():
        if not attr.startswith("_") and attr != "training":
            assert getattr(ours, attr) == value, attr
    assert ours._reversed_padding_repeated_twice == list(theirs._reversed_padding_repeated_twice)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert tuple(ours.state_dict()[key].shape) == tuple(value.shape), key


@pytest.mark.parametrize("name, shape", [("Conv1d", (16, 4, 5)), ("ConvTranspose2d", (4, 8, 3, 3)),
                                         ("ConvTranspose1d", (4, 8, 5)), ("Conv3d", (8, 4, 3, 3, 3)),
                                         ("ConvTranspose3d", (4, 8, 2, 3, 3))])
def test_default_init(name, shape):
    # kaiming_uniform(a=sqrt(5)) and the bias both give U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where
    # fan_in = weight.size(1) * prod(kernel): out/groups for transposed convs
    kernel = shape[2:]
    plain = not name.startswith("ConvTranspose")
    in_ch, out_ch = (shape[1], shape[0]) if plain else (shape[0], shape[1] * 2)
    m = getattr(nn, name)(in_ch, out_ch, kernel, groups=1 if plain else 2)
    assert tuple(m.weight.shape) == shape and tuple(m.bias.shape) == (out_ch,)
    bound = 1 / math.sqrt(shape[1] * math.prod(kernel))
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.mean()) < 0.1 * bound and w.std() > 0.5 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound


def _same_layer(torch, name, args, kwargs):
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _compare(torch, ours, theirs, x, tol=1e-9, **forward_kwargs):
    """Forward on the same float64 input, backward of a weighted sum: output and all gradients agree."""
    tx, nx = torch.tensor(x, requires_grad=True), nnlite.tensor(x, requires_grad=True)
    want, got = theirs(tx, **forward_kwargs), ours(nx, **forward_kwargs)
    assert_close(got, want, rtol=tol, atol=tol)
    weights = randn(*want.shape, dtype=np.float64, seed=9)
    (want * torch.tensor(weights)).sum().backward()
    (got * nnlite.tensor(weights)).sum().backward()
    assert_close(nx.grad, tx.grad, rtol=tol, atol=tol)
    for (key, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, q.grad, rtol=tol, atol=tol)


@pytest.mark.parametrize("kwargs", [{}, dict(padding=2, stride=2, bias=False),
                                    dict(padding="same", dilation=2, groups=2),
                                    dict(padding=(2,), padding_mode="reflect"),
                                    dict(padding=1, padding_mode="replicate", stride=2),
                                    dict(padding="same", padding_mode="circular")])
def test_conv1d_every_padding_mode_matches_torch(torch, kwargs):
    ours, theirs = _same_layer(torch, "Conv1d", (4, 6, 4), kwargs)
    _compare(torch, ours, theirs, randn(2, 4, 9, dtype=np.float64, seed=3))
    _compare(torch, ours, theirs, randn(4, 9, dtype=np.float64, seed=4))  # unbatched


@pytest.mark.parametrize("name, args, kwargs", [s for s in SPECS if "Transpose" in s[0]],
                         ids=_ids([s for s in SPECS if "Transpose" in s[0]]))
def test_conv_transpose_matches_torch(torch, name, args, kwargs):
    ours, theirs = _same_layer(torch, name, args, kwargs)
    spatial = {"1d": (5,), "2d": (5, 4), "3d": (3, 4, 3)}[name[-2:]]
    _compare(torch, ours, theirs, randn(2, args[0], *spatial, dtype=np.float64, seed=3))


@pytest.mark.parametrize("output_size", [[12, 12], [11, 12], (1, 6, 11, 11), [2, 6, 12, 11]])
def test_conv_transpose2d_output_size(torch, output_size):
    ours, theirs = _same_layer(torch, "ConvTranspose2d", (4, 6, 3), dict(stride=2))
    _compare(torch, ours, theirs, randn(2, 4, 5, 5, dtype=np.float64, seed=3), output_size=output_size)


@pytest.mark.parametrize("name, args, kwargs", [s for s in SPECS if s[0] == "Conv3d"],
                         ids=_ids([s for s in SPECS if s[0] == "Conv3d"]))
def test_conv3d_matches_torch(torch, name, args, kwargs):
    ours, theirs = _same_layer(torch, name, args, kwargs)
    _compare(torch, ours, theirs, randn(2, args[0], 3, 4, 5, dtype=np.float64, seed=3))
    _compare(torch, ours, theirs, randn(args[0], 4, 3, 4, dtype=np.float64, seed=4))  # unbatched


@pytest.mark.parametrize("output_size", [[5, 6, 7], (1, 3, 4, 7, 6)])
def test_conv_transpose3d_output_size(torch, output_size):
    ours, theirs = _same_layer(torch, "ConvTranspose3d", (2, 3, 2), dict(stride=2))
    _compare(torch, ours, theirs, randn(1, 2, 2, 3, 3, dtype=np.float64, seed=3), output_size=output_size)


def test_conv_transpose1d_output_size_unbatched(torch):
    ours, theirs = _same_layer(torch, "ConvTranspose1d", (4, 6, 3), dict(stride=3, padding=1))
    for size in ([13], [15], (6, 14)):
        _compare(torch, ours, theirs, randn(4, 5, dtype=np.float64, seed=3), output_size=size)


def test_conv_transpose_output_size_errors():
    m = nn.ConvTranspose2d(4, 6, 3, stride=2)
    x = nnlite.tensor(randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"requested an output size of \[14, 12\], but valid sizes range from "
                                         r"\[11, 11\] to \[12, 12\] \(for an input of"):
        m(x, output_size=[14, 12])
    with pytest.raises(ValueError, match=r"ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements "
                                         r"\(got 3\)"):
        m(x, output_size=[6, 11, 11])


def test_on_device(device):
    for m, shape in ((nn.Conv1d(2, 3, 3, padding=1, padding_mode="circular"), (1, 2, 5)),
                     (nn.ConvTranspose2d(2, 2, 2, stride=2), (1, 2, 2, 3)),
                     (nn.Conv3d(2, 2, 2, padding=1, padding_mode="reflect"), (1, 2, 2, 2, 3)),
                     (nn.ConvTranspose3d(2, 1, 2, stride=2), (1, 2, 1, 2, 2))):
        reference = copy.deepcopy(m)
        m = m.to(device)
        x = nnlite.tensor(randn(*shape), device=device, requires_grad=True)
        y = m(x)
        assert y.device.type == device
        y.sum().backward()
        assert m.weight.grad.device.type == device and tuple(x.grad.shape) == shape
        assert_close(y, reference(x.detach().cpu()), rtol=1e-5, atol=1e-5)


def test_constructor_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv1d(4, 4, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv1d(4, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose1d'):
        nn.ConvTranspose1d(4, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(4, 4, 3, padding_mode="circular")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose3d'):
        nn.ConvTranspose3d(4, 4, 3, padding_mode="reflect")


def test_exported():
    for name in ("Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
        assert name in nn.__all__ and getattr(nnlite.nn, name) is getattr(nn.modules, name)
