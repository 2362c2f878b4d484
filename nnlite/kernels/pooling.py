"""Pooling kernels: max, average and adaptive (average, max) 2-D pooling, forward and backward.

Arrays are contiguous (N, C, H, W) inputs and (N, C, OH, OW) outputs; the
window of output (oh, ow) is described by scalar helpers shared by both
targets, with PyTorch's exact rules:

- max: rows oh*sh - ph + k*dh for k < KH that fall inside the image; the
  result is the first maximum, except that a NaN wins (the last NaN seen), and
  the index is the flat position ih * W + iw in its (H, W) plane.
- average: rows [oh*sh - ph, +KH) clipped first to the padded image (that
  size is the divisor when padding counts) and then to the image.
- adaptive: rows [floor(oh*H/OH), ceil((oh+1)*H/OH)).

CPU kernels run one task per (n, c) plane, so backward scatters its gradient
into the plane without races. CUDA kernels run one thread per element: the
forward thread reduces its window, the backward thread gathers from every
output window that covers its input pixel (deterministic, no atomics).
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK


# ---------------------------------------------------------------- windows (scalars only: both targets)


@njit(inline="always")
def _max_window(o, stride, pad, k, dilation, size):
    """(first, stop) of the in-image taps o*stride - pad + j*dilation; step `dilation`."""
    first = o * stride - pad
    stop = min(first + (k - 1) * dilation + 1, size)
    if first < 0:
        first += (-first + dilation - 1) // dilation * dilation
    return first, stop


@njit(inline="always")
def _avg_window(o, stride, pad, k, size):
    """(start, end, padded_count): the window clipped to the image, and its size in the padded image."""
    start = o * stride - pad
    end = min(start + k, size + pad)
    padded_count = end - start
    return max(start, 0), min(end, size), padded_count


@njit(inline="always")
def _adaptive_window(o, out_size, size):
    return (o * size) // out_size, ((o + 1) * size + out_size - 1) // out_size


@njit(inline="always")
def _divisor(h0, h1, w0, w1, padded_area, count_include_pad, divisor_override):
    if divisor_override != 0:
        return divisor_override
    if count_include_pad:
        return padded_area
    return (h1 - h0) * (w1 - w0)


@njit(inline="always")
def _taps_covering(i, stride, pad, k, dilation, out_size):
    """Range of output positions whose window may cover input position i (check each)."""
    lo = max(0, (i + pad - (k - 1) * dilation + stride - 1) // stride) if i + pad >= (k - 1) * dilation else 0
    hi = min(out_size, (i + pad) // stride + 1)
    return lo, hi


# ---------------------------------------------------------------- max_pool2d


@njit(inline="always")
def _max_pool_plane(x, out, idx, p, kh, kw, sh, sw, ph, pw, dh, dw):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    n = p // C
    c = p % C
    src = x[n, c]
    for oh in range(OH):
        h0, h1 = _max_window(oh, sh, ph, kh, dh, H)
        for ow in range(OW):
            w0, w1 = _max_window(ow, sw, pw, kw, dw, W)
            best = -math.inf  # float64 holds every float32/float64 value exactly
            where = h0 * W + w0
            for ih in range(h0, h1, dh):
                for iw in range(w0, w1, dw):
                    v = src[ih, iw]
                    if v > best or v != v:
                        best = v
                        where = ih * W + iw
            out[n, c, oh, ow] = best
            idx[n, c, oh, ow] = where


@njit(parallel=True, cache=True)
def max_pool2d_fwd_cpu(x, out, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    planes = x.shape[0] * x.shape[1]
    if out.size * kh * kw <= SERIAL_WORK:
        for p in range(planes):
            _max_pool_plane(x, out, idx, p, kh, kw, sh, sw, ph, pw, dh, dw)
    else:
        for p in prange(planes):
            _max_pool_plane(x, out, idx, p, kh, kw, sh, sw, ph, pw, dh, dw)


@cuda.jit(cache=True)
def max_pool2d_fwd_cuda(x, out, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % OW
        oh = (i // OW) % OH
        c = (i // (OW * OH)) % C
        n = i // (OW * OH * C)
        h0, h1 = _max_window(oh, sh, ph, kh, dh, H)
        w0, w1 = _max_window(ow, sw, pw, kw, dw, W)
        best = -math.inf
        where = h0 * W + w0
        for ih in range(h0, h1, dh):
            for iw in range(w0, w1, dw):
                v = x[n, c, ih, iw]
                if v > best or v != v:
                    best = v
                    where = ih * W + iw
        out[n, c, oh, ow] = best
        idx[n, c, oh, ow] = where


max_pool2d_fwd = KernelPair(max_pool2d_fwd_cpu, max_pool2d_fwd_cuda)


@njit(inline="always")
def _scatter_by_index_plane(g, idx, dx, p):
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    n = p // C
    c = p % C
    dst = dx[n, c].reshape(H * W)
    for i in range(H * W):
        dst[i] = 0
    gp = g[n, c]
    ip = idx[n, c]
    for oh in range(g.shape[2]):
        for ow in range(g.shape[3]):
            dst[ip[oh, ow]] += gp[oh, ow]


@njit(parallel=True, cache=True)
def max_pool2d_bwd_cpu(g, idx, dx, kh, kw, sh, sw, ph, pw, dh, dw):
    """dx[n, c].flat[idx] += g: each output's gradient goes to its maximum.

    The indices alone say where; the window arguments are for the CUDA twin's gather.
    """
    planes = dx.shape[0] * dx.shape[1]
    if dx.size + g.size <= SERIAL_WORK:
        for p in range(planes):
            _scatter_by_index_plane(g, idx, dx, p)
    else:
        for p in prange(planes):
            _scatter_by_index_plane(g, idx, dx, p)


@cuda.jit(cache=True)
def max_pool2d_bwd_cuda(g, idx, dx, kh, kw, sh, sw, ph, pw, dh, dw):
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        iw = i % W
        ih = (i // W) % H
        c = (i // (W * H)) % C
        n = i // (W * H * C)
        here = ih * W + iw
        acc = 0.0
        oh0, oh1 = _taps_covering(ih, sh, ph, kh, dh, OH)
        ow0, ow1 = _taps_covering(iw, sw, pw, kw, dw, OW)
        for oh in range(oh0, oh1):
            for ow in range(ow0, ow1):
                if idx[n, c, oh, ow] == here:
                    acc += g[n, c, oh, ow]
        dx[n, c, ih, iw] = acc


max_pool2d_bwd = KernelPair(max_pool2d_bwd_cpu, max_pool2d_bwd_cuda)


# ---------------------------------------------------------------- avg_pool2d


@njit(inline="always")
def _avg_pool_plane(x, out, p, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    n = p // C
    c = p % C
    src = x[n, c]
    for oh in range(OH):
        h0, h1, hp = _avg_window(oh, sh, ph, kh, H)
        for ow in range(OW):
            w0, w1, wp = _avg_window(ow, sw, pw, kw, W)
            if h0 >= h1 or w0 >= w1:
                out[n, c, oh, ow] = 0
                continue
            acc = 0.0
            for ih in range(h0, h1):
                row = src[ih]
                for iw in range(w0, w1):
                    acc += row[iw]
            out[n, c, oh, ow] = acc / _divisor(h0, h1, w0, w1, hp * wp, count_include_pad, divisor_override)


@njit(parallel=True, cache=True, error_model="numpy")
def avg_pool2d_fwd_cpu(x, out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Window means; `divisor_override` 0 means none."""
    planes = x.shape[0] * x.shape[1]
    if out.size * kh * kw <= SERIAL_WORK:
        for p in range(planes):
            _avg_pool_plane(x, out, p, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override)
    else:
        for p in prange(planes):
            _avg_pool_plane(x, out, p, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override)


@cuda.jit(cache=True)
def avg_pool2d_fwd_cuda(x, out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % OW
        oh = (i // OW) % OH
        c = (i // (OW * OH)) % C
        n = i // (OW * OH * C)
        h0, h1, hp = _avg_window(oh, sh, ph, kh, H)
        w0, w1, wp = _avg_window(ow, sw, pw, kw, W)
        acc = 0.0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                acc += x[n, c, ih, iw]
        if h0 >= h1 or w0 >= w1:
            out[n, c, oh, ow] = 0
        else:
            out[n, c, oh, ow] = acc / _divisor(h0, h1, w0, w1, hp * wp, count_include_pad, divisor_override)


avg_pool2d_fwd = KernelPair(avg_pool2d_fwd_cpu, avg_pool2d_fwd_cuda)


@njit(inline="always")
def _avg_pool_grad_plane(g, dx, p, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    n = p // C
    c = p % C
    dst = dx[n, c]
    for ih in range(H):
        for iw in range(W):
            dst[ih, iw] = 0
    for oh in range(OH):
        h0, h1, hp = _avg_window(oh, sh, ph, kh, H)
        for ow in range(OW):
            w0, w1, wp = _avg_window(ow, sw, pw, kw, W)
            if h0 >= h1 or w0 >= w1:
                continue
            share = g[n, c, oh, ow] / _divisor(h0, h1, w0, w1, hp * wp, count_include_pad, divisor_override)
            for ih in range(h0, h1):
                row = dst[ih]
                for iw in range(w0, w1):
                    row[iw] += share


@njit(parallel=True, cache=True, error_model="numpy")
def avg_pool2d_bwd_cpu(g, dx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    planes = dx.shape[0] * dx.shape[1]
    if g.size * kh * kw + dx.size <= SERIAL_WORK:
        for p in range(planes):
            _avg_pool_grad_plane(g, dx, p, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override)
    else:
        for p in prange(planes):
            _avg_pool_grad_plane(g, dx, p, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override)


@cuda.jit(cache=True)
def avg_pool2d_bwd_cuda(g, dx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        iw = i % W
        ih = (i // W) % H
        c = (i // (W * H)) % C
        n = i // (W * H * C)
        acc = 0.0
        oh0, oh1 = _taps_covering(ih, sh, ph, kh, 1, OH)
        ow0, ow1 = _taps_covering(iw, sw, pw, kw, 1, OW)
        for oh in range(oh0, oh1):
            h0, h1, hp = _avg_window(oh, sh, ph, kh, H)
            if ih < h0 or ih >= h1:
                continue
            for ow in range(ow0, ow1):
                w0, w1, wp = _avg_window(ow, sw, pw, kw, W)
                if w0 <= iw < w1:
                    acc += g[n, c, oh, ow] / _divisor(h0, h1, w0, w1, hp * wp, count_include_pad,
                                                      divisor_override)
        dx[n, c, ih, iw] = acc


avg_pool2d_bwd = KernelPair(avg_pool2d_bwd_cpu, avg_pool2d_bwd_cuda)


# ---------------------------------------------------------------- adaptive pooling


@njit(inline="always")
def _adaptive_avg_plane(x, out, p):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    n = p // C
    c = p % C
    src = x[n, c]
    for oh in range(OH):
        h0, h1 = _adaptive_window(oh, OH, H)
        for ow in range(OW):
            w0, w1 = _adaptive_window(ow, OW, W)
            acc = 0.0
            for ih in range(h0, h1):
                row = src[ih]
                for iw in range(w0, w1):
                    acc += row[iw]
            out[n, c, oh, ow] = acc / ((h1 - h0) * (w1 - w0))


@njit(parallel=True, cache=True)
def adaptive_avg_pool2d_fwd_cpu(x, out):
    planes = x.shape[0] * x.shape[1]
    if x.size + out.size <= SERIAL_WORK:
        for p in range(planes):
            _adaptive_avg_plane(x, out, p)
    else:
        for p in prange(planes):
            _adaptive_avg_plane(x, out, p)


@cuda.jit(cache=True)
def adaptive_avg_pool2d_fwd_cuda(x, out):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % OW
        oh = (i // OW) % OH
        c = (i // (OW * OH)) % C
        n = i // (OW * OH * C)
        h0, h1 = _adaptive_window(oh, OH, H)
        w0, w1 = _adaptive_window(ow, OW, W)
        acc = 0.0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                acc += x[n, c, ih, iw]
        out[n, c, oh, ow] = acc / ((h1 - h0) * (w1 - w0))


adaptive_avg_pool2d_fwd = KernelPair(adaptive_avg_pool2d_fwd_cpu, adaptive_avg_pool2d_fwd_cuda)


@njit(inline="always")
def _adaptive_avg_grad_plane(g, dx, p):
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    n = p // C
    c = p % C
    dst = dx[n, c]
    for ih in range(H):
        for iw in range(W):
            dst[ih, iw] = 0
    for oh in range(OH):
        h0, h1 = _adaptive_window(oh, OH, H)
        for ow in range(OW):
            w0, w1 = _adaptive_window(ow, OW, W)
            share = g[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
            for ih in range(h0, h1):
                row = dst[ih]
                for iw in range(w0, w1):
                    row[iw] += share


@njit(parallel=True, cache=True)
def adaptive_avg_pool2d_bwd_cpu(g, dx):
    planes = dx.shape[0] * dx.shape[1]
    if dx.size + g.size <= SERIAL_WORK:
        for p in range(planes):
            _adaptive_avg_grad_plane(g, dx, p)
    else:
        for p in prange(planes):
            _adaptive_avg_grad_plane(g, dx, p)


@njit(inline="always")
def _adaptive_covering(i, size, out_size):
    """Output positions whose adaptive window contains input position i."""
    return (i * out_size) // size, min(out_size, ((i + 1) * out_size + size - 1) // size)


@cuda.jit(cache=True)
def adaptive_avg_pool2d_bwd_cuda(g, dx):
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        iw = i % W
        ih = (i // W) % H
        c = (i // (W * H)) % C
        n = i // (W * H * C)
        oh0, oh1 = _adaptive_covering(ih, H, OH)
        ow0, ow1 = _adaptive_covering(iw, W, OW)
        acc = 0.0
        for oh in range(oh0, oh1):
            h0, h1 = _adaptive_window(oh, OH, H)
            if h0 <= ih < h1:
                for ow in range(ow0, ow1):
                    w0, w1 = _adaptive_window(ow, OW, W)
                    if w0 <= iw < w1:
                        acc += g[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
        dx[n, c, ih, iw] = acc


adaptive_avg_pool2d_bwd = KernelPair(adaptive_avg_pool2d_bwd_cpu, adaptive_avg_pool2d_bwd_cuda)


@njit(inline="always")
def _adaptive_max_plane(x, out, idx, p):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    n = p // C
    c = p % C
    src = x[n, c]
    for oh in range(OH):
        h0, h1 = _adaptive_window(oh, OH, H)
        for ow in range(OW):
            w0, w1 = _adaptive_window(ow, OW, W)
            best = -math.inf
            where = h0 * W + w0
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    v = src[ih, iw]
                    if v > best or v != v:
                        best = v
                        where = ih * W + iw
            out[n, c, oh, ow] = best
            idx[n, c, oh, ow] = where


@njit(parallel=True, cache=True)
def adaptive_max_pool2d_fwd_cpu(x, out, idx):
    planes = x.shape[0] * x.shape[1]
    if x.size + out.size <= SERIAL_WORK:
        for p in range(planes):
            _adaptive_max_plane(x, out, idx, p)
    else:
        for p in prange(planes):
            _adaptive_max_plane(x, out, idx, p)


@cuda.jit(cache=True)
def adaptive_max_pool2d_fwd_cuda(x, out, idx):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % OW
        oh = (i // OW) % OH
        c = (i // (OW * OH)) % C
        n = i // (OW * OH * C)
        h0, h1 = _adaptive_window(oh, OH, H)
        w0, w1 = _adaptive_window(ow, OW, W)
        best = -math.inf
        where = h0 * W + w0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                v = x[n, c, ih, iw]
                if v > best or v != v:
                    best = v
                    where = ih * W + iw
        out[n, c, oh, ow] = best
        idx[n, c, oh, ow] = where


adaptive_max_pool2d_fwd = KernelPair(adaptive_max_pool2d_fwd_cpu, adaptive_max_pool2d_fwd_cuda)


@njit(parallel=True, cache=True)
def adaptive_max_pool2d_bwd_cpu(g, idx, dx):
    planes = dx.shape[0] * dx.shape[1]
    if dx.size + g.size <= SERIAL_WORK:
        for p in range(planes):
            _scatter_by_index_plane(g, idx, dx, p)
    else:
        for p in prange(planes):
            _scatter_by_index_plane(g, idx, dx, p)


@cuda.jit(cache=True)
def adaptive_max_pool2d_bwd_cuda(g, idx, dx):
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        iw = i % W
        ih = (i // W) % H
        c = (i // (W * H)) % C
        n = i // (W * H * C)
        here = ih * W + iw
        oh0, oh1 = _adaptive_covering(ih, H, OH)
        ow0, ow1 = _adaptive_covering(iw, W, OW)
        acc = 0.0
        for oh in range(oh0, oh1):
            for ow in range(ow0, ow1):
                if idx[n, c, oh, ow] == here:
                    acc += g[n, c, oh, ow]
        dx[n, c, ih, iw] = acc


adaptive_max_pool2d_bwd = KernelPair(adaptive_max_pool2d_bwd_cpu, adaptive_max_pool2d_bwd_cuda)
