"""deform_conv2d / DeformConv2d: zero offsets vs torch's conv2d (values and every gradient),
random offsets and masks vs a plain-numpy transcription of torchvision's CPU algorithm,
gradcheck, the CUDA twins under the simulator, the Module, edge cases and errors."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from nnlite.ops import DeformConv2d, deform_conv2d
from tests.helpers import assert_close, randn, to_numpy


# ---------------------------------------------------------------- numpy reference (torchvision's algorithm)

def _bilinear_ref(img, y, x):
    """torchvision's bilinear_interpolate on one (H, W) image: zero unless -1 < y < H, -1 < x < W."""
    H, W = img.shape
    if y <= -1 or y >= H or x <= -1 or x >= W:
        return 0.0
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    total = 0.0
    for r, c, w in ((y0, x0, (1 - ly) * (1 - lx)), (y0, x0 + 1, (1 - ly) * lx),
                    (y0 + 1, x0, ly * (1 - lx)), (y0 + 1, x0 + 1, ly * lx)):
        if 0 <= r < H and 0 <= c < W:
            total += w * img[r, c]
    return total


def deform_conv2d_ref(x, offset, weight, bias, stride, padding, dilation, mask):
    x, offset, weight = (np.asarray(a, np.float64) for a in (x, offset, weight))
    N, C, H, W = x.shape
    O, Cg, KH, KW = weight.shape
    OH, OW = offset.shape[2:]
    offset_groups = offset.shape[1] // (2 * KH * KW)
    groups = C // Cg
    mask = np.ones((N, offset_groups * KH * KW, OH, OW)) if mask is None else np.asarray(mask, np.float64)
    out = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            g = o // (O // groups)
            for c in range(g * Cg, (g + 1) * Cg):
                og = c // (C // offset_groups)
                for i in range(KH):
                    for j in range(KW):
                        tap = og * KH * KW + i * KW + j
                        for oy in range(OH):
                            for ox in range(OW):
                                y = oy * stride[0] - padding[0] + i * dilation[0] + offset[n, 2 * tap, oy, ox]
                                xx = ox * stride[1] - padding[1] + j * dilation[1] + offset[n, 2 * tap + 1, oy, ox]
                                out[n, o, oy, ox] += (weight[o, c - g * Cg, i, j] * mask[n, tap, oy, ox]
                                                      * _bilinear_ref(x[n, c], y, xx))
    if bias is not None:
        out += np.asarray(bias, np.float64).reshape(1, O, 1, 1)
    return out


def _case(N=2, C=4, H=5, W=6, O=4, groups=2, offset_groups=2, k=(3, 2), stride=(2, 1), padding=(1, 0),
          dilation=(1, 2), dtype=np.float64, scale=2.0, seed=0):
    """Random input, weight, bias, offsets (reaching outside the image) and mask of one case."""
    rng = np.random.default_rng(seed)
    OH = (H + 2 * padding[0] - dilation[0] * (k[0] - 1) - 1) // stride[0] + 1
    OW = (W + 2 * padding[1] - dilation[1] * (k[1] - 1) - 1) // stride[1] + 1
    taps = offset_groups * k[0] * k[1]
    arrays = dict(x=rng.standard_normal((N, C, H, W)), weight=rng.standard_normal((O, C // groups) + k),
                  bias=rng.standard_normal(O), offset=scale * rng.standard_normal((N, 2 * taps, OH, OW)),
                  mask=rng.random((N, taps, OH, OW)))
    arrays = {name: a.astype(dtype) for name, a in arrays.items()}
    return arrays, dict(stride=stride, padding=padding, dilation=dilation)


def _run(arrays, geometry, device="cpu", requires_grad=False, use_mask=True):
    t = {name: nnlite.tensor(a, device=device, requires_grad=requires_grad) for name, a in arrays.items()}
    out = deform_conv2d(t["x"], t["offset"], t["weight"], t["bias"], mask=t["mask"] if use_mask else None,
                        **geometry)
    return out, t


# ---------------------------------------------------------------- zero offsets: torch's conv2d

@pytest.mark.parametrize("dtype,use_mask", [(np.float32, True), (np.float64, False)])
def test_zero_offset_equals_torch_conv2d(torch, dtype, use_mask):
    arrays, geometry = _case(dtype=dtype)
    arrays["offset"][:] = 0
    arrays["mask"][:] = 1
    out, t = _run(arrays, geometry, requires_grad=True, use_mask=use_mask)
    ref_t = {name: torch.tensor(a, requires_grad=True) for name, a in arrays.items()}
    ref = torch.nn.functional.conv2d(ref_t["x"], ref_t["weight"], ref_t["bias"], groups=2, **geometry)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert_close(out, ref, **tol)
    gout = randn(*out.shape, dtype=dtype, seed=1)
    out.backward(nnlite.tensor(gout))
    ref.backward(torch.tensor(gout))
    for name in ("x", "weight", "bias"):
        assert_close(t[name].grad, ref_t[name].grad, **tol)


def test_zero_offset_equals_nnlite_conv2d():
    arrays, geometry = _case(groups=1, offset_groups=1, stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    arrays["offset"][:] = 0
    out, t = _run(arrays, geometry, use_mask=False)
    ref = nnlite.nn.functional.conv2d(t["x"], t["weight"], t["bias"], padding=1)
    assert_close(out, ref, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- random offsets: the numpy reference

@pytest.mark.parametrize("use_mask", [True, False])
def test_forward_matches_reference(device, use_mask):
    small = dict(N=1, C=2, H=4, W=4, O=2, k=(2, 2), stride=(1, 2), padding=(1, 0), dilation=(1, 1))
    arrays, geometry = _case(dtype=np.float32, **(small if device == "cuda" else {}))
    out, _ = _run(arrays, geometry, device=device, use_mask=use_mask)
    ref = deform_conv2d_ref(arrays["x"], arrays["offset"], arrays["weight"], arrays["bias"],
                            mask=arrays["mask"] if use_mask else None, **geometry)
    assert out.dtype is nnlite.float32
    assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_samples_on_the_image_border():
    """Samples exactly at -1 and H are zero; just inside them they blend with zero padding."""
    arrays, geometry = _case(N=1, C=1, H=3, W=3, O=1, groups=1, offset_groups=1, k=(1, 1), stride=(1, 1),
                             padding=(0, 0), dilation=(1, 1))
    base = np.arange(3.0)
    arrays["offset"][0, 0] = np.array([-1.0, -0.5, 3.0])[None, :] - base[:, None]   # dy: y = -1, -0.5, 3
    arrays["offset"][0, 1] = np.array([2.5, 2.0, -0.25])[:, None] - base[None, :]   # dx: x = 2.5, 2, -0.25
    out, _ = _run(arrays, geometry)
    ref = deform_conv2d_ref(arrays["x"], arrays["offset"], arrays["weight"], arrays["bias"],
                            mask=arrays["mask"], **geometry)
    assert_close(out, ref, rtol=1e-12, atol=1e-12)
    assert to_numpy(out)[0, 0, 0, 0] == arrays["bias"][0]  # y = -1: outside, only the bias


# ---------------------------------------------------------------- gradients

def _border_offset_gradient(fn, device):
    """The offset gradient of zero offsets with padding 1 (how DCN offset convs start): taps of
    output row 0 with kernel row 0 sit exactly on the padding line y = -1."""
    x = np.random.default_rng(3).standard_normal((1, 1, 3, 4))
    w = np.random.default_rng(4).standard_normal((1, 1, 3, 3))
    offset = nnlite.zeros(1, 18, 3, 4, dtype=nnlite.float64, device=device, requires_grad=True)
    fn(nnlite.tensor(x, device=device), offset, nnlite.tensor(w, device=device)).sum().backward()
    return x, w, to_numpy(offset.grad)


def test_offset_gradient_on_the_padding_line(device):
    """torchvision's kernel takes the one-sided slope towards row 0 at y = -1 exactly (the sample
    is zero there, its corner weights are not): d out / d dy = w[0, j] * x[0, ox - 1 + j]."""
    x, w, grad = _border_offset_gradient(lambda x, o, w: deform_conv2d(x, o, w, padding=1), device)
    for j in range(3):
        for ox in range(4):
            col = ox - 1 + j
            expected = w[0, 0, 0, j] * x[0, 0, 0, col] if 0 <= col < 4 else 0.0
            assert grad[0, 2 * j, 0, ox] == pytest.approx(expected, abs=1e-12)
    assert np.any(grad[0, 0:6:2, 0] != 0)



def test_gradcheck_all_inputs():
    arrays, geometry = _case(N=1, C=2, H=4, W=4, O=2, k=(2, 2), stride=(1, 1), padding=(1, 1), scale=1.3)
    inputs = tuple(nnlite.tensor(arrays[name], requires_grad=True)
                   for name in ("x", "offset", "weight", "bias", "mask"))

    def fn(x, offset, weight, bias, mask):
        return deform_conv2d(x, offset, weight, bias, mask=mask, **geometry)

    assert gradcheck(fn, inputs)


def test_gradcheck_without_mask():
    arrays, geometry = _case(N=1, C=2, H=4, W=4, O=2, groups=1, offset_groups=1, k=(2, 2), stride=(1, 1),
                             padding=(0, 0), dilation=(1, 1), scale=1.3)
    inputs = tuple(nnlite.tensor(arrays[name], requires_grad=True) for name in ("x", "offset", "weight"))
    assert gradcheck(lambda x, offset, weight: deform_conv2d(x, offset, weight), inputs)


def test_cuda_gradients_match_cpu(cuda_device):
    arrays, geometry = _case(N=1, C=2, H=3, W=4, O=2, k=(2, 2), stride=(1, 1), padding=(0, 1),
                             dilation=(1, 1), dtype=np.float32)
    grads = {}
    for device in ("cpu", cuda_device):
        out, t = _run(arrays, geometry, device=device, requires_grad=True)
        out.backward(nnlite.tensor(randn(*out.shape, seed=3), device=device))
        grads[device] = {name: to_numpy(tensor.grad) for name, tensor in t.items()}
    for name in arrays:
        assert_close(grads[cuda_device][name], grads["cpu"][name], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- edge cases

def test_inputs_not_modified_and_non_contiguous():
    arrays, geometry = _case()
    copies = {name: a.copy() for name, a in arrays.items()}
    out, t = _run(arrays, geometry, requires_grad=True)
    out.sum().backward()
    for name in arrays:
        np.testing.assert_array_equal(to_numpy(t[name]), copies[name])
    x_t = nnlite.tensor(np.ascontiguousarray(arrays["x"].transpose(0, 1, 3, 2))).transpose(2, 3)
    assert not x_t.is_contiguous()
    strided = deform_conv2d(x_t, t["offset"].detach(), t["weight"].detach(), t["bias"].detach(),
                            mask=t["mask"].detach(), **geometry)
    assert_close(strided, out.detach(), rtol=1e-12, atol=1e-12)


def test_empty_batch():
    arrays, geometry = _case(N=0)
    out, t = _run(arrays, geometry, requires_grad=True)
    assert tuple(out.shape) == (0, 4, 3, 4)
    out.sum().backward()
    assert tuple(t["offset"].grad.shape) == arrays["offset"].shape
    np.testing.assert_array_equal(to_numpy(t["weight"].grad), 0)


def test_errors():
    arrays, geometry = _case()
    x, offset, weight, bias, mask = (nnlite.tensor(arrays[n]) for n in ("x", "offset", "weight", "bias", "mask"))
    with pytest.raises(RuntimeError, match=r"deform_conv2d: expected offset of shape \(2, 24, 3, 4\), got"):
        deform_conv2d(x, offset[:, :, :2], weight, bias, **geometry)
    with pytest.raises(RuntimeError, match=r"deform_conv2d: offset channels must be 2 \* offset_groups"):
        deform_conv2d(x, offset[:, :5], weight, bias, **geometry)
    with pytest.raises(RuntimeError, match=r"deform_conv2d: input channels 4 must be a multiple of "
                                           r"weight.shape\[1\] 3"):
        deform_conv2d(x, offset, nnlite.tensor(randn(4, 3, 3, 2, dtype=np.float64)), bias, **geometry)
    with pytest.raises(RuntimeError, match=r"deform_conv2d: expected mask of shape \(2, 12, 3, 4\), got"):
        deform_conv2d(x, offset, weight, bias, mask=mask[:, :6], **geometry)
    with pytest.raises(RuntimeError, match="deform_conv2d: expected weight to have dtype float64"):
        deform_conv2d(x, offset, weight.float(), bias, **geometry)
    with pytest.raises(TypeError, match="deform_conv2d: expected a float32 or float64 input, got int64"):
        deform_conv2d(x.long(), offset.long(), weight.long(), None, **geometry)
    with pytest.raises(TypeError, match=r"deform_conv2d\(\): argument 'offset' must be Tensor"):
        deform_conv2d(x, arrays["offset"], weight)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        DeformConv2d(3, 4, 3, groups=2)


# ---------------------------------------------------------------- the Module

def test_module_matches_functional_and_repr():
    layer = DeformConv2d(4, 6, 3, stride=1, padding=1, groups=2)
    assert tuple(layer.weight.shape) == (6, 2, 3, 3) and tuple(layer.bias.shape) == (6,)
    bound = 1 / math.sqrt(2 * 9)  # kaiming_uniform_(a=sqrt(5)) and the bias share this bound
    assert np.abs(to_numpy(layer.weight)).max() <= bound and np.abs(to_numpy(layer.bias)).max() <= bound
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert repr(layer) == "DeformConv2d(4, 6, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2)"
    assert repr(DeformConv2d(2, 2, 1, bias=False)) == "DeformConv2d(2, 2, kernel_size=(1, 1), stride=(1, 1), bias=False)"
    assert DeformConv2d(2, 2, 1, bias=False).bias is None
    x = nnlite.tensor(randn(1, 4, 4, 4))
    offset = nnlite.tensor(randn(1, 18, 4, 4, seed=2))
    out = layer(x, offset)
    assert_close(out, deform_conv2d(x, offset, layer.weight, layer.bias, padding=1), rtol=0, atol=0)
    out.sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None
