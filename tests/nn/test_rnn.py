"""RNN, LSTM and GRU vs torch.nn after loading the torch module's state_dict: outputs, final
states and the gradients of the input, the initial states and every weight, for every option;
parameter names/shapes/init; argument and input errors."""
import math

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn
from tests.nn.test_rnn_helpers import compare, loaded_pair

I, H = 5, 6

CONFIGS = [
    ("LSTM", {}),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(num_layers=2, proj_size=3, bidirectional=True)),
    ("LSTM", dict(bias=False, batch_first=True)),
    ("GRU", {}),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(bias=False, num_layers=3)),
    ("RNN", {}),
    ("RNN", dict(nonlinearity="relu", num_layers=2, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", bias=False, batch_first=True)),
]


def _ids(configs):
    return [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for name, kw in configs]


def _hidden(kw, batch, dtype, seed=3, lstm=False):
    dirs = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    h = randn(layers * dirs, batch, kw.get("proj_size") or H, dtype=dtype, seed=seed)
    if not lstm:
        return [h]
    return [h, randn(layers * dirs, batch, H, dtype=dtype, seed=seed + 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CONFIGS, ids=_ids(CONFIGS))
def test_matches_torch_with_given_states(torch, name, kw, dtype):
    ours, theirs = loaded_pair(torch, name, (I, H), kw, dtype)
    shape = (3, 4, I) if kw.get("batch_first") else (4, 3, I)
    hx = _hidden(kw, 3, dtype, lstm=name == "LSTM")
    compare(torch, ours, theirs, randn(*shape, dtype=dtype), hx, dtype)


@pytest.mark.parametrize("name,kw", CONFIGS[::2], ids=_ids(CONFIGS[::2]))
def test_matches_torch_with_states_omitted(torch, name, kw):
    ours, theirs = loaded_pair(torch, name, (I, H), kw, np.float64)
    compare(torch, ours, theirs, randn(5, 2, I, dtype=np.float64), None, np.float64)


@pytest.mark.parametrize("name,kw", [("LSTM", dict(proj_size=2)), ("GRU", dict(num_layers=2)), ("RNN", {})])
def test_unbatched_input(torch, name, kw):
    ours, theirs = loaded_pair(torch, name, (I, H), kw, np.float64)
    hx = [h[:, 0] for h in _hidden(kw, 1, np.float64, lstm=name == "LSTM")]
    compare(torch, ours, theirs, randn(4, I, dtype=np.float64), hx, np.float64)
    compare(torch, ours, theirs, randn(4, I, dtype=np.float64), None, np.float64)


def test_unbatched_input_ignores_batch_first(torch):
    ours, theirs = loaded_pair(torch, "GRU", (I, H), dict(batch_first=True), np.float64)
    compare(torch, ours, theirs, randn(7, I, dtype=np.float64), None, np.float64)


def test_dropout_between_layers_only_in_training(torch):
    ours, theirs = loaded_pair(torch, "LSTM", (I, H), dict(num_layers=2, dropout=0.5), np.float64)
    x = nnlite.tensor(randn(6, 2, I, dtype=np.float64))
    ours.eval()
    theirs.eval()
    compare(torch, ours, theirs, randn(6, 2, I, dtype=np.float64), None, np.float64)
    ours.train()
    a, _ = ours(x)
    b, _ = ours(x)
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())  # fresh masks each call
    ours.eval()
    c, _ = ours(x)
    d, _ = ours(x)
    assert_close(c, d)


def test_dropout_one_layer_warns():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(I, H, dropout=0.2)


@pytest.mark.parametrize("name,kw", CONFIGS[:4] + CONFIGS[5:6], ids=_ids(CONFIGS[:4] + CONFIGS[5:6]))
def test_parameter_names_shapes_and_init(torch, name, kw):
    ours, theirs = loaded_pair(torch, name, (I, H), kw, np.float32)
    fresh = getattr(nn, name)(I, H, **kw)
    assert list(fresh.state_dict()) == list(theirs.state_dict())
    bound = 1 / math.sqrt(H)
    for key, value in theirs.state_dict().items():
        got = fresh.state_dict()[key].numpy()
        assert got.shape == tuple(value.shape), key
        assert np.abs(got).max() <= bound and np.abs(got).max() > 0.5 * bound, key
    assert repr(fresh) == repr(getattr(torch.nn, name)(I, H, **kw))
    fresh.flatten_parameters()


def test_input_not_modified(torch):
    ours, _ = loaded_pair(torch, "LSTM", (I, H), {}, np.float32)
    x, h, c = randn(3, 2, I), randn(1, 2, H, seed=1), randn(1, 2, H, seed=2)
    tx, th, tc = (nnlite.tensor(a.copy()) for a in (x, h, c))
    ours(tx, (th, tc))
    for t, a in ((tx, x), (th, h), (tc, c)):
        assert np.array_equal(t.numpy(), a)


def test_retain_graph_backward_twice(torch):
    ours, _ = loaded_pair(torch, "GRU", (I, H), {}, np.float64)
    x = nnlite.tensor(randn(3, 2, I, dtype=np.float64), requires_grad=True)
    out, _ = ours(x)
    out.sum().backward(retain_graph=True)
    first = x.grad.numpy().copy()
    out.sum().backward()
    assert_close(x.grad, 2 * first)


# ---------------------------------------------------------------- errors

def test_wrong_input_size():
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 5, got 4"):
        nn.LSTM(I, H)(nnlite.zeros(3, 2, 4))


def test_wrong_input_dims():
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        nn.LSTM(I, H)(nnlite.zeros(3, 2, 1, I))
    with pytest.raises(ValueError, match="RNN: Expected input to be 2D or 3D, got 1D tensor instead"):
        nn.RNN(I, H)(nnlite.zeros(I))


def test_hidden_state_of_wrong_shape():
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 6\), got \[1, 3, 6\]"):
        nn.GRU(I, H)(nnlite.zeros(3, 2, I), nnlite.zeros(1, 3, H))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(2, 2, 6\), got \[2, 2, 3\]"):
        nn.LSTM(I, H, proj_size=3, num_layers=2)(nnlite.zeros(3, 2, I), (nnlite.zeros(2, 2, 3), nnlite.zeros(2, 2, 3)))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D but got 2-D tensor"):
        nn.RNN(I, H)(nnlite.zeros(3, 2, I), nnlite.zeros(2, H))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx and cx should also be 2-D"):
        nn.LSTM(I, H)(nnlite.zeros(3, I), (nnlite.zeros(1, 1, H), nnlite.zeros(1, 1, H)))


def test_dtype_mismatch():
    with pytest.raises(ValueError, match="does not match weight dtype"):
        nn.GRU(I, H)(nnlite.zeros(3, 2, I, dtype=nnlite.float64))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(dropout=1.5), ValueError, "dropout should be a number in range"),
    (dict(num_layers=0), ValueError, "num_layers must be greater than zero"),
    (dict(proj_size=6), ValueError, "proj_size has to be smaller than hidden_size"),
    (dict(proj_size=-1), ValueError, "proj_size should be a positive integer"),
    (dict(bias=1), TypeError, "bias should be of type bool"),
])
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.LSTM(I, H, **kwargs)


def test_constructor_errors_other_modes():
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(I, H, proj_size=2)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(I, H, nonlinearity="gelu")
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.RNN(I, 0)


# ---------------------------------------------------------------- CUDA (simulator on tiny sizes)

@pytest.mark.parametrize("name,kw", [("LSTM", dict(bidirectional=True, proj_size=2)), ("GRU", dict(num_layers=2)),
                                     ("RNN", dict(nonlinearity="relu"))])
def test_cuda_matches_torch(torch, cuda_device, name, kw):
    ours, theirs = loaded_pair(torch, name, (3, 4), kw, np.float32, device=cuda_device)
    compare(torch, ours, theirs, randn(3, 2, 3), None, np.float32, device=cuda_device)


@pytest.mark.parametrize("name,kw", [("LSTM", dict(proj_size=2, bidirectional=True)), ("GRU", dict(num_layers=2)),
                                     ("RNN", dict(nonlinearity="relu"))])
def test_step_by_step_cpu_path_matches_torch(torch, monkeypatch, name, kw):
    """The Python time loop over the per-step CPU kernels (used where Numba cannot call BLAS)."""
    import nnlite.functional.rnn as frnn
    monkeypatch.setattr(frnn, "_cpu_loop", lambda a: False)
    ours, theirs = loaded_pair(torch, name, (I, H), kw, np.float64)
    compare(torch, ours, theirs, randn(4, 3, I, dtype=np.float64), None, np.float64)


def test_large_batch_takes_parallel_paths(torch, monkeypatch):
    """Batches big enough for the prange branches of the step kernels, both CPU paths."""
    import nnlite.functional.rnn as frnn
    ours, theirs = loaded_pair(torch, "LSTM", (4, 64), dict(num_layers=1), np.float64)
    x = randn(3, 80, 4, dtype=np.float64)
    compare(torch, ours, theirs, x, None, np.float64)
    monkeypatch.setattr(frnn, "_cpu_loop", lambda a: False)
    compare(torch, ours, theirs, x, None, np.float64)
