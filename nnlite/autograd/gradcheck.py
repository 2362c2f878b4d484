"""gradcheck: compare analytic gradients with central differences in float64."""
import numpy as np


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=False, fast_mode=False, **_):
    """True if func's backward matches finite differences for every float64 input needing grad.

    Like torch.autograd.gradcheck: inputs that require grad must be float64;
    each output element's gradient row is compared with a central difference
    (f(x + eps) - f(x - eps)) / 2 eps, element by element.
    """
    from .. import functional as F
    from ..tensor import Tensor
    from . import grad as autograd_grad
    from .grad_mode import no_grad
    inputs = _as_tuple(inputs)
    diff_inputs = [(i, x) for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i, x in diff_inputs:
        if x.dtype.name != "float64":
            return _fail(raise_exception, f"gradcheck: input {i} is {x.dtype}, but gradcheck needs "
                                          "float64 inputs for accurate finite differences")
    tensor_outputs = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)]
    positions = [k for k, o in enumerate(tensor_outputs) if o.requires_grad]
    for out_idx, pos in enumerate(positions):
        out = tensor_outputs[pos]
        n_out = out.numel()
        analytic = {i: np.zeros((n_out, x.numel())) for i, x in diff_inputs}
        for k in range(n_out):
            basis = np.zeros(n_out)
            basis[k] = 1.0
            g = F.tensor(basis.reshape(tuple(out.shape)), dtype=out.dtype, device=out.device)
            grads = autograd_grad([out], [x for _, x in diff_inputs], [g], retain_graph=True,
                                  allow_unused=True)
            for (i, x), gx in zip(diff_inputs, grads):
                if gx is not None:
                    analytic[i][k] = gx.detach().cpu().numpy().reshape(-1)
        for i, x in diff_inputs:
            numeric = np.zeros((n_out, x.numel()))
            host = x.detach().cpu().numpy().copy().reshape(-1)
            for j in range(x.numel()):
                vals = []
                for step in (eps, -eps):
                    probe = host.copy()
                    probe[j] += step
                    args = list(inputs)
                    args[i] = F.tensor(probe.reshape(tuple(x.shape)), dtype=x.dtype, device=x.device)
                    with no_grad():
                        res = _as_tuple(func(*args))
                    res = [r for r in res if isinstance(r, Tensor)]
                    vals.append(res[pos].detach().cpu().numpy().astype(np.float64).reshape(-1))
                numeric[:, j] = (vals[0] - vals[1]) / (2 * eps)
            if not np.allclose(analytic[i], numeric, atol=atol, rtol=rtol):
                worst = np.unravel_index(np.argmax(np.abs(analytic[i] - numeric)), numeric.shape)
                return _fail(raise_exception,
                             f"Jacobian mismatch for output {out_idx} with respect to input {i},\n"
                             f"numerical:{numeric}\nanalytical:{analytic[i]}\n"
                             f"largest difference at (output element, input element) {worst}")
    return True


def _fail(raise_exception, msg):
    if raise_exception:
        raise RuntimeError(msg)
    return False
