"""roi_align / RoIAlign: forward and input gradient vs a plain-numpy transcription of
torchvision's CPU kernel (and vs torch's grid_sample for boxes inside the image), gradcheck,
the CUDA twins under the simulator, boxes forms, edge cases and errors."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from nnlite.ops import RoIAlign, roi_align
from tests.helpers import assert_close, randn, to_numpy


# ---------------------------------------------------------------- numpy reference (torchvision's algorithm)

def _bilinear_ref(y, x, H, W):
    """[(row, col, weight)] of one sample, as torchvision's bilinear_interpolate; [] outside."""
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return []
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= H - 1:
        y0 = y1 = H - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= W - 1:
        x0 = x1 = W - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return [(y0, x0, (1 - ly) * (1 - lx)), (y0, x1, (1 - ly) * lx), (y1, x0, ly * (1 - lx)), (y1, x1, ly * lx)]


def _bin_weights(roi, H, W, PH, PW, scale, sampling_ratio, aligned):
    """{(ph, pw): [(row, col, weight)]} of one roi, weights already divided by the sample count."""
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (float(v) * scale - off for v in roi[1:])
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / PH)
    gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / PW)
    count = max(gh * gw, 1)
    bins = {}
    for ph in range(PH):
        for pw in range(PW):
            taps = []
            for iy in range(gh):
                y = y1 + ph * rh / PH + (iy + 0.5) * (rh / PH) / gh
                for ix in range(gw):
                    x = x1 + pw * rw / PW + (ix + 0.5) * (rw / PW) / gw
                    taps += [(r, c, w / count) for r, c, w in _bilinear_ref(y, x, H, W)]
            bins[ph, pw] = taps
    return bins


def roi_align_ref(x, rois, out_size, scale, sampling_ratio, aligned, gout=None):
    """(output, gradient of sum(output * gout) w.r.t. x), in float64."""
    x = x.astype(np.float64)
    N, C, H, W = x.shape
    PH, PW = out_size
    out = np.zeros((len(rois), C, PH, PW))
    gx = np.zeros_like(x)
    for k, roi in enumerate(rois.astype(np.float64)):
        n = int(roi[0])
        for (ph, pw), taps in _bin_weights(roi, H, W, PH, PW, scale, sampling_ratio, aligned).items():
            for r, c, w in taps:
                out[k, :, ph, pw] += w * x[n, :, r, c]
                if gout is not None:
                    gx[n, :, r, c] += w * gout[k, :, ph, pw]
    return out, gx


# ---------------------------------------------------------------- inputs

# image 1 of 3 has no box; boxes outside the image, partly outside, zero-size, reversed and large
BOXES = np.array([
    [0, 1.3, 0.7, 6.2, 5.9],
    [2, 0.0, 0.0, 8.9, 6.9],
    [0, -3.0, -2.5, 2.2, 1.4],
    [2, 12.0, 9.0, 15.0, 14.0],
    [0, 3.3, 3.3, 3.3, 3.3],
    [2, 5.6, 4.1, 2.0, 1.2],
    [0, 7.6, 5.2, 10.4, 8.8],
])


def _case(dtype, N=3, C=2, H=7, W=9, seed=0):
    return randn(N, C, H, W, dtype=dtype, seed=seed), BOXES.astype(dtype)


def _run(x, boxes, device, out_size, **kw):
    """nnlite's output and input gradient for a fixed upstream gradient, plus the reference's."""
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    y = roi_align(xt, nnlite.tensor(boxes, device=device), out_size, **kw)
    g = randn(*y.shape, dtype=x.dtype, seed=5)
    y.backward(nnlite.tensor(g, device=device))
    ref_y, ref_g = roi_align_ref(x, boxes, out_size, kw.get("spatial_scale", 1.0), kw.get("sampling_ratio", -1),
                                 kw.get("aligned", False), g.astype(np.float64))
    return y, xt.grad, ref_y, ref_g


TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_matches_torchvision_reference(dtype, aligned, sampling_ratio):
    x, boxes = _case(dtype)
    y, gx, ref_y, ref_g = _run(x, boxes, "cpu", (3, 2), spatial_scale=0.8, sampling_ratio=sampling_ratio,
                               aligned=aligned)
    assert y.dtype is nnlite.float32 if dtype == np.float32 else y.dtype is nnlite.float64
    assert_close(y, ref_y, **TOL[dtype])
    assert_close(gx, ref_g, **TOL[dtype])
    assert np.all(to_numpy(gx)[1] == 0)  # the image without boxes gets no gradient
    assert np.all(to_numpy(y)[3] == 0)   # the box outside the image samples zeros


def test_more_channels_than_one_cpu_channel_block():
    # the CPU kernels share each sample's weights across blocks of 16 channels: 18 spans two blocks
    x = randn(2, 18, 5, 6, dtype=np.float64, seed=7)
    boxes = np.array([[1, 0.4, 0.2, 4.6, 3.9], [0, -1.0, 1.0, 5.0, 4.5]])
    y, gx, ref_y, ref_g = _run(x, boxes, "cpu", (2, 3), sampling_ratio=-1, aligned=True)
    assert_close(y, ref_y, rtol=1e-10, atol=1e-12)
    assert_close(gx, ref_g, rtol=1e-10, atol=1e-12)


def test_adaptive_sampling_uses_ceil_of_roi_over_bins():
    # a 4.2-wide roi in 2 bins: ceil(2.1) = 3 samples per bin in x, 1 in y for a 1-high roi
    x = randn(1, 1, 6, 8, dtype=np.float64, seed=3)
    boxes = np.array([[0, 0.5, 1.0, 4.7, 2.0]])
    y = roi_align(nnlite.tensor(x), nnlite.tensor(boxes), (1, 2), aligned=True)
    assert_close(y, roi_align_ref(x, boxes, (1, 2), 1.0, -1, True)[0], rtol=1e-12, atol=1e-12)
    fixed = roi_align(nnlite.tensor(x), nnlite.tensor(boxes), (1, 2), sampling_ratio=1, aligned=True)
    assert not np.allclose(to_numpy(y), to_numpy(fixed))


def test_matches_torch_grid_sample_inside_the_image(torch):
    """Boxes well inside the image: RoI Align is the mean of bilinear samples (grid_sample, align_corners)."""
    x = randn(1, 2, 8, 9, dtype=np.float64, seed=1)
    boxes = np.array([[0, 1.2, 1.6, 6.4, 5.1], [0, 2.0, 0.5, 4.5, 6.0]])
    PH, PW, S = 2, 3, 2
    xt = torch.tensor(x, requires_grad=True)
    rows = []
    for _, x1, y1, x2, y2 in boxes:
        ys = y1 + (np.arange(PH * S) + 0.5) * (y2 - y1) / (PH * S)
        xs = x1 + (np.arange(PW * S) + 0.5) * (x2 - x1) / (PW * S)
        gy, gx = np.meshgrid(2 * ys / 7 - 1, 2 * xs / 8 - 1, indexing="ij")
        grid = torch.tensor(np.stack([gx, gy], -1)[None])
        s = torch.nn.functional.grid_sample(xt, grid, align_corners=True)
        rows.append(torch.nn.functional.avg_pool2d(s, S))
    ref = torch.cat(rows)
    g = randn(*ref.shape, dtype=np.float64, seed=2)
    ref.backward(torch.tensor(g))
    a = nnlite.tensor(x, requires_grad=True)
    y = roi_align(a, nnlite.tensor(boxes), (PH, PW), sampling_ratio=S)
    y.backward(nnlite.tensor(g))
    assert_close(y, ref, rtol=1e-10, atol=1e-12)
    assert_close(a.grad, xt.grad, rtol=1e-10, atol=1e-12)


def test_list_of_boxes_equals_tensor_form():
    x, _ = _case(np.float32)
    per_image = [np.array([[1.0, 1.0, 5.0, 4.0], [0.2, 2.0, 3.0, 6.5]], np.float32),
                 np.zeros((0, 4), np.float32), np.array([[2.5, 0.5, 8.0, 6.0]], np.float32)]
    rois = np.array([[0, 1.0, 1.0, 5.0, 4.0], [0, 0.2, 2.0, 3.0, 6.5], [2, 2.5, 0.5, 8.0, 6.0]], np.float32)
    xt = nnlite.tensor(x)
    listed = roi_align(xt, [nnlite.tensor(b) for b in per_image], 2, 0.5, 2, True)
    tupled = roi_align(xt, tuple(nnlite.tensor(b) for b in per_image), 2, 0.5, 2, True)
    stacked = roi_align(xt, nnlite.tensor(rois), 2, 0.5, 2, True)
    assert_close(listed, stacked, rtol=0, atol=0)
    assert_close(tupled, stacked, rtol=0, atol=0)
    single = roi_align(xt, [nnlite.tensor(per_image[0])], 2, 0.5, 2, True)
    assert_close(single, to_numpy(stacked)[:2], rtol=0, atol=0)


@pytest.mark.parametrize("aligned", [False, True])
def test_gradcheck(aligned):
    x = randn(2, 1, 4, 5, dtype=np.float64, seed=4)
    boxes = nnlite.tensor(np.array([[0, 0.3, 0.6, 3.1, 2.7], [1, -0.8, 1.2, 4.4, 4.6]]))
    a = nnlite.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: roi_align(t, boxes, (2, 2), 1.0, -1, aligned), (a,))


def test_cuda_twin_matches_reference(device):
    # tiny: the simulator runs every thread in Python
    x = randn(3, 1, 5, 6, dtype=np.float64, seed=6)
    boxes = np.array([[0, 0.4, 0.2, 4.6, 3.9], [2, -1.5, 2.0, 7.0, 5.5], [2, 2.0, 2.0, 2.0, 2.0]])
    for aligned in (False, True):
        y, gx, ref_y, ref_g = _run(x, boxes, device, (2, 2), spatial_scale=1.0, sampling_ratio=-1,
                                   aligned=aligned)
        assert y.device.type == device
        assert_close(y, ref_y, rtol=1e-10, atol=1e-12)
        assert_close(gx, ref_g, rtol=1e-10, atol=1e-12)


def test_no_boxes_gives_empty_output_and_zero_gradient(device):
    a = nnlite.tensor(randn(2, 3, 4, 4), device=device, requires_grad=True)
    y = roi_align(a, nnlite.tensor(np.zeros((0, 5), np.float32), device=device), (2, 3))
    assert tuple(y.shape) == (0, 3, 2, 3)
    y.sum().backward()
    assert tuple(a.grad.shape) == (2, 3, 4, 4) and not to_numpy(a.grad).any()


def test_empty_batch_of_images_with_no_boxes():
    y = roi_align(nnlite.tensor(np.zeros((0, 2, 4, 4), np.float32)), nnlite.tensor(np.zeros((0, 5), np.float32)), 2)
    assert tuple(y.shape) == (0, 2, 2, 2)


def test_non_contiguous_input_and_inputs_not_modified():
    x, boxes = _case(np.float64)
    wide = np.ascontiguousarray(x.transpose(0, 1, 3, 2))
    xt = nnlite.tensor(wide, requires_grad=True)
    bt = nnlite.tensor(boxes)
    view = xt.transpose(2, 3)
    assert not view.is_contiguous()
    y = roi_align(view, bt, (2, 2), 1.0, 2, False)
    y.sum().backward()
    assert_close(y, roi_align_ref(x, boxes, (2, 2), 1.0, 2, False)[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(to_numpy(xt), wide)
    np.testing.assert_array_equal(to_numpy(bt), boxes)


def test_module_forward_and_repr():
    m = RoIAlign((2, 2), spatial_scale=0.5, sampling_ratio=2, aligned=True)
    assert repr(m) == "RoIAlign(output_size=(2, 2), spatial_scale=0.5, sampling_ratio=2, aligned=True)"
    assert repr(RoIAlign(7, 1.0, -1)) == "RoIAlign(output_size=7, spatial_scale=1.0, sampling_ratio=-1, aligned=False)"
    x, boxes = _case(np.float64)
    assert_close(m(nnlite.tensor(x), nnlite.tensor(boxes)), roi_align_ref(x, boxes, (2, 2), 0.5, 2, True)[0],
                 rtol=1e-10, atol=1e-12)
    assert not list(m.parameters())


# ---------------------------------------------------------------- errors

def _x():
    return nnlite.tensor(randn(2, 1, 4, 4))


@pytest.mark.parametrize("boxes, match", [
    (np.zeros((3, 4), np.float32), r"Tensor\[K, 5\], got \[3, 4\]"),
    (np.zeros((5,), np.float32), r"Tensor\[K, 5\], got \[5\]"),
])
def test_boxes_tensor_of_the_wrong_shape(boxes, match):
    for error in (ValueError, AssertionError):  # torchvision raises AssertionError
        with pytest.raises(error, match="roi_align: .*" + match):
            roi_align(_x(), nnlite.tensor(boxes), 2)


def test_boxes_list_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"roi_align: .*List\[Tensor\[L, 4\]\]: element 1 is \[2, 5\]"):
        roi_align(_x(), [nnlite.tensor(np.zeros((1, 4), np.float32)), nnlite.tensor(np.zeros((2, 5), np.float32))], 2)
    with pytest.raises(ValueError, match="roi_align: boxes is expected to be"):
        roi_align(_x(), np.zeros((1, 5), np.float32), 2)


@pytest.mark.parametrize("index", [2.0, -1.0, 0.5])
def test_batch_index_out_of_range(index):
    boxes = np.array([[0, 0, 0, 1, 1], [index, 0, 0, 2, 2]], np.float32)
    with pytest.raises(IndexError, match=r"roi_align: roi 1 has batch index .* \[0, 1\] .*batch size 2"):
        roi_align(_x(), nnlite.tensor(boxes), 2)


def test_wrong_dtypes_and_shapes():
    boxes = nnlite.tensor(np.zeros((1, 5), np.float32))
    with pytest.raises(RuntimeError, match="roi_align: expected boxes of the input's dtype float32, got float64"):
        roi_align(_x(), nnlite.tensor(np.zeros((1, 5))), 2)
    with pytest.raises(TypeError, match="roi_align: expected a float32 or float64 input, got int64"):
        roi_align(nnlite.tensor(np.zeros((1, 1, 4, 4), np.int64)), boxes, 2)
    with pytest.raises(RuntimeError, match=r"roi_align: expected a 4D input .* got size \[1, 4, 4\]"):
        roi_align(nnlite.tensor(np.zeros((1, 4, 4), np.float32)), boxes, 2)
    with pytest.raises(ValueError, match=r"roi_align: output_size must be two positive ints, got \(0, 2\)"):
        roi_align(_x(), boxes, (0, 2))
    with pytest.raises(TypeError, match="roi_align\\(\\): argument 'input' must be Tensor"):
        roi_align(np.zeros((1, 1, 4, 4), np.float32), boxes, 2)


def test_boxes_on_another_device(cuda_device):
    with pytest.raises(RuntimeError, match="roi_align: Expected all tensors to be on the same device"):
        roi_align(_x(), nnlite.tensor(np.zeros((1, 5), np.float32), device=cuda_device), 2)
