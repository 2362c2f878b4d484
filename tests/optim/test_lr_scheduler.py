"""nnlite.optim.lr_scheduler vs torch.optim.lr_scheduler: the lr (and cycled momentum) sequence over 30
steps for every scheduler and option, state dicts (keys and round trip), step(epoch)'s closed forms,
composition, warnings and errors."""
import warnings

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite import optim
from nnlite.optim import lr_scheduler

STEPS = 30


def _optimizer(lib, name="SGD", **options):
    """Two param groups (lr 0.1 and 0.05) over a tiny Linear."""
    linear = (lib.nn.Linear if lib is not nnlite else nn.Linear)(2, 2)
    weight, bias = list(linear.parameters())
    return getattr(lib.optim, name)([{"params": [weight]}, {"params": [bias], "lr": 0.05}], lr=0.1, **options)


def _gamma_lambda(epoch):
    return 0.9 ** epoch + 0.1


class _Scale:
    """A callable object: its attributes go into the scheduler's state dict."""

    def __init__(self):
        self.base = 0.97

    def __call__(self, epoch):
        return self.base


CASES = [
    ("StepLR", dict(step_size=3, gamma=0.5)), ("StepLR", dict(step_size=1)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)), ("MultiStepLR", dict(milestones=[10, 20])),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)), ("CosineAnnealingLR", dict(T_max=30)),
    ("CosineAnnealingWarmRestarts", dict(T_0=4)), ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.01)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=31)),
    ("OneCycleLR", dict(max_lr=[1.0, 2.0], epochs=4, steps_per_epoch=8, three_phase=True, anneal_strategy="linear",
                        div_factor=10.0, final_div_factor=100.0, pct_start=0.25)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=40, cycle_momentum=False)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=40, base_momentum=[0.8, 0.7], max_momentum=0.9)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.9)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, scale_fn=_gamma_lambda, scale_mode="iterations")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, scale_fn=_Scale(), cycle_momentum=False)),
    ("LinearLR", dict(start_factor=0.2, total_iters=6)), ("LinearLR", dict(start_factor=1.0, end_factor=0.1)),
    ("LinearLR", {}), ("ConstantLR", dict(factor=0.5, total_iters=4)), ("ConstantLR", {}),
    ("PolynomialLR", dict(total_iters=8, power=2.0)), ("PolynomialLR", {}),
    ("LambdaLR", dict(lr_lambda=_gamma_lambda)), ("LambdaLR", dict(lr_lambda=[_gamma_lambda, lambda e: 1 / (e + 1)])),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.95)), ("MultiplicativeLR", dict(lr_lambda=_Scale())),
]
MOMENTUM = {"CyclicLR", "OneCycleLR"}


def _run(lib, name, options, optimizer="SGD", steps=STEPS):
    opt = _optimizer(lib, optimizer, momentum=0.9) if optimizer == "SGD" and name in MOMENTUM \
        else _optimizer(lib, optimizer)
    scheduler = getattr(lib.optim.lr_scheduler, name)(opt, **options)
    rows = []
    for _ in range(steps):
        opt.step()
        scheduler.step()
        momentum = [g.get("momentum", g.get("betas", (np.nan,))[0]) for g in opt.param_groups]
        rows.append(list(scheduler.get_last_lr()) + momentum)
    return np.array(rows, dtype=float), scheduler, opt


def _comparable(state):
    """A scheduler state dict without its functions (compared by name) and with tuples as lists."""
    return {k: (v if not callable(v) else v.__name__) for k, v in state.items()}


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_sequence_and_state_dict_match_torch(torch, name, options):
    expected, tscheduler, topt = _run(torch, name, options)
    actual, scheduler, opt = _run(nnlite, name, options)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)
    tstate, state = tscheduler.state_dict(), scheduler.state_dict()
    assert sorted(state) == sorted(tstate)
    for key in ("last_epoch", "_step_count", "base_lrs", "_last_lr", "lr_lambdas", "_scale_fn_custom"):
        if key in tstate:
            assert state[key] == pytest.approx(tstate[key]) if key != "lr_lambdas" else state[key] == tstate[key]
    assert [sorted(g) for g in opt.state_dict()["param_groups"]] == \
        [sorted(g) for g in topt.state_dict()["param_groups"]]


@pytest.mark.parametrize("name, options", [("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3)),
                                           ("OneCycleLR", dict(max_lr=0.3, total_steps=35, three_phase=True))])
def test_beta1_is_cycled_for_adam(torch, name, options):
    expected, _, _ = _run(torch, name, options, optimizer="Adam")
    actual, _, opt = _run(nnlite, name, options, optimizer="Adam")
    np.testing.assert_allclose(actual, expected, rtol=1e-12)
    assert opt.param_groups[0]["betas"][1] == 0.999


CLOSED_FORM = [("StepLR", dict(step_size=3, gamma=0.5)), ("MultiStepLR", dict(milestones=[2, 5, 5])),
               ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR", dict(T_max=7)),
               ("LinearLR", dict(total_iters=6)), ("ConstantLR", dict(total_iters=4)),
               ("PolynomialLR", dict(total_iters=8, power=2.0)),
               ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2))]


@pytest.mark.parametrize("name, options", CLOSED_FORM)
def test_step_with_epoch_uses_the_closed_form(torch, name, options):
    results = []
    for lib in (torch, nnlite):
        opt = _optimizer(lib)
        scheduler = getattr(lib.optim.lr_scheduler, name)(opt, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = []
            for epoch in [3, 7, 1, 12, 2.5] if name == "CosineAnnealingWarmRestarts" else [3, 7, 1, 12, 2]:
                opt.step()
                scheduler.step(epoch)
                rows.append(scheduler.get_last_lr())
        results.append(np.array(rows, dtype=float))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


def test_sequential_chained_and_plateau_match_torch(torch):
    metrics = [5, 4, 4, 4.5, 3.95, 3.9, 4, 4, 4, 2]
    results = []
    for lib in (torch, nnlite):
        L = lib.optim.lr_scheduler
        o1, o2, o3, o4 = (_optimizer(lib) for _ in range(4))
        sequential = L.SequentialLR(o1, [L.LinearLR(o1, 0.1, total_iters=3), L.ExponentialLR(o1, 0.9),
                                         L.StepLR(o1, 2)], milestones=[4, 10])
        chained = L.ChainedScheduler([L.ExponentialLR(o2, 0.9), L.MultiStepLR(o2, [3, 6])])
        plateau = L.ReduceLROnPlateau(o3, patience=2, cooldown=1, factor=0.5, threshold_mode="abs", threshold=0.1)
        plateau_max = L.ReduceLROnPlateau(o4, mode="max", patience=1, min_lr=[0.02, 0.01], factor=0.3)
        rows = []
        for i in range(STEPS):
            for o in (o1, o2, o3, o4):
                o.step()
            sequential.step()
            chained.step()
            plateau.step(metrics[i % 10])
            plateau_max.step(-metrics[i % 10] + (i % 3))
            rows.append(sequential.get_last_lr() + chained.get_last_lr() + plateau.get_last_lr()
                        + plateau_max.get_last_lr())
        results.append((np.array(rows), sequential.state_dict(), chained.state_dict(), plateau.state_dict()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    for ours, theirs in zip(results[1][1:], results[0][1:]):
        assert sorted(ours) == sorted(theirs)
        if "_schedulers" in theirs:
            assert [sorted(s) for s in ours["_schedulers"]] == [sorted(s) for s in theirs["_schedulers"]]
    assert results[1][3]["best"] == results[0][3]["best"]


def test_state_dict_round_trip_resumes(torch):
    opt = _optimizer(nnlite)
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=9)
    for _ in range(4):
        opt.step()
        scheduler.step()
    state = scheduler.state_dict()
    opt2 = _optimizer(nnlite)
    opt2.load_state_dict(opt.state_dict())
    resumed = lr_scheduler.CosineAnnealingLR(opt2, T_max=1)
    resumed.load_state_dict(state)
    assert resumed.T_max == 9
    for _ in range(6):
        opt.step()
        opt2.step()
        scheduler.step()
        resumed.step()
        assert resumed.get_last_lr() == scheduler.get_last_lr()


def test_initial_lr_and_resuming_with_last_epoch():
    opt = _optimizer(nnlite)
    lr_scheduler.StepLR(opt, 2)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
    with pytest.raises(KeyError, match=r"param 'initial_lr' is not specified in param_groups\[0\]"):
        lr_scheduler.StepLR(_optimizer(nnlite), 2, last_epoch=3)
    resumed = lr_scheduler.StepLR(opt, 2, gamma=0.5, last_epoch=3)   # initial_lr is there now
    assert resumed.last_epoch == 4 and resumed.base_lrs == [0.1, 0.05]


def test_warns_when_stepped_before_the_optimizer():
    opt = _optimizer(nnlite)
    scheduler = lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        scheduler.step()
    opt = _optimizer(nnlite)
    scheduler = lr_scheduler.ExponentialLR(opt, 0.5)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
        scheduler.step(3)


ERRORS = [
    (TypeError, "object is not an Optimizer", lambda L, o: L.StepLR(object(), 2)),
    (TypeError, "list is not an Optimizer", lambda L, o: L.ReduceLROnPlateau([])),
    (TypeError, "object is not an Optimizer", lambda L, o: L.OneCycleLR(object(), 0.1, total_steps=3)),
    (ValueError, "Constant multiplicative factor expected to be between 0 and 1.", lambda L, o: L.ConstantLR(o, 2.0)),
    (ValueError, "Starting multiplicative factor expected to be greater than 0", lambda L, o: L.LinearLR(o, 0.0)),
    (ValueError, "Ending multiplicative factor expected to be between 0 and 1.", lambda L, o: L.LinearLR(o, 0.5, 1.5)),
    (ValueError, "Expected positive integer T_0, but got 0", lambda L, o: L.CosineAnnealingWarmRestarts(o, 0)),
    (ValueError, "Expected integer T_mult >= 1, but got 0", lambda L, o: L.CosineAnnealingWarmRestarts(o, 2, 0)),
    (ValueError, "Expected positive integer total_steps, but got 0", lambda L, o: L.OneCycleLR(o, 0.1, total_steps=0)),
    (ValueError, "You must define either total_steps OR", lambda L, o: L.OneCycleLR(o, 0.1)),
    (ValueError, "Expected float between 0 and 1 pct_start, but got 1.5",
     lambda L, o: L.OneCycleLR(o, 0.1, total_steps=9, pct_start=1.5)),
    (ValueError, "anneal_strategy must be one of 'cos' or 'linear', instead got step",
     lambda L, o: L.OneCycleLR(o, 0.1, total_steps=9, anneal_strategy="step")),
    (ValueError, "max_lr must have the same length as optimizer.param_groups",
     lambda L, o: L.OneCycleLR(o, [0.1], total_steps=9)),
    (ValueError, "mode is invalid and scale_fn is None", lambda L, o: L.CyclicLR(o, 0.1, 1.0, mode="square")),
    (ValueError, "Expected 2 lr_lambdas, but got 1", lambda L, o: L.LambdaLR(o, [_gamma_lambda])),
    (TypeError, "lr_lambda should be a function, but got float", lambda L, o: L.MultiplicativeLR(o, 0.5)),
    (ValueError, "Factor should be < 1.0.", lambda L, o: L.ReduceLROnPlateau(o, factor=1.0)),
    (ValueError, "mode average is unknown!", lambda L, o: L.ReduceLROnPlateau(o, mode="average")),
    (ValueError, "threshold mode pct is unknown!", lambda L, o: L.ReduceLROnPlateau(o, threshold_mode="pct")),
    (ValueError, "expected 2 min_lrs, got 3", lambda L, o: L.ReduceLROnPlateau(o, min_lr=[0, 0, 0])),
    (ValueError, "SequentialLR expects at least one scheduler", lambda L, o: L.SequentialLR(o, [], [])),
    (ValueError, "Sequential Schedulers expects number of schedulers provided to be one more",
     lambda L, o: L.SequentialLR(o, [L.StepLR(o, 2)], [3])),
    (ValueError, "does not support `ReduceLROnPlateau`",
     lambda L, o: L.ChainedScheduler([L.ReduceLROnPlateau(o)])),
    (ValueError, "ChainedScheduler expects at least one scheduler", lambda L, o: L.ChainedScheduler([])),
]


@pytest.mark.parametrize("error, message, build", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_match_torch(torch, error, message, build):
    for lib in (torch, nnlite):
        with pytest.raises(error, match=message):
            build(lib.optim.lr_scheduler, _optimizer(lib))


def test_cycle_momentum_needs_momentum_and_one_cycle_stops_at_total_steps(torch):
    for lib in (torch, nnlite):
        L = lib.optim.lr_scheduler
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            L.CyclicLR(_optimizer(lib, "Adagrad"), 0.01, 0.1)
        opt = _optimizer(lib)
        scheduler = L.OneCycleLR(opt, 0.1, total_steps=3, cycle_momentum=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(3):
                scheduler.step()
            with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
                scheduler.step()


def test_schedulers_drive_training(torch):
    """The scheduled lr reaches the optimizer's step: nnlite SGD + StepLR = torch SGD + StepLR."""
    results = []
    for lib in (torch, nnlite):
        param = (torch.nn.Parameter(torch.ones(3, dtype=torch.float64)) if lib is torch
                 else nn.Parameter(nnlite.ones(3, dtype=nnlite.float64)))
        opt = lib.optim.SGD([param], lr=0.5)
        scheduler = lib.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)
        for _ in range(6):
            param.grad = param.detach() * 1.0
            opt.step()
            scheduler.step()
        results.append(param.detach().numpy().copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)
    assert optim.lr_scheduler is lr_scheduler


def test_user_subclass_of_lr_scheduler(torch):
    """A scheduler written against torch's LRScheduler API runs unchanged on nnlite's."""
    results = []
    for lib in (torch, nnlite):
        class Halving(lib.optim.lr_scheduler.LRScheduler):
            def get_lr(self):
                return [base_lr * 0.5 ** (self.last_epoch // 2) for base_lr in self.base_lrs]
        opt = _optimizer(lib)
        scheduler = Halving(opt)
        lrs = []
        for _ in range(7):
            opt.step()
            scheduler.step()
            lrs.append(scheduler.get_last_lr())
        results.append(lrs)
    assert results[1] == results[0]
