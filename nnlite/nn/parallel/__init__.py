"""nnlite.nn.parallel: DataParallel and its parts (replicate, scatter, parallel_apply, gather), as torch.nn.parallel."""
from .data_parallel import DataParallel, data_parallel
from .parallel_apply import parallel_apply
from .replicate import replicate
from .scatter_gather import gather, scatter

__all__ = ["DataParallel", "data_parallel", "gather", "parallel_apply", "replicate", "scatter"]
