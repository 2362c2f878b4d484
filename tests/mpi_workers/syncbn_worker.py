"""SyncBatchNorm and NaiveSyncBatchNorm on 2 ranks, each rank holding a slice of one global batch.

References run in every rank on the whole batch, in PyTorch (float64): nn.BatchNorm*d on the
concatenated batch for SyncBatchNorm; for NaiveSyncBatchNorm a single-process torch
transcription of detectron2's documented statistics (stats_mode "" and "N"). Weight and bias
gradients are summed over ranks first, as DistributedDataParallel would.
NNLITE_TEST_DEVICE=cuda runs the checks marked @check on CUDA tensors (tiny shapes; the
simulator in CI); @cpu_check ones run on the CPU only.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import check, main  # noqa: E402

import torch  # noqa: E402

import nnlite  # noqa: E402
import nnlite.distributed as dist  # noqa: E402
from nnlite.layers import NaiveSyncBatchNorm  # noqa: E402

DEVICE = os.environ.get("NNLITE_TEST_DEVICE", "cpu")
TORCH_BN = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}


def cpu_check(fn):
    """A check that runs in the CPU launch only (the CUDA launch keeps to a few tiny ones)."""
    return check(fn) if DEVICE == "cpu" else fn


def close(got, expected, what, rtol=1e-10, atol=1e-12):
    got = got.detach().cpu().numpy() if isinstance(got, nnlite.Tensor) else np.asarray(got)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=what)


def my_slice(sizes):
    start = sum(sizes[:dist.get_rank()])
    return slice(start, start + sizes[dist.get_rank()])


def global_batch(sizes, tail, seed):
    """The same (sum(sizes), *tail) float64 data on every rank; a distinct mean per channel."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((sum(sizes),) + tail) * 2.0
    return x + np.arange(tail[0]).reshape((1, -1) + (1,) * (len(tail) - 1))


def local(array, sizes, requires_grad=False):
    return nnlite.tensor(np.ascontiguousarray(array[my_slice(sizes)]), device=DEVICE, requires_grad=requires_grad)


def summed_over_ranks(t, group=None):
    """A parameter's gradient all-reduced (summed), as DistributedDataParallel does."""
    t = t.clone()
    dist.all_reduce(t, group=group)
    return t


def twin_sync_bn(C, ndim, **kwargs):
    """An nnlite SyncBatchNorm and the torch BatchNorm*d reference, with equal random affine values."""
    m = nnlite.nn.SyncBatchNorm(C, device=DEVICE, dtype=nnlite.float64, **kwargs)
    ref = TORCH_BN[ndim](C, dtype=torch.float64, **{k: v for k, v in kwargs.items() if k != "process_group"})
    if m.affine:
        rng = np.random.default_rng(7)
        w, b = rng.uniform(0.5, 1.5, C), rng.standard_normal(C)
        with nnlite.no_grad(), torch.no_grad():
            m.weight.copy_(nnlite.tensor(w, device=DEVICE))
            m.bias.copy_(nnlite.tensor(b, device=DEVICE))
            ref.weight.copy_(torch.tensor(w))
            ref.bias.copy_(torch.tensor(b))
    return m, ref


def compare_train_steps(sizes, tail, steps=2, **kwargs):
    """`steps` training steps of SyncBatchNorm on this rank's slice against BatchNorm on the whole
    batch: outputs, input gradients, summed weight/bias gradients, running stats; then eval (the
    running stats, or without them this rank's own batch statistics, as torch)."""
    group = kwargs.get("process_group")
    m, ref = twin_sync_bn(tail[0], len(tail) + 1, **kwargs)
    for step in range(steps):
        x, g = global_batch(sizes, tail, seed=10 + step), global_batch(sizes, tail, seed=20 + step)
        xt, xr = local(x, sizes, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, expected = m(xt), ref(xr)
        close(xt, x[my_slice(sizes)], "the input, untouched", rtol=0, atol=0)
        close(out, expected[my_slice(sizes)], f"output, step {step}")
        out.backward(local(g, sizes))
        expected.backward(torch.tensor(g))
        close(xt.grad, xr.grad[my_slice(sizes)], f"input gradient, step {step}", atol=1e-10)
        if m.affine:
            close(summed_over_ranks(m.weight.grad, group), ref.weight.grad, f"weight gradient, step {step}",
                  atol=1e-10)
            close(summed_over_ranks(m.bias.grad, group), ref.bias.grad, f"bias gradient, step {step}", atol=1e-10)
            m.weight.grad = m.bias.grad = ref.weight.grad = ref.bias.grad = None
        if m.track_running_stats:
            close(m.running_mean, ref.running_mean, f"running_mean, step {step}")
            close(m.running_var, ref.running_var, f"running_var, step {step}")
            assert int(m.num_batches_tracked.item()) == step + 1
        else:
            assert m.running_mean is None and m.running_var is None
    m.eval()
    ref.eval()
    x = global_batch(sizes, tail, seed=30)
    if m.track_running_stats:
        expected = ref(torch.tensor(x))[my_slice(sizes)]
    else:  # no running stats: each rank normalises with its own batch's statistics
        expected = ref(torch.tensor(x[my_slice(sizes)]))
    close(m(local(x, sizes)), expected, "eval output")


# ---------------------------------------------------------------- SyncBatchNorm

@check
def sync_bn_2d_equals_batchnorm2d_on_the_whole_batch():
    if DEVICE == "cuda":  # the simulator runs a Python thread per GPU thread: tiny shapes
        compare_train_steps([2, 1], (2, 2, 3))
    else:
        compare_train_steps([3, 2], (4, 5, 6))


@cpu_check
def sync_bn_1d_3d_and_5d_inputs():
    compare_train_steps([4, 3], (3,))          # (N, C): BatchNorm1d
    compare_train_steps([2, 3], (3, 7))        # (N, C, L): BatchNorm1d
    compare_train_steps([2, 1], (2, 3, 4, 2))  # (N, C, D, H, W): BatchNorm3d


@cpu_check
def sync_bn_unequal_batches_and_an_empty_rank():
    compare_train_steps([5, 1], (3,))          # rank 1 holds one value per channel
    compare_train_steps([1, 4], (2, 3, 3))
    compare_train_steps([3, 0], (2, 3, 3))     # rank 1 holds nothing, yet takes part


@cpu_check
def sync_bn_without_affine_running_stats_or_momentum():
    compare_train_steps([3, 2], (3, 4, 4), affine=False)
    compare_train_steps([3, 2], (3, 4, 4), track_running_stats=False)
    compare_train_steps([2, 3], (3, 4, 4), steps=3, momentum=None)


@cpu_check
def sync_bn_process_groups():
    both = dist.new_group([0, 1])
    compare_train_steps([2, 3], (2, 3, 3), process_group=both)
    # a group of one process is plain BatchNorm on that process's batch
    solo = [dist.new_group([0]), dist.new_group([1])][dist.get_rank()]
    mine = [0, 0]
    mine[dist.get_rank()] = 3
    compare_train_steps(mine, (2, 3, 3), process_group=solo)


@cpu_check
def sync_bn_float32_stays_float32():
    m = nnlite.nn.SyncBatchNorm(3)
    x = global_batch([2, 2], (3, 4), seed=3)
    out = m(local(x.astype(np.float32), [2, 2], requires_grad=True))
    assert out.dtype == nnlite.float32 and m.running_var.dtype == nnlite.float32
    ref = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    close(out, ref[my_slice([2, 2])], "float32 output", rtol=1e-5, atol=1e-5)


@cpu_check
def sync_bn_channel_counts_that_differ_across_ranks_are_a_clear_error():
    C = 2 + dist.get_rank()
    m = nnlite.nn.SyncBatchNorm(C, affine=False, track_running_stats=False)
    try:
        m(nnlite.tensor(np.zeros((2, C, 3)), device=DEVICE))
    except ValueError as err:
        assert "every rank must pass" in str(err), err
    else:
        raise AssertionError("no error for different channel counts across ranks")


@cpu_check
def sync_bn_one_value_over_every_rank_is_an_error_on_every_rank():
    m = nnlite.nn.SyncBatchNorm(3)
    try:
        m(nnlite.zeros(1 - dist.get_rank(), 3, device=DEVICE))
    except ValueError as err:
        assert "Expected more than 1 value per channel when training, got 1 over 2 processes" in str(err), err
    else:
        raise AssertionError("no error for a global batch of one value per channel")


# ---------------------------------------------------------------- NaiveSyncBatchNorm

def naive_reference(parts, grads, weight, bias, mode, momentum=0.1, eps=1e-5):
    """detectron2's statistics in one torch process: "" averages each rank's mean and E[x^2]; "N"
    weights them by batch size (an empty rank adds nothing); running_var takes the biased
    variance. Returns outputs, input gradients, weight/bias gradients and running stats."""
    xs = [torch.tensor(p, requires_grad=True) for p in parts]
    w = torch.tensor(weight, requires_grad=True)
    b = torch.tensor(bias, requires_grad=True)
    moments = [(x.mean((0, 2, 3)), (x * x).mean((0, 2, 3)), x.shape[0]) for x in xs if x.shape[0]]
    if mode == "":
        mean = sum(m for m, _, _ in moments) / len(parts)
        meansqr = sum(s for _, s, _ in moments) / len(parts)
    else:
        total = sum(n for _, _, n in moments)
        mean = sum(m * n for m, _, n in moments) / total
        meansqr = sum(s * n for _, s, n in moments) / total
    var = meansqr - mean * mean
    scale = w * torch.rsqrt(var + eps)
    shift = b - mean * scale
    outs = [x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1) for x in xs]
    sum((o * torch.tensor(g)).sum() for o, g in zip(outs, grads)).backward()
    C = len(weight)
    running = (momentum * mean.detach(), (1 - momentum) * torch.ones(C, dtype=torch.float64) + momentum * var.detach())
    return outs, [x.grad for x in xs], w.grad, b.grad, running


def compare_naive(mode, shapes, seed, **kwargs):
    """One training step of NaiveSyncBatchNorm(stats_mode=mode), rank r holding an input of
    shapes[r], against naive_reference."""
    rank = dist.get_rank()
    rng = np.random.default_rng(seed)
    parts = [rng.standard_normal(s) * 1.5 + 0.5 for s in shapes]
    grads = [rng.standard_normal(s) for s in shapes]
    C = shapes[0][1]
    weight, bias = rng.uniform(0.5, 1.5, C), rng.standard_normal(C)
    m = NaiveSyncBatchNorm(C, stats_mode=mode, **kwargs).double().to(DEVICE)
    with nnlite.no_grad():
        m.weight.copy_(nnlite.tensor(weight, device=DEVICE))
        m.bias.copy_(nnlite.tensor(bias, device=DEVICE))
    x = nnlite.tensor(parts[rank], device=DEVICE, requires_grad=True)
    out = m(x)
    out.backward(nnlite.tensor(grads[rank], device=DEVICE))
    outs, x_grads, w_grad, b_grad, (rm, rv) = naive_reference(parts, grads, weight, bias, mode)
    close(out, outs[rank], f"{mode!r} output")
    close(x.grad, x_grads[rank], f"{mode!r} input gradient", atol=1e-10)
    close(summed_over_ranks(m.weight.grad), w_grad, f"{mode!r} weight gradient", atol=1e-10)
    close(summed_over_ranks(m.bias.grad), b_grad, f"{mode!r} bias gradient", atol=1e-10)
    if m.track_running_stats:
        close(m.running_mean, rm, f"{mode!r} running_mean")
        close(m.running_var, rv, f"{mode!r} running_var")
    else:
        assert m.running_mean is None and m.running_var is None
    return out


@cpu_check
def naive_sync_bn_equal_weight_mode():
    compare_naive("", [(2, 3, 4, 4), (2, 3, 4, 4)], seed=1)
    compare_naive("", [(3, 2, 4, 4), (1, 2, 2, 3)], seed=2)  # ranks weigh alike whatever their size


@cpu_check
def naive_sync_bn_batch_size_mode_is_batchnorm_of_the_whole_batch():
    compare_naive("N", [(3, 3, 4, 4), (1, 3, 4, 4)], seed=3)
    # with equal (H, W) on every rank, "N" gives the true statistics of the whole batch
    sizes = [3, 1]
    x = global_batch(sizes, (3, 4, 4), seed=5)
    m = NaiveSyncBatchNorm(3, stats_mode="N", affine=False).double().to(DEVICE)
    whole = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    close(m(local(x, sizes)), whole[my_slice(sizes)], "'N' output against BatchNorm on the whole batch")


@check
def naive_sync_bn_batch_size_mode_with_an_empty_rank():
    compare_naive("N", [(3, 2, 3, 3), (0, 2, 3, 3)] if DEVICE == "cpu" else [(2, 2, 2, 2), (0, 2, 2, 2)], seed=4)


@cpu_check
def naive_sync_bn_without_running_stats():
    compare_naive("", [(2, 2, 3, 3), (2, 2, 3, 3)], seed=6, track_running_stats=False)
    compare_naive("N", [(2, 2, 3, 3), (1, 2, 3, 3)], seed=7, track_running_stats=False)


@cpu_check
def naive_sync_bn_equal_weight_mode_rejects_an_empty_batch():
    # every rank empty: each raises before the all-reduce (one empty rank alone would leave the
    # others waiting in it, as in detectron2)
    try:
        NaiveSyncBatchNorm(2)(nnlite.zeros(0, 2, 3, 3, device=DEVICE))
    except ValueError as err:
        assert 'stats_mode="") does not support zero batch size' in str(err), err
    else:
        raise AssertionError("no error for an empty batch in stats_mode ''")

if __name__ == "__main__":
    main()
