"""Every collective against numpy, on 2 ranks. NNLITE_TEST_DEVICE=cuda runs them on CUDA tensors
(the staged host copies; under Numba's simulator in CI)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import check, main  # noqa: E402

import nnlite  # noqa: E402
import nnlite.distributed as dist  # noqa: E402

DEVICE = os.environ.get("NNLITE_TEST_DEVICE", "cpu")
DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.float16, np.bool_]


def rank_data(rank, shape=(3, 5), dtype=np.float32):
    """Distinct, exactly representable values per rank (a seed per rank)."""
    values = np.random.default_rng(100 + rank).integers(1, 4, size=shape)
    return values.astype(dtype)


def everyone(shape=(3, 5), dtype=np.float32):
    return [rank_data(r, shape, dtype) for r in range(dist.get_world_size())]


def to_tensor(a):
    t = nnlite.tensor(a, device=DEVICE)
    assert t.device.type == DEVICE
    return t


def same(t, expected):
    got = t.cpu().numpy()
    assert got.dtype == np.asarray(expected).dtype, (got.dtype, np.asarray(expected).dtype)
    np.testing.assert_array_equal(got, expected)


REDUCE = {dist.ReduceOp.SUM: lambda a: np.sum(a, 0), dist.ReduceOp.PRODUCT: lambda a: np.prod(a, 0),
          dist.ReduceOp.MIN: lambda a: np.min(a, 0), dist.ReduceOp.MAX: lambda a: np.max(a, 0),
          dist.ReduceOp.AVG: lambda a: np.mean(a, 0)}


def expected_reduction(op, dtype):
    data = np.stack(everyone(dtype=dtype))
    if dtype == np.bool_:
        return (np.all if op in (dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN) else np.any)(data, 0)
    return REDUCE[op](data).astype(dtype)


@check
def all_reduce_every_op_and_dtype():
    for dtype in DTYPES:
        for op in REDUCE:
            if op is dist.ReduceOp.AVG and not np.issubdtype(dtype, np.floating):
                continue
            t = to_tensor(rank_data(dist.get_rank(), dtype=dtype))
            version = t._version[0]
            assert dist.all_reduce(t, op=op) is None
            same(t, expected_reduction(op, dtype))
            assert t._version[0] > version, "an in-place write bumps the version"


@check
def all_reduce_async_and_zero_dim():
    t = to_tensor(rank_data(dist.get_rank()))
    work = dist.all_reduce(t, async_op=True)
    assert work.wait() is True and work.is_completed()
    same(t, expected_reduction(dist.ReduceOp.SUM, np.float32))
    scalar = to_tensor(np.array(dist.get_rank() + 1.0))
    dist.all_reduce(scalar, op=dist.ReduceOp.MAX)
    same(scalar, np.array(float(dist.get_world_size())))


@check
def bitwise_reductions():
    values = [np.array([0b1100, 0b1010], np.int64), np.array([0b1010, 0b0110], np.int64)]
    for op, fn in [(dist.ReduceOp.BAND, np.bitwise_and), (dist.ReduceOp.BOR, np.bitwise_or),
                   (dist.ReduceOp.BXOR, np.bitwise_xor)]:
        t = to_tensor(values[dist.get_rank()])
        dist.all_reduce(t, op=op)
        same(t, fn(values[0], values[1]))


@check
def reduce_to_one_rank():
    for dst in range(dist.get_world_size()):
        mine = rank_data(dist.get_rank(), dtype=np.float64)
        t = to_tensor(mine)
        dist.reduce(t, dst=dst, op=dist.ReduceOp.SUM)
        same(t, expected_reduction(dist.ReduceOp.SUM, np.float64) if dist.get_rank() == dst else mine)


@check
def broadcast_from_each_rank():
    for src in range(dist.get_world_size()):
        for dtype in DTYPES:
            t = to_tensor(rank_data(dist.get_rank(), dtype=dtype))
            dist.broadcast(t, src=src)
            same(t, rank_data(src, dtype=dtype))


@check
def all_gather_and_into_tensor():
    world, rank = dist.get_world_size(), dist.get_rank()
    for dtype in DTYPES:
        outs = [to_tensor(np.zeros((3, 5), dtype)) for _ in range(world)]
        dist.all_gather(outs, to_tensor(rank_data(rank, dtype=dtype)))
        for out, expected in zip(outs, everyone(dtype=dtype)):
            same(out, expected)
        concatenated = to_tensor(np.zeros((3 * world, 5), dtype))
        dist.all_gather_into_tensor(concatenated, to_tensor(rank_data(rank, dtype=dtype)))
        same(concatenated, np.concatenate(everyone(dtype=dtype)))
        stacked = to_tensor(np.zeros((world, 3, 5), dtype))
        work = dist.all_gather_into_tensor(stacked, to_tensor(rank_data(rank, dtype=dtype)), async_op=True)
        work.wait()
        same(stacked, np.stack(everyone(dtype=dtype)))


@check
def reduce_scatter_tensor_blocks():
    world, rank = dist.get_world_size(), dist.get_rank()
    for op in (dist.ReduceOp.SUM, dist.ReduceOp.AVG, dist.ReduceOp.MAX):
        inputs = [rank_data(r, shape=(world * 2, 3), dtype=np.float32) for r in range(world)]
        out = to_tensor(np.zeros((2, 3), np.float32))
        dist.reduce_scatter_tensor(out, to_tensor(inputs[rank]), op=op)
        whole = REDUCE[op](np.stack(inputs)).astype(np.float32)
        same(out, whole[2 * rank:2 * rank + 2])


@check
def gather_and_scatter():
    world, rank = dist.get_world_size(), dist.get_rank()
    for root in range(world):
        gathered = [to_tensor(np.zeros((3, 5), np.int64)) for _ in range(world)] if rank == root else None
        dist.gather(to_tensor(rank_data(rank, dtype=np.int64)), gathered, dst=root)
        if rank == root:
            for out, expected in zip(gathered, everyone(dtype=np.int64)):
                same(out, expected)
        pieces = [to_tensor(np.full((2,), 10 * root + r, np.float32)) for r in range(world)] if rank == root else None
        received = to_tensor(np.zeros(2, np.float32))
        dist.scatter(received, pieces, src=root)
        same(received, np.full((2,), 10 * root + rank, np.float32))


@check
def send_recv_and_any_source():
    rank = dist.get_rank()
    if rank == 0:
        dist.send(to_tensor(np.arange(4.0)), dst=1, tag=3)
        work = dist.isend(to_tensor(np.arange(4.0) * 2), dst=1)
        work.wait()
    elif rank == 1:
        got = to_tensor(np.zeros(4))
        assert dist.recv(got, src=0, tag=3) == 0
        same(got, np.arange(4.0))
        assert dist.recv(got) == 0, "recv from any rank returns the sender"
        same(got, np.arange(4.0) * 2)


@check
def groups():
    world, rank = dist.get_world_size(), dist.get_rank()
    solo = dist.new_group([1])
    if rank == 1:
        assert dist.get_rank(solo) == 0 and dist.get_world_size(solo) == 1
        t = to_tensor(np.ones(3))
        dist.all_reduce(t, group=solo)
        same(t, np.ones(3))
    else:
        assert solo is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(solo) == -1
        assert dist.all_reduce(to_tensor(np.ones(3)), group=solo) is None
    both = dist.new_group()
    t = to_tensor(np.ones(2))
    dist.all_reduce(t, group=both)
    same(t, np.full(2, float(world)))
    dist.destroy_process_group(both)
    dist.destroy_process_group(solo)


@check
def objects():
    world, rank = dist.get_world_size(), dist.get_rank()
    everything = [None] * world
    dist.all_gather_object(everything, {"rank": rank, "payload": "x" * (rank * 1000)})
    assert everything == [{"rank": r, "payload": "x" * (r * 1000)} for r in range(world)]
    shared = [rank, "mine"] if rank == 1 else [None, None]
    dist.broadcast_object_list(shared, src=1)
    assert shared == [1, "mine"]
    gathered = [None] * world if rank == 0 else None
    dist.gather_object(("from", rank), gathered, dst=0)
    if rank == 0:
        assert gathered == [("from", r) for r in range(world)]


@check
def mismatched_shapes_are_a_clear_error_on_every_rank():
    rank = dist.get_rank()
    n = 3 + rank
    try:
        dist.all_gather_into_tensor(to_tensor(np.zeros(2 * n, np.float32)), to_tensor(np.zeros(n, np.float32)))
    except ValueError as err:
        assert "every rank must pass `input_tensor` with the same shape" in str(err), err
        assert "[3]" in str(err) and "[4]" in str(err), err
    else:
        raise AssertionError("no error for different shapes across ranks")
    try:
        dist.all_reduce(to_tensor(np.zeros(2, np.float64 if rank else np.float32)))
    except ValueError as err:
        assert "float32" in str(err) and "float64" in str(err), err
    else:
        raise AssertionError("no error for different dtypes across ranks")


@check
def bad_arguments():
    rank = dist.get_rank()
    errors = [
        (lambda: dist.all_reduce(to_tensor(np.zeros((4, 4), np.float32)).t()), ValueError, "contiguous"),
        (lambda: dist.all_reduce(np.zeros(3)), TypeError, "nnlite.Tensor"),
        (lambda: dist.all_reduce(to_tensor(np.zeros(3, np.int64)), op=dist.ReduceOp.AVG), ValueError, "AVG"),
        (lambda: dist.broadcast(to_tensor(np.zeros(3)), src=5), ValueError, "rank 5 is not part"),
        (lambda: dist.all_gather([to_tensor(np.zeros(3))], to_tensor(np.zeros(3))), ValueError, "world size"),
        (lambda: dist.send(to_tensor(np.zeros(3)), dst=rank), ValueError, "destination"),
    ]
    for call, kind, words in errors:
        try:
            call()
        except kind as err:
            assert words in str(err), (words, str(err))
        else:
            raise AssertionError(f"no {kind.__name__} mentioning {words!r}")


if __name__ == "__main__":
    main()
