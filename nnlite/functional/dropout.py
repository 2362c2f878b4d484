"""Dropout, as torch.nn.functional: dropout, dropout1d/2d/3d (whole channels),
alpha_dropout and feature_alpha_dropout.

The mask is never stored: forward and backward draw it from the same
(seed, offset) of the device's counter-based generator, so a dropout layer
keeps no more memory for backward than its scalars. Outside training, or with
p = 0, the input itself is returned, as torch does.
"""
import math
import warnings

import numpy as np

from ..autograd.function import Function
from ..backend.lazy import kernels
from ..backend.random import default_generator
from ._util import check_tensor, flat, wrap
from .activation import check_floating_input, records_graph, type_name
from .inplace import inplace as run_inplace
from ._arrays import empty_for, contiguous_array, is_contiguous_array

K = kernels("dropout")

SELU_ALPHA_SCALED = 1.7580993408473766   # SELU scale * alpha: minus the value SELU saturates to


class Dropout(Function):
    """y = x * keep_scale + keep_shift where kept, x * 0 + drop_shift where dropped."""

    @staticmethod
    def forward(ctx, x, draw, group, coefs):
        a = contiguous_array(x._array)
        y = empty_for(a, a.shape)
        if a.size:
            K.dropout(flat(a), flat(y), *draw, group, *coefs)
        ctx.draw, ctx.group, ctx.keep_scale = draw, group, coefs[0]
        return wrap(y, x._device)

    @staticmethod
    def backward(ctx, g):
        ga = contiguous_array(g._array)
        gx = empty_for(ga, ga.shape)
        if ga.size:
            K.dropout_bwd(flat(ga), flat(gx), *ctx.draw, ctx.group, ctx.keep_scale)
        return wrap(gx, g._device), None, None, None


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _coefficients(p, alpha, np_type):
    """(keep_scale, keep_shift, drop_shift) in the input's dtype, as ATen computes them."""
    zero = np_type(0)
    if p == 1:  # ATen: input * 0, for alpha dropout too
        return zero, zero, zero
    if not alpha:  # ATen: noise.div_(1 - p), in the tensor's dtype
        return np_type(1) / np_type(1 - p), zero, zero
    a = 1.0 / math.sqrt((SELU_ALPHA_SCALED ** 2 * p + 1) * (1 - p))
    keep_shift = SELU_ALPHA_SCALED * a * p
    return np_type(a), np_type(keep_shift), np_type(keep_shift - SELU_ALPHA_SCALED * a)


def _dropout(op, input, p, training, inplace, feature_dims=0, alpha=False):
    """Dropout of single elements (feature_dims 0) or of features: the first
    feature_dims dims of input index the features (channels, per sample when
    batched), the remaining ones are dropped together."""
    check_tensor(op, "input", input)
    _check_p(p)
    if not training or p == 0 or input.numel() == 0:
        return input
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}: result type Float can't be cast to the desired output type "
                           f"{type_name(input.dtype)}")
    check_floating_input(op, input)
    shape = tuple(input._array.shape)
    if len(shape) < feature_dims:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    features = math.prod(shape[:feature_dims]) if feature_dims else input.numel()
    seed, offset = default_generator(input._device).take(features)
    draw = (np.uint64(seed), np.int64(offset), float(p))
    group = input.numel() // features
    coefs = _coefficients(p, alpha, input.dtype.np.type)
    if not inplace:
        return Dropout.apply(input, draw, group, coefs)
    if not records_graph(input) and is_contiguous_array(input._array):
        K.dropout(flat(input._array), flat(input._array), *draw, group, *coefs)
        input._version[0] += 1
        return input
    return run_inplace(op + "_", input, lambda t: Dropout.apply(t, draw, group, coefs))


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the others by 1 / (1 - p)."""
    return _dropout("dropout", input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps the mean and variance of SELU activations (as torch's)."""
    return _dropout("alpha_dropout", input, p, training, inplace, alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    return _dropout("feature_alpha_dropout", input, p, training, inplace, feature_dims=2, alpha=True)


def _warn_dims(op, ndim, expected):
    if ndim not in expected:
        warnings.warn(f"{op}: Received a {ndim}-D input to {op}, which is deprecated and will result in an "
                      f"error in a future release. To retain the behavior and silence this warning, please "
                      f"use dropout instead.", stacklevel=3)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) inputs."""
    check_tensor("dropout1d", "input", input)
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note "
                           "that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
                           "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
                           "inputs).")
    return _dropout("dropout1d", input, p, training, inplace, feature_dims=input.ndim - 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) inputs (3-D inputs are read as (N, C, L), as torch does)."""
    check_tensor("dropout2d", "input", input)
    _check_p(p)
    _warn_dims("dropout2d", input.ndim, (3, 4))
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                      "dim. This behavior will change in a future release to interpret the input as one "
                      "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.", stacklevel=2)
    return _dropout("dropout2d", input, p, training, inplace, feature_dims=2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    check_tensor("dropout3d", "input", input)
    _check_p(p)
    _warn_dims("dropout3d", input.ndim, (4, 5))
    return _dropout("dropout3d", input, p, training, inplace, feature_dims=2 if input.ndim == 5 else 1)


__all__ = ["alpha_dropout", "dropout", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout"]

TENSOR_METHODS = []
