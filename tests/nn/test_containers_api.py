"""The container API, step for step against torch: each scenario runs on both libraries and the
resulting keys, module types and returned values must agree."""
from collections import OrderedDict

import numpy as np
import pytest

import nnlite

torch = pytest.importorskip("torch")


def _layout(container):
    """Keys and class names of a container's entries (modules or parameters)."""
    if hasattr(container, "_parameters") and container._parameters:
        return [(k, tuple(v.shape)) for k, v in container._parameters.items()]
    return [(k, type(v).__name__) for k, v in container._modules.items()]


def _sequential_ops(lib):
    nn = lib.nn
    seq = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.ELU())
    steps = [_layout(seq[1:3]), type(seq[1:3]).__name__, type(seq[-1]).__name__]
    seq.append(nn.GELU())
    seq.insert(1, nn.SiLU())
    seq.insert(-1, nn.Mish())
    steps.append(_layout(seq))
    del seq[2]
    steps.append(_layout(seq))
    steps.append(type(seq.pop(0)).__name__)
    del seq[1:3]
    steps.append(_layout(seq))
    seq.extend(nn.Sequential(nn.ReLU6()))
    steps.append(_layout(seq + nn.Sequential(nn.Hardtanh())))
    steps.append(_layout(seq * 2))
    steps.append(_layout(2 * seq))
    seq *= 2
    steps.append(_layout(seq))
    seq += nn.Sequential(nn.ReLU())
    steps.append(_layout(seq))
    seq[0] = nn.Softsign()
    steps.append(_layout(seq))
    named = nn.Sequential(OrderedDict([("a", nn.ReLU()), ("b", nn.Tanh())]))
    named.append(nn.ELU())
    steps.append(_layout(named))
    steps.append(_layout(named[::-1]))
    return steps


def _module_list_ops(lib):
    nn = lib.nn
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml.append(nn.Sigmoid())
    ml.extend([nn.ELU(), nn.GELU()])
    ml.insert(1, nn.SiLU())
    steps = [_layout(ml), _layout(ml[1:4]), type(ml[1:4]).__name__]
    del ml[0]
    steps.append(_layout(ml))
    steps.append(type(ml.pop(-1)).__name__)
    del ml[::2]
    steps.append(_layout(ml))
    ml += [nn.Mish()]
    steps.append(_layout(ml + nn.ModuleList([nn.ReLU6()])))
    ml[-1] = nn.Softsign()
    steps.append(_layout(ml))
    steps.append(len(ml))
    return steps


def _module_dict_ops(lib):
    nn = lib.nn
    md = nn.ModuleDict({"z": nn.ReLU(), "a": nn.Tanh()})       # insertion order, not sorted
    steps = [_layout(md), list(md.keys()), "z" in md]
    md.update([("m", nn.ELU())])
    md["b"] = nn.GELU()
    steps.append(type(md.pop("a")).__name__)
    steps.append(_layout(md))
    del md["z"]
    steps.append([(k, type(v).__name__) for k, v in md.items()])
    steps.append([type(v).__name__ for v in md.values()])
    md.clear()
    steps.append(len(md))
    return steps


def _parameter_list_ops(lib):
    nn = lib.nn
    pl = nn.ParameterList([nn.Parameter(lib.zeros(1)), lib.zeros(2)])
    pl.append(lib.zeros(3))
    pl.extend([lib.zeros(4)])
    pl += [lib.zeros(5)]
    steps = [_layout(pl), [type(p).__name__ for p in pl], [tuple(p.shape) for p in pl[1:4:2]]]
    pl[0] = lib.ones(6)
    steps.append(_layout(pl))
    steps.append(type(pl[-1]).__name__)
    return steps


def _parameter_dict_ops(lib):
    nn = lib.nn
    pd = nn.ParameterDict({"z": lib.zeros(1), "a": lib.zeros(2)})      # a plain dict is sorted
    steps = [list(pd.keys())]
    pd.update(OrderedDict([("y", lib.zeros(3)), ("b", lib.zeros(4))]))   # an OrderedDict is not
    pd["c"] = lib.zeros(5)
    steps.append(list(pd.keys()))
    steps.append(tuple(pd.pop("z").shape))
    steps.append(pd.popitem()[0])
    steps.append(tuple(pd.setdefault("new", lib.zeros(6)).shape))
    steps.append(tuple(pd.get("missing", lib.zeros(7)).shape))
    steps.append(list(pd.copy().keys()))
    steps.append(list((pd | {"q": lib.zeros(1), "d": lib.zeros(1)}).keys()))
    steps.append(list(pd.fromkeys(["k1", "k2"]).keys()))
    steps.append([n for n, _ in pd.named_parameters()])
    steps.append(list(reversed(pd)))
    del pd["a"]
    steps.append(list(pd))
    pd.clear()
    steps.append(len(pd))
    return steps


@pytest.mark.parametrize("scenario", [_sequential_ops, _module_list_ops, _module_dict_ops, _parameter_list_ops,
                                      _parameter_dict_ops])
def test_container_scenarios_match_torch(scenario):
    assert scenario(nnlite) == scenario(torch)


@pytest.mark.parametrize("build", [
    lambda lib: lib.nn.Sequential(lib.nn.ReLU()) + lib.nn.ReLU(),
    lambda lib: lib.nn.Sequential(lib.nn.ReLU()) * 0,
    lambda lib: lib.nn.Sequential(lib.nn.ReLU()) * 1.5,
    lambda lib: lib.nn.Sequential(lib.nn.ReLU())[3],
    lambda lib: lib.nn.Sequential(lib.nn.ReLU()).insert(5, lib.nn.ReLU()),
    lambda lib: lib.nn.ModuleList([lib.nn.ReLU()])[-2],
    lambda lib: lib.nn.ModuleList().extend(lib.nn.ReLU()),
    lambda lib: lib.nn.ModuleDict().update(5),
    lambda lib: lib.nn.ModuleDict().update([("a", lib.nn.ReLU(), 1)]),
    lambda lib: lib.nn.ParameterDict()[3],
    lambda lib: lib.nn.ParameterList(lib.zeros(2)),
    lambda lib: lib.nn.ParameterList()(lib.zeros(1)),
])
def test_container_errors_match_torch(build):
    with pytest.raises(Exception) as theirs:
        build(torch)
    with pytest.raises(type(theirs.value)) as mine:
        build(nnlite)
    assert str(mine.value).replace("nnlite", "torch") == str(theirs.value)


def test_sequential_runs_layers_in_order_like_torch():
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    seq = nnlite.nn.Sequential(nnlite.nn.Linear(3, 4), nnlite.nn.Tanh(), nnlite.nn.Linear(4, 2)).double()
    seq.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    seq.insert(1, nnlite.nn.ReLU())
    ref.insert(1, torch.nn.ReLU())
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(seq(nnlite.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)
