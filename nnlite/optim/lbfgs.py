"""L-BFGS (torch.optim.LBFGS), optionally with a strong-Wolfe line search.

L-BFGS works on the parameters as one flat vector and does a few dot
products per iteration, so it is written as plain array code on the host (no
kernel pair): gradients are gathered into one numpy vector in the
parameters' dtype, and updates are written back through `Tensor.copy_`.
Parameters on a CUDA device therefore make one host round trip per function
evaluation.
"""
import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..functional.creation import from_numpy
from ..functional.creation import tensor as _tensor
from ..tensor import Tensor
from .optimizer import Optimizer


def _host(x):
    """A state entry as numpy (state loaded from a state dict may hold nnlite tensors)."""
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else x


def _as_state(x):
    """numpy arrays and numpy scalars become nnlite tensors (0-d for scalars); Python numbers stay."""
    if isinstance(x, np.ndarray):
        return from_numpy(x)
    return from_numpy(np.asarray(x)) if isinstance(x, np.generic) else x


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2), clipped to
    `bounds` (default: the interval between x1 and x2); its midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = np.sqrt(d2_square)
    if x1 <= x2:
        point = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        point = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(point, lo), hi)


class _Bracket:
    """The line search's interval: step sizes, losses, gradients and directional derivatives."""

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd

    def set(self, i, t, f, g, gtd):
        self.t[i], self.f[i], self.g[i], self.gtd[i] = t, f, g, gtd

    def order(self):
        """(low, high): the index of the lower loss first."""
        return (0, 1) if self.f[0] <= self.f[-1] else (1, 0)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Find t satisfying the strong Wolfe conditions along d (Nocedal & Wright, algorithms 3.5/3.6):
    grow t by cubic extrapolation until an interval brackets a minimum, then zoom into it.
    Returns (loss, flat gradient, t, evaluations)."""
    g = g.copy()
    f_new, g_new = evaluate(t)
    evals, ls_iter = 1, 0
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done, bracket = False, None
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket = _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new])
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, done = _Bracket([t], [f_new], [g_new], [gtd_new]), True
            break
        if gtd_new >= 0:
            bracket = _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new])
            break
        # extrapolate: the cubic's minimum between 1.01 t and 10 t
        t_next = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket = _Bracket([0, t], [f, f_new], [g, g_new], [gtd, gtd_new])
    t, f_new, g_new, evals = _zoom(evaluate, bracket, d, f, gtd, done, ls_iter, evals, c1, c2,
                                   tolerance_change, max_ls)
    return f_new, g_new, t, evals


def _zoom(evaluate, b, d, f, gtd, done, ls_iter, evals, c1, c2, tolerance_change, max_ls):
    """Shrink the bracket until its low end satisfies the strong Wolfe conditions."""
    d_norm = np.abs(d).max()
    insufficient_progress = False
    low, high = b.order()
    while not done and ls_iter < max_ls:
        if abs(b.t[1] - b.t[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(b.t[0], b.f[0], b.gtd[0], b.t[1], b.f[1], b.gtd[1])
        # keep t away from the ends: interpolation that lands near one makes little progress
        top, bottom = max(b.t), min(b.t)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:
            if insufficient_progress or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= b.f[low]:
            b.set(high, t, f_new, g_new.copy(), gtd_new)
            low, high = b.order()
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (b.t[high] - b.t[low]) >= 0:
                b.set(high, b.t[low], b.f[low], b.g[low], b.gtd[low])
            b.set(low, t, f_new, g_new.copy(), gtd_new)
    return b.t[low], b.f[low], b.g[low], evals


class LBFGS(Optimizer):
    """L-BFGS with torch's iteration, stopping rules and state ('func_evals', 'n_iter', 'd', 't',
    'old_dirs', 'old_stps', 'ro', 'H_diag', 'prev_flat_grad', 'prev_loss', 'al', kept on the first
    parameter). One parameter group only; step() needs a closure that returns the loss."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= float(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval, "tolerance_grad": tolerance_grad,
                    "tolerance_change": tolerance_change, "history_size": history_size,
                    "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ------------------------------------------------------------ the flat vector view of the parameters
    def _flat_grad(self):
        dtype = self._params[0].detach().cpu().numpy().dtype
        parts = [np.zeros(p.numel(), dtype) if p.grad is None else _host(p.grad).reshape(-1)
                 for p in self._params]
        return np.concatenate(parts).astype(dtype, copy=False)

    def _flat_params(self):
        return [_host(p).reshape(-1).copy() for p in self._params]

    def _set_params(self, values):
        with no_grad():
            for p, v in zip(self._params, values):
                p.copy_(_tensor(v.reshape(tuple(p.shape)), device=p.device))

    def _add_step(self, t, d, start=None):
        """params = start + t * d (start: the current values)."""
        start = self._flat_params() if start is None else start
        offset, values = 0, []
        for x in start:
            values.append(x + t * d[offset:offset + x.size])
            offset += x.size
        self._set_params(values)

    def _evaluate_along(self, closure, start, d):
        """Loss and flat gradient at start + t * d; the parameters are put back to start afterwards."""
        def evaluate(t):
            self._add_step(t, d, start)
            with enable_grad():
                loss = float(closure())
            grad = self._flat_grad()
            self._set_params(start)
            return loss, grad
        return evaluate

    # ------------------------------------------------------------ step
    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("LBFGS.step requires a closure that reevaluates the model and returns the loss")
        group = self.param_groups[0]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss, evals = float(orig_loss), 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= group["tolerance_grad"]:
            return orig_loss
        memory = {k: state.get(k) for k in ("d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                                             "prev_flat_grad", "prev_loss")}
        memory = {k: ([_host(x) for x in v] if isinstance(v, list) else _host(v)) for k, v in memory.items()}
        self._iterate(closure, group, state, memory, loss, flat_grad, evals)
        for key, value in memory.items():  # kept as tensors, as torch keeps them
            state[key] = [_as_state(x) for x in value] if isinstance(value, list) else _as_state(value)
        return orig_loss

    def _direction(self, state, m, flat_grad, history_size):
        """The quasi-Newton direction -H g by the two-loop recursion, after adding the last step's pair."""
        y = flat_grad - m["prev_flat_grad"]
        s = m["d"] * m["t"]
        ys = y.dot(s)
        if ys > 1e-10:  # keep only pairs with positive curvature
            if len(m["old_dirs"]) == history_size:
                for key in ("old_dirs", "old_stps", "ro"):
                    m[key].pop(0)
            m["old_dirs"].append(y)
            m["old_stps"].append(s)
            m["ro"].append(1.0 / ys)
            m["H_diag"] = ys / y.dot(y)
        if "al" not in state:
            state["al"] = [None] * history_size
        al = state["al"]
        q = -flat_grad
        for i in range(len(m["old_dirs"]) - 1, -1, -1):
            al[i] = m["old_stps"][i].dot(q) * m["ro"][i]
            q = q + (-al[i]) * m["old_dirs"][i]
        r = q * m["H_diag"]
        for i in range(len(m["old_dirs"])):
            be_i = m["old_dirs"][i].dot(r) * m["ro"][i]
            r = r + (al[i] - be_i) * m["old_stps"][i]
        return r

    def _iterate(self, closure, group, state, m, loss, flat_grad, evals):
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                m.update(d=-flat_grad, old_dirs=[], old_stps=[], ro=[], H_diag=1)
            else:
                m["d"] = self._direction(state, m, flat_grad, group["history_size"])
            m["prev_flat_grad"], m["prev_loss"] = flat_grad.copy(), loss
            m["t"] = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            d = m["d"]
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # not a descent direction
                break
            line_evals = 0
            if group["line_search_fn"] is not None:
                if group["line_search_fn"] != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                evaluate = self._evaluate_along(closure, self._flat_params(), d)
                loss, flat_grad, m["t"], line_evals = _strong_wolfe(evaluate, m["t"], d, loss, flat_grad, gtd,
                                                                    max_ls=max_eval - evals)
                self._add_step(m["t"], d)
            else:
                self._add_step(m["t"], d)
                if n_iter != max_iter:
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._flat_grad()
                    line_evals = 1
            evals += line_evals
            state["func_evals"] += line_evals
            if (n_iter == max_iter or evals >= max_eval or np.abs(flat_grad).max() <= tolerance_grad
                    or np.abs(d * m["t"]).max() <= tolerance_change or abs(loss - m["prev_loss"]) < tolerance_change):
                break
