"""Helpers shared by the recurrent tests (no tests here): run an nnlite recurrent module and
the torch module whose state_dict it loaded on the same data, and compare outputs, final
states and every gradient."""
import numpy as np

import nnlite
from tests.helpers import assert_close

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


def loaded_pair(torch, name, args, kwargs, dtype, device="cpu"):
    """(nnlite module, torch module) with the torch module's parameters in both."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs).to(getattr(torch, np.dtype(dtype).name))
    ours = getattr(nnlite.nn, name)(*args, **kwargs)
    if dtype == np.float64:
        ours.double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device), theirs


def weights_of(seed, shape, dtype):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


def _states(state):
    return list(state) if isinstance(state, tuple) else [state]


def run_both(torch, ours, theirs, x, hx=None, dtype=np.float32, device="cpu"):
    """Forward and backward of both modules on the numpy input x (and states hx, a list of numpy
    arrays or None) with a loss that weights every output element differently; returns the
    nnlite and torch tensors: (out, states, input and state leaves) of each."""
    ox = nnlite.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    oh = th = None
    if hx is not None:
        oh = [nnlite.tensor(h, device=device, requires_grad=True) for h in hx]
        th = [torch.tensor(h, requires_grad=True) for h in hx]
    lstm = isinstance(theirs, (torch.nn.LSTM, torch.nn.LSTMCell))
    o_args = (ox,) if oh is None else (ox, tuple(oh) if lstm else oh[0])
    t_args = (tx,) if th is None else (tx, tuple(th) if lstm else th[0])
    o_res, t_res = ours(*o_args), theirs(*t_args)
    o_out, o_states = (o_res[0], _states(o_res[1])) if isinstance(o_res, tuple) and not _is_cell(theirs, torch) \
        else (None, _states(o_res))
    t_out, t_states = (t_res[0], _states(t_res[1])) if isinstance(t_res, tuple) and not _is_cell(theirs, torch) \
        else (None, _states(t_res))
    o_loss, t_loss = 0, 0
    for i, (o, t) in enumerate(zip([o_out] + o_states, [t_out] + t_states)):
        if t is None:
            continue
        w = weights_of(10 + i, tuple(t.shape), dtype)
        o_loss = o_loss + (o * nnlite.tensor(w, device=device)).sum()
        t_loss = t_loss + (t * torch.tensor(w)).sum()
    o_loss.backward()
    t_loss.backward()
    return (o_out, o_states, [ox] + (oh or [])), (t_out, t_states, [tx] + (th or []))


def _is_cell(module, torch):
    return isinstance(module, (torch.nn.RNNCell, torch.nn.LSTMCell, torch.nn.GRUCell))


def compare(torch, ours, theirs, x, hx=None, dtype=np.float32, device="cpu", tol=None):
    """run_both, then assert outputs, final states, input/state gradients and weight gradients match."""
    tol = tol or TOL[dtype]
    (o_out, o_states, o_leaves), (t_out, t_states, t_leaves) = run_both(torch, ours, theirs, x, hx, dtype, device)
    if t_out is not None:
        assert_close(o_out, t_out, **tol)
    assert len(o_states) == len(t_states)
    for o, t in zip(o_states, t_states):
        assert_close(o, t, **tol)
    for o, t in zip(o_leaves, t_leaves):
        assert_close(o.grad, t.grad, **tol)
    o_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        assert o_params[name].grad is not None, name
        assert_close(o_params[name].grad, p.grad, **tol)
