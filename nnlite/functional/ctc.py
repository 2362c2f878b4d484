"""ctc_loss, as torch.nn.functional.ctc_loss (Graves et al., 2006).

The lengths and targets are read on the host (ATen reads them there too): the
targets, padded (N, S) or concatenated, become one padded int64 array whose labels
are checked against the class count, then copied to the device of log_probs. One
Function, `CtcLoss`, gives the per-sample negative log likelihood from the alpha
recursion and the gradient of the log_probs from the beta recursion
(kernels/ctc.py); the reductions are ordinary differentiable ops after it, as in
ATen's ctc_loss: 'mean' divides each loss by its target length (at least 1) and
averages over the batch.
"""
import numbers

import numpy as np

from ..autograd.function import Function
from ..backend.lazy import kernels
from ..backend.memory import to_device, to_host
from ..tensor import Tensor
from . import binary as B
from . import reduction as R
from . import shape as S
from ._arrays import contiguous_array
from ._util import check_tensor, empty_array, wrap
from .activation import type_name
from .loss import _reduction_mode

K = kernels("ctc")

__all__ = ["ctc_loss"]

_OP = "ctc_loss"


class CtcLoss(Function):
    """Per-sample CTC loss of log_probs (T, N, C) against padded int64 targets (N, S);
    the lengths are host int64 arrays (N,). zero_infinity zeroes infinite losses and
    their gradients."""

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
        lp = contiguous_array(log_probs._array)
        dev, dtype = log_probs._device, log_probs.dtype
        T, N = lp.shape[0], lp.shape[1]
        on_device = _on_device(dev, targets, input_lengths, target_lengths)
        log_alpha = empty_array((N, T, targets.shape[1] * 2 + 1), dtype, dev)
        nll, loss = empty_array((N,), dtype, dev), empty_array((N,), dtype, dev)
        K.ctc_loss_fwd(lp, *on_device, log_alpha, nll, loss, blank, zero_infinity)
        ctx.save_for_backward(log_probs)
        ctx.args = (on_device, log_alpha, nll, blank, zero_infinity)
        return wrap(loss, dev)

    @staticmethod
    def backward(ctx, g):
        log_probs, = ctx.saved_tensors
        on_device, log_alpha, nll, blank, zero_infinity = ctx.args
        lp = contiguous_array(log_probs._array)
        dev, dtype = log_probs._device, log_probs.dtype
        grad = empty_array(lp.shape, dtype, dev)
        log_beta = empty_array((lp.shape[1], 2, log_alpha.shape[2]), dtype, dev)
        K.ctc_loss_bwd(lp, *on_device, log_alpha, nll, contiguous_array(g.to(dtype)._array), log_beta, grad, blank,
                       zero_infinity)
        return wrap(grad, dev), None, None, None, None, None


def _on_device(dev, *arrays):
    if dev.type == "cpu":
        return arrays
    return tuple(to_device(a, dev.index) for a in arrays)


# ------------------------------------------------------------------ argument checks

def _check_log_probs(log_probs):
    check_tensor(_OP, "log_probs", log_probs)
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"{_OP}: Expected log_probs of size (T, N, C) or unbatched (T, C), but got a "
                           f"{log_probs.ndim}-dimensional tensor of size {list(log_probs.shape)}")
    if log_probs.dtype.name not in ("float32", "float64"):
        raise NotImplementedError(f'"{_OP}" not implemented for \'{type_name(log_probs.dtype)}\': log_probs must '
                                  "be float32 or float64")
    if log_probs.numel() == 0:
        raise RuntimeError(f"{_OP}: log_probs tensor must not be empty, got size {list(log_probs.shape)}")


def _lengths(name, lengths, batch):
    """The lengths as a host int64 array of `batch` values >= 0."""
    if isinstance(lengths, Tensor):
        if not _integral(lengths):
            raise RuntimeError(f"{_OP}: {name} must be integral, got a tensor of dtype {lengths.dtype}")
        values = np.asarray(to_host(contiguous_array(lengths._array)), dtype=np.int64).reshape(-1)
    else:
        seq = lengths if isinstance(lengths, (list, tuple)) else None
        if seq is None or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in seq):
            raise TypeError(f"{_OP}(): {name} must be a tensor or a tuple of ints, got {_describe(lengths)}")
        values = np.asarray(seq, dtype=np.int64).reshape(-1)
    if values.size != batch:
        raise RuntimeError(f"{_OP}: {name} must be of size batch_size ({batch}), got {values.size} values")
    if values.size and values.min() < 0:
        raise RuntimeError(f"{_OP}: Expected {name} to have value at least 0, but got value {values.min()}")
    return values


def _integral(t):
    return t.dtype.name in ("int8", "int16", "int32", "int64", "uint8")


def _describe(v):
    if isinstance(v, (list, tuple)):
        return f"{type(v).__name__} of {sorted({type(x).__name__ for x in v})}"
    return type(v).__name__


def _padded_targets(targets, target_lengths, num_classes):
    """The labels as a host int64 array (N, max(1, longest target)), checked against num_classes;
    positions past a sample's target length hold 0 (their labels are never read)."""
    check_tensor(_OP, "targets", targets)
    if targets.ndim not in (1, 2):
        raise RuntimeError(f"{_OP}: Expected targets of 1 (concatenated) or 2 (N, S) dimensions, but got a "
                           f"{targets.ndim}-dimensional tensor of size {list(targets.shape)}")
    labels = to_host(contiguous_array(targets._array)).astype(np.int64)  # ATen casts any dtype to Long
    used = np.arange(max(1, int(target_lengths.max())))[None, :] < target_lengths[:, None]
    fill = _from_concatenated if targets.ndim == 1 else _from_padded
    padded = np.where(used, fill(labels, target_lengths, used), 0)
    bad = used & ((padded < 0) | (padded >= num_classes))
    if bad.any():
        b, k = np.argwhere(bad)[0]
        raise IndexError(f"{_OP}: target label {padded[b, k]} (sample {b}, position {k}) is out of range "
                         f"for {num_classes} classes")
    return padded


def _from_concatenated(labels, target_lengths, used):
    total = int(target_lengths.sum())
    if labels.shape[0] != total:
        raise RuntimeError(f"{_OP}: concatenated targets must hold sum(target_lengths) = {total} labels, "
                           f"got size {list(labels.shape)}")
    if total == 0:
        return 0
    starts = np.cumsum(target_lengths) - target_lengths
    return labels[np.where(used, starts[:, None] + np.arange(used.shape[1])[None, :], 0)]


def _from_padded(labels, target_lengths, used):
    batch, longest = used.shape[0], int(target_lengths.max())
    if labels.shape[0] != batch:
        raise RuntimeError(f"{_OP}: Expected targets to have size {batch} (the batch) at dimension 0, but got "
                           f"size {labels.shape[0]} (targets of size {list(labels.shape)})")
    if labels.shape[1] < longest:
        raise RuntimeError(f"{_OP}: Expected targets to have size at least {longest} (the longest target length) "
                           f"at dimension 1, but got size {labels.shape[1]}")
    padded = np.zeros(used.shape, np.int64)
    padded[:, :longest] = labels[:, :longest]
    return padded


# ------------------------------------------------------------------ the op

def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """The Connectionist Temporal Classification loss of log_probs (T, N, C) or (T, C)."""
    _check_log_probs(log_probs)
    reduction = _reduction_mode(None, None, reduction)
    batched = log_probs.ndim == 3
    lp = log_probs if batched else S.unsqueeze(log_probs, 1)
    T, N, C = lp.shape
    if not isinstance(blank, numbers.Integral) or not 0 <= blank < C:
        raise RuntimeError(f"{_OP}: blank must be in label range [0, {C}), got {blank}")
    il = _lengths("input_lengths", input_lengths, N)
    tl = _lengths("target_lengths", target_lengths, N)
    if il.max() > T:
        raise RuntimeError(f"{_OP}: Expected input_lengths to have value at most {T} (the length of "
                           f"log_probs), but got value {il.max()}")
    padded = _padded_targets(targets, tl, C)
    loss = CtcLoss.apply(lp, padded, il, tl, int(blank), bool(zero_infinity))
    if reduction == "mean":
        divisor = wrap(_on_device(lp._device, np.maximum(tl, 1).astype(lp.dtype.np))[0], lp._device)
        return R.mean(B.div(loss, divisor))
    if reduction == "sum":
        return R.sum(loss)
    return loss if batched else S.reshape(loss, ())
