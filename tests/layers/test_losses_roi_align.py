"""nnlite.layers.losses (diou_loss, ciou_loss) against detectron2's formulas written in torch,
and nnlite.layers.roi_align (ROIAlign's aligned=True default, detectron2's known values)."""
import math

import numpy as np
import pytest

import nnlite
from nnlite import layers as L
from nnlite.ops import roi_align as ops_roi_align
from tests.helpers import assert_close, to_numpy


def _boxes(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 10, (n, 2))
    wh = rng.uniform(0.5, 6, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def _torch_losses(torch, b1, b2, eps=1e-7):
    """(diou, ciou) per pair: 1 - IoU + d^2/c^2 (+ alpha v, alpha without gradient)."""
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    iw = (torch.min(x2, x2g) - torch.max(x1, x1g)).clamp(min=0)
    ih = (torch.min(y2, y2g) - torch.max(y1, y1g)).clamp(min=0)
    inter = iw * ih
    iou = inter / ((x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter + eps)
    diag = (torch.max(x2, x2g) - torch.min(x1, x1g)) ** 2 + (torch.max(y2, y2g) - torch.min(y1, y1g)) ** 2 + eps
    dist = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
    diou = 1 - iou + dist / diag
    v = (4 / math.pi ** 2) * (torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou, diou + alpha * v


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_box_losses_match_torch(torch, which, reduction):
    b1, b2 = _boxes(6, 0), _boxes(6, 1)
    b2[0] = b1[0] + 20  # one pair without overlap
    t1, t2 = nnlite.tensor(b1, requires_grad=True), nnlite.tensor(b2, requires_grad=True)
    r1, r2 = torch.tensor(b1, requires_grad=True), torch.tensor(b2, requires_grad=True)
    out = (L.diou_loss, L.ciou_loss)[which](t1, t2, reduction=reduction)
    ref = _torch_losses(torch, r1, r2)[which]
    ref = {"none": ref, "mean": ref.mean(), "sum": ref.sum()}[reduction]
    assert_close(out, ref, rtol=1e-10, atol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    assert_close(t1.grad, r1.grad, rtol=1e-8, atol=1e-10)
    assert_close(t2.grad, r2.grad, rtol=1e-8, atol=1e-10)


def test_box_losses_single_box_float32_and_empty_mean(torch):
    b1, b2 = _boxes(1, 2)[0].astype(np.float32), _boxes(1, 3)[0].astype(np.float32)
    out = L.ciou_loss(nnlite.tensor(b1), nnlite.tensor(b2))
    assert tuple(out.shape) == () and out.dtype is nnlite.float32
    assert_close(out, _torch_losses(torch, torch.tensor(b1), torch.tensor(b2))[1], rtol=1e-5, atol=1e-6)
    empty = nnlite.zeros(0, 4, requires_grad=True)
    loss = L.diou_loss(empty, nnlite.zeros(0, 4), reduction="mean")
    assert float(loss) == 0.0
    loss.backward()
    assert tuple(empty.grad.shape) == (0, 4)


def test_box_loss_errors():
    good = nnlite.tensor([[0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match=r"diou_loss\(\): bad box: x1 larger than x2"):
        L.diou_loss(nnlite.tensor([[3.0, 0.0, 2.0, 2.0]]), good)
    with pytest.raises(ValueError, match=r"ciou_loss\(\): bad box: y1 larger than y2"):
        L.ciou_loss(nnlite.tensor([[0.0, 3.0, 2.0, 2.0]]), good)
    with pytest.raises(ValueError, match=r"ciou_loss\(\): expected 'boxes2' of shape \(\.\.\., 4\), got \(1, 3\)"):
        L.ciou_loss(good, nnlite.zeros(1, 3))
    with pytest.raises(ValueError, match=r"diou_loss\(\): invalid value for 'reduction': 'avg'"):
        L.diou_loss(good, good, reduction="avg")


# ---------------------------------------------------------------- ROIAlign

def _simple(box, aligned, device="cpu", sampling_ratio=0):
    img = nnlite.tensor(np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5), device=device)
    rois = nnlite.tensor([[0.0] + list(box)], device=device)
    return L.ROIAlign((4, 4), 1.0, sampling_ratio, aligned=aligned)(img, rois)


def test_roi_align_detectron2_values(device):
    """detectron2's own expectation: box [1, 1, 3, 3] of arange(25) into 4 x 4."""
    old = [[7.5, 8, 8.5, 9], [10, 10.5, 11, 11.5], [12.5, 13, 13.5, 14], [15, 15.5, 16, 16.5]]
    correct = [[4.5, 5.0, 5.5, 6.0], [7.0, 7.5, 8.0, 8.5], [9.5, 10.0, 10.5, 11.0], [12.0, 12.5, 13.0, 13.5]]
    assert_close(_simple([1, 1, 3, 3], aligned=False, device=device)[0, 0], old)
    assert_close(_simple([1, 1, 3, 3], aligned=True, device=device)[0, 0], correct)


def test_roi_align_defaults_and_function():
    m = L.ROIAlign((2, 3), 0.5, 2)
    assert m.aligned is True
    assert repr(m) == "ROIAlign(output_size=(2, 3), spatial_scale=0.5, sampling_ratio=2, aligned=True)"
    rng = np.random.default_rng(0)
    x = nnlite.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    rois = nnlite.tensor([[0, 1.0, 2.0, 9.0, 12.0], [1, 0.0, 0.0, 4.0, 3.0]], dtype=nnlite.float64)
    out = m(x, rois)  # float64 rois are cast to the input's dtype
    ref = ops_roi_align(x, rois.float(), (2, 3), 0.5, 2, aligned=True)
    assert_close(out, ref, rtol=0, atol=0)
    assert L.roi_align is ops_roi_align  # the function keeps torchvision's aligned=False default
    out.sum().backward()
    assert tuple(x.grad.shape) == (2, 3, 8, 8) and float(x.grad.abs().sum()) > 0


def test_roi_align_gradcheck():
    x = nnlite.tensor(np.random.default_rng(1).standard_normal((1, 2, 5, 5)), requires_grad=True)
    rois = nnlite.tensor([[0, 0.3, 0.7, 3.6, 4.1]], dtype=nnlite.float64)
    m = L.ROIAlign((2, 2), 1.0, 2)
    assert nnlite.autograd.gradcheck(lambda t: m(t, rois), (x,))


def test_roi_align_errors():
    m = L.ROIAlign((2, 2), 1.0, 0)
    with pytest.raises(RuntimeError, match=r"ROIAlign: expected rois of shape \(K, 5\) \(batch index, x1, y1, "
                                           r"x2, y2\), got \(1, 4\)"):
        m(nnlite.zeros(1, 1, 4, 4), nnlite.zeros(1, 4))
    with pytest.raises(RuntimeError, match=r"ROIAlign: expected rois of shape \(K, 5\).*got list"):
        m(nnlite.zeros(1, 1, 4, 4), [nnlite.zeros(1, 4)])
    assert to_numpy(m(nnlite.zeros(1, 1, 4, 4), nnlite.zeros(0, 5))).shape == (0, 1, 2, 2)
