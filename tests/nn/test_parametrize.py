"""nn.utils.parametrize against torch: class swap, state-dict layout, right_inverse, cached, errors."""
import numpy as np
import pytest

import nnlite
from nnlite.nn.utils import parametrize as P
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")


def _symmetric(lib):
    class Symmetric(lib.nn.Module):
        calls = 0

        def forward(self, x):
            type(self).calls += 1
            return x.triu() + x.triu(1).transpose(0, 1) if lib is torch else _triu(x) + _triu(x, 1).t()

        def right_inverse(self, a):
            return a.triu() if lib is torch else _triu(a)
    return Symmetric


def _triu(x, diagonal=0):
    mask = np.triu(np.ones(tuple(x.shape)), diagonal)
    return x * nnlite.tensor(mask, dtype=x.dtype, device=x.device)


def _scale(lib, factor):
    class Scale(lib.nn.Module):
        def forward(self, x):
            return x * factor

        def right_inverse(self, y):
            return y / factor
    return Scale()


class _Split:
    """A parametrization in two tensors: weight = a + b; right_inverse gives (w/2, w/2)."""

    @staticmethod
    def make(lib):
        class Split(lib.nn.Module):
            def forward(self, a, b):
                return a + b

            def right_inverse(self, w):
                return w * 0.5, w * 0.5
        return Split()


def _linear_pair(device="cpu", n=3):
    theirs = torch.nn.Linear(n, n).double()
    ours = nnlite.nn.Linear(n, n, dtype=nnlite.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device), theirs


def _train_and_compare(ours, theirs, x_shape, steps=3, device="cpu"):
    opt_o = nnlite.optim.SGD(ours.parameters(), lr=0.05)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.05)
    for step in range(steps):
        x = randn(*x_shape, dtype=np.float64, seed=step)
        out_o, out_t = ours(nnlite.tensor(x, device=device)), theirs(torch.tensor(x))
        assert_close(out_o, out_t, rtol=1e-10, atol=1e-12)
        (out_o ** 2).sum().backward()
        (out_t ** 2).sum().backward()
        opt_o.step()
        opt_t.step()
        opt_o.zero_grad()
        opt_t.zero_grad()
    sd_o, sd_t = ours.state_dict(), theirs.state_dict()
    assert list(sd_o) == list(sd_t)
    for k in sd_t:
        assert_close(sd_o[k], sd_t[k], rtol=1e-9, atol=1e-12)


def test_register_symmetric_matches_torch(device):
    ours, theirs = _linear_pair(device)
    assert P.register_parametrization(ours, "weight", _symmetric(nnlite)()) is ours
    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", _symmetric(torch)())
    assert type(ours).__name__ == type(theirs).__name__ == "ParametrizedLinear"
    assert isinstance(ours, nnlite.nn.Linear)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
    assert isinstance(ours.parametrizations.weight, P.ParametrizationList)
    assert P.is_parametrized(ours) and P.is_parametrized(ours, "weight") and not P.is_parametrized(ours, "bias")
    assert P.type_before_parametrizations(ours) is nnlite.nn.Linear
    _train_and_compare(ours, theirs, (2, 3), device=device)


def test_original_keeps_identity_and_assignment_runs_right_inverse():
    ours, theirs = _linear_pair()
    weight = ours.weight
    P.register_parametrization(ours, "weight", _symmetric(nnlite)())
    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", _symmetric(torch)())
    assert ours.parametrizations.weight.original is weight   # optimizers keep working
    x = randn(3, 3, dtype=np.float64, seed=5)
    ours.weight = nnlite.tensor(x)
    theirs.weight = torch.tensor(x)
    assert_close(ours.parametrizations.weight.original, theirs.parametrizations.weight.original, rtol=0)
    assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
    assert ours.parametrizations.weight.original is weight


def test_chain_and_remove(device):
    ours, theirs = _linear_pair(device)
    for m, lib, reg in ((ours, nnlite, P.register_parametrization),
                        (theirs, torch, torch.nn.utils.parametrize.register_parametrization)):
        reg(m, "weight", _symmetric(lib)())
        reg(m, "weight", _scale(lib, 3.0))
        reg(m, "bias", _scale(lib, 2.0))
    assert len(ours.parametrizations.weight) == 2
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_close(ours.weight, theirs.weight, rtol=1e-14)
    _train_and_compare(ours, theirs, (2, 3), device=device)
    P.remove_parametrizations(ours, "weight", leave_parametrized=False)
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight", leave_parametrized=False)
    assert type(ours).__name__ == "ParametrizedLinear"          # bias is still parametrized
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_close(ours.weight, theirs.weight, rtol=1e-12)
    P.remove_parametrizations(ours, "bias")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "bias")
    assert type(ours) is nnlite.nn.Linear and not hasattr(ours, "parametrizations")
    assert "weight" not in vars(type(ours))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    assert isinstance(ours.bias, nnlite.nn.Parameter)
    assert_close(ours.bias, theirs.bias, rtol=1e-12)


def test_leave_parametrized_true_keeps_value():
    ours, theirs = _linear_pair()
    P.register_parametrization(ours, "weight", _symmetric(nnlite)())
    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", _symmetric(torch)())
    P.remove_parametrizations(ours, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    # other Linear modules never saw the property
    assert isinstance(nnlite.nn.Linear(2, 2).weight, nnlite.nn.Parameter)


def test_sequence_right_inverse_layout(device):
    ours, theirs = _linear_pair(device)
    P.register_parametrization(ours, "weight", _Split.make(nnlite))
    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", _Split.make(torch))
    keys = ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    assert list(ours.state_dict()) == list(theirs.state_dict()) == keys
    assert all(isinstance(getattr(ours.parametrizations.weight, f"original{i}"), nnlite.nn.Parameter)
               for i in range(2))
    _train_and_compare(ours, theirs, (2, 3), device=device)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        P.remove_parametrizations(ours, "weight", leave_parametrized=False)
    P.remove_parametrizations(ours, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_close(ours.weight, theirs.weight, rtol=1e-12)


def test_buffer_parametrization_and_load_state_dict():
    ours, theirs = _linear_pair()
    for m, lib in ((ours, nnlite), (theirs, torch)):
        m.register_buffer("scale", lib.ones(3, dtype=lib.float64))
    P.register_parametrization(ours, "scale", _scale(nnlite, 2.0))
    torch.nn.utils.parametrize.register_parametrization(theirs, "scale", _scale(torch, 2.0))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert_close(ours.scale, theirs.scale, rtol=0)
    # a torch checkpoint of a parametrized model loads into the nnlite one
    theirs.scale = torch.full((3,), 5.0, dtype=torch.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert_close(ours.scale, theirs.scale, rtol=0)


def test_cached_computes_once():
    m = nnlite.nn.Linear(3, 3, dtype=nnlite.float64)
    sym = _symmetric(nnlite)
    P.register_parametrization(m, "weight", sym())
    sym.calls = 0
    with P.cached():
        a, b = m.weight, m.weight
        assert a is b and sym.calls == 1
    c = m.weight
    assert c is not a and sym.calls == 2


def test_train_mode_follows_module():
    m = nnlite.nn.Linear(2, 2).eval()
    p = _scale(nnlite, 1.0)
    P.register_parametrization(m, "weight", p)
    assert p.training is False


def test_dtype_and_shape_changes_need_unsafe():
    class ToFloat32(nnlite.nn.Module):
        def forward(self, x):
            return x.float()

    class Flatten(nnlite.nn.Module):
        def forward(self, x):
            return x.reshape(-1)

    m = nnlite.nn.Linear(2, 2, dtype=nnlite.float64)
    with pytest.raises(ValueError, match="may not change the dtype of the tensor, unless `unsafe`"):
        P.register_parametrization(m, "weight", ToFloat32())
    with pytest.raises(ValueError, match="may not change the shape of the tensor"):
        P.register_parametrization(m, "weight", Flatten())
    assert type(m) is nnlite.nn.Linear and isinstance(m.weight, nnlite.nn.Parameter)
    P.register_parametrization(m, "weight", Flatten(), unsafe=True)
    assert tuple(m.weight.shape) == (4,)
    # joining an existing chain is checked too
    m2 = nnlite.nn.Linear(2, 2, dtype=nnlite.float64)
    P.register_parametrization(m2, "weight", _scale(nnlite, 2.0))
    with pytest.raises(ValueError, match="may not change the dtype"):
        P.register_parametrization(m2, "weight", ToFloat32())
    assert len(m2.parametrizations.weight) == 1


def test_errors():
    m = nnlite.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element "
                                         "with name 'nope'"):
        P.register_parametrization(m, "nope", _scale(nnlite, 1.0))
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        P.remove_parametrizations(m, "weight")

    class NoInverse(nnlite.nn.Module):
        def forward(self, x):
            return x * 2

    P.register_parametrization(m, "weight", NoInverse())
    with pytest.raises(RuntimeError, match="parametrization NoInverse does not implement right_inverse"):
        m.weight = nnlite.zeros(2, 2)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.weight = nnlite.nn.Parameter(nnlite.zeros(2, 2))
    with pytest.raises(ValueError, match="ParametrizationList requires one or more modules"):
        P.ParametrizationList([], nnlite.zeros(2))

    class BadInverse(nnlite.nn.Module):
        def forward(self, x):
            return x

        def right_inverse(self, x):
            return 3

    with pytest.raises(ValueError, match="'right_inverse' must return a Tensor or a Sequence"):
        P.register_parametrization(nnlite.nn.Linear(2, 2), "weight", BadInverse())
    with pytest.raises(RuntimeError, match="Serialization of parametrized modules"):
        import pickle
        pickle.dumps(m)


def test_deepcopy_of_parametrized_module():
    import copy
    m = nnlite.nn.Linear(3, 3, dtype=nnlite.float64)
    P.register_parametrization(m, "weight", _symmetric(nnlite)())
    c = copy.deepcopy(m)
    assert type(c) is type(m)
    assert c.parametrizations.weight.original is not m.parametrizations.weight.original
    assert_close(c.weight, m.weight, rtol=0)
