"""FeaturePyramidNetwork (+ extra blocks, norm_layer) and MultiScaleRoIAlign, as torchvision.ops.

FPN: state_dict keys as torchvision's source builds them, torchvision's init, and outputs and
gradients vs the same network written with torch modules (weights loaded from nnlite's state_dict).
MultiScaleRoIAlign: vs a reference that assigns each box its level by the FPN paper's formula
(written out per box here) and pools it with nnlite.ops.roi_align alone."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import nnlite
from nnlite import nn
from nnlite.autograd import gradcheck
from nnlite.ops import (ExtraFPNBlock, FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7,
                        MultiScaleRoIAlign, roi_align)
from tests.helpers import assert_close, randn, to_numpy

# ---------------------------------------------------------------- FPN: keys and init

# torchvision: inner_blocks[i] = Conv2dNormActivation(in_i, out, 1, padding=0, norm_layer, None),
# layer_blocks[i] = Conv2dNormActivation(out, out, 3, norm_layer, None): conv is child 0, norm child 1,
# and the conv has a bias only without a norm layer.
KEYS_PLAIN = [f"{b}.{i}.0.{p}" for b in ("inner_blocks", "layer_blocks") for i in range(2)
              for p in ("weight", "bias")]
KEYS_BN = [k for b in ("inner_blocks", "layer_blocks") for i in range(2)
           for k in (f"{b}.{i}.0.weight", f"{b}.{i}.1.weight", f"{b}.{i}.1.bias", f"{b}.{i}.1.running_mean",
                     f"{b}.{i}.1.running_var", f"{b}.{i}.1.num_batches_tracked")]
KEYS_P6P7 = ["extra_blocks.p6.weight", "extra_blocks.p6.bias", "extra_blocks.p7.weight", "extra_blocks.p7.bias"]


@pytest.mark.parametrize("norm_layer, extra, expected", [
    (None, None, KEYS_PLAIN),
    (None, "maxpool", KEYS_PLAIN),
    (nn.BatchNorm2d, None, KEYS_BN),
    (None, "p6p7", KEYS_PLAIN + KEYS_P6P7),
])
def test_fpn_state_dict_keys(norm_layer, extra, expected):
    extra_blocks = {None: None, "maxpool": LastLevelMaxPool(), "p6p7": LastLevelP6P7(4, 3)}[extra]
    m = FeaturePyramidNetwork([2, 4], 3, extra_blocks=extra_blocks, norm_layer=norm_layer)
    assert list(m.state_dict().keys()) == expected


def test_fpn_init_is_kaiming_uniform_a1_and_zero_bias():
    m = FeaturePyramidNetwork([64, 8], 16, extra_blocks=LastLevelP6P7(8, 16))
    convs = [m.inner_blocks[0][0], m.inner_blocks[1][0], m.layer_blocks[0][0], m.extra_blocks.p6]
    for conv in convs:
        w = to_numpy(conv.weight)
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        bound = math.sqrt(3.0 / fan_in)   # gain sqrt(2 / (1 + a^2)) = 1 for a = 1
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.8 * bound   # uniform over the whole range, not a narrower one
        assert np.all(to_numpy(conv.bias) == 0)


def test_fpn_loads_version1_checkpoint_keys():
    m = FeaturePyramidNetwork([2, 4], 3)
    old = OrderedDict((k.replace(".0.", ".", 1), nnlite.full(v.shape, 0.5)) for k, v in m.state_dict().items())
    assert "inner_blocks.0.weight" in old
    m.load_state_dict(old)   # no version metadata: treated as version 1 and renamed, as torchvision
    assert np.all(to_numpy(m.inner_blocks[0][0].weight) == 0.5)


# ---------------------------------------------------------------- FPN: vs torch

def _torch_fpn(torch, m, norm, extra):
    """The same network with torch modules, weights copied through nnlite's state_dict."""
    tnn = torch.nn

    def block(cin, cout, k):
        layers = [tnn.Conv2d(cin, cout, k, padding=k // 2, bias=not norm)]
        if norm:
            layers.append(tnn.BatchNorm2d(cout))
        return tnn.Sequential(*layers)

    ref = tnn.Module()
    ref.inner_blocks = tnn.ModuleList([block(b[0].in_channels, b[0].out_channels, 1) for b in m.inner_blocks])
    ref.layer_blocks = tnn.ModuleList([block(b[0].in_channels, b[0].out_channels, 3) for b in m.layer_blocks])
    if extra == "p6p7":
        ref.extra_blocks = tnn.Module()
        ref.extra_blocks.p6 = tnn.Conv2d(m.extra_blocks.p6.in_channels, m.extra_blocks.p6.out_channels, 3, 2, 1)
        ref.extra_blocks.p7 = tnn.Conv2d(m.extra_blocks.p7.in_channels, m.extra_blocks.p7.out_channels, 3, 2, 1)
    ref.load_state_dict({k: torch.tensor(to_numpy(v)) for k, v in m.state_dict().items()})
    return ref.to(torch.float64 if m.inner_blocks[0][0].weight.dtype == nnlite.float64 else torch.float32)


def _torch_fpn_forward(torch, ref, xs, names, extra, use_p5):
    F = torch.nn.functional
    last = ref.inner_blocks[-1](xs[-1])
    results = [ref.layer_blocks[-1](last)]
    for i in range(len(xs) - 2, -1, -1):
        lateral = ref.inner_blocks[i](xs[i])
        last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
        results.insert(0, ref.layer_blocks[i](last))
    names = list(names)
    if extra == "maxpool":
        results.append(F.max_pool2d(results[-1], 1, 2, 0))
        names.append("pool")
    elif extra == "p6p7":
        p6 = ref.extra_blocks.p6(results[-1] if use_p5 else xs[-1])
        results += [p6, ref.extra_blocks.p7(F.relu(p6))]
        names += ["p6", "p7"]
    return OrderedDict(zip(names, results))


@pytest.mark.parametrize("dtype, norm, extra, c_last", [
    (np.float32, False, None, 5),
    (np.float64, False, "maxpool", 5),
    (np.float32, True, "p6p7", 6),    # C5 has out_channels channels: P6 from P5
    (np.float64, False, "p6p7", 5),   # otherwise P6 from C5
])
def test_fpn_matches_torch(torch, dtype, norm, extra, c_last):
    out_ch = 6
    extra_blocks = {None: None, "maxpool": LastLevelMaxPool(), "p6p7": LastLevelP6P7(c_last, out_ch)}[extra]
    m = FeaturePyramidNetwork([3, 4, c_last], out_ch, extra_blocks=extra_blocks,
                              norm_layer=nn.BatchNorm2d if norm else None)
    m = m.double() if dtype == np.float64 else m
    ref = _torch_fpn(torch, m, norm, extra)
    shapes = [(2, 3, 11, 13), (2, 4, 6, 7), (2, c_last, 3, 4)]   # odd sizes: nearest upsampling is not 2x
    arrays = [randn(*s, dtype=dtype, seed=i) for i, s in enumerate(shapes)]
    names = ["c2", "c3", "c5"]
    xs = OrderedDict((n, nnlite.tensor(a, requires_grad=True)) for n, a in zip(names, arrays))
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = m(xs)
    expected = _torch_fpn_forward(torch, ref, txs, names, extra, c_last == out_ch)
    assert list(out.keys()) == list(expected.keys())
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for k in out:
        assert_close(out[k], expected[k], **tol)
    weights = [randn(*tuple(v.shape), dtype=dtype, seed=10 + i) for i, v in enumerate(out.values())]
    loss = nnlite.tensor(0.0, dtype=dtype)
    for o, w in zip(out.values(), weights):
        loss = loss + (o * nnlite.tensor(w)).sum()
    loss.backward()
    sum((o * torch.tensor(w)).sum() for o, w in zip(expected.values(), weights)).backward()
    for x, tx in zip(xs.values(), txs):
        assert_close(x.grad, tx.grad, **tol)
    named = dict(ref.named_parameters())
    for k, p in m.named_parameters():
        assert_close(p.grad, named[k].grad, **tol)


def test_fpn_cuda_matches_cpu(cuda_device):
    m = FeaturePyramidNetwork([2, 3], 2, extra_blocks=LastLevelMaxPool())
    arrays = [randn(1, 2, 4, 5, seed=1), randn(1, 3, 2, 3, seed=2)]
    cpu = m(OrderedDict(a=nnlite.tensor(arrays[0]), b=nnlite.tensor(arrays[1])))
    m.to(cuda_device)
    gpu = m(OrderedDict(a=nnlite.tensor(arrays[0], device=cuda_device),
                        b=nnlite.tensor(arrays[1], device=cuda_device)))
    assert list(gpu.keys()) == ["a", "b", "pool"]
    for k in cpu:
        assert_close(gpu[k], cpu[k], rtol=1e-5, atol=1e-5)


def test_fpn_inputs_unmodified_and_noncontiguous():
    m = FeaturePyramidNetwork([3, 2], 4)
    base = randn(1, 3, 6, 5, seed=3)
    a = nnlite.tensor(base.transpose(0, 1, 3, 2).copy()).transpose(2, 3)   # same values, non-contiguous
    b = nnlite.tensor(randn(1, 2, 3, 3, seed=4))
    b_before = to_numpy(b).copy()
    out = m(OrderedDict(a=a, b=b))
    expected = m(OrderedDict(a=nnlite.tensor(base), b=b))
    assert_close(out["a"], expected["a"])
    assert np.array_equal(to_numpy(b), b_before) and np.array_equal(to_numpy(a), base)


def test_fpn_errors():
    with pytest.raises(ValueError, match="in_channels=0"):
        FeaturePyramidNetwork([0, 4], 3)
    with pytest.raises(TypeError, match="ExtraFPNBlock"):
        FeaturePyramidNetwork([2, 4], 3, extra_blocks=nn.ReLU())
    m = FeaturePyramidNetwork([2, 4], 3)
    with pytest.raises(ValueError, match=r"FeaturePyramidNetwork: expected 2 feature maps.*got 1"):
        m(OrderedDict(a=nnlite.zeros(1, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"FeaturePyramidNetwork: feature 'b' should have shape \(N, 4, H, W\), "
                                         r"got \(1, 5, 2, 2\)"):
        m(OrderedDict(a=nnlite.zeros(1, 2, 4, 4), b=nnlite.zeros(1, 5, 2, 2)))
    with pytest.raises(NotImplementedError):
        ExtraFPNBlock()([], [], [])


# ---------------------------------------------------------------- MultiScaleRoIAlign

def _level_ref(box, k_min, k_max, canonical_scale=224, canonical_level=4):
    """FPN paper Eqn. (1) as torchvision computes it, one box at a time in the boxes' dtype."""
    t = box.dtype.type
    s = np.sqrt((box[2] - box[0]) * (box[3] - box[1]))
    with np.errstate(divide="ignore"):
        level = np.floor(t(canonical_level) + np.log2(s / t(canonical_scale)) + t(1e-6))
    return int(min(max(level, k_min), k_max)) - k_min


def _msroi_ref(features, boxes_np, scales, levels, output_size, sampling_ratio):
    """Each box pooled alone by nnlite.ops.roi_align from the level the formula gives it
    (levels = (k_min, k_max, canonical_scale, canonical_level)); as torchvision, a box whose level
    has no feature map (featmap_names skipping a level) stays zero."""
    rows = []
    c = features[0].shape[1]
    for image, boxes in enumerate(boxes_np):
        for box in boxes:
            level = _level_ref(box, *levels) if len(features) > 1 else 0
            if level >= len(features):
                rows.append(nnlite.zeros(1, c, *output_size, dtype=features[0].dtype, device=features[0].device))
                continue
            roi = nnlite.tensor(np.concatenate([[image], box]).astype(box.dtype)[None], device=features[0].device)
            rows.append(roi_align(features[level], roi, output_size, scales[level], sampling_ratio))
    return nnlite.cat(rows, 0)


def _pyramid(dtype=np.float32, device="cpu", sizes=((16, 16), (8, 8), (4, 4)), n=2, c=2):
    return OrderedDict((f"f{i}", nnlite.tensor(randn(n, c, h, w, dtype=dtype, seed=i), device=device,
                                               requires_grad=True))
                       for i, (h, w) in enumerate(sizes))


# side lengths 224 * 2**k hit level 4 + k exactly; eps keeps a hair-below side on the upper level
_SIDES = [8.0, 30.0, 56.0, 111.9, 112.0, 112.0 * (1 - 1e-7), 224.0, 300.0, 448.0, 1000.0, 0.0]


def _boxes(dtype, sides=_SIDES, shift=3.0):
    return np.array([[shift, shift, shift + s, shift + s] for s in sides], dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multiscale_roi_align_matches_per_box_reference(dtype):
    # image 256 -> features at scales 1/16, 1/32, 1/64: levels 4, 5, 6
    x = _pyramid(dtype, sizes=((16, 16), (8, 8), (4, 4)))
    boxes = [_boxes(dtype) * 0.25, _boxes(dtype, shift=10.0)]
    m = MultiScaleRoIAlign(["f0", "f2"], (2, 3), 2)   # f1 is left out, as featmap_names says
    out = m(x, [nnlite.tensor(b) for b in boxes], [(256, 250), (240, 256)])
    assert m.scales == [1 / 16, 1 / 64]
    assert (m.map_levels.k_min, m.map_levels.k_max) == (4, 6)
    expected = _msroi_ref([x["f0"], x["f2"]], boxes, m.scales, (4, 6, 224, 4), (2, 3), 2)
    assert_close(out, expected, rtol=0, atol=0)


def test_level_mapper_formula_and_eps():
    from nnlite.ops.poolers import LevelMapper
    mapper = LevelMapper(2, 5)
    levels = mapper([nnlite.tensor(_boxes(np.float32))])
    expected = [_level_ref(b, 2, 5) for b in _boxes(np.float32)]
    assert levels.tolist() == expected
    # hand-computed: 8->2 (clamped), 30->2, 56->2, 111.9->2, 112->3, 112(1-1e-7)->3 (eps), 224->4,
    # 300->4, 448->5, 1000->5 (clamped), zero area->2 (clamped -inf)
    assert expected == [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 0]


def test_multiscale_roi_align_scales_are_rounded_powers_of_two():
    x = _pyramid(sizes=((13, 12), (7, 6)))   # 13/50 and 7/50 round to 1/4 and 1/8 in log2
    m = MultiScaleRoIAlign(["f0", "f1"], 2, -1, canonical_scale=32, canonical_level=2)
    m(x, [nnlite.tensor(_boxes(np.float32, sides=[4.0, 40.0]))], [(50, 47), (44, 50)])
    assert m.scales == [0.25, 0.125]
    assert (m.map_levels.k_min, m.map_levels.k_max, m.map_levels.s0, m.map_levels.lvl0) == (2, 3, 32, 2)


def test_multiscale_roi_align_single_level_and_empty_boxes():
    x = _pyramid(sizes=((8, 8), (4, 4)))
    boxes = [nnlite.tensor(_boxes(np.float32, sides=[5.0, 20.0])), nnlite.zeros(0, 4)]
    one = MultiScaleRoIAlign(["f1"], 2, 2)
    out = one(x, boxes, [(32, 32), (30, 32)])
    expected = roi_align(x["f1"], boxes, 2, 1 / 8, 2)
    assert_close(out, expected, rtol=0, atol=0)
    two = MultiScaleRoIAlign(["f0", "f1"], 2, 2)
    assert tuple(two(x, [nnlite.zeros(0, 4)], [(32, 32)]).shape) == (0, 2, 2, 2)


def test_multiscale_roi_align_gradients_match_reference():
    x = _pyramid(np.float64, sizes=((8, 8), (4, 4)), c=1)
    boxes = [_boxes(np.float64, sides=[3.0, 20.0, 64.0], shift=1.0), _boxes(np.float64, sides=[50.0])]
    m = MultiScaleRoIAlign(["f0", "f1"], 2, 2, canonical_scale=16, canonical_level=2)
    out = m(x, [nnlite.tensor(b) for b in boxes], [(32, 32)])
    w = nnlite.tensor(randn(*tuple(out.shape), dtype=np.float64, seed=9))
    (out * w).sum().backward()
    got = [to_numpy(v.grad) for v in x.values()]
    for v in x.values():
        v.grad = None
    ref = _msroi_ref(list(x.values()), boxes, m.scales, (2, 3, 16, 2), (2, 2), 2)
    (ref * w).sum().backward()
    assert all(np.any(g != 0) for g in got)   # both levels receive boxes
    for g, v in zip(got, x.values()):
        assert_close(g, v.grad, rtol=1e-12, atol=1e-12)
    feats = list(x.values())
    tboxes = [nnlite.tensor(b) for b in boxes]
    assert gradcheck(lambda a, b: m(OrderedDict(f0=a, f1=b), tboxes, [(32, 32)]), tuple(feats))


def test_multiscale_roi_align_cuda(device):
    x = _pyramid(device=device, sizes=((4, 4), (2, 2)), n=1, c=1)
    boxes = _boxes(np.float32, sides=[2.0, 20.0], shift=1.0)
    m = MultiScaleRoIAlign(["f0", "f1"], 2, 1, canonical_scale=8, canonical_level=2)
    out = m(x, [nnlite.tensor(boxes, device=device)], [(16, 16)])
    assert out.device.type == device
    assert_close(out, _msroi_ref(list(x.values()), [boxes], m.scales, (2, 3, 8, 2), (2, 2), 1), rtol=1e-6, atol=1e-6)
    out.sum().backward()
    assert x["f1"].grad is not None and x["f0"].grad is not None


def test_multiscale_roi_align_inputs_unmodified_and_noncontiguous():
    base = randn(1, 2, 8, 8, seed=5)
    f0 = nnlite.tensor(base.transpose(0, 1, 3, 2).copy()).transpose(2, 3)
    f1 = nnlite.tensor(randn(1, 2, 4, 4, seed=6))
    box = nnlite.tensor(_boxes(np.float32, sides=[4.0, 30.0]))
    before = [to_numpy(t).copy() for t in (f0, f1, box)]
    m = MultiScaleRoIAlign(["a", "b"], 2, 2, canonical_scale=16, canonical_level=2)
    out = m(OrderedDict(a=f0, b=f1), [box], [(32, 32)])
    expected = m(OrderedDict(a=nnlite.tensor(base), b=f1), [box], [(32, 32)])
    assert_close(out, expected, rtol=0, atol=0)
    for t, b in zip((f0, f1, box), before):
        assert np.array_equal(to_numpy(t), b)


def test_multiscale_roi_align_errors():
    x = _pyramid(sizes=((8, 8), (4, 4)))
    box = nnlite.tensor(_boxes(np.float32, sides=[4.0]))
    m = MultiScaleRoIAlign(["f0", "f1"], 2, 2)
    with pytest.raises(ValueError, match="MultiScaleRoIAlign: images list should not be empty"):
        m(x, [box], [])
    with pytest.raises(TypeError, match="MultiScaleRoIAlign: boxes should be a list of Tensor\\[L, 4\\].*got Tensor"):
        m(x, box, [(32, 32)])
    with pytest.raises(ValueError, match=r"MultiScaleRoIAlign: boxes\[0\] should have shape \(L, 4\), got \(1, 5\)"):
        m(x, [nnlite.zeros(1, 5)], [(32, 32)])
    with pytest.raises(ValueError, match="MultiScaleRoIAlign: none of featmap_names"):
        MultiScaleRoIAlign(["zz"], 2, 2)(x, [box], [(32, 32)])
    x["f1"] = nnlite.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"feature maps should all have shape \(N, 2, H, W\), got \(2, 3, 4, 4\)"):
        m(x, [box], [(32, 32)])
    assert "featmap_names=['f0', 'f1'], output_size=(2, 2), sampling_ratio=2" in repr(m)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_level_mapper_matches_torch_formula(torch, dtype):
    from nnlite.ops.poolers import LevelMapper
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 500, (400, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 800, (400, 2)) ** rng.uniform(0.5, 1, (400, 1))], 1).astype(dtype)
    t = torch.tensor(boxes)
    s = torch.sqrt((t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1]))   # torchvision's LevelMapper, in torch
    expected = torch.clamp(torch.floor(4 + torch.log2(s / 224) + torch.tensor(1e-6, dtype=s.dtype)), min=2, max=5)
    expected = expected.to(torch.int64) - 2
    assert LevelMapper(2, 5)([nnlite.tensor(boxes)]).tolist() == expected.tolist()
