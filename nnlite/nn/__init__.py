"""nnlite.nn: Module, layers, losses, init (the API of torch.nn)."""
from . import functional
