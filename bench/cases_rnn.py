"""Recurrent layers vs torch.nn on the same weights and inputs (issue 8's rows), fwd+bwd."""
from cases import Case, _fwd_bwd, _inputs


def _recurrent_case(name, layers=2, input_size=128, hidden=256, steps=100, batch=32):
    def build(device):
        import nnlite
        import torch
        torch.manual_seed(0)
        theirs = getattr(torch.nn, name)(input_size, hidden, num_layers=layers).to(device)
        ours = getattr(nnlite.nn, name)(input_size, hidden, num_layers=layers)
        ours.load_state_dict({k: v.detach().cpu().numpy() for k, v in theirs.state_dict().items()})
        ours.to(device)
        (x,), (tx,) = _inputs(device, (steps, batch, input_size), requires_grad=True)
        g = nnlite.ones(steps, batch, hidden, device=device)
        tg = torch.ones(steps, batch, hidden, device=device)
        return (_fwd_bwd(lambda: ours(x)[0], [x] + list(ours.parameters()), g),
                _fwd_bwd(lambda: theirs(tx)[0], [tx] + list(theirs.parameters()), tg))
    return build


BENCH_CASES = [
    Case("LSTM 2 layers in128 h256 seq100 b32 fwd+bwd", _recurrent_case("LSTM"), bar=1.2, repeat=5),
    Case("GRU 2 layers in128 h256 seq100 b32 fwd+bwd", _recurrent_case("GRU"), bar=1.2, repeat=5),
]
