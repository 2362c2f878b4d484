"""Small helpers for comparing nnlite with numpy and PyTorch."""
import numpy as np

import nnlite


def to_numpy(x):
    if isinstance(x, nnlite.Tensor):
        return x.detach().cpu().numpy()
    if hasattr(x, "detach"):  # a torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True):
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    np.testing.assert_allclose(a.astype(np.float64) if a.dtype != np.bool_ else a,
                               e.astype(np.float64) if e.dtype != np.bool_ else e,
                               rtol=rtol, atol=atol, equal_nan=equal_nan)


def randn(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def pair(array, device="cpu", requires_grad=False):
    """The same data as an nnlite tensor and a torch tensor (torch imported lazily)."""
    import torch
    t = nnlite.tensor(array, device=device, requires_grad=requires_grad)
    r = torch.tensor(array, requires_grad=requires_grad)
    return t, r
