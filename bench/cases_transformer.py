"""MultiheadAttention and TransformerEncoderLayer, fwd+bwd, nnlite vs torch on the same weights
and inputs (issue 8's rows and bars)."""
from cases import Case, _fwd_bwd, _inputs


def _twin_modules(device, build):
    """The same module in nnlite and torch (nnlite loads torch's state_dict), dropout 0."""
    import nnlite
    import torch
    torch.manual_seed(0)
    theirs = build(torch).to(device)
    ours = build(nnlite)
    ours.load_state_dict({k: v.detach().cpu().numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device), theirs


def mha_case(embed=512, heads=8, seq=256, batch=8):
    """MultiheadAttention self-attention (batch_first, need_weights=False: the fused path), fwd+bwd."""
    def build(device):
        ours, theirs = _twin_modules(device, lambda lib: lib.nn.MultiheadAttention(embed, heads, batch_first=True))
        (x, g), (tx, tg) = _inputs(device, (batch, seq, embed), (batch, seq, embed), requires_grad=True)
        g.requires_grad_(False)
        tg.requires_grad_(False)
        return (_fwd_bwd(lambda: ours(x, x, x, need_weights=False)[0], [x], g),
                _fwd_bwd(lambda: theirs(tx, tx, tx, need_weights=False)[0], [tx], tg))
    return Case(f"MultiheadAttention fwd+bwd E{embed} H{heads} ({batch},{seq})", build, bar=1.2, repeat=5)


def encoder_layer_case(d_model=256, heads=8, ff=1024, seq=128, batch=16):
    """TransformerEncoderLayer (batch_first, dropout 0), fwd+bwd."""
    def build(device):
        ours, theirs = _twin_modules(device, lambda lib: lib.nn.TransformerEncoderLayer(
            d_model, heads, ff, dropout=0.0, batch_first=True))
        (x, g), (tx, tg) = _inputs(device, (batch, seq, d_model), (batch, seq, d_model), requires_grad=True)
        g.requires_grad_(False)
        tg.requires_grad_(False)
        return _fwd_bwd(lambda: ours(x), [x], g), _fwd_bwd(lambda: theirs(tx), [tx], tg)
    return Case(f"TransformerEncoderLayer fwd+bwd d{d_model} H{heads} ff{ff} ({batch},{seq})", build, bar=1.2,
                repeat=5)


BENCH_CASES = [mha_case(), encoder_layer_case()]
