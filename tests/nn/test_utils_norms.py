"""weight_norm / spectral_norm (the pre-hook versions) against torch, float64, over training steps."""
import numpy as np
import pytest

import nnlite
from nnlite.nn.utils import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")

# both libraries warn that the pre-hook weight_norm is deprecated (tested below)
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm. is deprecated:FutureWarning")


def _linear_pair(device="cpu", in_f=4, out_f=3):
    theirs = torch.nn.Linear(in_f, out_f).double()
    ours = nnlite.nn.Linear(in_f, out_f, dtype=nnlite.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device), theirs


def _conv_pair(cls_name, device="cpu"):
    theirs = getattr(torch.nn, cls_name)(2, 3, 3).double()
    ours = getattr(nnlite.nn, cls_name)(2, 3, 3, dtype=nnlite.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device), theirs


def _copy_buffers(ours, theirs):
    for name, buf in theirs.named_buffers():
        ours.get_buffer(name).copy_(nnlite.tensor(buf.numpy(), device=ours.get_buffer(name).device))


def _train_and_compare(ours, theirs, x_shape, steps=3, device="cpu"):
    opt_o = nnlite.optim.SGD(ours.parameters(), lr=0.1)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for step in range(steps):
        x = randn(*x_shape, dtype=np.float64, seed=step)
        out_o = ours(nnlite.tensor(x, device=device))
        out_t = theirs(torch.tensor(x))
        assert_close(out_o, out_t, rtol=1e-10, atol=1e-12)
        (out_o ** 2).sum().backward()
        (out_t ** 2).sum().backward()
        for (name, p), (tname, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == tname
            assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-12)
        opt_o.step()
        opt_t.step()
        opt_o.zero_grad()
        opt_t.zero_grad()
    for (k, v), (tk, tv) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert k == tk
        assert_close(v, tv, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dim", [0, 1, None, -1])
def test_weight_norm_linear_matches_torch(device, dim):
    ours, theirs = _linear_pair(device)
    assert weight_norm(ours, dim=dim) is ours
    torch.nn.utils.weight_norm(theirs, dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert tuple(ours.weight_g.shape) == tuple(theirs.weight_g.shape)
    _train_and_compare(ours, theirs, (2, 4), device=device)
    remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    assert isinstance(ours.weight, nnlite.nn.Parameter)
    assert_close(ours.weight, theirs.weight, rtol=1e-10)


def test_weight_norm_conv_dim2():
    ours, theirs = _conv_pair("Conv1d")
    weight_norm(ours, dim=2)
    torch.nn.utils.weight_norm(theirs, dim=2)
    assert tuple(ours.weight_g.shape) == (1, 1, 3)
    _train_and_compare(ours, theirs, (1, 2, 6))


def test_weight_norm_warns_deprecated():
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        weight_norm(nnlite.nn.Linear(2, 2))


def test_weight_norm_errors():
    ours, _ = _linear_pair()
    weight_norm(ours)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        weight_norm(ours)
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        remove_weight_norm(ours, "bias")
    with pytest.raises(ValueError, match="no parameter named 'nope'"):
        weight_norm(nnlite.nn.Linear(2, 2), name="nope")


def test_spectral_norm_linear_matches_torch(device):
    ours, theirs = _linear_pair(device, 5, 3)
    assert spectral_norm(ours, n_power_iterations=2) is ours
    torch.nn.utils.spectral_norm(theirs, n_power_iterations=2)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight_orig", "weight_u",
                                                                    "weight_v"]
    _copy_buffers(ours, theirs)   # u and v start random: take torch's draw
    _train_and_compare(ours, theirs, (2, 5), device=device)
    assert_close(ours.weight_u, theirs.weight_u, rtol=1e-10)


def test_spectral_norm_eval_skips_power_iteration():
    ours, theirs = _linear_pair(in_f=5, out_f=3)
    spectral_norm(ours)
    torch.nn.utils.spectral_norm(theirs)
    _copy_buffers(ours, theirs)
    ours.eval()
    theirs.eval()
    u_before = ours.weight_u.numpy().copy()
    x = randn(2, 5, dtype=np.float64)
    assert_close(ours(nnlite.tensor(x)), theirs(torch.tensor(x)), rtol=1e-12)
    np.testing.assert_array_equal(ours.weight_u.numpy(), u_before)


def test_spectral_norm_conv_transpose_uses_dim1():
    ours, theirs = _conv_pair("ConvTranspose1d")
    spectral_norm(ours)
    torch.nn.utils.spectral_norm(theirs)
    assert tuple(ours.weight_u.shape) == tuple(theirs.weight_u.shape) == (3,)
    _copy_buffers(ours, theirs)
    _train_and_compare(ours, theirs, (1, 2, 4), steps=2)
    remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_close(ours.weight, theirs.weight, rtol=1e-10)


def test_spectral_norm_errors():
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        spectral_norm(nnlite.nn.Linear(2, 2), n_power_iterations=0)
    m = spectral_norm(nnlite.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        spectral_norm(m)
    with pytest.raises(ValueError, match="spectral_norm of 'bias' not found"):
        remove_spectral_norm(m, "bias")
    with pytest.raises(IndexError, match="Dimension out of range"):
        spectral_norm(nnlite.nn.Linear(2, 2), dim=2)
