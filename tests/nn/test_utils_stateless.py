"""functional_call (nnlite.nn.utils.stateless and nnlite.func) against torch.func.functional_call."""
import numpy as np
import pytest

import nnlite
from nnlite.func import functional_call
from nnlite.nn.utils import parametrize, stateless
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")


def _mlp(lib, dtype):
    return lib.nn.Sequential(lib.nn.Linear(3, 4, dtype=dtype), lib.nn.ReLU(),
                             lib.nn.Linear(4, 2, dtype=dtype), lib.nn.BatchNorm1d(2, dtype=dtype))


def _pair():
    theirs = _mlp(torch, torch.float64)
    ours = _mlp(nnlite, nnlite.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _new_tensors(module_t, seed=0):
    return {k: randn(*v.shape, dtype=np.float64, seed=seed + i) if v.is_floating_point() else v.numpy()
            for i, (k, v) in enumerate(module_t.state_dict().items())}


def test_functional_call_matches_torch_and_restores(device):
    ours, theirs = _pair()
    ours = ours.to(device)
    values = _new_tensors(theirs)
    values = {k: v for k, v in values.items() if "num_batches" not in k}
    x = randn(5, 3, dtype=np.float64, seed=3)
    before = {k: v.detach().clone() for k, v in ours.state_dict().items()}
    mine = {k: nnlite.tensor(v, device=device, requires_grad=k.endswith(("weight", "bias")))
            for k, v in values.items()}
    out = nnlite.func.functional_call(ours, mine, (nnlite.tensor(x, device=device),))
    expected = torch.func.functional_call(
        theirs, {k: torch.tensor(v, requires_grad=k.endswith(("weight", "bias"))) for k, v in values.items()},
        (torch.tensor(x),))
    assert_close(out, expected, rtol=1e-12)
    # gradients flow to the substituted tensors, not to the module's parameters
    out.sum().backward()
    assert mine["0.weight"].grad is not None
    assert all(p.grad is None for p in ours.parameters())
    # the module's own tensors are back, and the training-mode BN updated the swapped-in buffers
    for k, v in ours.state_dict().items():
        if "running" in k or "num_batches" in k:   # BN updates its own counter
            continue
        assert_close(v, before[k], rtol=0, atol=0)
    assert isinstance(ours[0].weight, nnlite.nn.Parameter)
    assert not np.allclose(mine["3.running_mean"].cpu().numpy(), values["3.running_mean"])


def test_functional_call_partial_kwargs_and_list_of_dicts():
    ours, theirs = _pair()
    ours.eval()
    theirs.eval()
    w = randn(4, 3, dtype=np.float64, seed=1)
    b = randn(2, dtype=np.float64, seed=2)
    x = randn(2, 3, dtype=np.float64, seed=4)
    out = functional_call(ours, [{"0.weight": nnlite.tensor(w)}, {"2.bias": nnlite.tensor(b)}],
                          nnlite.tensor(x))
    expected = torch.func.functional_call(theirs, ({"0.weight": torch.tensor(w)}, {"2.bias": torch.tensor(b)}),
                                          torch.tensor(x))
    assert_close(out, expected, rtol=1e-12)

    class Scale(nnlite.nn.Module):
        def __init__(self):
            super().__init__()
            self.s = nnlite.nn.Parameter(nnlite.ones(1, dtype=nnlite.float64))

        def forward(self, x, *, shift=0.0):
            return x * self.s + shift

    m = Scale()
    out = functional_call(m, {"s": nnlite.tensor([3.0], dtype=nnlite.float64)},
                          args=(nnlite.ones(2, dtype=nnlite.float64),), kwargs={"shift": 1.0})
    assert out.tolist() == [4.0, 4.0]
    assert m.s.item() == 1.0


def test_functional_call_tied_weights():
    lin = nnlite.nn.Linear(2, 2, bias=False, dtype=nnlite.float64)
    model = nnlite.nn.Sequential(lin, lin)
    new = nnlite.eye(2, dtype=nnlite.float64) * 2
    x = nnlite.ones(1, 2, dtype=nnlite.float64)
    out = functional_call(model, {"0.weight": new}, (x,))
    assert out.tolist() == [[4.0, 4.0]]           # both uses of the tied weight replaced
    with pytest.raises(ValueError, match="tied"):
        functional_call(model, {"0.weight": new, "1.weight": new.clone()}, (x,))
    out = functional_call(model, {"0.weight": new, "1.weight": new.clone()}, (x,), tie_weights=False)
    assert out.tolist() == [[4.0, 4.0]]


def test_functional_call_errors():
    ours, _ = _pair()
    x = nnlite.ones(2, 3, dtype=nnlite.float64)
    with pytest.raises(RuntimeError, match=r"(?s)Error\(s\) in reparametrizing for Sequential:.*"
                                           r"Unexpected key\(s\): 'nope'.*Missing key\(s\)"):
        functional_call(ours, {"nope": x}, (x,), strict=True)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        functional_call(ours, [{"0.bias": x}, {"0.bias": x}], (x,))
    with pytest.raises(ValueError, match="Expected parameter_and_buffer_dicts to be a dict"):
        functional_call(ours, "0.bias", (x,))
    with pytest.raises(TypeError, match="must be a Tensor"):
        functional_call(ours, {"0.bias": [1.0, 2.0]}, (x,))
    before = ours[0].bias
    with pytest.raises(TypeError):
        functional_call(ours, {"0.bias": x, "2.bias": "bad"}, (x,))
    assert ours[0].bias is before   # restored after a failure


def test_stateless_functional_call_is_deprecated():
    m = nnlite.nn.Linear(2, 2, dtype=nnlite.float64)
    x = nnlite.ones(1, 2, dtype=nnlite.float64)
    with pytest.warns(FutureWarning, match="nnlite.func.functional_call"):
        out = stateless.functional_call(m, {"bias": nnlite.zeros(2, dtype=nnlite.float64)}, (x,))
    assert_close(out, x @ m.weight.detach().t())


class _Double(nnlite.nn.Module):
    def forward(self, x):
        return x * 2

    def right_inverse(self, y):
        return y / 2


class _TorchDouble(torch.nn.Module):
    def forward(self, x):
        return x * 2

    def right_inverse(self, y):
        return y / 2


@pytest.mark.parametrize("key", ["weight", "parametrizations.weight.original"])
def test_functional_call_parametrized_module(key):
    ours, theirs = _pair()
    ours, theirs = ours[0], theirs[0]
    parametrize.register_parametrization(ours, "weight", _Double())
    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", _TorchDouble())
    original = ours.parametrizations.weight.original.detach().clone()
    w = randn(4, 3, dtype=np.float64, seed=6)
    x = randn(2, 3, dtype=np.float64, seed=7)
    out = functional_call(ours, {key: nnlite.tensor(w)}, (nnlite.tensor(x),))
    expected = torch.func.functional_call(theirs, {key: torch.tensor(w)}, (torch.tensor(x),))
    assert_close(out, expected, rtol=1e-12)
    assert_close(ours.parametrizations.weight.original, original, rtol=1e-15, atol=0)
    assert type(ours).__name__ == "ParametrizedLinear"
