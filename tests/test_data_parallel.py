"""nnlite.nn.parallel: scatter, gather, replicate, parallel_apply, DataParallel, data_parallel.

Real multi-GPU machines are not available here: the several-replica paths run with
several replicas on one device ("cpu" for the functions, cuda:0 twice under the
simulator for DataParallel), compared in float64 with the plain module on the whole batch.
"""
import collections
import sys
import warnings

import numpy as np
import pytest

import nnlite
from nnlite import nn
from nnlite.nn.parallel import DataParallel, data_parallel, gather, parallel_apply, replicate, scatter
from nnlite.nn.parallel.scatter_gather import scatter_kwargs

from .helpers import assert_close, randn

torch = pytest.importorskip("torch")

Pair = collections.namedtuple("Pair", "a b")


def mlp():
    nnlite.manual_seed(1)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()


def conv_net():
    nnlite.manual_seed(2)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).double()


def torch_copy(module):
    """The same architecture in torch with the same weights (for the whole-batch reference)."""
    layers = {nn.Linear: lambda m: torch.nn.Linear(m.in_features, m.out_features),
              nn.Conv2d: lambda m: torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size,
                                                   padding=m.padding),
              nn.Tanh: lambda m: torch.nn.Tanh(), nn.ReLU: lambda m: torch.nn.ReLU(),
              nn.Flatten: lambda m: torch.nn.Flatten()}
    ref = torch.nn.Sequential(*[layers[type(m)](m) for m in module]).double()
    ref.load_state_dict({k: torch.tensor(v.detach().cpu().numpy()) for k, v in module.state_dict().items()})
    return ref


def assert_matches_whole_batch(module, run_parallel, x_np):
    """run_parallel(module, x) must give torch's output and parameter gradients on the whole batch."""
    x = nnlite.tensor(x_np, requires_grad=True)
    out = run_parallel(module, x)
    (out.cpu() ** 2).sum().backward()
    ref = torch_copy(module)
    rx = torch.tensor(x_np, requires_grad=True)
    rout = ref(rx)
    (rout ** 2).sum().backward()
    assert_close(out, rout, rtol=1e-12, atol=1e-12)
    assert_close(x.grad, rx.grad, rtol=1e-12, atol=1e-12)
    for (name, p), rp in zip(module.named_parameters(), ref.parameters()):
        assert p.grad is not None, name
        assert_close(p.grad, rp.grad, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ scatter / gather


def test_scatter_splits_tensors_like_chunk():
    x = nnlite.arange(10).view(5, 2)
    for k in [1, 2, 3, 5, 7]:
        parts = scatter(x, ["cpu"] * k)
        want = torch.arange(10).view(5, 2).chunk(k)
        assert [p.tolist() for p in parts] == [w.tolist() for w in want]
    cols = scatter(x, ["cpu", "cpu"], dim=1)
    assert [c.tolist() for c in cols] == [[[0], [2], [4], [6], [8]], [[1], [3], [5], [7], [9]]]


def test_scatter_walks_containers_and_copies_the_rest():
    x = nnlite.arange(4)
    parts = scatter((x, "tag", [x], {"k": x}, Pair(x, 3)), ["cpu", "cpu"])
    assert len(parts) == 2
    second = parts[1]
    assert second[0].tolist() == [2, 3] and second[1] == "tag" and second[2][0].tolist() == [2, 3]
    assert second[3]["k"].tolist() == [2, 3] and isinstance(second[4], Pair) and second[4].b == 3
    inputs, kwargs = scatter_kwargs((x,), {"scale": 2}, ["cpu", "cpu"])
    assert len(inputs) == len(kwargs) == 2 and kwargs[1] == {"scale": 2}
    inputs, kwargs = scatter_kwargs((), {"v": x}, ["cpu", "cpu"])
    assert inputs == ((), ()) and kwargs[0]["v"].tolist() == [0, 1]
    assert scatter_kwargs((), {}, ["cpu"]) == ((), ())


def test_gather_joins_outputs():
    a, b = nnlite.ones(2, 3), nnlite.zeros(1, 3)
    assert gather([a, b], "cpu").shape == (3, 3)
    assert gather([a, b.view(3, 1).expand(3, 1)[:2]], -1, dim=1).shape == (2, 4)  # -1: the CPU
    out = gather([{"y": a, "n": None, "p": Pair(a, (a,))}, {"y": b, "n": None, "p": Pair(b, (b,))}], "cpu")
    assert out["y"].shape == (3, 3) and out["n"] is None
    assert isinstance(out["p"], Pair) and out["p"].b[0].shape == (3, 3)
    with pytest.raises(ValueError, match="All dicts must have the same number of keys"):
        gather([{"y": a}, {"y": b, "z": b}], "cpu")


def test_gather_of_scalars_warns_and_returns_a_vector():
    with pytest.warns(UserWarning, match="all input tensors were scalars"):
        out = gather([nnlite.tensor(1.0), nnlite.tensor(2.0)], "cpu")
    assert out.tolist() == [1.0, 2.0]


def test_scatter_and_gather_are_differentiable():
    x_np = randn(5, 3, dtype=np.float64)
    x = nnlite.tensor(x_np, requires_grad=True)
    w = nnlite.tensor(randn(5, 3, dtype=np.float64, seed=1))
    (gather([p * 2 for p in scatter(x, ["cpu"] * 3)], "cpu") * w).sum().backward()
    assert_close(x.grad, 2 * w, rtol=0, atol=0)


# ------------------------------------------------------------ replicate / parallel_apply


def test_replicas_are_copies_wired_to_the_module():
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    r0, r1 = replicate(module, ["cpu", "cpu"])
    assert r0 is not module and r1 is not r0 and type(r0) is nn.Sequential and type(r0[1]) is nn.BatchNorm1d
    assert list(r0.parameters()) == [] and r0[0] is not module[0]
    w0 = r0[0].weight
    assert w0.grad_fn is not None and not w0.is_leaf
    assert np.shares_memory(w0.detach().numpy(), module[0].weight.detach().numpy())
    assert r0[1].running_mean is module[1].running_mean  # the first replica shares buffers ...
    assert r1[1].running_mean is not module[1].running_mean  # ... the others get copies
    assert_close(r1[1].running_var, module[1].running_var)
    # parameter copies are plain attributes of a replica, not registered parameters (as torch)
    assert set(r1.state_dict()) == {"1.running_mean", "1.running_var", "1.num_batches_tracked"}
    detached = replicate(module, ["cpu"], detach=True)[0]
    assert detached[0].weight.grad_fn is None and not detached[0].weight.requires_grad
    assert replicate(module, []) == []


def test_replicas_keep_tied_weights_tied():
    emb = nn.Linear(3, 3, bias=False)
    module = nn.Sequential(emb, nn.Tanh(), emb)
    (replica,) = replicate(module, ["cpu"])
    assert replica[0] is replica[2] and replica[0] is not emb


def test_lazy_modules_cannot_be_replicated():
    with pytest.raises(RuntimeError, match="uninitialized parameters can't be used with `DataParallel`"):
        replicate(nn.LazyLinear(2), ["cpu"])


@pytest.mark.parametrize("build,shape", [(mlp, (7, 3)), (conv_net, (5, 2, 4, 4))])
def test_replicate_scatter_apply_gather_equals_the_whole_batch(build, shape):
    devices = ["cpu", "cpu", "cpu"]

    def run(module, x):
        parts = scatter(x, devices)
        replicas = replicate(module, devices[:len(parts)])
        return gather(parallel_apply(replicas, [(p,) for p in parts], None, devices[:len(parts)]), "cpu")

    assert_matches_whole_batch(build(), run, randn(*shape, dtype=np.float64))


def test_parallel_apply_runs_each_replica_on_its_input():
    class Scale(nn.Module):
        def forward(self, x, factor=1):
            return x * factor

    outs = parallel_apply([Scale(), Scale()], [nnlite.ones(2), (nnlite.ones(1),)], [{"factor": 3}, {}])
    assert [o.tolist() for o in outs] == [[3.0, 3.0], [1.0]]
    with pytest.raises(AssertionError, match="number of modules 2 is not equal to the number of inputs 1"):
        parallel_apply([Scale(), Scale()], [nnlite.ones(1)])
    with pytest.raises(AssertionError, match="number of devices 1"):
        parallel_apply([Scale(), Scale()], [nnlite.ones(1)] * 2, None, ["cpu"])
    with pytest.raises(RuntimeError, match="no device was provided and no tensor input was found"):
        parallel_apply([Scale()], [(2,)])


def test_parallel_apply_names_the_failing_replica():
    class Fails(nn.Module):
        def forward(self, x):
            if x.shape[0] < 2:
                raise ValueError("too short")
            return x

    with pytest.raises(ValueError, match="Caught ValueError in replica 1 on device cpu") as info:
        parallel_apply([Fails(), Fails()], [nnlite.ones(2), nnlite.ones(1)])
    assert "too short" in str(info.value)


def test_batchnorm_statistics_of_the_first_replica_reach_the_module():
    module = nn.BatchNorm1d(3).double()
    ref = torch.nn.BatchNorm1d(3).double()
    x_np = randn(6, 3, dtype=np.float64)
    parts = scatter(nnlite.tensor(x_np), ["cpu", "cpu"])
    parallel_apply(replicate(module, ["cpu", "cpu"]), parts)
    ref(torch.tensor(x_np[:3]))  # only the first share counts, as in torch
    assert_close(module.running_mean, ref.running_mean, rtol=1e-12, atol=1e-12)
    assert_close(module.running_var, ref.running_var, rtol=1e-12, atol=1e-12)
    assert module.num_batches_tracked.item() == 1


# ------------------------------------------------------------ DataParallel


def test_without_cuda_the_module_runs_as_is(monkeypatch):
    monkeypatch.setattr(sys.modules["nnlite.nn.parallel.data_parallel"], "cuda_available", lambda: False)
    module = mlp()
    wrapped = DataParallel(module)
    assert wrapped.device_ids == [] and wrapped.module is module
    x = nnlite.tensor(randn(4, 3, dtype=np.float64))
    assert_close(wrapped(x), module(x), rtol=0, atol=0)
    assert list(wrapped.state_dict()) == ["module." + k for k in module.state_dict()]
    with pytest.raises(RuntimeError, match="device type could not be determined"):
        data_parallel(module, x)


def test_invalid_device_ordinal_is_a_clear_error(cuda_device):
    count = nnlite.cuda.device_count()
    with pytest.raises(RuntimeError, match=f"invalid device ordinal: device cuda:{count} .* has {count} CUDA"):
        nnlite.ones(3, device=f"cuda:{count}")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        nnlite.ones(2).to(f"cuda:{count}")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        DataParallel(mlp(), device_ids=[0, count])


def test_data_parallel_with_repeated_device_equals_the_whole_batch(cuda_device):
    def run(module, x):
        module.cuda()
        return DataParallel(module, device_ids=[0, 0])(x.cuda())

    assert_matches_whole_batch(mlp(), run, randn(5, 3, dtype=np.float64))


def test_data_parallel_function_and_kwargs(cuda_device):
    class Affine(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2).double()

        def forward(self, x, shift=None):
            return self.lin(x) + shift

    module = Affine().cuda()
    x_np, s_np = randn(5, 3, dtype=np.float64), randn(5, 2, dtype=np.float64, seed=3)
    x, shift = nnlite.tensor(x_np, device="cuda"), nnlite.tensor(s_np, device="cuda")
    out = data_parallel(module, x, device_ids=[0, 0], output_device=-1, module_kwargs={"shift": shift})
    assert out.device == nnlite.device("cpu")
    assert_close(out, module(x, shift=shift), rtol=1e-12, atol=1e-12)
    assert_close(x, x_np, rtol=0, atol=0)  # inputs untouched
    with nnlite.no_grad():
        out = DataParallel(module, device_ids=[0, 0])(x, shift=shift)
    assert out.grad_fn is None
    assert_close(out, module(x, shift=shift), rtol=1e-12, atol=1e-12)


def test_one_device_moves_the_module_and_the_batch(cuda_device):
    module = mlp()
    wrapped = DataParallel(module, device_ids=[0])
    assert module[0].weight.device == nnlite.device("cuda:0") and wrapped.output_device == 0
    out = wrapped(nnlite.tensor(randn(3, 3, dtype=np.float64)))
    assert out.device == nnlite.device("cuda:0") and out.shape == (3, 2)
    everything = DataParallel(mlp().cuda())
    assert everything.device_ids == list(range(nnlite.cuda.device_count()))
    assert list(everything.state_dict())[0] == "module.0.weight"


def test_data_parallel_checks_match_torch(cuda_device):
    with pytest.raises(RuntimeError) as info:
        DataParallel(mlp(), device_ids=[0, 0])(nnlite.ones(2, 3, dtype=nnlite.float64))
    assert str(info.value) == ("module must have its parameters and buffers on device cuda:0 (device_ids[0]) "
                               "but found one of them on device: cpu")
    with pytest.raises(ValueError, match="Expected a cuda device, but got: cpu"):
        DataParallel(mlp(), device_ids=["cpu"])
    with pytest.raises(ValueError, match="at least one CUDA device"):
        DataParallel(mlp(), device_ids=[])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a short batch fills fewer replicas, silently
        out = DataParallel(mlp().cuda(), device_ids=[0, 0, 0])(nnlite.ones(1, 3, dtype=nnlite.float64).cuda())
    assert out.shape == (1, 2)
