"""Devices, dtypes, allocation, launch sizing and random generators."""
import os

# Numba's OpenMP workers and BLAS's threads take turns on the same cores
# (conv2d alternates Numba kernels and GEMMs). OpenMP workers that spin after
# a parallel region steal the core a GEMM thread needs: conv2d ran 3-10x
# slower on a loaded 2-core machine. Sleeping workers cost ~15 us to wake per
# parallel kernel instead. Read once when the OpenMP runtime loads; a user's
# setting wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from .device import device  # noqa: E402
from .kernel_pair import KernelPair
from .memory import empty_cache

__all__ = ["device", "KernelPair", "empty_cache"]
