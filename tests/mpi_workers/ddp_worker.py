"""DistributedDataParallel on 2 ranks against one process training on the whole batch."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import check, cpu_check, main  # noqa: E402

import nnlite  # noqa: E402
import nnlite.distributed as dist  # noqa: E402
from nnlite import nn, optim  # noqa: E402
from nnlite.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

DEVICE = os.environ.get("NNLITE_TEST_DEVICE", "cpu")


class Net(nn.Module):
    """A conv and two linear layers; on CUDA (the simulator in CI: slow) a 1x1 conv."""

    def __init__(self, extra=False):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1) if DEVICE == "cpu" else nn.Conv2d(2, 3, 1)
        self.fc1 = nn.Linear(3 * 4 * 4, 8)
        self.fc2 = nn.Linear(8, 4)
        self.spare = nn.Linear(8, 4) if extra else None

    def forward(self, x, use_spare=False):
        h = self.fc1(self.conv(x).relu().flatten(1)).tanh()
        out = self.fc2(h)
        return out + self.spare(h) if use_spare else out


def model(seed, extra=False):
    nnlite.manual_seed(seed)
    return Net(extra).to(DEVICE).double()


def batch(n=8, seed=7):
    rng = np.random.default_rng(seed)
    x = nnlite.tensor(rng.standard_normal((n, 2, 4, 4)), device=DEVICE)
    y = nnlite.tensor(rng.integers(0, 4, n), device=DEVICE)
    return x, y


def my_half(t):
    rank, world = dist.get_rank(), dist.get_world_size()
    n = t.shape[0] // world
    return t[rank * n:(rank + 1) * n]


def params_close(a, b, tol=1e-10):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().cpu().numpy(), rtol=tol, atol=tol,
                                   err_msg=name)


def same_on_every_rank(module):
    flat = nnlite.cat([p.detach().reshape(-1) for p in module.parameters()])
    everyone = [nnlite.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, flat)
    for other in everyone[1:]:
        np.testing.assert_array_equal(other.cpu().numpy(), everyone[0].cpu().numpy())


def train_pair(steps=3, **ddp_kwargs):
    """Rank r's DDP model on its half of each batch, and a plain model on the whole batch."""
    reference = model(seed=0)
    ddp = DDP(model(seed=dist.get_rank()), **ddp_kwargs)  # rank 1 starts elsewhere: DDP copies rank 0's
    opt_ref = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    opt_ddp = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(steps):
        x, y = batch(seed=step)
        opt_ref.zero_grad()
        loss_fn(reference(x), y).backward()
        opt_ref.step()
        opt_ddp.zero_grad()
        loss_fn(ddp(my_half(x)), my_half(y)).backward()
        opt_ddp.step()
    return reference, ddp


@check
def ddp_equals_one_process_on_the_whole_batch():
    reference, ddp = train_pair()
    params_close(ddp.module, reference)
    same_on_every_rank(ddp.module)


@cpu_check
def many_small_buckets_and_bucket_views_give_the_same_result():
    for kwargs in ({"bucket_cap_mb": 1e-6}, {"gradient_as_bucket_view": True}):
        reference, ddp = train_pair(**kwargs)
        params_close(ddp.module, reference)
        if "bucket_cap_mb" in kwargs:
            assert len(ddp._buckets) == len(list(reference.parameters())), len(ddp._buckets)


@cpu_check
def no_sync_accumulates_locally_then_averages_the_total():
    reference = model(seed=0)
    ddp = DDP(model(seed=0))
    loss_fn = nn.CrossEntropyLoss()
    micro = [batch(seed=s) for s in range(3)]
    for x, y in micro:
        loss_fn(reference(x), y).backward()
    with ddp.no_sync():
        for x, y in micro[:2]:
            loss_fn(ddp(my_half(x)), my_half(y)).backward()
    local = ddp.module.fc2.weight.grad.clone()
    x, y = micro[2]
    loss_fn(ddp(my_half(x)), my_half(y)).backward()
    for p, q in zip(ddp.module.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.cpu().numpy(), rtol=1e-10, atol=1e-12)
    others = [nnlite.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(others, local)
    assert not np.allclose(others[0].cpu().numpy(), others[1].cpu().numpy()), "no_sync must not have averaged"


@check
def find_unused_parameters():
    rank = dist.get_rank()
    ddp = DDP(model(seed=0, extra=True), find_unused_parameters=True)
    x, y = batch()
    loss = nn.CrossEntropyLoss()(ddp(my_half(x)), my_half(y))
    loss.backward()
    assert ddp.module.spare.weight.grad is None, "unused on every rank: no gradient"
    assert ddp.module.fc2.weight.grad is not None
    # used on rank 0 only: both ranks get rank 0's gradient / 2
    ddp.zero_grad()
    out = ddp(my_half(x), use_spare=rank == 0)
    out.sum().backward()
    grad = ddp.module.spare.weight.grad
    everyone = [nnlite.zeros_like(grad) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, grad)
    np.testing.assert_array_equal(everyone[0].cpu().numpy(), everyone[1].cpu().numpy())
    h = ddp.module.fc1(ddp.module.conv(my_half(x)).relu().flatten(1)).tanh()
    expected = nnlite.ones(h.shape[0], 4, dtype=nnlite.float64, device=DEVICE).t() @ h.detach()
    everyone_expected = [nnlite.zeros_like(expected) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone_expected, expected)
    np.testing.assert_allclose(grad.cpu().numpy(), everyone_expected[0].cpu().numpy() / 2, rtol=1e-10)


@cpu_check
def an_unused_parameter_without_find_unused_is_a_clear_error():
    ddp = DDP(model(seed=0, extra=True))
    x, y = batch()
    try:
        nn.CrossEntropyLoss()(ddp(my_half(x)), my_half(y)).backward()
    except RuntimeError as err:
        assert "spare.weight" in str(err) and "find_unused_parameters=True" in str(err), err
    else:
        raise AssertionError("no error for a parameter without a gradient")
    # the module still works afterwards
    ddp2 = DDP(model(seed=0))
    ddp2(my_half(x)).sum().backward()


@check
def buffers_follow_rank_0_before_each_forward():
    rank = dist.get_rank()
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3, momentum=0.0)).to(DEVICE).double()
    ddp = DDP(net)
    with nnlite.no_grad():
        net[1].running_mean.fill_(float(rank + 5))
    ddp(nnlite.ones(4, 3, dtype=nnlite.float64, device=DEVICE))
    np.testing.assert_array_equal(net[1].running_mean.cpu().numpy(), np.full(3, 5.0))
    assert list(ddp.state_dict())[0].startswith("module."), list(ddp.state_dict())


@cpu_check
def different_models_across_ranks_are_a_clear_error():
    width = 3 + dist.get_rank()
    try:
        DDP(nn.Linear(2, width).to(DEVICE))
    except RuntimeError as err:
        assert "DDP expects same model across all ranks" in str(err), err
    else:
        raise AssertionError("no error for different models")


if __name__ == "__main__":
    main()
