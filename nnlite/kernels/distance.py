"""Distance kernels: cosine similarity along a dim, and pdist (row-pair p-norm distances).

cosine_similarity reads x1 and x2 laid out (outer, D, inner) and reduces D. Its
numerics are torch's: y = sum((x1 / c1) * (x2 / c2)) with c = max(||x||, eps) per
input, computed here as <x1, x2> / (c1 * c2) with float64 sums. torch clamps the
norms under no_grad, so its gradient treats c as the unclamped norm n:
    dy/dx1 = x2 / (c1 c2) - (y / c1) * x1 / n1      (the second term 0 where n1 = 0)
and the same with 1 and 2 swapped. The kernels keep n1, n2 for backward.

pdist of x (N, M) gives the N(N-1)/2 distances ||x_i - x_j||_p for i < j, in
row-major pair order. Its backward writes row i of the gradient from all pairs
that contain i, so each row has one writer and needs no atomics.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK


# ---------------------------------------------------------------- cosine similarity

@njit(cache=True, fastmath={"reassoc"})
def _dot3(x1, x2, base, D, inner):
    """(<x1, x2>, <x1, x1>, <x2, x2>) of one row in float64 (reassociated so that it vectorises)."""
    s12 = 0.0
    s11 = 0.0
    s22 = 0.0
    if inner == 1:
        a = x1[base:base + D]
        b = x2[base:base + D]
        for d in range(D):
            u = float(a[d])
            v = float(b[d])
            s12 += u * v
            s11 += u * u
            s22 += v * v
        return s12, s11, s22
    for d in range(D):
        u = float(x1[base + d * inner])
        v = float(x2[base + d * inner])
        s12 += u * v
        s11 += u * u
        s22 += v * v
    return s12, s11, s22


@njit(inline="always")
def _cosine_row(x1, x2, out, n1, n2, D, inner, eps, k):
    base = (k // inner) * D * inner + k % inner
    s12, s11, s22 = _dot3(x1, x2, base, D, inner)
    a = math.sqrt(s11)
    b = math.sqrt(s22)
    n1[k] = a
    n2[k] = b
    out[k] = s12 / (max(a, eps) * max(b, eps))


@njit(parallel=True, cache=True)
def cosine_fwd_cpu(x1, x2, out, n1, n2, D, inner, eps):
    if x1.size <= SERIAL_WORK:
        for k in range(out.size):
            _cosine_row(x1, x2, out, n1, n2, D, inner, eps, k)
    else:
        for k in prange(out.size):
            _cosine_row(x1, x2, out, n1, n2, D, inner, eps, k)


@cuda.jit(cache=True)
def cosine_fwd_cuda(x1, x2, out, n1, n2, D, inner, eps):
    for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        base = (k // inner) * D * inner + k % inner
        s12 = 0.0
        s11 = 0.0
        s22 = 0.0
        for d in range(D):
            u = float(x1[base + d * inner])
            v = float(x2[base + d * inner])
            s12 += u * v
            s11 += u * u
            s22 += v * v
        a = math.sqrt(s11)
        b = math.sqrt(s22)
        n1[k] = a
        n2[k] = b
        out[k] = s12 / (max(a, eps) * max(b, eps))


@njit(inline="always")
def _cosine_factors(g, y, n1, n2, eps):
    """(g / (c1 c2), g y / (c1 n1), g y / (c2 n2)) with the norm terms 0 where a norm is 0."""
    c1 = max(n1, eps)
    c2 = max(n2, eps)
    common = g / (c1 * c2)
    t1 = g * y / (c1 * n1) if n1 != 0 else 0.0
    t2 = g * y / (c2 * n2) if n2 != 0 else 0.0
    return common, t1, t2


@njit(inline="always")
def _cosine_row_bwd(x1, x2, g, y, n1, n2, gx1, gx2, D, inner, eps, k):
    base = (k // inner) * D * inner + k % inner
    common, t1, t2 = _cosine_factors(float(g[k]), float(y[k]), float(n1[k]), float(n2[k]), eps)
    if inner == 1:
        a = x1[base:base + D]
        b = x2[base:base + D]
        ga = gx1[base:base + D]
        gb = gx2[base:base + D]
        for d in range(D):
            ga[d] = common * b[d] - t1 * a[d]
            gb[d] = common * a[d] - t2 * b[d]
        return
    for d in range(D):
        i = base + d * inner
        gx1[i] = common * x2[i] - t1 * x1[i]
        gx2[i] = common * x1[i] - t2 * x2[i]


@njit(parallel=True, cache=True)
def cosine_bwd_cpu(x1, x2, g, y, n1, n2, gx1, gx2, D, inner, eps):
    if x1.size <= SERIAL_WORK:
        for k in range(g.size):
            _cosine_row_bwd(x1, x2, g, y, n1, n2, gx1, gx2, D, inner, eps, k)
    else:
        for k in prange(g.size):
            _cosine_row_bwd(x1, x2, g, y, n1, n2, gx1, gx2, D, inner, eps, k)


@cuda.jit(cache=True)
def cosine_bwd_cuda(x1, x2, g, y, n1, n2, gx1, gx2, D, inner, eps):
    for k in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        base = (k // inner) * D * inner + k % inner
        a = float(n1[k])
        b = float(n2[k])
        c1 = max(a, eps)
        c2 = max(b, eps)
        common = g[k] / (c1 * c2)
        t1 = g[k] * y[k] / (c1 * a) if a != 0 else 0.0
        t2 = g[k] * y[k] / (c2 * b) if b != 0 else 0.0
        for d in range(D):
            i = base + d * inner
            gx1[i] = common * x2[i] - t1 * x1[i]
            gx2[i] = common * x1[i] - t2 * x2[i]


cosine_fwd = KernelPair(cosine_fwd_cpu, cosine_fwd_cuda)
cosine_bwd = KernelPair(cosine_bwd_cpu, cosine_bwd_cuda)


# ---------------------------------------------------------------- pdist
# Scalar math written once as plain functions and compiled for both targets.

def _pair_index(i, j, N):
    """The position of pair (i, j), i < j, in pdist's output."""
    return i * N - i * (i + 1) // 2 + (j - i - 1)


def _p_distance(x, i, j, p):
    M = x.shape[1]
    s = 0.0
    for m in range(M):
        d = abs(float(x[i, m]) - float(x[j, m]))
        if p == 0.0:
            s += 1.0 if d != 0 else 0.0
        elif p == 1.0:
            s += d
        elif p == 2.0:
            s += d * d
        elif p == math.inf:
            s = max(s, d)
        else:
            s += d ** p
    if p == 2.0:
        return math.sqrt(s)
    if p == 0.0 or p == 1.0 or p == math.inf:
        return s
    return s ** (1.0 / p)


def _pdist_grad_term(diff, dist, p):
    """d dist / d x_i for one coordinate, with diff = x_i - x_j (torch's _pdist_backward)."""
    if p == 0.0 or dist == 0.0:
        return 0.0
    sign = 1.0 if diff > 0 else (-1.0 if diff < 0 else 0.0)
    if p == 1.0:
        return sign
    if p == 2.0:
        return diff / dist
    if p == math.inf:
        return sign if abs(diff) == dist else 0.0
    if p < 1.0 and diff == 0:
        return 0.0
    return sign * (abs(diff) / dist) ** (p - 1.0)


pair_index_cpu = njit(inline="always")(_pair_index)
pair_index_dev = cuda.jit(device=True)(_pair_index)
p_distance_cpu = njit(inline="always")(_p_distance)
p_distance_dev = cuda.jit(device=True)(_p_distance)
pdist_grad_term_cpu = njit(inline="always")(_pdist_grad_term)
pdist_grad_term_dev = cuda.jit(device=True)(_pdist_grad_term)


@njit(inline="always")
def _pdist_row(x, out, p, i):
    N = x.shape[0]
    for j in range(i + 1, N):
        out[pair_index_cpu(i, j, N)] = p_distance_cpu(x, i, j, p)


@njit(parallel=True, cache=True)
def pdist_fwd_cpu(x, out, p):
    N = x.shape[0]
    if out.size * x.shape[1] <= SERIAL_WORK:
        for i in range(N):
            _pdist_row(x, out, p, i)
    else:
        # row i has N - 1 - i pairs: task t takes rows t and N - 1 - t, N - 1 pairs in all
        for t in prange((N + 1) // 2):
            _pdist_row(x, out, p, t)
            if N - 1 - t != t:
                _pdist_row(x, out, p, N - 1 - t)


@cuda.jit(cache=True)
def pdist_fwd_cuda(x, out, p):
    N = x.shape[0]
    for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        i = 0   # the last row whose pairs start at or before k
        while i + 2 < N and pair_index_dev(i + 1, i + 2, N) <= k:
            i += 1
        j = k - pair_index_dev(i, i + 1, N) + i + 1
        out[k] = p_distance_dev(x, i, j, p)


@njit(inline="always")
def _pdist_grad_element(x, g, dist, p, i, m):
    N = x.shape[0]
    s = 0.0
    for j in range(N):
        if j != i:
            k = pair_index_cpu(i, j, N) if i < j else pair_index_cpu(j, i, N)
            s += float(g[k]) * pdist_grad_term_cpu(float(x[i, m]) - float(x[j, m]), float(dist[k]), p)
    return s


@njit(parallel=True, cache=True)
def pdist_bwd_cpu(x, g, dist, gx, p):
    N, M = x.shape
    if N * N * M <= SERIAL_WORK:
        for i in range(N):
            for m in range(M):
                gx[i, m] = _pdist_grad_element(x, g, dist, p, i, m)
    else:
        for i in prange(N):
            for m in range(M):
                gx[i, m] = _pdist_grad_element(x, g, dist, p, i, m)


@cuda.jit(cache=True)
def pdist_bwd_cuda(x, g, dist, gx, p):
    N, M = x.shape
    for e in range(cuda.grid(1), N * M, cuda.gridsize(1)):
        i = e // M
        m = e - i * M
        s = 0.0
        for j in range(N):
            if j != i:
                k = pair_index_dev(i, j, N) if i < j else pair_index_dev(j, i, N)
                s += float(g[k]) * pdist_grad_term_dev(float(x[i, m]) - float(x[j, m]), float(dist[k]), p)
        gx[i, m] = s


pdist_fwd = KernelPair(pdist_fwd_cpu, pdist_fwd_cuda)
pdist_bwd = KernelPair(pdist_bwd_cpu, pdist_bwd_cuda)
