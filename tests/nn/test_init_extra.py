"""nn.init's structured initialisations (orthogonal_, sparse_, dirac_), the deprecated aliases and the
full name list, against torch."""
import math

import numpy as np
import pytest

import nnlite
import nnlite.nn.init as init

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("shape", [(3, 5), (6, 2), (4, 4), (4, 2, 3)])
def test_orthogonal_is_the_sign_fixed_qr_of_the_normal_draw(shape, device):
    gain = 1.7
    rows, cols = shape[0], int(np.prod(shape[1:]))
    nnlite.manual_seed(3)
    draw = nnlite.empty(rows, cols, dtype=nnlite.float64, device=device).normal_(0, 1).cpu().numpy()
    nnlite.manual_seed(3)
    w = init.orthogonal_(nnlite.empty(*shape, dtype=nnlite.float64, device=device), gain=gain)
    wide = rows < cols
    q, r = np.linalg.qr(draw.T if wide else draw)
    q = q * np.sign(np.diag(r))
    expected = (q.T if wide else q) * gain
    np.testing.assert_allclose(w.cpu().numpy().reshape(rows, cols), expected, rtol=1e-10, atol=1e-12)
    flat = w.cpu().numpy().reshape(rows, cols) / gain
    gram = flat @ flat.T if wide else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-10)


def test_orthogonal_matches_torch_given_torchs_draw():
    # with the same normal draw the result is torch's: feed torch's draw through our path
    gen = torch.Generator().manual_seed(0)
    ref = torch.nn.init.orthogonal_(torch.empty(4, 6, dtype=torch.float64), generator=gen)
    draw = torch.empty(4, 6, dtype=torch.float64).normal_(0, 1, generator=torch.Generator().manual_seed(0))
    q, r = np.linalg.qr(draw.numpy().T)
    np.testing.assert_allclose((q * np.sign(np.diag(r))).T, ref.numpy(), atol=1e-12)


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 1.0])
def test_sparse_zeros_ceil_of_sparsity_rows_per_column(sparsity, device):
    rows, cols = 10, 7
    w = init.sparse_(nnlite.empty(rows, cols, device=device), sparsity, std=0.5).cpu().numpy()
    zeros_per_column = (w == 0).sum(axis=0)
    np.testing.assert_array_equal(zeros_per_column, [math.ceil(sparsity * rows)] * cols)
    ref = torch.nn.init.sparse_(torch.empty(rows, cols), sparsity, std=0.5)
    np.testing.assert_array_equal((ref == 0).sum(dim=0).numpy(), zeros_per_column)


def test_sparse_values_are_normal_with_std():
    w = init.sparse_(nnlite.empty(400, 300, dtype=nnlite.float64), 0.3, std=0.02).numpy()
    nonzero = w[w != 0]
    assert abs(nonzero.std() - 0.02) < 0.002 and abs(nonzero.mean()) < 0.002
    rows_zeroed = [set(np.flatnonzero(w[:, c] == 0)) for c in range(3)]
    assert rows_zeroed[0] != rows_zeroed[1] != rows_zeroed[2]   # each column draws its own rows


@pytest.mark.parametrize("shape,groups", [((4, 3, 3), 1), ((6, 2, 3, 3), 3), ((2, 5, 3, 4, 5), 1),
                                          ((8, 2, 2, 2), 2)])
def test_dirac_matches_torch(shape, groups, device):
    w = init.dirac_(nnlite.empty(*shape, device=device), groups=groups)
    ref = torch.nn.init.dirac_(torch.empty(*shape), groups=groups)
    np.testing.assert_array_equal(w.cpu().numpy(), ref.numpy())


def test_dirac_conv_passes_its_input_through():
    conv = nnlite.nn.Conv2d(3, 3, 3, padding=1, bias=False)
    init.dirac_(conv.weight)
    x = nnlite.randn(1, 3, 5, 5)
    np.testing.assert_allclose(conv(x).detach().numpy(), x.numpy(), atol=1e-6)


@pytest.mark.parametrize("call,message", [
    (lambda: init.orthogonal_(nnlite.empty(3)), "Only tensors with 2 or more dimensions are supported"),
    (lambda: init.sparse_(nnlite.empty(3, 3, 3), 0.1), "Only tensors with 2 dimensions are supported"),
    (lambda: init.dirac_(nnlite.empty(3, 3)), "Only tensors with 3, 4, or 5 dimensions are supported"),
    (lambda: init.dirac_(nnlite.empty(3, 3, 3), groups=2), "dim 0 must be divisible by groups"),
])
def test_structured_init_errors_are_torchs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_inputs_are_filled_in_place_and_returned():
    t = nnlite.zeros(4, 4)
    assert init.orthogonal_(t) is t and np.abs(t.numpy()).sum() > 0
    assert init.orthogonal_(nnlite.empty(0, 3)).shape == (0, 3)
    with pytest.raises(TypeError, match="orthogonal_"):
        init.orthogonal_(np.zeros((2, 2)))


def test_deprecated_aliases_warn_and_work():
    t = nnlite.empty(3, 3)
    with pytest.warns(FutureWarning, match="`nn.init.constant` is now deprecated in favor of `nn.init.constant_`"):
        init.constant(t, 2.0)
    assert np.all(t.numpy() == 2.0)
    with pytest.warns(FutureWarning):
        init.eye(t)
    np.testing.assert_array_equal(t.numpy(), np.eye(3))


def test_every_public_torch_init_name_exists():
    names = [n for n in dir(torch.nn.init) if callable(getattr(torch.nn.init, n)) and not n.startswith("_")
             and getattr(torch.nn.init, n).__module__ == "torch.nn.init"]
    assert [n for n in names if not hasattr(init, n)] == []
    for name in ["linear", "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]:
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)
