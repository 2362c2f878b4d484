"""repr() of tensors in PyTorch's format."""
import numpy as np


def _format_array(a, indent):
    if a.dtype == np.bool_:
        formatter = {"bool": lambda v: "True" if v else "False"}
    elif a.dtype.kind == "f":
        finite = a[np.isfinite(a)] if a.size else a
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        big = finite.size and (np.abs(finite).max() >= 1e8 or
                               (np.abs(finite[finite != 0]).min() < 1e-4 if np.any(finite != 0) else False))
        if big:
            formatter = {"float_kind": lambda v: f"{v:.4e}"}
        elif integral:
            formatter = {"float_kind": lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)}
        else:
            formatter = {"float_kind": lambda v: f"{v:.4f}" if np.isfinite(v) else str(v)}
    else:
        formatter = None
    return np.array2string(a, separator=", ", prefix=" " * indent, formatter=formatter,
                           threshold=1000, edgeitems=3, max_line_width=80)


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
