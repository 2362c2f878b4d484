"""nnlite.layers.deform_conv: DeformConv and ModulatedDeformConv (groups, deformable_groups,
norm, activation) against the plain-numpy deformable convolution of tests/ops (torchvision's
algorithm, which detectron2's kernels share), gradcheck, CUDA under the simulator, empty
inputs, defaults and errors."""
import numpy as np
import pytest

import nnlite
from nnlite import layers as L
from nnlite import nn
from nnlite.layers.deform_conv import deform_conv, modulated_deform_conv
from tests.helpers import assert_close, to_numpy
from tests.ops.test_deform_conv import deform_conv2d_ref


def _inputs(N, C, H, W, dg, k, out_hw, seed=0, dtype=np.float64, scale=1.5):
    rng = np.random.default_rng(seed)
    taps = dg * k[0] * k[1]
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    offset = (scale * rng.standard_normal((N, 2 * taps) + out_hw)).astype(dtype)
    mask = rng.random((N, taps) + out_hw).astype(dtype)
    return x, offset, mask


def _module_arrays(m):
    return to_numpy(m.weight), None if m.bias is None else to_numpy(m.bias)


@pytest.mark.parametrize("modulated", [False, True])
def test_matches_reference_groups_and_deformable_groups(device, modulated):
    cls = L.ModulatedDeformConv if modulated else L.DeformConv
    small = device == "cuda"
    C, O, H = (2, 2, 4) if small else (4, 6, 6)
    m = cls(C, O, (2, 3) if not small else 2, stride=1 if small else 2, padding=1, dilation=1,
            groups=1 if small else 2, deformable_groups=2).to(device)
    k = m.kernel_size
    oh = (H + 2 - (k[0] - 1) - 1) // (1 if small else 2) + 1
    ow = (H + 2 - (k[1] - 1) - 1) // (1 if small else 2) + 1
    x, offset, mask = _inputs(1 if small else 2, C, H, H, 2, k, (oh, ow), dtype=np.float32)
    if modulated:
        with nnlite.no_grad():
            m.bias.copy_(nnlite.tensor(np.arange(O, dtype=np.float32)))
    args = [nnlite.tensor(a, device=device) for a in ((x, offset, mask) if modulated else (x, offset))]
    out = m(*args)
    weight, bias = _module_arrays(m)
    stride = (1, 1) if small else (2, 2)
    ref = deform_conv2d_ref(x, offset, weight, bias, stride, (1, 1), (1, 1), mask if modulated else None)
    assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_no_offset_gradient_on_the_padding_line(device):
    """detectron2's kernel gives a tap exactly on y = -1 no offset gradient (torchvision's takes
    the one-sided slope: tests/ops/test_deform_conv.py); everything else is the same."""
    from tests.ops.test_deform_conv import _border_offset_gradient
    _, _, grad = _border_offset_gradient(lambda x, o, w: deform_conv(x, o, w, padding=1), device)
    _, _, slope = _border_offset_gradient(lambda x, o, w: nnlite.ops.deform_conv2d(x, o, w, padding=1), device)
    on_line = np.zeros(grad.shape, bool)
    on_line[0, [0, 2, 4], 0, :] = True   # kernel row 0's dy at output row 0: y = -1
    on_line[0, [1, 7, 13], :, 0] = True  # kernel column 0's dx at output column 0: x = -1
    assert np.all(grad[on_line] == 0) and np.any(slope[on_line] != 0)
    assert_close(grad[~on_line], slope[~on_line], rtol=1e-12, atol=1e-12)


def test_defaults_follow_detectron2():
    d = L.DeformConv(4, 8, 3)
    assert d.bias is None and d.kernel_size == (3, 3) and d.stride == (1, 1)
    assert "bias=False" in repr(d) and "deformable_groups=1" in repr(d)
    m = L.ModulatedDeformConv(4, 8, 3, stride=2)
    assert m.with_bias and m.stride == 2
    assert_close(m.bias, np.zeros(8))
    assert "bias=True" in repr(m)
    w = to_numpy(m.weight)
    bound = np.sqrt(6.0 / (4 * 9))  # kaiming_uniform_ for ReLU over fan_in
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert L.ModulatedDeformConv(4, 8, 3, bias=False).bias is None


def test_norm_and_activation_follow_the_conv():
    m = L.ModulatedDeformConv(2, 3, 1, norm=nn.GroupNorm(1, 3), activation=nn.ReLU())
    x, offset, mask = (nnlite.tensor(a) for a in _inputs(2, 2, 3, 3, 1, (1, 1), (3, 3), dtype=np.float32))
    plain = modulated_deform_conv(x, offset, mask, m.weight, m.bias)
    assert_close(m(x, offset, mask), nnlite.relu(m.norm(plain)), rtol=1e-6, atol=1e-6)


def test_gradcheck_modulated_with_groups_and_deformable_groups():
    x, offset, mask = _inputs(1, 4, 4, 4, 2, (2, 2), (5, 5), seed=3)
    w = np.random.default_rng(4).standard_normal((2, 2, 2, 2))
    b = np.random.default_rng(5).standard_normal(2)
    inputs = tuple(nnlite.tensor(a, requires_grad=True) for a in (x, offset, mask, w, b))

    def fn(x, offset, mask, w, b):
        return modulated_deform_conv(x, offset, mask, w, b, stride=1, padding=1, dilation=1, groups=2,
                                     deformable_groups=2)

    assert nnlite.autograd.gradcheck(fn, inputs)


def test_gradcheck_deform_conv_v1():
    x, offset, _ = _inputs(1, 2, 4, 4, 1, (2, 2), (3, 3), seed=6)
    w = np.random.default_rng(7).standard_normal((2, 2, 2, 2))
    inputs = tuple(nnlite.tensor(a, requires_grad=True) for a in (x, offset, w))
    assert nnlite.autograd.gradcheck(lambda x, o, w: deform_conv(x, o, w), inputs)


def test_cuda_gradients_match_cpu(cuda_device):
    x, offset, mask = _inputs(1, 2, 3, 3, 1, (2, 2), (2, 2), seed=8, dtype=np.float32)
    m = L.ModulatedDeformConv(2, 2, 2)
    grads = {}
    for device in ("cpu", cuda_device):
        m.to(device)
        m.zero_grad()
        ts = [nnlite.tensor(a, device=device, requires_grad=True) for a in (x, offset, mask)]
        (m(*ts) * nnlite.tensor([[[[1.0, -2.0], [0.5, 3.0]]]], device=device)).sum().backward()
        grads[device] = [to_numpy(t.grad) for t in ts] + [to_numpy(m.weight.grad), to_numpy(m.bias.grad)]
    for got, want in zip(grads[cuda_device], grads["cpu"]):
        assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("modulated", [False, True])
def test_empty_input_gives_output_shape_and_gradient(modulated):
    m = (L.ModulatedDeformConv if modulated else L.DeformConv)(3, 5, 3, stride=2, padding=1)
    x = nnlite.zeros(0, 3, 7, 9, requires_grad=True)
    offset, mask = nnlite.zeros(0, 18, 4, 5), nnlite.zeros(0, 9, 4, 5)
    out = m(x, offset, mask) if modulated else m(x, offset)
    assert tuple(out.shape) == (0, 5, 4, 5)
    out.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 7, 9)


def test_inputs_not_modified():
    x, offset, mask = _inputs(1, 2, 4, 4, 1, (3, 3), (2, 2), dtype=np.float32)
    copies = [a.copy() for a in (x, offset, mask)]
    ts = [nnlite.tensor(a, requires_grad=True) for a in (x, offset, mask)]
    L.ModulatedDeformConv(2, 2, 3)(*ts).sum().backward()
    for t, c in zip(ts, copies):
        np.testing.assert_array_equal(to_numpy(t), c)


def test_errors():
    with pytest.raises(ValueError, match="DeformConv: bias=True is not supported"):
        L.DeformConv(4, 4, 3, bias=True)
    with pytest.raises(ValueError, match="DeformConv: in_channels 3 cannot be divisible by groups 2"):
        L.DeformConv(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="ModulatedDeformConv: out_channels 5 cannot be divisible by groups 2"):
        L.ModulatedDeformConv(4, 5, 3, groups=2)
    m = L.ModulatedDeformConv(4, 4, 3, deformable_groups=2)
    x, offset, mask = (nnlite.tensor(a) for a in _inputs(1, 4, 5, 5, 2, (3, 3), (3, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match=r"modulated_deform_conv: expected input with 4 channels \(weight "
                                           r"\(4, 4, 3, 3\), groups=1\), got input of shape \(1, 8, 5, 5\)"):
        m(nnlite.cat([x, x], dim=1), offset, mask)
    with pytest.raises(RuntimeError, match=r"modulated_deform_conv: expected offset of shape \(1, 36, OH, OW\) "
                                           r"\(2 \* deformable_groups \* 3 \* 3\), got \(1, 18, 3, 3\)"):
        m(x, offset[:, :18], mask)
    with pytest.raises(RuntimeError, match=r"modulated_deform_conv: expected mask of shape \(1, 18, OH, OW\)"):
        m(x, offset, mask[:, :9])
    with pytest.raises(RuntimeError, match=r"deform_conv2d: expected offset of shape \(1, 36, 3, 3\)"):
        m(x, offset[:, :, :2], mask)
    with pytest.raises(ValueError, match=r"deform_conv: expected a 4D input tensor, got 3D tensor"):
        L.DeformConv(4, 4, 3)(x[0], offset)
    with pytest.raises(TypeError, match="modulated_deform_conv: expected mask to be a Tensor, got NoneType"):
        m(x, offset, None)
