"""FeaturePyramidNetwork, ExtraFPNBlock, LastLevelMaxPool, LastLevelP6P7, as torchvision.ops.

A composition of nnlite modules (Conv2dNormActivation, interpolate, max_pool2d), built in
torchvision's order so that state_dict keys match: ``inner_blocks.<i>.0.weight`` /
``layer_blocks.<i>.0.weight`` (plus ``.0.bias`` without a norm layer, ``.1.*`` with one).
"""
from collections import OrderedDict

from nnlite import nn
from nnlite.nn import functional as F

from .misc import Conv2dNormActivation

__all__ = ["FeaturePyramidNetwork", "ExtraFPNBlock", "LastLevelMaxPool", "LastLevelP6P7"]


def _init_conv(conv):
    # torchvision's FPN init: kaiming_uniform_(a=1) weights, zero bias.
    nn.init.kaiming_uniform_(conv.weight, a=1)
    if conv.bias is not None:
        nn.init.constant_(conv.bias, 0)


class ExtraFPNBlock(nn.Module):
    """Base class of the FPN's extra block: forward(results, x, names) -> (results, names), where
    results are the FPN outputs, x the original features and names their names."""

    def forward(self, results, x, names):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")


class LastLevelMaxPool(ExtraFPNBlock):
    """Adds "pool": max_pool2d(kernel 1, stride 2) of the last FPN output."""

    def forward(self, x, y, names):
        names.append("pool")
        x.append(F.max_pool2d(x[-1], kernel_size=1, stride=2, padding=0))
        return x, names


class LastLevelP6P7(ExtraFPNBlock):
    """RetinaNet's P6 and P7: stride-2 3x3 convs on P5 (or C5 when the channel counts differ)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)
        for module in (self.p6, self.p7):
            _init_conv(module)
        self.use_P5 = in_channels == out_channels

    def forward(self, p, c, names):
        p5, c5 = p[-1], c[-1]
        p6 = self.p6(p5 if self.use_P5 else c5)
        p7 = self.p7(F.relu(p6))
        p.extend([p6, p7])
        names.extend(["p6", "p7"])
        return p, names


class FeaturePyramidNetwork(nn.Module):
    """FPN on top of feature maps given as an OrderedDict in increasing depth order; returns an
    OrderedDict of out_channels maps with the same names (plus the extra block's)."""

    _version = 2

    def __init__(self, in_channels_list, out_channels, extra_blocks=None, norm_layer=None):
        super().__init__()
        self.inner_blocks = nn.ModuleList()
        self.layer_blocks = nn.ModuleList()
        for in_channels in in_channels_list:
            if in_channels == 0:
                raise ValueError("FeaturePyramidNetwork: in_channels=0 is currently not supported")
            self.inner_blocks.append(Conv2dNormActivation(
                in_channels, out_channels, kernel_size=1, padding=0, norm_layer=norm_layer,
                activation_layer=None))
            self.layer_blocks.append(Conv2dNormActivation(
                out_channels, out_channels, kernel_size=3, norm_layer=norm_layer, activation_layer=None))
        # before extra_blocks is attached, so its own initialisation is left alone
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                _init_conv(m)
        if extra_blocks is not None and not isinstance(extra_blocks, ExtraFPNBlock):
            raise TypeError(f"FeaturePyramidNetwork: extra_blocks should be of type ExtraFPNBlock "
                            f"not {type(extra_blocks)}")
        self.extra_blocks = extra_blocks

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Version-1 checkpoints held bare Conv2d blocks (inner_blocks.0.weight); they are now
        # child 0 of a Conv2dNormActivation (inner_blocks.0.0.weight), as in torchvision.
        version = local_metadata.get("version", None)
        if version is None or version < 2:
            for block in ("inner_blocks", "layer_blocks"):
                for i in range(len(self.inner_blocks)):
                    for kind in ("weight", "bias"):
                        old = f"{prefix}{block}.{i}.{kind}"
                        if old in state_dict:
                            state_dict[f"{prefix}{block}.{i}.0.{kind}"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def get_result_from_inner_blocks(self, x, idx):
        """inner_blocks[idx](x), with idx allowed to be negative."""
        return self.inner_blocks[idx % len(self.inner_blocks)](x)

    def get_result_from_layer_blocks(self, x, idx):
        """layer_blocks[idx](x), with idx allowed to be negative."""
        return self.layer_blocks[idx % len(self.layer_blocks)](x)

    def _check_input(self, x):
        if len(x) != len(self.inner_blocks):
            raise ValueError(f"FeaturePyramidNetwork: expected {len(self.inner_blocks)} feature maps "
                             f"(one per in_channels_list entry), got {len(x)}")
        for name, feature, block in zip(x.keys(), x.values(), self.inner_blocks):
            expected = block[0].in_channels
            if feature.dim() != 4 or feature.shape[1] != expected:
                raise ValueError(f"FeaturePyramidNetwork: feature {name!r} should have shape "
                                 f"(N, {expected}, H, W), got {tuple(feature.shape)}")

    def forward(self, x):
        self._check_input(x)
        names = list(x.keys())
        x = list(x.values())
        last_inner = self.get_result_from_inner_blocks(x[-1], -1)
        results = [self.get_result_from_layer_blocks(last_inner, -1)]
        for idx in range(len(x) - 2, -1, -1):
            inner_lateral = self.get_result_from_inner_blocks(x[idx], idx)
            feat_shape = tuple(inner_lateral.shape[-2:])
            inner_top_down = F.interpolate(last_inner, size=feat_shape, mode="nearest")
            last_inner = inner_lateral + inner_top_down
            results.insert(0, self.get_result_from_layer_blocks(last_inner, idx))
        if self.extra_blocks is not None:
            results, names = self.extra_blocks(results, x, names)
        return OrderedDict(zip(names, results))
