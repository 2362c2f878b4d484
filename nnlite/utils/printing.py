"""repr() of tensors in PyTorch's format."""
import numpy as np


def _format_array(a, indent):
    """numpy's layout (common width, line wrapping) with torch's number style:
    integral floats as "1.", others with 4 decimals, scientific for wide ranges."""
    options = dict(separator=", ", prefix=" " * indent, threshold=1000, edgeitems=3, max_line_width=80)
    if a.dtype == np.bool_ and a.all():  # numpy pads True for a False that is not there
        return np.array2string(a, formatter={"bool": lambda v: "True"}, **options)
    if a.dtype.kind != "f":
        return np.array2string(a, **options)
    finite = np.abs(a[np.isfinite(a)]) if a.size else a
    nonzero = finite[finite != 0].astype(np.float64)
    integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
    # torch's rule: scientific for big numbers, and for non-integral data with a
    # wide range or tiny values
    scientific = nonzero.size > 0 and (nonzero.max() > 1e8 or not integral and (
        nonzero.max() / nonzero.min() > 1e3 or nonzero.min() < 1e-4))
    if integral and not scientific:
        return np.array2string(a, floatmode="unique", suppress_small=True, **options)
    with np.printoptions(precision=4, floatmode="fixed", suppress=not scientific):
        if scientific:
            return np.array2string(a, formatter={"float_kind": lambda v: _sci(v)}, **options)
        return np.array2string(a, **options)


def _sci(v):
    return f"{v:.4e}" if np.isfinite(v) else str(v)


def tensor_repr(t):
    a = t._host_array()
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    prefix = "tensor("
    body = _format_array(a, len(prefix)) if a.size else "[]"
    extras = []
    if a.size == 0 and a.ndim != 1:
        extras.append(f"size={tuple(a.shape)}")
    if t._device.type != "cpu":
        extras.append(f"device='{t._device}'")
    from ..backend.dtype import get_default_dtype, int64, bool_
    d = t.dtype
    if d is not get_default_dtype() and d is not int64 and d is not bool_:
        extras.append(f"dtype={d}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
