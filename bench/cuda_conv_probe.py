"""Where conv2d's time goes on a GPU: each of nnlite's algorithms on the bench's conv
row, with TF32 GEMMs on and off, next to torch (cuDNN) with TF32 on and off.

    python bench/cuda_conv_probe.py        # needs a CUDA GPU and torch

Prints ms per forward+backward (calls queued, one synchronisation) for each variant.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def queued_ms(fn, sync, repeat=20):
    for _ in range(3):
        fn()
    sync()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        sync()
        best = min(best, (time.perf_counter() - t0) / repeat * 1e3)
    return best


def main():
    import numpy as np
    import torch

    import nnlite
    from nnlite.backend import cublas
    from nnlite.functional import conv, _conv_winograd as winograd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64, 56, 56)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32)
    nx, nw = (nnlite.tensor(a, device="cuda", requires_grad=True) for a in (x, w))
    tx, tw = (torch.tensor(a, device="cuda", requires_grad=True) for a in (x, w))
    g, tg = nnlite.ones(32, 64, 56, 56, device="cuda"), torch.ones(32, 64, 56, 56, device="cuda")

    def nl_step():
        nx.grad = nw.grad = None
        nnlite.nn.functional.conv2d(nx, nw, padding=1).backward(g)

    def nl_forward():
        nnlite.nn.functional.conv2d(nx, nw, padding=1)

    def torch_step():
        tx.grad = tw.grad = None
        torch.nn.functional.conv2d(tx, tw, padding=1).backward(tg)

    real_algorithm = conv._algorithm
    algorithms = {"winograd": (winograd.forward, winograd.backward),
                  "im2col": (conv._gemm_forward, conv._gemm_backward)}
    for tf32 in (False, True):
        cublas.CONV_ALLOW_TF32 = tf32
        for name, pair in algorithms.items():
            conv._algorithm = lambda *a, pair=pair: pair
            print(f"nnlite {name:9s} tf32={tf32!s:5s} fwd {queued_ms(nl_forward, nnlite.cuda.synchronize):7.3f} ms"
                  f"  fwd+bwd {queued_ms(nl_step, nnlite.cuda.synchronize):7.3f} ms", flush=True)
    conv._algorithm = real_algorithm
    for tf32 in (False, True):
        torch.backends.cudnn.allow_tf32 = tf32
        print(f"torch  cudnn     tf32={tf32!s:5s} fwd+bwd {queued_ms(torch_step, torch.cuda.synchronize):7.3f} ms",
              flush=True)

    # the GEMMs alone, at the im2col forward's shape: (64, 576) @ (576, 100352)
    a = nnlite.randn(1, 64, 576, device="cuda")
    b = nnlite.randn(1, 576, 32 * 56 * 56, device="cuda")
    for tf32 in (False, True):
        cublas.CONV_ALLOW_TF32 = tf32

        def gemm():
            with cublas.tf32_math():
                a @ b
        print(f"GEMM (64,576)@(576,100352) tf32={tf32}: {queued_ms(gemm, nnlite.cuda.synchronize):7.3f} ms")


if __name__ == "__main__":
    main()
