"""Strided 2-D convolutions on the CPU: im2col + GEMM backward always, and a forward that is
im2col + GEMM on small output planes and the implicit GEMM on large ones
(conv.STRIDED_IMPLICIT_MIN_PLANE). Both forwards and the backward agree with torch."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.functional import _conv_implicit as implicit, conv as conv_module
from tests.helpers import assert_close, randn

CASES = [  # (input shape, weight shape, kwargs): ResNet's kinds, tiny
    ((2, 3, 13, 12), (4, 3, 7, 7), dict(stride=2, padding=3)),       # the stem
    ((2, 4, 8, 8), (6, 4, 3, 3), dict(stride=2, padding=1)),         # 3x3 stride 2
    ((2, 4, 8, 7), (6, 4, 1, 1), dict(stride=2)),                    # 1x1 downsample
    ((2, 3, 9, 8), (5, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), dilation=(2, 1))),
]


def _chosen(x_shape, w_shape, kwargs):
    x, w = nnlite.zeros(*x_shape), nnlite.zeros(*w_shape)
    geo = conv_module._geometry("conv2d", x, w, kwargs.get("stride", 1), kwargs.get("padding", 0),
                                kwargs.get("dilation", 1), 1)
    return conv_module._algorithm(x_shape, w_shape, geo, x.dtype, x.device)


@pytest.mark.parametrize("implicit_forward", [True, False])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CASES)
def test_strided_conv_matches_torch(torch, monkeypatch, implicit_forward, x_shape, w_shape, kwargs):
    monkeypatch.setattr(conv_module, "STRIDED_IMPLICIT_MIN_PLANE", 0 if implicit_forward else 1 << 30)
    forward, backward = _chosen(x_shape, w_shape, kwargs)
    assert forward is (implicit.forward if implicit_forward else conv_module._gemm_forward)
    assert backward is conv_module._gemm_backward
    x_np, w_np, b_np = randn(*x_shape, seed=1), randn(*w_shape, seed=2), randn(w_shape[0], seed=3)
    x, w, b = (nnlite.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    y = F.conv2d(x, w, b, **kwargs)
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kwargs)
    g = randn(*ty.shape, seed=4)
    y.backward(nnlite.tensor(g))
    ty.backward(torch.tensor(g))
    for ours, theirs in ((y, ty), (x.grad, tx.grad), (w.grad, tw.grad), (b.grad, tb.grad)):
        assert_close(ours, theirs.detach().numpy(), rtol=1e-4, atol=1e-4)
    assert_close(x, x_np)  # inputs untouched


def test_stem_without_input_grad(torch):
    """The stem's input needs no gradient: only the weight's is computed."""
    x_np, w_np = randn(2, 3, 13, 12, seed=5), randn(4, 3, 7, 7, seed=6)
    w = nnlite.tensor(w_np, requires_grad=True)
    x = nnlite.tensor(x_np)
    F.conv2d(x, w, stride=2, padding=3).sum().backward()
    tw = torch.tensor(w_np, requires_grad=True)
    torch.nn.functional.conv2d(torch.tensor(x_np), tw, stride=2, padding=3).sum().backward()
    assert x.grad is None
    assert_close(w.grad, tw.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_plane_threshold_picks_the_forward():
    big = ((1, 3, 130, 130), (4, 3, 3, 3), dict(stride=2, padding=1))   # 65x65 output plane
    small = ((1, 3, 16, 16), (4, 3, 3, 3), dict(stride=2, padding=1))   # 8x8
    assert _chosen(*big)[0] is implicit.forward
    assert _chosen(*small)[0] is conv_module._gemm_forward
    # stride 1 keeps the implicit GEMM both ways
    assert _chosen((1, 3, 8, 8), (4, 3, 3, 1), dict(padding=1)) == (implicit.forward, conv_module._implicit_backward)


def test_float64_gradcheck():
    from nnlite.autograd import gradcheck
    x = nnlite.tensor(np.random.default_rng(7).standard_normal((1, 2, 5, 6)), requires_grad=True)
    w = nnlite.tensor(np.random.default_rng(8).standard_normal((3, 2, 3, 3)), requires_grad=True)
    assert gradcheck(lambda a, b: F.conv2d(a, b, stride=2, padding=1), (x, w))
