"""Random generators: a seed and a running counter per device.

Random kernels are counter-based (see `nnlite.kernels.random`): an op that
draws n numbers takes the generator's current offset and advances it by n,
so results depend only on the seed and the sequence of ops, and a CPU run
and a CUDA run of the same program draw the same numbers.
"""
import os

from .device import device as as_device


class Generator:
    __slots__ = ("device", "seed", "offset")

    def __init__(self, device="cpu", seed=None):
        self.device = as_device(device)
        self.manual_seed(_fresh_seed() if seed is None else seed)

    def manual_seed(self, seed):
        self.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self.offset = 0
        return self

    def initial_seed(self):
        return self.seed

    def take(self, n):
        """Reserve n counters; returns (seed, first counter)."""
        start = self.offset
        self.offset += int(n)
        return self.seed, start

    def get_state(self):
        return (self.seed, self.offset)

    def set_state(self, state):
        self.seed, self.offset = int(state[0]), int(state[1])


def _fresh_seed():
    return int.from_bytes(os.urandom(8), "little")


_default = {}


def default_generator(dev):
    dev = as_device(dev)
    gen = _default.get(dev)
    if gen is None:
        gen = _default[dev] = Generator(dev, seed=_initial_seed)
    return gen


_initial_seed = 67280421310721  # PyTorch's default seed, for reproducible runs


def manual_seed(seed):
    """Seed every device's default generator (as torch.manual_seed)."""
    global _initial_seed
    _initial_seed = int(seed)
    for gen in _default.values():
        gen.manual_seed(seed)
    return default_generator("cpu")


def seed():
    """Seed every generator from the OS and return the seed."""
    s = _fresh_seed()
    manual_seed(s)
    return s


def initial_seed():
    return default_generator("cpu").seed
