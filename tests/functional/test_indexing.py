"""Indexing: x[idx], x[idx] = v, gather/scatter, index_select/index_add, masks, nonzero.

Values against PyTorch on a table of index patterns (every case also runs on
CUDA, the simulator when there is no GPU), gradients with gradcheck, the
parallel CPU paths on larger inputs, in-place semantics, errors, and inputs
left unmodified.
"""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

X = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
RNG = np.random.default_rng(7)
MASK3 = RNG.random((3, 4, 5)) > 0.5
MASK_LEAD = np.array([True, False, True])
MASK_2D = RNG.random((4, 5)) > 0.4
I64 = np.int64


def _index(spec, lib, device="cpu"):
    """An index spec for nnlite or torch: numpy arrays become tensors, the rest stays as it is."""
    def convert(it):
        if isinstance(it, np.ndarray):
            return nnlite.tensor(it, device=device) if lib is nnlite else lib.tensor(it)
        return it
    return tuple(convert(it) for it in spec) if isinstance(spec, tuple) else convert(spec)


def check_gradients(fn, inputs, extra=()):
    """gradcheck of fn(*inputs, *extra) on the CPU; on CUDA (slow under the simulator) one backward
    pass compared with the CPU's. `extra`: index tensors and masks (moved to the CPU with the inputs)."""
    if inputs[0].device.type == "cpu":
        return gradcheck(lambda *t: fn(*t, *extra), inputs)
    inputs = [t.detach().requires_grad_() for t in inputs]  # fresh leaves: no .grad from earlier calls
    cpu_inputs = [t.detach().cpu().requires_grad_() for t in inputs]
    out = fn(*inputs, *extra)
    weight = randn(*out.shape, dtype=np.float64, seed=11)
    (out * nnlite.tensor(weight, device=out.device)).sum().backward()
    (fn(*cpu_inputs, *[e.cpu() for e in extra]) * nnlite.tensor(weight)).sum().backward()
    for t, c in zip(inputs, cpu_inputs):
        assert_close(t.grad, c.grad, rtol=1e-10, atol=1e-12)
    return True


GETITEM_CASES = {
    "list": [1, -1],
    "int_tensor_2d": np.array([[0, 2], [1, 1]], I64),
    "int32_tensor": np.array([2, 0], np.int32),
    "second_dim": (slice(None), [0, 3]),
    "negative_inner": (slice(None), np.array([-4, 3], I64)),
    "adjacent_pair": ([0, 2], [1, 3]),
    "separated_pair": ([0, 2], slice(None), [1, 4]),
    "ellipsis_last": (Ellipsis, [4, 0]),
    "ellipsis_between": ([0, 1], Ellipsis, [1, 2]),
    "none_around": (None, [1, 2], None),
    "none_between": ([0, 1], None, [1, 2]),
    "int_then_adv": (1, slice(None), [2, 3]),
    "0d_tensor_selects": (np.array(1, I64), slice(None), [2, 3]),
    "broadcast_pair": ([[0], [2]], slice(None), [1, 2, 3]),
    "strided_slice": (slice(None, None, 2), [1, 3]),
    "slice_and_dups": (slice(1, 3), [0, 0, 2]),
    "full_mask": MASK3,
    "leading_mask": MASK_LEAD,
    "inner_mask": (slice(None), MASK_2D),
    "mask_and_int": (MASK_LEAD, [1, 2]),
    "mask_list": [True, False, True],
    "true": True,
    "false": False,
    "empty_list": [],
    "legacy_sequence_is_a_tuple": [[0, 2], slice(None), [1, 1]],
}


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")  # torch's legacy-sequence case
@pytest.mark.parametrize("name", GETITEM_CASES)
def test_getitem_matches_torch(torch, device, name):
    spec = GETITEM_CASES[name]
    got = nnlite.tensor(X, device=device)[_index(spec, nnlite, device)]
    want = torch.tensor(X)[_index(spec, torch)]
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want)


def _random_index(rng, shape):
    """A random mix of ints, strided slices, None, Ellipsis, int tensors (negatives included) and masks."""
    items, left = [], list(shape)
    while left and rng.random() < 0.85:
        r, n = rng.random(), left[0]
        if r < 0.12:
            items.append(None)
        elif r < 0.2 and not any(it is Ellipsis for it in items):
            items.append(Ellipsis)
            left = left[int(rng.integers(0, len(left) + 1)):]
        elif r < 0.8:
            a, b = sorted(int(v) for v in rng.integers(-n - 1, n + 2, 2))
            items.append(int(rng.integers(-n, n)) if r < 0.35 else slice(a, b, int(rng.integers(1, 3))) if r < 0.5
                         else rng.integers(-n, n, tuple(rng.integers(1, 3, rng.integers(1, 3)))))
            left = left[1:]
        else:
            k = int(rng.integers(1, min(2, len(left)) + 1))
            items.append(rng.random(tuple(left[:k])) > 0.5)
            left = left[k:]
    return tuple(items)


def test_random_index_patterns_match_torch(torch):
    rng = np.random.default_rng(123)
    for _ in range(200):
        shape = tuple(int(s) for s in rng.integers(1, 5, rng.integers(1, 5)))
        x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        spec = _random_index(rng, shape)
        try:
            want = torch.tensor(x)[_index(spec, torch)]
        except (IndexError, RuntimeError, ValueError) as error:
            with pytest.raises(type(error)):
                nnlite.tensor(x)[_index(spec, nnlite)]
            continue
        got = nnlite.tensor(x)
        assert_close(got[_index(spec, nnlite)], want)
        values = np.arange(want.numel(), dtype=np.float32).reshape(tuple(want.shape)) + 100
        ref = torch.tensor(x)
        got[_index(spec, nnlite)] = nnlite.tensor(values)
        ref[_index(spec, torch)] = torch.tensor(values)
        assert_close(got, ref)


def test_getitem_index_on_another_device(device):
    x = nnlite.tensor(X, device=device)
    assert_close(x[nnlite.tensor([2, 0])], X[[2, 0]])
    assert_close(x[nnlite.tensor(MASK_LEAD)], X[MASK_LEAD])


@pytest.mark.parametrize("spec", [[0, 0, 2], (slice(None), [1, 1, -1]), ([0, 2], slice(None), [4, 4]), MASK_LEAD,
                                  (slice(None), MASK_2D), ([[1], [1]], [0, 2], slice(1, 4))])
def test_getitem_gradient(device, spec):
    x = nnlite.tensor(randn(3, 4, 5, dtype=np.float64), device=device, requires_grad=True)
    assert check_gradients(lambda t: t[_index(spec, nnlite, t.device)], (x,))


SETITEM_CASES = {
    "rows_scalar": ([0, 2], 7.0),
    "rows_broadcast": ([0, 2], np.arange(5, dtype=np.float32)),
    "mask_scalar": (MASK3, 0.0),
    "mask_values": (MASK3, np.arange(MASK3.sum(), dtype=np.float32)),
    "leading_mask_scalar": (MASK_LEAD, -1.0),
    "leading_mask_rows": (MASK_LEAD, np.ones((2, 4, 5), np.float32)),
    "inner_mask": ((slice(None), MASK_2D), 3.0),
    "second_dim": ((slice(None), [1, 3]), np.full((3, 2, 5), 9, np.float32)),
    "separated": (([0, 1], slice(None), [1, 2]), np.arange(8, dtype=np.float32).reshape(2, 4)),
    "strided_view": ((slice(None, None, 2), [0, 3]), 5.0),
    "true": (True, 1.5),
}


@pytest.mark.parametrize("name", SETITEM_CASES)
def test_setitem_matches_torch(torch, device, name):
    spec, value = SETITEM_CASES[name]
    got = nnlite.tensor(X, device=device)
    want = torch.tensor(X)
    got[_index(spec, nnlite, device)] = nnlite.tensor(value, device=device) if isinstance(value, np.ndarray) \
        else value
    want[_index(spec, torch)] = torch.tensor(value) if isinstance(value, np.ndarray) else value
    assert_close(got, want)


def test_setitem_repeated_index_last_write_wins_on_cpu(torch):
    got, want = nnlite.zeros(4), torch.zeros(4)
    got[[1, 1, 1]] = nnlite.tensor([1.0, 2.0, 3.0])
    want[[1, 1, 1]] = torch.tensor([1.0, 2.0, 3.0])
    assert_close(got, want)


def test_setitem_mask_takes_any_dtype_for_one_value(torch):
    got, want = nnlite.tensor(X), torch.tensor(X)
    got[nnlite.tensor(MASK_LEAD)] = nnlite.tensor([5.0], dtype=nnlite.float64)
    want[torch.tensor(MASK_LEAD)] = torch.tensor([5.0], dtype=torch.float64)
    assert_close(got, want)


@pytest.mark.parametrize("spec", [[0, 2], MASK3, (slice(None), [1, 3])])
def test_setitem_in_graph_matches_torch(torch, device, spec):
    w = randn(3, 4, 5, seed=3)
    base = nnlite.tensor(X, device=device, requires_grad=True)
    ref_base = torch.tensor(X, requires_grad=True)
    value_shape = () if spec is MASK3 else (5,)
    v = nnlite.tensor(np.ones(value_shape, np.float32), device=device, requires_grad=True)
    ref_v = torch.ones(value_shape, requires_grad=True)
    x = base * 1
    ref = ref_base * 1
    x[_index(spec, nnlite, device)] = v
    ref[_index(spec, torch)] = ref_v
    (x * nnlite.tensor(w, device=device)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert_close(base.grad, ref_base.grad)
    assert_close(v.grad, ref_v.grad)


def test_setitem_gradient(device):
    x = nnlite.tensor(randn(4, 3, dtype=np.float64), device=device, requires_grad=True)
    v = nnlite.tensor(randn(2, 3, dtype=np.float64, seed=1), device=device, requires_grad=True)

    def put(x, v):
        y = x * 1
        y[[3, 0]] = v
        return y
    assert check_gradients(put, (x, v))


def test_setitem_leaf_rules():
    leaf = nnlite.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        leaf[[0]] = 1.0
    assert_close(leaf.detach(), X)
    version = leaf._version[0]
    with nnlite.no_grad():
        leaf[[0]] = 1.0
    assert leaf._version[0] > version
    assert_close(leaf.detach()[0], np.ones((4, 5)))


def test_index_put_accumulates_repeated_indices(torch, device):
    rows, cols = np.array([0, 0, 2, 0], I64), np.array([1, 1, 3, 1], I64)
    values = np.arange(4, dtype=np.float32)
    got = nnlite.zeros(3, 4, device=device).index_put_(
        (nnlite.tensor(rows, device=device), nnlite.tensor(cols, device=device)),
        nnlite.tensor(values, device=device), accumulate=True)
    want = torch.zeros(3, 4).index_put_((torch.tensor(rows), torch.tensor(cols)), torch.tensor(values),
                                        accumulate=True)
    assert_close(got, want)
    x = nnlite.zeros(3, 4, device=device)
    out = nnlite.index_put(x, (nnlite.tensor([1], device=device),), nnlite.tensor(2.0, device=device))
    assert_close(out, np.where(np.arange(3)[:, None] == 1, 2.0, 0.0) * np.ones((3, 4)))
    assert_close(x, np.zeros((3, 4)))


# ------------------------------------------------------------------ gather / scatter

GATHER_CASES = [
    (0, np.array([[0, 1, 2, 0, 1], [2, 2, 1, 0, 0]], I64)),          # index smaller than input along dim 1
    (1, np.array([[[0], [3], [3]], [[1], [2], [0]]], I64)),            # 3-d, index smaller in dims 1 and 2
    (-1, np.array([[[4, 0, 1]]], I64)),
]


def _gather_input(dim, index):
    return X[:, :, :] if index.ndim == 3 else X[0]


@pytest.mark.parametrize("dim, index", GATHER_CASES)
def test_gather_matches_torch(torch, device, dim, index):
    x = _gather_input(dim, index)
    got = nnlite.gather(nnlite.tensor(x, device=device), dim, nnlite.tensor(index, device=device))
    assert_close(got, torch.gather(torch.tensor(x), dim, torch.tensor(index)))


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
@pytest.mark.parametrize("dim, index", GATHER_CASES)
def test_scatter_family_matches_torch(torch, device, dim, index):
    x = _gather_input(dim, index)
    src = np.arange(index.size, dtype=np.float32).reshape(index.shape) + 100
    big_src = np.arange(2 * x.size, dtype=np.float32).reshape(tuple(2 * n for n in x.shape[:1]) + x.shape[1:])
    t = lambda a: nnlite.tensor(a, device=device)  # noqa: E731
    r = torch.tensor
    assert_close(t(x).scatter_add(dim, t(index), t(src)), r(x).scatter_add(dim, r(index), r(src)))
    assert_close(t(x).scatter_add(dim, t(index), t(big_src)), r(x).scatter_add(dim, r(index), r(big_src)))
    assert_close(t(x).scatter(dim, t(index), 2.0, reduce="multiply"),
                 r(x).scatter(dim, r(index), 2.0, reduce="multiply"))
    assert_close(t(x).scatter(dim, t(index), t(src), reduce="add"), r(x).scatter(dim, r(index), r(src), reduce="add"))
    unique = np.argsort(RNG.random(x.shape), axis=dim)[tuple(slice(0, n) for n in index.shape)]
    assert_close(t(x).scatter(dim, t(unique), t(src)), r(x).scatter(dim, r(unique), r(src)))
    assert_close(t(x).scatter(dim, t(unique), value=-1.0), r(x).scatter(dim, r(unique), value=-1.0))


def test_scatter_repeated_index_last_write_wins_on_cpu(torch):
    index, src = np.array([1, 1, 1, 2, 2], I64), np.arange(1.0, 6.0, dtype=np.float32)
    got = nnlite.zeros(5).scatter(0, nnlite.tensor(index), nnlite.tensor(src))
    assert_close(got, torch.zeros(5).scatter(0, torch.tensor(index), torch.tensor(src)))


def test_scatter_inplace_methods(torch, device):
    index = np.array([[0, 1, 0], [1, 0, 0]], I64)
    got = nnlite.zeros(2, 3, device=device)
    want = torch.zeros(2, 3)
    assert got.scatter_(0, nnlite.tensor(index, device=device), 4.0) is got
    want.scatter_(0, torch.tensor(index), 4.0)
    got.scatter_add_(1, nnlite.tensor(index, device=device), nnlite.ones(2, 3, device=device))
    want.scatter_add_(1, torch.tensor(index), torch.ones(2, 3))
    assert_close(got, want)


@pytest.mark.parametrize("dtype", [nnlite.uint8, nnlite.bool])
def test_scatter_add_small_dtypes(torch, device, dtype):
    """CUDA has no atomic add for uint8/bool: they accumulate in a wider copy."""
    index = np.array([1, 1, 3, 1], I64)
    src = np.array([1, 200, 1, 100], np.int64)
    tdt = getattr(torch, dtype.name)
    got = nnlite.zeros(5, dtype=dtype, device=device).scatter_add(
        0, nnlite.tensor(index, device=device), nnlite.tensor(src, device=device).to(dtype))
    want = torch.zeros(5, dtype=tdt).scatter_add(0, torch.tensor(index), torch.tensor(src).to(tdt))
    assert got.dtype is dtype
    assert_close(got, want)


def test_gather_scatter_gradients(device):
    x = nnlite.tensor(randn(3, 4, dtype=np.float64), device=device, requires_grad=True)
    src = nnlite.tensor(randn(3, 4, dtype=np.float64, seed=2), device=device, requires_grad=True)
    dup = nnlite.tensor([[0, 0, 3], [2, 2, 2], [1, 0, 1]], device=device)
    unique = nnlite.tensor([[3, 0, 1], [0, 2, 1], [1, 0, 3]], device=device)
    assert check_gradients(lambda t, i: nnlite.gather(t, 1, i), (x,), (dup,))
    assert check_gradients(lambda t, s, i: nnlite.scatter_add(t, 1, i, s), (x, src), (dup,))
    assert check_gradients(lambda t, s, i: nnlite.scatter(t, 1, i, s), (x, src), (unique,))
    assert check_gradients(lambda t, i: nnlite.scatter(t, 1, i, 0.5), (x,), (unique,))
    assert check_gradients(lambda t, i: nnlite.take_along_dim(t, i, 1), (x,), (dup,))


def test_scatter_reduce_has_no_derivative():
    x = nnlite.ones(3, requires_grad=True)
    y = nnlite.scatter(x * 1, 0, nnlite.tensor([0]), 2.0, reduce="multiply")
    with pytest.raises(RuntimeError, match="derivative of scatter with reduce"):
        y.sum().backward()


def test_scatter_inplace_in_graph(torch):
    base = nnlite.tensor(X[0], requires_grad=True)
    ref_base = torch.tensor(X[0], requires_grad=True)
    src = nnlite.ones(1, 5, requires_grad=True)
    ref_src = torch.ones(1, 5, requires_grad=True)
    index = np.array([[3, 1, 0, 2, 3]], I64)
    y = base * 2
    ref = ref_base * 2
    y.scatter_(0, nnlite.tensor(index), src)
    ref.scatter_(0, torch.tensor(index), ref_src)
    w = randn(4, 5, seed=5)
    (y * nnlite.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert_close(base.grad, ref_base.grad)
    assert_close(src.grad, ref_src.grad)


def test_take_along_dim_matches_torch(torch, device):
    x = randn(3, 4, seed=4)
    order = np.argsort(x, axis=1).astype(I64)
    t = nnlite.tensor(x, device=device)
    assert_close(nnlite.take_along_dim(t, nnlite.tensor(order, device=device), 1),
                 torch.take_along_dim(torch.tensor(x), torch.tensor(order), 1))
    assert_close(t.take_along_dim(nnlite.tensor([[5, 0]], device=device)),
                 torch.take_along_dim(torch.tensor(x), torch.tensor([[5, 0]])))
    column = np.array([[0], [3], [1]], I64)  # broadcast along dim 1... of the index: (3, 1) against (3, 4)
    assert_close(nnlite.take_along_dim(nnlite.tensor(x[:, None, :], device=device),
                                       nnlite.tensor(column[:, :, None], device=device), 2),
                 torch.take_along_dim(torch.tensor(x[:, None, :]), torch.tensor(column[:, :, None]), 2))


# ------------------------------------------------------------------ index_select / index_add

@pytest.mark.parametrize("dim, index", [(0, [2, 0, 2]), (1, [3]), (2, [4, 0, 1, 1]), (1, [])])
def test_index_select_and_add_match_torch(torch, device, dim, index):
    index = np.array(index, I64)
    got = nnlite.tensor(X, device=device).index_select(dim, nnlite.tensor(index, device=device))
    want = torch.tensor(X).index_select(dim, torch.tensor(index))
    assert_close(got, want)
    source = np.ones(want.shape, np.float32)
    got = nnlite.index_add(nnlite.tensor(X, device=device), dim, nnlite.tensor(index, device=device),
                           nnlite.tensor(source, device=device), alpha=2)
    assert_close(got, torch.index_add(torch.tensor(X), dim, torch.tensor(index), torch.tensor(source), alpha=2))


def test_index_select_scalar_and_int32(torch):
    assert_close(nnlite.tensor(5.0).index_select(0, nnlite.tensor([0])), torch.tensor(5.0).index_select(
        0, torch.tensor([0])))
    got = nnlite.tensor(X).index_select(1, nnlite.tensor([1, 0], dtype=nnlite.int32))
    assert_close(got, X[:, [1, 0]])


def test_index_select_add_gradients(device):
    x = nnlite.tensor(randn(4, 3, dtype=np.float64), device=device, requires_grad=True)
    s = nnlite.tensor(randn(3, 3, dtype=np.float64, seed=1), device=device, requires_grad=True)
    idx = nnlite.tensor([1, 1, 3], device=device)
    assert check_gradients(lambda t, i: nnlite.index_select(t, 0, i), (x,), (idx,))
    assert check_gradients(lambda t, u, i: nnlite.index_add(t, 0, i, u, alpha=0.5), (x, s), (idx,))


def test_index_add_inplace(torch, device):
    got = nnlite.zeros(3, 2, device=device)
    assert got.index_add_(0, nnlite.tensor([2, 2], device=device), nnlite.ones(2, 2, device=device)) is got
    assert_close(got, torch.zeros(3, 2).index_add_(0, torch.tensor([2, 2]), torch.ones(2, 2)))


# ------------------------------------------------------------------ masks and nonzero

@pytest.mark.parametrize("mask", [MASK3, MASK_2D, MASK3[:, :1, :], np.array(True)])
def test_masked_fill_and_select_match_torch(torch, device, mask):
    x = nnlite.tensor(X, device=device)
    m = nnlite.tensor(mask, device=device)
    assert_close(x.masked_fill(m, -2.5), torch.tensor(X).masked_fill(torch.tensor(mask), -2.5))
    assert_close(x.masked_select(m), torch.tensor(X).masked_select(torch.tensor(mask)))


def test_masked_fill_broadcasts_input_and_casts_value(torch, device):
    m = np.array([[True], [False]])
    x = np.arange(3, dtype=np.int64)
    got = nnlite.masked_fill(nnlite.tensor(x, device=device), nnlite.tensor(m, device=device), 1.7)
    want = torch.masked_fill(torch.tensor(x), torch.tensor(m), 1.7)
    assert got.dtype is nnlite.int64
    assert_close(got, want)
    b = nnlite.zeros(3, dtype=nnlite.bool, device=device).masked_fill(nnlite.tensor([True, False, True],
                                                                                  device=device), 2)
    assert b.tolist() == [True, False, True]
    u = nnlite.zeros(2, dtype=nnlite.uint8, device=device).masked_fill(nnlite.tensor([True, False], device=device), -1)
    assert u.tolist() == torch.zeros(2, dtype=torch.uint8).masked_fill(torch.tensor([True, False]), -1).tolist()


def test_masked_fill_inplace_and_gradients(torch, device):
    x = nnlite.tensor(randn(3, 4, dtype=np.float64), device=device, requires_grad=True)
    v = nnlite.tensor(0.5, dtype=nnlite.float64, device=device, requires_grad=True)
    m = nnlite.tensor(MASK_2D[:3, :4], device=device)
    assert check_gradients(lambda t, s, k: nnlite.masked_fill(t, k, s), (x, v), (m,))
    assert check_gradients(lambda t, k: nnlite.masked_select(t, k[:1]), (x,), (m,))
    y = nnlite.tensor(X[0], device=device)
    assert y.masked_fill_(nnlite.tensor(MASK_2D, device=device), 0) is y
    assert_close(y, torch.tensor(X[0]).masked_fill_(torch.tensor(MASK_2D), 0))


def test_masked_fill_strided_and_high_rank(torch, device):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    mask = (x % 3 == 0).transpose(2, 1, 0)
    got, want = nnlite.tensor(x, device=device), torch.tensor(x)
    got.permute(2, 1, 0).masked_fill_(nnlite.tensor(mask, device=device), -1.0)  # a strided view
    want.permute(2, 1, 0).masked_fill_(torch.tensor(mask), -1.0)
    assert_close(got, want)
    a, m = randn(2, 1, 3, 1, 2), RNG.random((1, 2, 1, 3, 1)) > 0.5  # five dims that do not collapse
    assert_close(nnlite.tensor(a, device=device).masked_fill(nnlite.tensor(m, device=device), 7.0),
                 torch.tensor(a).masked_fill(torch.tensor(m), 7.0))
    y = nnlite.tensor(np.broadcast_to(a, (2, 2, 3, 3, 2)).copy(), device=device)
    y.masked_fill_(nnlite.tensor(m, device=device), 7.0)
    assert_close(y, torch.tensor(np.broadcast_to(a, (2, 2, 3, 3, 2)).copy()).masked_fill_(torch.tensor(m), 7.0))


def test_masked_fill_inplace_in_graph(torch):
    base = nnlite.tensor(X[0], requires_grad=True)
    ref_base = torch.tensor(X[0], requires_grad=True)
    v = nnlite.tensor(3.0, requires_grad=True)
    ref_v = torch.tensor(3.0, requires_grad=True)
    y, ref = base * 2, ref_base * 2
    y.masked_fill_(nnlite.tensor(MASK_2D), v)
    ref.masked_fill_(torch.tensor(MASK_2D), ref_v)
    (y * y).sum().backward()
    (ref * ref).sum().backward()
    assert_close(base.grad, ref_base.grad)
    assert_close(v.grad, ref_v.grad)


@pytest.mark.parametrize("data", [X > 30, np.array([[0.0, 1.0], [np.nan, 0.0]]), np.zeros((2, 3)),
                                  np.array(5.0), np.array(0.0), np.zeros((0, 2))])
def test_nonzero_and_where_match_torch(torch, device, data):
    t, r = nnlite.tensor(data, device=device), torch.tensor(data)
    got, want = nnlite.nonzero(t), torch.nonzero(r)
    assert tuple(got.shape) == tuple(want.shape) and got.dtype is nnlite.int64
    assert_close(got, want)
    for a, b in zip(nnlite.nonzero(t, as_tuple=True), torch.nonzero(r, as_tuple=True)):
        assert_close(a, b)
    assert len(nnlite.where(t)) == len(torch.where(r))


# ------------------------------------------------------------------ parallel CPU paths

def test_large_inputs_take_the_parallel_paths(torch):
    """Sizes above the serial threshold run the prange loops (and the race-free accumulation)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 300)).astype(np.float32)
    t, r = nnlite.tensor(x), torch.tensor(x)
    rows = rng.integers(-400, 400, 500)
    assert_close(t[rows], r[rows])
    assert_close(t[:, rows % 300], r[:, rows % 300])
    assert_close(t[t > 1], r[r > 1])
    assert_close(nnlite.nonzero(t > 1), torch.nonzero(r > 1))
    assert_close(t.masked_fill(t > 0, 0.0), r.masked_fill(r > 0, 0.0))
    idx = rng.integers(0, 400, (400, 300))
    assert_close(nnlite.gather(t, 0, nnlite.tensor(idx)), torch.gather(r, 0, torch.tensor(idx)))
    assert_close(nnlite.scatter_add(t, 0, nnlite.tensor(idx), t), torch.scatter_add(r, 0, torch.tensor(idx), r),
                 rtol=1e-5, atol=1e-4)
    one_row = rng.integers(0, 100, 120000)
    assert_close(nnlite.zeros(100).index_add_(0, nnlite.tensor(one_row), nnlite.ones(120000)),
                 torch.zeros(100).index_add_(0, torch.tensor(one_row), torch.ones(120000)))
    g = nnlite.tensor(x, requires_grad=True)
    ref = torch.tensor(x, requires_grad=True)
    g[rows % 400].sum().backward()
    ref[rows % 400].sum().backward()
    assert_close(g.grad, ref.grad)


# ------------------------------------------------------------------ errors and unmodified inputs

def _x():
    return nnlite.tensor(X[0])


def _i(*data, dtype=None):
    return nnlite.tensor(list(data), dtype=dtype)


ERRORS = [
    (lambda: _x()[[7]], IndexError, "index 7 is out of bounds for dimension 0 with size 4"),
    (lambda: _x()[:, [-6]], IndexError, "index -6 is out of bounds for dimension 0 with size 5"),
    (lambda: _x()[[0], [9]], IndexError, "index 9 is out of bounds for dimension 1 with size 5"),
    (lambda: nnlite.zeros(0, 3)[[0]], IndexError, "index is out of bounds for dimension with size 0"),
    (lambda: _x()[nnlite.tensor([True, False])], IndexError, r"shape of the mask \[2\] at index 0 does not match"),
    (lambda: _x()[:, nnlite.ones(4, dtype=nnlite.bool)], IndexError, r"indexed tensor \[4, 5\] at index 1"),
    (lambda: _x()[[0, 1], [0, 1, 2]], IndexError, r"could not be broadcast together with shapes \[2\], \[3\]"),
    (lambda: _x()[nnlite.tensor([1.0])], IndexError, "tensors used as indices must be long, int, byte or bool"),
    (lambda: _x()[1.5], IndexError, r"only integers, slices .* \(got float\)"),
    (lambda: _x()[0, 0, [0]], IndexError, "too many indices for tensor of dimension 2"),
    (lambda: _x().__setitem__([0, 1], nnlite.ones(3)), RuntimeError,
     r"value tensor of shape \[3\] cannot be broadcast to indexing result of shape \[2, 5\]"),
    (lambda: _x().__setitem__([0], nnlite.ones(5, dtype=nnlite.float64)), RuntimeError,
     "Index put requires the source and destination dtypes match, got Float for the destination and Double"),
    (lambda: _x().index_put_(_i(0), nnlite.ones(5)), TypeError, "must be tuple of Tensors, not Tensor"),
    (lambda: _x().index_put_((_i(0), None), nnlite.ones(5)), TypeError, "expected Tensor as element 1"),
    (lambda: _x().index_put_((_i(0),), 1.0), TypeError, "'values' .* must be Tensor, not float"),
    (lambda: _x().gather(0, _i([0], dtype=nnlite.float32)), RuntimeError, r"gather\(\): Expected dtype int32/int64"),
    (lambda: _x().gather(0, _i(0)), RuntimeError, "same number of dimensions as input tensor"),
    (lambda: _x().gather(0, _i([5])), RuntimeError, "index 5 is out of bounds for dimension 0 with size 4"),
    (lambda: _x().gather(1, _i([-1])), RuntimeError, "index -1 is out of bounds for dimension 1 with size 5"),
    (lambda: _x().gather(0, nnlite.zeros(4, 6, dtype=nnlite.int64)), RuntimeError,
     r"Size does not match at dimension 1 expected index \[4, 6\] to be no larger than self \[4, 5\]"),
    (lambda: _x().gather(2, _i([0])), IndexError, "Dimension out of range"),
    (lambda: _x().scatter(0, _i([0]), nnlite.ones(1, 1, dtype=nnlite.float64)), RuntimeError,
     "Expected self.dtype to be equal to src.dtype"),
    (lambda: _x().scatter(0, _i([0]), nnlite.ones(1)), RuntimeError, "same number of dimensions as src tensor"),
    (lambda: _x().scatter(0, nnlite.zeros(2, 2, dtype=nnlite.int64), nnlite.ones(1, 2)), RuntimeError,
     r"to be no larger size than src \[1, 2\]"),
    (lambda: _x().scatter(0, _i([9]), 1.0), RuntimeError, "index 9 is out of bounds for dimension 0 with size 4"),
    (lambda: _x().scatter(0, _i([0]), 1.0, reduce="max"), RuntimeError, "reduce argument must be either add or"),
    (lambda: _x().scatter_add(0, _i([0]), 1.0), TypeError, "argument 'src' must be Tensor"),
    (lambda: _x().index_select(0, _i(4)), IndexError, "index out of range in self"),
    (lambda: _x().index_select(0, _i(-1)), IndexError, "index out of range in self"),
    (lambda: _x().index_select(0, _i([0])), IndexError, "Index is supposed to be a vector"),
    (lambda: _x().index_select(0, _i(0.0)), RuntimeError, "Expected dtype int32 or int64 for index"),
    (lambda: nnlite.tensor(1.0).index_select(0, _i(0, 0)), RuntimeError, "Index to scalar can have only 1 value"),
    (lambda: _x().index_add(0, _i(0), nnlite.ones(2, 5)), RuntimeError, r"Number of indices \(1\) should be equal"),
    (lambda: _x().index_add(0, _i(0), nnlite.ones(1, 4)), RuntimeError, "source tensor shape must match self"),
    (lambda: _x().index_add(0, _i(0), nnlite.ones(1, 5, dtype=nnlite.float64)), RuntimeError,
     r"self \(Float\) and source \(Double\) must have the same scalar type"),
    (lambda: _x().index_add(0, _i(7), nnlite.ones(1, 5)), RuntimeError, "index 7 is out of bounds"),
    (lambda: _x().masked_fill(nnlite.ones(4, 5), 1.0), RuntimeError, "only supports boolean masks, but got mask "
                                                                      "with dtype float"),
    (lambda: _x().masked_fill(nnlite.ones(5, dtype=nnlite.bool), nnlite.ones(2)), RuntimeError,
     "only supports a 0-dimensional value tensor"),
    (lambda: _x().masked_fill(nnlite.ones(3, dtype=nnlite.bool), 1.0), RuntimeError, "must match the size"),
    (lambda: _x().masked_fill(nnlite.ones(5, dtype=nnlite.bool), "a"), TypeError, "must be Number or Tensor"),
    (lambda: nnlite.zeros(2, dtype=nnlite.int64).masked_fill(nnlite.ones(2, dtype=nnlite.bool), float("nan")),
     RuntimeError, "cannot be converted to type int64_t without overflow"),
    (lambda: nnlite.zeros(2, dtype=nnlite.uint8).masked_fill(nnlite.ones(2, dtype=nnlite.bool), 300), RuntimeError,
     "cannot be converted to type uint8_t without overflow"),
    (lambda: _x().masked_fill(nnlite.ones(5, dtype=nnlite.bool), 1e40), RuntimeError,
     "cannot be converted to type float without overflow"),
    (lambda: _x().masked_fill_(nnlite.ones(2, 4, 5, dtype=nnlite.bool), 1.0), RuntimeError,
     r"output with shape \[4, 5\] doesn't match the broadcast shape \[2, 4, 5\]"),
    (lambda: _x().masked_select(nnlite.ones(4, 5)), RuntimeError, "expected BoolTensor for mask"),
    (lambda: nnlite.take_along_dim(_x(), _i(0), 0), RuntimeError, "should have the same number of dimensions"),
    (lambda: nnlite.take_along_dim(_x(), nnlite.zeros(1, 1), 0), RuntimeError, "dtype of indices should be Long"),
]


@pytest.mark.parametrize("call, error, match", ERRORS)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.cuda
def test_device_mismatch_is_an_error():
    if not nnlite.cuda.is_available():
        pytest.skip("CUDA is not available (install numba-cuda for the simulator)")
    x = nnlite.zeros(3, 2, device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        nnlite.gather(x, 0, nnlite.tensor([[0, 1]]))
    with pytest.raises(RuntimeError, match="same device"):
        x.masked_fill(nnlite.ones(3, 2, dtype=nnlite.bool), 1.0)


def test_inputs_are_not_modified(device):
    x = nnlite.tensor(X, device=device)
    idx = nnlite.tensor([[[2, 0, 1, 1, 0]]], device=device)
    neg = nnlite.tensor([-1, 0], device=device)
    mask = nnlite.tensor(MASK3, device=device)
    src = nnlite.ones(1, 1, 5, device=device)
    nnlite.gather(x, 0, idx), x.scatter(0, idx, src), x.scatter_add(0, idx, src), x.scatter(0, idx, 1.0)
    x[neg], x[mask], x.masked_fill(mask, 0.0), x.masked_select(mask), nnlite.nonzero(mask)
    x.index_select(1, neg + 1), nnlite.index_add(x, 2, neg + 1, nnlite.ones(3, 4, 2, device=device))
    assert_close(x, X)
    assert idx.tolist() == [[[2, 0, 1, 1, 0]]] and neg.tolist() == [-1, 0] and src.tolist() == [[[1.0] * 5]]
    assert_close(mask, MASK3)
    with pytest.raises(IndexError):
        x[[0, 9]] = 1.0
    assert_close(x, X)
