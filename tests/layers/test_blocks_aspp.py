"""nnlite.layers.blocks and aspp: CNNBlockBase.freeze, DepthwiseSeparableConv2d and ASPP against
the same computation written by hand in torch with nnlite's weights (state_dict keys as
detectron2's), Caffe2 initialisers, errors."""
import math

import numpy as np
import pytest

import nnlite
from nnlite import layers as L
from nnlite import nn
from nnlite.layers.blocks import c2_msra_fill, c2_xavier_fill
from tests.helpers import assert_close, randn, to_numpy


def _torch_state(torch, module):
    return {k: torch.tensor(to_numpy(v)) for k, v in module.state_dict().items()}


def _torch_conv(torch, sd, prefix, x, bn, relu, **conv_args):
    """Conv2d(+ training-mode BatchNorm)(+ ReLU) of detectron2's wrapper, from state_dict entries."""
    F = torch.nn.functional
    y = F.conv2d(x, sd[prefix + "weight"], sd.get(prefix + "bias"), **conv_args)
    if bn:
        y = F.batch_norm(y, None, None, sd[prefix + "norm.weight"], sd[prefix + "norm.bias"], training=True)
    return torch.relu(y) if relu else y


# ---------------------------------------------------------------- blocks

class _Block(L.CNNBlockBase):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__(in_channels, out_channels, stride)
        self.conv = L.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False,
                             norm=L.get_norm("BN", out_channels))


def test_cnn_block_freeze():
    block = _Block(2, 4, 2)
    assert (block.in_channels, block.out_channels, block.stride) == (2, 4, 2)
    assert block.freeze() is block
    assert all(not p.requires_grad for p in block.parameters())
    assert isinstance(block.conv.norm, L.FrozenBatchNorm2d)
    out = block.conv(nnlite.tensor(randn(1, 2, 6, 6)))
    assert tuple(out.shape) == (1, 4, 3, 3)


def test_depthwise_separable_conv_matches_torch(torch):
    m = L.DepthwiseSeparableConv2d(3, 5, kernel_size=3, padding=2, dilation=2, norm1="BN",
                                   activation1=nn.ReLU(), norm2="", activation2=None)
    assert m.depthwise.bias is None and m.pointwise.bias is not None  # bias only without a norm
    assert m.depthwise.groups == 3 and isinstance(m.depthwise.norm, nn.BatchNorm2d)
    assert_close(m.pointwise.bias, np.zeros(5))
    x = randn(2, 3, 6, 6)
    sd = _torch_state(torch, m)
    y = _torch_conv(torch, sd, "depthwise.", torch.tensor(x), True, True, padding=2, dilation=2, groups=3)
    ref = _torch_conv(torch, sd, "pointwise.", y, False, False)
    assert_close(m(nnlite.tensor(x)), ref, rtol=1e-4, atol=1e-5)


def test_caffe2_initialisers():
    conv = nn.Conv2d(64, 128, 3)
    c2_msra_fill(conv)  # He normal over fan_out = 128 * 9
    w = to_numpy(conv.weight)
    assert abs(w.std() - math.sqrt(2.0 / (128 * 9))) < 0.05 * math.sqrt(2.0 / (128 * 9))
    assert_close(conv.bias, np.zeros(128))
    c2_xavier_fill(conv)  # uniform(+-sqrt(3 / fan_in)), fan_in = 64 * 9
    bound = math.sqrt(3.0 / (64 * 9))
    w = to_numpy(conv.weight)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound


# ---------------------------------------------------------------- ASPP

def _torch_aspp(torch, sd, x, dilations, bn, pool_kernel_size, separable):
    F = torch.nn.functional
    res = [_torch_conv(torch, sd, "convs.0.", x, bn, True)]
    for i, d in enumerate(dilations, start=1):
        if separable:
            y = _torch_conv(torch, sd, f"convs.{i}.depthwise.", x, bn, True, padding=d, dilation=d,
                            groups=x.shape[1])
            res.append(_torch_conv(torch, sd, f"convs.{i}.pointwise.", y, bn, True))
        else:
            res.append(_torch_conv(torch, sd, f"convs.{i}.", x, bn, True, padding=d, dilation=d))
    pooled = x.mean(dim=(2, 3), keepdim=True) if pool_kernel_size is None else \
        F.avg_pool2d(x, pool_kernel_size, stride=1)
    pooled = _torch_conv(torch, sd, "convs.4.1.", pooled, False, True)
    res.append(F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=False))
    return _torch_conv(torch, sd, "project.", torch.cat(res, dim=1), bn, True)


@pytest.mark.parametrize("norm,pool_kernel_size,separable", [("BN", None, False), ("", (2, 2), False),
                                                             ("BN", None, True)])
def test_aspp_matches_torch(torch, norm, pool_kernel_size, separable):
    m = L.ASPP(4, 3, [1, 2, 3], norm=norm, activation=nn.ReLU(), pool_kernel_size=pool_kernel_size,
               use_depthwise_separable_conv=separable)
    assert len(m.convs) == 5
    assert (m.project.bias is None) == (norm == "BN") and m.convs[4][1].bias is not None
    x = randn(2, 4, 6, 6)
    ref = _torch_aspp(torch, _torch_state(torch, m), torch.tensor(x), [1, 2, 3], norm == "BN",
                      pool_kernel_size, separable)
    out = m(nnlite.tensor(x))
    assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_aspp_dropout_and_state_dict_keys():
    m = L.ASPP(4, 3, [1, 2, 3], norm="BN", activation=nn.ReLU(), dropout=0.5)
    keys = set(m.state_dict())
    assert {"convs.0.weight", "convs.0.norm.running_mean", "convs.3.norm.weight", "convs.4.1.weight",
            "convs.4.1.bias", "project.weight", "project.norm.bias"} <= keys
    assert "convs.0.bias" not in keys
    assert m.convs[0].activation is not m.convs[1].activation  # each conv has its own copy
    x = nnlite.tensor(randn(2, 4, 6, 6))
    m.eval()
    assert_close(m(x), m(x))  # no dropout in eval
    m.train()
    out = to_numpy(m(x))
    assert (out == 0).mean() > 0.5  # dropout on top of ReLU zeros


def test_aspp_errors():
    with pytest.raises(ValueError, match="ASPP expects 3 dilations, got 2"):
        L.ASPP(4, 3, [1, 2], norm="", activation=None)
    m = L.ASPP(4, 3, [1, 2, 3], norm="", activation=None, pool_kernel_size=(4, 4))
    with pytest.raises(ValueError, match=r"`pool_kernel_size` must be divisible by the shape of inputs. "
                                         r"Input size: \(6, 6\) `pool_kernel_size`: \(4, 4\)"):
        m(nnlite.zeros(1, 4, 6, 6))


# ---------------------------------------------------------------- a detectron2-style deformable block

class _DeformBottleneck(L.CNNBlockBase):
    """The shape of detectron2's DeformBottleneckBlock: 1x1, modulated deformable 3x3 with its
    offsets and mask from a conv, 1x1, FrozenBN after each conv, a projection shortcut."""

    def __init__(self, in_channels, out_channels, bottleneck, stride):
        super().__init__(in_channels, out_channels, stride)
        bn = "FrozenBN"
        self.shortcut = L.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False,
                                 norm=L.get_norm(bn, out_channels))
        self.conv1 = L.Conv2d(in_channels, bottleneck, 1, bias=False, norm=L.get_norm(bn, bottleneck))
        self.conv2_offset = L.Conv2d(bottleneck, 27, 3, stride=stride, padding=1)
        self.conv2 = L.ModulatedDeformConv(bottleneck, bottleneck, 3, stride=stride, padding=1, bias=False,
                                           norm=L.get_norm(bn, bottleneck))
        self.conv3 = L.Conv2d(bottleneck, out_channels, 1, bias=False, norm=L.get_norm(bn, out_channels))
        nn.init.constant_(self.conv2_offset.weight, 0)
        nn.init.constant_(self.conv2_offset.bias, 0)

    def forward(self, x):
        out = nnlite.relu(self.conv1(x))
        offset_mask = self.conv2_offset(out)
        offset_x, offset_y, mask = nnlite.chunk(offset_mask, 3, dim=1)
        offset = nnlite.cat((offset_x, offset_y), dim=1)
        out = nnlite.relu(self.conv2(out, offset, mask.sigmoid()))
        return nnlite.relu(self.conv3(out) + self.shortcut(x))


def test_deformable_bottleneck_block(torch):
    """Zero offsets and a mask of sigmoid(0) = 0.5: the deformable conv is half a plain conv."""
    block = _DeformBottleneck(4, 8, 2, stride=2)
    x = randn(2, 4, 6, 6)
    xt = nnlite.tensor(x, requires_grad=True)
    out = block(xt)
    sd = _torch_state(torch, block)
    F = torch.nn.functional
    tx = torch.tensor(x)
    y = torch.relu(F.conv2d(tx, sd["conv1.weight"]))
    y = torch.relu(0.5 * F.conv2d(y, sd["conv2.weight"], stride=2, padding=1))
    ref = torch.relu(F.conv2d(y, sd["conv3.weight"]) + F.conv2d(tx, sd["shortcut.weight"], stride=2))
    assert_close(out, ref, rtol=1e-4, atol=1e-5)  # FrozenBN is the identity here
    out.sum().backward()
    assert xt.grad is not None and block.conv2_offset.weight.grad is not None
    block.freeze()
    assert all(not p.requires_grad for p in block.parameters())
    assert_close(block(nnlite.tensor(x)), ref, rtol=1e-4, atol=1e-5)
