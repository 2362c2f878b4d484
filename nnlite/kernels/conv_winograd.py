"""Winograd F(2x2, 3x3) kernels: 3x3 convolutions with stride 1, dilation 1, groups 1.

Each 2x2 block of outputs (a tile) is computed from the 4x4 block of input
that covers it with 16 multiplies per (input, output) channel pair instead of
36, so the GEMMs - most of a convolution's time - shrink 2.25x:

    U = G g G^T          (weights, per (o, c))          U: (16, O, C)
    V = B^T d B          (input tiles, per (c, tile))   V: (16, C, N, TH, TW)
    M = U @ V            16 GEMMs over the channels     M: (16, O, N, TH, TW)
    Y = A^T M A          (2x2 output tile, + bias)

with TH = ceil(OH / 2), TW = ceil(OW / 2); tile (th, tw) reads input rows
2*th - pad_top + [0, 4) (zeros outside the image). Backward runs the adjoints:
dM = A dY A^T (and the bias gradient), dU = dM @ V^T then dg = G^T dU G, and
dV = U^T @ dM then dx += B dV B^T over overlapping tiles. The transforms use
only additions and halvings, so F(2x2, 3x3) is as accurate as direct
convolution to within a few float32 ulps.

The 4-point transforms are njit helpers on scalars and tuples, called by the
CPU kernels and their CUDA twins alike. CPU kernels run one task per
(image, channel) plane, so overlapping tiles never race; CUDA kernels run one
thread per tile (per pixel for the input gradient, which gathers its tiles).
The CPU per-plane work is a separate (cached, not IR-inlined) function:
Numba's parfor array analysis mistakes tuples of floats for array shapes.
The 16-plane arrays are views whose planes lie a little further apart than
contiguous ones (functional/conv.py says why), so kernels index them by
position and never flatten them.
"""
import numpy as np
from numba import float64 as f64, njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .conv import channel_sums

# ---------------------------------------------------------------- 4-point transforms


@njit(inline="always")
def _bt(a, b, c, d):
    """B^T @ (a, b, c, d)."""
    return a - c, b + c, c - b, b - d


@njit(inline="always")
def _b(a, b, c, d):
    """B @ (a, b, c, d): the adjoint of _bt."""
    return a, b - c + d, b + c - a, -d


@njit(inline="always")
def _g(a, b, c):
    """G @ (a, b, c)."""
    h = (a + c) * 0.5
    return a, h + b * 0.5, h - b * 0.5, c


@njit(inline="always")
def _gt(a, b, c, d):
    """G^T @ (a, b, c, d): the adjoint of _g."""
    h = (b + c) * 0.5
    return a + h, (b - c) * 0.5, h + d


@njit(inline="always")
def _at(a, b, c, d):
    """A^T @ (a, b, c, d)."""
    return a + b + c, b - c - d


@njit(inline="always")
def _a(a, b):
    """A @ (a, b): the adjoint of _at."""
    return a, a + b, a - b, -b


# 2-D transforms P X Q^T of a tile given as a tuple of row tuples: the 4-point
# transform runs down each column, then along each resulting row.

@njit(inline="always")
def _input_tile(x):
    c0 = _bt(x[0][0], x[1][0], x[2][0], x[3][0])
    c1 = _bt(x[0][1], x[1][1], x[2][1], x[3][1])
    c2 = _bt(x[0][2], x[1][2], x[2][2], x[3][2])
    c3 = _bt(x[0][3], x[1][3], x[2][3], x[3][3])
    return (_bt(c0[0], c1[0], c2[0], c3[0]), _bt(c0[1], c1[1], c2[1], c3[1]),
            _bt(c0[2], c1[2], c2[2], c3[2]), _bt(c0[3], c1[3], c2[3], c3[3]))


@njit(inline="always")
def _input_grad_tile(x):
    c0 = _b(x[0][0], x[1][0], x[2][0], x[3][0])
    c1 = _b(x[0][1], x[1][1], x[2][1], x[3][1])
    c2 = _b(x[0][2], x[1][2], x[2][2], x[3][2])
    c3 = _b(x[0][3], x[1][3], x[2][3], x[3][3])
    return (_b(c0[0], c1[0], c2[0], c3[0]), _b(c0[1], c1[1], c2[1], c3[1]),
            _b(c0[2], c1[2], c2[2], c3[2]), _b(c0[3], c1[3], c2[3], c3[3]))


@njit(inline="always")
def _output_tile(m):
    c0 = _at(m[0][0], m[1][0], m[2][0], m[3][0])
    c1 = _at(m[0][1], m[1][1], m[2][1], m[3][1])
    c2 = _at(m[0][2], m[1][2], m[2][2], m[3][2])
    c3 = _at(m[0][3], m[1][3], m[2][3], m[3][3])
    return _at(c0[0], c1[0], c2[0], c3[0]), _at(c0[1], c1[1], c2[1], c3[1])


@njit(inline="always")
def _output_grad_tile(y):
    c0 = _a(y[0][0], y[1][0])
    c1 = _a(y[0][1], y[1][1])
    return (_a(c0[0], c1[0]), _a(c0[1], c1[1]), _a(c0[2], c1[2]), _a(c0[3], c1[3]))


@njit(inline="always")
def _weight_tile(g):
    c0 = _g(g[0][0], g[1][0], g[2][0])
    c1 = _g(g[0][1], g[1][1], g[2][1])
    c2 = _g(g[0][2], g[1][2], g[2][2])
    return (_g(c0[0], c1[0], c2[0]), _g(c0[1], c1[1], c2[1]),
            _g(c0[2], c1[2], c2[2]), _g(c0[3], c1[3], c2[3]))


@njit(inline="always")
def _weight_grad_tile(u):
    c0 = _gt(u[0][0], u[1][0], u[2][0], u[3][0])
    c1 = _gt(u[0][1], u[1][1], u[2][1], u[3][1])
    c2 = _gt(u[0][2], u[1][2], u[2][2], u[3][2])
    c3 = _gt(u[0][3], u[1][3], u[2][3], u[3][3])
    return (_gt(c0[0], c1[0], c2[0], c3[0]), _gt(c0[1], c1[1], c2[1], c3[1]),
            _gt(c0[2], c1[2], c2[2], c3[2]))


# ---------------------------------------------------------------- loads and stores
# Array-taking leaves, written once and compiled for each target (the
# simulator cannot pass device arrays into njit functions). `m` arrays are
# (16, channels, N, TH, TW); `zero` is a zero of the input's dtype.


def _row4(x, n, c, i, j0, zero):
    """x[n, c, i, j0:j0 + 4], zeros outside the image."""
    H, W = x.shape[2], x.shape[3]
    if i < 0 or i >= H:
        return zero, zero, zero, zero
    if 0 <= j0 and j0 + 4 <= W:
        return x[n, c, i, j0], x[n, c, i, j0 + 1], x[n, c, i, j0 + 2], x[n, c, i, j0 + 3]
    return (x[n, c, i, j0] if 0 <= j0 < W else zero, x[n, c, i, j0 + 1] if 0 <= j0 + 1 < W else zero,
            x[n, c, i, j0 + 2] if 0 <= j0 + 2 < W else zero, x[n, c, i, j0 + 3] if 0 <= j0 + 3 < W else zero)


def _load16(m, c, n, th, tw):
    """Tile (n, th, tw) of channel c as 4 rows of 4."""
    return ((m[0, c, n, th, tw], m[1, c, n, th, tw], m[2, c, n, th, tw], m[3, c, n, th, tw]),
            (m[4, c, n, th, tw], m[5, c, n, th, tw], m[6, c, n, th, tw], m[7, c, n, th, tw]),
            (m[8, c, n, th, tw], m[9, c, n, th, tw], m[10, c, n, th, tw], m[11, c, n, th, tw]),
            (m[12, c, n, th, tw], m[13, c, n, th, tw], m[14, c, n, th, tw], m[15, c, n, th, tw]))


def _store16(m, c, n, th, tw, t):
    """m[:, c, n, th, tw] = the tile t (4 rows of 4); static indices keep t in registers."""
    a, b, d, e = t
    m[0, c, n, th, tw], m[1, c, n, th, tw], m[2, c, n, th, tw], m[3, c, n, th, tw] = a
    m[4, c, n, th, tw], m[5, c, n, th, tw], m[6, c, n, th, tw], m[7, c, n, th, tw] = b
    m[8, c, n, th, tw], m[9, c, n, th, tw], m[10, c, n, th, tw], m[11, c, n, th, tw] = d
    m[12, c, n, th, tw], m[13, c, n, th, tw], m[14, c, n, th, tw], m[15, c, n, th, tw] = e


def _weights9(w, o, c):
    """Kernel w[o, c] (3x3) as float64 rows: G's halvings are exact in float64."""
    return ((f64(w[o, c, 0, 0]), f64(w[o, c, 0, 1]), f64(w[o, c, 0, 2])),
            (f64(w[o, c, 1, 0]), f64(w[o, c, 1, 1]), f64(w[o, c, 1, 2])),
            (f64(w[o, c, 2, 0]), f64(w[o, c, 2, 1]), f64(w[o, c, 2, 2])))


def _weight_grads16(du, o, c):
    """du[:, o, c] as float64 rows of 4."""
    return ((f64(du[0, o, c]), f64(du[1, o, c]), f64(du[2, o, c]), f64(du[3, o, c])),
            (f64(du[4, o, c]), f64(du[5, o, c]), f64(du[6, o, c]), f64(du[7, o, c])),
            (f64(du[8, o, c]), f64(du[9, o, c]), f64(du[10, o, c]), f64(du[11, o, c])),
            (f64(du[12, o, c]), f64(du[13, o, c]), f64(du[14, o, c]), f64(du[15, o, c])))


row4_cpu = njit(inline="always")(_row4)
row4_dev = cuda.jit(device=True)(_row4)
load16_cpu = njit(inline="always")(_load16)
load16_dev = cuda.jit(device=True)(_load16)
store16_cpu = njit(inline="always")(_store16)
store16_dev = cuda.jit(device=True)(_store16)
weights9_cpu = njit(inline="always")(_weights9)
weights9_dev = cuda.jit(device=True)(_weights9)
weight_grads16_cpu = njit(inline="always")(_weight_grads16)
weight_grads16_dev = cuda.jit(device=True)(_weight_grads16)


# ---------------------------------------------------------------- weights


@njit(cache=True)
def _weight_pair(w, u, k):
    C = w.shape[1]
    o = k // C
    c = k % C
    t = _weight_tile(weights9_cpu(w, o, c))
    for i in range(4):
        for j in range(4):
            u[4 * i + j, o, c] = t[i][j]


@njit(parallel=True, cache=True)
def winograd_weight_cpu(w, u):
    """u[:, o, c] = G w[o, c] G^T for (O, C, 3, 3) weights; u is (16, O, C)."""
    pairs = w.shape[0] * w.shape[1]
    if u.size <= SERIAL_WORK:
        for k in range(pairs):
            _weight_pair(w, u, k)
    else:
        for k in prange(pairs):
            _weight_pair(w, u, k)


@cuda.jit(cache=True)
def winograd_weight_cuda(w, u):
    C = w.shape[1]
    for k in range(cuda.grid(1), w.shape[0] * C, cuda.gridsize(1)):
        o = k // C
        c = k % C
        t = _weight_tile(weights9_dev(w, o, c))
        for i in range(4):
            for j in range(4):
                u[4 * i + j, o, c] = t[i][j]


winograd_weight = KernelPair(winograd_weight_cpu, winograd_weight_cuda)


@njit(cache=True)
def _weight_grad_pair(du, gw, k):
    C = gw.shape[1]
    o = k // C
    c = k % C
    t = _weight_grad_tile(weight_grads16_cpu(du, o, c))
    for i in range(3):
        for j in range(3):
            gw[o, c, i, j] = t[i][j]


@njit(parallel=True, cache=True)
def winograd_weight_grad_cpu(du, gw):
    """gw[o, c] = G^T du[:, o, c] G: the weight gradient from that of U."""
    pairs = gw.shape[0] * gw.shape[1]
    if du.size <= SERIAL_WORK:
        for k in range(pairs):
            _weight_grad_pair(du, gw, k)
    else:
        for k in prange(pairs):
            _weight_grad_pair(du, gw, k)


@cuda.jit(cache=True)
def winograd_weight_grad_cuda(du, gw):
    C = gw.shape[1]
    for k in range(cuda.grid(1), gw.shape[0] * C, cuda.gridsize(1)):
        o = k // C
        c = k % C
        t = _weight_grad_tile(weight_grads16_dev(du, o, c))
        for i in range(3):
            for j in range(3):
                gw[o, c, i, j] = t[i][j]


winograd_weight_grad = KernelPair(winograd_weight_grad_cpu, winograd_weight_grad_cuda)


# ---------------------------------------------------------------- input tiles


@njit(inline="always")
def _patch(r0, r1, r2, r3, j):
    """Columns j..j+3 of four row views: an interior patch, no bounds to check."""
    return ((r0[j], r0[j + 1], r0[j + 2], r0[j + 3]), (r1[j], r1[j + 1], r1[j + 2], r1[j + 3]),
            (r2[j], r2[j + 1], r2[j + 2], r2[j + 3]), (r3[j], r3[j + 1], r3[j + 2], r3[j + 3]))


@njit(cache=True)
def _input_plane(x, v, p, ph, pw, zero):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    TH, TW = v.shape[3], v.shape[4]
    n = p // C
    c = p % C
    # tiles [lo, hi) of a row read only columns inside the image
    lo = min((pw + 1) // 2, TW)
    hi = max(min((W - 4 + pw) // 2 + 1, TW), lo)
    for th in range(TH):
        i0 = 2 * th - ph
        if 0 <= i0 and i0 + 4 <= H:
            # rows sliced from the first interior tile on: indices 2*k + j are provably >= 0
            start = 2 * lo - pw
            r0, r1 = x[n, c, i0, start:], x[n, c, i0 + 1, start:]
            r2, r3 = x[n, c, i0 + 2, start:], x[n, c, i0 + 3, start:]
            for k in range(hi - lo):
                store16_cpu(v, c, n, th, lo + k, _input_tile(_patch(r0, r1, r2, r3, 2 * k)))
            edges = (0, lo, hi, TW)
        else:
            edges = (0, TW, TW, TW)
        # the remaining tiles (image borders) check every load
        for side in range(2):
            for tw in range(edges[2 * side], edges[2 * side + 1]):
                j0 = 2 * tw - pw
                store16_cpu(v, c, n, th, tw, _input_tile((
                    row4_cpu(x, n, c, i0, j0, zero), row4_cpu(x, n, c, i0 + 1, j0, zero),
                    row4_cpu(x, n, c, i0 + 2, j0, zero), row4_cpu(x, n, c, i0 + 3, j0, zero))))


@njit(parallel=True, cache=True)
def winograd_input_cpu(x, v, ph, pw, zero):
    """v[:, c, n, th, tw] = B^T d B for the 4x4 patch of x[n, c] at (2*th - ph, 2*tw - pw)."""
    planes = x.shape[0] * x.shape[1]
    if v.size <= SERIAL_WORK:
        for p in range(planes):
            _input_plane(x, v, p, ph, pw, zero)
    else:
        for p in prange(planes):
            _input_plane(x, v, p, ph, pw, zero)


@cuda.jit(cache=True)
def winograd_input_cuda(x, v, ph, pw, zero):
    C, N, TH, TW = v.shape[1], v.shape[2], v.shape[3], v.shape[4]
    for k in range(cuda.grid(1), C * N * TH * TW, cuda.gridsize(1)):
        tw = k % TW
        th = (k // TW) % TH
        n = (k // (TW * TH)) % N
        c = k // (TW * TH * N)
        i0 = 2 * th - ph
        j0 = 2 * tw - pw
        store16_dev(v, c, n, th, tw, _input_tile((
            row4_dev(x, n, c, i0, j0, zero), row4_dev(x, n, c, i0 + 1, j0, zero),
            row4_dev(x, n, c, i0 + 2, j0, zero), row4_dev(x, n, c, i0 + 3, j0, zero))))


winograd_input = KernelPair(winograd_input_cpu, winograd_input_cuda)


@njit(cache=True)
def _input_grad_plane(dv, dx, p, ph, pw):
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    TH, TW = dv.shape[3], dv.shape[4]
    n = p // C
    c = p % C
    plane = dx[n, c]
    for i in range(H):
        for j in range(W):
            plane[i, j] = 0
    for th in range(TH):
        i0 = 2 * th - ph
        for tw in range(TW):
            j0 = 2 * tw - pw
            d = _input_grad_tile(load16_cpu(dv, c, n, th, tw))
            for i in range(4):
                if 0 <= i0 + i < H:
                    for j in range(4):
                        if 0 <= j0 + j < W:
                            plane[i0 + i, j0 + j] += d[i][j]


@njit(parallel=True, cache=True)
def winograd_input_grad_cpu(dv, dx, ph, pw):
    """dx[n, c] = sum over tiles of B dv[:, c, n, th, tw] B^T, each added at its patch."""
    planes = dx.shape[0] * dx.shape[1]
    if dv.size <= SERIAL_WORK:
        for p in range(planes):
            _input_grad_plane(dv, dx, p, ph, pw)
    else:
        for p in prange(planes):
            _input_grad_plane(dv, dx, p, ph, pw)


@cuda.jit(cache=True)
def winograd_input_grad_cuda(dv, dx, ph, pw):
    # One thread per input pixel gathers the (at most 2 x 2) tiles whose patch covers it.
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    TH, TW = dv.shape[3], dv.shape[4]
    for k in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        iw = k % W
        ih = (k // W) % H
        c = (k // (W * H)) % C
        n = k // (W * H * C)
        acc = 0.0
        for th in range((ih + ph) // 2 - 1, (ih + ph) // 2 + 1):
            for tw in range((iw + pw) // 2 - 1, (iw + pw) // 2 + 1):
                if 0 <= th < TH and 0 <= tw < TW:
                    d = _input_grad_tile(load16_dev(dv, c, n, th, tw))
                    acc += d[ih + ph - 2 * th][iw + pw - 2 * tw]
        dx[n, c, ih, iw] = acc


winograd_input_grad = KernelPair(winograd_input_grad_cpu, winograd_input_grad_cuda)


# ---------------------------------------------------------------- output tiles


@njit(cache=True)
def _output_plane(m, bias, out, p, has_bias):
    O, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    TH, TW = m.shape[3], m.shape[4]
    n = p // O
    o = p % O
    plane = out[n, o]
    for th in range(TH):
        for tw in range(TW):
            y = _output_tile(load16_cpu(m, o, n, th, tw))
            for i in range(2):
                if 2 * th + i < OH:
                    for j in range(2):
                        if 2 * tw + j < OW:
                            plane[2 * th + i, 2 * tw + j] = y[i][j] + bias[o] if has_bias else y[i][j]


@njit(parallel=True, cache=True)
def winograd_output_cpu(m, bias, out, has_bias):
    """out[n, o] = A^T m[:, o, n, th, tw] A for every 2x2 tile (+ bias[o])."""
    planes = out.shape[0] * out.shape[1]
    if m.size <= SERIAL_WORK:
        for p in range(planes):
            _output_plane(m, bias, out, p, has_bias)
    else:
        for p in prange(planes):
            _output_plane(m, bias, out, p, has_bias)


@cuda.jit(cache=True)
def winograd_output_cuda(m, bias, out, has_bias):
    O, N, TH, TW = m.shape[1], m.shape[2], m.shape[3], m.shape[4]
    OH, OW = out.shape[2], out.shape[3]
    for k in range(cuda.grid(1), O * N * TH * TW, cuda.gridsize(1)):
        tw = k % TW
        th = (k // TW) % TH
        n = (k // (TW * TH)) % N
        o = k // (TW * TH * N)
        y = _output_tile(load16_dev(m, o, n, th, tw))
        for i in range(2):
            for j in range(2):
                if 2 * th + i < OH and 2 * tw + j < OW:
                    out[n, o, 2 * th + i, 2 * tw + j] = y[i][j] + bias[o] if has_bias else y[i][j]


winograd_output = KernelPair(winograd_output_cpu, winograd_output_cuda)


def _grad_patch(g, n, o, th, tw, zero):
    """The 2x2 block of g[n, o] at (2*th, 2*tw), zeros past the edge."""
    OH, OW = g.shape[2], g.shape[3]
    i, j = 2 * th, 2 * tw
    top = (g[n, o, i, j], g[n, o, i, j + 1] if j + 1 < OW else zero)
    if i + 1 >= OH:
        return top, (zero, zero)
    return top, (g[n, o, i + 1, j], g[n, o, i + 1, j + 1] if j + 1 < OW else zero)


grad_patch_cpu = njit(inline="always")(_grad_patch)
grad_patch_dev = cuda.jit(device=True)(_grad_patch)


@njit(cache=True, fastmath={"reassoc"})
def _output_grad_channel(g, dm, gbias, o, zero):
    N = g.shape[0]
    TH, TW = dm.shape[3], dm.shape[4]
    acc = 0.0  # float64: the bias gradient sums N*OH*OW terms
    for n in range(N):
        for th in range(TH):
            for tw in range(TW):
                y = grad_patch_cpu(g, n, o, th, tw, zero)
                acc += (y[0][0] + y[0][1]) + (y[1][0] + y[1][1])
                store16_cpu(dm, o, n, th, tw, _output_grad_tile(y))
    gbias[o] = acc


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def winograd_output_grad_cpu(g, dm, gbias, zero):
    """dm[:, o, n, th, tw] = A dY A^T for each 2x2 tile of g; gbias[o] = sum of g[:, o]."""
    channels = g.shape[1]
    if dm.size <= SERIAL_WORK:
        for o in range(channels):
            _output_grad_channel(g, dm, gbias, o, zero)
    else:
        for o in prange(channels):
            _output_grad_channel(g, dm, gbias, o, zero)


@cuda.jit(cache=True)
def winograd_output_grad_cuda(g, dm, gbias, zero):
    # gbias is summed by channel_sums (kernels/_channels.py), not here.
    O, N, TH, TW = dm.shape[1], dm.shape[2], dm.shape[3], dm.shape[4]
    for k in range(cuda.grid(1), O * N * TH * TW, cuda.gridsize(1)):
        tw = k % TW
        th = (k // TW) % TH
        n = (k // (TW * TH)) % N
        o = k // (TW * TH * N)
        store16_dev(dm, o, n, th, tw, _output_grad_tile(grad_patch_dev(g, n, o, th, tw, zero)))


_winograd_output_grad = KernelPair(winograd_output_grad_cpu, winograd_output_grad_cuda)


def winograd_output_grad(g, dm, gbias, zero):
    """dm = the transformed 2x2 tiles of g; gbias[o] = sum of g[:, o], on g's device."""
    _winograd_output_grad(g, dm, gbias, zero)
    if type(g) is not np.ndarray:
        channel_sums(g, gbias)
