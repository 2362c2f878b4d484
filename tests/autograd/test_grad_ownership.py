"""A leaf keeps a fresh gradient that nothing else holds as its .grad without a copy (torch's
AccumulateGrad does the same); every gradient that something else holds is copied."""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import Function

SIZES = [3, 70000]  # a plain numpy array, and one from the host pool


def _fresh_gradient_function(seen, keep=None):
    class Fresh(Function):
        @staticmethod
        def forward(ctx, x):
            return x.detach().clone()

        @staticmethod
        def backward(ctx, grad):
            g = nnlite.full(tuple(grad.shape), 2.0)
            seen.append(g.data_ptr())
            if keep is not None:
                keep.append(g)
            return g
    return Fresh


@pytest.mark.parametrize("n", SIZES)
def test_a_fresh_gradient_is_kept_without_a_copy(n):
    seen = []
    x = nnlite.zeros(n, requires_grad=True)
    _fresh_gradient_function(seen).apply(x).backward(nnlite.ones(n))
    assert x.grad.data_ptr() == seen[0]
    np.testing.assert_array_equal(x.grad.numpy(), 2.0)
    # the kept buffer is the leaf's own: accumulation and in-place edits work as before
    _fresh_gradient_function(seen).apply(x).backward(nnlite.ones(n))
    np.testing.assert_array_equal(x.grad.numpy(), 4.0)
    x.grad.mul_(0.5)
    np.testing.assert_array_equal(x.grad.numpy(), 2.0)


@pytest.mark.parametrize("n", SIZES)
def test_a_gradient_held_elsewhere_is_copied(n):
    seen, kept = [], []
    x = nnlite.zeros(n, requires_grad=True)
    _fresh_gradient_function(seen, keep=kept).apply(x).backward(nnlite.ones(n))
    assert x.grad.data_ptr() != seen[0]
    x.grad.zero_()
    np.testing.assert_array_equal(kept[0].numpy(), 2.0)


@pytest.mark.parametrize("n", SIZES)
def test_one_gradient_for_two_leaves_is_copied(n):
    class Both(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a.detach() + b.detach()

        @staticmethod
        def backward(ctx, grad):
            g = grad * 3
            return g, g

    a, b = nnlite.zeros(n, requires_grad=True), nnlite.zeros(n, requires_grad=True)
    Both.apply(a, b).backward(nnlite.ones(n))
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), 3.0)


@pytest.mark.parametrize("n", SIZES)
def test_the_callers_gradient_and_views_of_it_are_copied(n):
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x.detach().clone()

        @staticmethod
        def backward(ctx, grad):
            return grad

    class View(Identity):
        @staticmethod
        def backward(ctx, grad):
            return grad.reshape(-1)

    for fn in (Identity, View):
        x = nnlite.zeros(n, requires_grad=True)
        g = nnlite.full((n,), 5.0)
        fn.apply(x).backward(g)
        assert not np.shares_memory(x.grad.numpy(), g.numpy())
        x.grad.zero_()
        np.testing.assert_array_equal(g.numpy(), 5.0)
    # built-in ops: add passes one gradient to both inputs, reshape passes a view
    a, b = nnlite.zeros(n, requires_grad=True), nnlite.zeros(n, requires_grad=True)
    g = nnlite.full((n,), 7.0)
    (a + b).reshape(-1).backward(g)
    for t in (a, b):
        assert not np.shares_memory(t.grad.numpy(), g.numpy())
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())


def test_a_hooked_leaf_gets_its_hooks_result():
    seen = []
    x = nnlite.zeros(4, requires_grad=True)
    x.register_hook(lambda g: g * 10)
    _fresh_gradient_function(seen).apply(x).backward(nnlite.ones(4))
    np.testing.assert_array_equal(x.grad.numpy(), 20.0)
