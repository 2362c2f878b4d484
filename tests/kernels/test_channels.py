"""kernels/_channels.py: per-channel CUDA sums with each channel split across blocks
(conv2d's bias gradient runs on them; batch_norm on their parts)."""
import numpy as np
import pytest

from nnlite.backend.memory import to_device, to_host
from nnlite.kernels import _channels
from tests.conftest import SIMULATED

# (N, C, S): one part per channel, parts that start and end inside an image, S = 1 (every
# step crosses images), a single channel in several parts, and no elements at all
SHAPES = [(2, 3, 5), (3, 2, 77), (300, 2, 1), (7, 1, 10), (0, 3, 4)] if SIMULATED else \
         [(2, 3, 5), (32, 64, 3136), (4096, 16, 1), (3, 5, 100003), (0, 3, 4)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_sums_match_numpy(cuda_device, dtype):
    rng = np.random.default_rng(0)
    split = 0
    for N, C, S in SHAPES:
        x = rng.standard_normal((N, C, S)).astype(dtype)
        out = to_device(np.full(C, np.nan, dtype))   # poisoned: every channel must be written
        _channels.channel_sums(to_device(x.reshape(-1)), out, N, C, S)
        want = x.astype(np.float64).sum(axis=(0, 2))
        np.testing.assert_allclose(to_host(out), want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-4 if dtype == np.float32 else 1e-12, err_msg=str((N, C, S)))
        split += _channels.channel_parts(C, N * S) > 1
    assert split >= 2, "too few shapes split their channels into parts"
