"""nnlite.layers.batch_norm: FrozenBatchNorm2d (vs torch's x * scale + bias, checkpoints,
conversion), get_norm, NaiveSyncBatchNorm (one process and a simulated world of two),
CycleBatchNormList and nn.SyncBatchNorm, against torch built by hand."""
import numpy as np
import pytest

import nnlite
from nnlite import layers as L
from nnlite import nn
from tests.helpers import assert_close, randn, to_numpy


def _frozen_with_stats(C, dtype=nnlite.float32, device="cpu", seed=0):
    rng = np.random.default_rng(seed)
    bn = L.FrozenBatchNorm2d(C).to(device)
    stats = {"weight": rng.standard_normal(C), "bias": rng.standard_normal(C),
             "running_mean": rng.standard_normal(C), "running_var": rng.random(C) + 0.5}
    for name, value in stats.items():
        setattr(bn, name, nnlite.tensor(value, dtype=dtype, device=device))
    return bn, stats


def _torch_frozen(torch, x, stats, eps=1e-5):
    """detectron2's formula: scale = w / sqrt(var + eps), bias = b - mean * scale."""
    t = {k: torch.tensor(v, dtype=x.dtype) for k, v in stats.items()}
    scale = t["weight"] * (t["running_var"] + eps).rsqrt()
    bias = t["bias"] - t["running_mean"] * scale
    return x * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)


# ---------------------------------------------------------------- FrozenBatchNorm2d

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frozen_bn_matches_torch_affine(torch, device, dtype):
    ndt = nnlite.float32 if dtype == np.float32 else nnlite.float64
    bn, stats = _frozen_with_stats(3, ndt, device)
    x = randn(2, 3, 4, 5, dtype=dtype)
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    out, ref = bn(xt), _torch_frozen(torch, xr, stats)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert_close(out, ref, **tol)
    g = randn(*out.shape, dtype=dtype, seed=1)
    out.backward(nnlite.tensor(g, device=device))
    ref.backward(torch.tensor(g))
    assert_close(xt.grad, xr.grad, **tol)
    assert bn.weight.grad is None and not bn.weight.requires_grad


def test_frozen_bn_gradcheck():
    bn, _ = _frozen_with_stats(3, nnlite.float64)
    x = nnlite.tensor(randn(2, 3, 3, 3, dtype=np.float64), requires_grad=True)
    assert nnlite.autograd.gradcheck(bn, (x,))


def test_frozen_bn_starts_as_identity_with_var_one_minus_eps():
    bn = L.FrozenBatchNorm2d(4, eps=1e-3)
    assert list(bn.parameters()) == []
    assert sorted(bn.state_dict()) == ["bias", "running_mean", "running_var", "weight"]  # no num_batches_tracked
    assert_close(bn.running_var, np.full(4, 1 - 1e-3, np.float32))
    x = nnlite.tensor(randn(2, 4, 3, 3))
    assert_close(bn(x), x, rtol=1e-6, atol=1e-6)
    assert repr(bn) == "FrozenBatchNorm2d(num_features=4, eps=0.001)"


def test_frozen_bn_other_dtype_input_uses_buffers_cast(torch):
    bn, stats = _frozen_with_stats(3)  # float32 buffers
    x = randn(2, 3, 2, 2, dtype=np.float64)
    out = bn(nnlite.tensor(x))
    assert out.dtype is nnlite.float64
    ref = _torch_frozen(torch, torch.tensor(x, dtype=torch.float32), stats).double()
    assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_frozen_bn_loads_caffe2_checkpoint_without_stats():
    bn = L.FrozenBatchNorm2d(3)
    bn.running_mean.fill_(5.0)
    sd = {"weight": nnlite.tensor([1.0, 2.0, 3.0]), "bias": nnlite.tensor([0.0, 1.0, 0.0])}  # no metadata
    bn.load_state_dict(sd)
    assert_close(bn.running_mean, np.zeros(3))
    assert_close(bn.running_var, np.ones(3))
    assert_close(bn.weight, [1.0, 2.0, 3.0])


def test_frozen_bn_current_checkpoint_needs_stats():
    src = L.FrozenBatchNorm2d(3)
    sd = src.state_dict()
    del sd["running_var"]
    with pytest.raises(RuntimeError, match="Missing key.*running_var"):
        L.FrozenBatchNorm2d(3).load_state_dict(sd)
    full = src.state_dict()
    assert full._metadata[""]["version"] == 3
    L.FrozenBatchNorm2d(3).load_state_dict(full)


def test_frozen_bn_errors():
    bn = L.FrozenBatchNorm2d(3)
    with pytest.raises(RuntimeError, match=r"FrozenBatchNorm2d: expected an input \(N, 3, H, W\) with 3 "
                                           r"channels, got input of shape \(2, 4, 5, 5\)"):
        bn(nnlite.zeros(2, 4, 5, 5))
    with pytest.raises(RuntimeError, match="FrozenBatchNorm2d"):
        bn(nnlite.zeros(3))


def test_convert_frozen_batchnorm_container_in_place():
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3, eps=1e-3),
                          nn.Sequential(nn.SyncBatchNorm(3)), nn.BatchNorm1d(3))
    bn = model[1]
    with nnlite.no_grad():
        bn.weight.copy_(nnlite.tensor([1.0, 2.0, 3.0]))
        bn.running_mean.copy_(nnlite.tensor([0.5, 0.25, 0.0]))
    bn.num_batches_tracked.fill_(7)
    out = L.FrozenBatchNorm2d.convert_frozen_batchnorm(model)
    assert out is model
    frozen = model[1]
    assert isinstance(frozen, L.FrozenBatchNorm2d) and isinstance(model[2][0], L.FrozenBatchNorm2d)
    assert isinstance(model[3], nn.BatchNorm1d)  # only 2-D batch norms convert
    assert frozen.eps == 1e-3 and int(frozen.num_batches_tracked) == 7
    assert_close(frozen.weight, [1.0, 2.0, 3.0])
    assert_close(frozen.running_mean, [0.5, 0.25, 0.0])
    assert not frozen.weight.requires_grad
    with nnlite.no_grad():
        bn.weight.fill_(9.0)  # weight and bias are copies
    assert_close(frozen.weight, [1.0, 2.0, 3.0])


def test_convert_frozen_batchnorm_bare_bn_gives_new_module_and_back():
    bn = nn.BatchNorm2d(3)
    x = nnlite.tensor(randn(4, 3, 2, 2))
    bn(x)  # running stats away from the identity
    bn.eval()
    frozen = L.FrozenBatchNorm2d.convert_frozen_batchnorm(bn)
    assert frozen is not bn and isinstance(frozen, L.FrozenBatchNorm2d)
    assert_close(frozen(x), bn(x), rtol=1e-5, atol=1e-6)
    back = L.FrozenBatchNorm2d.convert_frozenbatchnorm2d_to_batchnorm2d(nn.Sequential(frozen))[0]
    assert type(back) is nn.BatchNorm2d
    back.eval()
    assert_close(back(x), bn(x), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- get_norm

def test_get_norm_every_name():
    expected = {"BN": nn.BatchNorm2d, "SyncBN": nn.SyncBatchNorm, "FrozenBN": L.FrozenBatchNorm2d,
                "GN": nn.GroupNorm, "nnSyncBN": nn.SyncBatchNorm, "naiveSyncBN": L.NaiveSyncBatchNorm,
                "naiveSyncBN_N": L.NaiveSyncBatchNorm, "LN": L.batch_norm.LayerNorm}
    for name, cls in expected.items():
        layer = L.get_norm(name, 64)
        assert type(layer) is cls, name
    assert L.get_norm("GN", 64).num_groups == 32
    assert L.get_norm("naiveSyncBN_N", 8)._stats_mode == "N"
    assert L.get_norm("naiveSyncBN", 8)._stats_mode == ""
    assert L.get_norm("", 8) is None and L.get_norm(None, 8) is None
    assert L.get_norm(lambda c: nn.GroupNorm(2, c), 8).num_channels == 8


def test_get_norm_errors():
    with pytest.raises(KeyError, match=r"get_norm: unknown norm 'BatchNorm'; expected one of"):
        L.get_norm("BatchNorm", 8)
    with pytest.raises(TypeError, match="get_norm: norm must be a str, None or a callable, got int"):
        L.get_norm(3, 8)


def test_layer_norm_matches_torch_formula(torch):
    ln = L.get_norm("LN", 3)
    with nnlite.no_grad():
        ln.weight.copy_(nnlite.tensor([1.0, -2.0, 0.5]))
        ln.bias.copy_(nnlite.tensor([0.1, 0.2, 0.3]))
    x = randn(2, 3, 4, 4, dtype=np.float64)
    xt = nnlite.tensor(x, requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    out = ln.double()(xt)
    u = xr.mean(1, keepdim=True)
    s = (xr - u).pow(2).mean(1, keepdim=True)
    w, b = torch.tensor([1.0, -2.0, 0.5]).double(), torch.tensor([0.1, 0.2, 0.3]).double()
    ref = w[:, None, None] * ((xr - u) / torch.sqrt(s + 1e-6)) + b[:, None, None]
    assert_close(out, ref, rtol=1e-12, atol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    assert_close(xt.grad, xr.grad, rtol=1e-9, atol=1e-12)
    with pytest.raises(RuntimeError, match=r"LayerNorm: expected an input \(N, 3, H, W\)"):
        ln(nnlite.zeros(2, 4, 1, 1, dtype=nnlite.float64))


# ---------------------------------------------------------------- NaiveSyncBatchNorm

@pytest.mark.parametrize("stats_mode", ["", "N"])
def test_naive_sync_bn_single_process_is_batchnorm2d(torch, stats_mode):
    x = randn(4, 3, 5, 5)
    m = L.NaiveSyncBatchNorm(3, stats_mode=stats_mode, momentum=0.3)
    r = torch.nn.BatchNorm2d(3, momentum=0.3)
    for train in (True, False):
        m.train(train)
        r.train(train)
        assert_close(m(nnlite.tensor(x)), r(torch.tensor(x)), rtol=1e-5, atol=1e-5)
    assert_close(m.running_mean, r.running_mean, rtol=1e-6, atol=1e-7)
    assert_close(m.running_var, r.running_var, rtol=1e-6, atol=1e-7)


def test_naive_sync_bn_empty_batch_single_process():
    m = L.NaiveSyncBatchNorm(3, stats_mode="N")
    x = nnlite.zeros(0, 3, 4, 4, requires_grad=True)
    out = m(x)
    assert tuple(out.shape) == (0, 3, 4, 4)
    out.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 4, 4)
    assert_close(m.running_mean, np.zeros(3))
    assert_close(m.running_var, np.ones(3))


def test_naive_sync_bn_bad_stats_mode():
    with pytest.raises(ValueError, match=r"NaiveSyncBatchNorm: stats_mode must be '' or 'N', got 'M'"):
        L.NaiveSyncBatchNorm(3, stats_mode="M")


@pytest.fixture
def two_identical_ranks(monkeypatch):
    """A world of two processes holding the same batch: the all-reduce doubles."""
    from nnlite.layers import batch_norm as bn_module
    monkeypatch.setattr(bn_module, "_world_size", lambda: 2)
    monkeypatch.setattr(bn_module, "_all_reduce_sum", lambda vec: vec * 2)


@pytest.mark.parametrize("stats_mode", ["", "N"])
def test_naive_sync_bn_across_ranks_matches_global_batch(torch, two_identical_ranks, stats_mode):
    """Two ranks with the same batch: the statistics are those of the one batch; running_var
    takes the biased variance (detectron2's choice, unlike BatchNorm's unbiased one)."""
    x = randn(3, 2, 4, 4, dtype=np.float64)
    m = L.NaiveSyncBatchNorm(2, stats_mode=stats_mode).double()
    with nnlite.no_grad():
        m.weight.copy_(nnlite.tensor([1.5, -0.5], dtype=nnlite.float64))
        m.bias.copy_(nnlite.tensor([0.2, 0.1], dtype=nnlite.float64))
    xt = nnlite.tensor(x, requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    out = m(xt)
    w = torch.tensor([1.5, -0.5], dtype=torch.float64)
    b = torch.tensor([0.2, 0.1], dtype=torch.float64)
    ref = torch.nn.functional.batch_norm(xr, None, None, w, b, training=True, eps=1e-5)
    assert_close(out, ref, rtol=1e-10, atol=1e-10)
    g = randn(*x.shape, dtype=np.float64, seed=2)
    out.backward(nnlite.tensor(g))
    ref.backward(torch.tensor(g))
    assert_close(xt.grad, xr.grad, rtol=1e-8, atol=1e-10)
    assert m.weight.grad is not None
    var = x.var(axis=(0, 2, 3))  # biased
    assert_close(m.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-10, atol=1e-12)
    assert_close(m.running_var, 0.9 + 0.1 * var, rtol=1e-10, atol=1e-12)


def test_naive_sync_bn_n_mode_empty_rank(two_identical_ranks):
    m = L.NaiveSyncBatchNorm(2, stats_mode="N")
    x = nnlite.zeros(0, 2, 3, 3, requires_grad=True)
    out = m(x)
    assert tuple(out.shape) == (0, 2, 3, 3)
    out.sum().backward()
    assert tuple(x.grad.shape) == (0, 2, 3, 3)
    assert_close(m.running_mean, np.zeros(2))  # a total of 0 samples updates nothing
    assert_close(m.running_var, np.ones(2))


def test_naive_sync_bn_equal_mode_rejects_empty_batch(two_identical_ranks):
    with pytest.raises(ValueError, match=r'SyncBatchNorm\(stats_mode=""\) does not support zero batch size'):
        L.NaiveSyncBatchNorm(2)(nnlite.zeros(0, 2, 3, 3))


# ---------------------------------------------------------------- CycleBatchNormList

def test_cycle_batchnorm_list(torch):
    m = L.CycleBatchNormList(2, num_features=3, momentum=0.5)
    assert len(m) == 2 and all(not bn.affine for bn in m)
    assert sorted(name for name, _ in m.named_parameters()) == ["bias", "weight"]
    with nnlite.no_grad():
        m.weight.copy_(nnlite.tensor([2.0, 1.0, 0.5]))
    refs = [torch.nn.BatchNorm2d(3, momentum=0.5, affine=False) for _ in range(2)]
    w = torch.tensor([2.0, 1.0, 0.5]).reshape(1, -1, 1, 1)
    for step in range(4):
        x = randn(2, 3, 3, 3, seed=step)
        assert_close(m(nnlite.tensor(x)), refs[step % 2](torch.tensor(x)) * w, rtol=1e-5, atol=1e-5)
    for bn, ref in zip(m, refs):
        assert_close(bn.running_mean, ref.running_mean, rtol=1e-5, atol=1e-6)
    plain = L.CycleBatchNormList(3, affine=False, num_features=2)
    assert list(plain.named_parameters()) == [] and plain.extra_repr() == "affine=False"


# ---------------------------------------------------------------- nn.SyncBatchNorm (one process)

@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 2, 2, 2)])
def test_sync_batchnorm_single_process_is_batchnorm(torch, shape):
    x = randn(*shape)
    m, r = nn.SyncBatchNorm(3, momentum=0.2), torch.nn.SyncBatchNorm(3, momentum=0.2)
    xt, xr = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = m(xt), r(xr)
    assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    ref.sum().backward()
    assert_close(xt.grad, xr.grad, rtol=1e-4, atol=1e-5)
    assert_close(m.running_var, r.running_var, rtol=1e-6, atol=1e-7)
    m.eval()
    r.eval()
    assert_close(m(nnlite.tensor(x)), r(torch.tensor(x)), rtol=1e-5, atol=1e-5)


def test_sync_batchnorm_errors():
    with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
        nn.SyncBatchNorm(3)(nnlite.zeros(3))
    with pytest.raises(ValueError, match="SyncBatchNorm number of input channels should be non-zero"):
        nn.SyncBatchNorm(0)(nnlite.zeros(2, 0))


def test_convert_sync_batchnorm_shares_state():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Sequential(nn.BatchNorm3d(3, affine=False)))
    model.eval()
    bn = model[1]
    out = nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group="group")
    assert out is model
    sync = model[1]
    assert type(sync) is nn.SyncBatchNorm and type(model[2][0]) is nn.SyncBatchNorm
    assert sync.weight is bn.weight and sync.running_mean is bn.running_mean
    assert sync.process_group == "group" and not sync.training
    assert model[2][0].weight is None
    bare = nn.BatchNorm2d(4)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(bare)
    assert converted is not bare and isinstance(converted, nn.SyncBatchNorm)
    assert to_numpy(converted.num_batches_tracked) == 0
