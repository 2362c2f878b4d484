"""Pooling kernels: max, average and adaptive (average, max) pooling in 1, 2 and 3 dimensions,
forward and backward.

One kernel family serves every dimension: arrays are contiguous (N, C, D, H, W)
inputs and (N, C, OD, OH, OW) outputs, and the functional layer views a 2-D
pool as depth 1 and a 1-D pool as depth and height 1 (the extra loops run once,
so they cost nothing measurable). The window of each output position is
described per dimension by scalar helpers shared by both targets, with
PyTorch's exact rules:

- max: taps o*s - p + j*d for j < k that fall inside the input; the result is
  the first maximum, except that a NaN wins (the last NaN seen), and the index
  is the flat position (id * H + ih) * W + iw in its (D, H, W) volume.
- average: [o*s - p, +k) clipped first to the padded input (that size is the
  divisor when padding counts) and then to the input.
- adaptive: [floor(o*in/out), ceil((o+1)*in/out)).

CPU kernels run one task per (n, c) volume, so backward scatters its gradient
into the volume without races. CUDA kernels run one thread per element: the
forward thread reduces its window, the backward thread gathers from every
output window that covers its input element (deterministic, no atomics).
The adaptive pools' kernels are in kernels/pooling_adaptive.py, on the same
window helpers. max_unpool needs no kernel of its own: it is indexing's scatter (forward) and
gather (backward) along each flattened volume.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK


# ---------------------------------------------------------------- windows (scalars only: both targets)


@njit(inline="always")
def _max_window(o, stride, pad, k, dilation, size):
    """(first, stop) of the in-range taps o*stride - pad + j*dilation; step `dilation`."""
    first = o * stride - pad
    stop = min(first + (k - 1) * dilation + 1, size)
    if first < 0:
        first += (-first + dilation - 1) // dilation * dilation
    return first, stop


@njit(inline="always")
def _avg_window(o, stride, pad, k, size):
    """(start, end, padded_count): the window clipped to the input, and its size in the padded input."""
    start = o * stride - pad
    end = min(start + k, size + pad)
    padded_count = end - start
    return max(start, 0), min(end, size), padded_count


@njit(inline="always")
def _adaptive_window(o, out_size, size):
    return (o * size) // out_size, ((o + 1) * size + out_size - 1) // out_size


@njit(inline="always")
def _divisor(count, padded_count, count_include_pad, divisor_override):
    if divisor_override != 0:
        return divisor_override
    if count_include_pad:
        return padded_count
    return count


@njit(inline="always")
def _taps_covering(i, stride, pad, k, dilation, out_size):
    """Range of output positions whose window may cover input position i (check each)."""
    lo = max(0, (i + pad - (k - 1) * dilation + stride - 1) // stride) if i + pad >= (k - 1) * dilation else 0
    hi = min(out_size, (i + pad) // stride + 1)
    return lo, hi


@njit(inline="always")
def _adaptive_covering(i, size, out_size):
    """Output positions whose adaptive window contains input position i."""
    return (i * out_size) // size, min(out_size, ((i + 1) * out_size + size - 1) // size)


@njit(inline="always")
def _row_sum(row, w0, w1):
    """row[w0:w1] summed in float64 with four partial sums: a single running sum waits on each
    add (4 cycles), which made long windows (adaptive pooling) 2-3x slower than torch."""
    a0 = a1 = a2 = a3 = 0.0
    i = w0
    while i + 4 <= w1:
        a0 += row[i]
        a1 += row[i + 1]
        a2 += row[i + 2]
        a3 += row[i + 3]
        i += 4
    while i < w1:
        a0 += row[i]
        i += 1
    return (a0 + a1) + (a2 + a3)


@njit(inline="always")
def _unflatten(i, C, D, H, W):
    """(n, c, d, h, w) of flat position i in a contiguous (N, C, D, H, W) array."""
    w = i % W
    h = (i // W) % H
    d = (i // (W * H)) % D
    c = (i // (W * H * D)) % C
    return i // (W * H * D * C), c, d, h, w


# ---------------------------------------------------------------- max pooling


@njit(inline="always")
def _taps(first, stop, dilation):
    """How many taps first, first + dilation, ... lie below stop (no division when dilation is 1:
    a range with a run-time step divides once per window, which dominated small windows)."""
    if first >= stop:
        return 0
    return stop - first if dilation == 1 else (stop - first + dilation - 1) // dilation


@njit(inline="always")
def _max_pool_volume(x, out, idx, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    C, D, H, W = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    n = p // C
    c = p % C
    src = x[n, c]
    for od in range(OD):
        d0, d1 = _max_window(od, sd, pd, kd, dd, D)
        nd = _taps(d0, d1, dd)
        for oh in range(OH):
            h0, h1 = _max_window(oh, sh, ph, kh, dh, H)
            nh = _taps(h0, h1, dh)
            for ow in range(OW):
                w0, w1 = _max_window(ow, sw, pw, kw, dw, W)
                nw = _taps(w0, w1, dw)
                best = -math.inf  # float64 holds every float32/float64 value exactly
                where = (d0 * H + h0) * W + w0
                for a in range(nd):
                    id = d0 + a * dd
                    for b in range(nh):
                        ih = h0 + b * dh
                        row = src[id, ih]
                        for e in range(nw):
                            iw = w0 + e * dw
                            v = row[iw]
                            if v > best or v != v:
                                best = v
                                where = (id * H + ih) * W + iw
                out[n, c, od, oh, ow] = best
                idx[n, c, od, oh, ow] = where


@njit(parallel=True, cache=True)
def max_pool_fwd_cpu(x, out, idx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    planes = x.shape[0] * x.shape[1]
    if out.size * kd * kh * kw <= SERIAL_WORK:
        for p in range(planes):
            _max_pool_volume(x, out, idx, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw)
    else:
        for p in prange(planes):
            _max_pool_volume(x, out, idx, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw)


@cuda.jit(cache=True)
def max_pool_fwd_cuda(x, out, idx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        n, c, od, oh, ow = _unflatten(i, out.shape[1], out.shape[2], out.shape[3], out.shape[4])
        d0, d1 = _max_window(od, sd, pd, kd, dd, D)
        h0, h1 = _max_window(oh, sh, ph, kh, dh, H)
        w0, w1 = _max_window(ow, sw, pw, kw, dw, W)
        best = -math.inf
        where = (d0 * H + h0) * W + w0
        for id in range(d0, d1, dd):
            for ih in range(h0, h1, dh):
                for iw in range(w0, w1, dw):
                    v = x[n, c, id, ih, iw]
                    if v > best or v != v:
                        best = v
                        where = (id * H + ih) * W + iw
        out[n, c, od, oh, ow] = best
        idx[n, c, od, oh, ow] = where


max_pool_fwd = KernelPair(max_pool_fwd_cpu, max_pool_fwd_cuda)


@njit(inline="always")
def _scatter_by_index_volume(g, idx, dx, p):
    C = dx.shape[1]
    n = p // C
    c = p % C
    dst = dx[n, c].reshape(dx.shape[2] * dx.shape[3] * dx.shape[4])
    for i in range(dst.size):
        dst[i] = 0
    gp = g[n, c].reshape(g.shape[2] * g.shape[3] * g.shape[4])
    ip = idx[n, c].reshape(gp.size)
    for o in range(gp.size):
        dst[ip[o]] += gp[o]


@njit(parallel=True, cache=True)
def max_pool_bwd_cpu(g, idx, dx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """dx[n, c].flat[idx] += g: each output's gradient goes to its maximum.

    The indices alone say where; the window arguments are for the CUDA twin's gather.
    """
    planes = dx.shape[0] * dx.shape[1]
    if dx.size + g.size <= SERIAL_WORK:
        for p in range(planes):
            _scatter_by_index_volume(g, idx, dx, p)
    else:
        for p in prange(planes):
            _scatter_by_index_volume(g, idx, dx, p)


@cuda.jit(cache=True)
def max_pool_bwd_cuda(g, idx, dx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    D, H, W = dx.shape[2], dx.shape[3], dx.shape[4]
    OD, OH, OW = g.shape[2], g.shape[3], g.shape[4]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        n, c, id, ih, iw = _unflatten(i, dx.shape[1], D, H, W)
        here = (id * H + ih) * W + iw
        acc = 0.0
        od0, od1 = _taps_covering(id, sd, pd, kd, dd, OD)
        oh0, oh1 = _taps_covering(ih, sh, ph, kh, dh, OH)
        ow0, ow1 = _taps_covering(iw, sw, pw, kw, dw, OW)
        for od in range(od0, od1):
            for oh in range(oh0, oh1):
                for ow in range(ow0, ow1):
                    if idx[n, c, od, oh, ow] == here:
                        acc += g[n, c, od, oh, ow]
        dx[n, c, id, ih, iw] = acc


max_pool_bwd = KernelPair(max_pool_bwd_cpu, max_pool_bwd_cuda)


# ---------------------------------------------------------------- average pooling


@njit(inline="always")
def _avg_pool_volume(x, out, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    C, D, H, W = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    n = p // C
    c = p % C
    src = x[n, c]
    for od in range(OD):
        d0, d1, dp = _avg_window(od, sd, pd, kd, D)
        for oh in range(OH):
            h0, h1, hp = _avg_window(oh, sh, ph, kh, H)
            for ow in range(OW):
                w0, w1, wp = _avg_window(ow, sw, pw, kw, W)
                if d0 >= d1 or h0 >= h1 or w0 >= w1:
                    out[n, c, od, oh, ow] = 0
                    continue
                acc = 0.0
                for id in range(d0, d1):
                    for ih in range(h0, h1):
                        acc += _row_sum(src[id, ih], w0, w1)
                out[n, c, od, oh, ow] = acc / _divisor((d1 - d0) * (h1 - h0) * (w1 - w0), dp * hp * wp,
                                                       count_include_pad, divisor_override)


@njit(parallel=True, cache=True, error_model="numpy")
def avg_pool_fwd_cpu(x, out, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    """Window means; `divisor_override` 0 means none."""
    planes = x.shape[0] * x.shape[1]
    if out.size * kd * kh * kw <= SERIAL_WORK:
        for p in range(planes):
            _avg_pool_volume(x, out, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override)
    else:
        for p in prange(planes):
            _avg_pool_volume(x, out, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override)


@cuda.jit(cache=True)
def avg_pool_fwd_cuda(x, out, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        n, c, od, oh, ow = _unflatten(i, out.shape[1], out.shape[2], out.shape[3], out.shape[4])
        d0, d1, dp = _avg_window(od, sd, pd, kd, D)
        h0, h1, hp = _avg_window(oh, sh, ph, kh, H)
        w0, w1, wp = _avg_window(ow, sw, pw, kw, W)
        acc = 0.0
        for id in range(d0, d1):
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    acc += x[n, c, id, ih, iw]
        if d0 >= d1 or h0 >= h1 or w0 >= w1:
            out[n, c, od, oh, ow] = 0
        else:
            out[n, c, od, oh, ow] = acc / _divisor((d1 - d0) * (h1 - h0) * (w1 - w0), dp * hp * wp,
                                                   count_include_pad, divisor_override)


avg_pool_fwd = KernelPair(avg_pool_fwd_cpu, avg_pool_fwd_cuda)


@njit(inline="always")
def _avg_pool_grad_volume(g, dx, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    C, D, H, W = dx.shape[1], dx.shape[2], dx.shape[3], dx.shape[4]
    OD, OH, OW = g.shape[2], g.shape[3], g.shape[4]
    n = p // C
    c = p % C
    dst = dx[n, c]
    flat = dst.reshape(D * H * W)
    for i in range(flat.size):
        flat[i] = 0
    for od in range(OD):
        d0, d1, dp = _avg_window(od, sd, pd, kd, D)
        for oh in range(OH):
            h0, h1, hp = _avg_window(oh, sh, ph, kh, H)
            for ow in range(OW):
                w0, w1, wp = _avg_window(ow, sw, pw, kw, W)
                if d0 >= d1 or h0 >= h1 or w0 >= w1:
                    continue
                share = g[n, c, od, oh, ow] / _divisor((d1 - d0) * (h1 - h0) * (w1 - w0), dp * hp * wp,
                                                       count_include_pad, divisor_override)
                for id in range(d0, d1):
                    for ih in range(h0, h1):
                        row = dst[id, ih]
                        for iw in range(w0, w1):
                            row[iw] += share


@njit(parallel=True, cache=True, error_model="numpy")
def avg_pool_bwd_cpu(g, dx, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    planes = dx.shape[0] * dx.shape[1]
    if g.size * kd * kh * kw + dx.size <= SERIAL_WORK:
        for p in range(planes):
            _avg_pool_grad_volume(g, dx, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad,
                                  divisor_override)
    else:
        for p in prange(planes):
            _avg_pool_grad_volume(g, dx, p, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad,
                                  divisor_override)


@cuda.jit(cache=True)
def avg_pool_bwd_cuda(g, dx, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    D, H, W = dx.shape[2], dx.shape[3], dx.shape[4]
    OD, OH, OW = g.shape[2], g.shape[3], g.shape[4]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        n, c, id, ih, iw = _unflatten(i, dx.shape[1], D, H, W)
        acc = 0.0
        od0, od1 = _taps_covering(id, sd, pd, kd, 1, OD)
        oh0, oh1 = _taps_covering(ih, sh, ph, kh, 1, OH)
        ow0, ow1 = _taps_covering(iw, sw, pw, kw, 1, OW)
        for od in range(od0, od1):
            d0, d1, dp = _avg_window(od, sd, pd, kd, D)
            if id < d0 or id >= d1:
                continue
            for oh in range(oh0, oh1):
                h0, h1, hp = _avg_window(oh, sh, ph, kh, H)
                if ih < h0 or ih >= h1:
                    continue
                for ow in range(ow0, ow1):
                    w0, w1, wp = _avg_window(ow, sw, pw, kw, W)
                    if w0 <= iw < w1:
                        acc += g[n, c, od, oh, ow] / _divisor((d1 - d0) * (h1 - h0) * (w1 - w0), dp * hp * wp,
                                                              count_include_pad, divisor_override)
        dx[n, c, id, ih, iw] = acc


avg_pool_bwd = KernelPair(avg_pool_bwd_cpu, avg_pool_bwd_cuda)
