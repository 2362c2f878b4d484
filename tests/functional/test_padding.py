"""F.pad: every mode vs PyTorch (values and gradients), gradcheck, CUDA vs CPU, errors."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

CASES = [
    ((2, 3, 5), (1, 2), "constant"),
    ((2, 3, 5), (2, -1, 0, 3), "constant"),
    ((2, 3, 4, 5), (1, 1, -1, 2, 3, 0, 1, 1), "constant"),       # all four dims
    ((2, 2, 2, 2, 2), (1, 0, 0, 1, 1, 1, 1, 1, 2, 0), "constant"),  # five dims
    ((2, 4), (-4, 0), "constant"),                              # cropped to nothing
    ((3, 5), (2, 4), "reflect"),
    ((2, 3, 5), (1, 2, 2, 1), "reflect"),
    ((1, 1, 5), (-1, 2), "reflect"),
    ((1, 2, 3, 4, 5), (1, 2, 0, 1, 2, 1), "reflect"),
    ((2, 3, 5), (3, -1), "replicate"),
    ((2, 3, 4), (4, 2, 0, 3), "replicate"),
    ((1, 2, 3, 4, 5), (1, 2, 0, 1, 2, 1), "replicate"),
    ((2, 3, 4), (4, 2, 1, 3), "circular"),
    ((1, 1, 5), (-1, 2), "circular"),
    ((1, 1, 5), (2, -1), "circular"),
    ((1, 2, 3, 4, 5), (1, 2, 0, 1, -2, 1), "circular"),
]


@pytest.mark.parametrize("shape, pad, mode", CASES)
def test_values_and_gradients_match_torch(torch, shape, pad, mode):
    x = randn(*shape, dtype=np.float64, seed=1)
    torch_x = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.pad(torch_x, pad, mode=mode)
    g = randn(*want.shape, dtype=np.float64, seed=2)
    want.backward(torch.tensor(g))
    xt = nnlite.tensor(x, requires_grad=True)
    got = F.pad(xt, pad, mode=mode)
    assert got.shape == tuple(want.shape)
    assert_close(got, want, rtol=0, atol=0)
    got.backward(nnlite.tensor(g))
    assert_close(xt.grad, torch_x.grad, rtol=1e-12, atol=1e-12)
    assert_close(xt, x, rtol=0, atol=0)  # the input is not modified


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_gradcheck(device, mode):
    x = nnlite.tensor(randn(1, 2, 3, dtype=np.float64, seed=3), device=device, requires_grad=True)
    assert gradcheck(lambda t: F.pad(t, (2, 1, 1, 1), mode=mode), (x,))


@pytest.mark.cuda
@pytest.mark.parametrize("shape, pad, mode", [c for c in CASES if np.prod(c[0]) <= 60])
def test_cuda_matches_cpu(shape, pad, mode):
    if not nnlite.cuda.is_available():
        pytest.skip("CUDA is not available (install numba-cuda for the simulator)")
    x = randn(*shape, seed=4)
    results = []
    for dev in ["cpu", "cuda"]:
        xt = nnlite.tensor(x, device=dev, requires_grad=True)
        y = F.pad(xt, pad, mode=mode, value=None)
        y.backward(nnlite.ones(y.shape, device=dev))
        results.append((y, xt.grad))
    assert_close(results[1][0], results[0][0], rtol=0, atol=0)
    assert_close(results[1][1], results[0][1], rtol=1e-6, atol=1e-6)


def test_constant_value_and_dtypes(torch, device):
    x = nnlite.tensor([[1, 2], [3, 4]], device=device)
    got = F.pad(x, (1, 0, 0, 1), value=7)
    assert got.dtype is nnlite.int64
    assert_close(got, torch.nn.functional.pad(torch.tensor([[1, 2], [3, 4]]), (1, 0, 0, 1), value=7))
    assert_close(F.pad(nnlite.arange(3), (1, 1), value=2.7), np.array([2, 0, 1, 2, 2]))
    b = F.pad(nnlite.tensor([True], device=device), (1, 1), value=0)
    assert b.dtype is nnlite.bool and b.cpu().tolist() == [False, True, False]
    f = F.pad(nnlite.ones(2, device=device), (1, 1), value=float("nan"))
    assert np.isnan(f.cpu().numpy()[[0, 3]]).all()
    assert F.pad(nnlite.ones(2), ()).shape == (2,)


def test_errors_match_torch(torch):
    x = nnlite.ones(1, 3, 4)
    tx = torch.ones(1, 3, 4)
    cases = [((1,), "constant", None), ((1, 1, 1, 1, 1, 1, 1, 1), "constant", None), ((1, 1), "foo", None),
             ((4, 4), "reflect", None), ((5, 1), "circular", None), ((1, 1), "reflect", 2.0),
             ((1, 1, 1, 1, 1, 1), "reflect", None)]
    for pad, mode, value in cases:
        with pytest.raises(Exception) as theirs:
            torch.nn.functional.pad(tx, pad, mode=mode, value=value)
        with pytest.raises(type(theirs.value)) as ours:
            F.pad(x, pad, mode=mode, value=value)
        assert str(ours.value).split("\n")[0] == str(theirs.value).split("\n")[0], (pad, mode)
    with pytest.raises(TypeError, match="must be tuple of ints, but found element of type float at pos 0"):
        F.pad(x, (1.5, 1))
    with pytest.raises(RuntimeError, match="resulted in a negative output size"):
        F.pad(x, (-3, -2))
    with pytest.raises(TypeError, match="argument 'input' must be Tensor"):
        F.pad(np.ones(3), (1, 1))
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 1D input tensor"):
        F.pad(nnlite.ones(3), (1, 1), mode="replicate")
