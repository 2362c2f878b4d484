"""nnlite.nn.utils.prune against torch.nn.utils.prune: masks, names, forward, container, errors."""
import math

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite.nn.utils import prune
from nnlite.nn.utils._prune_select import topk_indices
from tests.helpers import assert_close, randn, to_numpy

torch = pytest.importorskip("torch")
tprune = pytest.importorskip("torch.nn.utils.prune")


def _weights(shape, seed=0, tied=False):
    rng = np.random.default_rng(seed)
    if tied:   # few distinct values and zeros: ties at the cut
        return rng.integers(-2, 3, shape).astype(np.float64)
    return rng.standard_normal(shape)


def _twins(kind="linear", tied=False, device="cpu", seed=0):
    """The same float64 layer in nnlite and torch (same weight and bias)."""
    if kind == "linear":
        ours, theirs = nn.Linear(6, 5), torch.nn.Linear(6, 5)
    else:
        ours, theirs = nn.Conv2d(3, 4, 2), torch.nn.Conv2d(3, 4, 2)
    ours, theirs = ours.double(), theirs.double()
    w = _weights(tuple(theirs.weight.shape), seed, tied)
    b = _weights(tuple(theirs.bias.shape), seed + 1, tied)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    ours.weight = nn.Parameter(nnlite.tensor(w, device=device))
    ours.bias = nn.Parameter(nnlite.tensor(b, device=device))
    return ours, theirs


def _same_mask(ours, theirs, name="weight"):
    got, want = to_numpy(getattr(ours, name + "_mask")), to_numpy(getattr(theirs, name + "_mask"))
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- deterministic methods
@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 1.0, 0, 7, 30])
@pytest.mark.parametrize("tied", [False, True])
def test_l1_unstructured_mask_equals_torch(amount, tied):
    ours, theirs = _twins(tied=tied)
    prune.l1_unstructured(ours, "weight", amount)
    tprune.l1_unstructured(theirs, "weight", amount)
    _same_mask(ours, theirs)
    assert ours.weight_mask.dtype == nnlite.float64


@pytest.mark.parametrize("n", [1, 2, 3, 0.5, math.inf, -math.inf])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_ln_structured_mask_equals_torch(n, dim):
    ours, theirs = _twins("conv", seed=3)
    prune.ln_structured(ours, "weight", 0.5, n, dim)
    tprune.ln_structured(theirs, "weight", 0.5, n, dim)
    _same_mask(ours, theirs)


@pytest.mark.parametrize("n", ["fro", "nuc"])
def test_ln_structured_matrix_norms_equal_torch(n):
    ours, theirs = _twins("conv", seed=8)
    view = (slice(None), slice(None), 0, 0)    # a 3-D slice: two dims left per channel
    ours3, theirs3 = nn.Module(), torch.nn.Module()
    ours3.w = nn.Parameter(nnlite.tensor(to_numpy(ours.weight)[view[:3]]))
    theirs3.w = torch.nn.Parameter(theirs.weight.detach()[view[:3]].clone())
    prune.ln_structured(ours3, "w", 2, n, 0)
    tprune.ln_structured(theirs3, "w", 2, n, 0)
    _same_mask(ours3, theirs3, "w")
    for mod, layer in ((prune, ours), (tprune, theirs)):    # 4-D: three dims left, torch refuses
        with pytest.raises(RuntimeError, match="linalg.matrix_norm: dim must be a 2-tuple. Got 1 2 3"):
            mod.ln_structured(layer, "weight", 1, n, 0)


def test_ln_structured_tied_channels_and_int_amount_equal_torch():
    ours, theirs = _twins("conv", tied=True, seed=5)
    for layer in (ours, theirs):   # two zero channels and two equal ones: the norms tie
        with (nnlite.no_grad() if layer is ours else torch.no_grad()):
            layer.weight[0] = 0
            layer.weight[2] = 0
            layer.weight[3] = layer.weight[1]
    prune.ln_structured(ours, "weight", 3, 1, 0)
    tprune.ln_structured(theirs, "weight", 3, 1, 0)
    _same_mask(ours, theirs)


def test_custom_from_mask_and_identity_equal_torch():
    ours, theirs = _twins()
    mask = (np.arange(30).reshape(5, 6) % 3 != 0).astype(np.float64)
    our_mask = nnlite.tensor(mask)
    prune.custom_from_mask(ours, "weight", our_mask)
    tprune.custom_from_mask(theirs, "weight", torch.tensor(mask))
    _same_mask(ours, theirs)
    np.testing.assert_array_equal(to_numpy(our_mask), mask)       # the given mask is not modified
    prune.identity(ours, "bias")
    tprune.identity(theirs, "bias")
    _same_mask(ours, theirs, "bias")
    assert list(ours.state_dict()) == list(theirs.state_dict())


# ---------------------------------------------------------------- reparametrisation
def test_state_dict_keys_names_and_forward_equal_torch():
    ours, theirs = _twins("conv")
    prune.l1_unstructured(ours, "weight", 0.4)
    prune.l1_unstructured(ours, "bias", 2)
    tprune.l1_unstructured(theirs, "weight", 0.4)
    tprune.l1_unstructured(theirs, "bias", 2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert "weight" not in ours._parameters and isinstance(ours.weight, nnlite.Tensor)
    assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 4))
    xo, xt = nnlite.tensor(x), torch.tensor(x)
    ours(xo).sum().backward()
    theirs(xt).sum().backward()
    assert_close(ours(xo), theirs(xt), rtol=1e-12, atol=1e-12)
    assert_close(ours.weight_orig.grad, theirs.weight_orig.grad, rtol=1e-12, atol=1e-12)


def test_forward_pre_hook_recomputes_weight_after_training_step():
    ours, theirs = _twins()
    prune.l1_unstructured(ours, "weight", 0.5)
    tprune.l1_unstructured(theirs, "weight", 0.5)
    with nnlite.no_grad():
        ours.weight_orig.add_(1.0)
    with torch.no_grad():
        theirs.weight_orig.add_(1.0)
    x = np.ones((1, 6))
    assert_close(ours(nnlite.tensor(x)), theirs(torch.tensor(x)), rtol=1e-12, atol=1e-12)
    assert_close(ours.weight, theirs.weight, rtol=0, atol=0)


def test_iterative_pruning_goes_through_one_container_like_torch():
    ours, theirs = _twins("conv", seed=11)
    steps = [("l1_unstructured", (0.3,)), ("ln_structured", (1, 2, 0)), ("l1_unstructured", (5,)),
             ("ln_structured", (0.34, 1, 1)), ("l1_unstructured", (0.5,))]
    for fn, args in steps:
        getattr(prune, fn)(ours, "weight", *args)
        getattr(tprune, fn)(theirs, "weight", *args)
        _same_mask(ours, theirs)
    hooks = [h for h in ours._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer) and len(hooks[0]) == 5
    assert [type(m).__name__ for m in hooks[0]] == ["L1Unstructured", "LnStructured", "L1Unstructured",
                                                    "LnStructured", "L1Unstructured"]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    prune.custom_from_mask(ours, "weight", nnlite.ones(4, 3, 2, 2, dtype=nnlite.float64))
    assert len(hooks[0]) == 6


def test_container_built_by_hand_computes_torchs_mask():
    w = _weights((4, 5), seed=12)
    methods = []
    for mod in (prune, tprune):
        first, second = mod.L1Unstructured(0.5), mod.LnStructured(2, 1, 0)
        first._tensor_name = second._tensor_name = "w"
        container = mod.PruningContainer(first)      # torch's own constructor takes one method
        container.add_pruning_method(second)
        methods.append(container)
    ours, theirs = methods
    assert len(prune.PruningContainer(*ours)) == 2      # nnlite also takes several
    assert len(ours) == 2 and ours[1].n == 1 and ours._tensor_name == "w"
    default = np.ones((4, 5))
    default[1] = 0          # channel 1 already pruned: LnStructured chooses among the other three
    default[0, 3] = 0
    got = ours.compute_mask(nnlite.tensor(w), nnlite.tensor(default))
    want = theirs.compute_mask(torch.tensor(w), torch.tensor(default).clone())
    np.testing.assert_array_equal(to_numpy(got), want.numpy())
    assert default[0, 3] == 0 and default.sum() == 14          # the given mask is not modified


def test_float32_model_state_dict_round_trip():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    prune.l1_unstructured(model[0], "weight", 0.5)
    prune.random_structured(model[2], "weight", 1, 0)
    assert model[0].weight_mask.dtype == nnlite.float32 and model[0].weight.dtype == nnlite.float32
    state = model.state_dict()
    twin = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    prune.identity(twin[0], "weight")
    prune.identity(twin[2], "weight")
    twin.load_state_dict(state)
    x = nnlite.tensor(randn(5, 4))
    assert_close(twin(x), model(x), rtol=0, atol=0)


def test_importance_scores_choose_the_mask_and_are_not_modified():
    ours, theirs = _twins()
    scores = _weights((5, 6), seed=9)
    our_scores = nnlite.tensor(scores)
    prune.l1_unstructured(ours, "weight", 0.5, importance_scores=our_scores)
    tprune.l1_unstructured(theirs, "weight", 0.5, importance_scores=torch.tensor(scores))
    _same_mask(ours, theirs)
    np.testing.assert_array_equal(to_numpy(our_scores), scores)
    prune.ln_structured(ours, "weight", 1, 2, 0, importance_scores=our_scores)
    tprune.ln_structured(theirs, "weight", 1, 2, 0, importance_scores=torch.tensor(scores))
    _same_mask(ours, theirs)


# ---------------------------------------------------------------- global pruning
def test_global_unstructured_equals_torch_and_stacks_on_earlier_masks():
    (a, ta), (b, tb) = _twins(seed=1), _twins("conv", seed=2)
    prune.l1_unstructured(a, "bias", 2)
    tprune.l1_unstructured(ta, "bias", 2)
    ours = [(a, "weight"), (a, "bias"), (b, "weight")]
    theirs = [(ta, "weight"), (ta, "bias"), (tb, "weight")]
    prune.global_unstructured(ours, pruning_method=prune.L1Unstructured, amount=0.4)
    tprune.global_unstructured(theirs, pruning_method=tprune.L1Unstructured, amount=0.4)
    for (m, name), (tm, _) in zip(ours, theirs):
        _same_mask(m, tm, name)
    prune.global_unstructured(iter(ours), pruning_method=prune.L1Unstructured, amount=10)
    tprune.global_unstructured(theirs, pruning_method=tprune.L1Unstructured, amount=10)
    for (m, name), (tm, _) in zip(ours, theirs):
        _same_mask(m, tm, name)
    total = sum(int((to_numpy(getattr(m, n + "_mask")) == 0).sum()) for m, n in ours)
    assert total == 2 + round(0.4 * (30 + 5 + 48 - 2)) + 10     # the fraction counts live entries only


def test_global_unstructured_with_importance_scores():
    (a, ta), (b, tb) = _twins(seed=4), _twins(seed=5)
    s = _weights((5, 6), seed=6)
    prune.global_unstructured([(a, "weight"), (b, "weight")], prune.L1Unstructured,
                              importance_scores={(a, "weight"): nnlite.tensor(s)}, amount=17)
    tprune.global_unstructured([(ta, "weight"), (tb, "weight")], tprune.L1Unstructured,
                               importance_scores={(ta, "weight"): torch.tensor(s)}, amount=17)
    _same_mask(a, ta)
    _same_mask(b, tb)


# ---------------------------------------------------------------- random methods
def test_random_unstructured_prunes_the_count_and_follows_the_seed():
    masks = []
    for _ in range(2):
        nnlite.manual_seed(3)
        layer, _ = _twins("conv")
        prune.random_unstructured(layer, "weight", 0.25)
        masks.append(to_numpy(layer.weight_mask))
    assert (masks[0] == 0).sum() == round(0.25 * 48) and set(np.unique(masks[0])) == {0.0, 1.0}
    np.testing.assert_array_equal(masks[0], masks[1])
    prune.random_unstructured(layer, "weight", 5)      # 5 more among the still-unpruned entries
    assert (to_numpy(layer.weight_mask) == 0).sum() == 12 + 5


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_random_structured_zeroes_whole_channels(dim):
    nnlite.manual_seed(0)
    layer, _ = _twins("conv")
    prune.random_structured(layer, "weight", 0.5, dim)
    mask = np.moveaxis(to_numpy(layer.weight_mask), dim, 0).reshape(layer.weight.shape[dim], -1)
    per_channel = mask.min(axis=1)
    assert (mask.max(axis=1) == per_channel).all()            # each channel all 0 or all 1
    assert (per_channel == 0).sum() == round(0.5 * layer.weight.shape[dim])


# ---------------------------------------------------------------- remove, is_pruned, subclassing
def test_remove_makes_pruning_permanent_like_torch():
    ours, theirs = _twins("conv")
    model, tmodel = nn.Sequential(nn.ReLU(), ours), torch.nn.Sequential(torch.nn.ReLU(), theirs)
    assert not prune.is_pruned(model)
    prune.l1_unstructured(ours, "weight", 0.5)
    prune.l1_unstructured(ours, "weight", 3)
    tprune.l1_unstructured(theirs, "weight", 0.5)
    tprune.l1_unstructured(theirs, "weight", 3)
    assert prune.is_pruned(model) and tprune.is_pruned(tmodel)
    assert prune.remove(ours, "weight") is ours
    tprune.remove(theirs, "weight")
    assert not prune.is_pruned(model)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    assert isinstance(ours.weight, nn.Parameter) and not ours._forward_pre_hooks
    assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
    with pytest.raises(ValueError, match="Parameter 'weight' of module .* has to be pruned before pruning "
                                         "can be removed"):
        prune.remove(ours, "weight")


def test_subclassed_method_apply_and_prune():
    class EveryOther(prune.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            mask = default_mask.clone()
            mask.view(-1)[::2] = 0
            return mask

    layer, _ = _twins()
    method = EveryOther.apply(layer, "weight")
    assert isinstance(method, EveryOther) and method._tensor_name == "weight"
    assert to_numpy(layer.weight_mask).reshape(-1).tolist() == [0.0, 1.0] * 15
    t = nnlite.tensor(np.arange(1.0, 5.0))
    assert to_numpy(method.prune(t)).tolist() == [0.0, 2.0, 0.0, 4.0]
    assert to_numpy(prune.L1Unstructured(2).prune(t)).tolist() == [0.0, 0.0, 3.0, 4.0]


def test_prune_on_device_matches_cpu(device):
    ours, _ = _twins("conv", device=device, tied=True)
    ref, _ = _twins("conv", tied=True)
    for layer in (ours, ref):
        prune.l1_unstructured(layer, "weight", 0.3)
        prune.ln_structured(layer, "weight", 1, 2, 0)
    assert ours.weight_mask.device.type == device
    np.testing.assert_array_equal(to_numpy(ours.weight_mask), to_numpy(ref.weight_mask))
    x = nnlite.tensor(np.ones((1, 3, 3, 3)), device=device)
    assert_close(ours(x), ref(x.cpu()), rtol=1e-12, atol=1e-12)
    moved = ref.to(device)          # pruned on the CPU, then moved: the hook follows the module
    assert moved.weight_mask.device.type == device
    assert_close(moved(x), ref.cpu()(x.cpu()), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- errors (torch's types and messages)
@pytest.mark.parametrize("amount, error, message", [
    (1.5, ValueError, r"amount=1.5 should either be a float in the range \[0, 1\] or a non-negative integer"),
    (-0.1, ValueError, r"amount=-0.1 should either be a float in the range \[0, 1\] or a non-negative integer"),
    (-1, ValueError, r"amount=-1 should either be a float in the range \[0, 1\] or a non-negative integer"),
    (31, ValueError, "amount=31 should be smaller than the number of parameters to prune=30"),
    ("half", TypeError, "Invalid type for amount: half. Must be int or float."),
])
def test_bad_amounts_raise_torch_errors(amount, error, message):
    ours, theirs = _twins()
    for mod, layer in ((prune, ours), (tprune, theirs)):
        with pytest.raises(error, match=message):
            mod.l1_unstructured(layer, "weight", amount)
    assert "weight" in ours._parameters and "weight_orig" not in ours._parameters   # left as it was
    assert "weight_mask" not in ours._buffers and not ours._forward_pre_hooks


def test_failed_second_pruning_leaves_the_first_in_place():
    ours, _ = _twins()
    prune.l1_unstructured(ours, "weight", 10)
    prune.l1_unstructured(ours, "weight", 5)
    before = to_numpy(ours.weight_mask).copy()
    hooks = dict(ours._forward_pre_hooks)
    with pytest.raises(ValueError, match="amount=16 should be smaller than the number of parameters to prune=15"):
        prune.l1_unstructured(ours, "weight", 16)
    with pytest.raises(AssertionError, match="importance_scores should have the same shape"):
        prune.ln_structured(ours, "weight", 1, 2, 0, importance_scores=nnlite.ones(2, 2))
    assert dict(ours._forward_pre_hooks) == hooks and len(next(iter(hooks.values()))) == 2
    np.testing.assert_array_equal(to_numpy(ours.weight_mask), before)
    assert prune.is_pruned(ours) and (before == 0).sum() == 15


def test_structured_errors_raise_like_torch():
    ours, theirs = _twins()
    for mod, layer in ((prune, ours), (tprune, theirs)):
        with pytest.raises(ValueError, match="amount=6 should be smaller than the number of parameters to prune=5"):
            mod.ln_structured(layer, "weight", 6, 2, 0)
        with pytest.raises(ValueError, match="Structured pruning can only be applied to multidimensional tensors"):
            mod.random_structured(layer, "bias", 1, 0)
        with pytest.raises(IndexError, match="Invalid index 2 for tensor of size"):
            mod.ln_structured(layer, "weight", 1, 2, 2)


def test_misuse_errors_raise_like_torch():
    ours, theirs = _twins()
    for mod, layer in ((prune, ours), (tprune, theirs)):
        with pytest.raises(TypeError, match='Only "unstructured" PRUNING_TYPE supported'):
            mod.global_unstructured([(layer, "weight")], mod.RandomStructured, amount=1)
        with pytest.raises(TypeError, match="global_unstructured\\(\\): parameters is not an Iterable"):
            mod.global_unstructured(5, mod.L1Unstructured, amount=1)
        with pytest.raises(TypeError, match="importance_scores must be of type dict"):
            mod.global_unstructured([(layer, "weight")], mod.L1Unstructured, importance_scores=[1], amount=1)
        with pytest.raises(TypeError, match="is not a BasePruningMethod subclass"):
            mod.PruningContainer().add_pruning_method(3)
    with pytest.raises(AssertionError, match="importance_scores should have the same shape as parameter weight"):
        prune.l1_unstructured(ours, "weight", 1, importance_scores=nnlite.ones(3))
    named = prune.Identity()
    named._tensor_name = "bias"
    with pytest.raises(ValueError, match="Can only add pruning methods acting on the parameter named 'weight'"):
        prune.PruningContainer(prune.L1Unstructured.apply(ours, "weight", 1)).add_pruning_method(named)


# ---------------------------------------------------------------- the tie-matching selection
def test_topk_indices_pick_torchs_entries_on_ties():
    rng = np.random.default_rng(1)
    for trial in range(300):
        n = int(rng.integers(1, 300))
        k = int(rng.integers(0, n + 1))
        values = rng.integers(0, 3, n).astype(np.float32)
        if trial % 5 == 0:
            values[rng.random(n) < 0.1] = np.nan
        for largest in (False, True):
            want = torch.topk(torch.from_numpy(values), k, largest=largest).indices.numpy()
            assert set(topk_indices(values, k, largest).tolist()) == set(want.tolist()), (n, k, largest)
