"""nnlite.optim vs torch.optim: four steps of a tiny model in float64 for every option combination,
state dicts (layout, round trip, torch's state loaded into nnlite), errors, and the CUDA kernels."""
import copy
import itertools

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite import optim
from tests.helpers import assert_close

STEPS = 4
TOL = 1e-6


def _sgd_options():
    for momentum, dampening, nesterov in [(0, 0, False), (0.9, 0, False), (0.9, 0.3, False), (0.8, 0, True)]:
        for weight_decay, maximize in itertools.product([0, 0.1], [False, True]):
            yield dict(lr=0.05, momentum=momentum, dampening=dampening, nesterov=nesterov,
                       weight_decay=weight_decay, maximize=maximize)


def _adam_options(weight_decays):
    for amsgrad, maximize, weight_decay in itertools.product([False, True], [False, True], weight_decays):
        yield dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=weight_decay, amsgrad=amsgrad,
                   maximize=maximize)


CASES = ([("SGD", o) for o in _sgd_options()] + [("Adam", o) for o in _adam_options([0, 0.1])]
         + [("AdamW", o) for o in _adam_options([0, 0.1])] + [("Adam", {}), ("AdamW", {}), ("SGD", {})])


def _models(torch):
    """The same tiny float64 MLP in torch and nnlite (torch's initial weights loaded into nnlite)."""
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    return tmodel, model


_X = np.random.default_rng(3).standard_normal((6, 4))
_Y = np.random.default_rng(4).standard_normal((6, 2))


def _loss(lib, model):
    d = model(lib.tensor(_X)) - lib.tensor(_Y)
    return (d * d).mean()


def _train(lib, model, opt, steps=STEPS):
    for _ in range(steps):
        opt.zero_grad()
        _loss(lib, model).backward()
        opt.step()


def _assert_same_params(model, tmodel, tol=TOL):
    for (name, p), (_, tp) in zip(model.named_parameters(), tmodel.named_parameters()):
        assert_close(p, tp, rtol=tol, atol=tol)


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_four_steps_match_torch(torch, name, options):
    tmodel, model = _models(torch)
    topt = getattr(torch.optim, name)(tmodel.parameters(), **options)
    opt = getattr(optim, name)(model.parameters(), **options)
    _train(torch, tmodel, topt)
    _train(nnlite, model, opt)
    _assert_same_params(model, tmodel)
    for i, state in topt.state_dict()["state"].items():
        ours = opt.state_dict()["state"][i]
        assert list(ours) == list(state)
        for key, value in state.items():
            if value is None:
                assert ours[key] is None
            else:
                assert_close(ours[key], value, rtol=TOL, atol=TOL)


def test_param_groups_closure_and_zero_grad_to_zero(torch):
    tmodel, model = _models(torch)
    tgroups = [{"params": tmodel[0].parameters()}, {"params": tmodel[2].parameters(), "lr": 0.3}]
    groups = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.3}]
    topt = torch.optim.SGD(tgroups, lr=0.1, momentum=0.5)
    opt = optim.SGD(groups, lr=0.1, momentum=0.5)
    losses = {}
    for lib, m, o in [(torch, tmodel, topt), (nnlite, model, opt)]:
        losses[lib] = []
        for _ in range(STEPS):
            o.zero_grad(set_to_none=False)

            def closure():
                loss = _loss(lib, m)
                loss.backward()
                return loss
            losses[lib].append(float(o.step(closure).detach()))
    np.testing.assert_allclose(losses[nnlite], losses[torch], rtol=TOL)
    _assert_same_params(model, tmodel)
    assert opt.param_groups[1]["lr"] == 0.3 and opt.param_groups[0]["lr"] == 0.1
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())


def test_state_dict_layout_matches_torch(torch):
    tmodel, model = _models(torch)
    for name in ["SGD", "Adam", "AdamW"]:
        kwargs = {"momentum": 0.9} if name == "SGD" else {"amsgrad": True}
        topt = getattr(torch.optim, name)(tmodel.parameters(), lr=0.01, **kwargs)
        opt = getattr(optim, name)(model.parameters(), lr=0.01, **kwargs)
        _train(torch, tmodel, topt, steps=1)
        _train(nnlite, model, opt, steps=1)
        ts, ns = topt.state_dict(), opt.state_dict()
        assert ns["param_groups"] == ts["param_groups"]
        assert list(ns["state"]) == list(ts["state"])
        for i in ts["state"]:
            for key, value in ts["state"][i].items():
                assert tuple(ns["state"][i][key].shape) == tuple(value.shape)
                assert ns["state"][i][key].dtype.name == str(value.dtype).replace("torch.", "")


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_load_state_dict_resumes_exactly(torch, name):
    kwargs = {"lr": 0.05, "momentum": 0.9} if name == "SGD" else {"lr": 0.05, "amsgrad": True}
    tmodel, model = _models(torch)
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    _train(nnlite, model, opt, steps=2)
    resumed = getattr(optim, name)(model.parameters(), lr=1.0)
    # (load_state_dict adopts the given tensors when dtype and device match, as torch does: copy them)
    resumed.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert resumed.param_groups[0]["lr"] == 0.05
    # the reference: the original optimizer's state on a copy of the model
    _, twin = _models(torch)
    twin.load_state_dict(model.state_dict())
    ref = getattr(optim, name)(twin.parameters(), **kwargs)
    ref.load_state_dict(copy.deepcopy(opt.state_dict()))
    _train(nnlite, model, resumed, steps=2)
    _train(nnlite, twin, ref, steps=2)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert_close(p, q, rtol=0, atol=0)


def test_loading_torch_optimizer_state(torch):
    """torch's state dict, converted with .numpy(), resumes in nnlite where torch would continue."""
    tmodel, model = _models(torch)
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.05)
    _train(torch, tmodel, topt, steps=2)
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    ts = topt.state_dict()
    converted = {"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in ts["state"].items()},
                 "param_groups": ts["param_groups"]}
    opt = optim.Adam(model.parameters())
    opt.load_state_dict(converted)
    assert opt.state_dict()["state"][0]["step"].item() == 2
    _train(torch, tmodel, topt, steps=2)
    _train(nnlite, model, opt, steps=2)
    _assert_same_params(model, tmodel)


def test_load_state_dict_moves_state_to_parameter_dtype():
    p = nn.Parameter(nnlite.ones(3, dtype=nnlite.float64))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict({"state": {0: {"momentum_buffer": np.ones(3, np.float32)}},
                         "param_groups": [{**opt.param_groups[0], "params": [0]}]})
    assert opt.state[p]["momentum_buffer"].dtype is nnlite.float64


def test_optimizer_errors():
    p = nn.Parameter(nnlite.ones(2))
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid momentum value: -0.5"):
        optim.SGD([p], momentum=-0.5)
    with pytest.raises(ValueError, match="Invalid weight_decay value: -1"):
        optim.SGD([p], weight_decay=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        optim.SGD([p], nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0: 1.0"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: -0.1"):
        optim.AdamW([p], betas=(0.9, -0.1))
    with pytest.raises(ValueError, match="Invalid epsilon value: -1"):
        optim.Adam([p], eps=-1)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got nnlite.Tensor"):
        optim.SGD(p)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        optim.SGD([p, 3])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p * 2])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}])
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]})
    p.grad = nnlite.ones(3)
    with pytest.raises(RuntimeError, match=r"gradient of a parameter of shape \[2\] has shape \[3\]"):
        opt.step()


def test_repr_and_param_names(torch):
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    t = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    assert repr(optim.SGD(model.parameters(), lr=0.1)) == repr(t)


def test_parameters_without_grad_are_skipped_and_versions_bump():
    a, b = nn.Parameter(nnlite.ones(2)), nn.Parameter(nnlite.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = nnlite.ones(2)
    version = a._version[0]
    opt.step()
    assert a._version[0] == version + 1
    assert_close(b, np.ones(2))
    assert b not in opt.state
    assert float(a[0]) < 1


def test_non_contiguous_parameter_is_updated_in_place():
    base = nnlite.tensor(np.arange(6.0).reshape(2, 3)).t()
    p = nn.Parameter(base)
    assert not p.is_contiguous()
    p.grad = nnlite.ones(3, 2, dtype=nnlite.float64)
    optim.SGD([p], lr=0.5).step()
    assert_close(p, np.arange(6.0).reshape(2, 3).T - 0.5)


# ------------------------------------------------------------------ the kernels on CUDA (or the simulator)

KERNEL_CASES = [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)),
                ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                ("Adam", dict(lr=0.1, weight_decay=0.1)), ("Adam", dict(lr=0.1, amsgrad=True, maximize=True)),
                ("AdamW", dict(lr=0.1, amsgrad=True))]


@pytest.mark.parametrize("name, options", KERNEL_CASES)
def test_fused_kernels_on_device_match_torch(torch, device, name, options):
    """Each step's gradient is given directly (the same sequence to both libraries)."""
    rng = np.random.default_rng(5)
    start = rng.standard_normal((3, 5))
    grads = [rng.standard_normal((3, 5)) for _ in range(STEPS)]
    tp = torch.nn.Parameter(torch.tensor(start))
    p = nn.Parameter(nnlite.tensor(start, device=device))
    topt, opt = getattr(torch.optim, name)([tp], **options), getattr(optim, name)([p], **options)
    for g in grads:
        tp.grad, p.grad = torch.tensor(g), nnlite.tensor(g, device=device)
        topt.step()
        opt.step()
    assert p.device.type == device
    assert_close(p, tp, rtol=TOL, atol=TOL)
    for key, value in topt.state[tp].items():
        if key != "step":
            assert opt.state[p][key].device.type == device
            assert_close(opt.state[p][key], value, rtol=TOL, atol=TOL)


def test_float32_parameters_match_torch(torch):
    rng = np.random.default_rng(6)
    start = rng.standard_normal(7).astype(np.float32)
    tp, p = torch.nn.Parameter(torch.tensor(start)), nn.Parameter(nnlite.tensor(start))
    topt, opt = torch.optim.AdamW([tp], lr=0.01, amsgrad=True), optim.AdamW([p], lr=0.01, amsgrad=True)
    for _ in range(STEPS):
        g = rng.standard_normal(7).astype(np.float32)
        tp.grad, p.grad = torch.tensor(g), nnlite.tensor(g)
        topt.step()
        opt.step()
    assert p.dtype is nnlite.float32
    assert_close(p, tp, rtol=1e-5, atol=1e-6)


def test_zero_denominator_gives_nan_like_torch(torch):
    """eps=0 with a zero gradient divides 0 by 0: NaN, as in torch, never a ZeroDivisionError."""
    tp = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    p = nn.Parameter(nnlite.ones(3, dtype=nnlite.float64))
    tp.grad, p.grad = torch.zeros(3, dtype=torch.float64), nnlite.zeros(3, dtype=nnlite.float64)
    torch.optim.Adam([tp], eps=0.0).step()
    optim.Adam([p], eps=0.0).step()
    assert np.isnan(p.detach().numpy()).all() and np.isnan(tp.detach().numpy()).all()
