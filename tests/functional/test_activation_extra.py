"""The activations of functional/activation_extra.py and their Modules, vs PyTorch: values and
gradients in float32 and float64, gradcheck, the CUDA twins (tiny shapes), randomness from nnlite's
generator, errors, untouched inputs; and fastmath.ferf, the float32 erf behind gelu."""
import math

import numpy as np
import pytest

from tests.helpers import assert_close, randn

# The CUDA simulator evaluates kernels in Python, which warns on inf - inf and 0 * inf.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# ------------------------------------------------------------------ ferf

def test_ferf_is_erf_to_float32_rounding():
    from numba import njit
    from nnlite.kernels.fastmath import ferf

    @njit
    def run(x, y):
        for i in range(x.size):
            y[i] = ferf(x[i])
    # dense over the range where erf is not yet +-1 in float32, the split at 0.9, tiny and huge values
    x = np.concatenate([np.linspace(-4.5, 4.5, 900001), np.linspace(-1e-3, 1e-3, 20001),
                        np.linspace(0.89, 0.91, 20001), [1e-30, -1e-38, 1e-45, 3.93, 10.0, 1e30, -1e30]])
    x = x.astype(np.float32)
    got = np.empty_like(x)
    run(x, got)
    want = np.array([math.erf(v) for v in x.astype(np.float64)])
    ulps = np.abs(got - want) / np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 2.0, f"max error {ulps.max():.2f} ulp at x = {x[ulps.argmax()]}"
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], np.float32)
    out = np.empty_like(special)
    run(special, out)
    assert out[0] == 1 and out[1] == -1 and np.isnan(out[2])
    assert out[3] == 0 and np.signbit(out[4])


def test_ferf_keeps_float64_exact():
    from numba import njit
    from nnlite.kernels.fastmath import ferf

    @njit
    def one(v):
        return ferf(v)
    for v in (-3.0, -0.5, 1e-8, 0.7, 2.2):
        assert one(v) == math.erf(v)
