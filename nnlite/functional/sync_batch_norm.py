"""sync_batch_norm: batch_norm whose statistics span every process of a group (the
training path of nnlite.nn.SyncBatchNorm in a world of more than one process).

Forward: each process computes its part's per-channel mean, centred sum of squares
(m2) and element count; one all-gather of that packed vector gives every process
every part's statistics, merged exactly (Chan's formula: counts weight the means,
m2s add up with the spread of the means) into the global mean and biased variance.
The input is normalised with them by batch_norm's eval-mode kernel, and the running
stats take the global unbiased variance: BatchNorm on the concatenated batch.
Backward: each process's per-channel sum(g) and sum(g * (x - mean)) are all-reduced
(one packed vector), so the input gradient is BatchNorm's on the concatenated batch;
weight and bias gradients stay per process, summed by DistributedDataParallel as in
torch. Processes with different batch sizes (an empty one included) take part alike.

Per-channel vectors of C values are merged on the host: they are tiny, and a collective
without CUDA-aware MPI stages them through the host anyway.
"""
import math

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ._arrays import contiguous_array, copy_array_into
from ._util import check_same_device, check_tensor, empty_array, flat, wrap
from .activation import check_floating_input
from .normalization import _check_vector, _vector

K = kernels("normalization")
KS = kernels("sync_batch_norm")


def _host(a):
    return a if type(a) is np.ndarray else a.copy_to_host()


def _on_device_of(values, like_array, device):
    """A host float64 vector as an array of like_array's dtype on `device`."""
    values = values.astype(like_array.dtype)
    if device.type == "cpu":
        return values
    from .creation import tensor
    return tensor(values, device=device)._array


def _gather_stats(a, N, C, S, device, group, world_size):
    """Every process's [mean(C), m2(C), count] for this channel layout, shape (world, 2C+1), on the host."""
    from .. import distributed as dist
    stats = empty_array((2 * C + 1,), _dt.float64, device)
    KS.local_stats(flat(a), stats, N, C, S)
    gathered = empty_array((world_size * (2 * C + 1),), _dt.float64, device)
    dist.all_gather_into_tensor(wrap(gathered, device), wrap(stats, device), group=group)
    return _host(gathered).reshape(world_size, 2 * C + 1)


def _merge(every, C):
    """(global mean, global biased variance, global count) from the per-process statistics."""
    means, m2s, counts = every[:, :C], every[:, C:2 * C], every[:, 2 * C:]
    total = float(counts.sum())
    mean = (counts * means).sum(0) / total
    m2 = m2s.sum(0) + (counts * (means - mean) ** 2).sum(0)
    return mean, m2 / total, total


def _update_running(stat, new_values):
    """Write the updated running statistic into its tensor (in place, as batch_norm does)."""
    target = stat._array
    copy_array_into(_on_device_of(new_values.reshape(tuple(target.shape)), target, stat._device), target)
    stat._version[0] += 1


def _fold_running_stats(running_mean, running_var, mean, var, total, momentum):
    """running = momentum * batch + (1 - momentum) * running; the variance unbiased over all processes."""
    unbiased = var * (total / (total - 1))
    for stat, batch in ((running_mean, mean), (running_var, unbiased)):
        old = _host(contiguous_array(stat._array)).astype(np.float64).reshape(-1)
        _update_running(stat, momentum * batch + (1 - momentum) * old)


class SyncBatchNormFunction(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps, momentum, group, world_size):
        a = contiguous_array(x._array)
        shape = tuple(a.shape)
        N, C, S = shape[0], shape[1], math.prod(shape[2:])
        dev, dtype = x._device, x.dtype
        mean, var, total = _merge(_gather_stats(a, N, C, S, dev, group, world_size), C)
        if total <= 1:  # every process sees the same total: all of them raise, none waits
            raise ValueError(f"Expected more than 1 value per channel when training, got {int(total)} over "
                             f"{world_size} processes (input size {list(shape)} on this one)")
        if running_mean is not None:
            _fold_running_stats(running_mean, running_var, mean, var, total, momentum)
        y = empty_array(shape, dtype, dev)
        saved_mean, invstd = empty_array((C,), dtype, dev), empty_array((C,), dtype, dev)
        if a.size:  # batch_norm's eval path: y = (x - mean) / sqrt(var + eps) * weight + bias
            K.batch_norm(flat(a), _vector(weight, 1, C, dtype, dev), _vector(bias, 0, C, dtype, dev), flat(y),
                         saved_mean, invstd, _on_device_of(mean, a, dev), _on_device_of(var, a, dev),
                         N, C, S, float(eps), 0.0, False, False)
        else:  # no data here, yet backward still needs the statistics (for the other processes' sake)
            saved_mean = _on_device_of(mean, a, dev)
            invstd = _on_device_of(1.0 / np.sqrt(var + eps), a, dev)
        ctx.save_for_backward(x, weight)
        ctx.stats = (saved_mean, invstd, (N, C, S), total, group)
        return wrap(y, dev)

    @staticmethod
    def backward(ctx, g):
        from .. import distributed as dist
        x, weight = ctx.saved_tensors
        mean, invstd, (N, C, S), total, group = ctx.stats
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dev, dtype = x._device, x.dtype
        a = contiguous_array(x._array)
        ga = flat(contiguous_array(g._array))
        sums = empty_array((2 * C,), _dt.float64, dev)
        gw, gb = empty_array((C,), dtype, dev), empty_array((C,), dtype, dev)
        KS.grad_sums(ga, flat(a), mean, invstd, sums, gw, gb, N, C, S)
        gx = None
        if need_x:  # every process needs the input gradient alike (torch has the same rule)
            dist.all_reduce(wrap(sums, dev), group=group)
            gx = empty_array(a.shape, dtype, dev)
            if a.size:
                KS.input_grad(ga, flat(a), _vector(weight, 1, C, dtype, dev), mean, invstd, sums, flat(gx),
                              N, C, S, float(total))
        return (wrap(gx, dev) if need_x else None, wrap(gw, dev) if need_w else None,
                wrap(gb, dev) if need_b else None, None, None, None, None, None, None)


def sync_batch_norm(input, running_mean, running_var, weight=None, bias=None, momentum=0.1, eps=1e-5,
                    process_group=None, world_size=None):
    """Training-mode batch_norm over the batch of every process of `process_group` (the default
    group when None); collective: every process of the group must call it alike."""
    op = "sync_batch_norm"
    check_tensor(op, "input", input)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected at least 2D input (got {input.ndim}D input)")
    check_floating_input(op, input)
    if eps <= 0.0:
        raise ValueError(f"{op}: eps must be positive during training, but got {eps}")
    if (running_mean is None) != (running_var is None):
        raise RuntimeError(f"{op}: running_mean and running_var must both be given or both be None")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_vector(op, name, t, input.shape[1], input)
    check_same_device(op, input, running_mean, running_var, weight, bias)
    if world_size is None:
        from .. import distributed as dist
        world_size = dist.get_world_size(process_group)
    return SyncBatchNormFunction.apply(input, weight, bias, running_mean, running_var, float(eps), float(momentum),
                                       process_group, int(world_size))
