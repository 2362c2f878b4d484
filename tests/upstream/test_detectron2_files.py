"""detectron2's own Python files that build on its layers (blocks.py, aspp.py, batch_norm.py,
wrappers.py and the ResNet backbone with FrozenBN and deformable blocks) run on nnlite with only
their imports changed, and give the numbers the very same files give on PyTorch.

The files are read from a detectron2 checkout named by DETECTRON2_SRC (detectron2 is not on the
package index; without it every test that reads them skips) and loaded three times:
- "ported": detectron2.layers' pure-Python files themselves on nnlite (torch -> nnlite); its
  kernel wrappers (deform_conv, nms, roi_align, ...) -> nnlite.layers' twins;
- "nnlite.layers": what a user porting resnet.py does: detectron2.layers -> nnlite.layers;
- the reference: the same files on PyTorch. detectron2's DeformConv needs its compiled _C and
  torchvision: tests/upstream/d2_torch_stand_ins.py stands in with a gather-bilinear reference
  (checked against torchvision.ops.deform_conv2d where torchvision is installed).
fvcore.nn.weight_init maps to nnlite.layers.blocks (which has c2_msra_fill / c2_xavier_fill) on
nnlite and to torch.nn.init stand-ins on PyTorch; detectron2's registry, env and comm are
neutral stand-ins (tests/upstream/d2_stand_ins.py). PyTorch's weights go into the nnlite
models through state_dict, so the keys must match too. Everything runs in float64."""
import types

import numpy as np
import pytest

import nnlite
from tests.helpers import assert_close
from .porting import PORTED, port
from .sources import detectron2_sources

torch = pytest.importorskip("torch")

LAYER_FILES = ["detectron2.layers", "detectron2.layers.batch_norm", "detectron2.layers.blocks",
               "detectron2.layers.aspp", "detectron2.layers.wrappers", "detectron2.layers.shape_spec",
               "detectron2.layers.losses"]
MODEL_FILES = ["detectron2.modeling.backbone.resnet", "detectron2.modeling.backbone.backbone",
               "detectron2.modeling.backbone.build"]
KERNEL_WRAPPERS = ["deform_conv", "mask_ops", "nms", "roi_align", "roi_align_rotated", "rotated_boxes"]
STAND_INS, TORCH_STAND_INS = "tests.upstream.d2_stand_ins", "tests.upstream.d2_torch_stand_ins"
PLUMBING = {name: STAND_INS for name in ["detectron2.utils", "detectron2.utils.env", "detectron2.utils.comm",
                                         "detectron2.utils.registry", "fvcore.nn.distributed"]}
ON_NNLITE = {"torch": "nnlite", "fvcore.nn.weight_init": "nnlite.layers.blocks", **PLUMBING}
TOL = dict(rtol=1e-9, atol=1e-11)


def _short(modules):
    return types.SimpleNamespace(**{k.rsplit(".", 1)[-1]: v for k, v in modules.items()})


@pytest.fixture(scope="module")
def d2(tmp_path_factory):
    """{side: namespace of the loaded files}: "ported" and "nnlite.layers" run on nnlite,
    "torch" is the reference. Each namespace has `layers` (the detectron2.layers package the
    files use), `resnet`, `build`, and `fw` (the framework: nnlite or torch)."""
    sources = detectron2_sources()
    ported = {f: PORTED for f in LAYER_FILES + MODEL_FILES}
    plans = {
        "ported": {**ON_NNLITE, **{f"detectron2.layers.{k}": f"nnlite.layers.{k}" for k in KERNEL_WRAPPERS},
                   **ported},
        "nnlite.layers": {**ON_NNLITE, "detectron2.layers": "nnlite.layers", **{f: PORTED for f in MODEL_FILES}},
        "torch": {"fvcore.nn.weight_init": TORCH_STAND_INS, **PLUMBING,
                  **{f"detectron2.layers.{k}": TORCH_STAND_INS for k in KERNEL_WRAPPERS}, **ported},
    }
    sides = {}
    for side, plan in plans.items():
        loaded = port(sources, plan, str(tmp_path_factory.mktemp("d2_" + side.replace(".", "_"))))
        files = _short(loaded)
        files.layers = loaded.get("detectron2.layers", nnlite.layers)
        files.fw = torch if side == "torch" else nnlite
        sides[side] = files
    return sides


NNLITE_SIDES = pytest.mark.parametrize("side", ["ported", "nnlite.layers"])


# ------------------------------------------------------------------------ helpers
def _load(ours, ref):
    """ref's state_dict into ours (both float64): the keys must be the same."""
    state = {k: nnlite.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()}
    assert sorted(state) == sorted(ours.state_dict())
    ours.load_state_dict(state)


def _build(d2, side, seed, make, move_offsets=True):
    """make(files) on `side` and on PyTorch, torch's weights (with random statistics and
    offsets) copied into ours, both float64. The module trees must match class by class."""
    torch.manual_seed(seed)
    ref = make(d2["torch"]).double()
    nnlite.manual_seed(seed)
    ours = make(d2[side]).double()
    assert _structure(ours) == _structure(ref)
    _scramble_statistics(ref, seed + 1)
    if move_offsets:
        _move_offsets(ref, seed + 2)
    _load(ours, ref)
    return ours, ref


def _structure(model):
    return [(name, type(m).__name__) for name, m in model.named_modules()]


def _move_offsets(model, seed):
    """detectron2 starts the offset convs at zero (a deformable conv is then a plain one):
    random weights move every sample off the grid by about a pixel."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "conv2_offset" in name:
                fan_in = p[0].numel() if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * (0.7 / fan_in ** 0.5))


def _scramble_statistics(model, seed):
    """Random BN/FrozenBN statistics and affine terms (torch side), so eval mode and frozen
    layers do more than the identity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith(("running_mean", "bias")):
                buf.copy_(torch.randn(buf.shape, generator=gen, dtype=buf.dtype) * 0.1)
            elif name.endswith(("running_var", "weight")):
                buf.copy_(torch.rand(buf.shape, generator=gen, dtype=buf.dtype) + 0.5)


def _inputs(shape, seed):
    array = np.random.default_rng(seed).standard_normal(shape)
    return nnlite.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def _weighted_sum(outputs, fw, seed):
    """sum over the outputs of output * fixed random weights: a loss whose gradient reaches
    every element differently."""
    outputs = outputs if isinstance(outputs, dict) else {"out": outputs}
    rng = np.random.default_rng(seed)
    total = 0
    for name in sorted(outputs):
        out = outputs[name]
        total = total + (out * fw.tensor(rng.standard_normal(tuple(out.shape)))).sum()
    return total


def _compare_gradients(ours, ref, x, tx, our_loss, ref_loss):
    """Input and parameter gradients, parameter by parameter; frozen ones stay without."""
    our_params = dict(ours.named_parameters())
    ref_params = dict(ref.named_parameters())
    assert sorted(our_params) == sorted(ref_params)
    assert {n for n, p in our_params.items() if p.requires_grad} == \
        {n for n, p in ref_params.items() if p.requires_grad}
    our_loss.backward()
    ref_loss.backward()
    assert_close(x.grad, tx.grad, **TOL)
    for name, p in ref_params.items():
        if p.grad is None:
            assert our_params[name].grad is None, name
        else:
            assert_close(our_params[name].grad, p.grad, **TOL)


def _compare_buffers(ours, ref):
    ref_buffers = dict(ref.named_buffers())
    for name, buf in ours.named_buffers():
        assert_close(buf, ref_buffers[name], **TOL)


def _run_both(ours, ref, shape, seed, train):
    ours.train(train)
    ref.train(train)
    x, tx = _inputs(shape, seed)
    out, expected = ours(x), ref(tx)
    if isinstance(expected, dict):
        assert sorted(out) == sorted(expected)
        for name in expected:
            assert_close(out[name], expected[name], **TOL)
    else:
        assert_close(out, expected, **TOL)
    _compare_gradients(ours, ref, x, tx, _weighted_sum(out, nnlite, seed + 1),
                       _weighted_sum(expected, torch, seed + 1))
    _compare_buffers(ours, ref)  # BN running statistics after a training step
    return out


# ------------------------------------------------------------------------ blocks and norms
@NNLITE_SIDES
def test_cnn_block_freeze(d2, side):
    """CNNBlockBase.freeze(): no parameter trains, every BN becomes a FrozenBatchNorm2d (with
    the BN's statistics) and the block then normalises with them, in train mode too."""
    ours, ref = _build(d2, side, 0, lambda f: f.resnet.BottleneckBlock(
        8, 16, bottleneck_channels=4, stride=2, norm="BN"))
    assert ours.freeze() is ours
    ref.freeze()
    assert _structure(ours) == _structure(ref)
    frozen = d2[side].layers.FrozenBatchNorm2d
    assert [type(c.norm) for c in (ours.conv1, ours.conv2, ours.conv3, ours.shortcut)] == [frozen] * 4
    assert not any(p.requires_grad for p in ours.parameters())
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())  # num_batches_tracked comes along
    x, tx = _inputs((2, 8, 9, 9), 3)
    with nnlite.no_grad(), torch.no_grad():  # FrozenBN's F.batch_norm path
        assert_close(ours(x.detach()), ref(tx.detach()), **TOL)
    _run_both(ours, ref, (2, 8, 9, 9), 3, train=True)  # its scale-and-shift path, with gradients


@NNLITE_SIDES
def test_frozen_batchnorm_conversion_and_old_checkpoints(d2, side):
    layers, fw, ref_layers = d2[side].layers, d2[side].fw, d2["torch"].layers
    bn = fw.nn.BatchNorm2d(5)
    frozen = layers.FrozenBatchNorm2d.convert_frozen_batchnorm(bn)
    assert type(frozen) is layers.FrozenBatchNorm2d and frozen is not bn  # a bare BN: a new module
    bn1d = fw.nn.BatchNorm1d(5)
    assert layers.FrozenBatchNorm2d.convert_frozen_batchnorm(bn1d) is bn1d  # only 2-D BNs
    assert repr(frozen) == repr(ref_layers.FrozenBatchNorm2d(5))
    # a Caffe2 checkpoint (no version, weight and bias only) gets identity statistics
    ours, ref = layers.FrozenBatchNorm2d(3), ref_layers.FrozenBatchNorm2d(3)
    assert_close(ours.running_var, ref.running_var, **TOL)  # 1 - eps before loading
    ours.load_state_dict({"weight": nnlite.tensor([1.0, 2.0, 3.0]), "bias": nnlite.tensor([0.0, 1.0, 0.0])})
    ref.load_state_dict({"weight": torch.tensor([1.0, 2.0, 3.0]), "bias": torch.tensor([0.0, 1.0, 0.0])})
    for name, buf in ref.state_dict().items():
        assert_close(ours.state_dict()[name], buf, **TOL)


@NNLITE_SIDES
@pytest.mark.parametrize("norms", [("BN", "BN"), (None, "")])
@pytest.mark.parametrize("train", [False, True])
def test_depthwise_separable_conv2d(d2, side, norms, train):
    def make(f):
        return f.layers.DepthwiseSeparableConv2d(
            6, 10, kernel_size=3, padding=2, dilation=2, norm1=norms[0], norm2=norms[1],
            activation1=f.fw.nn.functional.relu, activation2=f.fw.nn.ReLU())
    ours, ref = _build(d2, side, 4, make)
    assert (ours.depthwise.bias is None) == (norms[0] is not None)  # bias only without a norm
    _run_both(ours, ref, (2, 6, 7, 9), 5, train)


@NNLITE_SIDES
@pytest.mark.parametrize("norm,pool,separable", [("BN", None, False), ("GN", (4, 4), False),
                                                 ("BN", (2, 4), True), ("", None, True)])
@pytest.mark.parametrize("train", [False, True])
def test_aspp(d2, side, norm, pool, separable, train):
    """ASPP: 1x1, three atrous convs (plain or depthwise-separable), image pooling (global, or
    an average pool whose output is upsampled bilinearly), projection; dropout 0."""
    def make(f):
        return f.layers.ASPP(32, 32, [1, 2, 3], norm=norm, activation=f.fw.nn.ReLU(), pool_kernel_size=pool,
                             dropout=0.0, use_depthwise_separable_conv=separable)
    ours, ref = _build(d2, side, 6, make)
    _run_both(ours, ref, (2, 32, 8, 8), 7, train)


@NNLITE_SIDES
def test_aspp_rejects_a_size_the_pool_does_not_divide(d2, side):
    ours = d2[side].layers.ASPP(4, 4, [1, 2, 3], norm="", activation=nnlite.nn.ReLU(), pool_kernel_size=(4, 4))
    with pytest.raises(ValueError, match="must be divisible by the shape of inputs"):
        ours(nnlite.zeros((1, 4, 6, 8)))


# ------------------------------------------------------------------------ the ResNet backbone
def _resnet18(f):
    """make_default_stages(18): BasicBlocks with BN; freeze_at=2 freezes the stem and res2."""
    stem = f.resnet.BasicStem(3, 64, norm="BN")
    stages = f.resnet.ResNet.make_default_stages(18, norm="BN")
    return f.resnet.ResNet(stem, stages, out_features=["stem", "res2", "res3", "res4", "res5"], freeze_at=2)


def _resnet50_modulated(f):
    """make_default_stages(50) with modulated deformable blocks (2 deformable groups), FrozenBN
    and the stride in the 1x1 conv; out_features up to res3 drops res4 and res5."""
    r = f.resnet
    stages = r.ResNet.make_default_stages(50, block_class=r.DeformBottleneckBlock, norm="FrozenBN",
                                          stride_in_1x1=True, deform_modulated=True, deform_num_groups=2)
    return r.ResNet(r.BasicStem(3, 64, norm="FrozenBN"), stages, out_features=["res2", "res3"], freeze_at=1)


def _resnet_mixed(f):
    """make_stage's own arguments: grouped and dilated bottlenecks, DeformConv v1 with groups,
    GN and BN, blocks without a shortcut (a whole stage in res4), and the classifier head."""
    r = f.resnet
    stages = [
        r.ResNet.make_stage(r.BottleneckBlock, 2, in_channels=32, out_channels=64, bottleneck_channels=32,
                            num_groups=2, norm="GN", stride_per_block=[1, 1]),
        r.ResNet.make_stage(r.DeformBottleneckBlock, 2, in_channels=64, out_channels=128, bottleneck_channels=32,
                            num_groups=2, norm="GN", stride_per_block=[2, 1], deform_modulated=False),
        r.make_stage(r.BottleneckBlock, 2, in_channels=128, out_channels=128, bottleneck_channels=16, norm="BN",
                     stride_in_1x1=True, dilation_per_block=[1, 2]),
    ]
    return r.ResNet(r.BasicStem(3, 32, norm="GN"), stages, num_classes=10,
                    out_features=["stem", "res2", "res3", "res4", "linear"])


RESNETS = {"R18-BN-freeze_at2": _resnet18, "R50-modulated-deform-FrozenBN": _resnet50_modulated,
           "mixed-make_stage-GN-classifier": _resnet_mixed}


@NNLITE_SIDES
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("which", sorted(RESNETS))
def test_resnet(d2, side, which, train):
    """Output features, gradients of the input and every trainable parameter, BN statistics
    after the step, state_dict keys, output_shape()."""
    ours, ref = _build(d2, side, 8, RESNETS[which])
    _run_both(ours, ref, (2, 3, 64, 64), 9, train)
    assert _output_shape(ours) == _output_shape(ref)


def _output_shape(model):
    """{feature: (channels, stride)}; detectron2's output_shape() has no entry for "linear" and
    raises KeyError for it, on both sides alike."""
    try:
        return {k: (s.channels, s.stride) for k, s in model.output_shape().items()}
    except KeyError as error:
        return "KeyError", str(error)


@NNLITE_SIDES
def test_deformable_resnet_at_detectron2s_zero_offsets(d2, side):
    """With detectron2's own initialisation the offset convs are zero: every tap samples the
    grid exactly (a plain conv, and the mask 0.5), gradients through the offsets included;
    taps on the padding line y = -1 or x = -1 give their offsets no gradient, as detectron2's
    kernels do (torchvision's op gives them the one-sided slope, 0.45 off at this init)."""
    ours, ref = _build(d2, side, 28, _resnet50_modulated, move_offsets=False)
    assert all(not p.detach().numpy().any() for n, p in ours.named_parameters() if "conv2_offset" in n)
    _run_both(ours, ref, (2, 3, 64, 64), 29, train=True)


@NNLITE_SIDES
def test_detectron2_initialisation_runs_on_nnlite(d2, side):
    """Weights come from PyTorch in the other tests, so here detectron2's own init on nnlite:
    c2_msra_fill (He normal over fan_out), zero offset convs, the classifier's N(0, 0.01)."""
    nnlite.manual_seed(30)
    model = _resnet_mixed(d2[side])
    params = dict(model.named_parameters())
    assert all(not p.detach().numpy().any() for n, p in params.items() if "conv2_offset" in n)
    stem = params["stem.conv1.weight"].detach().numpy()
    assert abs(stem.std() / (2 / (32 * 7 * 7)) ** 0.5 - 1) < 0.05 and abs(stem.mean()) < 0.01
    assert abs(params["linear.weight"].detach().numpy().std() / 0.01 - 1) < 0.15
    assert not params["res2.0.conv1.weight"].detach().numpy().std() == 0


@NNLITE_SIDES
def test_resnet_freeze_at(d2, side):
    """freeze_at=2: the stem's and res2's parameters are frozen and their BNs FrozenBN; res3 on
    train; the same modules on both sides (checked by _build)."""
    ours, _ = _build(d2, side, 10, _resnet18)
    layers = d2[side].layers
    for name, p in ours.named_parameters():
        assert p.requires_grad == (not name.startswith(("stem.", "res2."))), name
    norms = {name: type(m) for name, m in ours.named_modules() if name.endswith(".norm")}
    assert all((t is layers.FrozenBatchNorm2d) == n.startswith(("stem.", "res2.")) for n, t in norms.items())
    assert ours.freeze(3) is ours
    assert not any(p.requires_grad for n, p in ours.named_parameters() if n.startswith("res3."))


def _config(deform_on):
    node = types.SimpleNamespace
    resnets = node(NORM="FrozenBN", STEM_OUT_CHANNELS=64, DEPTH=50, NUM_GROUPS=1, WIDTH_PER_GROUP=64,
                   RES2_OUT_CHANNELS=256, STRIDE_IN_1X1=True, RES5_DILATION=1, OUT_FEATURES=["res2", "res3"],
                   DEFORM_ON_PER_STAGE=deform_on, DEFORM_MODULATED=False, DEFORM_NUM_GROUPS=1)
    return node(MODEL=node(PIXEL_MEAN=[103.5, 116.3, 123.7], RESNETS=resnets,
                           BACKBONE=node(NAME="build_resnet_backbone", FREEZE_AT=2)))


@NNLITE_SIDES
def test_build_resnet_backbone_from_config(d2, side):
    """build.py's build_backbone through BACKBONE_REGISTRY: build_resnet_backbone from a config
    (R50, FrozenBN, DeformConv v1 in res3), in training mode."""
    cfg = _config([False, True, False, False])
    ours, ref = _build(d2, side, 11, lambda f: f.build.build_backbone(cfg))
    assert isinstance(ours, d2[side].backbone.Backbone) and ours.size_divisibility == 0
    _run_both(ours, ref, (2, 3, 64, 64), 12, train=True)


# ------------------------------------------------------------------------ the reference itself
def test_torch_deform_conv_reference_is_a_conv_at_zero_offset():
    """The PyTorch side's deformable conv (gather-bilinear) with zero offsets and mask m is
    F.conv2d with weight * m: the identity the zero-initialised offset convs rely on."""
    from . import d2_torch_stand_ins as stand_ins
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(2, 6, 9, 8, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    offset = torch.zeros(2, 2 * 2 * 9, 5, 4, dtype=torch.float64)
    mask = torch.full((2, 2 * 9, 5, 4), 0.5, dtype=torch.float64)
    out = stand_ins._reference_deform_conv2d(x, offset, w, None, stride=2, padding=2, dilation=2, mask=mask)
    expected = torch.nn.functional.conv2d(x, w * 0.5, None, stride=2, padding=2, dilation=2, groups=2)
    assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_torch_deform_conv_reference_matches_torchvision():
    """Where torchvision is installed (never in CI): the gather-bilinear reference against
    torchvision.ops.deform_conv2d, which detectron2 runs on the CPU, with random offsets."""
    torchvision = pytest.importorskip("torchvision")
    from . import d2_torch_stand_ins as stand_ins
    gen = torch.Generator().manual_seed(14)
    x = torch.randn(2, 8, 9, 11, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    offset = (torch.randn(2, 2 * 2 * 9, 5, 6, generator=gen, dtype=torch.float64) * 2).requires_grad_()
    mask = torch.rand(2, 2 * 9, 5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    args = dict(stride=(2, 2), padding=(2, 2), dilation=(2, 2), mask=mask)
    out = stand_ins._reference_deform_conv2d(x, offset, w, None, **args)
    expected = torchvision.ops.deform_conv2d(x, offset, w, None, **args)
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(out, [x, offset, w, mask], g),
                    torch.autograd.grad(expected, [x, offset, w, mask], g)):
        assert_close(a, b, rtol=1e-11, atol=1e-12)


def test_the_sides_run_the_files_they_claim(d2):
    ported, user, ref = d2["ported"], d2["nnlite.layers"], d2["torch"]
    assert ported.layers.Conv2d.__module__.endswith("detectron2.layers.wrappers")  # detectron2's file
    assert issubclass(ported.layers.Conv2d, nnlite.nn.Conv2d)
    assert ported.layers.DeformConv is nnlite.layers.DeformConv  # a kernel wrapper: nnlite's
    assert user.resnet.Conv2d is nnlite.layers.Conv2d and user.resnet.CNNBlockBase is nnlite.layers.CNNBlockBase
    assert issubclass(ref.layers.Conv2d, torch.nn.Conv2d) and issubclass(ref.resnet.ResNet, torch.nn.Module)


@pytest.mark.parametrize("which", ["R50-modulated-deform-FrozenBN", "mixed-make_stage-GN-classifier"])
def test_deformable_resnet_against_torchvision(d2, which, monkeypatch):
    """Where torchvision is installed (never in CI): the reference's deformable convs run
    torchvision.ops.deform_conv2d, as detectron2 does on the CPU, instead of gather-bilinear."""
    torchvision = pytest.importorskip("torchvision")
    from . import d2_torch_stand_ins
    monkeypatch.setattr(d2_torch_stand_ins, "deform_conv2d", torchvision.ops.deform_conv2d)
    ours, ref = _build(d2, "ported", 15, RESNETS[which])
    _run_both(ours, ref, (2, 3, 64, 64), 16, train=True)


def test_blocks_on_cuda(d2, cuda_device):
    """detectron2's blocks on nnlite's CUDA kernels (the simulator without a GPU: tiny)."""
    def make(f):
        return f.layers.DepthwiseSeparableConv2d(4, 6, norm1="BN", activation1=f.fw.nn.functional.relu, norm2="BN")
    ours, ref = _build(d2, "ported", 17, make)
    ours.to(cuda_device).train()
    ref.train()
    x, tx = _inputs((2, 4, 5, 5), 18)
    x = x.detach().to(cuda_device).requires_grad_()
    out, expected = ours(x), ref(tx)
    assert out.device.type == "cuda"
    assert_close(out, expected, **TOL)
    _weighted_sum(out.cpu(), nnlite, 19).backward()
    _weighted_sum(expected, torch, 19).backward()
    assert_close(x.grad, tx.grad, **TOL)
    assert_close(ours.depthwise.weight.grad, ref.depthwise.weight.grad, **TOL)


# ------------------------------------------------------------------------ the rest of the ported files
def _boxes(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 30, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(0.5, 15, (n, 2))], 1)


@NNLITE_SIDES
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_losses(d2, side, reduction):
    """losses.py: diou_loss and ciou_loss (its masked in-place intersection, no-grad alpha)."""
    ours, ref = d2[side].layers, d2["torch"].layers
    a, ta = nnlite.tensor(_boxes(6, 20), requires_grad=True), torch.tensor(_boxes(6, 20), requires_grad=True)
    b = _boxes(6, 21)
    for name in ["diou_loss", "ciou_loss"]:
        loss = getattr(ours, name)(a, nnlite.tensor(b), reduction)
        expected = getattr(ref, name)(ta, torch.tensor(b), reduction)
        assert_close(loss, expected, **TOL)
        assert_close(nnlite.autograd.grad(loss.sum(), [a])[0], torch.autograd.grad(expected.sum(), [ta])[0], **TOL)


@NNLITE_SIDES
def test_wrappers(d2, side):
    """wrappers.py's helpers: cat of one tensor is that tensor, nonzero_tuple, shapes_to_tensor,
    cross_entropy of an empty batch (0, with a gradient path), move_device_like, Conv2d on an
    empty batch in training."""
    ours, ref = d2[side].layers, d2["torch"].layers
    x, tx = _inputs((3, 5), 22)
    assert ours.cat([x]) is x
    assert_close(ours.cat([x, x * 2], 1), ref.cat([tx, tx * 2], 1), **TOL)
    mask = np.random.default_rng(23).random((4, 3)) > 0.5
    for got, want in zip(ours.nonzero_tuple(nnlite.tensor(mask)), ref.nonzero_tuple(torch.tensor(mask))):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    shape = ours.shapes_to_tensor([3, 4])
    assert shape.dtype == nnlite.int64 and shape.tolist() == ref.shapes_to_tensor([3, 4]).tolist()
    target = np.array([0, 4, 2])
    assert_close(ours.cross_entropy(x, nnlite.tensor(target)), ref.cross_entropy(tx, torch.tensor(target)), **TOL)
    empty = nnlite.zeros((0, 5), requires_grad=True)
    loss = ours.cross_entropy(empty, nnlite.zeros((0,), dtype=nnlite.int64))
    assert loss.item() == 0 and nnlite.autograd.grad(loss, [empty])[0].shape == (0, 5)
    assert ours.move_device_like(x, nnlite.zeros(1)).device == x.device
    conv = ours.Conv2d(3, 4, 3, padding=1, activation=nnlite.nn.functional.relu).train()
    assert tuple(conv(nnlite.zeros((0, 3, 5, 5))).shape) == (0, 4, 5, 5)


NORMS = ["BN", "SyncBN", "FrozenBN", "GN", "nnSyncBN", "naiveSyncBN", "naiveSyncBN_N", "LN"]


@NNLITE_SIDES
@pytest.mark.parametrize("train", [False, True])
def test_get_norm_table(d2, side, train):
    """batch_norm.py's get_norm: every name gives the same class as on PyTorch and the same
    numbers (one process: the sync variants normalise with this batch's statistics)."""
    def make(f):
        return f.fw.nn.ModuleList([f.layers.get_norm(name, 32) for name in NORMS])
    ours, ref = _build(d2, side, 24, make)
    ours.train(train)
    ref.train(train)
    for i, name in enumerate(NORMS):
        x, tx = _inputs((2, 32, 3, 4), 25 + i)
        out, expected = ours[i](x), ref[i](tx)
        assert_close(out, expected, **TOL)
        _compare_gradients(ours[i], ref[i], x, tx, _weighted_sum(out, nnlite, i), _weighted_sum(expected, torch, i))
    _compare_buffers(ours, ref)


@NNLITE_SIDES
def test_cycle_batchnorm_list(d2, side):
    """CycleBatchNormList: one BN per domain, cycled call by call, with a shared affine."""
    def make(f):
        return f.layers.CycleBatchNormList(2, num_features=4)
    ours, ref = _build(d2, side, 26, make)
    for step in range(3):
        x, tx = _inputs((3, 4, 2, 2), 27 + step)
        assert_close(ours(x), ref(tx), **TOL)
    assert ours._pos == ref._pos == 1
    _compare_buffers(ours, ref)
