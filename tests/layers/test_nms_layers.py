"""nnlite.layers.nms: nms_rotated against a greedy numpy NMS over Sutherland-Hodgman IoUs
(tests/layers/test_rotated_boxes.py), the >= rule at the threshold, batched_nms_rotated's
per-category offsets, nms / batched_nms as torchvision's, CUDA against CPU, and bad input."""
import numpy as np
import pytest

import nnlite
from nnlite.layers.nms import batched_nms, batched_nms_rotated, nms, nms_rotated
from nnlite.ops import batched_nms as ops_batched_nms
from tests.helpers import to_numpy
from tests.layers.test_rotated_boxes import greedy_nms_ref, random_boxes


def _t(array, dtype=np.float32, device="cpu"):
    return nnlite.tensor(np.asarray(array, dtype=dtype), device=device)


def _clustered(rng, n):
    """n boxes in clusters of 4 jittered copies (as a detector's proposals): IoUs of all sizes."""
    base = np.repeat(random_boxes(rng, n // 4, extent=40), 4, axis=0)
    jitter = np.concatenate([rng.normal(0, 0.5, (n, 2)), rng.normal(0, 0.4, (n, 2)), rng.normal(0, 10, (n, 1))], 1)
    return base + jitter


def _reference_batched(boxes, scores, idxs, threshold):
    keep = []
    for c in np.unique(idxs):
        members = np.flatnonzero(idxs == c)
        keep.extend(members[greedy_nms_ref(boxes[members], scores[members], threshold)])
    return np.array(sorted(keep, key=lambda i: (-scores[i], i)), dtype=np.int64)


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nms_rotated_matches_greedy_reference(threshold, dtype):
    rng = np.random.default_rng(0)
    boxes, scores = _clustered(rng, 80).astype(dtype), rng.random(80).astype(dtype)
    keep = nms_rotated(_t(boxes, dtype), _t(scores, dtype), threshold)
    assert keep.dtype == nnlite.int64
    expected = greedy_nms_ref(boxes, scores, threshold)
    assert 5 < len(expected) < 75             # suppression happened, and not of everything
    np.testing.assert_array_equal(to_numpy(keep), expected)


def test_iou_equal_to_threshold_suppresses():
    # IoU exactly 0.5 (contained) and 1/3 (half overlap); detectron2's CPU rule is IoU >= threshold
    boxes = [(0, 0, 4, 2, 0), (0, 0, 2, 2, 0), (10, 0, 2, 2, 0), (11, 0, 2, 2, 0)]
    scores = [0.9, 0.8, 0.7, 0.6]
    np.testing.assert_array_equal(to_numpy(nms_rotated(_t(boxes), _t(scores), 0.5)), [0, 2, 3])
    np.testing.assert_array_equal(to_numpy(nms_rotated(_t(boxes), _t(scores), 1 / 3)), [0, 2])
    np.testing.assert_array_equal(to_numpy(nms_rotated(_t(boxes), _t(scores), 0.51)), [0, 1, 2, 3])


def test_same_region_other_angle_is_suppressed_and_ties_keep_index_order():
    boxes = [(5, 3, 4, 2, 90), (5, 3, 4, 2, -90), (5, 3, 2, 4, 0), (30, 3, 4, 2, 0)]
    keep = nms_rotated(_t(boxes), _t([0.5, 0.5, 0.9, 0.5]), 0.99)
    np.testing.assert_array_equal(to_numpy(keep), [2, 3])
    keep = nms_rotated(_t(boxes), _t([0.5, 0.5, 0.5, 0.5]), 0.99)
    np.testing.assert_array_equal(to_numpy(keep), [0, 3])


def test_threshold_zero_and_empty():
    boxes = [(0, 0, 1, 1, 0), (50, 50, 1, 1, 0), (0, 0, 0, 1, 0)]
    # IoU 0 >= 0: the best box suppresses every other, as in detectron2's CPU kernel
    np.testing.assert_array_equal(to_numpy(nms_rotated(_t(boxes), _t([0.1, 0.9, 0.5]), 0.0)), [1])
    empty = nms_rotated(_t(np.zeros((0, 5))), _t(np.zeros(0)), 0.5)
    assert tuple(empty.shape) == (0,) and empty.dtype == nnlite.int64
    empty = batched_nms_rotated(_t(np.zeros((0, 5))), _t(np.zeros(0)), _t(np.zeros(0), np.int64), 0.5)
    assert tuple(empty.shape) == (0,) and empty.dtype == nnlite.int64


def test_batched_nms_rotated_keeps_categories_apart():
    rng = np.random.default_rng(1)
    boxes = _clustered(rng, 60).astype(np.float32)
    scores = rng.random(60).astype(np.float32)
    idxs = rng.integers(0, 4, 60)
    before = boxes.copy()
    b = _t(boxes)
    keep = batched_nms_rotated(b, _t(scores), _t(idxs, np.int64), 0.3)
    np.testing.assert_array_equal(to_numpy(keep), _reference_batched(boxes, scores, idxs, 0.3))
    assert len(keep) > len(greedy_nms_ref(boxes, scores, 0.3))     # categories did matter
    np.testing.assert_array_equal(to_numpy(b), before)            # the input is not shifted in place


def test_batched_nms_rotated_float64_scores():
    boxes = np.array([(0, 0, 2, 2, 0), (0.1, 0, 2, 2, 0), (0.2, 0, 2, 2, 0)])
    keep = batched_nms_rotated(_t(boxes, np.float64), _t([0.3, 0.2, 0.1], np.float64), _t([0, 1, 0], np.int64), 0.5)
    np.testing.assert_array_equal(to_numpy(keep), [0, 1])


def test_nms_and_batched_nms_are_torchvision_s():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 50, (40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 20, (40, 2))], axis=1).astype(np.float32)
    scores, idxs = rng.random(40).astype(np.float32), rng.integers(0, 3, 40)
    assert nms is nnlite.ops.nms
    expected = ops_batched_nms(_t(boxes), _t(scores), _t(idxs, np.int64), 0.4)
    np.testing.assert_array_equal(to_numpy(batched_nms(_t(boxes), _t(scores), _t(idxs, np.int64), 0.4)),
                                  to_numpy(expected))
    half = batched_nms(_t(boxes, np.float16), _t(scores, np.float16), _t(idxs, np.int64), 0.4)
    assert half.dtype == nnlite.int64 and len(half) > 0


@pytest.mark.cuda
def test_cuda_matches_cpu(cuda_device):
    rng = np.random.default_rng(3)
    boxes, scores = _clustered(rng, 72).astype(np.float32), rng.random(72).astype(np.float32)
    idxs = rng.integers(0, 3, 72)
    for threshold, dtype in ((0.2, np.float32), (0.5, np.float64), (1 / 3, np.float32)):
        cpu = nms_rotated(_t(boxes, dtype), _t(scores, dtype), threshold)
        gpu = nms_rotated(_t(boxes, dtype, "cuda"), _t(scores, dtype, "cuda"), threshold)
        assert gpu.device.type == "cuda" and len(cpu) < 60
        np.testing.assert_array_equal(to_numpy(gpu), to_numpy(cpu))
    ties = [(0, 0, 4, 2, 0), (0, 0, 2, 2, 0), (10, 0, 2, 2, 0), (11, 0, 2, 2, 0)]   # IoU 0.5 and 1/3
    gpu = nms_rotated(_t(ties, device="cuda"), _t([0.9, 0.8, 0.7, 0.6], device="cuda"), 1 / 3)
    np.testing.assert_array_equal(to_numpy(gpu), [0, 2])                # >= on CUDA too
    cpu = batched_nms_rotated(_t(boxes), _t(scores), _t(idxs, np.int64), 0.3)
    gpu = batched_nms_rotated(_t(boxes, device="cuda"), _t(scores, device="cuda"),
                              _t(idxs, np.int64, "cuda"), 0.3)
    np.testing.assert_array_equal(to_numpy(gpu), to_numpy(cpu))


def test_errors():
    boxes, scores = _t([(0, 0, 1, 1, 0)] * 3), _t([0.1, 0.2, 0.3])
    with pytest.raises(RuntimeError, match=r"nms_rotated: boxes should be rotated boxes of shape \(N, 5\).*\(3, 4\)"):
        nms_rotated(_t(np.zeros((3, 4))), scores, 0.5)
    with pytest.raises(RuntimeError, match=r"nms_rotated: scores should have shape \(3,\).*got \(2,\)"):
        nms_rotated(boxes, _t([0.1, 0.2]), 0.5)
    with pytest.raises(RuntimeError, match="nms_rotated: dets should have the same type as scores"):
        nms_rotated(boxes, _t([0.1, 0.2, 0.3], np.float64), 0.5)
    with pytest.raises(TypeError, match="nms_rotated: scores should be a floating point tensor, got int64"):
        nms_rotated(boxes, _t([1, 2, 3], np.int64), 0.5)
    with pytest.raises(RuntimeError, match=r"batched_nms_rotated: idxs should have shape \(3,\)"):
        batched_nms_rotated(boxes, scores, _t([0, 1], np.int64), 0.5)
    with pytest.raises(RuntimeError, match=r"batched_nms_rotated: boxes should be rotated boxes.*\(3, 4\)"):
        batched_nms_rotated(_t(np.zeros((3, 4))), scores, _t([0, 1, 2], np.int64), 0.5)
    with pytest.raises(RuntimeError, match=r"batched_nms: boxes should have shape \(N, 4\).*\(3, 5\)"):
        batched_nms(boxes, scores, _t([0, 1, 2], np.int64), 0.5)
