"""fuse_conv_bn_eval / fuse_linear_bn_eval (and their *_weights) and skip_init against torch."""
import numpy as np
import pytest

import nnlite
from nnlite.nn.utils import (fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval,
                             fuse_linear_bn_weights, skip_init)
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")


def _pair(name, *args, **kwargs):
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nnlite.nn, name)(*args, **kwargs, dtype=nnlite.float64)
    with torch.no_grad():
        for i, t in enumerate(theirs.state_dict().values()):
            if t.is_floating_point():
                t.copy_(torch.tensor(randn(*t.shape, dtype=np.float64, seed=i)))
        for n, b in theirs.named_buffers():
            if n.endswith("running_var"):
                b.abs_().add_(0.5)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("conv, bn, transpose, x_shape", [
    ("Conv2d", "BatchNorm2d", False, (2, 3, 5, 5)),
    ("Conv1d", "BatchNorm1d", False, (2, 3, 7)),
    ("ConvTranspose2d", "BatchNorm2d", True, (2, 3, 4, 4)),
])
@pytest.mark.parametrize("bias", [True, False])
def test_fuse_conv_bn_eval_matches_torch(device, conv, bn, transpose, x_shape, bias):
    c_o, c_t = _pair(conv, 3, 4, 3, bias=bias)
    b_o, b_t = _pair(bn, 4)
    for m in (c_o, c_t, b_o, b_t):
        m.eval()
    c_o, b_o = c_o.to(device), b_o.to(device)
    fused_o = fuse_conv_bn_eval(c_o, b_o, transpose=transpose)
    fused_t = torch.nn.utils.fuse_conv_bn_eval(c_t, b_t, transpose=transpose)
    assert fused_o is not c_o and type(fused_o) is type(c_o)
    assert c_o.bias is None if not bias else c_o.bias is not fused_o.bias   # the input module is untouched
    assert_close(fused_o.weight, fused_t.weight, rtol=1e-12)
    assert_close(fused_o.bias, fused_t.bias, rtol=1e-12, atol=1e-14)
    x = randn(*x_shape, dtype=np.float64, seed=9)
    expected = b_t(c_t(torch.tensor(x)))
    assert_close(fused_o(nnlite.tensor(x, device=device)), expected, rtol=1e-10, atol=1e-12)
    assert isinstance(fused_o.weight, nnlite.nn.Parameter) and fused_o.weight.requires_grad


def test_fuse_conv_bn_weights_without_affine_or_bias():
    c_o, c_t = _pair("Conv2d", 2, 3, 1, bias=False)
    b_o, b_t = _pair("BatchNorm2d", 3, affine=False)
    w_o, bias_o = fuse_conv_bn_weights(c_o.weight, None, b_o.running_mean, b_o.running_var, b_o.eps,
                                       None, None)
    w_t, bias_t = torch.nn.utils.fuse_conv_bn_weights(c_t.weight, None, b_t.running_mean, b_t.running_var,
                                                      b_t.eps, None, None)
    assert_close(w_o, w_t, rtol=1e-12)
    assert_close(bias_o, bias_t, rtol=1e-12)
    assert bias_o.requires_grad == bias_t.requires_grad


@pytest.mark.parametrize("num_features", [4, 1])
def test_fuse_linear_bn_eval_matches_torch(device, num_features):
    l_o, l_t = _pair("Linear", 3, 4)
    b_o, b_t = _pair("BatchNorm1d", num_features)
    for m in (l_o, l_t, b_o, b_t):
        m.eval()
    fused_o = fuse_linear_bn_eval(l_o.to(device), b_o.to(device))
    fused_t = torch.nn.utils.fuse_linear_bn_eval(l_t, b_t)
    assert_close(fused_o.weight, fused_t.weight, rtol=1e-12)
    assert_close(fused_o.bias, fused_t.bias, rtol=1e-12)
    w, b = fuse_linear_bn_weights(l_o.weight, l_o.bias, b_o.running_mean, b_o.running_var, b_o.eps,
                                  b_o.weight, b_o.bias)
    assert_close(w, fused_t.weight, rtol=1e-12)
    assert_close(b, fused_t.bias, rtol=1e-12)


def test_fusion_errors():
    conv, bn = nnlite.nn.Conv2d(2, 3, 1), nnlite.nn.BatchNorm2d(3)
    with pytest.raises(AssertionError, match="fuse_conv_bn_eval: Fusion only for eval!"):
        fuse_conv_bn_eval(conv, bn)
    lin, bn4 = nnlite.nn.Linear(2, 3).eval(), nnlite.nn.BatchNorm1d(4).eval()
    with pytest.raises(AssertionError, match="linear.out_features == bn.num_features"):
        fuse_linear_bn_eval(lin, bn4)
    bn_no_stats = nnlite.nn.BatchNorm1d(3, track_running_stats=False).eval()
    with pytest.raises(AssertionError, match="running stats"):
        fuse_linear_bn_eval(lin, bn_no_stats)


def test_skip_init_leaves_parameters_uninitialised(monkeypatch):
    calls = []
    monkeypatch.setattr(nnlite.nn.init, "zeros_", lambda t: calls.append("zeros_") or t)
    lin = skip_init(nnlite.nn.Linear, 3, 4, dtype=nnlite.float64)
    assert isinstance(lin, nnlite.nn.Linear) and lin.weight.shape == (4, 3)
    assert lin.weight.dtype == nnlite.float64 and lin.weight.device.type == "cpu"
    # the initialisers were switched off during construction and are back afterwards
    bn = skip_init(nnlite.nn.BatchNorm1d, 3)
    assert calls == []
    assert nnlite.nn.init.zeros_(nnlite.ones(2)) is not None and calls == ["zeros_"]
    assert bn.weight.shape == (3,)
    ones = nnlite.nn.init.ones_(nnlite.zeros(3))
    assert ones.sum().item() == 3.0


def test_skip_init_errors():
    with pytest.raises(RuntimeError, match="Expected a Module"):
        skip_init(int)

    class NoDevice(nnlite.nn.Module):
        def __init__(self, n):
            super().__init__()

    with pytest.raises(RuntimeError, match="Module must support a 'device' arg"):
        skip_init(NoDevice, 3)
