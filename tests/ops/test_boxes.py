"""Box operators (nnlite.ops.boxes): box_area, box_convert (all six formats), box_iou,
generalized/distance/complete box IoU, clip_boxes_to_image, remove_small_boxes,
masks_to_boxes. Values vs plain numpy references written here; gradients vs torch
autograd of torchvision's formulas; gradcheck in float64; CUDA on the simulator; errors."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from nnlite.ops import (box_area, box_convert, box_iou, clip_boxes_to_image, complete_box_iou,
                        distance_box_iou, generalized_box_iou, masks_to_boxes, remove_small_boxes)
from tests.helpers import assert_close, to_numpy

PAIRWISE = {"box_iou": box_iou, "generalized_box_iou": generalized_box_iou,
            "distance_box_iou": distance_box_iou, "complete_box_iou": complete_box_iou}


def random_boxes(n, seed, dtype=np.float64):
    """n valid (x1, y1, x2, y2) boxes with positive size, overlapping often."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 10, (n, 2))
    wh = rng.uniform(0.5, 6, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


# ---------------------------------------------------------------- numpy references, one pair at a time

def _ref_pair(a, b, kind, eps=1e-7):
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = area_a + area_b - inter
    iou = inter / union
    if kind == "box_iou":
        return iou
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    if kind == "generalized_box_iou":
        return iou - (cw * ch - union) / (cw * ch)
    centre = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    diou = iou - centre / (cw ** 2 + ch ** 2 + eps)
    if kind == "distance_box_iou":
        return diou
    v = 4 / math.pi ** 2 * (math.atan((a[2] - a[0]) / (a[3] - a[1]))
                            - math.atan((b[2] - b[0]) / (b[3] - b[1]))) ** 2
    return diou - v / (1 - iou + v + eps) * v


def ref_pairwise(kind, b1, b2):
    return np.array([[_ref_pair(a, b, kind) for b in b2] for a in b1]).reshape(len(b1), len(b2))


# ---------------------------------------------------------------- torch transcriptions for gradients

def torch_pairwise(torch, kind, b1, b2, eps=1e-7):
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    wh = (torch.min(b1[:, None, 2:], b2[:, 2:]) - torch.max(b1[:, None, :2], b2[:, :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2 - inter
    iou = inter / union
    if kind == "box_iou":
        return iou
    whi = (torch.max(b1[:, None, 2:], b2[:, 2:]) - torch.min(b1[:, None, :2], b2[:, :2])).clamp(min=0)
    if kind == "generalized_box_iou":
        areai = whi[..., 0] * whi[..., 1]
        return iou - (areai - union) / areai
    diag = whi[..., 0] ** 2 + whi[..., 1] ** 2 + eps
    cx = (b1[:, None, 0] + b1[:, None, 2]) / 2 - (b2[:, 0] + b2[:, 2]) / 2
    cy = (b1[:, None, 1] + b1[:, None, 3]) / 2 - (b2[:, 1] + b2[:, 3]) / 2
    diou = iou - (cx ** 2 + cy ** 2) / diag
    if kind == "distance_box_iou":
        return diou
    v = 4 / math.pi ** 2 * (torch.atan((b1[:, None, 2] - b1[:, None, 0]) / (b1[:, None, 3] - b1[:, None, 1]))
                            - torch.atan((b2[:, 2] - b2[:, 0]) / (b2[:, 3] - b2[:, 1]))) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


# ---------------------------------------------------------------- pairwise IoU family

@pytest.mark.parametrize("kind", list(PAIRWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_matches_numpy(kind, dtype):
    b1, b2 = random_boxes(7, 1, dtype), random_boxes(5, 2, dtype)
    b1[0] = b2[0]                       # an identical pair
    b1[1] = [20, 20, 21, 22]            # a box overlapping nothing
    out = PAIRWISE[kind](nnlite.tensor(b1), nnlite.tensor(b2))
    assert out.dtype == nnlite.tensor(b1).dtype and tuple(out.shape) == (7, 5)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert_close(out, ref_pairwise(kind, b1.astype(np.float64), b2.astype(np.float64)), rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", list(PAIRWISE))
def test_pairwise_gradients_match_torch(kind, torch):
    b1, b2 = random_boxes(4, 3), random_boxes(3, 4)
    ours = [nnlite.tensor(b, requires_grad=True) for b in (b1, b2)]
    theirs = [torch.tensor(b, requires_grad=True) for b in (b1, b2)]
    out, expected = PAIRWISE[kind](*ours), torch_pairwise(torch, kind, *theirs)
    weights = np.random.default_rng(0).standard_normal(expected.shape)
    (out * nnlite.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    for a, e in zip(ours, theirs):
        assert_close(a.grad, e.grad, rtol=1e-10, atol=1e-10)


# complete_box_iou is left out on purpose: its alpha takes no gradient (as torchvision), so its
# analytic gradient is not the numerical one; test_pairwise_gradients_match_torch covers it.
@pytest.mark.parametrize("kind", ["generalized_box_iou", "distance_box_iou"])
def test_pairwise_gradcheck(kind):
    b1 = nnlite.tensor(random_boxes(3, 5), requires_grad=True)
    b2 = nnlite.tensor(random_boxes(2, 6), requires_grad=True)
    assert gradcheck(PAIRWISE[kind], (b1, b2))


def test_pairwise_cuda(cuda_device):
    b1, b2 = random_boxes(3, 7, np.float32), random_boxes(2, 8, np.float32)
    for kind, fn in PAIRWISE.items():
        t1 = nnlite.tensor(b1, device=cuda_device, requires_grad=True)
        out = fn(t1, nnlite.tensor(b2, device=cuda_device))
        assert out.device.type == "cuda"
        assert_close(out, ref_pairwise(kind, b1.astype(np.float64), b2.astype(np.float64)), rtol=1e-5, atol=1e-5)
        out.sum().backward()
        assert np.isfinite(to_numpy(t1.grad)).all()


def test_integer_boxes_give_float32_iou_and_int_area():
    b = nnlite.tensor([[0, 0, 2, 2], [1, 1, 3, 4]], dtype=nnlite.int64)
    assert box_area(b).dtype == nnlite.int64
    assert_close(box_area(b), np.array([4, 6]))
    out = box_iou(b, b)
    assert out.dtype == nnlite.float32
    assert_close(out, ref_pairwise("box_iou", to_numpy(b).astype(float), to_numpy(b).astype(float)))


def test_empty_inputs():
    none, some = nnlite.zeros(0, 4), nnlite.tensor(random_boxes(3, 0, np.float32))
    for fn in PAIRWISE.values():
        assert tuple(fn(none, some).shape) == (0, 3) and tuple(fn(some, none).shape) == (3, 0)
    assert tuple(box_area(none).shape) == (0,)
    assert tuple(remove_small_boxes(none, 1.0).shape) == (0,)
    assert tuple(clip_boxes_to_image(none, (4, 4)).shape) == (0, 4)


def test_inputs_not_modified():
    b1, b2 = random_boxes(4, 1), random_boxes(3, 2)
    t1, t2 = nnlite.tensor(b1), nnlite.tensor(b2)
    for fn in PAIRWISE.values():
        fn(t1, t2)
    box_convert(t1, "xyxy", "cxcywh")
    clip_boxes_to_image(t1, (5, 5))
    assert_close(t1, b1, rtol=0, atol=0)
    assert_close(t2, b2, rtol=0, atol=0)


@pytest.mark.parametrize("fn", [box_area, lambda b: box_iou(b, b), lambda b: complete_box_iou(b, b)])
def test_bad_boxes_raise(fn):
    with pytest.raises(ValueError, match=r"expected 'boxes1?' of shape \(N, 4\), got \(3, 5\)"):
        fn(nnlite.zeros(3, 5))
    with pytest.raises(ValueError, match=r"got \(4,\)"):
        fn(nnlite.zeros(4))
    with pytest.raises(TypeError, match="numeric dtype, got nnlite.bool"):
        fn(nnlite.zeros(2, 4, dtype=nnlite.bool))
    with pytest.raises(TypeError, match="must be Tensor, not ndarray"):
        fn(np.zeros((2, 4)))


# ---------------------------------------------------------------- box_convert

def ref_convert(b, in_fmt, out_fmt):
    """Plain numpy conversion through xyxy (axis-aligned) or xywhr (rotated)."""
    if in_fmt in ("xyxy", "xywh", "cxcywh"):
        x1, y1 = (b[:, 0], b[:, 1]) if in_fmt != "cxcywh" else (b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2)
        x2, y2 = ((b[:, 2], b[:, 3]) if in_fmt == "xyxy" else (x1 + b[:, 2], y1 + b[:, 3]))
        cols = {"xyxy": (x1, y1, x2, y2), "xywh": (x1, y1, x2 - x1, y2 - y1),
                "cxcywh": ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)}[out_fmt]
        return np.stack(cols, axis=-1)
    xywhr = _to_xywhr(b, in_fmt)
    x1, y1, w, h, r = xywhr.T
    c, s = np.cos(np.radians(r)), np.sin(np.radians(r))
    if out_fmt == "xywhr":
        return xywhr
    if out_fmt == "cxcywhr":
        return np.stack([x1 + w / 2 * c + h / 2 * s, y1 - w / 2 * s + h / 2 * c, w, h, r], axis=-1)
    x3, y3 = x1 + w * c, y1 - w * s
    return np.stack([x1, y1, x3, y3, x3 + h * s, y3 + h * c, x1 + h * s, y1 + h * c], axis=-1)


def _to_xywhr(b, in_fmt):
    if in_fmt == "xywhr":
        return b
    if in_fmt == "cxcywhr":
        cx, cy, w, h, r = b.T
        c, s = np.cos(np.radians(r)), np.sin(np.radians(r))
        return np.stack([cx - w / 2 * c - h / 2 * s, cy - h / 2 * c + w / 2 * s, w, h, r], axis=-1)
    x1, y1, x3, y3, x2, y2 = b.T[:6]
    r = np.degrees(np.arctan2(y1 - y3, x3 - x1))
    return np.stack([x1, y1, np.hypot(x3 - x1, y1 - y3), np.hypot(x3 - x2, y3 - y2), r], axis=-1)


AXIS = ("xyxy", "xywh", "cxcywh")
ROTATED = ("xywhr", "cxcywhr", "xyxyxyxy")
CONVERSIONS = [(a, b) for group in (AXIS, ROTATED) for a in group for b in group]


def _boxes_in(fmt, rng):
    if fmt in AXIS:
        return rng.uniform(0.5, 8, (6, 4))
    rot = np.concatenate([rng.uniform(0.5, 8, (6, 4)), [[30.0], [-120.0], [0.0], [90.0], [179.0], [-45.0]]], 1)
    return ref_convert(rot, "xywhr", fmt)


@pytest.mark.parametrize("in_fmt,out_fmt", CONVERSIONS)
def test_box_convert_matches_numpy(in_fmt, out_fmt):
    b = _boxes_in(in_fmt, np.random.default_rng(0))
    t = nnlite.tensor(b)
    out = box_convert(t, in_fmt, out_fmt)
    assert_close(out, ref_convert(b, in_fmt, out_fmt), rtol=1e-9, atol=1e-9)
    if in_fmt == out_fmt:
        assert out is not t  # a copy, as torchvision's clone


def test_box_convert_round_trips_float32_and_keeps_batch_dims():
    b = np.random.default_rng(1).uniform(0, 5, (2, 3, 4)).astype(np.float32)
    t = nnlite.tensor(b)
    back = box_convert(box_convert(t, "xywh", "cxcywh"), "cxcywh", "xywh")
    assert back.dtype == nnlite.float32 and tuple(back.shape) == (2, 3, 4)
    assert_close(back, b, rtol=1e-5, atol=1e-5)


def test_box_convert_integer_xyxy_to_cxcywh_is_float32():
    out = box_convert(nnlite.tensor([[1, 2, 5, 7]]), "xyxy", "cxcywh")
    assert out.dtype == nnlite.float32
    assert_close(out, np.array([[3, 4.5, 4, 5]]))


def test_box_convert_gradcheck_and_cuda(cuda_device):
    rot = nnlite.tensor(_boxes_in("xywhr", np.random.default_rng(2))[:2], requires_grad=True)
    assert gradcheck(lambda b: box_convert(b, "xywhr", "xyxyxyxy"), (rot,))
    corners = nnlite.tensor(_boxes_in("xyxyxyxy", np.random.default_rng(4))[:3], requires_grad=True)
    assert gradcheck(lambda b: box_convert(b, "xyxyxyxy", "xywhr"), (corners,))  # through atan
    b = _boxes_in("cxcywhr", np.random.default_rng(3))[:3].astype(np.float32)
    out = box_convert(nnlite.tensor(b, device=cuda_device), "cxcywhr", "xyxyxyxy")
    assert_close(out, ref_convert(b.astype(np.float64), "cxcywhr", "xyxyxyxy"), rtol=1e-4, atol=1e-4)


def test_box_convert_errors():
    with pytest.raises(ValueError, match="unsupported bounding box conversion.*'xyzw'"):
        box_convert(nnlite.zeros(1, 4), "xyzw", "xyxy")
    with pytest.raises(NotImplementedError, match="from 'xyxy' to 'xywhr'"):
        box_convert(nnlite.zeros(1, 4), "xyxy", "xywhr")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 5\) for in_fmt 'xywhr', got \(2, 4\)"):
        box_convert(nnlite.zeros(2, 4), "xywhr", "cxcywhr")


# ---------------------------------------------------------------- clip, remove_small, masks

def test_clip_boxes_to_image(device):
    b = np.array([[-1.0, 2, 5, 9], [1, -3, 2, 2], [0.5, 0.5, 1.5, 1.5]], dtype=np.float32)
    t = nnlite.tensor(b, device=device, requires_grad=True)
    out = clip_boxes_to_image(t, (4, 3))
    expected = np.stack([b[:, 0].clip(0, 3), b[:, 1].clip(0, 4), b[:, 2].clip(0, 3), b[:, 3].clip(0, 4)], 1)
    assert_close(out, expected)
    out.sum().backward()
    assert_close(t.grad, ((b >= 0) & (b <= np.array([3, 4, 3, 4]))).astype(np.float32))


def test_remove_small_boxes():
    b = nnlite.tensor([[0, 0, 1, 1], [0, 0, 3, 0.5], [1, 1, 4, 5], [0, 0, 2, 2]])
    keep = remove_small_boxes(b, 1.0)
    assert keep.dtype == nnlite.int64
    assert to_numpy(keep).tolist() == [0, 2, 3]
    assert to_numpy(remove_small_boxes(b, 2.0)).tolist() == [2, 3]


def test_masks_to_boxes(device):
    masks = np.zeros((3, 5, 6), dtype=np.uint8)
    masks[0, 1:4, 2:5] = 1
    masks[1, 0, 5] = 7
    masks[2, [0, 4], [1, 3]] = 1
    out = masks_to_boxes(nnlite.tensor(masks, device=device))
    expected = []
    for m in masks:
        ys, xs = np.nonzero(m)
        expected.append([xs.min(), ys.min(), xs.max(), ys.max()])
    assert out.dtype == nnlite.float32
    assert_close(out, np.array(expected, dtype=np.float32))
    assert tuple(masks_to_boxes(nnlite.zeros(0, 5, 6)).shape) == (0, 4)


def test_masks_to_boxes_errors():
    with pytest.raises(RuntimeError, match="mask 1 has no non-zero pixel"):
        masks_to_boxes(nnlite.tensor([[[1, 0]], [[0, 0]]]))
    with pytest.raises(ValueError, match=r"shape \(N, H, W\), got \(2, 2\)"):
        masks_to_boxes(nnlite.ones(2, 2))


def test_atan_kernel_pair(device):
    """The small atan op behind complete IoU and rotated boxes: values (inf, NaN, -0) and gradient."""
    from nnlite.functional.atan import atan
    x = np.array([-np.inf, -3.0, -0.0, 0.25, 2.0, np.inf, np.nan])
    t = nnlite.tensor(x, device=device, requires_grad=True)
    out = atan(t)
    assert_close(out, np.arctan(x), rtol=1e-15, atol=0)
    out.sum().backward()
    assert_close(t.grad, 1 / (1 + x * x), rtol=1e-15, atol=0)
    assert atan(nnlite.tensor([1, 0])).dtype == nnlite.float32


def test_non_contiguous_boxes():
    b1, b2 = random_boxes(4, 9), random_boxes(3, 10)
    t1 = nnlite.tensor(np.ascontiguousarray(b1.T)).t()      # a transposed view
    assert not t1.is_contiguous()
    for kind, fn in PAIRWISE.items():
        assert_close(fn(t1, nnlite.tensor(b2)), ref_pairwise(kind, b1, b2), rtol=1e-12, atol=1e-12)
    assert_close(box_convert(t1, "xyxy", "xywh"), ref_convert(b1, "xyxy", "xywh"), rtol=1e-12, atol=1e-12)


def test_box_convert_integer_rotated_truncates_the_intermediate():
    """torchvision casts cxcywhr -> xywhr back to the input dtype before the corners."""
    out = box_convert(nnlite.tensor([[3, 4, 2, 2, 30]]), "cxcywhr", "xyxyxyxy")
    truncated = np.trunc(ref_convert(np.array([[3.0, 4, 2, 2, 30]]), "cxcywhr", "xywhr"))
    assert_close(out, ref_convert(truncated, "xywhr", "xyxyxyxy"), rtol=1e-6, atol=1e-6)


def test_boxes_module_reexports_nms():
    from nnlite.ops import batched_nms, boxes, nms
    assert boxes.nms is nms and boxes.batched_nms is batched_nms


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the composed 0/0 (numpy)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_box_iou_equals_the_composition(device, dtype):
    """Without gradients box_iou runs one kernel; it must give the composed op's values,
    including zero-area boxes (NaN against each other) and disjoint ones."""
    b1, b2 = random_boxes(5, 11, dtype), random_boxes(4, 12, dtype)
    b1[0] = [1, 1, 1, 3]           # zero width
    b2[0] = [1, 1, 1, 3]
    b1[1] = [50, 50, 52, 53]       # overlaps nothing
    fused = box_iou(nnlite.tensor(b1, device=device), nnlite.tensor(b2, device=device))
    composed = box_iou(nnlite.tensor(b1, device=device, requires_grad=True), nnlite.tensor(b2, device=device))
    assert fused.dtype == composed.dtype and fused.device == composed.device
    tol = 0 if device == "cpu" else 1e-6
    assert_close(fused, composed.detach(), rtol=tol, atol=tol)
    assert np.isnan(to_numpy(fused)[0, 0])
    with nnlite.no_grad():         # no_grad takes the fused path even for leaves that require grad
        assert_close(box_iou(nnlite.tensor(b1, device=device, requires_grad=True),
                             nnlite.tensor(b2, device=device)), composed.detach(), rtol=tol, atol=tol)
