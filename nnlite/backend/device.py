"""Devices: "cpu", "cuda" and "cuda:N", as `nnlite.device` objects."""


class device:
    """Where a tensor lives. Compares equal to its string form ("cpu", "cuda:0")."""

    __slots__ = ("type", "index")

    def __new__(cls, spec, index=None):
        if isinstance(spec, device):
            return spec
        if isinstance(spec, int):
            spec, index = "cuda", spec
        if not isinstance(spec, str):
            raise TypeError(f"device(): expected a string, int or device, got {type(spec).__name__}")
        kind, _, num = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {spec}")
        if num:
            if not num.isdigit() or index is not None:
                raise RuntimeError(f"Invalid device string: '{spec}'")
            index = int(num)
        if kind == "cpu":
            return CPU if index in (None, 0) else _make("cpu", index)
        return _make("cuda", 0 if index is None else int(index))

    @property
    def is_cuda(self):
        return self.type == "cuda"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.type == "cpu" else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.type == "cpu":
            return "device(type='cpu')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self):
        return (device, (str(self),))


def _make(kind, index):
    d = object.__new__(device)
    d.type = kind
    d.index = index
    return d


CPU = _make("cpu", None)
