"""Reductions: values vs PyTorch (shapes, dims, keepdim, views, dtypes, empty and 0-d
inputs), NaN/inf and ties, gradients (gradcheck in float64), CUDA vs CPU, errors."""
import sys

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn


@pytest.fixture(autouse=True, scope="module")
def _prompt_simulated_barriers():
    """The CUDA simulator's block manager polls its threads at each barrier in steps of
    Python's thread switch interval: shorten it while this module's block kernels run."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(interval)


# torch warns when var has no degrees of freedom; the CUDA simulator's numpy scalars warn on inf/NaN math.
pytestmark = [pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

# (shape, dim) cases; () and None reduce everything, as in torch.
CASES = [((), None), ((), 0), ((5,), 0), ((3, 4), None), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), (0, 2)),
         ((2, 3, 4), (1, 2)), ((2, 3, 4), (-3, -2)), ((2, 3, 4), ())]
FLOAT_OPS = ["sum", "mean", "amax", "amin", "logsumexp", "var", "std", "norm"]


def _both(x, device="cpu"):
    import torch
    return nnlite.tensor(x, device=device), torch.tensor(x)


def _kwargs(dim, keepdim):
    return {} if dim is None else {"dim": dim, "keepdim": keepdim}


@pytest.mark.parametrize("op", FLOAT_OPS)
@pytest.mark.parametrize("shape, dim", CASES)
def test_matches_torch(torch, device, op, shape, dim):
    x = randn(*shape, seed=1)
    a, t = _both(x, device)
    for keepdim in ((False,) if dim is None else (False, True)):
        if op == "logsumexp" and dim in ((), None):
            continue  # torch's logsumexp needs a dim and rejects dim=() (nnlite reduces everything, like sum)
        want = getattr(torch, op)(t, **_kwargs(dim, keepdim))
        assert_close(getattr(nnlite, op)(a, **_kwargs(dim, keepdim)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["prod", "cumsum", "argmax", "argmin", "max", "min"])
@pytest.mark.parametrize("shape, dim", [((), 0), ((5,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -2)])
def test_single_dim_ops_match_torch(torch, device, op, shape, dim):
    x = randn(*shape, seed=2)
    a, t = _both(x, device)
    for keepdim in ((None,) if op == "cumsum" else (False, True)):
        kw = {} if keepdim is None else {"keepdim": keepdim}
        got, want = getattr(nnlite, op)(a, dim, **kw), getattr(torch, op)(t, dim, **kw)
        if op in ("max", "min"):
            assert_close(got.values, want.values)
            assert_close(got.indices, want.indices)
            assert got.indices.dtype is nnlite.int64
        else:
            assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make_view", [
    lambda x: x.transpose(0, 2), lambda x: x.permute(1, 2, 0), lambda x: x[:, ::2], lambda x: x.expand(2, 2, 3, 4)[1],
])
@pytest.mark.parametrize("op", ["sum", "amax", "var", "logsumexp", "prod", "argmax", "cumsum", "any"])
def test_non_contiguous_inputs(torch, op, make_view):
    x = randn(2, 3, 4, seed=3)
    a, t = make_view(nnlite.tensor(x)), make_view(torch.tensor(x))
    for dim in (0, 1, 2, (0, 2), None):
        if op in ("prod", "argmax", "cumsum") and not isinstance(dim, int) or op == "logsumexp" and dim is None:
            continue
        got, want = getattr(nnlite, op)(a, dim=dim), getattr(torch, op)(t, dim=dim)
        assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, dim", [((40000,), None), ((3, 20000), 1), ((70, 1500), 0), ((3, 700, 5), 1),
                                        ((2000, 40), 1), ((3000, 40), 0)])
@pytest.mark.parametrize("op", ["sum", "amax", "amin", "var", "logsumexp", "norm", "argmax", "prod", "cumsum",
                                "all"])
def test_large_inputs_take_the_parallel_paths(torch, op, shape, dim):
    x = randn(*shape, seed=4)
    if op == "prod":
        x = (1 + 1e-4 * x).astype(np.float32)
    if op == "all":
        x = (x > -3.5).astype(np.float32)
    if op in ("logsumexp", "cumsum") and dim is None:
        dim = 0
    a, t = _both(x)
    got = getattr(nnlite, op)(a, dim=dim) if dim is not None else getattr(nnlite, op)(a)
    want = getattr(torch, op)(t.double(), dim=dim) if dim is not None else getattr(torch, op)(t.double())
    assert_close(got, want, rtol=2e-5, atol=2e-4 if op == "cumsum" else 1e-5)


def test_sums_of_integers_and_bools_are_int64(torch):
    for x in (np.array([[1, 2], [3, 4]], np.int32), np.array([[True, False], [True, True]]),
              np.array([[200, 100], [1, 2]], np.uint8)):
        a, t = _both(x)
        for op in ("sum", "prod", "cumsum"):
            got, want = getattr(nnlite, op)(a, 0), getattr(torch, op)(t, 0)
            assert got.dtype is nnlite.int64 and str(want.dtype) == "torch.int64"
            assert_close(got, want)
        assert nnlite.sum(a).item() == torch.sum(t).item()


def test_dtype_argument(torch):
    x = randn(3, 4, seed=5)
    a, t = _both(x)
    assert nnlite.sum(a, 1, dtype=nnlite.float64).dtype is nnlite.float64
    assert_close(nnlite.mean(a, dtype=nnlite.float64), torch.mean(t, dtype=torch.float64))
    assert_close(nnlite.prod(a, 1, dtype=nnlite.float64), torch.prod(t, 1, dtype=torch.float64))
    i = nnlite.tensor([1, 2, 3])
    assert nnlite.cumsum(i, 0, dtype=nnlite.float32).dtype is nnlite.float32
    assert nnlite.sum(i, dtype=nnlite.int32).dtype is nnlite.int32
    assert_close(nnlite.mean(i, dtype=nnlite.float32), np.float32(2.0))


def test_max_min_of_integers_and_bools_keep_the_dtype(torch):
    for x in (np.array([[1, -7], [3, 4]], np.int64), np.array([[0, 255], [3, 4]], np.uint8),
              np.array([[True, False], [False, False]])):
        a, t = _both(x)
        for op in ("amax", "amin"):
            got, want = getattr(nnlite, op)(a, 1), getattr(torch, op)(t, 1)
            assert got.dtype.name == str(want.dtype).replace("torch.", "")
            assert_close(got, want)
        got, want = nnlite.max(a, 0), torch.max(t, 0)
        assert_close(got.values, want.values)
        assert_close(got.indices, want.indices)
        assert_close(nnlite.min(a), torch.min(t))


def test_any_all(torch, device):
    x = np.array([[0.0, 0.0, 1.0], [2.0, -1.0, 3.0], [0.0, 0.0, 0.0]], np.float32)
    a, t = _both(x, device)
    for op in ("any", "all"):
        for dim in (None, 0, 1, (0, 1), ()):
            for keepdim in (False, True):
                got = getattr(nnlite, op)(a, dim=dim, keepdim=keepdim) if dim is not None else getattr(nnlite, op)(a)
                want = getattr(torch, op)(t, dim=dim, keepdim=keepdim) if dim is not None else getattr(torch, op)(t)
                assert got.dtype is nnlite.bool
                assert_close(got, want)
    u = np.array([0, 3], np.uint8)
    assert nnlite.any(nnlite.tensor(u, device=device)).dtype is nnlite.uint8
    assert_close(nnlite.all(nnlite.tensor(u, device=device)), torch.all(torch.tensor(u)))


def test_empty_reductions_give_the_identity(torch, device):
    x = np.zeros((0, 3), np.float32)
    a, t = _both(x, device)
    for op in ("sum", "prod", "mean", "var", "std", "logsumexp", "norm", "all", "any"):
        assert_close(getattr(nnlite, op)(a, 0), getattr(torch, op)(t, 0))
    for op in ("sum", "amax", "argmax", "cumsum"):
        assert_close(getattr(nnlite, op)(a, 1), getattr(torch, op)(t, 1))
    assert_close(nnlite.max(a, 1).values, torch.max(t, 1).values)
    assert_close(nnlite.sum(a), torch.sum(t))


def test_nan_propagates_and_ties_pick_the_first(torch, device):
    nan = np.nan
    x = np.array([[1.0, nan, 3.0, nan], [2.0, 5.0, 5.0, 1.0], [-np.inf, -np.inf, -np.inf, -np.inf]], np.float32)
    a, t = _both(x, device)
    for op in ("max", "min"):
        got, want = getattr(nnlite, op)(a, 1), getattr(torch, op)(t, 1)
        assert_close(got.values, want.values)
        assert_close(got.indices, want.indices)
    for op in ("amax", "amin", "argmax", "argmin", "logsumexp", "sum", "var", "norm"):
        assert_close(getattr(nnlite, op)(a, 1), getattr(torch, op)(t, 1))
    assert np.isnan(nnlite.max(a).item()) and np.isnan(nnlite.amin(a).item())


def test_logsumexp_is_stable(torch, device):
    x = np.array([[1e30, 1e30], [-1e30, -1e30], [88.0, 89.0], [-np.inf, -np.inf], [np.inf, 1.0]], np.float32)
    a, t = _both(x, device)
    assert_close(nnlite.logsumexp(a, 1), torch.logsumexp(t, 1))
    assert nnlite.logsumexp(nnlite.tensor([1, 2]), 0).dtype is nnlite.float32


def test_var_is_stable_with_a_large_mean():
    x = (1e4 + randn(100000, seed=6)).astype(np.float32)
    want = np.var(x.astype(np.float64), ddof=1)
    assert abs(nnlite.var(nnlite.tensor(x)).item() / want - 1) < 1e-5
    y = (1e4 + randn(4, 30000, seed=7)).astype(np.float32)
    assert_close(nnlite.var(nnlite.tensor(y), 1), np.var(y.astype(np.float64), 1, ddof=1), rtol=1e-5)
    assert_close(nnlite.var(nnlite.tensor(y.T.copy()), 0), np.var(y.astype(np.float64), 1, ddof=1), rtol=1e-5)


def test_var_signatures(torch):
    x = randn(3, 4, seed=8)
    a, t = _both(x)
    assert_close(nnlite.var(a, 0, True, True), torch.var(t, 0, True, True))
    assert_close(nnlite.var(a, False), torch.var(t, False))
    assert_close(a.var(1, unbiased=False), t.var(1, unbiased=False))
    for c in (0, 1, 2, 1.5, 5):
        assert_close(nnlite.std(a, dim=1, correction=c), torch.std(t, dim=1, correction=c))
    for fn in ("var_mean", "std_mean"):
        got, want = getattr(nnlite, fn)(a, 1, keepdim=True), getattr(torch, fn)(t, 1, keepdim=True)
        assert_close(got[0], want[0])
        assert_close(got[1], want[1])


@pytest.mark.parametrize("p", ["fro", 2, 1, 3, 0.5, 0, -1, float("inf"), float("-inf")])
def test_norm_orders(torch, device, p):
    x = randn(3, 4, seed=9)
    x[0, 1] = 0.0
    a, t = _both(x, device)
    for dim in (None, 1, (0, 1)):
        if p == "fro" and dim == 1:
            continue
        assert_close(nnlite.norm(a, p, dim), torch.norm(t, p, dim), rtol=1e-5)
    assert_close(a.norm(p, dim=0, keepdim=True), t.norm(p, dim=0, keepdim=True), rtol=1e-5)


def test_return_types_and_methods(torch):
    x = randn(3, 4, seed=10)
    a, t = _both(x)
    result = a.max(1)
    assert isinstance(result, nnlite.return_types.max)
    values, indices = result
    assert values is result.values and indices is result.indices
    assert isinstance(a.min(0, keepdim=True), nnlite.return_types.min)
    assert_close(a.max(), t.max())
    assert_close(a.max(nnlite.zeros(4)), t.max(torch.zeros(4)))
    assert_close(nnlite.max(a, other=nnlite.zeros(4)), torch.maximum(t, torch.zeros(4)))
    assert_close(a.argmax(), t.argmax())
    assert_close(a.argmin(1, keepdim=True), t.argmin(1, keepdim=True))
    assert_close(nnlite.argmax(a, keepdim=True), torch.argmax(t, keepdim=True))
    assert_close(a.var(0, unbiased=False), t.var(0, unbiased=False))
    for name in ("sum", "mean", "prod", "amax", "amin", "std", "norm", "logsumexp", "all", "any", "cumsum"):
        args = (1,) if name in ("logsumexp", "cumsum") else ()
        assert_close(getattr(a, name)(*args), getattr(t, name)(*args), rtol=1e-5)


def test_results_do_not_alias_inputs():
    x = nnlite.tensor(3.0)
    for op in ("sum", "amax", "prod", "cumsum"):
        y = getattr(nnlite, op)(x, 0)
        y += 1
    assert x.item() == 3.0
    y = nnlite.sum(nnlite.ones(2, 3), ())
    assert y.shape == ()


def test_inputs_are_not_modified(device):
    x_np = randn(3, 5, seed=11)
    x = nnlite.tensor(x_np, device=device)
    for op in FLOAT_OPS:
        getattr(nnlite, op)(x, 1)
    for op in ("prod", "cumsum", "argmax", "max", "min", "all", "any"):
        getattr(nnlite, op)(x, 0)
    assert_close(x, x_np)


# ------------------------------------------------------------------ CUDA launch plans
# Shapes built from the plan's thresholds, so that they take the same paths on the
# simulator (tiny thresholds, tiny shapes) and on a GPU: rows split across blocks,
# columns split across threads (merged by blocks or by threads), a block per
# short row, a thread per short row.

def _split_cases():
    from nnlite.kernels._block import BLOCK_THREADS
    from nnlite.kernels._reduce_loops import PART_MIN_ELEMENTS, PART_MIN_ROWS, ROW_BLOCK_MIN
    long_row = 3 * PART_MIN_ELEMENTS + 5
    # (shape, dim, (a block per row?, fewest parts, most parts))
    return [((1, long_row), 1, (True, 3, 3)), ((2, long_row), 1, (True, 2, 3)),
            ((PART_MIN_ROWS * ROW_BLOCK_MIN + 3, 2), 0, (False, ROW_BLOCK_MIN, np.inf)),  # merged by blocks
            ((3, 2 * PART_MIN_ROWS + 1, 2), 1, (False, 2, 2)),
            ((5, ROW_BLOCK_MIN + 3), 1, (True, 1, 1)), ((7, 3), 1, (False, 1, 1)),
            # long enough for the four-loads-per-pass loops and their tails
            ((2, 8 * BLOCK_THREADS + 3), 1, (True, 1, 2)), ((11, 40), 0, (False, 1, 1))]


SPLIT_CASES = [case[:2] for case in _split_cases()]


def test_cuda_plans_of_the_split_cases():
    from nnlite.kernels._reduce_loops import cuda_partials_size, cuda_plan
    for shape, dim, want in _split_cases():
        outer, R = int(np.prod(shape[:dim])), shape[dim]
        inner = int(np.prod(shape[dim + 1:]))
        rows, parts = cuda_plan(outer, R, inner)
        assert rows == want[0] and want[1] <= parts <= want[2], (shape, rows, parts)
        assert cuda_partials_size(outer, R, inner) == (outer * inner * parts if parts > 1 else 1)


def _cpu_and_cuda(x, cuda_device):
    return nnlite.tensor(x), nnlite.tensor(x, device=cuda_device)


@pytest.mark.parametrize("shape, dim", SPLIT_CASES)
def test_cuda_reductions_of_split_rows_match_torch(torch, cuda_device, shape, dim):
    x = randn(*shape, seed=20)
    x.flat[::7] = 0.0  # zeros for count_nonzero (norm 0), all and any
    a, t = nnlite.tensor(x, device=cuda_device), torch.tensor(x).double()
    for op in ("sum", "mean", "amax", "amin", "var", "std", "logsumexp", "argmax", "argmin", "all", "any"):
        assert_close(getattr(nnlite, op)(a, dim), getattr(torch, op)(t, dim), rtol=1e-5, atol=1e-5)
    for p in (2, 1, 3, 0, -1):
        assert_close(nnlite.norm(a, p, dim), torch.norm(t, p, dim), rtol=1e-5, atol=1e-5)
    near_one = (1 + 1e-2 * x).astype(np.float32)
    assert_close(nnlite.prod(nnlite.tensor(near_one, device=cuda_device), dim),
                 torch.prod(torch.tensor(near_one).double(), dim), rtol=1e-5)
    for op in ("max", "min"):
        got, want = getattr(nnlite, op)(a, dim), getattr(torch, op)(t, dim)
        assert_close(got.values, want.values)
        assert_close(got.indices, want.indices)


@pytest.mark.parametrize("shape, dim", SPLIT_CASES)
def test_cuda_split_rows_of_integers_and_float64_are_exact(torch, cuda_device, shape, dim):
    rng = np.random.default_rng(21)
    big = rng.integers(2**31 - 100, 2**31 - 1, shape).astype(np.int32)  # int32 sums that need int64
    a, t = nnlite.tensor(big, device=cuda_device), torch.tensor(big)
    got = nnlite.sum(a, dim)
    assert got.dtype is nnlite.int64 and np.array_equal(got.cpu().numpy(), torch.sum(t, dim).numpy())
    for op in ("amax", "amin", "argmax", "argmin"):
        assert np.array_equal(getattr(nnlite, op)(a, dim).cpu().numpy(), getattr(torch, op)(t, dim).numpy())
    signs = rng.choice(np.array([-1, 1], np.int64), shape)
    assert np.array_equal(nnlite.prod(nnlite.tensor(signs, device=cuda_device), dim).cpu().numpy(),
                          torch.prod(torch.tensor(signs), dim).numpy())
    small = rng.integers(0, 4, shape).astype(np.uint8)
    a, t = nnlite.tensor(small, device=cuda_device), torch.tensor(small)
    for op in ("amax", "amin", "argmax"):
        got = getattr(nnlite, op)(a, dim)
        assert got.dtype is (nnlite.int64 if op == "argmax" else nnlite.uint8)
        assert np.array_equal(got.cpu().numpy(), getattr(torch, op)(t, dim).numpy())
    bits = small > 0
    for op in ("all", "any", "amax"):
        assert np.array_equal(getattr(nnlite, op)(nnlite.tensor(bits, device=cuda_device), dim).cpu().numpy(),
                              getattr(torch, op)(torch.tensor(bits), dim).numpy())
    x = randn(*shape, dtype=np.float64, seed=22) + 1e3  # float64 all the way: tight tolerances
    a, c, t = nnlite.tensor(x, device=cuda_device), nnlite.tensor(x), torch.tensor(x)
    for op in ("sum", "var", "norm", "logsumexp"):
        got = getattr(nnlite, op)(a, dim)
        assert got.dtype is nnlite.float64
        assert_close(got, getattr(torch, op)(t, dim), rtol=1e-12, atol=0)
        assert_close(got, getattr(nnlite, op)(c, dim), rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape, dim", SPLIT_CASES)
def test_cuda_split_rows_pick_the_first_tie_and_nan(torch, cuda_device, shape, dim):
    x = np.random.default_rng(23).integers(0, 3, shape).astype(np.float32)  # ties in every part
    a, c, t = nnlite.tensor(x, device=cuda_device), nnlite.tensor(x), torch.tensor(x)
    for op in ("argmax", "argmin"):
        assert np.array_equal(getattr(nnlite, op)(a, dim).cpu().numpy(), getattr(torch, op)(t, dim).numpy())
        assert np.array_equal(getattr(nnlite, op)(a, dim).cpu().numpy(), getattr(nnlite, op)(c, dim).numpy())
    flat = np.moveaxis(x, dim, -1).copy()
    flat[..., -1] = np.nan  # a NaN in the last part of every row, and one earlier in some rows
    flat[::2, ..., flat.shape[-1] // 2] = np.nan
    x = np.moveaxis(flat, -1, dim).copy()
    a, c, t = nnlite.tensor(x, device=cuda_device), nnlite.tensor(x), torch.tensor(x)
    for op in ("max", "min"):
        got, want, cpu = getattr(nnlite, op)(a, dim), getattr(torch, op)(t, dim), getattr(nnlite, op)(c, dim)
        assert np.isnan(got.values.cpu().numpy()).all()
        assert np.array_equal(got.indices.cpu().numpy(), want.indices.numpy())
        assert np.array_equal(got.indices.cpu().numpy(), cpu.indices.numpy())
    for op in ("amax", "amin", "sum", "var", "logsumexp", "norm"):
        assert np.isnan(getattr(nnlite, op)(a, dim=dim).cpu().numpy()).all(), op
    assert np.array_equal(nnlite.argmax(a, dim).cpu().numpy(), torch.argmax(t, dim).numpy())


@pytest.mark.parametrize("shape, dim", SPLIT_CASES)
def test_cuda_split_rows_share_the_gradient_of_ties(torch, cuda_device, shape, dim):
    x = np.random.default_rng(24).integers(0, 3, shape).astype(np.float64)
    _grad_pair(torch, lambda v: v.amax(dim), lambda v: v.amax(dim), x, cuda_device)
    _grad_pair(torch, lambda v: v.amin(dim), lambda v: v.amin(dim), x, cuda_device)


# ------------------------------------------------------------------ gradients

def _f64(x, device):
    return nnlite.tensor(x.astype(np.float64), device=device, requires_grad=True)


@pytest.mark.parametrize("op, kwargs", [
    ("sum", {"dim": (0, 2)}), ("mean", {"dim": 1, "keepdim": True}), ("prod", {"dim": 1}), ("prod", {}),
    ("amax", {"dim": (0, 2)}), ("amin", {"dim": 1}), ("max", {}), ("min", {}), ("logsumexp", {"dim": 2}),
    ("var", {"dim": 1}), ("std", {"dim": (0, 2), "correction": 0}), ("norm", {"dim": 2}),
    ("norm", {"p": 1, "dim": 1}), ("norm", {"p": 3}), ("norm", {"p": 0.5, "dim": 0}),
    ("norm", {"p": float("inf"), "dim": 1}), ("cumsum", {"dim": 1}),
])
def test_gradcheck(device, op, kwargs):
    x = _f64(randn(2, 3, 2, seed=12) + 0.1, device)
    assert gradcheck(lambda v: getattr(nnlite, op)(v, **kwargs), (x,))


def test_gradcheck_of_max_with_dim_and_of_var_mean(device):
    x = _f64(randn(3, 4, seed=13), device)
    assert gradcheck(lambda v: nnlite.max(v, 1).values, (x,))
    assert gradcheck(lambda v: nnlite.min(v, 0, keepdim=True)[0], (x,))
    assert gradcheck(lambda v: nnlite.var_mean(v, 1), (x,))
    assert gradcheck(lambda v: nnlite.std_mean(v, 0, keepdim=True), (x,))


def test_gradients_of_transposed_inputs(torch):
    x = randn(3, 4, 2, seed=14).astype(np.float64)
    for op, kw in [("amax", {"dim": (0, 2)}), ("var", {"dim": 1}), ("logsumexp", {"dim": 0}), ("prod", {"dim": 2})]:
        a = nnlite.tensor(x, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        getattr(nnlite, op)(a.permute(2, 0, 1), **kw).sum().backward()
        getattr(torch, op)(t.permute(2, 0, 1), **kw).sum().backward()
        assert_close(a.grad, t.grad)


def _grad_pair(torch, fn_n, fn_t, x, device="cpu"):
    a = nnlite.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    fn_n(a).sum().backward()
    fn_t(t).sum().backward()
    assert_close(a.grad, t.grad)


def test_ties_share_the_gradient(torch, device):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], np.float32)
    _grad_pair(torch, lambda v: v.amax(1), lambda v: v.amax(1), x, device)
    _grad_pair(torch, lambda v: v.amin(0), lambda v: v.amin(0), x, device)
    _grad_pair(torch, lambda v: v.max(), lambda v: v.max(), x, device)
    _grad_pair(torch, lambda v: v.max(1).values, lambda v: v.max(1).values, x, device)  # first index only
    _grad_pair(torch, lambda v: v.norm(float("inf"), 1), lambda v: v.norm(float("inf"), 1), x, device)


def test_prod_gradient_with_zeros(torch, device):
    x = np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0], [2.0, 3.0, 4.0]], np.float32)
    _grad_pair(torch, lambda v: v.prod(1), lambda v: v.prod(1), x, device)
    _grad_pair(torch, lambda v: v.prod(0), lambda v: v.prod(0), x, device)
    _grad_pair(torch, lambda v: v.prod(), lambda v: v.prod(), x, device)


def test_gradients_at_singular_points(torch):
    x = np.array([[0.0, 0.0], [3.0, -4.0], [1.0, 1.0]], np.float32)
    for p in (2, 1, 3, 0.5, -1):
        _grad_pair(torch, lambda v: v.norm(p, 1), lambda v: v.norm(p, 1), x)
    _grad_pair(torch, lambda v: v.std(1), lambda v: v.std(1), x)
    _grad_pair(torch, lambda v: v.logsumexp(1), lambda v: v.logsumexp(1), x)


# ------------------------------------------------------------------ errors

def test_dims_out_of_range_and_repeated():
    x = nnlite.ones(2, 3)
    for op in ("sum", "mean", "amax", "var", "logsumexp", "norm", "any", "prod", "argmax", "cumsum", "max"):
        with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], "
                                             r"but got 2\)"):
            getattr(nnlite, op)(x, dim=2)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        nnlite.sum(x, (0, -2))
    with pytest.raises(TypeError, match="must be int"):
        nnlite.prod(x, (0, 1))
    with pytest.raises(TypeError, match="dim"):
        nnlite.sum(x, 1.5)


def test_empty_reductions_without_identity_raise():
    x = nnlite.zeros(0, 3)
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified"):
        nnlite.max(x)
    with pytest.raises(RuntimeError, match=r"amax\(\): Expected reduction dim to be specified"):
        nnlite.amax(x)
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim to be specified"):
        nnlite.argmax(x)
    for op in ("max", "amin", "argmin"):
        with pytest.raises(IndexError, match=rf"{op}\(\): Expected reduction dim 0 to have non-zero size"):
            getattr(nnlite, op)(x, 0)


def test_dtype_errors():
    i = nnlite.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        nnlite.var(i)
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype. Input dtype"):
        nnlite.mean(i)
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        nnlite.norm(i)
    with pytest.raises(RuntimeError, match="does not support bool"):
        nnlite.argmax(nnlite.tensor([True, False]))
    with pytest.raises(TypeError, match="must be Tensor"):
        nnlite.sum([1.0, 2.0])
    with pytest.raises(TypeError, match="keepdim"):
        nnlite.max(nnlite.ones(2, 2), 0, 1)
    with pytest.raises(RuntimeError, match="p='nuc'"):
        nnlite.norm(nnlite.ones(2, 2), "nuc")
    with pytest.raises(TypeError, match="both 'unbiased' and 'correction'"):
        nnlite.var(nnlite.ones(2, 2), 0, unbiased=True, correction=0)
