"""Where small-kernel time goes on a GPU: launch overhead, and a profile of the digits
example's training step (examples/train_digits.py, batch 64).

    python bench/cuda_profile.py            # needs a CUDA GPU and torch (for the comparison)
    NNLITE_FAST_LAUNCH=0 python bench/cuda_profile.py --brief   # numba's own launch path, no profile

Prints microseconds per call for a raw Numba launch, an nnlite op on a 1-element
tensor and the same torch op, the step time of both libraries, how many kernels
one nnlite step launches, and the functions that take the most host time in a step.
"""
import cProfile
import os
import pstats
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def per_call_us(fn, sync, calls=2000):
    for _ in range(50):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - t0) / calls * 1e6


def main():
    import numpy as np
    import torch
    from numba import cuda

    import nnlite
    from cases import digits_step_case

    @cuda.jit
    def touch(x):
        x[0] += 1

    raw = cuda.to_device(np.zeros(1, np.float32))
    a, ta = nnlite.ones(1, device="cuda"), torch.ones(1, device="cuda")
    sync_nl, sync_th = nnlite.cuda.synchronize, torch.cuda.synchronize
    print(f"raw numba launch      {per_call_us(lambda: touch[1, 1](raw), cuda.synchronize):7.1f} us")
    print(f"nnlite relu (1 elem)  {per_call_us(lambda: nnlite.relu(a), sync_nl):7.1f} us")
    print(f"torch relu (1 elem)   {per_call_us(lambda: torch.relu(ta), sync_th):7.1f} us")
    print(f"nnlite a + a          {per_call_us(lambda: a + a, sync_nl):7.1f} us")
    print(f"torch a + a           {per_call_us(lambda: ta + ta, sync_th):7.1f} us")

    step, tstep = digits_step_case("cuda")
    print(f"digits step: nnlite {per_call_us(step, sync_nl, 200):8.1f} us, "
          f"torch {per_call_us(tstep, sync_th, 200):8.1f} us")

    from nnlite.backend import fast_launch
    print(f"fast launch path: {'on' if fast_launch.ENABLED else 'off (NNLITE_FAST_LAUNCH=0)'}")
    if "--brief" in sys.argv:
        return
    count_launches(step, sync_nl)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(50):
        step()
    sync_nl()
    profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats("nnlite", 45)


def count_launches(step, sync):
    """Kernel launches in one step, and how many of them skipped numba's dispatch."""
    from numba.cuda.dispatcher import _LaunchConfiguration
    from nnlite.backend import fast_launch
    counts = {"nnlite": 0, "numba": 0}

    def counting(cls, key):
        real = cls.__call__

        def call(self, *args):
            counts[key] += 1
            return real(self, *args)
        return real, call
    patched = [(cls, *counting(cls, key)) for cls, key in ((fast_launch.Launch, "nnlite"),
                                                           (_LaunchConfiguration, "numba"))]
    for cls, _, call in patched:
        cls.__call__ = call
    try:
        step()
        sync()
    finally:
        for cls, real, _ in patched:
            cls.__call__ = real
    launches = counts["nnlite"] if fast_launch.ENABLED else counts["numba"]
    print(f"kernel launches per nnlite step: {launches}, "
          f"{launches - counts['numba'] if fast_launch.ENABLED else 0} of them skipping numba's dispatch")


if __name__ == "__main__":
    main()
