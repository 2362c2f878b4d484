"""state_dict / load_state_dict: the checkpoint protocol, hooks, extra state and assign, against torch."""
from collections import OrderedDict

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close

torch = pytest.importorskip("torch")


def _build(lib):
    return lib.nn.Sequential(OrderedDict([("conv", lib.nn.Conv2d(2, 3, 3)), ("bn", lib.nn.BatchNorm2d(3)),
                                          ("head", lib.nn.Sequential(lib.nn.Flatten(), lib.nn.Linear(3, 2)))]))


def _numpy_state(ref):
    return {k: v.numpy() for k, v in ref.state_dict().items()}


def test_keys_and_metadata_versions_match_torch():
    mine, ref = _build(nnlite).state_dict(), _build(torch).state_dict()
    assert list(mine) == list(ref)
    assert dict(mine._metadata) == dict(ref._metadata)


def test_non_strict_result_matches_torch():
    ref_state = _numpy_state(_build(torch))
    ref_state.pop("bn.running_mean")
    ref_state["extra.weight"] = np.zeros(1, np.float32)
    ref_state["head.1.bogus"] = np.zeros(1, np.float32)
    mine = _build(nnlite).load_state_dict(ref_state, strict=False)
    theirs = _build(torch).load_state_dict({k: torch.tensor(v) for k, v in ref_state.items()}, strict=False)
    assert mine.missing_keys == theirs.missing_keys
    assert sorted(mine.unexpected_keys) == sorted(theirs.unexpected_keys)
    assert repr(_build(nnlite).load_state_dict(_numpy_state(_build(torch)))) == "<All keys matched successfully>"


def test_size_mismatch_raises_even_when_not_strict():
    state = _numpy_state(_build(torch))
    state["conv.weight"] = np.zeros((1, 2, 3, 3), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for conv.weight: copying a param with shape"):
        _build(nnlite).load_state_dict(state, strict=False)


def test_assign_replaces_tensors_and_keeps_requires_grad():
    lin = nn.Linear(2, 2)
    lin.bias.requires_grad_(False)
    new_w, new_b = nnlite.ones(2, 2, dtype=nnlite.float64), nnlite.zeros(2, dtype=nnlite.float64)
    old_w = lin.weight
    lin.load_state_dict({"weight": new_w, "bias": new_b}, assign=True)
    assert lin.weight is not old_w and isinstance(lin.weight, nn.Parameter)
    assert lin.weight.dtype == nnlite.float64       # assign keeps the checkpoint's tensor, dtype included
    assert lin.weight.requires_grad and not lin.bias.requires_grad
    new_w.add_(1.0)                                 # and shares its memory
    assert_close(lin.weight, np.full((2, 2), 2.0))
    copied = nn.Linear(2, 2)
    copied.load_state_dict({"weight": new_w, "bias": new_b})
    assert copied.weight.dtype == nnlite.float32


class Legacy(nn.Module):
    """A module whose version 1 checkpoints called its weight `w`: renamed before keys are checked."""

    _version = 2

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(nnlite.zeros(2))
        self.seen_metadata = None

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        self.seen_metadata = dict(local_metadata)
        if local_metadata.get("version", 1) < 2 and prefix + "w" in state_dict:
            state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def test_load_from_state_dict_override_renames_legacy_keys():
    model = nn.Sequential(Legacy())
    old = OrderedDict([("0.w", nnlite.ones(2))])
    old._metadata = OrderedDict([("", {"version": 1}), ("0", {"version": 1})])
    assert repr(model.load_state_dict(old)) == "<All keys matched successfully>"
    assert_close(model[0].weight, np.ones(2))
    assert model[0].seen_metadata == {"version": 1}
    saved = model.state_dict()
    assert saved._metadata["0"] == {"version": 2}
    model.load_state_dict({"0.weight": nnlite.zeros(2)})
    assert model[0].seen_metadata == {}               # a plain dict carries no metadata
    current = OrderedDict([("0.w", nnlite.ones(2)), ("0.weight", nnlite.ones(2))])
    current._metadata = saved._metadata                # version 2: `w` is not renamed any more
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "0.w"'):
        model.load_state_dict(current)


class WithExtra(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.config = {"k": 1}

    def get_extra_state(self):
        return dict(self.config)

    def set_extra_state(self, state):
        self.config = state


class TorchWithExtra(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(1, 1)

    def get_extra_state(self):
        return {"k": 1}

    def set_extra_state(self, state):
        pass


def test_extra_state_key_is_saved_and_restored_like_torch():
    model = nn.Sequential(WithExtra())
    ref = torch.nn.Sequential(TorchWithExtra())
    assert list(model.state_dict()) == list(ref.state_dict()) == ["0._extra_state", "0.lin.weight", "0.lin.bias"]
    state = model.state_dict()
    state["0._extra_state"] = {"k": 7}
    model.load_state_dict(state)
    assert model[0].config == {"k": 7}
    del state["0._extra_state"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "0._extra_state"'):
        model.load_state_dict(state)
    plain = nn.Sequential(nn.Linear(1, 1))
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "0._extra_state"'):
        plain.load_state_dict({**plain.state_dict(), "0._extra_state": 1})


def test_state_dict_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    lin.register_state_dict_pre_hook(lambda m, prefix, keep_vars: calls.append(("pre", prefix, keep_vars)))

    def post(module, state, prefix, local_metadata):
        calls.append(("post", prefix, local_metadata))
        state[prefix + "note"] = 1
    lin.register_state_dict_post_hook(post)
    outer = nn.Sequential(lin)
    state = outer.state_dict()
    assert calls == [("pre", "0.", False), ("post", "0.", {"version": 1})]
    assert state["0.note"] == 1
    lin.register_state_dict_post_hook(lambda *a: {})
    with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
        lin.state_dict()
    with pytest.raises(RuntimeError, match="Cannot register the same function"):
        lin._register_state_dict_hook(post)
    relu = nn.ReLU()
    relu._register_state_dict_hook(lambda m, s, p, md: OrderedDict(replaced=True))
    assert relu.state_dict() == OrderedDict(replaced=True)


def test_load_state_dict_hooks_and_post_hook_can_clear_keys():
    lin = nn.Linear(2, 2)
    seen = []
    lin.register_load_state_dict_pre_hook(
        lambda m, sd, prefix, md, strict, missing, unexpected, errors: seen.append((m, prefix, sorted(sd))))

    def forgive(module, incompatible):
        seen.append(list(incompatible.missing_keys))
        incompatible.missing_keys.clear()
    lin.register_load_state_dict_post_hook(forgive)
    result = lin.load_state_dict({"weight": nnlite.ones(2, 2)})
    assert seen[0] == (lin, "", ["weight"])
    assert seen[1] == ["bias"]
    assert result.missing_keys == []
    lin.register_load_state_dict_post_hook(lambda m, k: 1)
    with pytest.raises(AssertionError, match="not expected to return new values"):
        lin.load_state_dict(lin.state_dict())


def test_state_dict_hooks_agree_with_torch_on_the_order_of_calls():
    events = {}
    for lib in (nnlite, torch):
        log = events[lib.__name__] = []
        model = lib.nn.Sequential(lib.nn.Linear(1, 1), lib.nn.ReLU())
        for name, m in model.named_modules():
            m.register_state_dict_pre_hook(lambda mod, p, kv, name=name: log.append(("pre", name)))
            m.register_state_dict_post_hook(lambda mod, sd, p, md, name=name: log.append(("post", name)))
            m.register_load_state_dict_post_hook(lambda mod, keys, name=name: log.append(("load", name)))
        model.load_state_dict(model.state_dict())
    assert events["nnlite"] == events["torch"]
