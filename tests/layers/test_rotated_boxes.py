"""pairwise_iou_rotated against Sutherland-Hodgman clipping written here in numpy:
random boxes, boxes sharing edges or regions, angle 0 against nnlite.ops.box_iou, the CUDA
kernel against the CPU one, and bad input. The references below serve the nms tests too."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.layers.rotated_boxes import pairwise_iou_rotated
from nnlite.ops import box_iou
from tests.helpers import assert_close, to_numpy


# ---------------------------------------------------------------- references (also used by
# test_nms_layers.py): corners, Sutherland-Hodgman clipping, shoelace, greedy NMS

def corners(box):
    """Corners counter-clockwise, corner 0 = (cx + sin h/2 + cos w/2, cy + cos h/2 - sin w/2)."""
    cx, cy, w, h, a = (float(v) for v in box)
    c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
    local = [(w / 2, h / 2), (-w / 2, h / 2), (-w / 2, -h / 2), (w / 2, -h / 2)]
    return [(cx + c * u + s * v, cy - s * u + c * v) for u, v in local]


def _clip(polygon, a, b):
    """The part of polygon on the left of the directed line a -> b."""
    def side(p):
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    out = []
    for k, p in enumerate(polygon):
        q = polygon[(k + 1) % len(polygon)]
        sp, sq = side(p), side(q)
        if sp >= 0:
            out.append(p)
        if (sp >= 0) != (sq >= 0):
            t = sp / (sp - sq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def shoelace(polygon):
    if len(polygon) < 3:
        return 0.0
    return 0.5 * sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(polygon, polygon[1:] + polygon[:1]))


def iou_ref(box1, box2):
    """IoU of two rotated boxes; w*h < 1e-14 gives 0 (detectron2's rule)."""
    if float(box1[2]) * float(box1[3]) < 1e-14 or float(box2[2]) * float(box2[3]) < 1e-14:
        return 0.0
    p1, p2 = corners(box1), corners(box2)
    if shoelace(p2) < 0:       # negative w and h: same region, clockwise corners
        p2 = p2[::-1]
    polygon = p1 if shoelace(p1) > 0 else p1[::-1]
    for k in range(4):
        polygon = _clip(polygon, p2[k], p2[(k + 1) % 4])
        if not polygon:
            return 0.0
    inter = shoelace(polygon)
    return inter / (abs(shoelace(p1)) + abs(shoelace(p2)) - inter)


def pairwise_ref(boxes1, boxes2):
    return np.array([[iou_ref(a, b) for b in boxes2] for a in boxes1]).reshape(len(boxes1), len(boxes2))


def greedy_nms_ref(boxes, scores, threshold):
    """Keep boxes by decreasing score (stable); drop later boxes with IoU >= threshold."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    suppressed, keep = set(), []
    for a, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if j not in suppressed and iou_ref(boxes[i], boxes[j]) >= threshold:
                suppressed.add(j)
    return np.array(keep, dtype=np.int64)


def random_boxes(rng, n, extent=20.0, lo=1.0, hi=10.0):
    """n rotated boxes, many overlapping: centres in [0, extent), sides lo..hi, any angle."""
    return np.concatenate([rng.uniform(0, extent, (n, 2)), rng.uniform(lo, hi, (n, 2)),
                           rng.uniform(-180, 180, (n, 1))], axis=1)


# ---------------------------------------------------------------- tests

# boxes whose edges lie on common lines (rounding decides which side they fall) and other
# cases a clipping code gets wrong: identical, the same region under another angle,
# touching, contained, crossing, zero-area, negative sides
SPECIAL = [
    ((0, 0, 2, 4, 0), (0, 0, 2, 4, 0), 1.0),
    ((5, 3, 4, 2, 90), (5, 3, 4, 2, -90), 1.0),
    ((5, 3, 4, 2, 0), (5, 3, 4, 2, 180), 1.0),
    ((0, 0, 2, 4, 0), (0, 0, 4, 2, 90), 1.0),
    ((0, 0, 2, 2, 0), (2, 0, 2, 2, 0), 0.0),               # touching along an edge
    ((0, 0, 2, 2, 0), (2, 2, 2, 2, 0), 0.0),               # touching at a corner
    ((0, 0, 2, 2, 0), (1, 0, 2, 2, 0), 1 / 3),             # half overlap, edges on common lines
    ((0, 0, 2, 2, 0), (1, 0, 2, 2, 180), 1 / 3),
    ((0, 0, 2, 2, 0), (1, 1, 2, 2, 0), 1 / 7),
    ((0, 0, 4, 4, 0), (0, 0, 2, 2, 0), 0.25),              # contained
    ((0, 0, 4, 4, 0), (1, 0, 2, 2, 0), 0.25),              # contained, touching inside
    ((0, 0, 4, 2, 0), (0, 0, 4, 2, 90), 1 / 3),            # a cross
    ((0, 0, 2, 2, 0), (0, 0, 2, 2, 45), None),             # square and rotated square
    ((0, 0, 2, 2, 0), (0, 0, 2, 2, 1e-5), None),           # nearly parallel edges
    ((0, 0, 2, 2, 0), (5, 5, 1, 1, 30), 0.0),              # apart
    ((0, 0, 0, 2, 0), (0, 0, 2, 2, 0), 0.0),               # zero area
    ((0, 0, -2, -2, 0), (1, 0, 2, 2, 0), 1 / 3),           # negative sides, positive area
    ((1000.5, 2000.25, 3, 5, 30), (1001, 2000.5, 4, 2, -60), None),   # far from the origin
]


def _tensor(rows, dtype, device="cpu"):
    return nnlite.tensor(np.asarray(rows, dtype=dtype).reshape(-1, 5), device=device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_boxes_match_polygon_clipping(dtype):
    rng = np.random.default_rng(0)
    b1, b2 = random_boxes(rng, 40).astype(dtype), random_boxes(rng, 30).astype(dtype)
    out = pairwise_iou_rotated(_tensor(b1, dtype), _tensor(b2, dtype))
    assert out.dtype == nnlite.float32 and tuple(out.shape) == (40, 30)
    expected = pairwise_ref(b1, b2)
    assert (expected > 0).mean() > 0.2      # the test must see many overlaps
    # computed in float64 whatever the input: within a float32 rounding of the exact IoU
    assert_close(out, expected, rtol=0, atol=7e-8)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_degenerate_boxes_match_polygon_clipping(dtype, scale):
    """Sides and centres on a half-unit grid and right angles, so many edges lie on common
    lines, plus angles a hair off those (nearly parallel edges)."""
    rng = np.random.default_rng(4)
    n = 40
    boxes = np.concatenate([rng.integers(0, 8, (n, 2)) / 2, rng.integers(1, 6, (n, 2)),
                            rng.choice([0, 90, -90, 180, 45, -45, 30], (n, 1))], axis=1)
    boxes[n // 2:, 4] += rng.choice([0, 1e-12, -1e-9, 1e-7, 3e-6, -1e-5, 1e-4], n - n // 2)
    boxes[-5:] = boxes[:5][:, [0, 1, 3, 2, 4]] + [0, 0, 0, 0, 90]      # the same regions, turned
    boxes[:, :4] *= scale
    boxes = boxes.astype(dtype)
    out = pairwise_iou_rotated(_tensor(boxes, dtype), _tensor(boxes, dtype))
    expected = pairwise_ref(boxes, boxes)
    assert (expected > 0).mean() > 0.5 and (expected > 1 - 1e-12).sum() >= n + 10
    assert_close(out, expected, rtol=0, atol=7e-8)


@pytest.mark.parametrize("case", SPECIAL, ids=range(len(SPECIAL)))
def test_special_pairs(case):
    a, b, iou = case
    expected = pairwise_ref([a], [b])[0, 0]
    if iou is not None:
        assert expected == pytest.approx(iou, abs=1e-12)    # the reference itself
    for x, y in ((a, b), (b, a)):
        out = to_numpy(pairwise_iou_rotated(_tensor([x], np.float64), _tensor([y], np.float64)))
        assert out[0, 0] == pytest.approx(expected, abs=1e-6)


def test_angle_zero_equals_box_iou():
    rng = np.random.default_rng(1)
    rot = random_boxes(rng, 50)
    rot[:, 4] = 0
    rot[::7, 0] = rot[::7, 0].round()        # some exactly shared edges
    xyxy = np.concatenate([rot[:, :2] - rot[:, 2:4] / 2, rot[:, :2] + rot[:, 2:4] / 2], axis=1)
    out = pairwise_iou_rotated(_tensor(rot, np.float64), _tensor(rot[:20], np.float64))
    expected = box_iou(nnlite.tensor(xyxy), nnlite.tensor(xyxy[:20]))
    assert_close(out, expected, rtol=1e-6, atol=1e-7)


def test_nan_and_empty():
    boxes = _tensor([(0, 0, 2, 2, 0), (np.nan, 0, 2, 2, 0), (0, 0, 2, 2, np.inf)], np.float32)
    out = to_numpy(pairwise_iou_rotated(boxes, boxes))
    assert out[0, 0] == 1 and np.isnan(out[1]).all() and np.isnan(out[:, 2]).all()
    empty = pairwise_iou_rotated(_tensor(np.zeros((0, 5)), np.float32), boxes)
    assert tuple(empty.shape) == (0, 3) and empty.dtype == nnlite.float32


def test_inputs_unchanged_and_float16():
    rows = random_boxes(np.random.default_rng(2), 5).astype(np.float32)
    boxes = _tensor(rows, np.float32)
    pairwise_iou_rotated(boxes, boxes)
    np.testing.assert_array_equal(to_numpy(boxes), rows)
    half = pairwise_iou_rotated(boxes.half(), boxes.half())
    assert_close(half, pairwise_ref(rows.astype(np.float16), rows.astype(np.float16)), rtol=1e-5, atol=1e-6)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_cpu(cuda_device, dtype):
    rng = np.random.default_rng(3)
    rows = np.concatenate([random_boxes(rng, 6), np.asarray([s[0] for s in SPECIAL[:6]], float)])
    cpu = pairwise_iou_rotated(_tensor(rows, dtype), _tensor(rows[:5], dtype))
    gpu = pairwise_iou_rotated(_tensor(rows, dtype, "cuda"), _tensor(rows[:5], dtype, "cuda"))
    assert gpu.device.type == "cuda" and gpu.dtype == nnlite.float32
    assert (to_numpy(cpu) > 0).sum() > 12
    assert_close(gpu, cpu, rtol=1e-6, atol=1e-7)


def test_errors():
    good = _tensor([(0, 0, 1, 1, 0)], np.float32)
    with pytest.raises(RuntimeError, match=r"pairwise_iou_rotated: boxes1 should be rotated boxes of shape \(N, 5\)"):
        pairwise_iou_rotated(nnlite.zeros(3, 4), good)
    with pytest.raises(RuntimeError, match=r"boxes2 .*got shape \(5,\)"):
        pairwise_iou_rotated(good, nnlite.zeros(5))
    with pytest.raises(TypeError, match="pairwise_iou_rotated: boxes1 should be a floating point tensor.*int64"):
        pairwise_iou_rotated(nnlite.zeros(2, 5, dtype=nnlite.int64), good)
    with pytest.raises(TypeError, match="argument 'boxes2' must be Tensor, not list"):
        pairwise_iou_rotated(good, [[0, 0, 1, 1, 0]])
