"""nn.MultiheadAttention and F.multi_head_attention_forward against torch (weights loaded from torch)."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite import nn
from tests.helpers import assert_close

torch = pytest.importorskip("torch")

E, H = 8, 2


def _tol(dtype):
    return {"rtol": 1e-9, "atol": 1e-10} if dtype == np.float64 else {"rtol": 2e-4, "atol": 2e-5}


def _pair(dtype=np.float64, device="cpu", **kw):
    """The same MultiheadAttention in torch and nnlite (nnlite loads torch's state_dict)."""
    theirs = torch.nn.MultiheadAttention(E, H, **kw).to(getattr(torch, np.dtype(dtype).name))
    ours = nn.MultiheadAttention(E, H, **kw).to(dtype=getattr(nnlite, np.dtype(dtype).name))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device), theirs


def _inputs(rng, dtype, L=4, S=5, N=3, kdim=E, vdim=E, batch_first=False, unbatched=False, self_attn=False):
    def shaped(n, e):
        if unbatched:
            return rng.standard_normal((n, e)).astype(dtype)
        return rng.standard_normal((N, n, e) if batch_first else (n, N, e)).astype(dtype)
    q = shaped(L, E)
    if self_attn:
        return q, q, q
    return q, shaped(S, kdim), shaped(S, vdim)


def _run(ours, theirs, arrays, device, self_attn=False, mask_args=None, **call):
    """Forward and backward of both; returns ((out, weights), grads) pairs to compare."""
    mask_args = mask_args or {}
    ts = [torch.tensor(a, requires_grad=True) for a in (arrays[:1] if self_attn else arrays)]
    ns = [nnlite.tensor(a, device=device, requires_grad=True) for a in (arrays[:1] if self_attn else arrays)]
    t_in = ts * 3 if self_attn else ts
    n_in = ns * 3 if self_attn else ns
    t_out, t_w = theirs(*t_in, **{k: torch.tensor(v) for k, v in mask_args.items()}, **call)
    n_out, n_w = ours(*n_in, **{k: nnlite.tensor(v, device=device) for k, v in mask_args.items()}, **call)
    t_out.pow(2).sum().backward()
    n_out.pow(2).sum().backward()
    return (n_out, t_out), (n_w, t_w), list(zip(ns, ts))


def _compare(ours, theirs, result, tol):
    (n_out, t_out), (n_w, t_w), inputs = result
    assert_close(n_out, t_out, **tol)
    if t_w is None:
        assert n_w is None
    else:
        assert_close(n_w, t_w, **tol)
    for n, t in inputs:
        assert_close(n.grad, t.grad, **tol)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert_close(p.grad, q.grad, **tol)


OPTIONS = [
    {},
    {"bias": False},
    {"kdim": 3, "vdim": 5},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True},
    {"batch_first": True},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_options_match_torch(options, need_weights, dtype):
    ours, theirs = _pair(dtype, **options)
    rng = np.random.default_rng(0)
    arrays = _inputs(rng, dtype, kdim=options.get("kdim", E), vdim=options.get("vdim", E),
                     batch_first=options.get("batch_first", False))
    result = _run(ours, theirs, arrays, "cpu", need_weights=need_weights)
    _compare(ours, theirs, result, _tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask_kind", ["bool", "float"])
@pytest.mark.parametrize("padding, attn_dims", [(True, None), (False, 2), (False, 3), (True, 2), (True, 3)])
def test_masks_match_torch(padding, attn_dims, mask_kind, need_weights, dtype):
    ours, theirs = _pair(dtype)
    rng = np.random.default_rng(1)
    L, S, N = 4, 5, 3
    arrays = _inputs(rng, dtype, L, S, N)
    masks = {}
    if padding:
        kpm = rng.random((N, S)) < 0.4
        kpm[:, 0] = False  # no fully masked row (torch gives NaN there, see the NaN test)
        masks["key_padding_mask"] = kpm if mask_kind == "bool" else np.where(kpm, -1e4, 0.0).astype(dtype)
    if attn_dims:
        shape = (L, S) if attn_dims == 2 else (N * H, L, S)
        am = rng.random(shape) < 0.3
        am[..., 0] = False
        masks["attn_mask"] = am if mask_kind == "bool" else rng.standard_normal(shape).astype(dtype)
    result = _run(ours, theirs, arrays, "cpu", mask_args=masks, need_weights=need_weights)
    _compare(ours, theirs, result, _tol(dtype))


@pytest.mark.parametrize("average", [True, False])
def test_self_attention_unbatched_and_per_head_weights(average):
    ours, theirs = _pair()
    rng = np.random.default_rng(2)
    arrays = _inputs(rng, np.float64, unbatched=True, self_attn=True)
    kpm = np.array([False, True, False, False])
    result = _run(ours, theirs, arrays, "cpu", self_attn=True, mask_args={"key_padding_mask": kpm},
                  average_attn_weights=average)
    _compare(ours, theirs, result, _tol(np.float64))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_causal_self_attention(batch_first, need_weights):
    ours, theirs = _pair(batch_first=batch_first)
    rng = np.random.default_rng(3)
    arrays = _inputs(rng, np.float64, L=5, batch_first=batch_first, self_attn=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64).numpy()
    result = _run(ours, theirs, arrays, "cpu", self_attn=True, mask_args={"attn_mask": mask}, is_causal=True,
                  need_weights=need_weights)
    _compare(ours, theirs, result, _tol(np.float64))


def test_fully_masked_row_gives_nan_as_torch():
    ours, theirs = _pair()
    arrays = _inputs(np.random.default_rng(4), np.float64, N=2)
    kpm = np.zeros((2, 5), bool)
    kpm[1] = True
    t_out, _ = theirs(*map(torch.tensor, arrays), key_padding_mask=torch.tensor(kpm))
    n_out, _ = ours(*map(nnlite.tensor, arrays), key_padding_mask=nnlite.tensor(kpm))
    assert np.isnan(t_out.detach().numpy()[:, 1]).all()
    assert_close(n_out, t_out)


def test_dropout_in_training_only():
    ours, _ = _pair(dropout=0.5)
    q = nnlite.tensor(np.random.default_rng(5).standard_normal((4, 2, E)))
    nnlite.manual_seed(0)
    _, w = ours(q, q, q)
    rows = w.detach().numpy().sum(-1)
    assert not np.allclose(rows, 1.0)  # dropped-out (and rescaled) weights are returned in training
    ours.eval()
    _, w = ours(q, q, q)
    assert_close(w.sum(-1), np.ones((2, 4)))


def test_init_and_parameter_names():
    m = nn.MultiheadAttention(16, 4, kdim=6, vdim=7, add_bias_kv=True)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k", "bias_v",
                     "out_proj.weight", "out_proj.bias"]
    assert m.in_proj_weight is None
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear" and isinstance(m.out_proj, nn.Linear)
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    bound = np.sqrt(6.0 / (16 + 6))  # xavier_uniform_ of k_proj_weight (16, 6)
    w = m.k_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound


def test_functional_matches_torch():
    rng = np.random.default_rng(6)
    q, k, v = _inputs(rng, np.float64)
    w_in, b_in = rng.standard_normal((3 * E, E)), rng.standard_normal(3 * E)
    w_out, b_out = rng.standard_normal((E, E)), rng.standard_normal(E)
    args = (E, H, w_in, b_in, None, None, False, 0.0, w_out, b_out)
    t_out, t_w = torch.nn.functional.multi_head_attention_forward(
        *map(torch.tensor, (q, k, v)), *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    n_out, n_w = F.multi_head_attention_forward(
        *map(nnlite.tensor, (q, k, v)), *[nnlite.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    assert_close(n_out, t_out, rtol=1e-10, atol=1e-10)
    assert_close(n_w, t_w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("need_weights", [True, False])
def test_cuda_matches_cpu(device, need_weights):
    ours, theirs = _pair(np.float32, device=device, add_zero_attn=True)
    rng = np.random.default_rng(7)
    arrays = _inputs(rng, np.float32, L=3, S=4, N=2)
    kpm = np.array([[False, True, False, False], [False, False, False, True]])
    result = _run(ours, theirs, arrays, device, mask_args={"key_padding_mask": kpm}, need_weights=need_weights)
    _compare(ours, theirs, result, _tol(np.float32))


# ---------------------------------------------------------------- errors

def test_embed_dim_not_divisible_by_heads():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
        nn.MultiheadAttention(0, 2)


def test_wrong_mask_shapes():
    m = nn.MultiheadAttention(E, H)
    q = nnlite.randn(4, 3, E)
    kv = nnlite.randn(5, 3, E)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is .*\[4, 4\].*, but should be \(4, 5\)"):
        m(q, kv, kv, attn_mask=nnlite.zeros(4, 4, dtype=nnlite.bool))
    with pytest.raises(RuntimeError, match=r"The shape of the 3D attn_mask is .*, but should be \(6, 4, 5\)"):
        m(q, kv, kv, attn_mask=nnlite.zeros(3, 4, 5))
    with pytest.raises(AssertionError, match=r"expecting key_padding_mask shape of \(3, 5\)"):
        m(q, kv, kv, key_padding_mask=nnlite.zeros(3, 4, dtype=nnlite.bool))
    with pytest.raises(AssertionError, match="expected `attn_mask` to be `None`, 2-D or 3-D but found 4-D"):
        m(q, kv, kv, attn_mask=nnlite.zeros(1, 1, 4, 5))
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask are supported"):
        m(q, kv, kv, attn_mask=nnlite.zeros(4, 5, dtype=nnlite.int64))


def test_wrong_input_shapes():
    m = nn.MultiheadAttention(E, H)
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 8, but got 6"):
        m(nnlite.randn(4, 3, 6), nnlite.randn(4, 3, 6), nnlite.randn(4, 3, 6))
    with pytest.raises(AssertionError, match="expected `key` and `value` to be 3-D but found 2-D"):
        m(nnlite.randn(4, 3, E), nnlite.randn(4, E), nnlite.randn(4, E))
    with pytest.raises(AssertionError, match="query should be unbatched 2D or batched 3D tensor"):
        m(nnlite.randn(E), nnlite.randn(E), nnlite.randn(E))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        q = nnlite.randn(4, 3, E)
        m(q, q, q, is_causal=True)


def test_inputs_not_modified():
    m, _ = _pair()
    arrays = _inputs(np.random.default_rng(8), np.float64)
    kpm = np.array([[False, True, False, False, False]] * 3)
    tensors = [nnlite.tensor(a) for a in arrays]
    mask = nnlite.tensor(kpm)
    m(*tensors, key_padding_mask=mask)
    for t, a in zip(tensors, arrays):
        assert np.array_equal(t.numpy(), a)
    assert np.array_equal(mask.numpy(), kpm)


def test_cuda_head_dim_beyond_the_fused_kernel(cuda_device):
    """Heads wider than the fused CUDA kernels take fall back to the explicit computation."""
    from nnlite.functional.multihead_attention import SDPA_KERNELS
    head_dim = 2 * SDPA_KERNELS.CUDA_MAX_DIM
    theirs = torch.nn.MultiheadAttention(2 * head_dim, 2)
    ours = nn.MultiheadAttention(2 * head_dim, 2)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(cuda_device)
    x = np.random.default_rng(9).standard_normal((3, 1, 2 * head_dim)).astype(np.float32)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(3)
    t_out, _ = theirs(*[torch.tensor(x)] * 3, attn_mask=mask, is_causal=True, need_weights=False)
    xs = nnlite.tensor(x, device=cuda_device)
    n_out, n_w = ours(xs, xs, xs, attn_mask=nnlite.tensor(mask.numpy(), device=cuda_device), is_causal=True,
                      need_weights=False)
    assert n_w is None
    assert_close(n_out, t_out, rtol=2e-4, atol=2e-5)
