"""torchvision 0.28's own Python files (its ops layers, FPN, box ops, losses, ResNet and the
detection backbone builder) run on nnlite with only their imports changed, and give the numbers
the very same files give on PyTorch.

Each file is loaded twice from torchvision's wheel: once with `torch` -> `nnlite` and
`torchvision.ops` -> `nnlite.ops` where a file calls a compiled kernel, once on PyTorch itself.
The PyTorch model's weights are loaded into the nnlite one through state_dict, so the keys must
match too. torchvision's plumbing (API-usage logging, the weights download) is stood in for by
tests/upstream/stand_ins.py; torchvision itself is never installed."""
import importlib

import numpy as np
import pytest

import nnlite
from tests.helpers import assert_close, to_numpy
from .porting import PORTED, port
from .sources import installed_reference, torchvision_sources

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
    ours = port(sources, on_nnlite, str(tmp_path_factory.mktemp("tv_nnlite")))
    if installed_reference():
        return short(ours), short({name: importlib.import_module(name) for name in FILES})
    return short(ours), short(port(sources, on_torch, str(tmp_path_factory.mktemp("tv_torch"))))


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


def test_masks_to_boxes(tv):
    ours, ref = tv
    masks = np.zeros((3, 20, 24), np.float32)
    masks[0, 2:9, 5:7] = masks[1, 11, 3] = masks[2, 4:19, 0:24] = 1
    assert_close(ours["boxes"].masks_to_boxes(nnlite.tensor(masks)), ref["boxes"].masks_to_boxes(torch.tensor(masks)))


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


# ------------------------------------------------------------------------ layers and models
def _compare_module(ours_module, ref_module, shape, train=False, rtol=1e-4, atol=1e-5, seed=0,
                    dtype=np.float32):
    """Load ref's weights into ours, then compare outputs (a tensor or a dict of them) and the
    input's gradient, in eval or training mode."""
    if dtype == np.float64:
        ours_module, ref_module = ours_module.double(), ref_module.double()
    _load(ours_module, ref_module)
    ours_module.train(train)
    ref_module.train(train)
    x, tx = _both(np.random.default_rng(seed).standard_normal(shape).astype(dtype), True)
    out, expected = ours_module(x), ref_module(tx)
    if isinstance(expected, dict):
        assert list(out) == list(expected)
        out, expected = list(out.values()), list(expected.values())
    else:
        out, expected = [out], [expected]
    for o, e in zip(out, expected):
        assert_close(o, e, rtol=rtol, atol=atol)
    weights = [np.random.default_rng(seed + 1 + i).standard_normal(tuple(e.shape)).astype(dtype)
               for i, e in enumerate(expected)]
    loss = sum((o * nnlite.tensor(w)).sum() for o, w in zip(out, weights))
    tloss = sum((e * torch.tensor(w)).sum() for e, w in zip(expected, weights))
    loss.backward()
    tloss.backward()
    assert_close(x.grad, tx.grad, rtol=rtol, atol=atol)
    return ours_module


@pytest.mark.parametrize("train", [False, True])
def test_misc_layers(tv, train):
    ours, ref = tv
    for name, kwargs, shape in [
            ("Conv2dNormActivation", dict(in_channels=3, out_channels=6, kernel_size=3, stride=2), (2, 3, 9, 9)),
            ("Conv3dNormActivation", dict(in_channels=2, out_channels=4, kernel_size=3), (2, 2, 5, 5, 5)),
            ("SqueezeExcitation", dict(input_channels=6, squeeze_channels=3), (2, 6, 5, 5)),
            ("MLP", dict(in_channels=5, hidden_channels=[8, 4], norm_layer=None, dropout=0.0), (3, 5)),
            ("FrozenBatchNorm2d", dict(num_features=4), (2, 4, 3, 3))]:
        torch.manual_seed(0)
        reference = getattr(ref["misc"], name)(**kwargs)
        if name == "FrozenBatchNorm2d":  # give the buffers values of their own
            for buffer in reference.buffers():
                buffer.copy_(torch.rand(buffer.shape) + 0.5)
        _compare_module(getattr(ours["misc"], name)(**kwargs), reference, shape, train)
    permuted = ours["misc"].Permute([0, 2, 3, 1])(nnlite.zeros(2, 3, 4, 5))
    assert tuple(permuted.shape) == (2, 4, 5, 3)


@pytest.mark.parametrize("extra", ["LastLevelMaxPool", "LastLevelP6P7", None])
def test_feature_pyramid_network(tv, extra):
    ours, ref = tv
    channels = [4, 8]

    def build(files):
        fpn = files["feature_pyramid_network"]
        block = None if extra is None else (fpn.LastLevelMaxPool() if extra == "LastLevelMaxPool"
                                            else fpn.LastLevelP6P7(8, 6))
        batch_norm = torch.nn.BatchNorm2d if files is ref else nnlite.nn.BatchNorm2d
        norm = batch_norm if extra == "LastLevelP6P7" else None  # FPN's optional norm_layer
        return fpn.FeaturePyramidNetwork(channels, 6, extra_blocks=block, norm_layer=norm)

    torch.manual_seed(0)
    reference, fpn = build(ref), build(ours)
    _load(fpn, reference)
    rng = np.random.default_rng(1)
    arrays = {"a": rng.standard_normal((2, 4, 8, 8)).astype(np.float32),
              "b": rng.standard_normal((2, 8, 4, 4)).astype(np.float32)}
    out = fpn({k: nnlite.tensor(v) for k, v in arrays.items()})
    expected = reference({k: torch.tensor(v) for k, v in arrays.items()})
    assert list(out) == list(expected)
    for key in expected:
        assert_close(out[key], expected[key], rtol=1e-4, atol=1e-5)


def test_multiscale_roi_align(tv):
    """torchvision's poolers.py (level mapping, per-level roi_align) on nnlite, against
    nnlite.ops.MultiScaleRoIAlign (PyTorch has no roi_align without torchvision's extension)."""
    ours, _ = tv
    rng = np.random.default_rng(2)
    features = {"p2": nnlite.tensor(rng.standard_normal((2, 3, 32, 32)).astype(np.float32)),
                "p3": nnlite.tensor(rng.standard_normal((2, 3, 16, 16)).astype(np.float32))}
    boxes = [nnlite.tensor(_boxes(5, 3, np.float32) * 3), nnlite.tensor(_boxes(4, 4, np.float32) * 2)]
    sizes = [(128, 128), (128, 128)]
    theirs = ours["poolers"].MultiScaleRoIAlign(["p2", "p3"], 5, 2)(features, boxes, sizes)
    expected = nnlite.ops.MultiScaleRoIAlign(["p2", "p3"], 5, 2)(features, boxes, sizes)
    assert_close(theirs, expected, rtol=1e-6, atol=1e-6)


def test_stochastic_depth_and_drop_block(tv):
    """Their randomness differs from PyTorch's, so: eval is the identity, and a training
    output is the input times a {0, 1/keep} mask of the documented shape."""
    ours, _ = tv
    nnlite.manual_seed(0)
    x = nnlite.tensor(np.random.default_rng(5).random((400, 3, 4, 4)).astype(np.float32) + 1)
    assert ours["stochastic_depth"].stochastic_depth(x, 0.3, "row", training=False) is x
    ratio = to_numpy(ours["stochastic_depth"].StochasticDepth(0.3, "row")(x)) / to_numpy(x)
    per_row = ratio.reshape(400, -1)
    assert np.allclose(per_row, per_row[:, :1], rtol=1e-6)  # a row is kept or dropped whole
    assert np.all(np.isclose(per_row[:, 0], 0) | np.isclose(per_row[:, 0], 1 / 0.7))
    assert 0.6 < (per_row[:, 0] > 0).mean() < 0.8
    x = nnlite.tensor(np.random.default_rng(6).random((4, 2, 16, 16)).astype(np.float32) + 1)
    dropped = to_numpy(ours["drop_block"].DropBlock2d(0.2, 3)(x)) / to_numpy(x)
    kept = dropped > 0
    assert 0 < kept.mean() < 1
    assert np.allclose(dropped[kept], kept.size / kept.sum(), rtol=1e-4)  # torchvision's rescale
    assert ours["drop_block"].drop_block2d(x, 0.2, 3, training=False) is x



@pytest.mark.parametrize("train", [False, True])
def test_resnet_model_definition(tv, train):
    """torchvision.models.resnet as it is (BasicBlock and Bottleneck, zero-init residuals,
    groups and width as in ResNeXt): the same numbers, and the same state_dict keys."""
    ours, ref = tv
    for builder, kwargs in [("resnet18", dict(num_classes=10)),
                            ("resnext50_32x4d", dict(num_classes=7, zero_init_residual=True))]:
        torch.manual_seed(0)
        reference = getattr(ref["resnet"], builder)(weights=None, **kwargs)
        model = getattr(ours["resnet"], builder)(weights=None, **kwargs)
        # float64, and enough values per channel in layer4 (3 x 2 x 2) that its training-mode
        # batch norm does not turn rounding into the whole gradient (with 2 values it does)
        _compare_module(model, reference, (3, 3, 48, 48), train, rtol=1e-9, atol=1e-10, dtype=np.float64)


def test_resnet_fpn_backbone(tv):
    """torchvision.models.detection.backbone_utils: a ResNet with FrozenBatchNorm2d, the
    trainable layers chosen, IntermediateLayerGetter and an FPN with LastLevelMaxPool."""
    ours, ref = tv
    torch.manual_seed(0)
    reference = ref["backbone_utils"].resnet_fpn_backbone(backbone_name="resnet18", weights=None,
                                                          trainable_layers=2)
    backbone = ours["backbone_utils"].resnet_fpn_backbone(backbone_name="resnet18", weights=None,
                                                          trainable_layers=2)
    frozen = [name for name, p in backbone.named_parameters() if not p.requires_grad]
    assert frozen == [name for name, p in reference.named_parameters() if not p.requires_grad]
    assert frozen and all(not name.startswith(("body.layer3", "body.layer4", "fpn")) for name in frozen)
    for buffer in reference.buffers():  # FrozenBatchNorm2d's statistics, not 0/1
        buffer.copy_(torch.rand(buffer.shape) + 0.5)
    _compare_module(backbone, reference, (1, 3, 64, 64), rtol=1e-9, atol=1e-10, dtype=np.float64)
