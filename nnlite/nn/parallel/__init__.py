"""torch.nn.parallel: DistributedDataParallel (on nnlite.distributed)."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
