"""nnlite.nn.utils: the training utilities of torch.nn.utils.

Each submodule below adds its names here (one import line each).
"""
from . import prune  # noqa: F401
