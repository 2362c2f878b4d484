"""torchvision.ops.stochastic_depth: randomly drops whole residual branches (Huang et al.)."""
import nnlite
from nnlite import nn


def _check_p(op, p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"{op}: drop probability has to be between 0 and 1, but got {p}")


def _bernoulli(size, prob, like):
    """1 with probability prob, else 0, in like's dtype and device (torch's bernoulli_)."""
    uniform = nnlite.rand(tuple(size), dtype=like.dtype, device=like.device)
    return (uniform < prob).to(like.dtype)


def stochastic_depth(input, p, mode, training=True):
    """Zeroes each row (mode 'row') or the whole batch (mode 'batch') with probability p and
    scales what survives by 1 / (1 - p); identity when not training or p == 0."""
    _check_p("stochastic_depth", p)
    if mode not in ("batch", "row"):
        raise ValueError(f"stochastic_depth: mode has to be either 'batch' or 'row', but got {mode}")
    if not training or p == 0.0:
        return input
    survival_rate = 1.0 - p
    if mode == "row":
        size = [input.shape[0]] + [1] * (input.dim() - 1)
    else:
        size = [1] * input.dim()
    noise = _bernoulli(size, survival_rate, input)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return input * noise


class StochasticDepth(nn.Module):
    def __init__(self, p, mode):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, input):
        return stochastic_depth(input, self.p, self.mode, self.training)

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p}, mode={self.mode})"
