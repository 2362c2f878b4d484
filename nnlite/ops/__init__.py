"""nnlite.ops: torchvision.ops's operators and layers as nnlite kernel pairs (CPU and CUDA),
with torchvision's names, signatures, defaults and numerics. One file per op, as torchvision."""
__all__ = []
