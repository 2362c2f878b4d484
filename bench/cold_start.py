"""What bench/run.py times in fresh processes (kept in a file so Numba can cache it)."""
from numba import njit


@njit(cache=True)
def trivial(x):
    return x + 1.0


def first_conv_relu_step():
    """nnlite's first conv2d + relu, forward and backward, in a fresh process."""
    import nnlite
    import nnlite.nn.functional as F
    x = nnlite.randn(2, 3, 16, 16, requires_grad=True)
    w = nnlite.randn(8, 3, 3, 3, requires_grad=True)
    F.relu(F.conv2d(x, w, padding=1)).sum().backward()
