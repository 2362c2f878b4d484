"""roi_pool / RoIPool: forward and input gradient vs a plain-numpy transcription of
torchvision's CPU kernel, gradcheck, the CUDA twins under the simulator, rounding,
ties, empty bins, boxes forms and errors."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from nnlite.ops import RoIPool, roi_pool
from tests.helpers import assert_close, randn, to_numpy

FLT_MAX = 3.4028234663852886e38


def _c_round(v):
    """C's round(): half away from zero."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def roi_pool_ref(x, rois, out_size, scale, gout=None):
    """(output, gradient of sum(output * gout) w.r.t. x), as torchvision's CPU kernel."""
    N, C, H, W = x.shape
    PH, PW = out_size
    out = np.zeros((len(rois), C, PH, PW), x.dtype)
    gx = np.zeros(x.shape)
    for k, roi in enumerate(rois):
        n = int(roi[0])
        x1, y1, x2, y2 = (_c_round(float(v * x.dtype.type(scale))) for v in roi[1:])
        bh, bw = max(y2 - y1 + 1, 1) / PH, max(x2 - x1 + 1, 1) / PW
        for ph in range(PH):
            h0, h1 = (min(max(int(f(p * bh)) + y1, 0), H) for f, p in ((math.floor, ph), (math.ceil, ph + 1)))
            for pw in range(PW):
                w0, w1 = (min(max(int(f(p * bw)) + x1, 0), W) for f, p in ((math.floor, pw), (math.ceil, pw + 1)))
                for c in range(C):
                    best, where = (0.0 if h1 <= h0 or w1 <= w0 else -FLT_MAX), None
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            if x[n, c, h, w] > best:
                                best, where = x[n, c, h, w], (h, w)
                    out[k, c, ph, pw] = best
                    if where is not None and gout is not None:
                        gx[n, c][where] += gout[k, c, ph, pw]
    return out, gx


# image 1 of 3 has no box; outside, partly outside, zero-size, reversed, halves that round away from zero
BOXES = np.array([
    [0, 1.3, 0.7, 6.2, 5.9],
    [2, 0.0, 0.0, 8.9, 6.9],
    [0, -3.0, -2.5, 2.2, 1.4],
    [2, 12.0, 9.0, 15.0, 14.0],
    [0, 3.3, 3.3, 3.3, 3.3],
    [2, 5.6, 4.1, 2.0, 1.2],
    [0, 5.0, 3.0, 9.0, 7.0],   # x 0.5 * 5.0 = 2.5 -> 3 (Python's round would give 2)
    [2, -1.0, 1.0, 3.0, 5.0],  # -0.5 -> -1
])


def _run(x, boxes, device, out_size, scale):
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    y = roi_pool(xt, nnlite.tensor(boxes, device=device), out_size, scale)
    g = randn(*y.shape, dtype=x.dtype, seed=5)
    y.backward(nnlite.tensor(g, device=device))
    ref_y, ref_g = roi_pool_ref(x, boxes, out_size, scale, g)
    return y, xt.grad, ref_y, ref_g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale, out_size", [(1.0, (3, 2)), (0.5, (2, 2))])
def test_matches_torchvision_reference(dtype, scale, out_size):
    x = randn(3, 2, 7, 9, dtype=dtype, seed=0)
    boxes = BOXES.astype(dtype)
    y, gx, ref_y, ref_g = _run(x, boxes, "cpu", out_size, scale)
    assert y.dtype is (nnlite.float32 if dtype == np.float32 else nnlite.float64)
    assert_close(y, ref_y, rtol=0, atol=0)
    assert_close(gx, ref_g, rtol=1e-6, atol=1e-6)
    assert not to_numpy(gx)[1].any()  # the image without boxes gets no gradient


def test_rounds_halves_away_from_zero():
    x = np.arange(64, dtype=np.float64).reshape(1, 1, 8, 8)
    # x1 = 2.5 -> 3, x2 = 4.5 -> 5, y2 = 1: the max of columns 3..5 of rows 0..1 (to even: columns 2..4)
    y = roi_pool(nnlite.tensor(x), nnlite.tensor(np.array([[0, 5.0, 0.0, 9.0, 2.0]])), 1, 0.5)
    assert to_numpy(y).item() == x[0, 0, 1, 5] == roi_pool_ref(x, np.array([[0, 5.0, 0.0, 9.0, 2.0]]), (1, 1), 0.5)[0]


def test_ties_give_the_gradient_to_the_first_maximum_and_nan_never_wins():
    x = np.ones((1, 1, 4, 4))
    x[0, 0, 0, 0] = np.nan
    a = nnlite.tensor(x, requires_grad=True)
    y = roi_pool(a, nnlite.tensor(np.array([[0, 0.0, 0.0, 3.0, 3.0]])), 1)
    y.sum().backward()
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 0, 1] = 1  # first maximum in row-major order, the NaN skipped
    assert to_numpy(y).item() == 1.0
    np.testing.assert_array_equal(to_numpy(a.grad), expected)


def test_empty_bins_are_zero_and_very_negative_inputs_give_minus_flt_max():
    x = np.full((1, 1, 3, 3), -1e300)
    y = roi_pool(nnlite.tensor(x), nnlite.tensor(np.array([[0, 0.0, 0.0, 2.0, 2.0], [0, 10.0, 10.0, 12.0, 12.0]])), 1)
    assert to_numpy(y).ravel().tolist() == [-FLT_MAX, 0.0]


def test_gradcheck():
    x = randn(2, 2, 5, 5, dtype=np.float64, seed=4)
    boxes = nnlite.tensor(np.array([[0, 0.3, 0.6, 3.1, 2.7], [1, -0.8, 1.2, 4.4, 4.6]]))
    a = nnlite.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: roi_pool(t, boxes, (2, 2), 1.0), (a,))


def test_cuda_twin_matches_reference(device):
    x = randn(3, 1, 5, 6, dtype=np.float32, seed=6)
    boxes = np.array([[0, 0.4, 0.2, 4.6, 3.9], [2, -1.5, 2.0, 7.0, 5.5], [2, 9.0, 9.0, 9.0, 9.0]], np.float32)
    y, gx, ref_y, ref_g = _run(x, boxes, device, (2, 2), 1.0)
    assert y.device.type == device
    assert_close(y, ref_y, rtol=0, atol=0)
    assert_close(gx, ref_g, rtol=1e-6, atol=1e-6)


def test_list_form_empty_boxes_and_inputs_not_modified(device):
    x = randn(2, 2, 5, 5, seed=8)
    per_image = [np.array([[0.0, 0.0, 3.0, 3.0]], np.float32), np.array([[1.0, 1.0, 4.0, 2.0]], np.float32)]
    rois = np.array([[0, 0.0, 0.0, 3.0, 3.0], [1, 1.0, 1.0, 4.0, 2.0]], np.float32)
    xt, bt = nnlite.tensor(x, device=device), nnlite.tensor(rois, device=device)
    listed = roi_pool(xt, [nnlite.tensor(b, device=device) for b in per_image], 2)
    assert_close(listed, roi_pool(xt, bt, 2), rtol=0, atol=0)
    np.testing.assert_array_equal(to_numpy(xt), x)
    np.testing.assert_array_equal(to_numpy(bt), rois)
    a = nnlite.tensor(x, device=device, requires_grad=True)
    y = roi_pool(a, nnlite.tensor(np.zeros((0, 5), np.float32), device=device), (2, 3))
    assert tuple(y.shape) == (0, 2, 2, 3)
    y.sum().backward()
    assert not to_numpy(a.grad).any()


def test_non_contiguous_input():
    x = randn(1, 2, 6, 5, dtype=np.float64, seed=9)
    view = nnlite.tensor(np.ascontiguousarray(x.transpose(0, 1, 3, 2))).transpose(2, 3)
    assert not view.is_contiguous()
    boxes = np.array([[0, 0.5, 1.0, 4.0, 5.0]])
    assert_close(roi_pool(view, nnlite.tensor(boxes), 2), roi_pool_ref(x, boxes, (2, 2), 1.0)[0], rtol=0, atol=0)


def test_module_forward_and_repr():
    m = RoIPool((2, 2), 0.5)
    assert repr(m) == "RoIPool(output_size=(2, 2), spatial_scale=0.5)"
    x = randn(3, 2, 7, 9, dtype=np.float64)
    assert_close(m(nnlite.tensor(x), nnlite.tensor(BOXES)), roi_pool_ref(x, BOXES, (2, 2), 0.5)[0], rtol=0, atol=0)


def test_errors():
    x = nnlite.tensor(randn(2, 1, 4, 4))
    with pytest.raises(AssertionError, match=r"roi_pool: .*Tensor\[K, 5\], got \[3, 4\]"):
        roi_pool(x, nnlite.tensor(np.zeros((3, 4), np.float32)), 2)
    with pytest.raises(ValueError, match=r"roi_pool: .*List\[Tensor\[L, 4\]\]: element 0 is \[1, 5\]"):
        roi_pool(x, [nnlite.tensor(np.zeros((1, 5), np.float32))], 2)
    with pytest.raises(IndexError, match=r"roi_pool: roi 0 has batch index 2.0, expected an integer in \[0, 1\]"):
        roi_pool(x, nnlite.tensor(np.array([[2, 0, 0, 1, 1]], np.float32)), 2)
    with pytest.raises(RuntimeError, match="roi_pool: expected boxes of the input's dtype float32, got float64"):
        roi_pool(x, nnlite.tensor(np.zeros((1, 5))), 2)
    with pytest.raises(TypeError, match="roi_pool: expected a float32 or float64 input, got int32"):
        roi_pool(nnlite.tensor(np.zeros((1, 1, 4, 4), np.int32)), nnlite.tensor(np.zeros((1, 5), np.float32)), 2)
