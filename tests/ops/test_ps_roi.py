"""ps_roi_align / ps_roi_pool and their Modules: forward and input gradient vs plain-numpy
transcriptions of torchvision's CPU kernels, consistency with roi_align, gradcheck, the CUDA
twins under the simulator, empty boxes, inputs not modified and errors."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from nnlite.ops import PSRoIAlign, PSRoIPool, ps_roi_align, ps_roi_pool, roi_align
from tests.helpers import assert_close, randn, to_numpy


# ---------------------------------------------------------------- numpy references (torchvision's CPU kernels)

def _bilinear_taps(y, x, H, W):
    """[(row, col, weight)] of one sample, as torchvision's bilinear_interpolate; [] outside."""
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return []
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    y1, x1 = y0 + 1, x0 + 1
    if y0 >= H - 1:
        y0 = y1 = H - 1
        y = float(y0)
    if x0 >= W - 1:
        x0 = x1 = W - 1
        x = float(x0)
    ly, lx = y - y0, x - x0
    return [(y0, x0, (1 - ly) * (1 - lx)), (y0, x1, (1 - ly) * lx), (y1, x0, ly * (1 - lx)), (y1, x1, ly * lx)]


def ps_roi_align_ref(x, rois, out_size, scale, sampling_ratio, gout):
    """(output, gradient of sum(output * gout) w.r.t. x), as ps_roi_align_kernel.cpp."""
    N, C, H, W = x.shape
    PH, PW = out_size
    out = np.zeros((len(rois), C // (PH * PW), PH, PW))
    gx = np.zeros(x.shape)
    for k, roi in enumerate(rois):
        n = int(roi[0])
        x1, y1, x2, y2 = (float(v) * scale - 0.5 for v in roi[1:])
        rw, rh = x2 - x1, y2 - y1
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / PH)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / PW)
        for c in range(out.shape[1]):
            for ph in range(PH):
                for pw in range(PW):
                    c_in = (c * PH + ph) * PW + pw
                    taps = [t for iy in range(gh) for ix in range(gw) for t in _bilinear_taps(
                        y1 + ph * rh / PH + (iy + 0.5) * (rh / PH) / gh,
                        x1 + pw * rw / PW + (ix + 0.5) * (rw / PW) / gw, H, W)]
                    total = sum(w * x[n, c_in, r, col] for r, col, w in taps)
                    out[k, c, ph, pw] = total / (gh * gw) if gh * gw else math.nan
                    for r, col, w in taps:
                        gx[n, c_in, r, col] += gout[k, c, ph, pw] * w / (gh * gw)
    return out.astype(x.dtype), gx


def _c_round(v):
    """C's round(): half away from zero."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def ps_roi_pool_ref(x, rois, out_size, scale, gout):
    """(output, gradient of sum(output * gout) w.r.t. x), as ps_roi_pool_kernel.cpp's forward
    (bins clipped to [0, H - 1]); the gradient is that forward's."""
    N, C, H, W = x.shape
    PH, PW = out_size
    out = np.zeros((len(rois), C // (PH * PW), PH, PW))
    gx = np.zeros(x.shape)
    for k, roi in enumerate(rois):
        n = int(roi[0])
        x1, y1, x2, y2 = (_c_round(float(v * x.dtype.type(scale))) for v in roi[1:])
        bh, bw = max(y2 - y1, 1) / PH, max(x2 - x1, 1) / PW
        for ph in range(PH):
            h0, h1 = (min(max(int(f(p * bh)) + y1, 0), H - 1) for f, p in ((math.floor, ph), (math.ceil, ph + 1)))
            for pw in range(PW):
                w0, w1 = (min(max(int(f(p * bw)) + x1, 0), W - 1)
                          for f, p in ((math.floor, pw), (math.ceil, pw + 1)))
                if h1 <= h0 or w1 <= w0:
                    continue
                area = (h1 - h0) * (w1 - w0)
                for c in range(out.shape[1]):
                    c_in = (c * PH + ph) * PW + pw
                    out[k, c, ph, pw] = x[n, c_in, h0:h1, w0:w1].sum() / area
                    gx[n, c_in, h0:h1, w0:w1] += gout[k, c, ph, pw] / area
    return out.astype(x.dtype), gx


OPS = {"align": (ps_roi_align, ps_roi_align_ref), "pool": (ps_roi_pool, ps_roi_pool_ref)}

# image 1 of 3 has no box; outside, partly outside, reversed, touching the last row/column, halves
BOXES = np.array([
    [0, 1.3, 0.7, 6.2, 5.9],
    [2, 0.0, 0.0, 8.9, 6.9],
    [0, -3.0, -2.5, 2.2, 1.4],
    [2, 12.0, 9.0, 15.0, 14.0],
    [2, 5.6, 4.1, 2.0, 1.2],
    [0, 5.0, 3.0, 9.0, 7.0],
    [2, -1.0, 1.0, 3.0, 5.0],
])


def _run(op, x, boxes, device, out_size, *args):
    fn, ref = OPS[op]
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    y = fn(xt, nnlite.tensor(boxes, device=device), out_size, *args)
    g = randn(*y.shape, dtype=x.dtype, seed=5)
    y.backward(nnlite.tensor(g, device=device))
    ref_y, ref_g = ref(x, boxes, out_size, *args, g)
    return y, xt.grad, ref_y, ref_g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op, out_size, args", [
    ("align", (3, 2), (1.0, -1)), ("align", (2, 2), (0.5, 2)),
    ("pool", (3, 2), (1.0,)), ("pool", (2, 2), (0.5,))])
def test_matches_torchvision_reference(dtype, op, out_size, args):
    x = randn(3, 2 * out_size[0] * out_size[1], 7, 9, dtype=dtype, seed=0)
    y, gx, ref_y, ref_g = _run(op, x, BOXES.astype(dtype), "cpu", out_size, *args)
    assert tuple(y.shape) == (len(BOXES), 2) + out_size
    assert y.dtype is (nnlite.float32 if dtype == np.float32 else nnlite.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert_close(y, ref_y, rtol=tol, atol=tol)
    assert_close(gx, ref_g, rtol=tol, atol=tol)
    assert not to_numpy(gx)[1].any()  # the image without boxes gets no gradient


def _pick_bins(torch, pooled, PH, PW):
    """out[:, c, i, j] = pooled[:, (c * PH + i) * PW + j, i, j]: each bin reads its own channel group."""
    K, C = pooled.shape[:2]
    grouped = pooled.reshape(K, C // (PH * PW), PH, PW, PH, PW)
    i, j = torch.meshgrid(torch.arange(PH), torch.arange(PW), indexing="ij")
    return grouped[:, :, i, j, i, j]


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-10)])
def test_ps_roi_align_matches_torch_grid_sample_inside_the_image(torch, dtype, tol):
    """Boxes well inside the image: each bin is the mean of bilinear samples (grid_sample, align_corners)
    taken half a pixel up and left of the scaled box, from the bin's own channel group."""
    x = randn(1, 12, 8, 9, dtype=dtype, seed=1)
    boxes = np.array([[0, 1.2, 1.6, 6.4, 5.1], [0, 2.0, 0.5, 4.5, 6.0]], dtype)
    PH, PW, S = 2, 3, 2
    xt = torch.tensor(x, requires_grad=True)
    rows = []
    for _, x1, y1, x2, y2 in boxes.astype(np.float64):
        ys = y1 - 0.5 + (np.arange(PH * S) + 0.5) * (y2 - y1) / (PH * S)
        xs = x1 - 0.5 + (np.arange(PW * S) + 0.5) * (x2 - x1) / (PW * S)
        gy, gx = np.meshgrid(2 * ys / 7 - 1, 2 * xs / 8 - 1, indexing="ij")
        grid = torch.tensor(np.stack([gx, gy], -1)[None].astype(dtype))
        rows.append(torch.nn.functional.avg_pool2d(torch.nn.functional.grid_sample(xt, grid, align_corners=True), S))
    ref = _pick_bins(torch, torch.cat(rows), PH, PW)
    g = randn(*ref.shape, dtype=dtype, seed=2)
    ref.backward(torch.tensor(g))
    a = nnlite.tensor(x, requires_grad=True)
    y = ps_roi_align(a, nnlite.tensor(boxes), (PH, PW), sampling_ratio=S)
    y.backward(nnlite.tensor(g))
    assert_close(y, ref.detach().numpy(), rtol=tol, atol=tol)
    assert_close(a.grad, xt.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_ps_roi_pool_matches_torch_bin_means(torch, dtype, tol):
    """Integer boxes inside the image, 2 x 2 bins of 2 x 3 pixels: each bin is a torch mean of its slice."""
    x = randn(2, 8, 7, 9, dtype=dtype, seed=3)
    boxes = np.array([[0, 1, 2, 7, 6], [1, 0, 0, 6, 4]], dtype)
    xt = torch.tensor(x, requires_grad=True)
    rows = []
    for n, x1, y1, _, _ in boxes.astype(int):
        bins = [[xt[n, :, y1 + 2 * i:y1 + 2 * i + 2, x1 + 3 * j:x1 + 3 * j + 3].mean((1, 2)) for j in range(2)]
                for i in range(2)]
        rows.append(torch.stack([torch.stack(r, -1) for r in bins], -2))
    ref = _pick_bins(torch, torch.stack(rows), 2, 2)
    g = randn(*ref.shape, dtype=dtype, seed=2)
    ref.backward(torch.tensor(g))
    a = nnlite.tensor(x, requires_grad=True)
    y = ps_roi_pool(a, nnlite.tensor(boxes), 2)
    y.backward(nnlite.tensor(g))
    assert_close(y, ref.detach().numpy(), rtol=tol, atol=tol)
    assert_close(a.grad, xt.grad.numpy(), rtol=tol, atol=tol)


def test_empty_batch_of_images_with_no_boxes():
    for fn in (ps_roi_align, ps_roi_pool):
        y = fn(nnlite.tensor(np.zeros((0, 8, 4, 4), np.float32)), nnlite.tensor(np.zeros((0, 5), np.float32)), 2)
        assert tuple(y.shape) == (0, 2, 2, 2)


def test_ps_roi_align_equals_roi_align_aligned_on_each_bins_channel_group():
    # position sensitivity: out[:, c, i, j] is roi_align(aligned=True)[:, (c * PH + i) * PW + j, i, j]
    x = nnlite.tensor(randn(2, 8, 6, 7, dtype=np.float64, seed=1))
    boxes = nnlite.tensor(np.array([[0, 0.5, 1.0, 5.5, 4.0], [1, 2.0, 0.3, 6.4, 5.1]]))
    ps = to_numpy(ps_roi_align(x, boxes, (2, 2), 1.0, 2))
    full = to_numpy(roi_align(x, boxes, (2, 2), 1.0, 2, aligned=True))
    for c in range(2):
        for i in range(2):
            for j in range(2):
                np.testing.assert_allclose(ps[:, c, i, j], full[:, (c * 2 + i) * 2 + j, i, j], rtol=1e-12)


def test_zero_size_box_with_adaptive_sampling_is_nan_as_torchvision():
    # torchvision divides by gh * gw without a floor at 1: 0 samples give 0 / 0
    x = nnlite.tensor(randn(1, 4, 5, 5, dtype=np.float64), requires_grad=True)
    y = ps_roi_align(x, nnlite.tensor(np.array([[0, 2.0, 2.0, 2.0, 2.0]])), 2)
    assert np.isnan(to_numpy(y)).all()
    y.sum().backward()
    assert not to_numpy(x.grad).any()


def test_ps_roi_pool_averages_and_never_reads_the_last_row_or_column():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, :3, :3] = np.arange(9.0).reshape(3, 3)
    x[0, 0, 3, :] = x[0, 0, :, 3] = 1e6  # torchvision's forward clips bins to [0, H - 1]
    y = ps_roi_pool(nnlite.tensor(x), nnlite.tensor(np.array([[0, 0.0, 0.0, 9.0, 9.0]])), 1)
    assert to_numpy(y).item() == 4.0


@pytest.mark.parametrize("op, args", [("align", (1.0, 2)), ("pool", (1.0,))])
def test_gradcheck(op, args):
    x = randn(2, 4, 5, 5, dtype=np.float64, seed=4)
    boxes = nnlite.tensor(np.array([[0, 0.3, 0.6, 3.1, 2.7], [1, -0.8, 1.2, 4.4, 4.6]]))
    a = nnlite.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: OPS[op][0](t, boxes, (2, 2), *args), (a,))


@pytest.mark.parametrize("op, args", [("align", (1.0, -1)), ("pool", (1.0,))])
def test_cuda_twin_matches_reference(device, op, args):
    x = randn(3, 4, 5, 6, dtype=np.float32, seed=6)
    boxes = np.array([[0, 0.4, 0.2, 4.6, 3.9], [2, -1.5, 2.0, 7.0, 5.5]], np.float32)
    y, gx, ref_y, ref_g = _run(op, x, boxes, device, (2, 2), *args)
    assert y.device.type == device
    assert_close(y, ref_y, rtol=1e-5, atol=1e-5)
    assert_close(gx, ref_g, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["align", "pool"])
def test_list_form_empty_boxes_and_inputs_not_modified(device, op):
    fn = OPS[op][0]
    x = randn(2, 4, 5, 5, seed=8)
    per_image = [np.array([[0.0, 0.0, 3.0, 3.0]], np.float32), np.array([[1.0, 1.0, 4.0, 2.0]], np.float32)]
    rois = np.array([[0, 0.0, 0.0, 3.0, 3.0], [1, 1.0, 1.0, 4.0, 2.0]], np.float32)
    xt, bt = nnlite.tensor(x, device=device), nnlite.tensor(rois, device=device)
    listed = fn(xt, [nnlite.tensor(b, device=device) for b in per_image], 2)
    assert_close(listed, fn(xt, bt, 2), rtol=0, atol=0)
    np.testing.assert_array_equal(to_numpy(xt), x)
    np.testing.assert_array_equal(to_numpy(bt), rois)
    a = nnlite.tensor(x, device=device, requires_grad=True)
    y = fn(a, nnlite.tensor(np.zeros((0, 5), np.float32), device=device), (1, 2))
    assert tuple(y.shape) == (0, 2, 1, 2)
    y.sum().backward()
    assert tuple(a.grad.shape) == x.shape and not to_numpy(a.grad).any()


@pytest.mark.parametrize("op, args", [("align", (1.0, -1)), ("pool", (1.0,))])
def test_non_contiguous_input(op, args):
    x = randn(1, 4, 6, 5, dtype=np.float64, seed=9)
    view = nnlite.tensor(np.ascontiguousarray(x.transpose(0, 1, 3, 2))).transpose(2, 3)
    assert not view.is_contiguous()
    boxes = np.array([[0, 0.5, 1.0, 4.0, 5.0]])
    ref = OPS[op][1](x, boxes, (2, 2), *args, np.zeros((1, 1, 2, 2)))[0]
    assert_close(OPS[op][0](view, nnlite.tensor(boxes), 2, *args), ref, rtol=1e-12, atol=1e-12)


def test_modules_forward_and_repr():
    x = randn(3, 8, 7, 9, dtype=np.float64)
    align, pool = PSRoIAlign((2, 2), 0.5, 2), PSRoIPool((2, 2), 0.5)
    assert repr(align) == "PSRoIAlign(output_size=(2, 2), spatial_scale=0.5, sampling_ratio=2)"
    assert repr(pool) == "PSRoIPool(output_size=(2, 2), spatial_scale=0.5)"
    zeros = np.zeros((len(BOXES), 2, 2, 2))
    assert_close(align(nnlite.tensor(x), nnlite.tensor(BOXES)), ps_roi_align_ref(x, BOXES, (2, 2), 0.5, 2, zeros)[0],
                 rtol=1e-12, atol=1e-12)
    assert_close(pool(nnlite.tensor(x), nnlite.tensor(BOXES)), ps_roi_pool_ref(x, BOXES, (2, 2), 0.5, zeros)[0],
                 rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [ps_roi_align, ps_roi_pool])
def test_errors(fn):
    name = fn.__name__
    x = nnlite.tensor(randn(2, 4, 4, 4))
    box = nnlite.tensor(np.zeros((1, 5), np.float32))
    with pytest.raises(RuntimeError, match=rf"{name}: input channels must be a multiple of .*\(2 \* 3 = 6\), "
                                           r"got 4 channels \(input size \[2, 4, 4, 4\]\)"):
        fn(x, box, (2, 3))
    with pytest.raises(AssertionError, match=rf"{name}: .*Tensor\[K, 5\], got \[3, 4\]"):
        fn(x, nnlite.tensor(np.zeros((3, 4), np.float32)), 2)
    with pytest.raises(ValueError, match=rf"{name}: .*List\[Tensor\[L, 4\]\]: element 0 is \[1, 5\]"):
        fn(x, [nnlite.tensor(np.zeros((1, 5), np.float32))], 2)
    with pytest.raises(IndexError, match=rf"{name}: roi 0 has batch index 2.0, expected an integer in \[0, 1\]"):
        fn(x, nnlite.tensor(np.array([[2, 0, 0, 1, 1]], np.float32)), 2)
    with pytest.raises(RuntimeError, match=f"{name}: expected boxes of the input's dtype float32, got float64"):
        fn(x, nnlite.tensor(np.zeros((1, 5))), 2)
    with pytest.raises(TypeError, match=f"{name}: expected a float32 or float64 input, got int32"):
        fn(nnlite.tensor(np.zeros((1, 4, 4, 4), np.int32)), box, 2)
    with pytest.raises(RuntimeError, match=rf"{name}: expected a 4D input .* got size \[4, 4, 4\]"):
        fn(nnlite.tensor(randn(4, 4, 4)), box, 2)
    with pytest.raises(ValueError, match=rf"{name}: output_size must be two positive ints, got \(0, 2\)"):
        fn(x, box, (0, 2))
