"""torchvision 0.28's own Python files (its ops layers, FPN, box ops, losses, ResNet and the
detection backbone builder) run on nnlite with only their imports changed, and give the numbers
the very same files give on PyTorch.

Each file is loaded twice from torchvision's wheel: once with `torch` -> `nnlite` and
`torchvision.ops` -> `nnlite.ops` where a file calls a compiled kernel, once on PyTorch itself.
The PyTorch model's weights are loaded into the nnlite one through state_dict, so the keys must
match too. torchvision's plumbing (API-usage logging, the weights download) is stood in for by
tests/upstream/stand_ins.py; torchvision itself is never installed."""
import numpy as np
import pytest

import nnlite
from tests.helpers import assert_close, to_numpy
from .porting import PORTED, port
from .sources import torchvision_sources

torch = pytest.importorskip("torch")

FILES = ["torchvision.ops._box_convert", "torchvision.ops.boxes", "torchvision.ops._utils",
         "torchvision.ops.giou_loss", "torchvision.ops.diou_loss", "torchvision.ops.ciou_loss",
         "torchvision.ops.focal_loss", "torchvision.ops.misc", "torchvision.ops.stochastic_depth",
         "torchvision.ops.drop_block", "torchvision.ops.feature_pyramid_network",
         "torchvision.ops.poolers", "torchvision._utils", "torchvision.models._api",
         "torchvision.models._meta", "torchvision.models._utils", "torchvision.models.resnet",
         "torchvision.models.detection.backbone_utils", "torchvision.models.mobilenet",
         "torchvision.models.mobilenetv2", "torchvision.models.mobilenetv3"]
PLUMBING = {name: "tests.upstream.stand_ins" for name in [
    "torchvision", "torchvision.utils", "torchvision.extension",
    "torchvision._internally_replaced_utils", "torchvision.transforms._presets"]}
# the files that only wrap a compiled kernel: nnlite's kernels on nnlite; on PyTorch none is
# loaded, so the tests that need one compare with nnlite's own op
KERNEL_WRAPPERS = {"torchvision.ops": "nnlite.ops"}


@pytest.fixture(scope="module")
def tv(tmp_path_factory):
    """(the files on nnlite, the same files on PyTorch): {short name: module}, each."""
    sources = torchvision_sources()
    on_nnlite = {"torch": "nnlite", **PLUMBING, **KERNEL_WRAPPERS, **{f: PORTED for f in FILES}}
    on_torch = {**PLUMBING, **KERNEL_WRAPPERS, **{f: PORTED for f in FILES}}
    short = lambda modules: {k.rsplit(".", 1)[-1]: v for k, v in modules.items()}  # noqa: E731
    return (short(port(sources, on_nnlite, str(tmp_path_factory.mktemp("tv_nnlite")))),
            short(port(sources, on_torch, str(tmp_path_factory.mktemp("tv_torch")))))


def _boxes(n, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 40, (n, 2))
    wh = rng.uniform(0, 20, (n, 2))
    wh[0] = 0  # a zero-area box
    return np.concatenate([xy, xy + wh], 1).astype(dtype)


def _both(array, requires_grad=False):
    return (nnlite.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


def _load(nn_module, torch_module):
    """torch_module's state_dict into nn_module: the keys must be the same."""
    state = {k: nnlite.tensor(v.detach().numpy()) for k, v in torch_module.state_dict().items()}
    assert set(state) == set(nn_module.state_dict())
    nn_module.load_state_dict(state)


# ------------------------------------------------------------------------ boxes and losses
@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_box_convert_and_box_ops(tv, fmt):
    ours, ref = tv
    (a, ta), (b, tb) = _both(_boxes(7, 0)), _both(_boxes(5, 1))
    for name in ["box_iou", "generalized_box_iou", "complete_box_iou", "distance_box_iou"]:
        assert_close(getattr(ours["boxes"], name)(a, b), getattr(ref["boxes"], name)(ta, tb),
                     rtol=1e-12, atol=1e-12)
    there = ours["boxes"].box_convert(a, "xyxy", fmt)
    assert_close(there, ref["boxes"].box_convert(ta, "xyxy", fmt))
    assert_close(ours["boxes"].box_convert(there, fmt, "xyxy"), a, rtol=1e-12, atol=1e-12)
    assert_close(ours["boxes"].box_area(a), ref["boxes"].box_area(ta))
    assert_close(ours["boxes"].clip_boxes_to_image(a, (30, 25)), ref["boxes"].clip_boxes_to_image(ta, (30, 25)))
    assert_close(ours["boxes"].remove_small_boxes(a, 6.0), ref["boxes"].remove_small_boxes(ta, 6.0))


def test_masks_to_boxes_and_batched_nms(tv):
    ours, ref = tv
    masks = np.zeros((3, 20, 24), np.float32)
    masks[0, 2:9, 5:7] = masks[1, 11, 3] = masks[2, 4:19, 0:24] = 1
    assert_close(ours["boxes"].masks_to_boxes(nnlite.tensor(masks)), ref["boxes"].masks_to_boxes(torch.tensor(masks)))
    # batched_nms runs torchvision's Python strategy around nnlite.ops.nms (PyTorch has no nms
    # without torchvision's extension, so this one compares with nnlite's own batched_nms)
    boxes, scores = _boxes(60, 2), np.random.default_rng(3).random(60)
    idxs = np.random.default_rng(4).integers(0, 4, 60)
    b, s, i = nnlite.tensor(boxes), nnlite.tensor(scores), nnlite.tensor(idxs)
    expected = to_numpy(nnlite.ops.batched_nms(b, s, i, 0.3))
    np.testing.assert_array_equal(to_numpy(ours["boxes"]._batched_nms_vanilla(b, s, i, 0.3)), expected)
    np.testing.assert_array_equal(to_numpy(ours["boxes"]._batched_nms_coordinate_trick(b, s, i, 0.3)), expected)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_box_losses_and_focal_loss(tv, reduction):
    ours, ref = tv
    (a, ta), (b, tb) = _both(_boxes(6, 5)[1:], True), _both(_boxes(6, 6)[1:])
    for file, fn in [("giou_loss", "generalized_box_iou_loss"), ("diou_loss", "distance_box_iou_loss"),
                     ("ciou_loss", "complete_box_iou_loss")]:
        loss, expected = getattr(ours[file], fn)(a, b, reduction), getattr(ref[file], fn)(ta, tb, reduction)
        assert_close(loss, expected, rtol=1e-10, atol=1e-12)
        (grad,), (tgrad,) = nnlite.autograd.grad(loss.sum(), [a]), torch.autograd.grad(expected.sum(), [ta])
        assert_close(grad, tgrad, rtol=1e-9, atol=1e-12)
    rng = np.random.default_rng(7)
    (x, tx), (t, tt) = _both(rng.standard_normal((8, 5)), True), _both((rng.random((8, 5)) < 0.3) * 1.0)
    loss = ours["focal_loss"].sigmoid_focal_loss(x, t, 0.25, 2, reduction)
    expected = ref["focal_loss"].sigmoid_focal_loss(tx, tt, 0.25, 2, reduction)
    assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    assert_close(nnlite.autograd.grad(loss.sum(), [x])[0], torch.autograd.grad(expected.sum(), [tx])[0],
                 rtol=1e-9, atol=1e-12)
