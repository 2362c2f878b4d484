"""Shape and stride arithmetic shared by kernels' callers (no numba)."""
import numpy as np


class Layout:
    """torch.layout: nnlite tensors are all dense and strided, so `strided` is the only one."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


strided = Layout("strided")


def contiguous_strides(shape):
    """Element strides of a C-contiguous array of this shape."""
    strides = []
    acc = 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= s
    return tuple(reversed(strides))


def collapse_dims(shape, *stride_sets):
    """Merge adjacent dims that are contiguous in every stride set; drop size-1 dims.

    Returns (shape, [strides, ...]) with at least one dim, so a kernel walks
    the fewest, longest rows possible.
    """
    dims = [i for i, s in enumerate(shape) if s != 1]
    if not dims:
        return [1], [[0] for _ in stride_sets]
    out_shape = [shape[dims[0]]]
    out_strides = [[st[dims[0]]] for st in stride_sets]
    for i in dims[1:]:
        n = shape[i]
        if all(o[-1] == st[i] * n for o, st in zip(out_strides, stride_sets)):
            out_shape[-1] *= n
            for o, st in zip(out_strides, stride_sets):
                o[-1] = st[i]
        else:
            out_shape.append(n)
            for o, st in zip(out_strides, stride_sets):
                o.append(st[i])
    return out_shape, out_strides


def broadcast_shapes(*shapes):
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n != 1:
                if out[i] != 1 and out[i] != n:
                    raise RuntimeError(
                        "The size of tensor a ({}) must match the size of tensor b ({}) at non-singleton "
                        "dimension {}".format(out[i], n, i))
                out[i] = n
    return tuple(out)


_plans = {}


def broadcast_plan(*shapes):
    """How a pointwise kernel walks contiguous operands of these shapes.

    Returns (out_shape, shape4, strides4): the output shape, the output
    collapsed to a canonical 4-D shape, and per operand its element strides
    over that shape (0 along broadcast dims). shape4 is None when more than
    four dims remain after collapsing (callers then expand operands first).
    Plans are cached: the tiny-op path must stay a few microseconds.
    """
    plan = _plans.get(shapes)
    if plan is not None:
        return plan
    out_shape = broadcast_shapes(*shapes)
    stride_sets = []
    for s in shapes:
        own = contiguous_strides(s)
        lead = len(out_shape) - len(s)
        stride_sets.append([0] * lead + [st if n == m else 0 for st, n, m in zip(own, s, out_shape[lead:])])
    collapsed, strides = collapse_dims(out_shape, *stride_sets)
    if len(collapsed) > 4:
        plan = (out_shape, None, None)
    else:
        pad = 4 - len(collapsed)
        plan = (out_shape, (1,) * pad + tuple(collapsed),
                tuple((0,) * pad + tuple(st) for st in strides))
    if len(_plans) > 4096:
        _plans.clear()
    _plans[shapes] = plan
    return plan


_walks = {}


def broadcast_walk(*shapes):
    """(out_shape, walk) for a pointwise kernel over contiguous operands of these shapes.

    `walk` is one int64 array: the canonical 4-D shape of broadcast_plan, then
    each operand's four strides. Numba types an array argument several times
    faster than three tuples, and the array is cached per shape combination,
    so a tiny op pays for neither. walk is None when more than four dims remain.
    """
    hit = _walks.get(shapes)
    if hit is not None:
        return hit
    out_shape, shape4, strides = broadcast_plan(*shapes)
    walk = None
    if shape4 is not None:
        walk = np.array(shape4 + sum(strides, ()), dtype=np.int64)
    if len(_walks) > 4096:
        _walks.clear()
    _walks[shapes] = (out_shape, walk)
    return out_shape, walk
