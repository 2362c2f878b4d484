"""dtypes and PyTorch's type-promotion rules.

An nnlite dtype is a thin named wrapper around a numpy dtype, so that
`nnlite.float32` prints and compares like `torch.float32` while every array
underneath is a plain numpy (or Numba device) array.
"""
import numpy as np


class dtype:
    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "_rank")
    is_complex = False

    def __init__(self, name, np_dtype, rank):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self._rank = rank  # position in the promotion lattice below

    def __repr__(self):
        return "nnlite." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self):
        return self


# Ranks order the dtypes so that promote_types(a, b) is the higher rank; this
# is PyTorch's lattice restricted to the dtypes nnlite supports.
bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int32 = dtype("int32", np.int32, 2)
int64 = dtype("int64", np.int64, 3)
float16 = dtype("float16", np.float16, 4)
float32 = dtype("float32", np.float32, 5)
float64 = dtype("float64", np.float64, 6)

ALL = (bool_, uint8, int32, int64, float16, float32, float64)
_BY_NAME = {d.name: d for d in ALL}
_FROM_NP = {d.np: d for d in ALL}
_FROM_NP.update({d.np.type: d for d in ALL})

_default_float = float32


def _by_name(name):
    return _BY_NAME[name]


def from_numpy_dtype(np_dtype):
    """The nnlite dtype of a numpy dtype; TypeError for unsupported ones."""
    try:
        return _FROM_NP[np_dtype]
    except (KeyError, TypeError):
        pass
    nd = np.dtype(np_dtype)
    if nd in _FROM_NP:
        return _FROM_NP[nd]
    if nd.kind == "i":  # int8/int16 widen to the nearest supported signed int
        return int32 if nd.itemsize <= 4 else int64
    if nd.kind == "u":
        return uint8 if nd.itemsize == 1 else int64
    raise TypeError(f"nnlite does not support numpy dtype {nd}; supported: "
                    + ", ".join(d.name for d in ALL))


def as_dtype(d):
    """Accept an nnlite dtype, a numpy dtype, a Python type or a name."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    return from_numpy_dtype(d)


def get_default_dtype():
    return _default_float


def set_default_dtype(d):
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating point dtypes are allowed, got {d}")
    _default_float = d


def promote_types(a, b):
    return a if a._rank >= b._rank else b


def scalar_dtype(value):
    """The dtype a Python scalar takes when it stands alone (torch.tensor(value))."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    if isinstance(value, (float, np.floating)):
        return _default_float
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _category(d):
    return 0 if d is bool_ else (2 if d.is_floating_point else 1)


def _combine(higher, lower):
    # torch's combine_categories: a lower-priority operand only matters when
    # it is of a higher category (bool < integer < floating).
    if higher is None:
        return lower
    if lower is None or higher.is_floating_point:
        return higher
    if higher is bool_ or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def result_type(*operands):
    """PyTorch's result type for an op on tensors and Python scalars.

    Dimensioned tensors outrank zero-dim tensors, which outrank Python scalars;
    a lower-ranked operand only raises the category (bool < int < float).
    """
    dim = zero = wrapped = None
    for x in operands:
        if x is None:
            continue
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            if x.ndim:
                dim = d if dim is None else promote_types(dim, d)
            else:
                zero = d if zero is None else promote_types(zero, d)
        else:
            d = scalar_dtype(x)
            wrapped = d if wrapped is None else promote_types(wrapped, d)
    return _combine(dim, _combine(zero, wrapped))
