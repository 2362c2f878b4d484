"""roi_align_rotated / ROIAlignRotated: forward and input gradient against a numpy
transcription of the sampling rules (box frame rotated about its centre, half-pixel offset,
bilinear taps), angle 0 against nnlite.ops.roi_align(aligned=True), gradcheck in float64, the
CUDA kernels against the CPU ones, and bad input."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from nnlite.layers.roi_align_rotated import ROIAlignRotated, roi_align_rotated
from nnlite.ops import roi_align
from tests.helpers import assert_close, randn, to_numpy


# ---------------------------------------------------------------- numpy reference

def _taps(y, x, H, W):
    """[(row, col, weight)] of one bilinear sample; [] outside [-1, H] x [-1, W]."""
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return []
    y, x = min(max(y, 0.0), H - 1.0), min(max(x, 0.0), W - 1.0)
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
    ly, lx = y - y0, x - x0
    return [(y0, x0, (1 - ly) * (1 - lx)), (y0, x1, (1 - ly) * lx), (y1, x0, ly * (1 - lx)), (y1, x1, ly * lx)]


def _samples(roi, PH, PW, scale, sampling_ratio):
    """{(ph, pw): [(y, x)]} image positions of one roi's samples, and the count per bin."""
    _, cx, cy, w, h, angle = (float(v) for v in roi)
    cx, cy, w, h = cx * scale - 0.5, cy * scale - 0.5, w * scale, h * scale
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    gh = sampling_ratio if sampling_ratio > 0 else math.ceil(h / PH)
    gw = sampling_ratio if sampling_ratio > 0 else math.ceil(w / PW)
    points = {}
    for ph in range(PH):
        for pw in range(PW):
            pts = []
            for iy in range(gh):
                yy = -h / 2 + (ph + (iy + 0.5) / gh) * h / PH
                for ix in range(gw):
                    xx = -w / 2 + (pw + (ix + 0.5) / gw) * w / PW
                    pts.append((yy * c - xx * s + cy, yy * s + xx * c + cx))   # rotate about the centre
            points[ph, pw] = pts
    return points, max(gh * gw, 1)


def roi_align_rotated_ref(x, rois, out_size, scale, sampling_ratio, gout=None):
    """(output, gradient of sum(output * gout) w.r.t. x) in float64."""
    x = x.astype(np.float64)
    N, C, H, W = x.shape
    out, gx = np.zeros((len(rois), C) + tuple(out_size)), np.zeros_like(x)
    for k, roi in enumerate(rois.astype(np.float64)):
        n = int(roi[0])
        points, count = _samples(roi, *out_size, scale, sampling_ratio)
        for (ph, pw), pts in points.items():
            for y, xx in pts:
                for r, col, wt in _taps(y, xx, H, W):
                    out[k, :, ph, pw] += wt / count * x[n, :, r, col]
                    if gout is not None:
                        gx[n, :, r, col] += wt / count * gout[k, :, ph, pw]
    return out, gx


# ---------------------------------------------------------------- inputs

# image 1 of 3 has no roi; rois rotated, partly and wholly outside, zero-size, large, tiny
ROIS = np.array([
    [0, 6.0, 5.0, 6.0, 4.0, 30.0],
    [0, 3.3, 7.1, 2.5, 5.5, -75.0],
    [2, 9.0, 2.0, 8.0, 3.0, 90.0],
    [2, 1.0, 1.0, 0.0, 0.0, 10.0],
    [0, 11.5, 9.5, 7.0, 7.0, 180.0],
    [2, 30.0, 30.0, 4.0, 4.0, 45.0],
    [0, 6.0, 6.0, 14.0, 12.0, -140.0],
    [2, 4.2, 3.7, 0.6, 0.9, 5.0],
])


@pytest.mark.parametrize("sampling_ratio", [-1, 0, 2])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_forward_and_backward_match_reference(sampling_ratio, scale):
    x = randn(3, 4, 10, 12, dtype=np.float64)
    gout = randn(len(ROIS), 4, 3, 2, dtype=np.float64, seed=1)
    out_ref, gx_ref = roi_align_rotated_ref(x, ROIS, (3, 2), scale, sampling_ratio, gout)
    xt = nnlite.tensor(x, requires_grad=True)
    out = roi_align_rotated(xt, nnlite.tensor(ROIS), (3, 2), scale, sampling_ratio)
    assert_close(out, out_ref, rtol=1e-10, atol=1e-12)
    (out * nnlite.tensor(gout)).sum().backward()
    assert_close(xt.grad, gx_ref, rtol=1e-10, atol=1e-12)


def test_float32_and_module():
    x = randn(3, 20, 10, 12)     # 20 channels: two channel blocks on the CPU
    module = ROIAlignRotated((2, 3), 0.5, 0)
    out = module(nnlite.tensor(x), nnlite.tensor(ROIS.astype(np.float32)))
    assert out.dtype == nnlite.float32 and tuple(out.shape) == (len(ROIS), 20, 2, 3)
    assert_close(out, roi_align_rotated_ref(x, ROIS, (2, 3), 0.5, 0)[0], rtol=1e-5, atol=1e-5)
    assert repr(module) == "ROIAlignRotated(output_size=(2, 3), spatial_scale=0.5, sampling_ratio=0)"
    half = module(nnlite.tensor(x).half(), nnlite.tensor(ROIS).half())
    assert half.dtype == nnlite.float16 and tuple(half.shape) == (len(ROIS), 20, 2, 3)


def test_angle_zero_equals_aligned_roi_align():
    x = randn(2, 3, 9, 11, dtype=np.float64)
    rots = np.array([[0, 4.0, 5.0, 5.0, 3.0, 0.0], [1, 6.3, 2.2, 7.1, 4.4, 0.0], [1, 2.0, 7.0, 3.0, 6.0, 0.0]])
    xyxy = np.concatenate([rots[:, :1], rots[:, 1:3] - rots[:, 3:5] / 2, rots[:, 1:3] + rots[:, 3:5] / 2], 1)
    for ratio in (-1, 2):
        out = roi_align_rotated(nnlite.tensor(x), nnlite.tensor(rots), (3, 3), 0.75, ratio)
        expected = roi_align(nnlite.tensor(x), nnlite.tensor(xyxy), (3, 3), 0.75, ratio, aligned=True)
        assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_gradcheck():
    x = nnlite.tensor(randn(2, 2, 6, 7, dtype=np.float64), requires_grad=True)
    rois = nnlite.tensor(np.array([[0, 3.1, 2.7, 3.3, 2.2, 35.0], [1, 4.4, 3.0, 5.0, 4.0, -120.0]]))
    assert gradcheck(lambda t: roi_align_rotated(t, rois, (2, 2), 1.0, 2), (x,))


def test_inputs_unchanged_and_empty():
    x, rois = randn(3, 2, 6, 6), ROIS[:3].astype(np.float32)
    xt, rt = nnlite.tensor(x), nnlite.tensor(rois)
    roi_align_rotated(xt, rt, 2, 1.0, 0)
    np.testing.assert_array_equal(to_numpy(xt), x)
    np.testing.assert_array_equal(to_numpy(rt), rois)
    empty = roi_align_rotated(xt, nnlite.tensor(np.zeros((0, 6), np.float32)), (2, 2), 1.0, 0)
    assert tuple(empty.shape) == (0, 2, 2, 2)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_cpu(cuda_device, dtype):
    x = randn(3, 2, 8, 9, dtype=dtype)
    rois = ROIS[[0, 1, 2, 3, 5]].astype(dtype)
    gout = randn(5, 2, 2, 2, dtype=dtype, seed=2)
    grads = []
    for device in ("cpu", "cuda"):
        xt = nnlite.tensor(x, device=device, requires_grad=True)
        out = roi_align_rotated(xt, nnlite.tensor(rois, device=device), (2, 2), 0.8, 2)
        (out * nnlite.tensor(gout, device=device)).sum().backward()
        grads.append((to_numpy(out), to_numpy(xt.grad)))
    assert_close(grads[1][0], grads[0][0], rtol=1e-5, atol=1e-6)
    assert_close(grads[1][1], grads[0][1], rtol=1e-5, atol=1e-6)


def test_errors():
    x = nnlite.tensor(randn(2, 1, 5, 5))
    good = nnlite.tensor(np.array([[0, 2, 2, 2, 2, 0]], np.float32))
    with pytest.raises(RuntimeError, match=r"roi_align_rotated: rois should have shape \(K, 6\).*\(1, 5\)"):
        roi_align_rotated(x, nnlite.tensor(np.zeros((1, 5), np.float32)), 2, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"ROIAlignRotated: rois should have shape \(K, 6\)"):
        ROIAlignRotated((2, 2), 1.0, 0)(x, nnlite.tensor(np.zeros((1, 4), np.float32)))
    with pytest.raises(RuntimeError, match="do not have non-negative size! roi 0 has width -1.0"):
        roi_align_rotated(x, nnlite.tensor(np.array([[0, 2, 2, -1, 2, 0]], np.float32)), 2, 1.0, 0)
    with pytest.raises(RuntimeError, match="expected boxes of the input's dtype float32, got float64"):
        roi_align_rotated(x, nnlite.tensor(np.array([[0, 2, 2, 2, 2, 0.0]])), 2, 1.0, 0)
    with pytest.raises(IndexError, match="roi 0 has batch index 5"):
        roi_align_rotated(x, nnlite.tensor(np.array([[5, 2, 2, 2, 2, 0]], np.float32)), 2, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"expected a 4D input \(N, C, H, W\)"):
        roi_align_rotated(nnlite.tensor(randn(1, 5, 5)), good, 2, 1.0, 0)
    with pytest.raises(ValueError, match="output_size must be two positive ints"):
        roi_align_rotated(x, good, (0, 2), 1.0, 0)
