"""The bench's whole models (bench/models.py) built by nnlite and by torch from the same weights
agree: outputs, loss, every parameter's gradient and the weights after an SGD-momentum step.
This also proves that the model rows of bench/run.py compare like with like. Tiny sizes,
float64, CPU (the models only compose ops whose CUDA kernels are tested op by op)."""
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nnlite  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import models  # noqa: E402

TINY = {
    "resnet18": (models.resnet18, dict(num_classes=5, widths=(8, 8, 16, 16))),
    "mobilenet_v2": (models.mobilenet_v2, dict(num_classes=5, width_mult=0.25, dropout=0.0, last_channel=32,
                                               settings=((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 1, 2)))),
}


def _twins(name):
    make, kw = TINY[name]
    ours, theirs = models.twin_models(make, **kw)
    return ours.double(), theirs.double()


def _batch(n=3, hw=32, classes=5):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 3, hw, hw)), rng.integers(0, classes, n)


def _assert_close(ours, theirs, what, tol=1e-9):
    ours = ours.detach().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("name", sorted(TINY))
def test_same_structure_and_weights(name):
    ours, theirs = _twins(name)
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(ref)
    for key in ref:
        if ref[key].is_floating_point():
            _assert_close(mine[key], ref[key], key, tol=0)


@pytest.mark.parametrize("name", sorted(TINY))
def test_train_step_matches_torch(name):
    ours, theirs = _twins(name)
    x, y = _batch()
    opt = nnlite.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for step in range(2):  # the second step uses the momentum buffers and updated running stats
        loss = models.train_step(nnlite.nn.functional, ours, opt, nnlite.tensor(x), nnlite.tensor(y))
        tloss = models.train_step(torch.nn.functional, theirs, topt, torch.tensor(x), torch.tensor(y))
        _assert_close(loss, tloss, f"loss at step {step}")
        for (key, p), (tkey, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert key == tkey
            _assert_close(p.grad, tp.grad, f"grad of {key} at step {step}")
            _assert_close(p, tp, f"{key} after step {step}")
    for key, buf in theirs.named_buffers():
        if buf.is_floating_point():
            _assert_close(dict(ours.named_buffers())[key], buf, key)


@pytest.mark.parametrize("name", sorted(TINY))
def test_eval_forward_matches_torch(name):
    ours, theirs = _twins(name)
    ours.eval()
    theirs.eval()
    x, _ = _batch(n=1)
    with nnlite.no_grad():
        out = ours(nnlite.tensor(x))
    with torch.inference_mode():
        ref = theirs(torch.tensor(x))
    _assert_close(out, ref, "eval output")


def test_structure_differences_are_caught():
    """The comparison above can fail: a model with other widths does not load torch's weights."""
    theirs = models.resnet18(torch.nn, num_classes=5, widths=(8, 8, 16, 16))
    ours = models.resnet18(nnlite.nn, num_classes=5, widths=(8, 16, 16, 16))
    with pytest.raises(RuntimeError, match="size mismatch"):
        ours.load_state_dict(models.torch_state_as_numpy(theirs))


def test_bench_rows_are_listed():
    sys.path.insert(0, os.path.dirname(models.__file__))
    import cases_models
    names = [case.name for case in cases_models.BENCH_CASES]
    assert names == ["model ResNet-18 train step b16 128x128", "model ResNet-18 inference b1 224x224",
                     "model MobileNetV2 train step b16 128x128",
                     "model TransformerEncoder 6L d256 seq128 b16 train step"]
    assert [case.bar for case in cases_models.BENCH_CASES] == [1.2, 1.2, 1.0, 1.2]


def test_profiler_rows_and_hooks_removed():
    import cases_models
    import profile_model
    from nnlite.autograd import engine
    from nnlite.autograd.function import Function
    before = (Function.__dict__["apply"], engine._call_backward)
    make, kw = TINY["resnet18"]
    ours, theirs = cases_models.train_setups(make, "cpu", (2, 3, 32, 32), kw["num_classes"], widths=kw["widths"])
    rows, walls = profile_model.profile_nnlite(ours, steps=1)
    assert (Function.__dict__["apply"], engine._call_backward) == before
    assert ("forward", "conv2d 7x7 s2 3->8 @32x32") in rows
    assert ("backward", "conv2d 1x1 s2 8->8 @8x8") in rows
    for key in [("forward", "batch_norm"), ("backward", "activation"), ("forward", "max_pool"),
                ("backward", "autograd engine overhead"), ("optimizer", "optimizer")]:
        assert key in rows, key
    assert sum(ms for (phase, _), ms in rows.items() if phase == "forward") == pytest.approx(walls["forward"])
    theirs_rows = profile_model.profile_torch(theirs, steps=1)
    assert ("forward", "conv2d 7x7 s2 3->8 @32x32") in theirs_rows
    assert ("backward", "batch_norm") in theirs_rows
