"""torchvision 0.28's detection model files (Faster, Mask and Keypoint R-CNN, RetinaNet, FCOS, SSD
and SSDlite, with their RPN, heads, anchors, transforms and backbones) run on nnlite with only
their imports changed: `torch` -> `nnlite`, `torchvision.ops` -> `nnlite.ops`.

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
        "_utils", "anchor_utils", "backbone_utils", "faster_rcnn", "fcos", "generalized_rcnn", "image_list",
        "keypoint_rcnn", "mask_rcnn", "retinanet", "roi_heads", "rpn", "ssd", "ssdlite", "transform"]] + [
    "torchvision.models.vgg"]
TORCH_PLUMBING = {**PLUMBING, "torchvision.ops._register_onnx_ops": "tests.upstream.stand_ins"}
SMALL = dict(weights=None, weights_backbone=None, num_classes=4, min_size=64, max_size=96)
RCNN = dict(SMALL, rpn_pre_nms_top_n_test=60, rpn_post_nms_top_n_test=25, box_detections_per_img=12,
            box_score_thresh=0.0, rpn_pre_nms_top_n_train=80, rpn_post_nms_top_n_train=30,
            # the samplers keep every anchor and proposal: no random subset decides the losses
            rpn_batch_size_per_image=10 ** 6, box_batch_size_per_image=10 ** 6)
DENSE = dict(SMALL, score_thresh=0.0, detections_per_img=12, topk_candidates=40)
# (file, builder, its arguments): every detection model torchvision 0.28 defines
MODELS = [("faster_rcnn", "fasterrcnn_resnet50_fpn", RCNN),
          ("mask_rcnn", "maskrcnn_resnet50_fpn", RCNN),
          ("keypoint_rcnn", "keypointrcnn_resnet50_fpn", dict(RCNN, num_keypoints=5)),
          ("retinanet", "retinanet_resnet50_fpn", DENSE),
          ("fcos", "fcos_resnet50_fpn", DENSE),
          ("ssdlite", "ssdlite320_mobilenet_v3_large", dict(weights=None, weights_backbone=None, num_classes=4,
                                                            score_thresh=0.0, detections_per_img=12, topk_candidates=40)),
          ("ssd", "ssd300_vgg16", dict(weights=None, weights_backbone=None, num_classes=4, score_thresh=0.0,
                                       detections_per_img=12, topk_candidates=40))]


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
    """{file: (the module on nnlite, the module on PyTorch)} for the files in MODELS."""
    sources = torchvision_sources()
    names = [f"torchvision.models.detection.{file}" for file, _, _ in MODELS]
    on_nnlite = {"torch": "nnlite", **PLUMBING, "torchvision.ops": "nnlite.ops",
                 **{f: PORTED for f in MODEL_FILES}}
    ours = port(sources, on_nnlite, str(tmp_path_factory.mktemp("det_nnlite")))
    if installed_reference():  # torchvision's own kernels, registered when it is imported
        theirs = {name: importlib.import_module(name) for name in names}
    else:
        _register_torch_nms()
        on_torch = {**TORCH_PLUMBING, "torchvision.ops": PORTED, **{f: PORTED for f in MODEL_FILES}}
        theirs = port(sources, on_torch, str(tmp_path_factory.mktemp("det_torch")))
    return {name.rsplit(".", 1)[-1]: (ours[name], theirs[name]) for name in names}


def _models(detection, file, builder, kwargs):
    ours, ref = detection[file]
    torch.manual_seed(0)
    reference = getattr(ref, builder)(**kwargs).double()
    if file == "ssdlite":  # at its init the features are flat and every anchor scores the same
        with torch.no_grad():  # (exact ties, in any order): perturb the weights
            for parameter in reference.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.01)
    model = getattr(ours, builder)(**kwargs).double()
    _load(model, reference)
    return model, reference


def _images(seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.random((3, 60, 80)), rng.random((3, 72, 64))]
    return [nnlite.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def _targets(module, seed=0):
    """Two images' boxes and labels, with the masks and keypoints that Mask and Keypoint R-CNN train on."""
    rng = np.random.default_rng(seed)
    boxes = [np.array([[5., 6., 40., 50.], [20., 10., 60., 55.]]), np.array([[0., 0., 30., 30.]])]
    targets = []
    for b, labels, (h, w) in zip(boxes, [[1, 3], [2]], [(60, 80), (72, 64)]):
        keypoints = np.concatenate([rng.uniform(b[:, None, :2], b[:, None, 2:], (len(b), 5, 2)),
                                    np.ones((len(b), 5, 1))], 2)
        targets.append({"boxes": module.tensor(b), "labels": module.tensor(labels),
                        "masks": module.tensor((rng.random((len(b), h, w)) < 0.5).astype(np.uint8)),
                        "keypoints": module.tensor(keypoints.astype(np.float32))})  # torchvision requires float32
    return targets


def _same_dtype(a, b):
    assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]


@pytest.mark.parametrize("file, builder, kwargs", MODELS, ids=[m[0] for m in MODELS])
def test_detections(detection, file, builder, kwargs):
    model, reference = _models(detection, file, builder, kwargs)
    images, timages = _images()
    with nnlite.no_grad():
        out = model.eval()(images)
    with torch.no_grad():
        expected = reference.eval()(timages)
    for o, e in zip(out, expected):
        assert list(o) == list(e)
        assert len(e["boxes"]) == 12  # detections_per_img: every model had something to keep
        for key in e:
            _same_dtype(o[key], e[key])
            if e[key].dtype == torch.int64:
                np.testing.assert_array_equal(to_numpy(o[key]), to_numpy(e[key]))
            else:
                assert_close(o[key], e[key], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("file, builder, kwargs", MODELS, ids=[m[0] for m in MODELS])
def test_training_losses_and_gradients(detection, file, builder, kwargs):
    model, reference = _models(detection, file, builder, kwargs)
    images, timages = _images(1)
    losses = model.train()(images, _targets(nnlite))
    expected = reference.train()(timages, _targets(torch))
    assert list(losses) == list(expected)
    for key in expected:  # RPN's loss_objectness is float32 on both sides: its labels are float32
        _same_dtype(losses[key], expected[key])
        tolerance = 1e-9 if expected[key].dtype == torch.float64 else 1e-6
        assert_close(losses[key], expected[key], rtol=tolerance, atol=1e-12)
    sum(losses.values()).backward()
    sum(expected.values()).backward()
    ours = dict(model.named_parameters())
    for name, parameter in reference.named_parameters():  # every parameter's gradient
        if parameter.grad is None:
            assert ours[name].grad is None, name
        else:
            assert_close(ours[name].grad, parameter.grad, rtol=1e-7, atol=1e-10)
