"""conv2d: values and gradients vs PyTorch for every algorithm (im2col + GEMM, Winograd,
depthwise), gradcheck in float64, CUDA kernels (simulator on tiny shapes), errors."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from nnlite.functional import conv as conv_module
from tests.helpers import assert_close, randn


@pytest.fixture(autouse=True)
def winograd_on_small_shapes(monkeypatch):
    """Every 3x3 stride-1 convolution takes the Winograd path, however small (tests stay fast)."""
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_MACS", 0)

# (input shape, weight shape, kwargs); the comment says which algorithm runs
CONFIGS = [
    ((2, 3, 7, 6), (4, 3, 3, 3), dict(padding=1)),                          # Winograd
    ((2, 3, 8, 9), (5, 3, 3, 3), dict()),                                   # Winograd, no padding, odd outputs
    ((1, 4, 5, 5), (3, 4, 3, 3), dict(padding=(0, 2))),                     # Winograd, asymmetric pad per dim
    ((2, 3, 7, 6), (4, 3, 3, 2), dict(stride=2, padding=1)),                # GEMM, non-square kernel
    ((2, 3, 9, 7), (4, 3, 2, 3), dict(stride=(2, 1), dilation=(1, 2))),     # GEMM, dilation
    ((2, 4, 9, 8), (6, 2, 3, 3), dict(groups=2, dilation=2, padding=(2, 1))),  # GEMM, groups
    ((2, 6, 5, 7), (9, 2, 1, 1), dict(groups=3)),                           # GEMM, 1x1 grouped
    ((2, 3, 7, 6), (4, 3, 2, 2), dict(padding="same")),                     # GEMM, asymmetric 'same'
    ((2, 3, 6, 7), (4, 3, 5, 4), dict(padding="same", dilation=(1, 2))),    # GEMM, 'same' + dilation
    ((2, 3, 6, 7), (4, 3, 3, 3), dict(padding="valid", stride=3)),          # GEMM, 'valid'
    ((2, 4, 9, 8), (4, 1, 3, 3), dict(groups=4, padding=1)),                # depthwise
    ((2, 4, 9, 8), (8, 1, 3, 3), dict(groups=4, padding="same")),           # depthwise, multiplier 2
    ((2, 4, 9, 8), (4, 1, 2, 3), dict(groups=4, stride=(2, 3), dilation=(1, 2), padding=1)),  # depthwise, strided
    ((1, 1, 6, 5), (3, 1, 3, 3), dict(stride=2)),                           # depthwise path with C == 1
    ((3, 7, 6), (4, 3, 3, 3), dict(padding=1)),                             # unbatched
]

TINY = [  # for the CUDA simulator: one of each algorithm, forward and backward
    ((1, 2, 5, 4), (2, 2, 3, 3), dict(padding=1)),
    ((2, 2, 5, 4), (3, 2, 2, 3), dict(stride=(2, 1), padding=(1, 1), dilation=(1, 2))),
    ((1, 4, 4, 5), (4, 2, 1, 2), dict(groups=2)),
    ((2, 2, 5, 4), (4, 1, 3, 3), dict(groups=2, padding=1, stride=(1, 2))),
    ((2, 5, 4), (2, 2, 3, 3), dict(padding=1)),
]


def _run(x, w, b, kwargs, device="cpu", dtype=None):
    """Output and gradients of x, w, b for a fixed random output gradient."""
    def t(a):
        return None if a is None else nnlite.tensor(a, device=device, dtype=dtype, requires_grad=True)
    xt, wt, bt = t(x), t(w), t(b)
    y = F.conv2d(xt, wt, bt, **kwargs)
    g = randn(*y.shape, seed=9, dtype=y.dtype.np)
    y.backward(nnlite.tensor(g, device=device))
    return y, xt.grad, wt.grad, None if bt is None else bt.grad, g


def _torch_run(torch, x, w, b, kwargs, g):
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    y = torch.nn.functional.conv2d(xt, wt, bt, **kwargs)
    y.backward(torch.tensor(g, dtype=y.dtype))
    return y, xt.grad, wt.grad, None if bt is None else bt.grad


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONFIGS)
def test_matches_torch(torch, x_shape, w_shape, kwargs, bias):
    x, w = randn(*x_shape, seed=1), randn(*w_shape, seed=2)
    b = randn(w_shape[0], seed=3) if bias else None
    ours = _run(x, w, b, kwargs)
    theirs = _torch_run(torch, x, w, b, kwargs, ours[-1])
    for got, want in zip(ours[:4], theirs):
        if want is None:
            assert got is None
        else:
            assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("x_shape, w_shape, kwargs", TINY)
def test_device_matches_torch(torch, device, x_shape, w_shape, kwargs):
    x, w, b = randn(*x_shape, seed=4), randn(*w_shape, seed=5), randn(w_shape[0], seed=6)
    ours = _run(x, w, b, kwargs, device=device)
    theirs = _torch_run(torch, x, w, b, kwargs, ours[-1])
    assert ours[0].device.type == device
    for got, want in zip(ours[:4], theirs):
        assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("x_shape, w_shape, kwargs", [
    ((1, 2, 4, 5), (2, 2, 3, 3), dict(padding=1)),                      # Winograd
    ((2, 2, 5, 4), (3, 2, 2, 3), dict(stride=(2, 1), dilation=(2, 1))),  # GEMM
    ((1, 4, 4, 3), (4, 2, 1, 2), dict(groups=2, padding=(0, 1))),        # GEMM, groups
    ((1, 2, 4, 5), (4, 1, 3, 2), dict(groups=2, padding=1, stride=2)),   # depthwise
])
def test_gradcheck(x_shape, w_shape, kwargs):
    # CPU only: the simulator would need minutes; CUDA gradients are checked against torch above
    def t(a):
        return nnlite.tensor(a.astype(np.float64), requires_grad=True)
    x, w, b = t(randn(*x_shape, seed=7)), t(randn(*w_shape, seed=8)), t(randn(w_shape[0], seed=9))
    assert gradcheck(lambda *a: F.conv2d(*a, **kwargs), (x, w, b))


def test_gradient_of_another_dtype_is_cast(torch):
    x, w = randn(1, 2, 5, 5, seed=1), randn(3, 2, 3, 3, seed=2)
    xt = nnlite.tensor(x, dtype=nnlite.float64, requires_grad=True)
    y = F.conv2d(xt, nnlite.tensor(w, dtype=nnlite.float64), padding=1)
    y.backward(nnlite.ones(tuple(y.shape)))             # float32 gradient for a float64 output
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv2d(tx, torch.tensor(w, dtype=torch.float64), padding=1).sum().backward()
    assert xt.grad.dtype is nnlite.float64
    assert_close(xt.grad, tx.grad, rtol=1e-12, atol=1e-12)


def test_float64_matches_torch(torch):
    x, w = randn(2, 5, 9, 9, dtype=np.float64, seed=1), randn(6, 5, 3, 3, dtype=np.float64, seed=2)
    depthwise = randn(10, 1, 3, 3, dtype=np.float64, seed=3)
    for kwargs in (dict(padding=1), dict(stride=2), dict(groups=5, padding=2, dilation=2)):
        wk = depthwise if "groups" in kwargs else w
        ours = _run(x, wk, None, kwargs)
        theirs = _torch_run(torch, x, wk, None, kwargs, ours[-1])
        assert ours[0].dtype is nnlite.float64
        for got, want in zip(ours[:3], theirs[:3]):
            assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_large_shapes_take_the_parallel_paths(torch):
    # big enough for prange in every kernel, odd sizes for the tile edges
    cases = [((2, 16, 33, 31), (8, 16, 3, 3), dict(padding=1)),
             ((2, 16, 33, 31), (8, 16, 3, 3), dict(stride=2, padding=1)),
             ((2, 16, 33, 31), (16, 1, 3, 3), dict(groups=16, padding=1))]
    for x_shape, w_shape, kwargs in cases:
        x, w, b = randn(*x_shape, seed=1), randn(*w_shape, seed=2), randn(w_shape[0], seed=3)
        ours = _run(x, w, b, kwargs)
        theirs = _torch_run(torch, x, w, b, kwargs, ours[-1])
        for got, want in zip(ours[:4], theirs):
            assert_close(got, want, rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("path", ["numba threads", "thread pool", "whole"])
def test_gemms_split_over_cores_or_not(torch, monkeypatch, path):
    # every GEMM above the threshold is cut into per-core slices (batch, rows or
    # columns), run by Numba's threads calling BLAS or, where numpy's BLAS is not
    # an ILP64 OpenBLAS, by a thread pool; without threadpoolctl numpy's own
    # matmul runs whole
    from nnlite.kernels import matmul as matmul_module
    monkeypatch.setattr(matmul_module, "SPLIT_MIN_OUTPUT", 0)
    if path == "numba threads":
        if not matmul_module._numba_gemm_dtypes():
            pytest.skip("numpy's BLAS is not an ILP64 OpenBLAS that Numba's threads can call")
        monkeypatch.setattr(matmul_module, "_slices", None)  # the pool path would fail
    if path == "thread pool":
        monkeypatch.setattr(matmul_module, "_gemm_dtypes", set())
    if path == "whole":
        monkeypatch.setattr(matmul_module, "_blas", False)
    cases = [((2, 5, 7, 6), (6, 5, 3, 3), dict(padding=1)),            # Winograd: batch of 16
             ((2, 5, 7, 6), (3, 5, 2, 2), dict(stride=2)),             # GEMM: columns / rows
             ((1, 4, 3, 3), (9, 4, 3, 3), dict(padding=1, stride=2)),  # GEMM: more rows than columns
             ((2, 6, 7, 6), (4, 3, 3, 1), dict(groups=2))]             # GEMM: batch of 2 groups
    for x_shape, w_shape, kwargs in cases:
        x, w, b = randn(*x_shape, seed=1), randn(*w_shape, seed=2), randn(w_shape[0], seed=3)
        ours = _run(x, w, b, kwargs)
        theirs = _torch_run(torch, x, w, b, kwargs, ours[-1])
        for got, want in zip(ours[:4], theirs):
            assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_non_contiguous_input_and_weight(torch):
    x = randn(2, 3, 8, 7, seed=1)
    w = randn(4, 3, 3, 3, seed=2)
    xt = nnlite.tensor(x).transpose(2, 3)            # (2, 3, 7, 8), not contiguous
    wt = nnlite.tensor(w).transpose(2, 3)
    got = F.conv2d(xt, wt, padding=1)
    want = torch.nn.functional.conv2d(torch.tensor(x).transpose(2, 3), torch.tensor(w).transpose(2, 3), padding=1)
    assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_empty_batch(torch):
    x = nnlite.zeros(0, 3, 5, 5, requires_grad=True)
    w = nnlite.tensor(randn(4, 3, 3, 3, seed=1), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert tuple(y.shape) == (0, 4, 5, 5)
    y.backward(nnlite.ones(0, 4, 5, 5))
    assert tuple(x.grad.shape) == (0, 3, 5, 5)
    assert_close(w.grad, np.zeros((4, 3, 3, 3)))


def test_inputs_are_not_modified(device):
    x_np, b_np = randn(1, 4, 3, 4, seed=1), randn(4, seed=3)
    x = nnlite.tensor(x_np, device=device, requires_grad=True)
    b = nnlite.tensor(b_np, device=device, requires_grad=True)
    for groups, stride in ((1, 1), (2, 2), (4, 1)):  # Winograd, GEMM, depthwise
        w_np = randn(4, 4 // groups, 3, 3, seed=groups)
        w = nnlite.tensor(w_np, device=device, requires_grad=True)
        y = F.conv2d(x, w, b, groups=groups, stride=stride, padding=1)
        g_np = randn(*y.shape, seed=4)
        g = nnlite.tensor(g_np, device=device)
        y.backward(g)
        assert_close(w, w_np)
        assert_close(g, g_np)
    assert_close(x, x_np)
    assert_close(b, b_np)


def test_only_weight_needs_grad(torch):
    x, w = randn(2, 3, 6, 6, seed=1), randn(4, 3, 3, 3, seed=2)
    wt = nnlite.tensor(w, requires_grad=True)
    y = F.conv2d(nnlite.tensor(x), wt, stride=2)
    y.backward(nnlite.ones(tuple(y.shape)))
    tw = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(torch.tensor(x), tw, stride=2).sum().backward()
    assert_close(wt.grad, tw.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("winograd", [True, False])
def test_3x3_stride_1_either_algorithm(torch, monkeypatch, winograd):
    if not winograd:
        monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 1 << 30)
    x, w, b = randn(2, 5, 9, 8, seed=1), randn(6, 5, 3, 3, seed=2), randn(6, seed=3)
    xt = nnlite.tensor(x)
    chosen = conv_module._algorithm(x.shape, w.shape, conv_module._geometry(
        "conv2d", xt, nnlite.tensor(w), 1, 1, 1, 1), xt.dtype, xt.device)[0]
    assert (chosen is conv_module.winograd.forward) == winograd
    ours = _run(x, w, b, dict(padding=1))
    theirs = _torch_run(torch, x, w, b, dict(padding=1), ours[-1])
    for got, want in zip(ours[:4], theirs):
        assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_method_and_module_level_names():
    assert nnlite.conv2d is F.conv2d
    assert nnlite.nn.functional.conv2d is F.conv2d


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("x_shape, w_shape, kwargs, error, match", [
    ((2, 4, 5, 5), (8, 3, 3, 3), {}, RuntimeError,
     r"Given groups=1, weight of size \[8, 3, 3, 3\], expected input\[2, 4, 5, 5\] to have 3 channels, but "
     r"got 4 channels instead"),
    ((4, 5, 5), (8, 3, 3, 3), {}, RuntimeError, r"expected input\[1, 4, 5, 5\] to have 3 channels"),
    ((5, 5), (8, 3, 3, 3), {}, RuntimeError, r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, "
                                             r"but got input of size: \[5, 5\]"),
    ((1, 2, 3, 5, 5), (8, 3, 3, 3), {}, RuntimeError, r"Expected 3D \(unbatched\) or 4D"),
    ((2, 3, 5, 5), (8, 3, 3), {}, RuntimeError, r"expected weight to be 4-dimensional"),
    ((2, 3, 2, 2), (8, 3, 3, 3), {}, RuntimeError,
     r"Calculated padded input size per channel: \(2 x 2\). Kernel size: \(3 x 3\). Kernel size can't be "
     r"greater than actual input size"),
    ((1, 3, 4, 4), (8, 3, 3, 3), dict(dilation=2), RuntimeError, r"\(4 x 4\). Kernel size: \(5 x 5\)"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(groups=2), RuntimeError, r"expected input\[2, 3, 5, 5\] to have 6 channels"),
    ((2, 6, 5, 5), (9, 3, 3, 3), dict(groups=2), RuntimeError,
     r"Given groups=2, expected weight to be divisible by 2 at dimension 0"),
    ((2, 6, 5, 5), (8, 3, 3, 3), dict(groups=0), RuntimeError, r"non-positive groups is not supported"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(stride=0), RuntimeError, r"non-positive stride is not supported"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(padding=-1), RuntimeError, r"negative padding is not supported"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(dilation=0), RuntimeError, r"non-positive dilation is not supported"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(stride=(1, 2, 3)), RuntimeError,
     r"expected stride to be a single integer value or a list of 2 values"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(stride=2, padding="same"), RuntimeError,
     r"padding='same' is not supported for strided convolutions"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(padding="SAME"), RuntimeError, r"Invalid padding string: 'SAME'"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(stride=1.5), TypeError, r"'stride' must be an int or a tuple"),
    ((2, 3, 5, 5), (8, 3, 3, 3), dict(groups=1.0), TypeError, r"'groups' must be int"),
])
def test_bad_arguments(x_shape, w_shape, kwargs, error, match):
    with pytest.raises(error, match=match):
        F.conv2d(nnlite.tensor(randn(*x_shape)), nnlite.tensor(randn(*w_shape)), **kwargs)


def test_bias_errors():
    x, w = nnlite.tensor(randn(2, 3, 5, 5)), nnlite.tensor(randn(8, 3, 3, 3))
    with pytest.raises(RuntimeError, match=r"expected bias to be 1-dimensional with 8 elements, but got bias "
                                           r"of size \[7\] instead"):
        F.conv2d(x, w, nnlite.tensor(randn(7)))
    with pytest.raises(RuntimeError, match=r"Input type \(float32\) and bias type \(float64\) should be the same"):
        F.conv2d(x, w, nnlite.tensor(randn(8), dtype=nnlite.float64))
    with pytest.raises(TypeError, match=r"argument 'bias' must be Tensor, not float"):
        F.conv2d(x, w, 1.0)


def test_dtype_and_type_errors():
    x, w = nnlite.tensor(randn(2, 3, 5, 5)), nnlite.tensor(randn(8, 3, 3, 3))
    with pytest.raises(RuntimeError, match=r"Input type \(float32\) and weight type \(float64\) should be the same"):
        F.conv2d(x, w.double())
    with pytest.raises(RuntimeError, match=r"expected a float32 or float64 input, but got int64"):
        F.conv2d(x.long(), w.long())
    with pytest.raises(TypeError, match=r"argument 'input' must be Tensor, not ndarray"):
        F.conv2d(randn(2, 3, 5, 5), w)


def test_device_mismatch():
    if not nnlite.cuda.is_available():
        pytest.skip("needs CUDA or the simulator")
    x, w = nnlite.tensor(randn(1, 3, 5, 5)), nnlite.tensor(randn(8, 3, 3, 3), device="cuda")
    with pytest.raises(RuntimeError, match="cpu and cuda:0"):
        F.conv2d(x, w)
