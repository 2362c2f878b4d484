"""RNNCell, LSTMCell, GRUCell vs torch.nn (state_dict, outputs, gradients, unbatched input,
errors), and gradcheck of every gate kernel through one-layer Functions in float64
(including packed batch sizes, the reverse direction and proj_size)."""
import math

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite.autograd import gradcheck
from nnlite.functional.rnn import RNNLayer
from tests.helpers import randn
from tests.nn.test_rnn_helpers import compare, loaded_pair

CELLS = [("RNNCell", {}), ("RNNCell", dict(nonlinearity="relu", bias=False)), ("LSTMCell", {}),
         ("LSTMCell", dict(bias=False)), ("GRUCell", {}), ("GRUCell", dict(bias=False))]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CELLS)]


def _states(name, batch, dtype, seed=4):
    shape = (batch, 5) if batch else (5,)
    h = [randn(*shape, dtype=dtype, seed=seed)]
    return h + [randn(*shape, dtype=dtype, seed=seed + 1)] if name == "LSTMCell" else h


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CELLS, ids=IDS)
def test_cell_matches_torch(torch, name, kw, dtype):
    ours, theirs = loaded_pair(torch, name, (3, 5), kw, dtype)
    compare(torch, ours, theirs, randn(4, 3, dtype=dtype), _states(name, 4, dtype), dtype)
    compare(torch, ours, theirs, randn(4, 3, dtype=dtype), None, dtype)


@pytest.mark.parametrize("name,kw", CELLS[::2], ids=IDS[::2])
def test_cell_unbatched(torch, name, kw):
    ours, theirs = loaded_pair(torch, name, (3, 5), kw, np.float64)
    compare(torch, ours, theirs, randn(3, dtype=np.float64), _states(name, 0, np.float64), np.float64)


@pytest.mark.parametrize("name,kw", CELLS, ids=IDS)
def test_cell_parameters_and_repr(torch, name, kw):
    ours, theirs = getattr(nn, name)(3, 5, **kw), getattr(torch.nn, name)(3, 5, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        got = ours.state_dict()[key].numpy()
        assert got.shape == tuple(value.shape)
        assert 0.5 / math.sqrt(5) < np.abs(got).max() <= 1 / math.sqrt(5)
    assert repr(ours) == repr(theirs)


def test_cell_errors():
    cell = nn.LSTMCell(3, 5)
    with pytest.raises(ValueError, match="LSTMCell: Expected input to be 1D or 2D, got 3D instead"):
        cell(nnlite.zeros(1, 2, 3))
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 4 expected 3"):
        cell(nnlite.zeros(2, 4))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden0 batch size 3"):
        cell(nnlite.zeros(2, 3), (nnlite.zeros(3, 5), nnlite.zeros(3, 5)))
    with pytest.raises(RuntimeError, match="hidden1 has inconsistent hidden_size: got 4, expected 5"):
        cell(nnlite.zeros(2, 3), (nnlite.zeros(2, 5), nnlite.zeros(2, 4)))
    with pytest.raises(ValueError, match="GRUCell: Expected hidden to be 1D or 2D, got 3D instead"):
        nn.GRUCell(3, 5)(nnlite.zeros(2, 3), nnlite.zeros(1, 2, 5))


# ---------------------------------------------------------------- gradcheck of the fused kernels

SPECS = [("LSTM", False, 0), ("LSTM", True, 2), ("GRU", False, 0), ("GRU", True, 0), ("RNN_TANH", True, 0),
         ("RNN_RELU", False, 0)]


@pytest.mark.parametrize("mode,reverse,proj", SPECS)
def test_layer_gradcheck(mode, reverse, proj):
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    H, I, P = 3, 2, proj or 3
    batch_sizes = [3, 2, 2, 1]  # packed: each step runs on the first batch_sizes[t] rows
    n = sum(batch_sizes)

    def leaf(seed, *shape):
        return nnlite.tensor(randn(*shape, dtype=np.float64, seed=seed) * 0.7, requires_grad=True)

    x, h0 = leaf(1, n, I), leaf(2, 3, P)
    c0 = leaf(3, 3, H) if mode == "LSTM" else None
    w_ih, w_hh, b_ih, b_hh = leaf(4, gates * H, I), leaf(5, gates * H, P), leaf(6, gates * H), leaf(7, gates * H)
    w_hr = leaf(8, P, H) if proj else None
    inputs = tuple(t for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr) if t is not None)

    def layer(*args):
        it = iter(args)
        values = [next(it) if t is not None else None for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)]
        return RNNLayer.apply(*values, (mode, batch_sizes, reverse))

    assert gradcheck(layer, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell"])
def test_cell_cuda_matches_torch(torch, cuda_device, name):
    ours, theirs = loaded_pair(torch, name, (3, 4), {}, np.float32, device=cuda_device)
    states = [randn(2, 4, seed=1)] + ([randn(2, 4, seed=2)] if name == "LSTMCell" else [])
    compare(torch, ours, theirs, randn(2, 3), states, np.float32, device=cuda_device)
