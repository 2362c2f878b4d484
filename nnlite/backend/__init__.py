"""Devices, dtypes, allocation, launch sizing and random generators."""
from .device import device
from .kernel_pair import KernelPair
from .memory import empty_cache

__all__ = ["device", "KernelPair", "empty_cache"]
