"""Margin loss kernels that loop over each row's classes: multi_margin_loss and
multilabel_margin_loss, forward and backward.

Inputs are (N, C) row-major, flat; one row per sample, whose loss is written to
loss[n]. `g` is the loss gradient per sample (g_step 1) or one value for all
(g_step 0), already divided by the reduction's count.

multi_margin:      loss_n = sum_{d != y} w[y] * max(0, margin - x[y] + x[d])^p / C
multilabel_margin: loss_n = sum_{j in targets} sum_{c not a target} max(0, 1 - x[j] + x[c]) / C,
                   the targets being the row's labels before its first -1; `is_target`
                   (N, C) marks them and is kept for the backward.
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK


# ---------------------------------------------------------------- multi_margin_loss

@njit(inline="always")
def _hinge_sum(row, shift, p):
    """sum over the row of max(0, shift + row[d])^p; a branch-free loop that vectorises."""
    total = 0.0
    if p == 1:
        for d in range(row.size):
            z = shift + row[d]
            total += z if z > 0 else 0.0
    else:
        for d in range(row.size):
            z = shift + row[d]
            total += z * z if z > 0 else 0.0
    return total


@njit(inline="always")
def _hinge(z, p):
    return 0.0 if z <= 0 else (z if p == 1 else z * z)


@njit(inline="always")
def _multi_margin_row(x, target, weight, loss, C, p, margin, has_weight, n):
    # slices keep every index provably in bounds; the target's own term is summed with the
    # others and taken out after, so the loop over classes has no branch on d
    row = x[n * C:(n + 1) * C]
    y = target[n]
    shift = margin - row[y]
    total = _hinge_sum(row, shift, p) - _hinge(shift + row[y], p)
    if has_weight:
        total *= weight[y]
    loss[n] = total / C


# reassoc: the per-row sums split into vector lanes (no assumption about NaN or inf)
@njit(parallel=True, cache=True, fastmath={"reassoc"})
def multi_margin_fwd_cpu(x, target, weight, loss, C, p, margin, has_weight):
    if x.size <= SERIAL_WORK:
        for n in range(loss.size):
            _multi_margin_row(x, target, weight, loss, C, p, margin, has_weight, n)
    else:
        for n in prange(loss.size):
            _multi_margin_row(x, target, weight, loss, C, p, margin, has_weight, n)


@cuda.jit(cache=True)
def multi_margin_fwd_cuda(x, target, weight, loss, C, p, margin, has_weight):
    for n in range(cuda.grid(1), loss.size, cuda.gridsize(1)):
        base = n * C
        y = target[n]
        xy = x[base + y]
        total = 0.0
        for d in range(C):
            z = margin - xy + x[base + d]
            if d != y and z > 0:
                total += z if p == 1 else z * z
        if has_weight:
            total *= weight[y]
        loss[n] = total / C


@njit(inline="always")
def _multi_margin_bwd_row(x, target, weight, g, g_step, gx, C, p, margin, has_weight, n):
    row, grow = x[n * C:(n + 1) * C], gx[n * C:(n + 1) * C]
    y = target[n]
    shift = margin - row[y]
    gn = g[n * g_step] / C
    if has_weight:
        gn *= weight[y]
    slope = gn if p == 1 else 2 * gn      # d max(0, z)^p / dz = slope * z^(p - 1)
    to_target = 0.0
    for d in range(C):
        z = shift + row[d]
        gd = (slope if p == 1 else slope * z) if z > 0 else 0.0
        grow[d] = gd
        to_target += gd
    grow[y] = -(to_target - grow[y])      # every other class's gradient, with the opposite sign


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def multi_margin_bwd_cpu(x, target, weight, g, g_step, gx, C, p, margin, has_weight):
    if x.size <= SERIAL_WORK:
        for n in range(target.size):
            _multi_margin_bwd_row(x, target, weight, g, g_step, gx, C, p, margin, has_weight, n)
    else:
        for n in prange(target.size):
            _multi_margin_bwd_row(x, target, weight, g, g_step, gx, C, p, margin, has_weight, n)


@cuda.jit(cache=True)
def multi_margin_bwd_cuda(x, target, weight, g, g_step, gx, C, p, margin, has_weight):
    for n in range(cuda.grid(1), target.size, cuda.gridsize(1)):
        base = n * C
        y = target[n]
        xy = x[base + y]
        gn = g[n * g_step] / C
        if has_weight:
            gn *= weight[y]
        to_target = 0.0
        for d in range(C):
            z = margin - xy + x[base + d]
            gd = 0.0
            if d != y and z > 0:
                gd = gn if p == 1 else 2 * z * gn
            gx[base + d] = gd
            to_target += gd
        gx[base + y] = -to_target


multi_margin_fwd = KernelPair(multi_margin_fwd_cpu, multi_margin_fwd_cuda)
multi_margin_bwd = KernelPair(multi_margin_bwd_cpu, multi_margin_bwd_cuda)


# ---------------------------------------------------------------- multilabel_margin_loss

@njit(inline="always")
def _mark_targets(labels, marks):
    """marks[c] = 1 for the labels before the first negative one, else 0; returns their count."""
    for c in range(marks.size):
        marks[c] = 0
    count = labels.size
    for j in range(labels.size):
        if labels[j] < 0:
            count = j
            break
        marks[labels[j]] = 1
    return count


@njit(inline="always")
def _multilabel_row(x, target, is_target, loss, C, n):
    # row slices keep the indices provably in bounds; the loop over c is branch-free
    row, labels, marks = x[n * C:(n + 1) * C], target[n * C:(n + 1) * C], is_target[n * C:(n + 1) * C]
    total = 0.0
    for j in range(_mark_targets(labels, marks)):
        shift = 1 - row[labels[j]]
        for c in range(C):
            z = shift + row[c]
            total += z if (z > 0) & (marks[c] == 0) else 0.0
    loss[n] = total / C


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def multilabel_margin_fwd_cpu(x, target, is_target, loss, C):
    if x.size <= SERIAL_WORK:
        for n in range(loss.size):
            _multilabel_row(x, target, is_target, loss, C, n)
    else:
        for n in prange(loss.size):
            _multilabel_row(x, target, is_target, loss, C, n)


@cuda.jit(cache=True)
def multilabel_margin_fwd_cuda(x, target, is_target, loss, C):
    for n in range(cuda.grid(1), loss.size, cuda.gridsize(1)):
        base = n * C
        for c in range(C):
            is_target[base + c] = 0
        for j in range(C):
            label = target[base + j]
            if label < 0:
                break
            is_target[base + label] = 1
        total = 0.0
        for j in range(C):
            label = target[base + j]
            if label < 0:
                break
            xj = x[base + label]
            for c in range(C):
                z = 1 - xj + x[base + c]
                if is_target[base + c] == 0 and z > 0:
                    total += z
        loss[n] = total / C


@njit(inline="always")
def _multilabel_bwd_row(x, target, is_target, g, g_step, gx, C, n):
    row, labels, marks = x[n * C:(n + 1) * C], target[n * C:(n + 1) * C], is_target[n * C:(n + 1) * C]
    grow = gx[n * C:(n + 1) * C]
    gn = g[n * g_step] / C
    for c in range(C):
        grow[c] = 0
    for j in range(C):
        label = labels[j]
        if label < 0:
            break
        shift = 1 - row[label]
        active = 0.0
        for c in range(C):
            on = (shift + row[c] > 0) & (marks[c] == 0)
            grow[c] += gn if on else 0.0
            active += 1.0 if on else 0.0
        grow[label] -= gn * active      # the target loses what each active non-target gains


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def multilabel_margin_bwd_cpu(x, target, is_target, g, g_step, gx, C):
    if x.size <= SERIAL_WORK:
        for n in range(gx.size // max(C, 1)):
            _multilabel_bwd_row(x, target, is_target, g, g_step, gx, C, n)
    else:
        for n in prange(gx.size // max(C, 1)):
            _multilabel_bwd_row(x, target, is_target, g, g_step, gx, C, n)


@cuda.jit(cache=True)
def multilabel_margin_bwd_cuda(x, target, is_target, g, g_step, gx, C):
    for n in range(cuda.grid(1), gx.size // max(C, 1), cuda.gridsize(1)):
        base = n * C
        gn = g[n * g_step] / C
        for c in range(C):
            gx[base + c] = 0
        for j in range(C):
            label = target[base + j]
            if label < 0:
                break
            xj = x[base + label]
            for c in range(C):
                z = 1 - xj + x[base + c]
                if is_target[base + c] == 0 and z > 0:
                    gx[base + label] -= gn
                    gx[base + c] += gn


multilabel_margin_fwd = KernelPair(multilabel_margin_fwd_cpu, multilabel_margin_fwd_cuda)
multilabel_margin_bwd = KernelPair(multilabel_margin_bwd_cpu, multilabel_margin_bwd_cuda)
