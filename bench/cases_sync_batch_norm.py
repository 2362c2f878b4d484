"""sync_batch_norm's per-process cost against torch's batch_norm on the same data (issue 11).

bench/run.py runs in one process, so the rows run the SyncBatchNorm Function in a real
nnlite.distributed world of one (MPI's singleton start, no mpiexec): its statistics kernel,
all-gather, host merge, eval-mode normalisation, and in backward its sums, all-reduce and
input-gradient pass. torch's SyncBatchNorm needs CUDA and several processes, so the
reference is torch's batch_norm, what each process would run without synchronisation.
Without mpi4py each row prints n/a.
"""
from cases import Case, _fwd_bwd, _inputs


def _world_of_one():
    import nnlite.distributed as dist
    if not dist.is_available():
        raise NotImplementedError("mpi4py is not installed")
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    if dist.get_world_size() != 1:
        raise NotImplementedError("runs in a world of one process")


def sync_bn_case(backward, n=8):
    def build(device):
        import nnlite
        import torch
        from nnlite.functional.sync_batch_norm import sync_batch_norm
        _world_of_one()
        TF = torch.nn.functional
        (x, w, b), (tx, tw, tb) = _inputs(device, (n, 64, 56, 56), (64,), (64,), requires_grad=backward)
        rm, rv = nnlite.zeros(64, device=device), nnlite.ones(64, device=device)
        trm, trv = torch.zeros(64, device=device), torch.ones(64, device=device)
        nl = lambda: sync_batch_norm(x, rm, rv, w, b)  # noqa: E731
        th = lambda: TF.batch_norm(tx, trm, trv, tw, tb, training=True)  # noqa: E731
        if not backward:
            return nl, th
        g, tg = nnlite.ones(n, 64, 56, 56, device=device), torch.ones(n, 64, 56, 56, device=device)
        return _fwd_bwd(nl, [x, w, b], g), _fwd_bwd(th, [tx, tw, tb], tg)
    return Case(f"sync_batch_norm world of 1 {'fwd+bwd' if backward else 'fwd'} ({n},64,56,56)", build)


BENCH_CASES = [sync_bn_case(backward=False), sync_bn_case(backward=True)]
