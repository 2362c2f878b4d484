"""conv3d and conv_transpose3d: values and gradients vs PyTorch (float32 and float64), gradcheck in
float64, CUDA kernels (simulator on tiny shapes), empty batches, strided inputs, errors."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.functional.test_conv_nd import _bias_size, _compare
from tests.helpers import assert_close, randn

# (op, input shape, weight shape, kwargs); weights of transposed ops are (in, out/groups, *k)
CONFIGS = [
    ("conv3d", (2, 3, 4, 5, 6), (4, 3, 3, 3, 3), dict(padding=1)),
    ("conv3d", (2, 4, 5, 6, 7), (6, 2, 3, 2, 3), dict(stride=(1, 2, 1), padding=(1, 0, 2), dilation=(2, 1, 1),
                                                      groups=2)),
    ("conv3d", (2, 3, 4, 5, 6), (4, 3, 2, 3, 4), dict(padding="same", dilation=(1, 2, 1))),  # asymmetric 'same'
    ("conv3d", (2, 4, 5, 5, 6), (4, 1, 3, 3, 3), dict(padding="valid", stride=2, groups=4)),  # depthwise
    ("conv3d", (3, 4, 5, 6), (2, 3, 2, 2, 2), dict(stride=(2, 1, 3))),                        # unbatched
    ("conv_transpose3d", (2, 4, 3, 4, 5), (4, 3, 3, 3, 2), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose3d", (2, 4, 3, 4, 3), (4, 2, 2, 3, 2), dict(stride=(1, 2, 3), padding=(0, 1, 1), groups=2,
                                                                dilation=(2, 1, 2), output_padding=(1, 0, 2))),
    ("conv_transpose3d", (4, 3, 4, 5), (4, 1, 3, 2, 2), dict(stride=(1, 2, 3), groups=2, dilation=2)),  # unbatched
]

TINY = [  # for the CUDA simulator
    ("conv3d", (1, 2, 3, 3, 4), (2, 1, 2, 2, 3), dict(padding=(1, 0, 1), stride=(1, 1, 2), groups=2)),
    ("conv_transpose3d", (1, 2, 2, 2, 3), (2, 2, 2, 2, 2), dict(stride=2, padding=(0, 1, 0), output_padding=1)),
]


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
    ("conv3d", (1, 4, 3, 4, 3), (2, 2, 2, 2, 2), dict(groups=2, stride=(2, 1, 1), padding=(1, 0, 1),
                                                      dilation=(1, 2, 1))),
    ("conv_transpose3d", (1, 2, 2, 3, 2), (2, 2, 2, 2, 3), dict(stride=(2, 1, 2), padding=(1, 0, 1),
                                                                output_padding=(1, 0, 0))),
    # ungrouped and stride 1: the CPU's implicit GEMM in both directions
    ("conv3d", (1, 2, 3, 4, 5), (2, 2, 2, 2, 3), dict(padding=(1, 0, 2), dilation=(1, 2, 1))),
    ("conv_transpose3d", (1, 2, 3, 2, 3), (2, 2, 2, 3, 2), dict(padding=(0, 1, 1))),
])
def test_gradcheck(op, x_shape, w_shape, kwargs):
    def t(a):
        return nnlite.tensor(a.astype(np.float64), requires_grad=True)
    x, w = t(randn(*x_shape, seed=7)), t(randn(*w_shape, seed=8))
    b = t(randn(_bias_size(op, w_shape, kwargs), seed=9))
    assert gradcheck(lambda *a: getattr(F, op)(*a, **kwargs), (x, w, b))


def test_parallel_paths(torch):
    # big enough for prange in im2col3d/col2im3d and the split GEMMs
    _compare(torch, "conv3d", (2, 8, 6, 12, 13), (8, 8, 3, 3, 3), dict(padding=1, stride=(1, 2, 1)), True,
             np.float32, tol=2e-4)
    _compare(torch, "conv_transpose3d", (2, 8, 5, 6, 7), (8, 4, 3, 3, 3), dict(stride=2, padding=1), True,
             np.float32, tol=2e-4)


@pytest.mark.parametrize("chunk_bytes", [1, 3 * 4 * 8 * 4])  # one output row per chunk; 3 rows, ragged
@pytest.mark.parametrize("op, x_shape, w_shape, kwargs", [
    ("conv3d", (2, 4, 3, 5, 8), (3, 4, 3, 3, 3), dict(padding=1)),
    ("conv3d", (2, 4, 4, 5, 7), (3, 4, 2, 3, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 2))),
    ("conv_transpose3d", (2, 3, 3, 4, 5), (3, 4, 3, 2, 3), dict(padding=1, dilation=(1, 2, 1))),
    ("conv_transpose3d", (2, 3, 3, 4, 5), (3, 2, 3, 3, 2), dict(stride=(1, 2, 2), padding=1, output_padding=(0, 1, 1))),
    ("conv2d", (2, 3, 7, 9), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 3))),
    ("conv_transpose2d", (2, 3, 5, 6), (3, 2, 4, 4), dict(stride=2, padding=1)),
    # phases with no kernel tap (k < stride) hold only the bias; padding past the kernel
    ("conv_transpose2d", (2, 3, 4, 5), (3, 2, 1, 3), dict(stride=(3, 2), padding=(0, 2), output_padding=(2, 1))),
    ("conv1d", (2, 3, 11), (4, 3, 5), dict(padding=2)),
])
def test_implicit_gemm_chunks(torch, monkeypatch, chunk_bytes, op, x_shape, w_shape, kwargs):
    # ungrouped CPU convolutions run the implicit GEMM; cut its work into many (ragged) chunks
    from nnlite.functional import _conv_implicit, conv as conv_module
    x = nnlite.tensor(randn(*x_shape))
    geo = conv_module._geometry(op, x, nnlite.tensor(randn(*w_shape)), 1, 0, 1, 1)
    assert _conv_implicit.usable(x_shape, w_shape, geo, x.dtype, x.device)
    monkeypatch.setattr(_conv_implicit, "CHUNK_BYTES", chunk_bytes)
    _compare(torch, op, x_shape, w_shape, kwargs, True, np.float32, tol=2e-4)


@pytest.mark.parametrize("op, w_shape, out_shape", [
    ("conv3d", (4, 3, 3, 3, 3), (0, 4, 5, 5, 5)),
    ("conv_transpose3d", (3, 4, 3, 3, 3), (0, 4, 11, 11, 11)),
])
def test_empty_batch(op, w_shape, out_shape):
    x = nnlite.zeros(0, 3, 5, 5, 5, requires_grad=True)
    w = nnlite.tensor(randn(*w_shape, seed=1), requires_grad=True)
    b = nnlite.tensor(randn(out_shape[1], seed=2), requires_grad=True)
    kwargs = dict(padding=1) if op == "conv3d" else dict(stride=2)
    y = getattr(F, op)(x, w, b, **kwargs)
    assert tuple(y.shape) == out_shape
    y.backward(nnlite.ones(*out_shape))
    assert tuple(x.grad.shape) == tuple(x.shape)
    assert_close(w.grad, np.zeros(w_shape))
    assert_close(b.grad, np.zeros(out_shape[1]))


@pytest.mark.parametrize("op", ["conv3d", "conv_transpose3d"])
def test_non_contiguous_inputs_are_not_modified(torch, device, op):
    x_np = randn(1, 2, 3, 3, 8, seed=1)
    w_np = randn(2, 2, 2, 2, 2, seed=2)
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
    for name in ("conv3d", "conv_transpose3d"):
        assert getattr(nnlite, name) is getattr(F, name)


@pytest.mark.parametrize("op, x_shape, w_shape, kwargs, error, match", [
    ("conv3d", (3, 3, 3), (2, 3, 3, 3, 3), {}, RuntimeError,
     r"Expected 4D \(unbatched\) or 5D \(batched\) input to conv3d, but got input of size: \[3, 3, 3\]"),
    ("conv3d", (1, 2, 1, 3, 3), (2, 2, 3, 3, 3), {}, RuntimeError,
     r"conv3d: Calculated padded input size per channel: \(1 x 3 x 3\). Kernel size: \(3 x 3 x 3\). Kernel size "
     r"can't be greater than actual input size"),
    ("conv3d", (1, 4, 3, 3, 3), (2, 3, 3, 3, 3), {}, RuntimeError,
     r"conv3d: Given groups=1, weight of size \[2, 3, 3, 3, 3\], expected input\[1, 4, 3, 3, 3\] to have 3 "
     r"channels, but got 4 channels instead"),
    ("conv3d", (1, 3, 3, 3, 3), (2, 3, 3, 3), {}, RuntimeError, r"conv3d: expected weight to be 5-dimensional"),
    ("conv3d", (1, 3, 3, 3, 3), (2, 3, 1, 1, 1), dict(stride=(1, 2)), RuntimeError,
     r"expected stride to be a single integer value or a list of 3 values"),
    ("conv3d", (1, 3, 3, 3, 3), (2, 3, 1, 1, 1), dict(padding=-1), RuntimeError, r"negative padding"),
    ("conv_transpose3d", (1, 2, 3, 3, 3), (2, 2, 3, 3, 3), dict(output_padding=1), RuntimeError,
     r"conv_transpose3d: output padding must be smaller than either stride or dilation, but got "
     r"output_padding_depth: 1 output_padding_height: 1 output_padding_width: 1 stride_depth: 1 stride_height: 1 "
     r"stride_width: 1 dilation_depth: 1 dilation_height: 1 dilation_width: 1"),
    ("conv_transpose3d", (1, 3, 3, 3, 3), (2, 2, 3, 3, 3), {}, RuntimeError,
     r"Given transposed=1, weight of size \[2, 2, 3, 3, 3\], expected input\[1, 3, 3, 3, 3\] to have 2 channels"),
    ("conv_transpose3d", (1, 2, 3, 3, 3), (2, 2, 3, 3, 3), dict(padding=4), RuntimeError,
     r"Given input size per channel: \(3 x 3 x 3\). Calculated output size per channel: \(-3 x -3 x -3\)"),
])
def test_bad_arguments(op, x_shape, w_shape, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(F, op)(nnlite.tensor(randn(*x_shape)), nnlite.tensor(randn(*w_shape)), **kwargs)


def test_dtype_errors():
    x, w = nnlite.tensor(randn(1, 2, 3, 3, 3)), nnlite.tensor(randn(2, 2, 2, 2, 2))
    with pytest.raises(RuntimeError, match=r"conv3d: Input type \(float64\) and weight type \(float32\)"):
        F.conv3d(x.double(), w)
    with pytest.raises(RuntimeError, match=r"conv_transpose3d: expected a float32 or float64 input, but got int64"):
        F.conv_transpose3d(x.long(), w.long())
