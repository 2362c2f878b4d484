"""SyncBatchNorm and NaiveSyncBatchNorm on 2 MPI ranks (tests/mpi_workers/syncbn_worker.py: one
launch on CPU tensors, one on CUDA tensors under the simulator), then what one process sees:
the fallback to BatchNorm, convert_sync_batchnorm and the input errors."""

import numpy as np
import pytest

import nnlite
import nnlite.distributed as dist
from nnlite import nn
from nnlite.functional.sync_batch_norm import sync_batch_norm

from tests.helpers import assert_close, randn
from tests.mpi_workers.harness import assert_passed
from tests.mpi_workers.launching import device_checks, needs_mpi, worker_run

@needs_mpi
@pytest.mark.parametrize("device, check", device_checks("syncbn_worker.py"))
def test_on_two_ranks(device, check):
    pytest.importorskip("torch")  # the worker's references
    assert_passed(*worker_run("syncbn_worker.py", device), check)


# ---------------------------------------------------------------- one process

@pytest.mark.parametrize("shape,momentum", [((6, 3), 0.1), ((4, 3, 5), None), ((2, 3, 4, 4), 0.3),
                                            ((2, 3, 2, 3, 2), 0.1)])
def test_one_process_is_batchnorm_as_torch(torch, shape, momentum):
    """No process group: torch's SyncBatchNorm falls back to batch_norm, on the CPU too."""
    m = nn.SyncBatchNorm(3, momentum=momentum).double()
    ref = torch.nn.SyncBatchNorm(3, momentum=momentum).double()
    for step in range(2):
        x = randn(*shape, dtype=np.float64, seed=step) + 1.0
        xt, xr = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, expected = m(xt), ref(xr)
        assert_close(out, expected, rtol=1e-10, atol=1e-12)
        out.sum().backward()
        expected.sum().backward()
        assert_close(xt.grad, xr.grad, rtol=1e-8, atol=1e-10)
    assert_close(m.weight.grad, ref.weight.grad, rtol=1e-8, atol=1e-10)
    assert_close(m.running_mean, ref.running_mean, rtol=1e-10, atol=1e-12)
    assert_close(m.running_var, ref.running_var, rtol=1e-10, atol=1e-12)
    assert int(m.num_batches_tracked.item()) == int(ref.num_batches_tracked.item()) == 2
    m.eval()
    ref.eval()
    x = randn(*shape, dtype=np.float64, seed=9)
    assert_close(m(nnlite.tensor(x)), ref(torch.tensor(x)), rtol=1e-10, atol=1e-12)


def _net(nn_mod):
    inner = nn_mod.Sequential(nn_mod.Linear(4, 4), nn_mod.BatchNorm1d(4))
    return nn_mod.Sequential(nn_mod.Conv2d(3, 4, 1), nn_mod.BatchNorm2d(4, momentum=0.3, eps=1e-3), nn_mod.ReLU(),
                             nn_mod.BatchNorm3d(4, affine=False), inner)


def test_convert_sync_batchnorm_as_torch(torch):
    net, ref = _net(nn), _net(torch.nn)
    net[1].eval()
    ref[1].eval()
    bn_weight, bn_mean = net[1].weight, net[1].running_mean
    group = object()  # stored as given: used only when the layer runs across processes
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(net, process_group=group)
    expected = torch.nn.SyncBatchNorm.convert_sync_batchnorm(ref)
    assert converted is net  # a container is converted in place
    assert [type(m).__name__ for m in converted.modules()] == [type(m).__name__ for m in expected.modules()]
    sync = converted[1]
    assert sync.weight is bn_weight and sync.running_mean is bn_mean  # shared, not copied
    assert (sync.momentum, sync.eps, sync.training, sync.process_group) == (0.3, 1e-3, False, group)
    assert converted[3].weight is None and not converted[3].affine
    assert sorted(converted.state_dict()) == sorted(expected.state_dict())
    bare = nn.BatchNorm2d(2)
    new = nn.SyncBatchNorm.convert_sync_batchnorm(bare)
    assert type(new) is nn.SyncBatchNorm and new is not bare and new.bias is bare.bias


def _torch_error(torch, module_args, x):
    with pytest.raises(Exception) as info:
        torch.nn.SyncBatchNorm(*module_args)(x)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("module_args,shape", [((3,), (3,)), ((0,), (2, 0, 4))])
def test_module_input_errors_as_torch(torch, module_args, shape):
    kind, message = _torch_error(torch, module_args, torch.zeros(shape))
    with pytest.raises(kind) as info:
        nn.SyncBatchNorm(*module_args)(nnlite.zeros(shape))
    assert str(info.value) == message


def test_sync_batch_norm_input_errors():
    """Checked before any collective runs, so one process sees them (world_size given)."""
    x = nnlite.zeros(4, 3, 2)
    stats = (nnlite.zeros(3), nnlite.ones(3))
    errors = [
        (lambda: sync_batch_norm(nnlite.zeros(4), *stats, world_size=2), ValueError,
         r"sync_batch_norm: expected at least 2D input \(got 1D input\)"),
        (lambda: sync_batch_norm(nnlite.zeros(4, 3, dtype=nnlite.int64), *stats, world_size=2), NotImplementedError,
         "sync_batch_norm"),
        (lambda: sync_batch_norm(x, nnlite.zeros(4), nnlite.ones(4), world_size=2), RuntimeError,
         r"sync_batch_norm: running_mean should contain 3 elements not 4"),
        (lambda: sync_batch_norm(x, *stats, weight=nnlite.ones(3, dtype=nnlite.float64), world_size=2),
         RuntimeError, "mixed dtype: weight is nnlite.float64 but input is nnlite.float32"),
        (lambda: sync_batch_norm(x, nnlite.zeros(3), None, world_size=2), RuntimeError,
         "running_mean and running_var must both be given"),
        (lambda: sync_batch_norm(x, *stats, eps=0.0, world_size=2), ValueError,
         "sync_batch_norm: eps must be positive during training, but got 0.0"),
    ]
    for call, kind, words in errors:
        with pytest.raises(kind, match=words):
            call()
    assert_close(x, np.zeros((4, 3, 2)))


def test_sync_batch_norm_devices_must_match(cuda_device):
    with pytest.raises(RuntimeError, match="sync_batch_norm"):
        sync_batch_norm(nnlite.zeros(4, 3, 2, device=cuda_device), nnlite.zeros(3), nnlite.ones(3), world_size=2)


# ---------------------------------------------------------------- the Function in a one-process "world"

@pytest.fixture
def world_of_one(monkeypatch):
    """nnlite.distributed's two collectives as a world of one process would run them, so that the
    Function (and its kernels, on CPU and CUDA) runs in this process without MPI."""
    monkeypatch.setattr(dist, "all_gather_into_tensor", lambda out, inp, group=None: out.copy_(inp))
    monkeypatch.setattr(dist, "all_reduce", lambda t, group=None: None)


# the last two split each channel across CUDA blocks (on the simulator too): S = 1, and parts inside images
@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 5), (2, 2, 3, 2), (150, 2), (3, 2, 7, 11)])
def test_function_against_batch_norm(torch, world_of_one, device, shape):
    C = shape[1]
    x = randn(*shape, dtype=np.float64) * 2 + 1
    g = randn(*shape, dtype=np.float64, seed=1)
    w, b = randn(C, dtype=np.float64, seed=2), randn(C, dtype=np.float64, seed=3)
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    wt, bt = (nnlite.tensor(v, device=device, requires_grad=True) for v in (w, b))
    rm, rv = nnlite.zeros(C, dtype=nnlite.float64, device=device), nnlite.ones(C, dtype=nnlite.float64, device=device)
    xr, wr, br = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    rmr, rvr = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    out = sync_batch_norm(xt, rm, rv, wt, bt, momentum=0.2, world_size=1)
    expected = torch.nn.functional.batch_norm(xr, rmr, rvr, wr, br, training=True, momentum=0.2)
    assert_close(out, expected, rtol=1e-10, atol=1e-12)
    out.backward(nnlite.tensor(g, device=device))
    expected.backward(torch.tensor(g))
    for got, want in ((xt.grad, xr.grad), (wt.grad, wr.grad), (bt.grad, br.grad), (rm, rmr), (rv, rvr)):
        assert_close(got, want, rtol=1e-9, atol=1e-11)


def test_function_gradcheck(world_of_one):
    x = nnlite.tensor(randn(3, 2, 4, dtype=np.float64) + 0.5, requires_grad=True)
    w = nnlite.tensor(randn(2, dtype=np.float64, seed=1), requires_grad=True)
    b = nnlite.tensor(randn(2, dtype=np.float64, seed=2), requires_grad=True)
    assert nnlite.autograd.gradcheck(lambda x, w, b: sync_batch_norm(x, None, None, w, b, world_size=1), (x, w, b))


def test_function_float32(torch, world_of_one, device):
    x = randn(4, 3, 5) + 1
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    rm, rv = nnlite.zeros(3, device=device), nnlite.ones(3, device=device)
    rmr, rvr = torch.zeros(3), torch.ones(3)
    out = sync_batch_norm(xt, rm, rv, world_size=1)
    expected = torch.nn.functional.batch_norm(xr, rmr, rvr, training=True)
    assert out.dtype == nnlite.float32
    assert_close(out, expected, rtol=1e-5, atol=1e-5)
    out.backward(nnlite.tensor(randn(4, 3, 5, seed=1), device=device))
    expected.backward(torch.tensor(randn(4, 3, 5, seed=1)))
    for got, want in ((xt.grad, xr.grad), (rm, rmr), (rv, rvr)):
        assert_close(got, want, rtol=1e-4, atol=1e-5)
