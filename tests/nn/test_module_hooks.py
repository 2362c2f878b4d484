"""Module backward hooks, global hooks and forward-hook options, compared with torch's."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite.nn.modules import module as module_mod
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")


def _twin_linears():
    """An nnlite Linear and a torch Linear with the same float64 weights."""
    ref = torch.nn.Linear(3, 2).double()
    lin = nn.Linear(3, 2).double()
    lin.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    return lin, ref


def _record(store):
    def hook(module, grad_input, grad_output):
        store.append((grad_input, grad_output))
    return hook


def _same_grads(mine, theirs):
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        assert (a is None) == (b is None)
        if a is not None:
            assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_full_backward_hook_gets_torch_grads_for_linear():
    lin, ref = _twin_linears()
    mine, theirs = [], []
    lin.register_full_backward_hook(_record(mine))
    ref.register_full_backward_hook(_record(theirs))
    x = randn(4, 3, dtype=np.float64)
    up = randn(4, 2, dtype=np.float64, seed=1)
    xm = nnlite.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    (lin(xm) * nnlite.tensor(up)).sum().backward()
    (ref(xt) * torch.tensor(up)).sum().backward()
    assert len(mine) == len(theirs) == 1
    _same_grads(mine[0][0], theirs[0][0])
    _same_grads(mine[0][1], theirs[0][1])
    assert_close(lin.weight.grad, ref.weight.grad, rtol=1e-12)


class TwoInTwoOut(nn.Module):
    def forward(self, x, y, k):
        return x * 2, x * y


class TorchTwoInTwoOut(torch.nn.Module):
    def forward(self, x, y, k):
        return x * 2, x * y


@pytest.mark.parametrize("use_second", [False, True])
def test_grad_input_and_grad_output_layout_matches_torch(use_second):
    # y needs no grad: torch gives zeros for it (x needs grad), None for the int argument;
    # an output that got no gradient shows as None in grad_output.
    mine, theirs, pre_mine, pre_theirs = [], [], [], []
    m, t = TwoInTwoOut(), TorchTwoInTwoOut()
    m.register_full_backward_hook(_record(mine))
    t.register_full_backward_hook(_record(theirs))
    m.register_full_backward_pre_hook(lambda mod, go: pre_mine.append(go))
    t.register_full_backward_pre_hook(lambda mod, go: pre_theirs.append(go))
    x, y = randn(3, dtype=np.float64), randn(3, dtype=np.float64, seed=2)
    xm, xt = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    am, bm = m(xm, nnlite.tensor(y), 5)
    at, bt = t(xt, torch.tensor(y), 5)
    (am.sum() + bm.sum() if use_second else am.sum()).backward()
    (at.sum() + bt.sum() if use_second else at.sum()).backward()
    _same_grads(pre_mine[0], pre_theirs[0])
    _same_grads(mine[0][0], theirs[0][0])
    _same_grads(mine[0][1], theirs[0][1])
    assert_close(xm.grad, xt.grad, rtol=1e-12)


def test_hooks_may_replace_grad_input_and_grad_output():
    lin, ref = _twin_linears()
    for mod in (lin, ref):
        mod.register_full_backward_pre_hook(lambda m, go: (go[0] * 3,))
        mod.register_full_backward_hook(lambda m, gi, go: (gi[0] + 1,))
    x = randn(2, 3, dtype=np.float64)
    xm, xt = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lin(xm).sum().backward()
    ref(xt).sum().backward()
    assert_close(xm.grad, xt.grad, rtol=1e-12)
    assert_close(lin.weight.grad, ref.weight.grad, rtol=1e-12)   # the pre-hook's grad_output reached it


def test_no_input_needs_grad_fires_with_none_grad_input():
    lin, ref = _twin_linears()
    mine, theirs = [], []
    lin.register_full_backward_hook(_record(mine))
    ref.register_full_backward_hook(_record(theirs))
    x = randn(2, 3, dtype=np.float64)
    with pytest.warns(UserWarning, match="Full backward hook is firing when gradients are computed"):
        lin(nnlite.tensor(x)).sum().backward()
    with pytest.warns(UserWarning, match="Full backward hook is firing when gradients are computed"):
        ref(torch.tensor(x)).sum().backward()
    assert mine[0][0] == (None,) == theirs[0][0]
    _same_grads(mine[0][1], theirs[0][1])


def test_hook_in_a_sequential_sees_the_inner_layers_gradients():
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    seq.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    mine, theirs = [], []
    seq[1].register_full_backward_hook(_record(mine))
    ref[1].register_full_backward_hook(_record(theirs))
    x = randn(5, 3, dtype=np.float64)
    seq(nnlite.tensor(x)).sum().backward()
    ref(torch.tensor(x)).sum().backward()
    _same_grads(mine[0][0], theirs[0][0])
    _same_grads(mine[0][1], theirs[0][1])


def test_hook_errors_and_removal():
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full"):
        lin.register_backward_hook(lambda m, gi, go: None)
    bad = nn.Linear(3, 2)
    bad.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        bad(nnlite.ones(1, 3, requires_grad=True)).sum().backward()
    bad_pre = nn.Linear(3, 2)
    bad_pre.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_output, got 2, but expected 1"):
        bad_pre(nnlite.ones(1, 3, requires_grad=True)).sum().backward()
    calls = []
    lin2 = nn.Linear(3, 2)
    handle = lin2.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    handle.remove()
    lin2(nnlite.ones(1, 3, requires_grad=True)).sum().backward()
    assert calls == []


def test_prepend_orders_backward_hooks():
    order = []
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: order.append("a"))
    lin.register_full_backward_hook(lambda m, gi, go: order.append("b"), prepend=True)
    lin.register_full_backward_pre_hook(lambda m, go: order.append("pre"))
    lin(nnlite.ones(1, 3, requires_grad=True)).sum().backward()
    assert order == ["pre", "b", "a"]


def test_no_grad_call_sets_up_no_backward_hook():
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: None)
    with nnlite.no_grad():
        out = lin(nnlite.ones(1, 3))
    assert out.grad_fn is None


def test_old_style_backward_hook_sees_the_last_ops_gradients():
    calls = []
    relu = nn.ReLU()
    relu.register_backward_hook(lambda m, gi, go: calls.append((m, gi, go)))
    x = nnlite.tensor([-1.0, 2.0], requires_grad=True)
    relu(x).sum().backward()
    assert calls[0][0] is relu
    assert_close(calls[0][1][0], [0.0, 1.0])
    assert_close(calls[0][2][0], [1.0, 1.0])


def test_global_module_hooks_fire_for_every_module_and_go_away():
    seen = []
    handles = [module_mod.register_module_forward_pre_hook(lambda m, a: seen.append(("pre", type(m).__name__))),
               module_mod.register_module_forward_hook(lambda m, a, o: seen.append(("fwd", type(m).__name__))),
               module_mod.register_module_full_backward_hook(
                   lambda m, gi, go: seen.append(("bwd", type(m).__name__)))]
    try:
        seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        seq(nnlite.ones(1, 2, requires_grad=True)).sum().backward()
    finally:
        for h in handles:
            h.remove()
    assert seen[:3] == [("pre", "Sequential"), ("pre", "Linear"), ("fwd", "Linear")]
    assert ("bwd", "ReLU") in seen and ("bwd", "Sequential") in seen
    assert seen.index(("bwd", "ReLU")) < seen.index(("bwd", "Linear"))
    seen.clear()
    nn.ReLU()(nnlite.ones(1))
    assert seen == []


def test_global_forward_hook_runs_before_the_modules_own():
    order = []
    lin = nn.Linear(2, 2)
    lin.register_forward_hook(lambda m, a, o: order.append("own"))
    handle = module_mod.register_module_forward_hook(lambda m, a, o: order.append("global"))
    try:
        lin(nnlite.ones(1, 2))
    finally:
        handle.remove()
    assert order == ["global", "own"]


def test_always_call_hook_runs_when_forward_raises():
    calls = []
    lin = nn.Linear(2, 2)
    lin.register_forward_hook(lambda m, a, o: calls.append("always"), always_call=True)
    lin.register_forward_hook(lambda m, a, o: calls.append("normal"))
    with pytest.raises(RuntimeError):
        lin(nnlite.ones(1, 3))
    assert calls == ["always"]


def test_registration_hooks_see_what_torchs_see():
    events = {}
    for lib, mod in ((nnlite, module_mod), (torch, torch.nn.modules.module)):
        log = events[lib.__name__] = []
        handles = [
            mod.register_module_module_registration_hook(lambda m, n, v: log.append(("module", n))),
            mod.register_module_parameter_registration_hook(lambda m, n, v: log.append(("param", n))),
            mod.register_module_buffer_registration_hook(lambda m, n, v: log.append(("buffer", n)))]
        try:
            seq = lib.nn.Sequential(lib.nn.BatchNorm1d(2))
            seq.extra = lib.nn.ReLU()
            seq.register_buffer("b", lib.zeros(1))
            seq.b = lib.ones(1)
        finally:
            for h in handles:
                h.remove()
    assert events["nnlite"] == events["torch"]


def test_registration_hook_may_replace_the_value():
    replacement = nn.Parameter(nnlite.zeros(2))
    handle = module_mod.register_module_parameter_registration_hook(
        lambda m, n, p: replacement if n == "w" else None)
    try:
        m = nn.Module()
        m.w = nn.Parameter(nnlite.ones(2))
        m.v = nn.Parameter(nnlite.ones(2))
    finally:
        handle.remove()
    assert m.w is replacement and m.v is not replacement
    m.w = nn.Parameter(nnlite.ones(2))
    assert m.w is not replacement
