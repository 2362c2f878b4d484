"""nnlite.nn.parallel, as torch.nn.parallel: DistributedDataParallel (one process per replica, on
nnlite.distributed) and DataParallel with its parts (replicate, scatter, parallel_apply, gather)."""
from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel
from .parallel_apply import parallel_apply
from .replicate import replicate
from .scatter_gather import gather, scatter

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel", "gather", "parallel_apply", "replicate",
           "scatter"]
