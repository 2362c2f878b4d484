"""The autograd engine: backward, grad, hooks, grad modes, freed graphs, in-place semantics."""
import numpy as np
import pytest

import nnlite
from nnlite import autograd
from tests.helpers import assert_close


def leaf(values, dtype=nnlite.float64):
    return nnlite.tensor(values, dtype=dtype, requires_grad=True)


def test_backward_accumulates_into_leaves():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    assert_close(x.grad, [2.0, 4.0, 6.0])
    (x * 3).sum().backward()
    assert_close(x.grad, [5.0, 7.0, 9.0])


def test_diamond_graph_sums_both_paths(torch):
    x = leaf([1.0, -2.0])
    a = x * 2
    y = (a * a + a.exp()).sum()
    y.backward()
    tx = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    ta = tx * 2
    (ta * ta + ta.exp()).sum().backward()
    assert_close(x.grad, tx.grad)


def test_backward_twice_through_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.clone()
    y.backward()
    assert_close(x.grad, 2 * first.numpy())


def test_non_scalar_backward_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(nnlite.tensor([1.0, 10.0], dtype=nnlite.float64))
    assert_close(x.grad, [2.0, 20.0])


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nnlite.ones(2).sum().backward()


def test_grad_returns_gradients_and_leaves_dot_grad_alone():
    x = leaf([1.0, 2.0])
    w = leaf([3.0, 4.0])
    y = (x * w).sum()
    gx, gw = autograd.grad(y, [x, w])
    assert_close(gx, [3.0, 4.0])
    assert_close(gw, [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_grad_with_respect_to_an_intermediate():
    x = leaf([1.0, 2.0])
    h = x * 3
    y = (h * h).sum()
    (gh,) = autograd.grad(y, h)
    assert_close(gh, [6.0, 12.0])


def test_grad_unused_input():
    x = leaf([1.0])
    z = leaf([2.0])
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None
    assert_close(gx, [2.0])


def test_hooks_on_leaf_and_intermediate():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    h = x * 2
    handle = h.register_hook(lambda g: g * 10)  # replaces the gradient flowing on
    h.sum().backward()
    assert seen == [[20.0, 20.0]]
    assert_close(x.grad, [20.0, 20.0])
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert_close(x.grad, [2.0, 2.0])


def test_retain_grad_keeps_intermediate_gradient():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward()
    assert_close(h.grad, [4.0, 8.0])


def test_grad_modes():
    x = leaf([1.0])
    with nnlite.no_grad():
        y = x * 2
        with nnlite.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad
    with nnlite.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert nnlite.is_grad_enabled()

    @nnlite.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    prev = nnlite.set_grad_enabled(False)
    assert not nnlite.is_grad_enabled()
    nnlite.set_grad_enabled(True)
    assert nnlite.is_grad_enabled() and prev is not None


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * 2).detach() * x
    y.sum().backward()
    assert_close(x.grad, [2.0, 4.0])


def test_inplace_on_leaf_requiring_grad_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 3.0
    with nnlite.no_grad():
        x.add_(1)  # allowed, as in torch (optimizer updates)
    assert_close(x, [2.0, 3.0])


def test_inplace_inside_graph_gives_torch_gradients(torch):
    def run(lib, t):
        x = t([1.0, -2.0, 3.0])
        w = t([0.5, 1.5, -1.0])
        out = x * w
        identity = x * 2
        out += identity            # as in a residual block
        out.mul_(w)
        out[1] = 0.5 * out[0]
        return (out * out).sum(), x, w

    y, x, w = run(nnlite, lambda v: nnlite.tensor(v, dtype=nnlite.float64, requires_grad=True))
    y.backward()
    ty, tx, tw = run(torch, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
    ty.backward()
    assert_close(y, ty)
    assert_close(x.grad, tx.grad)
    assert_close(w.grad, tw.grad)


def test_modifying_a_saved_tensor_is_detected():
    x = leaf([1.0, 2.0])
    h = x * 1
    y = (h * h).sum()  # saves h
    with nnlite.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_backward_inputs_argument_limits_accumulation():
    x = leaf([1.0])
    w = leaf([2.0])
    (x * w).sum().backward(inputs=[x])
    assert_close(x.grad, [2.0])
    assert w.grad is None


def test_multiple_outputs_of_one_function():
    x = leaf(np.arange(6.0))
    a, b, c = x.split(2)
    (a * 1 + c * 3).sum().backward()
    assert_close(x.grad, [1, 1, 0, 0, 3, 3])


def test_grad_flows_across_devices(cuda_device):
    x = leaf([1.0, 2.0])
    y = (x.to(cuda_device) * 3).sum()
    y.backward()
    assert x.grad.device == "cpu"
    assert_close(x.grad, [3.0, 3.0])


def test_graph_is_freed_without_reference_cycles():
    import gc
    import weakref
    gc.collect()
    gc.disable()
    try:
        x = leaf(np.ones(4))
        y = (x * 2).exp()
        node = weakref.ref(y.grad_fn)
        y.sum().backward()
        del y
        assert node() is None  # freed by reference counting alone
    finally:
        gc.enable()


def test_inplace_on_views_of_graph_tensors_gives_torch_gradients(torch):
    def run(t):
        x = t([[1.0, -2.0, 3.0], [0.5, 1.5, -1.0]])
        w = t([2.0, -1.0, 0.5])
        y = x * w
        y[:, 0].mul_(3)            # in place on a column view
        y[1] += w                  # view += tensor, then written back by setitem
        flat = y.view(-1)
        flat.add_(x.view(-1))      # in place on a reshaped view
        y.t()[2].clamp_(max=0.25)  # a view of a view
        return (y * y).sum(), x, w

    y, x, w = run(lambda v: nnlite.tensor(v, dtype=nnlite.float64, requires_grad=True))
    y.backward()
    ty, tx, tw = run(lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
    ty.backward()
    assert_close(y, ty)
    assert_close(x.grad, tx.grad)
    assert_close(w.grad, tw.grad)


def test_inplace_on_a_view_of_a_leaf_raises():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="view of a leaf Variable that requires grad"):
        w[0:1].mul_(2)
    assert_close(w, [1.0, 2.0])  # nothing was written
