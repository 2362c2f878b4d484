"""1x1 stride-1 convolutions on the CPU as per-image GEMMs on NCHW (functional/_conv_pointwise.py):
values and all three gradients vs torch, the batch-sliced weight gradient, gradcheck."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.functional import _conv_pointwise as pointwise, conv as conv_module
from tests.helpers import assert_close, randn


def _chosen(x_shape, w_shape, **kwargs):
    x, w = nnlite.zeros(*x_shape), nnlite.zeros(*w_shape)
    geo = conv_module._geometry("conv2d", x, w, kwargs.get("stride", 1), kwargs.get("padding", 0),
                                kwargs.get("dilation", 1), kwargs.get("groups", 1))
    return conv_module._algorithm(x_shape, w_shape, geo, x.dtype, x.device)[0]


def test_only_1x1_stride_1_unpadded_ungrouped_takes_it():
    assert _chosen((2, 4, 5, 6), (3, 4, 1, 1)) is pointwise.forward
    assert _chosen((2, 4, 5, 6), (3, 4, 1, 1), dilation=2) is pointwise.forward  # dilation moves no 1x1 tap
    for shapes, kwargs in [(((2, 4, 5, 6), (3, 4, 1, 1)), dict(stride=2)),
                           (((2, 4, 5, 6), (3, 4, 1, 1)), dict(padding=1)),
                           (((2, 4, 5, 6), (6, 2, 1, 1)), dict(groups=2)),
                           (((2, 4, 5, 6), (3, 4, 3, 3)), dict())]:
        assert _chosen(*shapes, **kwargs) is not pointwise.forward


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-4), (np.float64, 1e-10)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("partial_bytes", [pointwise.PARTIAL_BYTES, 1, 128])  # all, 1, 2 (float64) images a slice
def test_matches_torch(torch, monkeypatch, dtype, tol, bias, partial_bytes):
    monkeypatch.setattr(pointwise, "PARTIAL_BYTES", partial_bytes)
    x_np, w_np = randn(3, 4, 5, 6, seed=1, dtype=dtype), randn(2, 4, 1, 1, seed=2, dtype=dtype)
    b_np = randn(2, seed=3, dtype=dtype) if bias else None
    ours = [nnlite.tensor(a, requires_grad=True) if a is not None else None for a in (x_np, w_np, b_np)]
    theirs = [torch.tensor(a, requires_grad=True) if a is not None else None for a in (x_np, w_np, b_np)]
    y = F.conv2d(*ours)
    ty = torch.nn.functional.conv2d(*theirs)
    g = randn(*ty.shape, seed=4, dtype=dtype)
    y.backward(nnlite.tensor(g))
    ty.backward(torch.tensor(g))
    assert_close(y, ty.detach().numpy(), rtol=tol, atol=tol)
    for a, b in zip(ours, theirs):
        if a is not None:
            assert_close(a.grad, b.grad.numpy(), rtol=tol, atol=tol)
    assert_close(ours[0], x_np)  # the input is not modified


def test_conv1d_kernel_1(torch):
    x_np, w_np = randn(2, 3, 7, seed=5), randn(4, 3, 1, seed=6)
    x, w = nnlite.tensor(x_np, requires_grad=True), nnlite.tensor(w_np, requires_grad=True)
    F.conv1d(x, w).sum().backward()
    tx, tw = torch.tensor(x_np, requires_grad=True), torch.tensor(w_np, requires_grad=True)
    torch.nn.functional.conv1d(tx, tw).sum().backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert_close(w.grad, tw.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_only_weight_needs_grad(torch):
    x_np, w_np = randn(2, 3, 4, 4, seed=7), randn(5, 3, 1, 1, seed=8)
    w = nnlite.tensor(w_np, requires_grad=True)
    x = nnlite.tensor(x_np)
    F.conv2d(x, w).sum().backward()
    tw = torch.tensor(w_np, requires_grad=True)
    torch.nn.functional.conv2d(torch.tensor(x_np), tw).sum().backward()
    assert x.grad is None
    assert_close(w.grad, tw.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_gradcheck():
    from nnlite.autograd import gradcheck
    rng = np.random.default_rng(9)
    x = nnlite.tensor(rng.standard_normal((2, 3, 3, 2)), requires_grad=True)
    w = nnlite.tensor(rng.standard_normal((4, 3, 1, 1)), requires_grad=True)
    b = nnlite.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda *a: F.conv2d(*a), (x, w, b))
