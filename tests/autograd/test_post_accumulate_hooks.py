"""Tensor.register_post_accumulate_grad_hook and the engine's final callbacks (what
DistributedDataParallel builds on)."""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import engine


def test_hook_runs_once_after_every_contribution():
    w = nnlite.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    # w reaches the loss through three paths; the hook sees the finished sum once
    loss = (w * 3).sum() + (w * w).sum() + w[0]
    loss.backward()
    assert seen == [[3 + 2 + 1, 3 + 4]]
    (w * 2).sum().backward()  # a second pass accumulates, and runs the hook again
    assert seen[-1] == [8.0, 9.0] and len(seen) == 2


def test_hook_on_a_root_leaf_and_not_on_a_leaf_without_gradient():
    a = nnlite.tensor([1.0], requires_grad=True)
    b = nnlite.tensor([1.0], requires_grad=True)
    fired = []
    a.register_post_accumulate_grad_hook(lambda t: fired.append("a"))
    b.register_post_accumulate_grad_hook(lambda t: fired.append("b"))
    a.backward(nnlite.tensor([2.0]))
    assert fired == ["a"]
    (a * 2).sum().backward(inputs=[a])
    assert fired == ["a", "a"]


def test_hook_is_removable_and_refused_on_non_leaves():
    w = nnlite.tensor([1.0], requires_grad=True)
    fired = []
    handle = w.register_post_accumulate_grad_hook(lambda t: fired.append(1))
    handle.remove()
    (w * 2).sum().backward()
    assert fired == []
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)


def test_autograd_grad_runs_no_post_accumulate_hooks():
    w = nnlite.tensor([1.0], requires_grad=True)
    fired = []
    w.register_post_accumulate_grad_hook(lambda t: fired.append(1))
    nnlite.autograd.grad((w * 2).sum(), w)
    assert fired == [] and w.grad is None


def test_queued_callbacks_run_after_the_pass():
    w = nnlite.tensor([1.0, 1.0], requires_grad=True)
    order = []

    def hook(t):
        order.append("hook")
        engine.queue_callback(lambda: order.append(("callback", t.grad.tolist())))
    w.register_post_accumulate_grad_hook(hook)
    (w * 5).sum().backward()
    assert order == ["hook", ("callback", [5.0, 5.0])]
    with pytest.raises(RuntimeError, match="during backward pass"):
        engine.queue_callback(lambda: None)


def test_a_failing_pass_leaves_no_callbacks_behind():
    w = nnlite.tensor([1.0], requires_grad=True)

    def hook(t):
        engine.queue_callback(lambda: None)
        raise ValueError("hook fails")
    w.register_post_accumulate_grad_hook(hook)
    with pytest.raises(ValueError, match="hook fails"):
        (w * 2).sum().backward()
    assert engine._final_callbacks == []
    np.testing.assert_array_equal(w.grad.numpy(), [2.0])
