"""torchvision.ops layers (misc.py, stochastic_depth.py, drop_block.py): state_dict keys as
torchvision's source builds them, outputs and gradients against the same computation in torch
layers with copied weights, the random layers against numpy references that replay nnlite's
generator, statistics, errors, and inputs left alone."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite.autograd import gradcheck
from nnlite.ops import (MLP, Conv2dNormActivation, Conv3dNormActivation, DropBlock2d, DropBlock3d,
                        FrozenBatchNorm2d, Permute, SqueezeExcitation, StochasticDepth,
                        drop_block2d, drop_block3d, stochastic_depth)
from tests.helpers import assert_close, randn

# The CUDA simulator's uint64 hashing in the RNG "overflows" harmlessly.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _copy_weights(src_torch, dst_nnlite):
    """Load a torch module's state into the nnlite module with the same keys (strict)."""
    dst_nnlite.load_state_dict({k: v.detach().numpy() for k, v in src_torch.state_dict().items()})


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


# ---------------------------------------------------------------- FrozenBatchNorm2d

def _frozen_stats(c, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return {"weight": rng.standard_normal(c).astype(dtype), "bias": rng.standard_normal(c).astype(dtype),
            "running_mean": rng.standard_normal(c).astype(dtype),
            "running_var": rng.uniform(0.5, 2, c).astype(dtype)}


def test_frozen_bn_has_four_buffers_and_no_parameters():
    layer = FrozenBatchNorm2d(5)
    assert _shapes(layer) == {"weight": (5,), "bias": (5,), "running_mean": (5,), "running_var": (5,)}
    assert list(layer.parameters()) == []
    assert repr(layer) == "FrozenBatchNorm2d(5, eps=1e-05)"


def test_frozen_bn_loads_a_batchnorm_checkpoint_dropping_num_batches_tracked():
    bn = nn.BatchNorm2d(3)
    state = bn.state_dict()
    assert "num_batches_tracked" in state
    result = FrozenBatchNorm2d(3).load_state_dict(state, strict=True)
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    assert "num_batches_tracked" in state  # the caller's dict is not modified


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frozen_bn_matches_torchvision_formula_with_grad(torch, dtype):
    stats = _frozen_stats(4, dtype)
    layer = FrozenBatchNorm2d(4, eps=1e-3).to(nnlite.float32 if dtype == np.float32 else nnlite.float64)
    layer.load_state_dict(stats)
    x_np = randn(2, 4, 3, 5, dtype=dtype)
    x = nnlite.tensor(x_np, requires_grad=True)
    y = layer(x)
    t = {k: torch.tensor(v).reshape(1, -1, 1, 1) for k, v in stats.items()}
    xt = torch.tensor(x_np, requires_grad=True)
    scale = t["weight"] * (t["running_var"] + 1e-3).rsqrt()
    yt = xt * scale + (t["bias"] - t["running_mean"] * scale)
    assert_close(y, yt, **TOL[dtype])
    g = randn(*y.shape, dtype=dtype, seed=2)
    y.backward(nnlite.tensor(g))
    yt.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad, **TOL[dtype])
    np.testing.assert_array_equal(x.detach().numpy(), x_np)


def test_frozen_bn_gradcheck_and_cuda(device):
    layer = FrozenBatchNorm2d(2).to(nnlite.float64)
    layer.load_state_dict(_frozen_stats(2, np.float64))
    x = nnlite.tensor(randn(1, 2, 2, 3, dtype=np.float64), device=device, requires_grad=True)
    assert gradcheck(layer.to(device), (x,))


def test_frozen_bn_rejects_non_4d_input():
    with pytest.raises(ValueError, match=r"FrozenBatchNorm2d.*4-D.*\(2, 3\)"):
        FrozenBatchNorm2d(3)(nnlite.ones(2, 3))


# ---------------------------------------------------------------- Conv*NormActivation

def test_conv2d_norm_activation_keys_and_layout():
    block = Conv2dNormActivation(3, 8, kernel_size=3, stride=2)
    assert _shapes(block) == {"0.weight": (8, 3, 3, 3), "1.weight": (8,), "1.bias": (8,),
                              "1.running_mean": (8,), "1.running_var": (8,),
                              "1.num_batches_tracked": ()}
    assert isinstance(block[0], nn.Conv2d) and isinstance(block[1], nn.BatchNorm2d)
    assert isinstance(block[2], nn.ReLU) and block[2].inplace and block.out_channels == 8
    no_norm = Conv2dNormActivation(3, 8, norm_layer=None, activation_layer=None)
    assert _shapes(no_norm) == {"0.weight": (8, 3, 3, 3), "0.bias": (8,)}  # bias = norm is None


@pytest.mark.parametrize("kernel_size, dilation, padding", [
    (3, 1, (1, 1)), (5, 2, (4, 4)), ((3, 5), 1, (1, 2)), (3, (1, 2), (1, 2))])
def test_conv2d_norm_activation_default_padding(kernel_size, dilation, padding):
    conv = Conv2dNormActivation(2, 2, kernel_size=kernel_size, dilation=dilation)[0]
    assert tuple(conv.padding) == padding


def test_conv3d_norm_activation_keys():
    block = Conv3dNormActivation(2, 4, kernel_size=3, groups=2, bias=True)
    assert _shapes(block) == {"0.weight": (4, 1, 3, 3, 3), "0.bias": (4,), "1.weight": (4,),
                              "1.bias": (4,), "1.running_mean": (4,), "1.running_var": (4,),
                              "1.num_batches_tracked": ()}
    assert isinstance(block[1], nn.BatchNorm3d)


@pytest.mark.parametrize("dtype, training", [(np.float32, True), (np.float64, False)])
def test_conv2d_norm_activation_matches_torch_layers(torch, dtype, training):
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1, bias=False), torch.nn.BatchNorm2d(4),
                              torch.nn.ReLU()).to(tdt)
    torch.nn.init.uniform_(ref[1].weight, 0.5, 1.5)
    block = Conv2dNormActivation(3, 4, stride=2).to(nnlite.float32 if dtype == np.float32 else nnlite.float64)
    _copy_weights(ref, block)
    ref.train(training)
    block.train(training)
    x_np = randn(2, 3, 7, 6, dtype=dtype)
    x, xt = nnlite.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, yt = block(x), ref(xt)
    assert_close(y, yt, **TOL[dtype])
    y.sum().backward()
    yt.sum().backward()
    assert_close(x.grad, xt.grad, **TOL[dtype])
    assert_close(block[0].weight.grad, ref[0].weight.grad, rtol=1e-3, atol=1e-4)
    assert_close(block[1].running_mean, ref[1].running_mean, **TOL[dtype])
    np.testing.assert_array_equal(x.detach().numpy(), x_np)


def test_conv3d_norm_activation_matches_torch_layers(torch):
    ref = torch.nn.Sequential(torch.nn.Conv3d(2, 3, 3, 1, 1, bias=False), torch.nn.BatchNorm3d(3),
                              torch.nn.ReLU()).eval()
    block = Conv3dNormActivation(2, 3).eval()
    _copy_weights(ref, block)
    x_np = randn(1, 2, 3, 4, 5)
    assert_close(block(nnlite.tensor(x_np)), ref(torch.tensor(x_np)), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- SqueezeExcitation, MLP, Permute

def test_squeeze_excitation_keys_and_torch_parity(torch):
    se = SqueezeExcitation(6, 2)
    assert _shapes(se) == {"fc1.weight": (2, 6, 1, 1), "fc1.bias": (2,), "fc2.weight": (6, 2, 1, 1),
                           "fc2.bias": (6,)}
    fc1, fc2 = torch.nn.Conv2d(6, 2, 1), torch.nn.Conv2d(2, 6, 1)
    _copy_weights(torch.nn.ModuleDict({"fc1": fc1, "fc2": fc2}), se)
    x_np = randn(2, 6, 3, 4)
    x, xt = nnlite.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    scale = torch.sigmoid(fc2(torch.relu(fc1(xt.mean((2, 3), keepdim=True)))))
    y, yt = se(x), scale * xt
    assert_close(y, yt, rtol=1e-4, atol=1e-6)
    y.sum().backward()
    yt.sum().backward()
    assert_close(x.grad, xt.grad, rtol=1e-4, atol=1e-6)
    assert_close(se.fc1.weight.grad, fc1.weight.grad, rtol=1e-4, atol=1e-6)


def test_mlp_layer_order_keys_and_torch_parity(torch):
    mlp = MLP(5, [7, 3], norm_layer=nn.LayerNorm, dropout=0.2).eval()
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "Dropout", "Linear", "Dropout"]
    assert _shapes(mlp) == {"0.weight": (7, 5), "0.bias": (7,), "1.weight": (7,), "1.bias": (7,),
                            "4.weight": (3, 7), "4.bias": (3,)}
    ref = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.LayerNorm(7), torch.nn.ReLU(),
                              torch.nn.Dropout(0.2), torch.nn.Linear(7, 3), torch.nn.Dropout(0.2)).eval()
    _copy_weights(ref, mlp)
    x_np = randn(4, 2, 5)
    assert_close(mlp(nnlite.tensor(x_np)), ref(torch.tensor(x_np)), rtol=1e-4, atol=1e-6)
    no_bias = MLP(5, [3], bias=False, inplace=True)
    assert _shapes(no_bias) == {"0.weight": (3, 5)} and no_bias[1].inplace


def test_permute_matches_torch_with_grad(torch):
    x_np = randn(2, 3, 4, 5)
    x, xt = nnlite.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, yt = Permute([0, 2, 3, 1])(x), xt.permute(0, 2, 3, 1)
    assert_close(y, yt, rtol=0, atol=0)
    g = randn(*y.shape, seed=3)
    y.backward(nnlite.tensor(g))
    yt.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad, rtol=0, atol=0)


# ---------------------------------------------------------------- stochastic_depth

def test_stochastic_depth_row_mode_drops_whole_rows_at_rate_p():
    p = 0.3
    x_np = np.abs(randn(4000, 3, 2)) + 0.5
    x = nnlite.tensor(x_np)
    y = stochastic_depth(x, p, "row").numpy()
    np.testing.assert_array_equal(x.numpy(), x_np)
    dropped = (y == 0).all(axis=(1, 2))
    assert abs(dropped.mean() - p) < 0.03
    kept = ~dropped
    assert_close(y[kept], x_np[kept] / np.float32(1 - p), rtol=1e-6, atol=0)
    assert abs(y.mean() / x_np.mean() - 1) < 0.05  # expectation preserved


def test_stochastic_depth_batch_mode_is_all_or_nothing():
    x = nnlite.ones(3, 4)
    outcomes = {float(np.unique(stochastic_depth(x, 0.5, "batch").numpy())[0]) for _ in range(40)}
    assert outcomes == {0.0, 2.0}


def test_stochastic_depth_identity_cases_and_p_one():
    x = nnlite.tensor(randn(3, 2))
    assert stochastic_depth(x, 0.5, "row", training=False) is x
    assert stochastic_depth(x, 0.0, "row") is x
    assert np.all(stochastic_depth(x, 1.0, "row").numpy() == 0)
    module = StochasticDepth(0.5, "row").eval()
    assert module(x) is x and repr(module) == "StochasticDepth(p=0.5, mode=row)"


def _seeded(fn, seed=7):
    def call(*args):
        nnlite.manual_seed(seed)
        return fn(*args)
    return call


def test_stochastic_depth_gradient_is_the_scaled_mask(device):
    x = nnlite.tensor(randn(6, 2, dtype=np.float64), device=device, requires_grad=True)
    assert gradcheck(_seeded(lambda t: stochastic_depth(t, 0.5, "row")), (x,))
    y = _seeded(lambda t: stochastic_depth(t, 0.5, "row"))(x)
    y.sum().backward()
    rows_kept = (y.detach().cpu().numpy() != 0).any(axis=1)
    assert_close(x.grad.cpu().numpy(), np.repeat(rows_kept[:, None] * 2.0, 2, axis=1), rtol=0, atol=0)


@pytest.mark.parametrize("p, mode, message", [
    (-0.1, "row", "between 0 and 1"), (1.5, "batch", "between 0 and 1"), (0.2, "col", "'batch' or 'row'")])
def test_stochastic_depth_bad_arguments(p, mode, message):
    with pytest.raises(ValueError, match=f"stochastic_depth.*{message}"):
        stochastic_depth(nnlite.ones(2, 2), p, mode)


# ---------------------------------------------------------------- drop_block

def _drop_block_reference(x_np, p, block_size, seed, eps=1e-6):
    """torchvision's algorithm in numpy, on the uniform numbers nnlite's generator draws."""
    spatial = x_np.shape[2:]
    bs = min((block_size,) + spatial)
    valid = tuple(s - bs + 1 for s in spatial)
    gamma = p * np.prod(spatial) / (bs ** len(spatial) * np.prod(valid))
    nnlite.manual_seed(seed)
    uniform = nnlite.rand(x_np.shape[:2] + valid, dtype=nnlite.tensor(x_np).dtype).numpy()
    centres = (uniform < gamma).astype(x_np.dtype)
    dropped = np.zeros(x_np.shape, x_np.dtype)
    # A centre at valid index v covers spatial positions v .. v + bs - 1 (block grown by max-pool).
    for index in np.argwhere(centres):
        lo = index[2:]
        window = tuple(slice(i, i + bs) for i in lo)
        dropped[(index[0], index[1]) + window] = 1
    keep = 1 - dropped
    return x_np * keep * (keep.size / (eps + keep.sum())), keep


@pytest.mark.parametrize("dims, shape, p, block_size", [
    (2, (2, 3, 9, 8), 0.3, 3), (2, (1, 2, 5, 6), 0.5, 7), (3, (1, 2, 5, 4, 6), 0.2, 3)])
def test_drop_block_matches_numpy_reference(dims, shape, p, block_size):
    x_np = randn(*shape, dtype=np.float64)
    expected, _ = _drop_block_reference(x_np, p, block_size, seed=5)
    fn = drop_block2d if dims == 2 else drop_block3d
    nnlite.manual_seed(5)
    x = nnlite.tensor(x_np)
    assert_close(fn(x, p, block_size), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x.numpy(), x_np)


def test_drop_block_drop_rate_and_mean_preserved():
    x = nnlite.ones(2, 8, 32, 32)
    y = drop_block2d(x, 0.1, 3).numpy()
    assert 0.07 < (y == 0).mean() < 0.11  # about p, a little less where blocks overlap
    assert abs(y.mean() - 1) < 1e-5  # one global rescale keeps the mean exactly


def test_drop_block_gradcheck():
    # CPU only: gradcheck replays the forward ~50 times, too slow under the CUDA simulator.
    x = nnlite.tensor(randn(1, 2, 5, 5, dtype=np.float64), requires_grad=True)
    assert gradcheck(_seeded(lambda t: drop_block2d(t, 0.4, 3)), (x,))


def test_drop_block_gradient_is_the_scaled_mask_and_inplace(device):
    x = nnlite.tensor(randn(1, 1, 4, 4, dtype=np.float64), device=device, requires_grad=True)
    y = _seeded(lambda t: drop_block2d(t, 0.4, 3))(x)
    y.sum().backward()
    keep_scaled = y.detach().cpu().numpy() / x.detach().cpu().numpy()
    assert_close(x.grad.cpu().numpy(), keep_scaled, rtol=1e-12, atol=1e-12)
    buffer = nnlite.tensor(np.ones((1, 1, 4, 4)), device=device)
    assert drop_block2d(buffer, 0.4, 3, inplace=True) is buffer


@pytest.mark.parametrize("fn, shape, block_size, clamped", [(drop_block2d, (1, 1, 6, 6), 2, 2),
                                                            (drop_block3d, (1, 1, 4, 5, 6), 7, 4)])
def test_drop_block_rejects_even_block_size_after_clamping(fn, shape, block_size, clamped):
    # torchvision (pytorch/vision main) raises for an even block, also one clamped to an even side.
    with pytest.raises(ValueError, match=f"{fn.__name__}: block size should be odd. Got {clamped} "):
        fn(nnlite.ones(*shape), 0.3, block_size)


def test_drop_block_identity_cases_and_modules():
    x = nnlite.tensor(randn(1, 2, 4, 4))
    assert drop_block2d(x, 0.5, 3, training=False) is x and drop_block2d(x, 0.0, 3) is x
    assert DropBlock2d(0.5, 3).eval()(x) is x
    assert repr(DropBlock3d(0.1, 5)) == "DropBlock3d(p=0.1, block_size=5, inplace=False)"
    assert DropBlock3d(0.5, 3)(nnlite.ones(1, 1, 4, 4, 4)).shape == (1, 1, 4, 4, 4)


@pytest.mark.parametrize("fn, shape, p, message", [
    (drop_block2d, (1, 1, 4, 4), 1.2, "drop_block2d.*between 0 and 1"),
    (drop_block2d, (1, 4, 4), 0.1, r"drop_block2d.*4 dimensional.*Got 3.*\(1, 4, 4\)"),
    (drop_block3d, (1, 1, 4, 4), 0.1, r"drop_block3d.*5 dimensional.*Got 4")])
def test_drop_block_bad_arguments(fn, shape, p, message):
    with pytest.raises(ValueError, match=message):
        fn(nnlite.ones(*shape), p, 3)


# ---------------------------------------------------------------- empty batches, strided inputs

def test_layers_accept_an_empty_batch():
    empty = nnlite.ones(0, 3, 4, 4)
    for layer in (FrozenBatchNorm2d(3), Conv2dNormActivation(3, 2).eval(), SqueezeExcitation(3, 2),
                  StochasticDepth(0.5, "row"), DropBlock2d(0.5, 3)):
        out = layer(empty)
        assert out.shape[0] == 0 and out.shape[2:] == (4, 4)


@pytest.mark.parametrize("fn", [lambda t: drop_block2d(t, 0.4, 3), lambda t: stochastic_depth(t, 0.4, "row"),
                                FrozenBatchNorm2d(4)])
def test_non_contiguous_input_gives_the_contiguous_result(fn):
    strided = nnlite.tensor(randn(2, 5, 4, 6)).transpose(1, 2)
    assert not strided.is_contiguous()
    nnlite.manual_seed(3)
    expected = fn(strided.contiguous()).numpy()
    nnlite.manual_seed(3)
    assert_close(fn(strided), expected, rtol=0, atol=0)
