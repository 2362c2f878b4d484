"""nms and batched_nms against a slow numpy greedy NMS written as torchvision's CPU kernel
(stable descending sort, IoU in the boxes' dtype, suppression when IoU > threshold strictly);
the CUDA bitmask kernel against the CPU one; both batched strategies; edge cases; errors."""
import numpy as np
import pytest

import importlib

import nnlite
from nnlite.ops import batched_nms, nms

# nnlite.ops.nms is the function (as in torchvision); the module holds the private strategies
nms_module = importlib.import_module("nnlite.ops.nms")

# the simulator evaluates the IoU in Python: 0/0 of two zero-area boxes warns there
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def reference_nms(boxes, scores, threshold):
    """Greedy NMS, one pair at a time, in the boxes' dtype."""
    dt = boxes.dtype.type
    order = sorted(range(len(scores)), key=lambda i: -scores[i])    # Python's sort is stable
    suppressed, keep = set(), []
    with np.errstate(invalid="ignore", divide="ignore"):
        for a, i in enumerate(order):
            if i in suppressed:
                continue
            keep.append(i)
            for j in order[a + 1:]:
                if float(_iou(boxes[i], boxes[j], dt)) > threshold:    # in double, as torchvision
                    suppressed.add(j)
    return np.array(keep, dtype=np.int64)


def _iou(p, q, dt):
    w = max(dt(0), min(p[2], q[2]) - max(p[0], q[0]))
    h = max(dt(0), min(p[3], q[3]) - max(p[1], q[1]))
    inter = w * h
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)


def reference_batched(boxes, scores, idxs, threshold):
    keep = []
    for c in np.unique(idxs):
        members = np.flatnonzero(idxs == c)
        keep.extend(members[reference_nms(boxes[members], scores[members], threshold)])
    keep = np.array(keep, dtype=np.int64)
    return keep[sorted(range(len(keep)), key=lambda k: (-scores[keep[k]], keep[k]))]


def random_boxes(n, dtype, seed=0, tie_levels=None):
    """Overlapping boxes (centres in [0, 60], sides in [4, 30]); scores with ties when asked."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0, 60, (n, 2))
    half = rng.uniform(2, 15, (n, 2))
    boxes = np.concatenate([centre - half, centre + half], axis=1).astype(dtype)
    scores = rng.uniform(0, 1, n)
    if tie_levels:
        scores = np.round(scores * tie_levels) / tie_levels
    return boxes, scores.astype(dtype)


def run_nms(boxes, scores, threshold, device="cpu"):
    keep = nms(nnlite.tensor(boxes, device=device), nnlite.tensor(scores, device=device), threshold)
    assert keep.dtype == nnlite.int64 and keep.device.type == device
    return keep.numpy() if device == "cpu" else keep.cpu().numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_nms_matches_reference(dtype, threshold):
    boxes, scores = random_boxes(300, dtype, seed=int(threshold * 10), tie_levels=20)
    np.testing.assert_array_equal(run_nms(boxes, scores, threshold), reference_nms(boxes, scores, threshold))


def test_equal_scores_keep_the_lower_index_first():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.5, 0.5, 0.5, 0.5], np.float32)
    np.testing.assert_array_equal(run_nms(boxes, scores, 0.5), [0, 3])
    np.testing.assert_array_equal(run_nms(boxes[::-1].copy(), scores, 0.5), [0, 1])


def test_nan_scores_sort_first_as_torch():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float64)
    scores = np.array([0.9, 0.1, np.nan])
    np.testing.assert_array_equal(run_nms(boxes, scores, 0.5), [2, 1])


def test_zero_area_boxes_never_suppress_each_other():
    boxes = np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10], [2, 2, 2, 8]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    # 0/0 IoU is NaN (not > threshold); a zero-area box inside a real one has IoU 0
    np.testing.assert_array_equal(run_nms(boxes, scores, 0.0), [0, 1, 2, 3])


def test_threshold_edges():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [10, 0, 20, 10], [5, 0, 15, 10]], np.float64)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # identical boxes have IoU exactly 1, which is not > 1; touching boxes (IoU 0) survive 0
    np.testing.assert_array_equal(run_nms(boxes, scores, 1.0), [0, 1, 2, 3])
    np.testing.assert_array_equal(run_nms(boxes, scores, 0.0), [0, 2])
    # box 3 overlaps box 0 by exactly 1/3: kept at 1/3, dropped just below
    np.testing.assert_array_equal(run_nms(boxes, scores, 1 / 3), [0, 2, 3])
    np.testing.assert_array_equal(run_nms(boxes, scores, 0.33), [0, 2])


def test_float32_iou_is_compared_with_the_double_threshold():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    # the float32 IoU 50/150 rounds up to 0.33333334 > 1/3, but is not > float32(1/3)
    for threshold, expected in ((1 / 3, [0]), (float(np.float32(1 / 3)), [0, 1]), (0.3333333, [0])):
        np.testing.assert_array_equal(run_nms(boxes, scores, threshold), expected)
        np.testing.assert_array_equal(reference_nms(boxes, scores, threshold), expected)


def test_empty_input(device):
    for op, extra in ((nms, ()), (batched_nms, (nnlite.tensor(np.zeros(0, np.int64), device=device),))):
        keep = op(nnlite.tensor(np.zeros((0, 4), np.float32), device=device),
                  nnlite.tensor(np.zeros(0, np.float32), device=device), *extra, 0.5)
        assert keep.dtype == nnlite.int64 and tuple(keep.shape) == (0,) and keep.device.type == device
    keep = nms_module._batched_nms_vanilla(*[nnlite.tensor(np.zeros(s, d), device=device) for s, d in
                                             (((0, 4), np.float32), ((0,), np.float32), ((0,), np.int64))], 0.5)
    assert keep.dtype == nnlite.int64 and tuple(keep.shape) == (0,)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_bitmask_matches_cpu(cuda_device, dtype):
    # 70 boxes: two 64-box tiles, so the cross-tile mask words and the sweep across them run
    boxes, scores = random_boxes(70, dtype, seed=3, tie_levels=10)
    cpu = run_nms(boxes, scores, 0.4)
    np.testing.assert_array_equal(run_nms(boxes, scores, 0.4, cuda_device), cpu)
    np.testing.assert_array_equal(cpu, reference_nms(boxes, scores, 0.4))


def _batched_inputs(n, classes, dtype, device, seed=0):
    boxes, scores = random_boxes(n, dtype, seed=seed, tie_levels=10)
    idxs = np.random.default_rng(seed).integers(0, classes, n)
    return boxes, scores, idxs, [nnlite.tensor(a, device=device) for a in (boxes, scores, idxs)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_strategies_agree_with_reference(dtype):
    boxes, scores, idxs, tensors = _batched_inputs(400, 5, dtype, "cpu")
    expected = reference_batched(boxes, scores, idxs, 0.5)
    trick = nms_module._batched_nms_coordinate_trick(*tensors, 0.5).numpy()
    vanilla = nms_module._batched_nms_vanilla(*tensors, 0.5).numpy()
    np.testing.assert_array_equal(trick, expected)
    np.testing.assert_array_equal(vanilla, expected)
    np.testing.assert_array_equal(batched_nms(*tensors, 0.5).numpy(), expected)


def test_batched_nms_on_each_device(device):
    boxes, scores, idxs, tensors = _batched_inputs(40, 3, np.float32, device, seed=1)
    expected = reference_batched(boxes, scores, idxs, 0.5)
    for strategy in (batched_nms, nms_module._batched_nms_vanilla):    # CUDA's vanilla: a class loop
        keep = strategy(*tensors, 0.5)
        assert keep.dtype == nnlite.int64 and keep.device.type == device
        np.testing.assert_array_equal(keep.cpu().numpy(), expected)


def test_batched_nms_single_box_categories_and_sparse_ids():
    boxes, scores = random_boxes(30, np.float64, seed=7, tie_levels=5)
    idxs = np.array([7] * 10 + [-2] + [1000] * 18 + [3])     # two categories of one box
    tensors = [nnlite.tensor(a) for a in (boxes, scores, idxs)]
    expected = reference_batched(boxes, scores, idxs, 0.3)
    np.testing.assert_array_equal(nms_module._batched_nms_vanilla(*tensors, 0.3).numpy(), expected)
    np.testing.assert_array_equal(batched_nms(*tensors, 0.3).numpy(), expected)


@pytest.mark.parametrize("n, strategy", [(1000, "_batched_nms_coordinate_trick"),    # 4000 coordinates
                                         (1001, "_batched_nms_vanilla")])
def test_batched_nms_picks_the_strategy_as_torchvision(monkeypatch, n, strategy):
    called = []
    original = getattr(nms_module, strategy)
    monkeypatch.setattr(nms_module, strategy, lambda *a: called.append(strategy) or original(*a))
    _, _, _, tensors = _batched_inputs(n, 4, np.float32, "cpu")
    batched_nms(*tensors, 0.5)
    assert called == [strategy]


def test_inputs_are_not_modified():
    boxes, scores, idxs, tensors = _batched_inputs(50, 3, np.float32, "cpu")
    strided = nnlite.tensor(np.repeat(boxes, 2, axis=1))[:, ::2]     # a non-contiguous view
    nms(strided, tensors[1], 0.5)
    batched_nms(*tensors, 0.5)
    nms_module._batched_nms_vanilla(*tensors, 0.5)
    for t, a in zip(tensors, (boxes, scores, idxs)):
        np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(strided.numpy(), boxes)


def test_non_contiguous_boxes():
    boxes, scores = random_boxes(60, np.float32, seed=5)
    strided = nnlite.tensor(np.repeat(boxes, 2, axis=1))[:, ::2]
    keep = nms(strided, nnlite.tensor(scores), 0.5).numpy()
    np.testing.assert_array_equal(keep, reference_nms(boxes, scores, 0.5))


def _t(shape, dtype=np.float32):
    return nnlite.tensor(np.zeros(shape, dtype))


@pytest.mark.parametrize("args, error, words", [
    ((_t((5,)), _t((5,))), RuntimeError, ["nms", "2d", "(5,)"]),
    ((_t((5, 5)), _t((5,))), RuntimeError, ["nms", "4 elements", "(5, 5)"]),
    ((_t((5, 4)), _t((5, 1))), RuntimeError, ["nms", "scores", "(5, 1)"]),
    ((_t((5, 4)), _t((4,))), RuntimeError, ["nms", "5 and 4"]),
    ((_t((5, 4), np.int64), _t((5,), np.int64)), NotImplementedError, ["nms", "int64"]),
    ((_t((5, 4)), _t((5,), np.float64)), RuntimeError, ["nms", "float32", "float64"]),
    ((np.zeros((5, 4)), _t((5,))), TypeError, ["nms", "boxes", "Tensor"]),
])
def test_nms_errors(args, error, words):
    with pytest.raises(error) as info:
        nms(*args, 0.5)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("idxs", [_t((5, 1), np.int64), _t((4,), np.int64)])
def test_batched_nms_rejects_idxs_of_the_wrong_shape(idxs):
    with pytest.raises(RuntimeError, match=r"batched_nms: idxs should have shape \(5,\)"):
        batched_nms(_t((5, 4)), _t((5,)), idxs, 0.5)
