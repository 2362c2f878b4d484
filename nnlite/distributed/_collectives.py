"""torch.distributed's collectives on nnlite tensors, each one MPI nonblocking call.

A CPU tensor's own numpy memory goes to MPI (no copy); a CUDA tensor goes as its device
memory when MPI reports CUDA support, else through a host copy written back on completion.
Synchronous calls first compare every rank's shapes and dtypes (one small all-gather), so a
mismatch is a clear error on every rank instead of a hang or a corrupt result.
"""
import enum
import os

import numpy as np

from ._group import GroupMember, _mpi, _resolve
from ._work import check_usable, issue, wait_request


class ReduceOp(enum.Enum):
    SUM = 0
    PRODUCT = 1
    MIN = 2
    MAX = 3
    BAND = 4
    BOR = 5
    BXOR = 6
    AVG = 7


_MPI_OPS = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.PRODUCT: "PROD", ReduceOp.MIN: "MIN",
            ReduceOp.MAX: "MAX", ReduceOp.BAND: "BAND", ReduceOp.BOR: "BOR", ReduceOp.BXOR: "BXOR"}
_BOOL_OPS = {ReduceOp.SUM: "LOR", ReduceOp.MAX: "LOR", ReduceOp.BOR: "LOR", ReduceOp.PRODUCT: "LAND",
             ReduceOp.MIN: "LAND", ReduceOp.BAND: "LAND", ReduceOp.BXOR: "LXOR"}


# ---------------------------------------------------------------- tensors as MPI buffers

def _cuda_aware():
    """Whether MPI takes device memory: the library's own answer where mpi4py exposes it, or
    NNLITE_MPI_CUDA_AWARE=1 for a CUDA-aware build that cannot say so."""
    if os.environ.get("NNLITE_MPI_CUDA_AWARE") == "1":
        return True
    query = getattr(_mpi(), "Query_cuda_support", None)
    return bool(query()) if query is not None else False


class _Buffer:
    """The memory MPI reads and writes for one tensor, as a flat array."""

    def __init__(self, tensor, what, arg, read=True):
        _check_tensor(tensor, what, arg)
        self.tensor = tensor
        array = tensor._array
        self.staged = tensor.device.type == "cuda" and not _cuda_aware()
        if self.staged:
            array = array.copy_to_host() if read else np.empty(array.shape, array.dtype)
        self.flat = array.reshape(-1)

    def written(self):
        """After MPI wrote the memory: back to the GPU if staged; count an in-place write."""
        if self.staged:
            self.tensor._array.copy_to_device(self.flat.reshape(self.tensor._array.shape))
        self.tensor._version[0] += 1


def _check_tensor(tensor, what, arg):
    from ..tensor import Tensor
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: {arg} must be an nnlite.Tensor, got {type(tensor).__name__}")
    if not tensor.is_contiguous():
        raise ValueError(f"{what}: {arg} must be contiguous (got shape {tuple(tensor.shape)} with strides "
                         f"{tensor.stride()}); call .contiguous() first")


def _bytes(flat):
    """Data that is only moved goes as bytes: every dtype, float16 and bool included."""
    return flat.view(np.uint8)


class _Reduction:
    """The MPI operation for a ReduceOp on a dtype; float16 is reduced in float32 (MPI has no
    half-precision arithmetic), AVG is a SUM divided afterwards."""

    def __init__(self, op, dtype, what):
        if not isinstance(op, ReduceOp):
            raise TypeError(f"{what}: op must be a dist.ReduceOp, got {op!r}")
        self.op = op
        self.is_bool = dtype == np.bool_
        self.is_half = dtype == np.float16
        floating = np.issubdtype(dtype, np.floating)
        if op is ReduceOp.AVG and not floating:
            raise ValueError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {np.dtype(dtype).name}")
        if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and floating:
            raise ValueError(f"{what}: {op.name} needs an integer or bool tensor, got {np.dtype(dtype).name}")
        self.mpi_op = getattr(_mpi(), (_BOOL_OPS if self.is_bool else _MPI_OPS)[op])

    def working(self, flat):
        return flat.astype(np.float32) if self.is_half else flat

    def done(self, work, flat, size):
        if self.op is ReduceOp.AVG:
            np.divide(work, size, out=work)
        if work is not flat:
            flat[...] = work


# ---------------------------------------------------------------- shapes agree across ranks

_DTYPE_CODES = {np.dtype(t): i for i, t in enumerate(
    (np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64))}
_SHAPE_SLOTS = 8


def _signature(tensor, with_shape=True):
    """[numel, dtype, ndim, shape...] as int64: what every rank must pass alike."""
    sig = np.full(3 + _SHAPE_SLOTS, -1, np.int64)
    sig[0] = tensor.numel()
    sig[1] = _DTYPE_CODES.get(np.dtype(tensor._array.dtype), 99)
    if with_shape:
        shape = tuple(tensor.shape)[:_SHAPE_SLOTS]
        sig[2] = tensor.dim()
        sig[3:3 + len(shape)] = shape
    return sig


def _describe(sig):
    dtype = next((d.name for d, c in _DTYPE_CODES.items() if c == sig[1]), "?")
    if sig[2] < 0:
        return f"{int(sig[0])} elements of {dtype}"
    return f"shape {[int(s) for s in sig[3:3 + min(int(sig[2]), _SHAPE_SLOTS)]]} {dtype}"


def _check_same(pg, what, sig, arg="tensor"):
    """Every rank passed the same signature, or every rank raises the same ValueError."""
    every = np.empty((pg.size(), sig.size), np.int64)
    wait_request(pg.comm.Iallgather(sig, every), pg, what)
    differs = [r for r in range(pg.size()) if not np.array_equal(every[r], every[0])]
    if differs:
        r = differs[0]
        raise ValueError(f"{what}: every rank must pass `{arg}` with the same shape and dtype; rank "
                         f"{pg.ranks[0]} passed {_describe(every[0])} and rank {pg.ranks[r]} passed "
                         f"{_describe(every[r])}")


def _group(group, what):
    """The ProcessGroup to run on, or None on a process outside `group` (the call does nothing)."""
    pg = _resolve(group, what)
    if pg is GroupMember.NON_GROUP_MEMBER:
        return None
    check_usable(pg, what)
    return pg


# ---------------------------------------------------------------- reductions

def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `tensor` over the group, in place on every rank."""
    what = "all_reduce"
    pg = _group(group, what)
    if pg is None:
        return None
    buf = _Buffer(tensor, what, "tensor")
    reduction = _Reduction(op, buf.flat.dtype, what)
    if not async_op:
        _check_same(pg, what, _signature(tensor, with_shape=False))
    work = reduction.working(buf.flat)
    request = pg.comm.Iallreduce(_mpi().IN_PLACE, work, reduction.mpi_op)

    def finish():
        reduction.done(work, buf.flat, pg.size())
        buf.written()
    return issue(pg, what, [request], finish, async_op, [tensor])


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `tensor` over the group into rank `dst`'s tensor; the others' stay as they were."""
    what = "reduce"
    pg = _group(group, what)
    if pg is None:
        return None
    root = pg.group_rank(dst, what)
    buf = _Buffer(tensor, what, "tensor")
    reduction = _Reduction(op, buf.flat.dtype, what)
    if not async_op:
        _check_same(pg, what, _signature(tensor, with_shape=False))
    work = reduction.working(buf.flat)
    if pg.rank() == root:
        request = pg.comm.Ireduce(_mpi().IN_PLACE, work, reduction.mpi_op, root)
    else:
        request = pg.comm.Ireduce(work, None, reduction.mpi_op, root)

    def finish():
        if pg.rank() == root:
            reduction.done(work, buf.flat, pg.size())
            buf.written()
    return issue(pg, what, [request], finish, async_op, [tensor])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `input` (world size x output's elements) over the group; rank r keeps block r."""
    what = "reduce_scatter_tensor"
    pg = _group(group, what)
    if pg is None:
        return None
    out, inp = _Buffer(output, what, "output", read=False), _Buffer(input, what, "input")
    _check_blocks(what, inp, out, pg.size(), "input", "output")
    reduction = _Reduction(op, inp.flat.dtype, what)
    if not async_op:
        _check_same(pg, what, _signature(input, with_shape=False), "input")
    send, recv = reduction.working(inp.flat), reduction.working(out.flat)
    request = pg.comm.Ireduce_scatter_block(send, recv, reduction.mpi_op)

    def finish():
        reduction.done(recv, out.flat, pg.size())
        out.written()
    return issue(pg, what, [request], finish, async_op, [output])


def _check_blocks(what, whole, block, size, whole_name, block_name):
    if whole.flat.dtype != block.flat.dtype:
        raise TypeError(f"{what}: {whole_name} and {block_name} must have the same dtype, got "
                        f"{whole.flat.dtype.name} and {block.flat.dtype.name}")
    if whole.flat.size != size * block.flat.size:
        raise ValueError(f"{what}: {whole_name} must have world size ({size}) times the elements of "
                         f"{block_name}; got {whole_name} of shape {tuple(whole.tensor.shape)} and "
                         f"{block_name} of shape {tuple(block.tensor.shape)}")


# ---------------------------------------------------------------- data movement

def broadcast(tensor, src=0, group=None, async_op=False):
    """Rank `src`'s tensor is copied into every rank's tensor."""
    what = "broadcast"
    pg = _group(group, what)
    if pg is None:
        return None
    root = pg.group_rank(src, what)
    buf = _Buffer(tensor, what, "tensor", read=pg.rank() == root)
    if not async_op:
        _check_same(pg, what, _signature(tensor, with_shape=False))
    request = pg.comm.Ibcast(_bytes(buf.flat), root)

    def finish():
        if pg.rank() != root:
            buf.written()
    return issue(pg, what, [request], finish, async_op, [tensor])


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's input, in rank order, into every rank's output (world size x input's elements:
    concatenated along dim 0 or stacked)."""
    what = "all_gather_into_tensor"
    pg = _group(group, what)
    if pg is None:
        return None
    out = _Buffer(output_tensor, what, "output_tensor", read=False)
    inp = _Buffer(input_tensor, what, "input_tensor")
    _check_blocks(what, out, inp, pg.size(), "output_tensor", "input_tensor")
    if not async_op:
        _check_same(pg, what, _signature(input_tensor), "input_tensor")
    request = pg.comm.Iallgather(_bytes(inp.flat), _bytes(out.flat))
    return issue(pg, what, [request], out.written, async_op, [output_tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] receives rank r's tensor, on every rank."""
    what = "all_gather"
    pg = _group(group, what)
    if pg is None:
        return None
    inp = _Buffer(tensor, what, "tensor")
    outs = _gather_list(tensor_list, tensor, pg.size(), what, "tensor_list", read=False)
    if not async_op:
        _check_same(pg, what, _signature(tensor))
    whole = np.empty((pg.size(), inp.flat.size), inp.flat.dtype)
    request = pg.comm.Iallgather(_bytes(inp.flat), _bytes(whole.reshape(-1)))
    return issue(pg, what, [request], lambda: _scatter_rows(whole, outs), async_op, tensor_list)


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Rank `dst`'s gather_list[r] receives rank r's tensor."""
    what = "gather"
    pg = _group(group, what)
    if pg is None:
        return None
    root = pg.group_rank(dst, what)
    inp = _Buffer(tensor, what, "tensor")
    is_root = pg.rank() == root
    outs = _root_list(gather_list, tensor, pg.size(), is_root, what, "gather_list", "destination", read=False)
    if not async_op:
        _check_same(pg, what, _signature(tensor))
    whole = np.empty((pg.size(), inp.flat.size), inp.flat.dtype) if is_root else None
    recv = _bytes(whole.reshape(-1)) if is_root else None
    request = pg.comm.Igather(_bytes(inp.flat), recv, root)

    def finish():
        if is_root:
            _scatter_rows(whole, outs)
    return issue(pg, what, [request], finish, async_op, gather_list or [])


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Rank r's tensor receives rank `src`'s scatter_list[r]."""
    what = "scatter"
    pg = _group(group, what)
    if pg is None:
        return None
    root = pg.group_rank(src, what)
    out = _Buffer(tensor, what, "tensor", read=False)
    is_root = pg.rank() == root
    ins = _root_list(scatter_list, tensor, pg.size(), is_root, what, "scatter_list", "source", read=True)
    if not async_op:
        _check_same(pg, what, _signature(tensor))
    send = None
    if is_root:
        whole = np.stack([b.flat for b in ins]) if ins else np.empty((0,), out.flat.dtype)
        send = _bytes(whole.reshape(-1))
    request = pg.comm.Iscatter(send, _bytes(out.flat), root)
    return issue(pg, what, [request], out.written, async_op, [tensor])


def _gather_list(tensors, like, size, what, arg, read):
    if not isinstance(tensors, (list, tuple)) or len(tensors) != size:
        got = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ValueError(f"{what}: {arg} must be a list of world size ({size}) tensors, got {got}")
    bufs = [_Buffer(t, what, f"{arg}[{i}]", read=read) for i, t in enumerate(tensors)]
    for i, b in enumerate(bufs):
        if b.flat.dtype != like._array.dtype or tuple(b.tensor.shape) != tuple(like.shape):
            raise ValueError(f"{what}: {arg}[{i}] must match the input's shape {tuple(like.shape)} and dtype "
                             f"{like.dtype}; got shape {tuple(b.tensor.shape)} and dtype {b.tensor.dtype}")
    return bufs


def _root_list(tensors, like, size, is_root, what, arg, role, read):
    """The list only the root passes (torch's rule), checked like all_gather's."""
    if not is_root:
        if tensors:
            raise ValueError(f"{what}: argument `{arg}` must NOT be specified on non-{role} ranks")
        return None
    if tensors is None:
        raise ValueError(f"{what}: argument `{arg}` must be specified on the {role} rank")
    return _gather_list(tensors, like, size, what, arg, read)


def _scatter_rows(whole, bufs):
    for row, b in zip(whole, bufs):
        b.flat[...] = row
        b.written()


# ---------------------------------------------------------------- point to point

def send(tensor, dst, group=None, tag=0):
    isend(tensor, dst, group, tag).wait()


def recv(tensor, src=None, group=None, tag=0):
    """Receive into `tensor` from rank `src` (any rank when None); returns the sender's rank."""
    work = irecv(tensor, src, group, tag)
    work.wait()
    return work._sender()


def isend(tensor, dst, group=None, tag=0):
    what = "send"
    pg = _group(group, what)
    if pg is None:
        return None
    peer = pg.group_rank(dst, what)
    if peer == pg.rank():
        raise ValueError(f"{what}: invalid destination rank {dst}: should not be the rank of the current "
                         "process")
    buf = _Buffer(tensor, what, "tensor")
    request = pg.comm.Isend(_bytes(buf.flat), peer, tag)
    return issue(pg, what, [request], None, True, [tensor])


def irecv(tensor, src=None, group=None, tag=0):
    what = "recv"
    pg = _group(group, what)
    if pg is None:
        return None
    MPI = _mpi()
    peer = MPI.ANY_SOURCE if src is None else pg.group_rank(src, what)
    if peer == pg.rank():
        raise ValueError(f"{what}: invalid source rank {src}: should not be the rank of the current process")
    buf = _Buffer(tensor, what, "tensor", read=False)
    status = MPI.Status()
    request = pg.comm.Irecv(_bytes(buf.flat), peer, tag)
    work = issue(pg, what, [_StatusRequest(request, status)], buf.written, True, [tensor])
    work._sender = lambda: pg.ranks[status.Get_source()]
    return work


class _StatusRequest:
    """A request whose completion fills `status` (who sent a receive from any rank)."""

    def __init__(self, request, status):
        self.request, self.status = request, status

    def Test(self):  # noqa: N802  (MPI's spelling, as the requests it stands beside)
        return self.request.Test(self.status)


def barrier(group=None, async_op=False, device_ids=None):
    """Every rank of the group reaches this call before any leaves it."""
    what = "barrier"
    pg = _group(group, what)
    if pg is None:
        return None
    return issue(pg, what, [pg.comm.Ibarrier()], None, async_op)
