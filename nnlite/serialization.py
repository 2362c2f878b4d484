"""nnlite.save / nnlite.load: checkpoints that never run code when loaded.

A checkpoint is a zip archive in numpy's .npz layout: every tensor is one
.npy entry (written with allow_pickle=False), and the structure around them
- dicts (with any key type, order kept), lists, tuples, numbers, strings,
None - is JSON in the entry "__nnlite__.npy" (UTF-8 bytes). Every JSON
object in it is a tag with a single key ("__tensor__", "__dict__", ...), and
dicts are stored as lists of (key, value) pairs, so a user's dict key can
never be mistaken for structure. Loading reads JSON
and plain arrays only; a pickle file, or an archive with object arrays, is
refused with an error.
"""
import json
import math
import os
import zipfile
from collections import OrderedDict

import numpy as np

from .backend import dtype as _dt
from .backend.device import device as _device
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT = "nnlite-checkpoint"
VERSION = 1
META = "__nnlite__"


# ------------------------------------------------------------------ saving

def save(obj, f):
    """Write obj (tensors, numpy arrays, numbers, strings, None, and lists/tuples/dicts of them,
    e.g. a model's or an optimizer's state_dict) to a path or a binary file object."""
    writer = _Writer()
    root = writer.encode(obj)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False)
    with _open_zip(f, "w") as archive:
        _write_array(archive, META, np.frombuffer(meta.encode("utf-8"), dtype=np.uint8))
        for name, array in writer.arrays.items():
            _write_array(archive, name, array)


def _open_zip(f, mode):
    target = os.fspath(f) if isinstance(f, (str, os.PathLike)) else f
    return zipfile.ZipFile(target, mode, compression=zipfile.ZIP_STORED, allowZip64=True)


def _write_array(archive, name, array):
    with archive.open(name + ".npy", "w", force_zip64=True) as fp:
        # (not np.ascontiguousarray, which turns 0-d arrays into 1-d ones)
        np.lib.format.write_array(fp, array if array.flags.c_contiguous else array.copy(order="C"),
                                  allow_pickle=False)


class _Writer:
    """Turns an object into JSON-able structure, collecting tensors as named arrays."""

    def __init__(self):
        self.arrays = {}
        self.names = {}   # id(tensor or array) -> entry name: an object saved twice is stored once
        self.keep = []    # keeps the objects alive so that their ids stay unique while saving

    def encode(self, obj):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            obj = float(obj)
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, Tensor):
            return {"__tensor__": self._tensor(obj)}
        if isinstance(obj, np.ndarray):
            return {"__ndarray__": self._entry(obj, lambda: obj)}
        if isinstance(obj, dict):  # as (key, value) pairs: keys may be ints (optimizer state) or tuples
            tag = "__ordereddict__" if isinstance(obj, OrderedDict) else "__dict__"
            return {tag: [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
        if isinstance(obj, list):
            return [self.encode(v) for v in obj]
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v) for v in obj]}
        if isinstance(obj, _dt.dtype):
            return {"__dtype__": obj.name}
        if isinstance(obj, _device):
            return {"__device__": str(obj)}
        raise TypeError(f"nnlite.save: cannot save an object of type {type(obj).__name__}; checkpoints "
                        "hold tensors, numpy arrays, numbers, strings, None and lists, tuples and dicts "
                        "of them")

    def _entry(self, obj, host_array):
        name = self.names.get(id(obj))
        if name is None:
            array = host_array()
            if array.dtype == object:
                raise TypeError("nnlite.save: cannot save numpy object arrays")
            name = self.names[id(obj)] = f"t{len(self.arrays)}"
            self.arrays[name] = array
            self.keep.append(obj)
        return name

    def _tensor(self, t):
        from .nn.parameter import Parameter
        return {"array": self._entry(t, t._host_array), "device": str(t.device),
                "requires_grad": t.requires_grad, "parameter": isinstance(t, Parameter)}


# ------------------------------------------------------------------ loading

def load(f, map_location=None, *, weights_only=True, mmap=None):
    """Read a checkpoint written by nnlite.save (from a path or a binary file object).

    map_location: None (each tensor returns to the device it was saved from),
    a device or string (every tensor goes there), or a dict mapping saved
    device strings to devices ({"cuda:0": "cpu"}). weights_only and mmap are
    accepted for torch compatibility; loading never unpickles anything.
    """
    try:
        archive = _open_zip(f, "r")
    except zipfile.BadZipFile:
        raise ValueError(f"nnlite.load: {_describe(f)} is not an nnlite checkpoint (not an .npz zip archive;"
                         " nnlite never loads pickled data)") from None
    with archive:
        names = set(archive.namelist())
        if META + ".npy" not in names:
            hint = " (it looks like a torch.save file, which holds pickled data)" \
                if any(n.endswith("data.pkl") for n in names) else ""
            raise ValueError(f"nnlite.load: {_describe(f)} is not an nnlite checkpoint{hint}")
        meta = json.loads(_read_array(archive, META).tobytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("version"), int):
            raise ValueError(f"nnlite.load: {_describe(f)} has unknown metadata")
        if meta["version"] > VERSION:
            raise ValueError(f"nnlite.load: checkpoint format version {meta['version']} is newer than this "
                             f"nnlite understands ({VERSION})")
        reader = _Reader(archive, names, map_location)
        try:
            return reader.decode(meta.get("root"))
        except (TypeError, KeyError, AttributeError) as e:
            raise ValueError(f"nnlite.load: malformed checkpoint structure in {_describe(f)} ({e})") from None


def _describe(f):
    return repr(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else "the file"


def _read_array(archive, name):
    try:
        with archive.open(name + ".npy") as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"nnlite.load: entry {name!r} cannot be read without unpickling ({e}); "
                         "refusing to load it") from None


class _Reader:
    def __init__(self, archive, names, map_location):
        if not (map_location is None or isinstance(map_location, (str, dict, _device))):
            raise TypeError(f"nnlite.load: map_location must be None, a device, a string or a dict, got "
                            f"{type(map_location).__name__}")
        self.archive = archive
        self.names = names
        self.map_location = map_location
        self.loaded = {}   # entry name -> object, so that an object saved twice loads as one

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or not node:
            raise ValueError(f"nnlite.load: malformed checkpoint structure: {node!r}")
        tag = next(iter(node))
        value = node[tag]
        if len(node) != 1:
            raise ValueError(f"nnlite.load: malformed checkpoint structure: {node!r}")
        if tag in ("__dict__", "__ordereddict__"):
            pairs = [(self._key(k), self.decode(v)) for k, v in value]
            return OrderedDict(pairs) if tag == "__ordereddict__" else dict(pairs)
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in value)
        if tag == "__tensor__":
            return self._tensor(value)
        if tag == "__ndarray__":
            return self._array(value)
        if tag == "__float__":
            return float(value)
        if tag == "__dtype__":
            return _dt.as_dtype(value)
        if tag == "__device__":
            return _device(value)
        raise ValueError(f"nnlite.load: unknown tag {tag!r} in checkpoint")

    def _key(self, node):
        key = self.decode(node)
        return tuple(key) if isinstance(key, list) else key

    def _read(self, name):
        if not isinstance(name, str) or name + ".npy" not in self.names:
            raise ValueError(f"nnlite.load: checkpoint refers to a missing array {name!r}")
        return _read_array(self.archive, name)

    def _array(self, name):
        if ("array", name) not in self.loaded:
            self.loaded[("array", name)] = self._read(name)
        return self.loaded[("array", name)]

    def _tensor(self, spec):
        name = spec["array"]
        cached = self.loaded.get(("tensor", name))
        if cached is not None:
            return cached
        array = self._read(name)
        from .functional.creation import from_numpy, tensor
        dev = self._target_device(spec["device"])
        t = from_numpy(array) if dev.type == "cpu" else tensor(array, device=dev)
        if spec.get("parameter"):
            from .nn.parameter import Parameter
            t = Parameter(t, requires_grad=bool(spec.get("requires_grad")))
        elif spec.get("requires_grad"):
            t.requires_grad_(True)
        self.loaded[("tensor", name)] = t
        return t

    def _target_device(self, saved):
        loc = self.map_location
        if loc is None:
            dev = _device(saved)
        elif isinstance(loc, dict):
            dev = _device(loc.get(saved, saved))
        else:
            dev = _device(loc)
        if dev.type == "cuda":
            from .backend.cuda import is_available
            if not is_available():
                raise RuntimeError("Attempting to deserialize object on a CUDA device but CUDA is not "
                                   "available. If you are running on a CPU-only machine, please use "
                                   "nnlite.load with map_location='cpu' to map your tensors to the CPU.")
        return dev
