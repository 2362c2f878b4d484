"""RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop and LBFGS vs torch.optim: eight steps
of a tiny float64 model for every option, state dicts (keys, order, shapes, dtypes, round trip),
the accepted keyword arguments, hyper-parameter errors, and every new kernel on CUDA (or the simulator)."""
import copy
import inspect
import itertools

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite import optim
from tests.helpers import assert_close
from tests.optim.test_optim import _assert_same_params, _loss, _models, _train

STEPS = 8   # RAdam with the default betas switches to its rectified step at step 6
TOL = 1e-6


def _flags(**choices):
    """Every combination of the given option values, as keyword dicts."""
    names = list(choices)
    return [dict(zip(names, values)) for values in itertools.product(*choices.values())]


CASES = (
    [("RMSprop", dict(lr=0.01, **o)) for o in _flags(momentum=[0, 0.9], centered=[False, True],
                                                     weight_decay=[0, 0.1], maximize=[False, True])]
    + [("RMSprop", dict(alpha=0.5, eps=1e-3))]
    + [("Adagrad", dict(lr=0.1, **o)) for o in _flags(lr_decay=[0, 0.1], initial_accumulator_value=[0, 0.5],
                                                      weight_decay=[0, 0.1], maximize=[False, True])]
    + [("Adadelta", dict(lr=0.5, **o)) for o in _flags(rho=[0.9, 0.5], weight_decay=[0, 0.1],
                                                       maximize=[False, True])]
    + [("Adamax", dict(lr=0.02, **o)) for o in _flags(betas=[(0.9, 0.999), (0.5, 0.8)], weight_decay=[0, 0.1],
                                                      maximize=[False, True])]
    + [("NAdam", dict(lr=0.02, **o)) for o in _flags(momentum_decay=[4e-3, 0.1], weight_decay=[0, 0.1],
                                                     decoupled_weight_decay=[False, True], maximize=[False, True])]
    + [("RAdam", dict(lr=0.02, **o)) for o in _flags(betas=[(0.9, 0.999), (0.8, 0.9)], weight_decay=[0, 0.1],
                                                     decoupled_weight_decay=[False, True], maximize=[False, True])]
    + [("ASGD", dict(lr=0.05, **o)) for o in _flags(lambd=[1e-4, 0.5], alpha=[0.75, 0.3], t0=[1e6, 3],
                                                    weight_decay=[0, 0.1], maximize=[False, True])]
    + [("Rprop", dict(lr=0.01, **o)) for o in _flags(etas=[(0.5, 1.2), (0.3, 1.5)],
                                                     step_sizes=[(1e-6, 50), (5e-3, 0.02)], maximize=[False, True])]
    + [(name, {}) for name in ["RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]])


def _assert_same_state(opt, topt):
    tstate, state = topt.state_dict()["state"], opt.state_dict()["state"]
    assert list(state) == list(tstate)
    for i, entries in tstate.items():
        assert list(state[i]) == list(entries)
        for key, value in entries.items():
            assert_close(state[i][key], value, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_steps_match_torch(torch, name, options):
    tmodel, model = _models(torch)
    topt = getattr(torch.optim, name)(tmodel.parameters(), **options)
    opt = getattr(optim, name)(model.parameters(), **options)
    _train(torch, tmodel, topt, steps=STEPS)
    _train(nnlite, model, opt, steps=STEPS)
    _assert_same_params(model, tmodel)
    _assert_same_state(opt, topt)


def test_radam_takes_both_branches():
    """The parity cases above cover RAdam's switch: rho_t <= 5 for the first steps, > 5 later."""
    beta2 = 0.999
    rho_inf = 2 / (1 - beta2) - 1
    rho = [rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t) for t in range(1, STEPS + 1)]
    assert rho[0] <= 5 < rho[-1]


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop",
                                  "LBFGS"])
def test_keyword_arguments_and_defaults_match_torch(torch, name):
    """The same parameters (foreach, capturable, fused, differentiable where torch has them), kinds and
    defaults; the param groups carry the same hyper-parameters."""
    ours, theirs = inspect.signature(getattr(optim, name)), inspect.signature(getattr(torch.optim, name))
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in theirs.parameters.values()]
    tparam, param = torch.nn.Parameter(torch.ones(2)), nn.Parameter(nnlite.ones(2))
    tgroup = getattr(torch.optim, name)([tparam]).param_groups[0]
    group = getattr(optim, name)([param]).param_groups[0]
    assert list(group) == list(tgroup)
    assert {k: v for k, v in group.items() if k != "params"} == {k: v for k, v in tgroup.items() if k != "params"}


@pytest.mark.parametrize("name, options", [("RMSprop", dict(momentum=0.9, centered=True)), ("Adagrad", {}),
                                           ("NAdam", {}), ("ASGD", dict(t0=2)), ("Rprop", {}), ("RAdam", {})])
def test_state_dict_round_trip_resumes_exactly(torch, name, options):
    tmodel, model = _models(torch)
    opt = getattr(optim, name)(model.parameters(), **options)
    _train(nnlite, model, opt, steps=3)
    _, twin = _models(torch)
    twin.load_state_dict(model.state_dict())
    resumed = getattr(optim, name)(twin.parameters(), lr=0.5)
    resumed.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert resumed.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    # loading casts float32 scalar states (mu_product, eta, mu) to the parameter's dtype, as torch
    # does, so the resumed run agrees to rounding rather than bit for bit
    assert [v.dtype.name for v in resumed.state_dict()["state"][0].values()] == \
        ["float32"] + ["float64"] * (len(resumed.state_dict()["state"][0]) - 1)
    _train(nnlite, model, opt, steps=3)
    _train(nnlite, twin, resumed, steps=3)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert_close(p, q, rtol=1e-9, atol=1e-12)


def test_torch_state_loads_into_nnlite(torch):
    """NAdam's state from torch (converted with .numpy(), mu_product included) continues as torch does."""
    tmodel, model = _models(torch)
    topt = torch.optim.NAdam(tmodel.parameters(), lr=0.05)
    _train(torch, tmodel, topt, steps=3)
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    ts = topt.state_dict()
    opt = optim.NAdam(model.parameters())
    opt.load_state_dict({"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in ts["state"].items()},
                         "param_groups": ts["param_groups"]})
    _train(torch, tmodel, topt, steps=3)
    _train(nnlite, model, opt, steps=3)
    _assert_same_params(model, tmodel)


def test_param_groups_and_add_param_group(torch):
    tmodel, model = _models(torch)
    topt = torch.optim.RMSprop(tmodel[0].parameters(), lr=0.01, momentum=0.5)
    opt = optim.RMSprop(model[0].parameters(), lr=0.01, momentum=0.5)
    topt.add_param_group({"params": tmodel[2].parameters(), "lr": 0.03, "centered": True})
    opt.add_param_group({"params": model[2].parameters(), "lr": 0.03, "centered": True})
    _train(torch, tmodel, topt)
    _train(nnlite, model, opt)
    _assert_same_params(model, tmodel)
    _assert_same_state(opt, topt)
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]


def test_adagrad_state_exists_before_the_first_step(torch):
    p = nn.Parameter(nnlite.ones(3, dtype=nnlite.float64))
    opt = optim.Adagrad([p], initial_accumulator_value=0.25)
    assert list(opt.state[p]) == ["step", "sum"]
    assert_close(opt.state[p]["sum"], np.full(3, 0.25))
    assert float(opt.state[p]["step"]) == 0


def test_closure_and_float32(torch):
    rng = np.random.default_rng(7)
    start = rng.standard_normal(6).astype(np.float32)
    tp, p = torch.nn.Parameter(torch.tensor(start)), nn.Parameter(nnlite.tensor(start))
    topt, opt = torch.optim.NAdam([tp], lr=0.05), optim.NAdam([p], lr=0.05)
    for _ in range(4):
        g = rng.standard_normal(6).astype(np.float32)

        def closure():
            p.grad = nnlite.tensor(g)
            return 1.5
        tp.grad = torch.tensor(g)
        topt.step()
        assert opt.step(closure) == 1.5
    assert p.dtype is nnlite.float32
    assert_close(p, tp, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ LBFGS

@pytest.mark.parametrize("line_search_fn, history_size, max_iter", [(None, 100, 20), (None, 2, 7),
                                                                    ("strong_wolfe", 100, 20),
                                                                    ("strong_wolfe", 3, 6)])
def test_lbfgs_matches_torch(torch, line_search_fn, history_size, max_iter):
    tmodel, model = _models(torch)
    options = dict(lr=0.5, max_iter=max_iter, history_size=history_size, line_search_fn=line_search_fn)
    topt, opt = torch.optim.LBFGS(tmodel.parameters(), **options), optim.LBFGS(model.parameters(), **options)
    losses = {}
    for lib, m, o in [(torch, tmodel, topt), (nnlite, model, opt)]:
        losses[lib] = []
        for _ in range(3):
            def closure():
                o.zero_grad()
                loss = _loss(lib, m)
                loss.backward()
                return loss
            losses[lib].append(float(o.step(closure).detach()))
    np.testing.assert_allclose(losses[nnlite], losses[torch], rtol=TOL)
    _assert_same_params(model, tmodel)
    tstate, state = topt.state_dict()["state"][0], opt.state_dict()["state"][0]
    assert list(state) == list(tstate)
    assert state["func_evals"] == tstate["func_evals"] and state["n_iter"] == tstate["n_iter"]
    assert len(state["old_dirs"]) == len(tstate["old_dirs"])
    assert_close(state["d"], tstate["d"], rtol=1e-5, atol=TOL)


def test_lbfgs_errors_and_early_exit():
    p = nn.Parameter(nnlite.ones(2))
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": [p]}, {"params": [nn.Parameter(nnlite.ones(1))]}])
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.LBFGS([p], lr=-1)
    opt = optim.LBFGS([p])
    with pytest.raises(RuntimeError, match="requires a closure"):
        opt.step()
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        def closure():
            p.grad = nnlite.ones(2)
            return 1.0
        optim.LBFGS([p], line_search_fn="armijo").step(closure)
    zero = optim.LBFGS([p])   # a gradient already below tolerance_grad: one evaluation, no update

    def flat():
        p.grad = nnlite.zeros(2)
        return 2.0
    assert zero.step(flat) == 2.0
    assert zero.state[p]["func_evals"] == 1 and zero.state[p]["n_iter"] == 0
    assert_close(p, np.ones(2))


# ------------------------------------------------------------------ errors

ERRORS = [
    ("RMSprop", dict(lr=-1), "Invalid learning rate: -1"), ("RMSprop", dict(eps=-1), "Invalid epsilon value: -1"),
    ("RMSprop", dict(momentum=-1), "Invalid momentum value: -1"),
    ("RMSprop", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("RMSprop", dict(alpha=-1), "Invalid alpha value: -1"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    ("Adagrad", dict(eps=-1), "Invalid epsilon value: -1"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"), ("Adadelta", dict(lr=-1), "Invalid learning rate: -1"),
    ("Adamax", dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    ("Adamax", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("NAdam", dict(momentum_decay=-1), "Invalid momentum_decay value: -1"),
    ("NAdam", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("RAdam", dict(eps=-1), "Invalid epsilon value: -1"), ("RAdam", dict(weight_decay=-1), "Invalid weight_decay"),
    ("ASGD", dict(lr=-1), "Invalid learning rate: -1"), ("ASGD", dict(weight_decay=-1), "Invalid weight_decay"),
    ("Rprop", dict(etas=(1.5, 1.2)), "Invalid eta values: 1.5, 1.2"),
    ("Rprop", dict(lr=-1), "Invalid learning rate: -1"),
]


@pytest.mark.parametrize("name, options, message", ERRORS)
def test_bad_hyper_parameters_raise_torchs_value_error(torch, name, options, message):
    with pytest.raises(ValueError, match=message):
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], **options)
    with pytest.raises(ValueError, match=message):
        getattr(optim, name)([nn.Parameter(nnlite.ones(2))], **options)


def test_other_bad_input():
    p = nn.Parameter(nnlite.ones(2))
    with pytest.raises(NotImplementedError, match="RMSprop does not support differentiable=True"):
        optim.RMSprop([p], differentiable=True)
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        optim.Adagrad([p], fused=True, foreach=True)
    opt = optim.Rprop([p])
    p.grad = nnlite.ones(3)
    with pytest.raises(RuntimeError, match=r"Rprop.step: the gradient of a parameter of shape \[2\] has shape \[3\]"):
        opt.step()
    assert_close(p, np.ones(2))


# ------------------------------------------------------------------ the kernels on CUDA (or the simulator)

KERNEL_CASES = [("RMSprop", dict(lr=0.1, weight_decay=0.1)), ("RMSprop", dict(lr=0.1, centered=True)),
                ("RMSprop", dict(lr=0.1, momentum=0.9, maximize=True)),
                ("RMSprop", dict(lr=0.1, momentum=0.9, centered=True)),
                ("Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.1)), ("Adadelta", dict(weight_decay=0.1)),
                ("Adamax", dict(lr=0.1, maximize=True)), ("NAdam", dict(lr=0.1, weight_decay=0.1)),
                ("RAdam", dict(lr=0.1, betas=(0.5, 0.6))), ("RAdam", dict(weight_decay=0.1, decoupled_weight_decay=True)),
                ("ASGD", dict(lr=0.1, t0=1)), ("Rprop", dict(lr=0.1))]


@pytest.mark.parametrize("name, options", KERNEL_CASES)
def test_fused_kernels_on_device_match_torch(torch, device, name, options):
    rng = np.random.default_rng(5)
    start = rng.standard_normal((3, 5))
    grads = [rng.standard_normal((3, 5)) for _ in range(3)]
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
        if value.dim() > 0:
            assert opt.state[p][key].device.type == device
        assert_close(opt.state[p][key], value, rtol=TOL, atol=TOL)


def test_lbfgs_state_dict_round_trip_resumes(torch):
    tmodel, model = _models(torch)
    opt = optim.LBFGS(model.parameters(), lr=0.5, max_iter=4, line_search_fn="strong_wolfe")

    def closure_for(m, o):
        def closure():
            o.zero_grad()
            loss = _loss(nnlite, m)
            loss.backward()
            return loss
        return closure
    opt.step(closure_for(model, opt))
    _, twin = _models(torch)
    twin.load_state_dict(model.state_dict())
    resumed = optim.LBFGS(twin.parameters(), lr=0.5, max_iter=4, line_search_fn="strong_wolfe")
    resumed.load_state_dict(copy.deepcopy(opt.state_dict()))
    for _ in range(2):
        opt.step(closure_for(model, opt))
        resumed.step(closure_for(twin, resumed))
    for p, q in zip(model.parameters(), twin.parameters()):
        assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_lbfgs_on_device_minimises_a_quadratic(torch, device):
    """Parameters on CUDA (or the simulator) go through the same host-side iteration as torch's."""
    target = np.array([1.0, -2.0, 0.5])
    results = []
    for lib, dev in [(torch, "cpu"), (nnlite, device)]:
        x = (torch.nn.Parameter(torch.zeros(3, dtype=torch.float64)) if lib is torch
             else nn.Parameter(nnlite.zeros(3, dtype=nnlite.float64, device=dev)))
        o = lib.optim.LBFGS([x], max_iter=5, line_search_fn="strong_wolfe")

        def closure():
            o.zero_grad()
            d = x - lib.tensor(target, device=dev)
            loss = (d * d * lib.tensor([1.0, 3.0, 10.0], device=dev)).sum()
            loss.backward()
            return loss
        o.step(closure)
        assert x.device.type == dev
        results.append(x.detach().cpu().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-10, atol=1e-12)


def test_tensor_learning_rate():
    p = nn.Parameter(nnlite.ones(2, dtype=nnlite.float64))
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        optim.RMSprop([p], lr=nnlite.ones(2))
    p.grad = nnlite.ones(2, dtype=nnlite.float64)
    optim.Adagrad([p], lr=nnlite.tensor(0.5)).step()
    assert_close(p, np.full(2, 0.5), rtol=1e-9)


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"])
def test_float32_parameters_match_torch(torch, name):
    """float32 parameters stay float32 and agree with torch's float32 arithmetic to rounding."""
    rng = np.random.default_rng(8)
    start = rng.standard_normal(40).astype(np.float32)
    tp, p = torch.nn.Parameter(torch.tensor(start)), nn.Parameter(nnlite.tensor(start))
    options = dict(momentum=0.9, centered=True) if name == "RMSprop" else {}
    topt, opt = getattr(torch.optim, name)([tp], **options), getattr(optim, name)([p], **options)
    for _ in range(STEPS):
        g = rng.standard_normal(40).astype(np.float32)
        tp.grad, p.grad = torch.tensor(g), nnlite.tensor(g)
        topt.step()
        opt.step()
    assert p.dtype is nnlite.float32
    assert all(v.dtype.name == str(topt.state[tp][k].dtype).replace("torch.", "") for k, v in opt.state[p].items())
    assert_close(p, tp, rtol=1e-5, atol=2e-6)
