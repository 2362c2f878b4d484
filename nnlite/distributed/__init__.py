"""nnlite.distributed: torch.distributed's API on MPI.

Processes are started by MPI (`mpiexec -n 2 python train.py`, or `mpiexec -hosts a,b ...`
across machines); `init_process_group()` takes rank and world size from it. Collectives
are MPI's own (mpi4py), never home-made networking: `pip install "nnlite[distributed]"`
brings mpi4py and an MPI that installs from pip. Nothing here imports MPI until
`init_process_group` runs.
"""
from ._collectives import (ReduceOp, all_gather, all_gather_into_tensor, all_reduce, barrier, broadcast, gather,
                           irecv, isend, recv, reduce, reduce_scatter_tensor, scatter, send)
from ._group import (Backend, GroupMember, ProcessGroup, default_pg_timeout, destroy_process_group, get_backend,
                     get_global_rank, get_group_rank, get_process_group_ranks, get_rank, get_world_size, group,
                     init_process_group, is_available, is_gloo_available, is_initialized, is_mpi_available,
                     is_nccl_available, new_group)
from ._objects import all_gather_object, broadcast_object_list, gather_object
from ._work import DistBackendError, DistError, Work

__all__ = [
    "Backend", "DistBackendError", "DistError", "GroupMember", "ProcessGroup", "ReduceOp", "Work",
    "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce", "barrier", "broadcast",
    "broadcast_object_list", "default_pg_timeout", "destroy_process_group", "gather", "gather_object",
    "get_backend", "get_global_rank", "get_group_rank", "get_process_group_ranks", "get_rank", "get_world_size",
    "group", "init_process_group", "irecv", "is_available", "is_gloo_available", "is_initialized",
    "is_mpi_available", "is_nccl_available", "isend", "new_group", "recv", "reduce", "reduce_scatter_tensor",
    "scatter", "send",
]
