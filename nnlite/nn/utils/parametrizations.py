"""Parametrizations built on parametrize (torch.nn.utils.parametrizations): orthogonal,
weight_norm and spectral_norm.

The orthogonal maps are written with existing tensor ops (matmul, masks, cat),
so autograd differentiates them on both devices with no new kernels:
matrix_exp by scaling and squaring of a degree-18 Taylor polynomial, cayley by
a Newton-Schulz inverse, householder as the product of reflections. The
initial QR factorisations (run once, at registration or assignment, without
gradient) use numpy's LAPACK QR on the host, as torch uses LAPACK's geqrf.
"""
import math
from enum import Enum

import numpy as np

from ...autograd.grad_mode import no_grad
from ...backend import dtype as _dt
from ...functional import cat, eye, matmul, mv, narrow, normalize, randn, zeros, zeros_like
from ...functional import tensor as _tensor
from ...tensor import Tensor
from ..modules.module import Module
from .parametrize import register_parametrization
from .spectral_norm import _default_dim, _weight_matrix
from .weight_norm import norm_except_dim, weight_norm_fn

__all__ = ["orthogonal", "weight_norm", "spectral_norm"]


class _OrthMaps(Enum):
    matrix_exp = 0
    cayley = 1
    householder = 2


# ------------------------------------------------------------------ matrix helpers (ops only)

def _mask_like(x, rows, cols, diagonal):
    """The 0/1 lower-triangular mask np.tril(ones, diagonal) as a tensor beside x."""
    return _tensor(np.tril(np.ones((rows, cols)), diagonal), dtype=x.dtype, device=x.device)


def _tril(x, diagonal=0):
    return x * _mask_like(x, x.shape[-2], x.shape[-1], diagonal)


def _diagonal(x):
    """The main diagonal of (..., n, k) as (..., min(n, k)); a differentiable masked sum."""
    n, k = x.shape[-2], x.shape[-1]
    picked = (x * eye(n, k, dtype=x.dtype, device=x.device)).sum(-2)
    return narrow(picked, -1, 0, min(n, k))


def _identity_like(x, n):
    return eye(n, dtype=x.dtype, device=x.device).expand(*x.shape[:-2], n, n)


def matrix_exp(a):
    """exp(a) for (..., n, n): a degree-18 Taylor polynomial of a / 2**s, squared s times.

    s is chosen (without gradient) so that ||a / 2**s||_1 <= 1/2, where the
    truncation error is below 1e-22, under float64 rounding.
    """
    with no_grad():
        norm1 = float(a.abs().sum(-2).amax().item()) if a.numel() else 0.0
    if not math.isfinite(norm1):
        raise ValueError(f"matrix_exp: the input holds non-finite values (1-norm {norm1})")
    squarings = max(0, math.ceil(math.log2(norm1 / 0.5))) if norm1 > 0.5 else 0
    b = a * (0.5 ** squarings)
    ident = _identity_like(a, a.shape[-1])
    result = ident + b * (1.0 / 18)
    for k in range(17, 0, -1):  # Horner: I + b/1 (I + b/2 (... (I + b/18)))
        result = ident + matmul(b, result) * (1.0 / k)
    for _ in range(squarings):
        result = matmul(result, result)
    return result


def _solve_newton_schulz(m, rhs, max_iter=100):
    """m^-1 @ rhs by the Newton-Schulz iteration X <- X (2I - m X), from X0 = m^T / (|m|_1 |m|_inf).

    Convergence is checked without gradient; the iterations themselves are ops, so the
    gradient is that of the converged inverse.
    """
    n = m.shape[-1]
    ident = _identity_like(m, n)
    with no_grad():
        scale = float(m.abs().sum(-2).amax().item()) * float(m.abs().sum(-1).amax().item())
    x = m.mT * (1.0 / scale)
    tol = 64 * n * np.finfo(m.dtype.np).eps
    for _ in range(max_iter):
        x = matmul(x, 2 * ident - matmul(m, x))
        with no_grad():
            residual = float((matmul(m, x) - ident).abs().amax().item())
        if residual < tol:
            break
    return matmul(x, rhs)


def householder_product(a, tau):
    """The first k columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T, v_i = e_i + a[:, i] (a is tril(-1))."""
    n, k = a.shape[-2], a.shape[-1]
    q = _identity_like(a, n)
    for i in range(k):
        e_i = zeros(n, 1, dtype=a.dtype, device=a.device)
        e_i[i, 0] = 1.0
        v = narrow(a, -1, i, 1) + e_i                       # (..., n, 1)
        t = narrow(tau, -1, i, 1).unsqueeze(-1)             # (..., 1, 1)
        q = q - t * matmul(matmul(q, v), v.mT)
    return narrow(q, -1, 0, k)


# ------------------------------------------------------------------ QR on the host (no gradient)

def _host(x):
    return np.array(x.detach()._host_array(), dtype=np.float64 if x.dtype == _dt.float64 else None)


def _make_orthogonal(a):
    """The Q of a's QR with R's diagonal made positive (the unique such Q of a full-rank a)."""
    q, r = np.linalg.qr(_host(a))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    return _tensor(q, dtype=a.dtype, device=a.device)


def _geqrf_signed(a):
    """LAPACK geqrf(a) with its diagonal replaced by signs: the householder map's preimage of a."""
    h, tau = np.linalg.qr(_host(a), mode="raw")
    h = np.swapaxes(h, -1, -2).copy()   # numpy returns geqrf's output in Fortran (transposed) order
    idx = np.arange(min(h.shape[-2], h.shape[-1]))
    diag = np.sign(h[..., idx, idx])
    diag[tau == 0] *= -1                 # LAPACK writes tau = 0 where it skipped the reflection
    h[..., idx, idx] = diag
    return _tensor(h, dtype=a.dtype, device=a.device)


def _is_orthogonal(q):
    n, k = q.shape[-2], q.shape[-1]
    host = _host(q)
    gram = np.swapaxes(host, -1, -2) @ host
    return np.allclose(gram, np.eye(k), atol=10.0 * n * np.finfo(host.dtype).eps)


# ------------------------------------------------------------------ orthogonal

class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x):
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x, n, k = x.mT, k, n
        if self.orthogonal_map == _OrthMaps.householder:
            a = _tril(x, -1)
            tau = 2.0 / (1.0 + (a * a).sum(-2))
            # the sign of each column is trunc(X[i, i]): -1 or 1 from right_inverse (no gradient)
            q = householder_product(a, tau) * _diagonal(x).detach().trunc().unsqueeze(-2)
        else:
            x = _tril(x)
            if n != k:
                x = cat([x, zeros(*x.shape[:-2], n, n - k, dtype=x.dtype, device=x.device)], -1)
            skew = x - x.mT
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                q = matrix_exp(skew)
            else:
                ident = _identity_like(skew, n)
                q = _solve_newton_schulz(ident - 0.5 * skew, ident + 0.5 * skew)
            if n != k:
                q = narrow(q, -1, 0, k)
        if "base" in self._buffers:
            q = matmul(self.base, q)
        return q.mT if transposed else q

    def right_inverse(self, q):
        if tuple(q.shape) != tuple(self.shape):
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of "
                             f"shape {q.shape}.")
        q_init = q
        n, k = q.shape[-2], q.shape[-1]
        transposed = n < k
        if transposed:
            q, n, k = q.mT, k, n
        if "base" not in self._buffers:
            if self.orthogonal_map != _OrthMaps.householder:
                raise NotImplementedError("It is not possible to assign to the matrix exponential or the "
                                          "Cayley parametrizations when use_trivialization=False.")
            a = _geqrf_signed(q)
            return a.mT if transposed else a
        if n == k:
            q = q.clone() if _is_orthogonal(q) else _make_orthogonal(q)
        else:
            # complete the k columns to an n x n basis with random columns, then orthogonalise
            extra = randn(*q.shape[:-2], n, n - k, dtype=q.dtype, device=q.device)
            q = _make_orthogonal(cat([q, extra], -1))
        self.base = q
        # -I maps to the identity under every map (householder reads the signs off its diagonal)
        return zeros_like(q_init) - eye(q_init.shape[-2], q_init.shape[-1], dtype=q.dtype, device=q.device)


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Constrain module.<name> (a matrix or batch of matrices) to be orthogonal (or semi-orthogonal)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    orth_enum = _OrthMaps.__members__.get(orthogonal_map) if isinstance(orthogonal_map, str) else None
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    register_parametrization(module, name, orth, unsafe=True)
    return module


# ------------------------------------------------------------------ weight_norm

class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_norm_fn(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def _weight_norm_compat_hook(name):
    """A load_state_dict pre-hook: checkpoints of the pre-hook weight_norm store `<name>_g` and
    `<name>_v`; they load into parametrizations.<name>.original0 and original1."""
    def hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)
    return hook


def weight_norm(module, name="weight", dim=0):
    """module.<name> = g * v / ||v||, with g and v stored as parametrizations.<name>.original0/1."""
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    # old checkpoints load too, once Module has torch's load_state_dict pre-hooks
    if hasattr(module, "_register_load_state_dict_pre_hook"):
        module._register_load_state_dict_pre_hook(_weight_norm_compat_hook(name))
    return module


# ------------------------------------------------------------------ spectral_norm

class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but "
                             f"got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            mat = _weight_matrix(weight.detach(), self.dim)
            h, w = mat.shape
            self.register_buffer("_u", normalize(mat.new_empty(h).normal_(0, 1), dim=0, eps=self.eps))
            self.register_buffer("_v", normalize(mat.new_empty(w).normal_(0, 1), dim=0, eps=self.eps))
            self._power_method(mat, 15)

    @no_grad()
    def _power_method(self, mat, n_iterations):
        # u first, then v (the pre-hook version of spectral_norm goes the other way round)
        for _ in range(n_iterations):
            self._u.copy_(normalize(mv(mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(normalize(mv(mat.mT, self._u), dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        mat = _weight_matrix(weight, self.dim)
        if self.training:
            self._power_method(mat.detach(), self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = (u * mv(mat, v)).sum()
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """module.<name> divided by its spectral norm (power iteration in training mode), as a parametrization."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    dim = _default_dim(module) if dim is None else dim
    register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
