"""Devices, dtypes, allocation, launch sizing and random generators."""
import os

# Numba's OpenMP workers and BLAS's threads take turns on the same cores
# (conv2d alternates Numba kernels and GEMMs). By default an idle OpenMP worker
# spins for ~300k iterations and steals the core a GEMM thread needs (conv2d
# fwd+bwd 40 ms); sleeping at once (OMP_WAIT_POLICY=PASSIVE) costs every
# medium parallel kernel a wake-up (a 100k-element add: 14 -> 50 us). A short
# spin keeps both: 14 us and 26-30 ms, measured on this project's 2-core
# machines with GEMMs on a separate thread pool. Now that the GEMMs run on
# Numba's own threads (kernels/matmul.py), conv2d measures the same either
# way; the pool, and so this setting, still serves BLAS builds other than
# numpy's OpenBLAS. It is read when the OpenMP runtime loads; a user's setting
# wins. If torch was imported first, Numba runs on torch's runtime, already
# loaded, and this comes too late (README, Speed).
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"

from .device import device  # noqa: E402
from .kernel_pair import KernelPair
from .memory import empty_cache

__all__ = ["device", "KernelPair", "empty_cache"]
