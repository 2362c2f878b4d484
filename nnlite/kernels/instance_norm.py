"""instance_norm's running statistics.

instance_norm normalises on the group_norm row kernels (one group per
channel, kernels/row_norm.py). What it adds is the in-place update of
running_mean / running_var from the per-instance statistics: the mean over
the batch of each instance's mean and of its unbiased variance, as torch.
The row kernels keep mean and rstd = 1 / sqrt(var + eps) per (n, c), so the
biased variance is recovered as 1 / rstd^2 - eps (in float64).
"""
import numpy as np
from numba import njit

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair


@njit(inline="always")
def _update_channel(mean, rstd, running_mean, running_var, N, C, S, eps, momentum, c):
    m = 0.0
    v = 0.0
    for n in range(N):
        r = np.float64(rstd[n * C + c])
        m += mean[n * C + c]
        v += (1.0 / (r * r) - eps) * S / (S - 1)
    running_mean[c] = momentum * (m / N) + (1 - momentum) * running_mean[c]
    running_var[c] = momentum * (v / N) + (1 - momentum) * running_var[c]


@njit(cache=True)
def instance_norm_running_stats_cpu(mean, rstd, running_mean, running_var, N, C, S, eps, momentum):
    """Fold the (N * C) per-instance stats into the C running stats (serial: C is small)."""
    for c in range(C):
        _update_channel(mean, rstd, running_mean, running_var, N, C, S, eps, momentum, c)


@cuda.jit(cache=True)
def instance_norm_running_stats_cuda(mean, rstd, running_mean, running_var, N, C, S, eps, momentum):
    for c in range(cuda.grid(1), C, cuda.gridsize(1)):
        m = 0.0
        v = 0.0
        for n in range(N):
            r = rstd[n * C + c]
            m += mean[n * C + c]
            v += (1.0 / (r * r) - eps) * S / (S - 1)
        running_mean[c] = momentum * (m / N) + (1 - momentum) * running_mean[c]
        running_var[c] = momentum * (v / N) + (1 - momentum) * running_var[c]


instance_norm_running_stats = KernelPair(instance_norm_running_stats_cpu, instance_norm_running_stats_cuda)
