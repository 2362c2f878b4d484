"""nnlite.save / nnlite.load: round trips of state dicts (dtypes, devices, structure) without pickle."""
import io
import os
import pathlib
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite import optim
from tests.helpers import assert_close


def _roundtrip(obj, **load_kwargs):
    buf = io.BytesIO()
    nnlite.save(obj, buf)
    buf.seek(0)
    return nnlite.load(buf, **load_kwargs)


def _model():
    return nn.ModuleDict({"body": nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
                          "norm": nn.BatchNorm1d(4)})


def test_model_and_optimizer_state_dicts_roundtrip(tmp_path):
    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    model["body"](nnlite.randn(5, 3)).sum().backward()
    opt.step()
    path = tmp_path / "checkpoint.pt"
    nnlite.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7}, path)
    assert path.exists() and not (tmp_path / "checkpoint.pt.npz").exists()  # the exact path, as torch
    back = nnlite.load(path)
    assert back["epoch"] == 7
    assert isinstance(back["model"], OrderedDict) and list(back["model"]) == list(model.state_dict())
    assert back["model"]["norm.num_batches_tracked"].dtype is nnlite.int64
    assert back["model"]["norm.num_batches_tracked"].ndim == 0
    fresh = _model()
    fresh.load_state_dict(back["model"])
    x = nnlite.randn(2, 3)
    assert_close(fresh["body"](x), model["body"](x))
    saved = back["optimizer"]
    assert list(saved["state"]) == [0, 1, 2, 3] and saved["param_groups"][0]["betas"] == (0.9, 0.999)
    assert saved["param_groups"][0]["foreach"] is None and saved["param_groups"][0]["amsgrad"] is True
    twin = optim.Adam(fresh.parameters())
    twin.load_state_dict(saved)
    weight, twin_weight = model["body"][0].weight, fresh["body"][0].weight
    for key in ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]:
        assert_close(twin.state[twin_weight][key], opt.state[weight][key])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"])
def test_dtypes_roundtrip(dtype):
    data = np.arange(-3, 3).reshape(2, 3).astype(dtype)
    back = _roundtrip({"t": nnlite.tensor(data)})["t"]
    assert back.dtype.name == dtype
    np.testing.assert_array_equal(back.numpy(), data)


def test_devices_roundtrip_and_map_location(device):
    t = nnlite.tensor([1.0, 2.0], device=device)
    back = _roundtrip([t])
    assert back[0].device.type == device
    assert _roundtrip([t], map_location="cpu")[0].device.type == "cpu"
    assert _roundtrip([t], map_location={str(t.device): "cpu"})[0].device.type == "cpu"
    assert _roundtrip([t.cpu()], map_location=nnlite.device(device))[0].device.type == device
    with pytest.raises(TypeError, match="map_location must be"):
        _roundtrip([t], map_location=3)


def test_structure_types_and_values_roundtrip():
    obj = {1: "int key", (2, "b"): [None, True, 1.5, float("inf"), float("nan")],
           "nested": OrderedDict(a={"b": (1, 2)}), "dtype": nnlite.float64, "dev": nnlite.device("cpu"),
           "array": np.arange(3), "__tensor__": "a key that looks like a tag"}
    back = _roundtrip(obj)
    assert list(back) == list(obj)
    assert back[1] == "int key" and back["__tensor__"] == obj["__tensor__"]
    values = back[(2, "b")]
    assert values[:4] == [None, True, 1.5, float("inf")] and np.isnan(values[4])
    assert isinstance(back["nested"], OrderedDict) and back["nested"]["a"]["b"] == (1, 2)
    assert back["dtype"] is nnlite.float64 and back["dev"] == nnlite.device("cpu")
    np.testing.assert_array_equal(back["array"], np.arange(3))


def test_parameters_requires_grad_and_shared_tensors():
    p = nn.Parameter(nnlite.ones(2))
    t = nnlite.zeros(3, requires_grad=True)
    back = _roundtrip({"p": p, "again": p, "t": t})
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert back["again"] is back["p"]
    assert back["t"].requires_grad and not isinstance(back["t"], nn.Parameter)
    model = nn.Linear(2, 2)
    kept = _roundtrip(model.state_dict(keep_vars=True))
    assert isinstance(kept["weight"], nn.Parameter)


def test_paths_as_str_and_pathlike(tmp_path):
    for path in [str(tmp_path / "a.ckpt"), pathlib.Path(tmp_path / "b")]:
        nnlite.save({"x": nnlite.ones(1)}, path)
        assert_close(nnlite.load(path)["x"], np.ones(1))


def test_unsupported_objects_are_refused():
    with pytest.raises(TypeError, match="cannot save an object of type object"):
        _roundtrip({"x": object()})
    with pytest.raises(TypeError, match="cannot save an object of type Linear"):
        _roundtrip(nn.Linear(1, 1))


class _Payload:
    """Unpickling this creates a marker file: proof that a loader ran code from the file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_bearing_files_are_refused_without_running_them(tmp_path):
    marker = str(tmp_path / "ran")
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"w": _Payload(marker)}))
    with pytest.raises(ValueError, match="not an nnlite checkpoint"):
        nnlite.load(plain)
    in_zip = tmp_path / "zip.pt"  # torch.save's layout: a zip holding data.pkl
    with zipfile.ZipFile(in_zip, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="looks like a torch.save file"):
        nnlite.load(in_zip)
    object_array = tmp_path / "objects.npz"  # valid metadata pointing at a pickled object array
    buf = io.BytesIO()
    nnlite.save({"a": np.zeros(1)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(object_array, "w") as dst:
        dst.writestr("__nnlite__.npy", src.read("__nnlite__.npy"))
        payload = io.BytesIO()
        np.save(payload, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
        dst.writestr("t0.npy", payload.getvalue())
    with pytest.raises(ValueError, match="cannot be read without unpickling"):
        nnlite.load(object_array)
    assert not os.path.exists(marker)


def test_malformed_metadata_is_refused(tmp_path):
    def write(meta):
        path = tmp_path / "bad.npz"
        with zipfile.ZipFile(path, "w") as z:
            payload = io.BytesIO()
            np.save(payload, np.frombuffer(meta.encode(), np.uint8))
            z.writestr("__nnlite__.npy", payload.getvalue())
        return path
    with pytest.raises(ValueError, match="unknown tag '__pickle__'"):
        nnlite.load(write('{"format": "nnlite-checkpoint", "version": 1, "root": {"__pickle__": "x"}}'))
    with pytest.raises(ValueError, match="missing array 't9'"):
        nnlite.load(write('{"format": "nnlite-checkpoint", "version": 1, "root": {"__ndarray__": "t9"}}'))
    with pytest.raises(ValueError, match="unknown metadata"):
        nnlite.load(write('{"format": "other", "version": 1, "root": null}'))
    with pytest.raises(ValueError, match="newer than this nnlite understands"):
        nnlite.load(write('{"format": "nnlite-checkpoint", "version": 99, "root": null}'))


def test_malformed_structure_is_a_value_error(tmp_path):
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as z:
        payload = io.BytesIO()
        meta = '{"format": "nnlite-checkpoint", "version": 1, "root": {"__dict__": [1, 2]}}'
        np.save(payload, np.frombuffer(meta.encode(), np.uint8))
        z.writestr("__nnlite__.npy", payload.getvalue())
    with pytest.raises(ValueError, match="malformed checkpoint structure"):
        nnlite.load(path)
