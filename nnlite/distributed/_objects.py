"""Collectives of picklable Python objects (torch's *_object functions).

Each object is pickled to bytes; the byte counts travel first, then the bytes, both as
nonblocking calls waited on with the group's timeout like every tensor collective.
"""
import pickle

import numpy as np

from ._collectives import _group
from ._work import wait_request


def _pickled(obj):
    return np.frombuffer(pickle.dumps(obj), np.uint8)


def _unpickled(data):
    return pickle.loads(data.tobytes())


def _all_counts(pg, what, count):
    counts = np.empty(pg.size(), np.int64)
    wait_request(pg.comm.Iallgather(np.array([count], np.int64), counts), pg, what)
    return counts


def _gathered(pg, what, data, counts, root=None):
    """Every rank's bytes, split by rank (on every rank, or only on `root`)."""
    offsets = np.concatenate([[0], np.cumsum(counts)])
    whole = np.empty(int(offsets[-1]), np.uint8) if root is None or pg.rank() == root else None
    if root is None:
        request = pg.comm.Iallgatherv(data, [whole, (counts, offsets[:-1])])
    else:
        recv = [whole, (counts, offsets[:-1])] if whole is not None else None
        request = pg.comm.Igatherv(data, recv, root)
    wait_request(request, pg, what)
    if whole is None:
        return None
    return [whole[offsets[r]:offsets[r + 1]] for r in range(pg.size())]


def all_gather_object(object_list, obj, group=None):
    """object_list[r] becomes rank r's `obj`, on every rank."""
    what = "all_gather_object"
    pg = _group(group, what)
    if pg is None:
        return
    _check_list(object_list, pg.size(), what, "object_list")
    data = _pickled(obj)
    parts = _gathered(pg, what, data, _all_counts(pg, what, data.size))
    for r, part in enumerate(parts):
        object_list[r] = _unpickled(part)


def gather_object(obj, object_gather_list=None, dst=0, group=None):
    """Rank `dst`'s object_gather_list[r] becomes rank r's `obj`."""
    what = "gather_object"
    pg = _group(group, what)
    if pg is None:
        return
    root = pg.group_rank(dst, what)
    if pg.rank() == root:
        _check_list(object_gather_list, pg.size(), what, "object_gather_list")
    data = _pickled(obj)
    parts = _gathered(pg, what, data, _all_counts(pg, what, data.size), root)
    if parts is not None:
        for r, part in enumerate(parts):
            object_gather_list[r] = _unpickled(part)


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """Every rank's object_list takes rank `src`'s objects (the lists have the same length)."""
    what = "broadcast_object_list"
    pg = _group(group, what)
    if pg is None:
        return
    root = pg.group_rank(src, what)
    data = _pickled(list(object_list)) if pg.rank() == root else np.empty(0, np.uint8)
    count = np.array([data.size], np.int64)
    wait_request(pg.comm.Ibcast(count, root), pg, what)
    if pg.rank() != root:
        data = np.empty(int(count[0]), np.uint8)
    wait_request(pg.comm.Ibcast(data, root), pg, what)
    if pg.rank() != root:
        received = _unpickled(data)
        if len(received) != len(object_list):
            raise ValueError(f"{what}: rank {src} sent {len(received)} objects but this rank's object_list has "
                             f"{len(object_list)}")
        object_list[:] = received


def _check_list(objects, size, what, arg):
    if not isinstance(objects, list) or len(objects) != size:
        got = len(objects) if isinstance(objects, list) else type(objects).__name__
        raise ValueError(f"{what}: {arg} must be a list of world size ({size}), got {got}")
