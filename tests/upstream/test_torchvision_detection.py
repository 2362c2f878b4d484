"""torchvision 0.28's Faster R-CNN files (faster_rcnn.py, rpn.py, roi_heads.py, anchor_utils.py,
transform.py, generalized_rcnn.py, detection/_utils.py and the backbone files) run on nnlite
with only their imports changed: `torch` -> `nnlite`, `torchvision.ops` -> `nnlite.ops`.

The reference is the same files on PyTorch with torchvision.ops' own Python files, where roi_align
takes torchvision's pure-PyTorch path (there is no compiled extension) and NMS is the plain greedy
loop below: no nnlite code runs on that side. The PyTorch model's weights are loaded into the
nnlite one; detections, losses and gradients are compared in float64, where no near-tie in the
random model's scores can reorder top-k or NMS."""
import importlib

import numpy as np
import pytest

import nnlite
from tests.helpers import assert_close, to_numpy
from .porting import PORTED, port
from .sources import installed_reference, torchvision_sources
from .test_torchvision_files import PLUMBING, _load

torch = pytest.importorskip("torch")

MODEL_FILES = ["torchvision._utils"] + [f"torchvision.models.{m}" for m in [
    "_api", "_meta", "_utils", "resnet", "mobilenet", "mobilenetv2", "mobilenetv3"]] + [
    f"torchvision.models.detection.{m}" for m in [
        "_utils", "anchor_utils", "backbone_utils", "faster_rcnn", "generalized_rcnn", "image_list",
        "roi_heads", "rpn", "transform"]]
TORCH_PLUMBING = {**PLUMBING, "torchvision.ops._register_onnx_ops": "tests.upstream.stand_ins"}
CONFIG = dict(weights=None, weights_backbone=None, num_classes=4, min_size=64, max_size=96,
              rpn_pre_nms_top_n_test=60, rpn_post_nms_top_n_test=25, box_detections_per_img=12,
              box_score_thresh=0.0,
              # samplers keep every anchor and proposal, so no random subset decides the losses
              rpn_batch_size_per_image=10 ** 6, box_batch_size_per_image=10 ** 6,
              rpn_pre_nms_top_n_train=80, rpn_post_nms_top_n_train=30)


def _greedy_nms(boxes, scores, iou_threshold):
    """NMS as torchvision defines it: by decreasing score, drop boxes whose IoU with a kept box
    is above the threshold."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt = torch.max(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    iou = inter / (area[:, None] + area[None, :] - inter)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    keep = []
    for i in torch.sort(scores, descending=True, stable=True).indices.tolist():
        if not suppressed[i]:
            keep.append(i)
            suppressed |= iou[i] > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def _register_torch_nms():
    try:
        torch.ops.torchvision.nms
    except (AttributeError, RuntimeError):
        torch.library.custom_op("torchvision::nms", mutates_args=())(_nms_op)


def _nms_op(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return _greedy_nms(dets, scores, iou_threshold)


@pytest.fixture(scope="module")
def detection(tmp_path_factory):
    """(faster_rcnn on nnlite, faster_rcnn on PyTorch)."""
    sources = torchvision_sources()
    name = "torchvision.models.detection.faster_rcnn"
    on_nnlite = {"torch": "nnlite", **PLUMBING, "torchvision.ops": "nnlite.ops",
                 **{f: PORTED for f in MODEL_FILES}}
    ours = port(sources, on_nnlite, str(tmp_path_factory.mktemp("det_nnlite")))[name]
    if installed_reference():  # torchvision's own kernels, registered when it is imported
        return ours, importlib.import_module(name)
    _register_torch_nms()
    on_torch = {**TORCH_PLUMBING, "torchvision.ops": PORTED, **{f: PORTED for f in MODEL_FILES}}
    return ours, port(sources, on_torch, str(tmp_path_factory.mktemp("det_torch")))[name]


def _models(detection):
    ours, ref = detection
    torch.manual_seed(0)
    reference = ref.fasterrcnn_resnet50_fpn(**CONFIG).double()
    model = ours.fasterrcnn_resnet50_fpn(**CONFIG).double()
    _load(model, reference)
    return model, reference


def _images(seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.random((3, 60, 80)), rng.random((3, 72, 64))]
    return [nnlite.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def _targets(module):
    return [{"boxes": module.tensor([[5., 6., 40., 50.], [20., 10., 60., 55.]], dtype=module.float64),
             "labels": module.tensor([1, 3])},
            {"boxes": module.tensor([[0., 0., 30., 30.]], dtype=module.float64), "labels": module.tensor([2])}]


def test_faster_rcnn_detections(detection):
    model, reference = _models(detection)
    images, timages = _images()
    with nnlite.no_grad():
        out = model.eval()(images)
    with torch.no_grad():
        expected = reference.eval()(timages)
    for o, e in zip(out, expected):
        assert list(o) == list(e) == ["boxes", "labels", "scores"]
        assert len(e["boxes"]) == CONFIG["box_detections_per_img"]
        np.testing.assert_array_equal(to_numpy(o["labels"]), to_numpy(e["labels"]))
        assert_close(o["boxes"], e["boxes"], rtol=1e-9, atol=1e-9)
        assert_close(o["scores"], e["scores"], rtol=1e-9, atol=1e-12)


def test_faster_rcnn_training_losses_and_gradients(detection):
    model, reference = _models(detection)
    images, timages = _images(1)
    losses = model.train()(images, _targets(nnlite))
    expected = reference.train()(timages, _targets(torch))
    assert list(losses) == list(expected)
    for key in expected:  # loss_objectness is float32 on both sides: its labels are float32
        assert str(losses[key].dtype).split(".")[-1] == str(expected[key].dtype).split(".")[-1]
        tolerance = 1e-9 if expected[key].dtype == torch.float64 else 1e-6
        assert_close(losses[key], expected[key], rtol=tolerance, atol=1e-12)
    sum(losses.values()).backward()
    sum(expected.values()).backward()
    ours, theirs = dict(model.named_parameters()), dict(reference.named_parameters())
    for name in ["backbone.body.conv1.weight", "backbone.body.layer2.0.conv2.weight",
                 "backbone.fpn.layer_blocks.1.0.weight", "rpn.head.conv.0.0.weight",
                 "rpn.head.bbox_pred.weight", "roi_heads.box_head.fc6.weight",
                 "roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.bbox_pred.bias"]:
        assert_close(ours[name].grad, theirs[name].grad, rtol=1e-7, atol=1e-10)
