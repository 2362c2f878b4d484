"""grid_sample kernels: bilinear/trilinear, nearest and bicubic sampling of a 4-D or 5-D input at
the points of a grid, forward and backward (to the input and to the grid).

Arrays come flattened by the functional layer: input (N, C, L) with L = D*H*W
(a 4-D input has D = 1), grid (N, P, K) with K = 2 (x, y) or 3 (x, y, z) and P
output points, output (N, C, P). One point's taps and weights are computed
once and reused for every channel. The coordinate math (unnormalising,
border/reflection padding and their derivatives, cubic weights) is the shared
scalar code of sampling.py, with torch's rules (aten/src/ATen/native/GridSampler.h):

- linear: taps floor(src) and floor(src)+1 along each axis, weights 1-t and t;
  taps outside the input contribute nothing (after border/reflection padding
  only the zeros mode has any);
- nearest: the tap round-half-to-even(src); its grid gradient is zero;
- bicubic (K = 2 only): 4x4 taps around floor(src) of the unpadded
  coordinate, each tap's index padded on its own; the grid gradient uses only
  the derivative of the weights (and of unnormalising), as torch's does.

The per-point code is written once (`_fwd_point`, `_bwd_point`) and compiled
for both targets: the CUDA copy is the same Python code with its helper names
bound to the `_dev` versions of sampling.py (see `_for_cuda`).

Backward scatters into the input's gradient (zeroed by the caller). The CPU
kernel runs one task per image n, so no two tasks touch the same gradient; the
CUDA kernel runs one thread per point and adds with atomics. The grid gradient
of a point is a sum over channels written by its own task or thread.
"""
import math
import types

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .fastmath import like
from .sampling import (cubic_coefficients_cpu, cubic_coefficients_dev, cubic_coefficients_grad_cpu,
                       cubic_coefficients_grad_dev, grid_unnormalize_cpu, grid_unnormalize_dev,
                       padded_coordinate_cpu, padded_coordinate_dev)

BILINEAR, NEAREST, BICUBIC = range(3)      # mode codes (functional/vision.py)
POINTS = 256                               # output points per CPU task in forward


# ---------------------------------------------------------------- per-axis coordinates (both targets)


def _linear_axis(coord, size, padding, align_corners):
    """(padded source coordinate, d src / d coord) of one grid coordinate (linear and nearest)."""
    src, g = unnormalize(coord, size, align_corners)
    src, gp = padded(src, size, padding, align_corners)
    return src, g * gp


def _cubic_taps(coord, size, padding, align_corners):
    """(4 tap indices, -1 where out of bounds; t; d src / d coord) of one coordinate (bicubic)."""
    src, g = unnormalize(coord, size, align_corners)
    if not (src > like(src, -2147483647.0) and src < like(src, 2147483647.0)):
        src = like(src, -100)                  # NaN/inf: every tap outside, as torch's int cast
    i0 = int(math.floor(src))
    t = src - like(src, i0)
    return (_cubic_tap(src, i0 - 1, size, padding, align_corners),
            _cubic_tap(src, i0, size, padding, align_corners),
            _cubic_tap(src, i0 + 1, size, padding, align_corners),
            _cubic_tap(src, i0 + 2, size, padding, align_corners)), t, g


def _cubic_tap(like_v, i, size, padding, align_corners):
    """A bicubic tap's index after padding (torch pads each tap: get_value_bounded), -1 if outside."""
    x, _ = padded(like(like_v, i), size, padding, align_corners)
    j = int(x)
    return j if 0 <= j < size else -1


def _inside(i, size):
    return 0 <= i < size


# ---------------------------------------------------------------- one output point, all channels


def _fwd_point(x, grid, y, n, p, D, H, W, mode, padding, align_corners):
    C = x.shape[1]
    K = grid.shape[2]
    zero = like(grid[n, p, 0], 0)
    if mode == BICUBIC:
        tx_, tx, _ = cubic_taps(grid[n, p, 0], W, padding, align_corners)
        ty_, ty, _ = cubic_taps(grid[n, p, 1], H, padding, align_corners)
        cx = cubic_coefficients(tx)
        cy = cubic_coefficients(ty)
        for c in range(C):
            acc = zero
            for j in range(4):
                r = zero
                if ty_[j] >= 0:
                    row = ty_[j] * W
                    for i in range(4):
                        if tx_[i] >= 0:
                            r += x[n, c, row + tx_[i]] * cx[i]
                acc += r * cy[j]
            y[n, c, p] = acc
        return
    ix, _ = linear_axis(grid[n, p, 0], W, padding, align_corners)
    iy, _ = linear_axis(grid[n, p, 1], H, padding, align_corners)
    iz = zero
    if K == 3:
        iz, _ = linear_axis(grid[n, p, 2], D, padding, align_corners)
    if mode == NEAREST:
        xi, yi, zi = round(ix), round(iy), round(iz)
        inside = _inside(xi, W) and _inside(yi, H) and _inside(zi, D)
        off = (zi * H + yi) * W + xi
        for c in range(C):
            y[n, c, p] = x[n, c, off] if inside else like(ix, 0)
        return
    x0, y0, z0 = int(math.floor(ix)), int(math.floor(iy)), int(math.floor(iz))
    tx, ty, tz = ix - like(ix, x0), iy - like(ix, y0), iz - like(ix, z0)
    mx0, mx1 = _inside(x0, W), _inside(x0 + 1, W)
    my0, my1 = _inside(y0, H), _inside(y0 + 1, H)
    ex, ey = like(ix, 1) - tx, like(ix, 1) - ty
    o00 = (z0 * H + y0) * W + x0               # offsets of the (y, x) taps of depth slice z0
    o10 = o00 + W
    w00, w01, w10, w11 = ex * ey, tx * ey, ex * ty, tx * ty
    if K == 2:
        for c in range(C):
            acc = like(ix, 0)
            if my0 and mx0:
                acc += x[n, c, o00] * w00
            if my0 and mx1:
                acc += x[n, c, o00 + 1] * w01
            if my1 and mx0:
                acc += x[n, c, o10] * w10
            if my1 and mx1:
                acc += x[n, c, o10 + 1] * w11
            y[n, c, p] = acc
        return
    ez = like(ix, 1) - tz
    mz0, mz1 = _inside(z0, D), _inside(z0 + 1, D)
    S = H * W
    for c in range(C):
        acc = like(ix, 0)
        if mz0 and my0 and mx0:
            acc += x[n, c, o00] * (w00 * ez)
        if mz0 and my0 and mx1:
            acc += x[n, c, o00 + 1] * (w01 * ez)
        if mz0 and my1 and mx0:
            acc += x[n, c, o10] * (w10 * ez)
        if mz0 and my1 and mx1:
            acc += x[n, c, o10 + 1] * (w11 * ez)
        if mz1 and my0 and mx0:
            acc += x[n, c, o00 + S] * (w00 * tz)
        if mz1 and my0 and mx1:
            acc += x[n, c, o00 + S + 1] * (w01 * tz)
        if mz1 and my1 and mx0:
            acc += x[n, c, o10 + S] * (w10 * tz)
        if mz1 and my1 and mx1:
            acc += x[n, c, o10 + S + 1] * (w11 * tz)
        y[n, c, p] = acc


def _bwd_point(x, grid, g, gx, ggrid, n, p, D, H, W, mode, padding, align_corners, want_x, want_grid):
    """Scatter point p's output gradient into gx (if want_x) and write its grid gradient (if want_grid)."""
    C = x.shape[1]
    K = grid.shape[2]
    zero = like(g[0, 0, 0], 0)
    if mode == BICUBIC:
        tx_, tx, gmx = cubic_taps(grid[n, p, 0], W, padding, align_corners)
        ty_, ty, gmy = cubic_taps(grid[n, p, 1], H, padding, align_corners)
        cx, cy = cubic_coefficients(tx), cubic_coefficients(ty)
        dx, dy = cubic_coefficients_grad(tx), cubic_coefficients_grad(ty)
        sx, sy = zero, zero
        for c in range(C):
            go = g[n, c, p]
            for j in range(4):
                if ty_[j] < 0:
                    continue
                row = ty_[j] * W
                for i in range(4):
                    if tx_[i] < 0:
                        continue
                    if want_x:
                        add(gx, n, c, row + tx_[i], go * cx[i] * cy[j])
                    if want_grid:
                        v = x[n, c, row + tx_[i]]
                        sx -= v * dx[i] * cy[j] * go
                        sy -= v * dy[j] * cx[i] * go
        if want_grid:
            ggrid[n, p, 0] = gmx * sx
            ggrid[n, p, 1] = gmy * sy
        return
    ix, gmx = linear_axis(grid[n, p, 0], W, padding, align_corners)
    iy, gmy = linear_axis(grid[n, p, 1], H, padding, align_corners)
    iz, gmz = zero, zero
    if K == 3:
        iz, gmz = linear_axis(grid[n, p, 2], D, padding, align_corners)
    if mode == NEAREST:                        # piecewise constant: no grid gradient
        if want_grid:
            for k in range(K):
                ggrid[n, p, k] = zero
        xi, yi, zi = round(ix), round(iy), round(iz)
        if want_x and _inside(xi, W) and _inside(yi, H) and _inside(zi, D):
            off = (zi * H + yi) * W + xi
            for c in range(C):
                add(gx, n, c, off, g[n, c, p])
        return
    x0, y0, z0 = int(math.floor(ix)), int(math.floor(iy)), int(math.floor(iz))
    tx, ty, tz = ix - like(ix, x0), iy - like(ix, y0), iz - like(ix, z0)
    ex, ey, ez = like(ix, 1) - tx, like(ix, 1) - ty, like(ix, 1) - tz
    if K == 2:                                 # bilinear: 4 taps unrolled (the generic loop below ran 2x slower)
        m00 = _inside(y0, H) and _inside(x0, W)
        m01 = _inside(y0, H) and _inside(x0 + 1, W)
        m10 = _inside(y0 + 1, H) and _inside(x0, W)
        m11 = _inside(y0 + 1, H) and _inside(x0 + 1, W)
        o00 = y0 * W + x0
        o10 = o00 + W
        w00, w01, w10, w11 = ex * ey, tx * ey, ex * ty, tx * ty
        sx, sy = zero, zero
        for c in range(C):
            go = g[n, c, p]
            if want_x:
                if m00:
                    add(gx, n, c, o00, w00 * go)
                if m01:
                    add(gx, n, c, o00 + 1, w01 * go)
                if m10:
                    add(gx, n, c, o10, w10 * go)
                if m11:
                    add(gx, n, c, o10 + 1, w11 * go)
            if want_grid:
                v00 = x[n, c, o00] if m00 else zero
                v01 = x[n, c, o00 + 1] if m01 else zero
                v10 = x[n, c, o10] if m10 else zero
                v11 = x[n, c, o10 + 1] if m11 else zero
                sx += (ey * (v01 - v00) + ty * (v11 - v10)) * go
                sy += (ex * (v10 - v00) + tx * (v11 - v01)) * go
        if want_grid:
            ggrid[n, p, 0] = gmx * sx
            ggrid[n, p, 1] = gmy * sy
        return
    sx, sy, sz = zero, zero, zero
    for dz in range(K - 1):                    # depth taps: one in 2-D (z0 = 0, weight 1), two in 3-D
        z = z0 + dz
        wz = tz if dz else ez
        if K == 2:
            wz = like(ix, 1)
        if not _inside(z, D):
            continue
        sgn_z = like(ix, 1) if dz else -like(ix, 1)
        for dy in range(2):
            yy = y0 + dy
            if not _inside(yy, H):
                continue
            wy = ty if dy else ey
            sgn_y = like(ix, 1) if dy else -like(ix, 1)
            for dx in range(2):
                xx = x0 + dx
                if not _inside(xx, W):
                    continue
                wx = tx if dx else ex
                sgn_x = like(ix, 1) if dx else -like(ix, 1)
                off = (z * H + yy) * W + xx
                w = wx * wy * wz
                for c in range(C):
                    go = g[n, c, p]
                    if want_x:
                        add(gx, n, c, off, w * go)
                    if want_grid:
                        vg = x[n, c, off] * go
                        sx += sgn_x * wy * wz * vg
                        sy += sgn_y * wx * wz * vg
                        sz += sgn_z * wx * wy * vg
    if want_grid:
        ggrid[n, p, 0] = gmx * sx
        ggrid[n, p, 1] = gmy * sy
        if K == 3:
            ggrid[n, p, 2] = gmz * sz


def _add_cpu(a, n, c, i, v):
    a[n, c, i] += v


def _add_dev(a, n, c, i, v):
    cuda.atomic.add(a, (n, c, i), v)


# ---------------------------------------------------------------- compiled twice

_CPU = dict(unnormalize=grid_unnormalize_cpu, padded=padded_coordinate_cpu,
            cubic_coefficients=cubic_coefficients_cpu, cubic_coefficients_grad=cubic_coefficients_grad_cpu,
            add=njit(inline="always")(_add_cpu))
_DEV = dict(unnormalize=grid_unnormalize_dev, padded=padded_coordinate_dev,
            cubic_coefficients=cubic_coefficients_dev, cubic_coefficients_grad=cubic_coefficients_grad_dev,
            add=cuda.jit(device=True)(_add_dev))


def _bind(f, names, compile_):
    """f compiled with its helper names bound to one target's helpers: the per-point code is
    written once (sampling.py instead writes a `_d` copy, which would double 150 lines here)."""
    scope = dict(globals())
    scope.update(names)
    return compile_(types.FunctionType(f.__code__, scope, f.__name__))


# Plain njit, not inline="always": Numba's IR-level inlining of this much code took 100 s per
# kernel to compile; LLVM still inlines what pays.
_cpu_inline = njit
_dev_fn = cuda.jit(device=True)
for _names, _compile in ((_CPU, _cpu_inline), (_DEV, _dev_fn)):
    _names["_cubic_tap"] = _bind(_cubic_tap, _names, _compile)
    _names["linear_axis"] = _bind(_linear_axis, _names, _compile)
    _names["cubic_taps"] = _bind(_cubic_taps, _names, _compile)
    _names["_inside"] = _compile(_inside)
_fwd_point_cpu = _bind(_fwd_point, _CPU, _cpu_inline)
_fwd_point_dev = _bind(_fwd_point, _DEV, _dev_fn)
_bwd_point_cpu = _bind(_bwd_point, _CPU, _cpu_inline)
_bwd_point_dev = _bind(_bwd_point, _DEV, _dev_fn)


# ---------------------------------------------------------------- kernels


# The point loops are separate (not inlined) functions: Numba's parfors array analysis fails
# on the per-point code's tuple indexing when it is inlined into a prange body.
@njit(cache=True)
def _fwd_points_cpu(x, grid, y, n, start, stop, D, H, W, mode, padding, align_corners):
    for p in range(start, stop):
        _fwd_point_cpu(x, grid, y, n, p, D, H, W, mode, padding, align_corners)


@njit(cache=True)
def _bwd_points_cpu(x, grid, g, gx, ggrid, n, D, H, W, mode, padding, align_corners, want_x, want_grid):
    for p in range(grid.shape[1]):
        _bwd_point_cpu(x, grid, g, gx, ggrid, n, p, D, H, W, mode, padding, align_corners, want_x, want_grid)


@njit(parallel=True, cache=True)
def grid_sample_fwd_cpu(x, grid, y, D, H, W, mode, padding, align_corners):
    N, P = grid.shape[0], grid.shape[1]
    if y.size <= SERIAL_WORK:
        for n in range(N):
            _fwd_points_cpu(x, grid, y, n, 0, P, D, H, W, mode, padding, align_corners)
        return
    chunks = (P + POINTS - 1) // POINTS
    for task in prange(N * chunks):            # (image, run of points): no two tasks write the same y
        n = task // chunks
        start = (task - n * chunks) * POINTS
        _fwd_points_cpu(x, grid, y, n, start, min(start + POINTS, P), D, H, W, mode, padding, align_corners)


@cuda.jit(cache=True)
def grid_sample_fwd_cuda(x, grid, y, D, H, W, mode, padding, align_corners):
    P = grid.shape[1]
    for i in range(cuda.grid(1), grid.shape[0] * P, cuda.gridsize(1)):
        _fwd_point_dev(x, grid, y, i // P, i % P, D, H, W, mode, padding, align_corners)


@njit(parallel=True, cache=True)
def grid_sample_bwd_cpu(x, grid, g, gx, ggrid, D, H, W, mode, padding, align_corners, want_x, want_grid):
    N = grid.shape[0]
    if g.size <= SERIAL_WORK:
        for n in range(N):
            _bwd_points_cpu(x, grid, g, gx, ggrid, n, D, H, W, mode, padding, align_corners, want_x, want_grid)
        return
    for n in prange(N):                        # one task per image: its gx planes are its own
        _bwd_points_cpu(x, grid, g, gx, ggrid, n, D, H, W, mode, padding, align_corners, want_x, want_grid)


@cuda.jit(cache=True)
def grid_sample_bwd_cuda(x, grid, g, gx, ggrid, D, H, W, mode, padding, align_corners, want_x, want_grid):
    P = grid.shape[1]
    for i in range(cuda.grid(1), grid.shape[0] * P, cuda.gridsize(1)):
        _bwd_point_dev(x, grid, g, gx, ggrid, i // P, i % P, D, H, W, mode, padding, align_corners,
                       want_x, want_grid)


grid_sample_fwd = KernelPair(grid_sample_fwd_cpu, grid_sample_fwd_cuda)
grid_sample_bwd = KernelPair(grid_sample_bwd_cpu, grid_sample_bwd_cuda)
