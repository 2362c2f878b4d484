"""nnlite.layers.wrappers and shape_spec: Conv2d with norm/activation and empty inputs, cat,
cross_entropy on empty targets, nonzero_tuple, shapes_to_tensor, move_device_like, ShapeSpec."""
import numpy as np
import pytest

import nnlite
from nnlite import layers as L
from nnlite import nn
from nnlite.nn import functional as F
from tests.helpers import assert_close, randn, to_numpy


def test_reexports_are_nnlite_nn():
    assert L.ConvTranspose2d is nn.ConvTranspose2d and L.BatchNorm2d is nn.BatchNorm2d
    assert L.Linear is nn.Linear and L.interpolate is F.interpolate


def test_conv2d_norm_then_activation(torch, device):
    conv = L.Conv2d(2, 3, 3, padding=1, stride=2, bias=False, norm=nn.BatchNorm2d(3), activation=F.relu)
    conv.to(device)
    assert isinstance(conv, nn.Conv2d) and conv.bias is None
    x = randn(2, 2, 5, 5)
    ref_conv = torch.nn.Conv2d(2, 3, 3, padding=1, stride=2, bias=False)
    ref_conv.weight.data = torch.tensor(to_numpy(conv.weight))
    ref = torch.relu(torch.nn.BatchNorm2d(3)(ref_conv(torch.tensor(x))))
    assert_close(conv(nnlite.tensor(x, device=device)), ref, rtol=1e-4, atol=1e-5)
    assert "norm" in dict(conv.named_children())


def test_conv2d_plain_equals_nn_conv2d():
    conv = L.Conv2d(3, 4, (3, 1), dilation=2, groups=1)
    x = nnlite.tensor(randn(1, 3, 7, 6))
    assert_close(conv(x), nn.Conv2d.forward(conv, x), rtol=1e-6, atol=1e-6)


def test_conv2d_empty_input_keeps_shape_and_gradient():
    conv = L.Conv2d(3, 4, 3, stride=2, padding=1, activation=F.relu)
    x = nnlite.zeros(0, 3, 9, 9, requires_grad=True)
    out = conv(x)
    assert tuple(out.shape) == (0, 4, 5, 5)
    out.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 9, 9)
    assert_close(conv.weight.grad, np.zeros((4, 3, 3, 3)))


def test_conv2d_empty_input_with_syncbn_in_training():
    conv = L.Conv2d(3, 4, 1, norm=nn.SyncBatchNorm(4))
    with pytest.raises(AssertionError, match="SyncBatchNorm does not support empty inputs!"):
        conv(nnlite.zeros(0, 3, 2, 2))
    conv.eval()
    assert tuple(conv(nnlite.zeros(0, 3, 2, 2)).shape) == (0, 4, 2, 2)


def test_conv2d_channel_mismatch_error():
    with pytest.raises(RuntimeError, match="conv2d"):
        L.Conv2d(3, 4, 1)(nnlite.zeros(1, 2, 4, 4))


def test_cat_single_tensor_is_returned_itself():
    a = nnlite.tensor(randn(2, 3))
    assert L.cat([a]) is a and L.cat((a,), dim=1) is a
    b = nnlite.tensor(randn(1, 3))
    assert_close(L.cat([a, b]), np.concatenate([to_numpy(a), to_numpy(b)]))
    assert_close(L.cat([a, a], dim=1), np.concatenate([to_numpy(a)] * 2, axis=1))
    with pytest.raises(TypeError, match="cat\\(\\): expected a list or tuple of Tensors, got Tensor"):
        L.cat(a)


def test_cross_entropy_matches_torch_and_empty_is_zero_with_gradient(torch):
    x = randn(4, 5)
    target = np.array([0, 3, 4, 1])
    xt, xr = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = L.cross_entropy(xt, nnlite.tensor(target), label_smoothing=0.1)
    ref = torch.nn.functional.cross_entropy(xr, torch.tensor(target), label_smoothing=0.1)
    assert_close(out, ref, rtol=1e-5, atol=1e-6)
    empty = nnlite.zeros(0, 5, requires_grad=True)
    loss = L.cross_entropy(empty, nnlite.zeros(0, dtype=nnlite.int64))
    assert float(loss) == 0.0 and not np.isnan(float(loss))
    loss.backward()
    assert tuple(empty.grad.shape) == (0, 5)
    total = L.cross_entropy(empty, nnlite.zeros(0, dtype=nnlite.int64), reduction="sum")
    assert float(total) == 0.0


def test_empty_input_loss_func_wrapper_passes_kwargs():
    calls = []

    def loss(input, target, reduction="mean", weight=None):
        calls.append((reduction, weight))
        return (input - target).abs().sum()

    wrapped = L.empty_input_loss_func_wrapper(loss)
    x = nnlite.zeros(0, requires_grad=True)
    assert float(wrapped(x, nnlite.zeros(0))) == 0.0 and calls == []
    wrapped(nnlite.ones(2), nnlite.zeros(2), reduction="sum", weight=3)
    assert calls == [("sum", 3)]
    assert wrapped.__name__ == "loss"


def test_nonzero_tuple(torch):
    x = np.array([[0, 1, 0], [2, 0, 3]])
    got = L.nonzero_tuple(nnlite.tensor(x))
    ref = torch.tensor(x).nonzero(as_tuple=True)
    assert len(got) == 2
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(to_numpy(g), r.numpy())
    with pytest.raises(TypeError, match="nonzero_tuple\\(\\): expected a Tensor, got list"):
        L.nonzero_tuple([1, 0])


def test_shapes_to_tensor(device):
    t = L.shapes_to_tensor([3, 4], device=device)
    assert t.dtype is nnlite.int64 and t.device.type == device
    np.testing.assert_array_equal(to_numpy(t), [3, 4])
    s = L.shapes_to_tensor([nnlite.tensor(5), nnlite.tensor(6)])
    np.testing.assert_array_equal(to_numpy(s), [5, 6])
    with pytest.raises(TypeError, match="shapes_to_tensor\\(\\): expected a list of ints, got int"):
        L.shapes_to_tensor(3)


def test_move_device_like(device):
    src = nnlite.tensor([1.0, 2.0])
    dst = nnlite.zeros(1, device=device)
    moved = L.move_device_like(src, dst)
    assert moved.device == dst.device
    assert_close(moved, [1.0, 2.0])


def test_shape_spec():
    s = L.ShapeSpec(channels=256, stride=4)
    assert (s.channels, s.height, s.width, s.stride) == (256, None, None, 4)
    assert s == L.ShapeSpec(256, None, None, 4)
    assert L.ShapeSpec() != s
