"""nnlite.optim: optimizers with torch.optim's API, each step one fused kernel per parameter."""
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "SGD"]
