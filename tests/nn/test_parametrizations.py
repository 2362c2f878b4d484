"""nn.utils.parametrizations (orthogonal, weight_norm, spectral_norm) against torch, float64."""
import numpy as np
import pytest

import nnlite
from nnlite.nn.utils import parametrizations as PZ
from nnlite.nn.utils.parametrizations import householder_product, matrix_exp
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")


def _linear_pair(in_f, out_f, device="cpu", bias=True):
    theirs = torch.nn.Linear(in_f, out_f, bias=bias).double()
    ours = nnlite.nn.Linear(in_f, out_f, bias=bias, dtype=nnlite.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device), theirs


def _copy_state(ours, theirs, names):
    for name in names:
        t = theirs.get_buffer(name)
        ours.get_buffer(name).copy_(nnlite.tensor(t.numpy(), device=ours.get_buffer(name).device))


def _train_and_compare(ours, theirs, in_f, steps=3, device="cpu", rtol=1e-9):
    opt_o = nnlite.optim.SGD(ours.parameters(), lr=0.1)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for step in range(steps):
        x = randn(2, in_f, dtype=np.float64, seed=step)
        out_o, out_t = ours(nnlite.tensor(x, device=device)), theirs(torch.tensor(x))
        assert_close(out_o, out_t, rtol=rtol, atol=1e-11)
        (out_o ** 3).sum().backward()
        (out_t ** 3).sum().backward()
        opt_o.step()
        opt_t.step()
        opt_o.zero_grad()
        opt_t.zero_grad()
    sd_o, sd_t = ours.state_dict(), theirs.state_dict()
    assert list(sd_o) == list(sd_t)
    for k in sd_t:
        assert_close(sd_o[k], sd_t[k], rtol=rtol, atol=1e-11)


# ------------------------------------------------------------------ building blocks

@pytest.mark.parametrize("scale", [0.1, 3.0, 40.0])
def test_matrix_exp_matches_torch(scale):
    a = randn(2, 4, 4, dtype=np.float64, seed=1) * scale
    ours = nnlite.tensor(a, requires_grad=True)
    theirs = torch.tensor(a, requires_grad=True)
    out_o, out_t = matrix_exp(ours), torch.linalg.matrix_exp(theirs)
    assert_close(out_o, out_t, rtol=1e-11, atol=1e-11 * float(out_t.detach().abs().max()))
    g = randn(2, 4, 4, dtype=np.float64, seed=2)
    (out_o * nnlite.tensor(g)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    assert_close(ours.grad, theirs.grad, rtol=1e-9, atol=1e-9 * float(theirs.grad.abs().max()))


def test_householder_product_matches_torch():
    a = np.tril(randn(5, 3, dtype=np.float64, seed=3), -1)
    tau = np.abs(randn(3, dtype=np.float64, seed=4))
    ours_a, ours_t = nnlite.tensor(a, requires_grad=True), nnlite.tensor(tau, requires_grad=True)
    theirs_a, theirs_t = torch.tensor(a, requires_grad=True), torch.tensor(tau, requires_grad=True)
    out_o = householder_product(ours_a, ours_t)
    # torch reads only below the diagonal of a, as v_i = e_i + a[i+1:, i]
    out_t = torch.linalg.householder_product(theirs_a, theirs_t)
    assert_close(out_o, out_t, rtol=1e-12, atol=1e-13)
    out_o.sum().backward()
    out_t.sum().backward()
    assert_close(ours_t.grad, theirs_t.grad, rtol=1e-10, atol=1e-12)
    assert_close(ours_a.grad * nnlite.tensor(np.tril(np.ones((5, 3)), -1)),
                 theirs_a.grad * torch.tril(torch.ones(5, 3, dtype=torch.float64), -1), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ orthogonal

@pytest.mark.parametrize("orth_map", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3)])
@pytest.mark.parametrize("trivialization", [True, False])
def test_orthogonal_matches_torch(orth_map, shape, trivialization):
    in_f, out_f = shape[1], shape[0]
    ours, theirs = _linear_pair(in_f, out_f)
    with torch.no_grad():   # a small weight keeps matrix_exp/cayley well inside their accurate range
        theirs.weight.mul_(0.5)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    torch.nn.utils.parametrizations.orthogonal(theirs, orthogonal_map=orth_map,
                                               use_trivialization=trivialization)
    PZ.orthogonal(ours, orthogonal_map=orth_map, use_trivialization=trivialization)
    assert type(ours).__name__ == "ParametrizedLinear"
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if trivialization and shape[0] != shape[1]:
        # torch completes a non-square base with random columns: take its draw
        _copy_state(ours, theirs, ["parametrizations.weight.0.base"])
    assert_close(ours.state_dict()["parametrizations.weight.original"],
                 theirs.state_dict()["parametrizations.weight.original"], rtol=1e-10, atol=1e-12)
    w = ours.weight.detach().numpy()
    gram = w @ w.T if shape[0] < shape[1] else w.T @ w
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)
    assert_close(ours.weight, theirs.weight, rtol=1e-10, atol=1e-12)
    _train_and_compare(ours, theirs, in_f)


def test_orthogonal_assignment_and_default_map():
    ours, theirs = _linear_pair(4, 4)
    PZ.orthogonal(ours)
    torch.nn.utils.parametrizations.orthogonal(theirs)
    assert ours.parametrizations.weight[0].orthogonal_map.name == "matrix_exp"
    q = np.linalg.qr(randn(4, 4, dtype=np.float64, seed=8))[0]
    ours.weight = nnlite.tensor(q)
    theirs.weight = torch.tensor(q)
    assert_close(ours.weight, q, rtol=1e-12, atol=1e-12)
    assert_close(ours.weight, theirs.weight, rtol=1e-12, atol=1e-12)
    tall = nnlite.nn.Linear(3, 5)
    PZ.orthogonal(tall)
    assert tall.parametrizations.weight[0].orthogonal_map.name == "householder"


def test_orthogonal_errors():
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices. Got a tensor of 1 dim"):
        PZ.orthogonal(nnlite.nn.Linear(2, 2), "bias")
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        PZ.orthogonal(nnlite.nn.Linear(2, 2), orthogonal_map="qr")
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'nope'"):
        PZ.orthogonal(nnlite.nn.Linear(2, 2), "nope")
    m = PZ.orthogonal(nnlite.nn.Linear(2, 2), use_trivialization=False)
    with pytest.raises(NotImplementedError, match="not possible to assign to the matrix exponential"):
        m.weight = nnlite.eye(2)
    m = PZ.orthogonal(nnlite.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"Expected a matrix or batch of matrices of shape"):
        m.weight = nnlite.eye(3)


# ------------------------------------------------------------------ weight_norm, spectral_norm

@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_parametrization_matches_torch(device, dim):
    ours, theirs = _linear_pair(4, 3, device)
    PZ.weight_norm(ours, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(theirs, dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    _train_and_compare(ours, theirs, 4, device=device)


def test_spectral_norm_parametrization_matches_torch(device):
    ours, theirs = _linear_pair(5, 3, device)
    PZ.spectral_norm(ours, n_power_iterations=2)
    torch.nn.utils.parametrizations.spectral_norm(theirs, n_power_iterations=2)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "bias", "parametrizations.weight.original", "parametrizations.weight.0._u",
        "parametrizations.weight.0._v"]
    # u and v start from a random draw: take torch's
    _copy_state(ours, theirs, ["parametrizations.weight.0._u", "parametrizations.weight.0._v"])
    _train_and_compare(ours, theirs, 5, device=device)
    ours.eval()
    theirs.eval()
    u = ours.parametrizations.weight[0]._u.cpu().numpy().copy()
    assert_close(ours.weight, theirs.weight, rtol=1e-10)
    np.testing.assert_array_equal(ours.parametrizations.weight[0]._u.cpu().numpy(), u)


def test_spectral_norm_parametrization_power_method_at_registration():
    # registration runs 15 power iterations: sigma is then close to the largest singular value
    m = nnlite.nn.Linear(6, 4, dtype=nnlite.float64)
    w = m.weight.detach().numpy().copy()
    PZ.spectral_norm(m)
    m.eval()
    np.testing.assert_allclose(np.linalg.norm(m.weight.detach().numpy(), 2), 1.0, rtol=1e-3)
    bias = nnlite.nn.Linear(3, 3)
    PZ.spectral_norm(bias, "bias")    # 1-D: normalised, no buffers
    assert list(bias.state_dict()) == ["weight", "parametrizations.bias.original"]
    assert_close(bias.bias.norm(), 1.0, rtol=1e-6)
    assert w.shape == (4, 6)


def test_spectral_norm_parametrization_errors():
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        PZ.spectral_norm(nnlite.nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        PZ.spectral_norm(nnlite.nn.Linear(2, 2), dim=3)
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'nope'"):
        PZ.spectral_norm(nnlite.nn.Linear(2, 2), "nope")


@pytest.mark.parametrize("orth_map, shape", [("matrix_exp", (3, 3)), ("cayley", (2, 3)), ("householder", (3, 2))])
def test_orthogonal_on_device_matches_cpu(device, orth_map, shape):
    ours_cpu, theirs = _linear_pair(shape[1], shape[0])
    ours_dev = nnlite.nn.Linear(shape[1], shape[0], dtype=nnlite.float64)
    ours_dev.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours_dev.to(device)
    PZ.orthogonal(ours_cpu, orthogonal_map=orth_map, use_trivialization=False)
    PZ.orthogonal(ours_dev, orthogonal_map=orth_map, use_trivialization=False)
    assert ours_dev.weight.device.type == device
    assert_close(ours_dev.weight, ours_cpu.weight, rtol=1e-12, atol=1e-13)
    ours_dev.weight.sum().backward()
    ours_cpu.weight.sum().backward()
    orig_dev = ours_dev.parametrizations.weight.original
    assert_close(orig_dev.grad, ours_cpu.parametrizations.weight.original.grad, rtol=1e-10, atol=1e-12)


def test_matrix_maps_pass_gradcheck():
    from nnlite.autograd import gradcheck
    from nnlite.nn.utils.parametrizations import _solve_newton_schulz
    a = nnlite.tensor(randn(3, 3, dtype=np.float64, seed=11), requires_grad=True)
    assert gradcheck(matrix_exp, (a,))
    low = nnlite.tensor(np.tril(randn(4, 2, dtype=np.float64, seed=12), -1), requires_grad=True)
    tau = nnlite.tensor(np.abs(randn(2, dtype=np.float64, seed=13)), requires_grad=True)
    assert gradcheck(householder_product, (low, tau))
    m = nnlite.tensor(randn(3, 3, dtype=np.float64, seed=14) + 3 * np.eye(3), requires_grad=True)
    rhs = nnlite.tensor(randn(3, 2, dtype=np.float64, seed=15), requires_grad=True)
    assert gradcheck(_solve_newton_schulz, (m, rhs))
    assert_close(_solve_newton_schulz(m, rhs), np.linalg.solve(m.detach().numpy(), rhs.detach().numpy()),
                 rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("orth_map", ["matrix_exp", "householder"])
def test_orthogonal_batched_buffer_matches_torch(orth_map):
    w = randn(2, 4, 3, dtype=np.float64, seed=21) * 0.5
    ours, theirs = nnlite.nn.Module(), torch.nn.Module()
    ours.register_buffer("w", nnlite.tensor(w))
    theirs.register_buffer("w", torch.tensor(w))
    torch.nn.utils.parametrizations.orthogonal(theirs, "w", orthogonal_map=orth_map, use_trivialization=False)
    PZ.orthogonal(ours, "w", orthogonal_map=orth_map, use_trivialization=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["parametrizations.w.original"]
    assert_close(ours.state_dict()["parametrizations.w.original"],
                 theirs.state_dict()["parametrizations.w.original"], rtol=1e-10, atol=1e-12)
    assert_close(ours.w, theirs.w, rtol=1e-10, atol=1e-12)


def test_parametrized_module_moves_and_casts():
    m = nnlite.nn.Linear(3, 3)
    PZ.orthogonal(m)
    original = m.parametrizations.weight.original
    m.double()
    assert m.parametrizations.weight.original is original and original.dtype == nnlite.float64
    assert m.weight.dtype == nnlite.float64 and m.parametrizations.weight[0].base.dtype == nnlite.float64
    w = m.weight.detach().numpy()
    np.testing.assert_allclose(w.T @ w, np.eye(3), atol=1e-6)


def test_weight_norm_compat_hook_renames_old_keys():
    from nnlite.nn.utils.parametrizations import _weight_norm_compat_hook
    old = {"fc.bias": 1, "fc.weight_g": 2, "fc.weight_v": 3, "other.weight_g": 4}
    _weight_norm_compat_hook("weight")(old, "fc.", {}, True, [], [], [])
    assert old == {"fc.bias": 1, "fc.parametrizations.weight.original0": 2,
                   "fc.parametrizations.weight.original1": 3, "other.weight_g": 4}
