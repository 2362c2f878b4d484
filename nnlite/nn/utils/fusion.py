"""Folding an eval-mode BatchNorm into the conv or linear layer before it (torch.nn.utils.fusion).

y = bn(conv(x)) = conv'(x) with w' = w * gamma / sqrt(var + eps) per output
channel and b' = (b - mean) * gamma / sqrt(var + eps) + beta.
"""
import copy

from ...functional.creation import ones_like, zeros_like
from ...functional.unary import rsqrt
from ..parameter import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]


def _check_eval(op, layer, bn):
    # torch asserts these; the messages say which op and which module is at fault
    if layer.training or bn.training:
        raise AssertionError(f"{op}: Fusion only for eval! (training: {type(layer).__name__}="
                             f"{layer.training}, {type(bn).__name__}={bn.training})")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError(f"{op}: the BatchNorm must track running stats (running_mean/running_var "
                             "are None)")


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A copy of conv with eval-mode bn folded into its weight and bias."""
    _check_eval("fuse_conv_bn_eval", conv, bn)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean,
                                                    bn.running_var, bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """(weight, bias) Parameters of the fused conv; transpose: conv_w is a ConvTranspose weight."""
    w_dtype = conv_w.dtype
    b_dtype = conv_w.dtype if conv_b is None else conv_b.dtype
    conv_b = zeros_like(bn_rm) if conv_b is None else conv_b
    bn_w = ones_like(bn_rm) if bn_w is None else bn_w
    bn_b = zeros_like(bn_rm) if bn_b is None else bn_b
    inv_std = rsqrt(bn_rv + bn_eps)
    # output channels are dim 0 of a conv weight and dim 1 of a transposed conv weight
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (conv_w.ndim - 2)
    fused_w = (conv_w * (bn_w * inv_std).reshape(shape)).to(dtype=w_dtype)
    fused_b = ((conv_b - bn_rm) * inv_std * bn_w + bn_b).to(dtype=b_dtype)
    return Parameter(fused_w.detach(), conv_w.requires_grad), Parameter(fused_b.detach(), conv_b.requires_grad)


def fuse_linear_bn_eval(linear, bn):
    """A copy of linear with eval-mode bn (over its out_features, or one broadcast feature) folded in."""
    _check_eval("fuse_linear_bn_eval", linear, bn)
    if not (linear.out_features == bn.num_features or bn.num_features == 1):
        raise AssertionError("fuse_linear_bn_eval: To fuse, linear.out_features == bn.num_features or "
                             f"bn.num_features == 1 (got out_features={linear.out_features}, "
                             f"num_features={bn.num_features})")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean,
                                                      bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """(weight, bias) Parameters of the fused linear layer."""
    w_dtype = linear_w.dtype
    b_dtype = linear_w.dtype if linear_b is None else linear_b.dtype
    linear_b = zeros_like(bn_rm) if linear_b is None else linear_b
    bn_w = ones_like(bn_rm) if bn_w is None else bn_w
    bn_b = zeros_like(bn_rm) if bn_b is None else bn_b
    scale = bn_w * rsqrt(bn_rv + bn_eps)
    fused_w = linear_w * scale.unsqueeze(-1).to(dtype=w_dtype)
    fused_b = ((linear_b - bn_rm) * scale + bn_b).to(dtype=b_dtype)
    return Parameter(fused_w.detach(), linear_w.requires_grad), Parameter(fused_b.detach(), linear_b.requires_grad)
