"""nnlite.nn.utils.rnn vs torch.nn.utils.rnn (values, indices, gradients through packing), and
PackedSequence in and out of RNN/LSTM/GRU against torch."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite.nn.utils import rnn as ours_rnn
from tests.helpers import assert_close, randn
from tests.nn.test_rnn_helpers import loaded_pair, weights_of


def _torch_rnn(torch):
    return torch.nn.utils.rnn


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [([4, 3, 1], True), ([2, 4, 4, 1], False), ([3], True)])
def test_pack_and_pad_round_trip_match_torch(torch, device, lengths, enforce_sorted, batch_first):
    T, B = max(lengths), len(lengths)
    x = randn(*((B, T, 3) if batch_first else (T, B, 3)), dtype=np.float64)
    ox = nnlite.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    op = ours_rnn.pack_padded_sequence(ox, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    tp = _torch_rnn(torch).pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    assert_close(op.data, tp.data)
    assert op.batch_sizes.tolist() == tp.batch_sizes.tolist() and op.batch_sizes.dtype == nnlite.int64
    assert op.batch_sizes.device.type == "cpu"
    for a, b in ((op.sorted_indices, tp.sorted_indices), (op.unsorted_indices, tp.unsorted_indices)):
        assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
    opad, olen = ours_rnn.pad_packed_sequence(op, batch_first=batch_first, padding_value=-2.0, total_length=T + 1)
    tpad, tlen = _torch_rnn(torch).pad_packed_sequence(tp, batch_first=batch_first, padding_value=-2.0,
                                                        total_length=T + 1)
    assert_close(opad, tpad)
    assert olen.tolist() == tlen.tolist()
    w = weights_of(1, tuple(tpad.shape), np.float64)
    (opad * nnlite.tensor(w, device=device)).sum().backward()
    (tpad * torch.tensor(w)).sum().backward()
    assert_close(ox.grad, tx.grad)  # gradients flow through packing, zero in the padding


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(torch, batch_first, side):
    seqs = [randn(n, 2, dtype=np.float64, seed=n) for n in (2, 5, 3)]
    ours = [nnlite.tensor(s, requires_grad=True) for s in seqs]
    theirs = [torch.tensor(s, requires_grad=True) for s in seqs]
    o = ours_rnn.pad_sequence(ours, batch_first=batch_first, padding_value=7.0, padding_side=side)
    t = _torch_rnn(torch).pad_sequence(theirs, batch_first=batch_first, padding_value=7.0, padding_side=side)
    assert_close(o, t)
    w = weights_of(2, tuple(t.shape), np.float64)
    (o * nnlite.tensor(w)).sum().backward()
    (t * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        assert_close(a.grad, b.grad)


def test_pack_sequence_unpack_and_unpad(torch):
    seqs = [randn(n, 3, seed=n) for n in (2, 4, 3)]
    packed = ours_rnn.pack_sequence([nnlite.tensor(s) for s in seqs], enforce_sorted=False)
    tpacked = _torch_rnn(torch).pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    assert_close(packed.data, tpacked.data)
    for got, want in zip(ours_rnn.unpack_sequence(packed), seqs):
        assert_close(got, want)
    padded = ours_rnn.pad_sequence([nnlite.tensor(s) for s in seqs], batch_first=True)
    for got, want in zip(ours_rnn.unpad_sequence(padded, nnlite.tensor([2, 4, 3]), batch_first=True), seqs):
        assert_close(got, want)
    assert isinstance(packed, tuple) and packed._fields == ("data", "batch_sizes", "sorted_indices",
                                                             "unsorted_indices")


def test_packing_errors():
    x = nnlite.zeros(3, 2, 4)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order when `enforce_sorted` is True"):
        ours_rnn.pack_padded_sequence(x, [2, 3])
    with pytest.raises(RuntimeError, match="a length \\(4\\) is longer than the padded sequence \\(3 steps\\)"):
        ours_rnn.pack_padded_sequence(x, [4, 2])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        ours_rnn.pack_padded_sequence(x, [3, 0])
    with pytest.raises(RuntimeError, match="Expected `len\\(lengths\\)` to be equal to batch_size, but got 3"):
        ours_rnn.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        ours_rnn.pack_sequence([nnlite.zeros(2, 1), nnlite.zeros(3, 1)])
    packed = ours_rnn.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of the longest"):
        ours_rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right, but got x."):
        ours_rnn.pad_sequence([nnlite.zeros(2, 1)], padding_side="x")


PACKED_CONFIGS = [("LSTM", dict(bidirectional=True, num_layers=2)), ("LSTM", dict(proj_size=2, batch_first=True)),
                  ("GRU", dict(bidirectional=True)), ("RNN", dict(nonlinearity="relu", num_layers=2))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("name,kw", PACKED_CONFIGS, ids=[n + str(i) for i, (n, _) in enumerate(PACKED_CONFIGS)])
def test_modules_on_packed_sequences_match_torch(torch, name, kw, enforce_sorted, dtype):
    """Packed in and out: each step runs on its first batch_sizes[t] rows; h0 and h_n in the caller's order."""
    ours, theirs = loaded_pair(torch, name, (3, 4), kw, dtype)
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    bf = kw.get("batch_first", False)
    x = randn(*((4, 5, 3) if bf else (5, 4, 3)), dtype=dtype)
    dirs, layers, P = 2 if kw.get("bidirectional") else 1, kw.get("num_layers", 1), kw.get("proj_size") or 4
    states = [randn(dirs * layers, 4, P, dtype=dtype, seed=5)]
    if name == "LSTM":
        states.append(randn(dirs * layers, 4, 4, dtype=dtype, seed=6))
    ox, tx = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    oh = [nnlite.tensor(s, requires_grad=True) for s in states]
    th = [torch.tensor(s, requires_grad=True) for s in states]
    op = ours_rnn.pack_padded_sequence(ox, lengths, batch_first=bf, enforce_sorted=enforce_sorted)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=bf, enforce_sorted=enforce_sorted)
    o_out, o_h = ours(op, tuple(oh) if name == "LSTM" else oh[0])
    t_out, t_h = theirs(tp, tuple(th) if name == "LSTM" else th[0])
    assert isinstance(o_out, ours_rnn.PackedSequence)
    assert o_out.batch_sizes.tolist() == t_out.batch_sizes.tolist()
    o_pad, _ = ours_rnn.pad_packed_sequence(o_out, batch_first=bf)
    t_pad, _ = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=bf)
    o_states = list(o_h) if name == "LSTM" else [o_h]
    t_states = list(t_h) if name == "LSTM" else [t_h]
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    o_loss, t_loss = 0, 0
    for i, (o, t) in enumerate(zip([o_pad] + o_states, [t_pad] + t_states)):
        assert_close(o, t, **tol)
        w = weights_of(20 + i, tuple(t.shape), dtype)
        o_loss = o_loss + (o * nnlite.tensor(w)).sum()
        t_loss = t_loss + (t * torch.tensor(w)).sum()
    o_loss.backward()
    t_loss.backward()
    for o, t in zip([ox] + oh, [tx] + th):
        assert_close(o.grad, t.grad, **tol)
    o_params = dict(ours.named_parameters())
    for pname, p in theirs.named_parameters():
        assert_close(o_params[pname].grad, p.grad, **tol)


def test_packed_input_of_wrong_size():
    packed = ours_rnn.pack_sequence([nnlite.zeros(3, 2), nnlite.zeros(2, 2)])
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 2"):
        nn.GRU(3, 4)(packed)
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"):
        nn.GRU(2, 4)(packed, nnlite.zeros(1, 3, 4))
