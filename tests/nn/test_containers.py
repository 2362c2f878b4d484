"""Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict: behaviour and reprs vs torch."""
from collections import OrderedDict

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close


def test_sequential_indexing_slicing_and_iteration():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    assert list(seq) == [a, b, c]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    with pytest.raises(IndexError, match="index 3 is out of range"):
        seq[3]
    del seq[0]
    assert list(seq._modules) == ["0", "1"] and seq[1] is c
    assert seq.pop(0).__class__ is nn.Tanh and len(seq) == 1


def test_sequential_append_insert_extend_add_mul():
    seq = nn.Sequential(nn.ReLU())
    seq.append(nn.Tanh()).insert(0, nn.Identity()).extend([nn.Sigmoid()])
    assert [type(m).__name__ for m in seq] == ["Identity", "ReLU", "Tanh", "Sigmoid"]
    assert len(seq + nn.Sequential(nn.ReLU())) == 5
    assert len(seq * 2) == 8 and (seq * 2)[4] is seq[0]
    seq += nn.Sequential(nn.ReLU())
    assert len(seq) == 5
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        seq + nn.ReLU()
    with pytest.raises(ValueError, match="Non-positive multiplication factor"):
        seq * 0


def test_sequential_from_ordered_dict_and_forward():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(OrderedDict([("lin", lin), ("act", nn.Tanh())]))
    assert seq.lin is lin
    x = nnlite.tensor([[1.0, -2.0]])
    want = np.tanh(x.numpy() @ lin.weight.detach().numpy().T + lin.bias.detach().numpy())
    assert_close(seq(x), want)


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.insert(0, nn.Tanh())
    assert isinstance(layers[0], nn.Tanh) and isinstance(layers[-1], nn.ReLU)
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    layers += [nn.Sigmoid()]
    assert len(layers + nn.ModuleList([nn.ReLU()])) == 6
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        layers.extend(nn.ReLU)
    with pytest.raises(IndexError, match="index 9 is out of range"):
        layers[9]


def test_module_dict():
    d = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Tanh()})
    assert list(d) == ["b", "a"] and "a" in d and len(d) == 2
    d["c"] = nn.Identity()
    d.update([("e", nn.Sigmoid())])
    assert list(d.keys()) == ["b", "a", "c", "e"]
    assert isinstance(d.pop("a"), nn.Tanh) and "a" not in d
    with pytest.raises(ValueError, match="has length 1; 2 is required"):
        d.update([("x",)])
    d.clear()
    assert len(d) == 0


def test_parameter_list_and_dict_register_parameters():
    plist = nn.ParameterList([nnlite.ones(2), nn.Parameter(nnlite.zeros(3))])
    assert all(isinstance(p, nn.Parameter) for p in plist) and len(plist) == 2
    plist.append(nnlite.ones(1))
    assert [n for n, _ in plist.named_parameters()] == ["0", "1", "2"]
    assert len(plist[1:]) == 2
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        plist(1)
    pdict = nn.ParameterDict({"w": nnlite.ones(2)})
    pdict["b"] = nnlite.zeros(1)
    assert isinstance(pdict["w"], nn.Parameter) and list(pdict) == ["w", "b"]
    assert [n for n, _ in pdict.named_parameters()] == ["w", "b"]
    assert pdict.get("missing", 5) == 5 and pdict.pop("b").shape == (1,)
    assert list((pdict | nn.ParameterDict({"z": nnlite.ones(1)})).keys()) == ["w", "z"]
    with pytest.raises(TypeError, match="not a string"):
        pdict[1] = nnlite.ones(1)


def test_container_reprs_match_torch(torch):
    def reprs(lib):
        return [
            repr(lib.nn.ModuleList([lib.nn.Linear(2, 2) for _ in range(3)] + [lib.nn.ReLU(), lib.nn.ReLU()])),
            repr(lib.nn.ModuleList()),
            repr(lib.nn.Sequential(lib.nn.Linear(1, 2), lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Linear(2, 3)))),
            repr(lib.nn.ModuleDict({"x": lib.nn.Tanh()})),
        ]
    assert reprs(nnlite) == reprs(torch)


def test_parameter_container_reprs_match_torch_up_to_library_name(torch):
    ours = repr(nn.ParameterList([nn.Parameter(nnlite.ones(2, 3)), nnlite.zeros(2)]))
    theirs = repr(torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2, 3)), torch.zeros(2)]))
    assert ours == theirs.replace("torch.", "nnlite.")
    ours = repr(nn.ParameterDict({"a": nn.Parameter(nnlite.ones(2, 3))}))
    theirs = repr(torch.nn.ParameterDict({"a": torch.nn.Parameter(torch.ones(2, 3))}))
    assert ours == theirs.replace("torch.", "nnlite.")
