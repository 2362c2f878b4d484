"""The Transformer family against torch: the same state_dict gives the same outputs and gradients."""
import math

import numpy as np
import pytest

import nnlite
from nnlite import nn
from tests.helpers import assert_close

torch = pytest.importorskip("torch")

D, H, FF = 8, 2, 16


def _tol(dtype):
    return {"rtol": 1e-9, "atol": 1e-10} if dtype == np.float64 else {"rtol": 3e-4, "atol": 3e-5}


def _twin(ours, theirs, dtype, device="cpu"):
    """ours with theirs' weights, both in dtype (dropout must be 0 for a comparison)."""
    theirs = theirs.to(getattr(torch, np.dtype(dtype).name))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy().astype(dtype) for k, v in theirs.state_dict().items()})
    return ours.to(device=device, dtype=getattr(nnlite, np.dtype(dtype).name)), theirs


def _run_both(ours, theirs, arrays, masks, device="cpu", **flags):
    """Forward with float64/float32 inputs requiring grad, backward of sum(out^2)."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ns = [nnlite.tensor(a, device=device, requires_grad=True) for a in arrays]
    t_out = theirs(*ts, **{k: torch.tensor(v) for k, v in masks.items()}, **flags)
    n_out = ours(*ns, **{k: nnlite.tensor(v, device=device) for k, v in masks.items()}, **flags)
    t_out.pow(2).sum().backward()
    n_out.pow(2).sum().backward()
    return n_out, t_out, list(zip(ns, ts))


def _check(ours, theirs, result, dtype):
    n_out, t_out, inputs = result
    tol = _tol(dtype)
    assert_close(n_out, t_out, **tol)
    for n, t in inputs:
        assert_close(n.grad, t.grad, **tol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, theirs_params[name].grad, **tol)


def _seq(rng, length, dtype, batch_first, N=3, unbatched=False):
    shape = (length, D) if unbatched else ((N, length, D) if batch_first else (length, N, D))
    return rng.standard_normal(shape).astype(dtype)


def _padding(rng, N, S):
    kpm = rng.random((N, S)) < 0.3
    kpm[:, 0] = False  # torch gives NaN for a fully padded row
    return kpm


def _causal(n, dtype):
    return torch.nn.Transformer.generate_square_subsequent_mask(n, dtype=getattr(torch, np.dtype(dtype).name)).numpy()


ACTIVATIONS = ["relu", "gelu", "callable"]


def _activation(kind, lib):
    if kind != "callable":
        return kind
    return lib.nn.functional.silu  # any callable


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer(batch_first, norm_first, activation, dtype):
    kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=batch_first, norm_first=norm_first, layer_norm_eps=1e-6)
    ours, theirs = _twin(nn.TransformerEncoderLayer(D, H, activation=_activation(activation, nnlite), **kw),
                         torch.nn.TransformerEncoderLayer(D, H, activation=_activation(activation, torch), **kw),
                         dtype)
    rng = np.random.default_rng(0)
    masks = {"src_mask": rng.standard_normal((5, 5)).astype(dtype), "src_key_padding_mask": _padding(rng, 3, 5)}
    result = _run_both(ours, theirs, [_seq(rng, 5, dtype, batch_first)], masks)
    _check(ours, theirs, result, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer_all_masks(batch_first, norm_first, dtype):
    kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    ours, theirs = _twin(nn.TransformerDecoderLayer(D, H, **kw), torch.nn.TransformerDecoderLayer(D, H, **kw), dtype)
    rng = np.random.default_rng(1)
    masks = {"tgt_mask": _causal(4, dtype), "memory_mask": rng.random((4, 6)) < 0.2,
             "tgt_key_padding_mask": _padding(rng, 3, 4), "memory_key_padding_mask": _padding(rng, 3, 6)}
    masks["memory_mask"][:, 0] = False
    arrays = [_seq(rng, 4, dtype, batch_first), _seq(rng, 6, dtype, batch_first)]
    _check(ours, theirs, _run_both(ours, theirs, arrays, masks), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first, dtype):
    kw = dict(d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF, dropout=0.0,
              batch_first=batch_first)
    torch.manual_seed(0)
    ours, theirs = _twin(nn.Transformer(**kw), torch.nn.Transformer(**kw), dtype)
    rng = np.random.default_rng(2)
    masks = {"tgt_mask": _causal(4, dtype), "src_key_padding_mask": _padding(rng, 3, 5),
             "memory_key_padding_mask": _padding(rng, 3, 5)}
    arrays = [_seq(rng, 5, dtype, batch_first), _seq(rng, 4, dtype, batch_first)]
    _check(ours, theirs, _run_both(ours, theirs, arrays, masks, tgt_is_causal=True), dtype)


def test_transformer_unbatched_bias_free_and_src_causal():
    kw = dict(d_model=D, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF, dropout=0.0,
              bias=False, layer_norm_eps=1e-3, activation="gelu", norm_first=True)
    ours, theirs = _twin(nn.Transformer(**kw), torch.nn.Transformer(**kw), np.float64)
    assert "encoder.layers.0.linear1.bias" not in ours.state_dict()
    rng = np.random.default_rng(3)
    masks = {"src_mask": _causal(5, np.float64), "tgt_mask": _causal(4, np.float64)}
    arrays = [_seq(rng, 5, np.float64, False, unbatched=True), _seq(rng, 4, np.float64, False, unbatched=True)]
    _check(ours, theirs, _run_both(ours, theirs, arrays, masks), np.float64)


@pytest.mark.parametrize("with_norm", [False, True])
def test_encoder_and_decoder_stacks(with_norm):
    def build(lib):
        enc = lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(D, H, FF, 0.0), 2,
                                        lib.nn.LayerNorm(D) if with_norm else None, enable_nested_tensor=False)
        dec = lib.nn.TransformerDecoder(lib.nn.TransformerDecoderLayer(D, H, FF, 0.0), 2,
                                        lib.nn.LayerNorm(D) if with_norm else None)
        return lib.nn.ModuleList([enc, dec])
    ours, theirs = _twin(build(nnlite), build(torch), np.float64)
    # the layers are deep copies: each has its own parameters
    layers = ours[0].layers
    assert layers[0].linear1.weight is not layers[1].linear1.weight
    rng = np.random.default_rng(4)
    src, tgt = _seq(rng, 5, np.float64, False), _seq(rng, 4, np.float64, False)
    mask = _causal(5, np.float64)
    t_mem = theirs[0](torch.tensor(src), mask=torch.tensor(mask))  # a causal mask is detected, is_causal=None
    n_mem = ours[0](nnlite.tensor(src), mask=nnlite.tensor(mask))
    assert_close(n_mem, t_mem, rtol=1e-9, atol=1e-10)
    t_out = theirs[1](torch.tensor(tgt), t_mem, tgt_mask=torch.tensor(_causal(4, np.float64)))
    n_out = ours[1](nnlite.tensor(tgt), n_mem, tgt_mask=nnlite.tensor(_causal(4, np.float64)))
    assert_close(n_out, t_out, rtol=1e-9, atol=1e-10)


def test_transformer_init_and_names():
    m = nn.Transformer(D, H, 1, 1, FF)
    theirs = torch.nn.Transformer(D, H, 1, 1, FF)
    assert list(m.state_dict()) == list(theirs.state_dict())
    for name, p in m.named_parameters():
        a = p.detach().numpy()
        if p.dim() > 1:  # xavier_uniform_ everywhere, biases and norms untouched
            fan_out, fan_in = a.shape[0], a.shape[1]
            assert np.abs(a).max() <= math.sqrt(6.0 / (fan_in + fan_out)) + 1e-7, name
        elif "norm" in name and name.endswith("weight"):
            assert (a == 1).all(), name


def test_generate_square_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert mask.dtype is nnlite.float32
    assert_close(mask, torch.nn.Transformer.generate_square_subsequent_mask(4))
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=nnlite.float64).dtype is nnlite.float64


def test_dropout_trains_and_eval_is_deterministic():
    layer = nn.TransformerEncoderLayer(D, H, FF, dropout=0.5)
    x = nnlite.randn(4, 2, D)
    assert not np.allclose(layer(x).detach().numpy(), layer(x).detach().numpy())
    layer.eval()
    assert np.array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())


def test_errors():
    m = nn.Transformer(D, H, 1, 1, FF)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(nnlite.randn(5, 2, D), nnlite.randn(4, 3, D))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        m(nnlite.randn(5, 2, D + 1), nnlite.randn(4, 2, D + 1))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(D, H, activation="tanh")
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.TransformerEncoderLayer(D, 3)
    layer = nn.TransformerEncoderLayer(D, H, FF)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is .*, but should be \(5, 5\)"):
        layer(nnlite.randn(5, 2, D), src_mask=nnlite.zeros(4, 4))


def test_cuda_matches_torch(device):
    kw = dict(d_model=D, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF, dropout=0.0,
              batch_first=True)
    ours, theirs = _twin(nn.Transformer(**kw), torch.nn.Transformer(**kw), np.float32, device)
    rng = np.random.default_rng(5)
    masks = {"tgt_mask": _causal(3, np.float32), "src_key_padding_mask": _padding(rng, 2, 4)}
    arrays = [_seq(rng, 4, np.float32, True, N=2), _seq(rng, 3, np.float32, True, N=2)]
    _check(ours, theirs, _run_both(ours, theirs, arrays, masks, device), np.float32)
