"""torchvision.ops.misc: FrozenBatchNorm2d, Conv2d/Conv3dNormActivation, SqueezeExcitation, MLP,
Permute. Pure compositions of nnlite.nn modules, built in torchvision's order so that state_dict
keys (and therefore torchvision checkpoints) match one for one."""
import warnings
from collections.abc import Sequence

import nnlite
from nnlite import nn


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose statistics and affine parameters are fixed buffers (no parameters)."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", nnlite.ones(num_features))
        self.register_buffer("bias", nnlite.zeros(num_features))
        self.register_buffer("running_mean", nnlite.zeros(num_features))
        self.register_buffer("running_var", nnlite.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Checkpoints of a trained BatchNorm2d carry num_batches_tracked; a frozen layer has no use
        # for it, and keeping it would make strict loading fail on an unexpected key.
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"FrozenBatchNorm2d: expected a 4-D input (N, C, H, W), "
                             f"got a {x.dim()}-D input of shape {tuple(x.shape)}")
        w = self.weight.reshape(1, -1, 1, 1)
        b = self.bias.reshape(1, -1, 1, 1)
        rv = self.running_var.reshape(1, -1, 1, 1)
        rm = self.running_mean.reshape(1, -1, 1, 1)
        # Same order of operations as torchvision, so float32 results round alike.
        scale = w * (rv + self.eps).rsqrt()
        bias = b - rm * scale
        return x * scale + bias

    def __repr__(self):
        return f"{self.__class__.__name__}({self.weight.shape[0]}, eps={self.eps})"


def _same_padding(kernel_size, dilation):
    """torchvision's default padding: (k - 1) // 2 * dilation per dimension."""
    if isinstance(kernel_size, int) and isinstance(dilation, int):
        return (kernel_size - 1) // 2 * dilation
    conv_dim = len(kernel_size) if isinstance(kernel_size, Sequence) else len(dilation)
    kernel_size = _ntuple(kernel_size, conv_dim)
    dilation = _ntuple(dilation, conv_dim)
    return tuple((k - 1) // 2 * d for k, d in zip(kernel_size, dilation))


def _ntuple(value, n):
    return tuple(value) if isinstance(value, Sequence) else (value,) * n


def _conv_norm_activation_layers(in_channels, out_channels, kernel_size, stride, padding, groups,
                                 norm_layer, activation_layer, dilation, inplace, bias, conv_layer):
    if padding is None:
        padding = _same_padding(kernel_size, dilation)
    if bias is None:
        bias = norm_layer is None  # a norm layer's shift makes a conv bias redundant
    layers = [conv_layer(in_channels, out_channels, kernel_size, stride, padding, dilation=dilation,
                         groups=groups, bias=bias)]
    if norm_layer is not None:
        layers.append(norm_layer(out_channels))
    if activation_layer is not None:
        params = {} if inplace is None else {"inplace": inplace}
        layers.append(activation_layer(**params))
    return layers


class ConvNormActivation(nn.Sequential):
    """Conv, optional norm, optional activation as Sequential children 0, 1, 2 (torchvision's)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, groups=1,
                 norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU, dilation=1, inplace=True,
                 bias=None, conv_layer=nn.Conv2d):
        super().__init__(*_conv_norm_activation_layers(
            in_channels, out_channels, kernel_size, stride, padding, groups, norm_layer,
            activation_layer, dilation, inplace, bias, conv_layer))
        self.out_channels = out_channels
        if self.__class__ == ConvNormActivation:
            warnings.warn("Don't use ConvNormActivation directly, please use Conv2dNormActivation "
                          "and Conv3dNormActivation instead.", FutureWarning)


class Conv2dNormActivation(ConvNormActivation):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, groups=1,
                 norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU, dilation=1, inplace=True,
                 bias=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups, norm_layer,
                         activation_layer, dilation, inplace, bias, nn.Conv2d)


class Conv3dNormActivation(ConvNormActivation):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, groups=1,
                 norm_layer=nn.BatchNorm3d, activation_layer=nn.ReLU, dilation=1, inplace=True,
                 bias=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups, norm_layer,
                         activation_layer, dilation, inplace, bias, nn.Conv3d)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation (Hu et al.): channel weights from a pooled 1x1-conv bottleneck."""

    def __init__(self, input_channels, squeeze_channels, activation=nn.ReLU,
                 scale_activation=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def _scale(self, input):
        scale = self.fc1(self.avgpool(input))
        scale = self.fc2(self.activation(scale))
        return self.scale_activation(scale)

    def forward(self, input):
        return self._scale(input) * input


class MLP(nn.Sequential):
    """Linear [-> norm] -> activation -> Dropout per hidden layer, then Linear -> Dropout."""

    def __init__(self, in_channels, hidden_channels, norm_layer=None, activation_layer=nn.ReLU,
                 inplace=None, bias=True, dropout=0.0):
        params = {} if inplace is None else {"inplace": inplace}
        layers = []
        in_dim = in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(nn.Linear(in_dim, hidden_dim, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(hidden_dim))
            layers.append(activation_layer(**params))
            layers.append(nn.Dropout(dropout, **params))
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, hidden_channels[-1], bias=bias))
        layers.append(nn.Dropout(dropout, **params))
        super().__init__(*layers)


class Permute(nn.Module):
    """Permutes the input's dimensions (e.g. NCHW -> NHWC in ConvNeXt/Swin blocks)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return nnlite.permute(x, self.dims)
