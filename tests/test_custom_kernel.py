"""The README's promise: a user's own kernel pair + Function gets autograd and devices."""
import importlib
import pathlib
import sys

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close

_EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def example():
    # imported under the name `python examples/custom_kernel.py` can import it by:
    # a Numba cache entry names its module, and the script, loading an entry this
    # test wrote, re-imports that module
    sys.path.insert(0, str(_EXAMPLES))
    try:
        return importlib.import_module("custom_kernel")
    finally:
        sys.path.remove(str(_EXAMPLES))


def test_fused_op_gradchecks(example, device):
    x = nnlite.randn(3, 5, dtype=nnlite.float64, device=device, requires_grad=True)
    b = nnlite.randn(5, dtype=nnlite.float64, device=device, requires_grad=True)
    assert gradcheck(example.bias_gelu, (x, b))


def test_fused_op_matches_torch(example, torch, device):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    b = np.random.default_rng(1).standard_normal(4)
    got = example.bias_gelu(nnlite.tensor(x, device=device), nnlite.tensor(b, device=device))
    want = torch.nn.functional.gelu(torch.tensor(x) + torch.tensor(b))
    assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_kernel_pairs_refuse_non_contiguous_tensors(example):
    x = nnlite.ones(4, 3).t()
    with pytest.raises(RuntimeError, match="not contiguous"):
        example.bias_gelu_fwd(x, nnlite.ones(4), nnlite.empty(3, 4))


def test_shape_check_names_the_op(example):
    with pytest.raises(RuntimeError, match="bias_gelu: bias of shape"):
        example.bias_gelu(nnlite.ones(2, 3), nnlite.ones(4))
