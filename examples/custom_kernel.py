"""Write your own fused op: a CPU/CUDA kernel pair, its backward pair, one Function.

Fused bias + GELU, y = gelu(x + bias), as found after every linear layer of a
transformer's MLP. Unfused it is two passes over memory and two saved
activations; fused it is one pass each way and one saved input.

    python examples/custom_kernel.py            # CPU
    python examples/custom_kernel.py --device cuda
"""
import argparse
import math
import time

from numba import njit, prange

import nnlite
from nnlite.autograd import Function, gradcheck
from nnlite.kernels import KernelPair, cuda

SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327


# ---- scalar math, written once and compiled for both targets
def _gelu(z):
    return 0.5 * z * (1.0 + math.erf(z * SQRT_HALF))


def _gelu_grad(z):
    return 0.5 * (1.0 + math.erf(z * SQRT_HALF)) + z * INV_SQRT_2PI * math.exp(-0.5 * z * z)


gelu_cpu, gelu_dev = njit(inline="always")(_gelu), cuda.jit(device=True)(_gelu)
gelu_grad_cpu, gelu_grad_dev = njit(inline="always")(_gelu_grad), cuda.jit(device=True)(_gelu_grad)


# ---- forward pair: x (rows, cols), bias (cols,) -> y (rows, cols)
@njit(parallel=True, cache=True)
def bias_gelu_fwd_cpu(x, bias, y):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            y[i, j] = gelu_cpu(x[i, j] + bias[j])


@cuda.jit(cache=True)
def bias_gelu_fwd_cuda(x, bias, y):
    cols = x.shape[1]
    for t in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        i, j = t // cols, t % cols
        y[i, j] = gelu_dev(x[i, j] + bias[j])


# ---- backward pair: grad_x = g * gelu'(x + b); grad_bias = column sums of grad_x
@njit(parallel=True, cache=True)
def bias_gelu_bwd_cpu(g, x, bias, gx, gbias):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            gx[i, j] = g[i, j] * gelu_grad_cpu(x[i, j] + bias[j])
    for j in prange(x.shape[1]):  # one thread per column: no two threads write one gbias[j]
        acc = 0.0
        for i in range(x.shape[0]):
            acc += gx[i, j]
        gbias[j] = acc


@cuda.jit(cache=True)
def bias_gelu_bwd_cuda(g, x, bias, gx, gbias):
    rows, cols = x.shape
    for j in range(cuda.grid(1), cols, cuda.gridsize(1)):
        acc = 0.0
        for i in range(rows):
            v = g[i, j] * gelu_grad_dev(x[i, j] + bias[j])
            gx[i, j] = v
            acc += v
        gbias[j] = acc


bias_gelu_fwd = KernelPair(bias_gelu_fwd_cpu, bias_gelu_fwd_cuda)
bias_gelu_bwd = KernelPair(bias_gelu_bwd_cpu, bias_gelu_bwd_cuda)


# ---- the op: a Function with the torch.autograd.Function API
class BiasGelu(Function):
    @staticmethod
    def forward(ctx, x, bias):
        x2 = x.reshape(-1, x.shape[-1]).contiguous()
        y = nnlite.empty_like(x2)
        bias_gelu_fwd(x2, bias.contiguous(), y)     # kernel pairs take contiguous tensors
        ctx.save_for_backward(x2, bias)
        ctx.shape = x.shape
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x2, bias = ctx.saved_tensors
        gx, gbias = nnlite.empty_like(x2), nnlite.empty_like(bias)
        bias_gelu_bwd(grad.reshape(x2.shape).contiguous(), x2, bias.contiguous(), gx, gbias)
        return gx.view(ctx.shape), gbias


def bias_gelu(x, bias):
    if x.shape[-1:] != bias.shape:
        raise RuntimeError(f"bias_gelu: bias of shape {list(bias.shape)} does not match the last dim of "
                           f"input {list(x.shape)}")
    return BiasGelu.apply(x, bias)


def reference(x, bias):
    """The same op from library pieces (two passes, two saved tensors)."""
    z = x + bias
    return 0.5 * z * (1 + nnlite.tanh(z * 0.7978845608028654 * (1 + 0.044715 * z * z)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    dev = args.device

    x = nnlite.randn(4, 6, dtype=nnlite.float64, device=dev, requires_grad=True)
    b = nnlite.randn(6, dtype=nnlite.float64, device=dev, requires_grad=True)
    print("gradcheck (float64):", gradcheck(bias_gelu, (x, b)))

    x = nnlite.randn(4096, 1024, device=dev, requires_grad=True)
    b = nnlite.randn(1024, device=dev, requires_grad=True)
    err = (bias_gelu(x, b) - reference(x, b)).abs().max().item()
    print(f"max |fused - tanh-approx reference| = {err:.2e}  (the approximation's own error)")

    for name, fn in (("fused", bias_gelu), ("unfused", reference)):
        fn(x, b).sum().backward()  # warm up (first call loads/compiles the kernels)
        start = time.perf_counter()
        for _ in range(5):
            fn(x, b).sum().backward()
        if dev != "cpu":
            nnlite.cuda.synchronize()
        print(f"{name:8s} forward+backward: {(time.perf_counter() - start) / 5 * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
