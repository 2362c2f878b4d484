"""conv1d, conv_transpose1d and conv_transpose2d: values and gradients vs PyTorch (float32 and
float64), gradcheck in float64, CUDA kernels (simulator on tiny shapes), errors."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

# (op, input shape, weight shape, kwargs); weights of transposed ops are (in, out/groups, *k)
CONFIGS = [
    ("conv1d", (2, 3, 9), (4, 3, 3), dict(padding=1)),
    ("conv1d", (2, 4, 11), (6, 2, 4), dict(stride=2, dilation=2, groups=2, padding=(3,))),
    ("conv1d", (2, 3, 8), (4, 3, 4), dict(padding="same", dilation=(2,))),    # asymmetric 'same'
    ("conv1d", (2, 3, 8), (4, 3, 5), dict(padding="valid", stride=3)),
    ("conv1d", (2, 4, 10), (8, 1, 3), dict(groups=4, padding=1)),              # depthwise kernels
    ("conv1d", (3, 9), (4, 3, 3), dict(stride=2)),                             # unbatched
    ("conv_transpose2d", (2, 4, 5, 6), (4, 3, 4, 4), dict(stride=2, padding=1)),
    ("conv_transpose2d", (2, 4, 5, 6), (4, 3, 3, 2), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose2d", (2, 4, 5, 4), (4, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), groups=2,
                                                          dilation=(1, 2))),
    ("conv_transpose2d", (2, 3, 4, 5), (3, 2, 3, 3), dict(output_padding=1, dilation=2)),  # op < dilation
    ("conv_transpose2d", (2, 4, 5, 6), (4, 1, 3, 3), dict(groups=4, stride=3, padding=2, output_padding=2)),
    ("conv_transpose2d", (4, 5, 6), (4, 3, 2, 2), dict(stride=2)),                          # unbatched
    ("conv_transpose1d", (2, 4, 7), (4, 3, 3), dict(stride=3, padding=2, output_padding=2)),
    ("conv_transpose1d", (2, 4, 7), (4, 2, 4), dict(groups=2, dilation=2, padding=1)),
    ("conv_transpose1d", (4, 7), (4, 1, 3), dict(groups=4, stride=2)),                      # unbatched
]

TINY = [  # for the CUDA simulator
    ("conv1d", (2, 2, 6), (3, 2, 3), dict(padding=1, stride=2)),
    ("conv1d", (1, 2, 6), (4, 1, 3), dict(groups=2, padding="same")),
    ("conv_transpose2d", (1, 2, 3, 3), (2, 2, 3, 2), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose1d", (2, 2, 4), (2, 1, 3), dict(groups=2, stride=2, dilation=2, output_padding=1)),
]


def _bias_size(op, w_shape, kwargs):
    return w_shape[1] * kwargs.get("groups", 1) if "transpose" in op else w_shape[0]


def _run(op, x, w, b, kwargs, device="cpu"):
    """Output and gradients of x, w, b for a fixed random output gradient."""
    def t(a):
        return None if a is None else nnlite.tensor(a, device=device, requires_grad=True)
    xt, wt, bt = t(x), t(w), t(b)
    y = getattr(F, op)(xt, wt, bt, **kwargs)
    g = randn(*y.shape, seed=9, dtype=y.dtype.np)
    y.backward(nnlite.tensor(g, device=device))
    return y, xt.grad, wt.grad, None if bt is None else bt.grad, g


def _torch_run(torch, op, x, w, b, kwargs, g):
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    y = getattr(torch.nn.functional, op)(xt, wt, bt, **kwargs)
    y.backward(torch.tensor(g, dtype=y.dtype))
    return y, xt.grad, wt.grad, None if bt is None else bt.grad


def _compare(torch, op, x_shape, w_shape, kwargs, bias, dtype, device="cpu", tol=1e-4):
    x, w = randn(*x_shape, seed=1, dtype=dtype), randn(*w_shape, seed=2, dtype=dtype)
    b = randn(_bias_size(op, w_shape, kwargs), seed=3, dtype=dtype) if bias else None
    ours = _run(op, x, w, b, kwargs, device)
    theirs = _torch_run(torch, op, x, w, b, kwargs, ours[-1])
    assert ours[0].dtype is nnlite.tensor(x).dtype and ours[0].device.type == device
    for got, want in zip(ours[:4], theirs):
        if want is None:
            assert got is None
        else:
            assert_close(got, want, rtol=tol, atol=tol)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("op, x_shape, w_shape, kwargs", CONFIGS)
def test_matches_torch(torch, op, x_shape, w_shape, kwargs):
    _compare(torch, op, x_shape, w_shape, kwargs, True, np.float32)
    _compare(torch, op, x_shape, w_shape, kwargs, False, np.float64, tol=1e-10)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("op, x_shape, w_shape, kwargs", TINY)
def test_cuda_matches_torch(torch, cuda_device, op, x_shape, w_shape, kwargs):
    _compare(torch, op, x_shape, w_shape, kwargs, True, np.float32, device=cuda_device)


@pytest.mark.parametrize("op, x_shape, w_shape, kwargs", [
    ("conv1d", (2, 4, 6), (4, 2, 3), dict(groups=2, stride=2, padding=1)),
    ("conv1d", (1, 2, 5), (4, 1, 2), dict(groups=2, padding="same")),
    ("conv_transpose2d", (1, 2, 3, 4), (2, 2, 3, 2), dict(stride=2, padding=1, output_padding=1, dilation=(1, 2))),
    ("conv_transpose2d", (1, 4, 3, 3), (4, 1, 2, 2), dict(groups=2, stride=(1, 2))),
    ("conv_transpose1d", (2, 2, 4), (2, 3, 3), dict(stride=2, output_padding=1)),
])
def test_gradcheck(op, x_shape, w_shape, kwargs):
    def t(a):
        return nnlite.tensor(a.astype(np.float64), requires_grad=True)
    x, w = t(randn(*x_shape, seed=7)), t(randn(*w_shape, seed=8))
    b = t(randn(_bias_size(op, w_shape, kwargs), seed=9))
    assert gradcheck(lambda *a: getattr(F, op)(*a, **kwargs), (x, w, b))


def test_bench_sized_parallel_paths(torch):
    # big enough for prange in every kernel (col2im, im2col, layouts) and the split GEMMs
    _compare(torch, "conv_transpose2d", (2, 16, 14, 13), (16, 8, 4, 4), dict(stride=2, padding=1), True,
             np.float32, tol=2e-4)
    _compare(torch, "conv1d", (2, 16, 200), (16, 16, 5), dict(padding=2), True, np.float32, tol=2e-4)


@pytest.mark.parametrize("op, w_shape, out_shape", [
    ("conv1d", (4, 3, 3), (0, 4, 6)),
    ("conv_transpose1d", (3, 4, 3), (0, 4, 15)),
    ("conv_transpose2d", (3, 4, 3, 3), (0, 4, 15, 15)),
])
def test_empty_batch(op, w_shape, out_shape):
    spatial = (6,) * (len(w_shape) - 2) if op == "conv1d" else (7,) * (len(w_shape) - 2)
    x = nnlite.zeros(0, 3, *spatial, requires_grad=True)
    w = nnlite.tensor(randn(*w_shape, seed=1), requires_grad=True)
    b = nnlite.tensor(randn(out_shape[1], seed=2), requires_grad=True)
    kwargs = dict(padding=1) if op == "conv1d" else dict(stride=2)
    y = getattr(F, op)(x, w, b, **kwargs)
    assert tuple(y.shape) == out_shape
    y.backward(nnlite.ones(*out_shape))
    assert tuple(x.grad.shape) == tuple(x.shape)
    assert_close(w.grad, np.zeros(w_shape))
    assert_close(b.grad, np.zeros(out_shape[1]))


@pytest.mark.parametrize("op", ["conv1d", "conv_transpose1d", "conv_transpose2d"])
def test_non_contiguous_inputs_are_not_modified(torch, device, op):
    dims = 1 if op.endswith("1d") else 2
    x_np = randn(2, 3, *(4,) * (dims - 1), 10, seed=1)
    w_np = randn(3, 3, *(3,) * dims, seed=2)
    x = nnlite.tensor(x_np, device=device, requires_grad=True)
    w = nnlite.tensor(w_np, device=device, requires_grad=True)
    kwargs = dict(stride=2) if "transpose" in op else dict(padding=1)
    # every other column of x, and the weight with its first two dims swapped: both strided views
    y = getattr(F, op)(x[..., ::2], w.transpose(0, 1), **kwargs)
    g_np = randn(*y.shape, seed=4)
    y.backward(nnlite.tensor(g_np, device=device))
    tx, tw = torch.tensor(x_np, requires_grad=True), torch.tensor(w_np, requires_grad=True)
    ty = getattr(torch.nn.functional, op)(tx[..., ::2], tw.transpose(0, 1), **kwargs)
    ty.backward(torch.tensor(g_np))
    assert_close(y, ty, rtol=1e-4, atol=1e-4)
    assert_close(x.grad, tx.grad, rtol=1e-4, atol=1e-4)
    assert_close(w.grad, tw.grad, rtol=1e-4, atol=1e-4)
    assert_close(x, x_np)
    assert_close(w, w_np)


def test_names():
    for name in ("conv1d", "conv_transpose1d", "conv_transpose2d"):
        assert getattr(nnlite, name) is getattr(F, name)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("op, x_shape, w_shape, kwargs, error, match", [
    ("conv1d", (2, 4, 5, 5), (4, 3, 3), {}, RuntimeError,
     r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d, but got input of size: \[2, 4, 5, 5\]"),
    ("conv1d", (2, 4, 5), (4, 3, 3), {}, RuntimeError,
     r"Given groups=1, weight of size \[4, 3, 3\], expected input\[2, 4, 5\] to have 3 channels, but got 4 "
     r"channels instead"),
    ("conv1d", (2, 4, 5), (4, 4, 3, 3), {}, RuntimeError, r"conv1d: expected weight to be 3-dimensional"),
    ("conv1d", (2, 4, 2), (4, 4, 3), {}, RuntimeError,
     r"Calculated padded input size per channel: \(2\). Kernel size: \(3\). Kernel size can't be greater"),
    ("conv1d", (2, 4, 5), (4, 4, 3), dict(stride=(1, 2)), RuntimeError,
     r"expected stride to be a single integer value or a list of 1 values"),
    ("conv1d", (2, 4, 5), (4, 4, 3), dict(stride=2, padding="same"), RuntimeError,
     r"padding='same' is not supported for strided convolutions"),
    ("conv1d", (2, 4, 5), (6, 2, 3), dict(groups=3), RuntimeError, r"expected input\[2, 4, 5\] to have 6 channels"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(stride=2, output_padding=2), RuntimeError,
     r"output padding must be smaller than either stride or dilation, but got output_padding_height: 2 "
     r"output_padding_width: 2 stride_height: 2 stride_width: 2 dilation_height: 1 dilation_width: 1"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(stride=(2, 1), output_padding=1), RuntimeError,
     r"output_padding_height: 1 output_padding_width: 1 stride_height: 2 stride_width: 1"),
    ("conv_transpose1d", (2, 4, 5), (4, 3, 3), dict(stride=2, output_padding=2), RuntimeError,
     r"output_padding_height: 0 output_padding_width: 2 stride_height: 1 stride_width: 2"),
    ("conv_transpose2d", (2, 5, 5, 5), (4, 3, 3, 3), {}, RuntimeError,
     r"Given transposed=1, weight of size \[4, 3, 3, 3\], expected input\[2, 5, 5, 5\] to have 4 channels, but "
     r"got 5 channels instead"),
    ("conv_transpose2d", (5, 5), (4, 3, 3, 3), {}, RuntimeError,
     r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv_transpose2d, but got input of size: \[5, 5\]"),
    ("conv_transpose1d", (2, 4, 5, 5), (4, 3, 3), {}, RuntimeError,
     r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv_transpose1d"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(groups=3), RuntimeError,
     r"Given groups=3, expected weight to be divisible by 3 at dimension 0"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(groups=0), RuntimeError,
     r"non-positive groups is not supported"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(padding=5), RuntimeError,
     r"Given input size per channel: \(5 x 5\). Calculated output size per channel: \(-3 x -3\). Output size "
     r"is too small"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(padding=-1), RuntimeError,
     r"negative padding is not supported"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(output_padding=-1), RuntimeError,
     r"negative output_padding is not supported"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(stride=0), RuntimeError,
     r"non-positive stride is not supported"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(dilation=0), RuntimeError,
     r"non-positive dilation is not supported"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(stride=(1, 2, 3)), RuntimeError,
     r"expected stride to be a single integer value or a list of 2 values"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(padding="same"), TypeError,
     r"conv_transpose2d\(\): argument 'padding' must be an int or a tuple of 2 ints"),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(stride=1.5), TypeError, r"'stride' must be an int"),
])
def test_bad_arguments(op, x_shape, w_shape, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(F, op)(nnlite.tensor(randn(*x_shape)), nnlite.tensor(randn(*w_shape)), **kwargs)


def test_bias_and_dtype_errors():
    x, w = nnlite.tensor(randn(2, 4, 5, 5)), nnlite.tensor(randn(4, 3, 3, 3))
    with pytest.raises(RuntimeError, match=r"Given transposed=1, weight of size \[4, 3, 3, 3\], expected bias to "
                                           r"be 1-dimensional with 3 elements, but got bias of size \[7\] instead"):
        F.conv_transpose2d(x, w, nnlite.tensor(randn(7)))
    with pytest.raises(RuntimeError, match=r"conv1d: Given weight of size \[4, 4, 3\], expected bias to be "
                                           r"1-dimensional with 4 elements, but got bias of size \[3\] instead"):
        F.conv1d(nnlite.tensor(randn(2, 4, 5)), nnlite.tensor(randn(4, 4, 3)), nnlite.tensor(randn(3)))
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: Input type \(float64\) and weight type \(float32\)"):
        F.conv_transpose2d(x.double(), w)
    with pytest.raises(RuntimeError, match=r"conv1d: expected a float32 or float64 input, but got int64"):
        F.conv1d(nnlite.tensor(randn(2, 4, 5)).long(), nnlite.tensor(randn(4, 4, 3)).long())
    with pytest.raises(TypeError, match=r"conv_transpose1d\(\): argument 'weight' must be Tensor, not ndarray"):
        F.conv_transpose1d(nnlite.tensor(randn(2, 4, 5)), randn(4, 3, 3))
