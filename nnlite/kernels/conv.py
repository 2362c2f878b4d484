"""conv kernels: im2col / col2im (2-D and 3-D) around the matmul primitive, and a direct depthwise conv.

General convolutions are lowered to one large GEMM over the whole batch. The
column matrix `cols` has shape (C, KH, KW, N, OH, OW): row (c, ki, kj) holds,
for every image and output pixel, the input value that tap (ki, kj) of channel
c sees (0 in the padding). Viewed as (C*KH*KW, N*OH*OW) it is the right-hand
side of `weight (O, C*KH*KW) @ cols`, whose result is laid out (O, N, OH*OW);
`cnhw_to_nchw` turns it into the NCHW output while adding the bias. Backward
runs the same GEMMs transposed: `nchw_to_cnhw` lays the output gradient out as
(O, N, OH*OW) and sums it into the bias gradient (in the same pass on the CPU;
on CUDA `channel_sums` splits each channel across blocks), and `col2im` folds the
column gradient back onto the input.

Stride, padding (top/left; the output size implies bottom/right) and dilation
are scalars. On the CPU every row copy runs over the range of output columns
whose input column is inside the image, so indices are provably in bounds and
the stride-1 loops vectorise; the rest of the row is padding.

Depthwise convolutions (groups == in_channels) skip the GEMM: each output plane
is KH*KW shifted multiply-adds of one input plane, which the direct kernels do
at memory speed. 3x3 stride-1 convolutions use Winograd (conv_winograd.py).
"""
import numpy as np
from numba import float64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.kernel_pair import KernelPair
from ..backend.launch import grid_blocks
from . import _channels
from ._block import BLOCK_THREADS, block_reduce
from ._loops import SERIAL_WORK


@njit(inline="always")
def _valid_columns(offset, stride, width, out_width):
    """[lo, hi): the output columns j with 0 <= j * stride + offset < width."""
    lo = 0 if offset >= 0 else (stride - 1 - offset) // stride
    hi = (width - 1 - offset) // stride + 1
    hi = min(max(hi, lo), out_width)
    return min(lo, hi), hi


@njit(inline="always")
def _fill(row, lo, hi, value):
    for i in range(lo, hi):
        row[i] = value


# ---------------------------------------------------------------- im2col


@njit(inline="always")
def _im2col_plane(x, cols, t, sh, sw, ph, pw, dh, dw):
    C, KH, KW, N, OH, OW = cols.shape
    H, W = x.shape[2], x.shape[3]
    n = t % N
    r = t // N
    kj = r % KW
    ki = (r // KW) % KH
    c = r // (KW * KH)
    src = x[n, c]
    dst = cols[c, ki, kj, n]
    off = kj * dw - pw
    lo, hi = _valid_columns(off, sw, W, OW)
    for oh in range(OH):
        ih = oh * sh - ph + ki * dh
        row = dst[oh]
        if ih < 0 or ih >= H:
            _fill(row, 0, OW, 0)
            continue
        _fill(row, 0, lo, 0)
        xs = src[ih]
        if sw == 1:
            seg = xs[lo + off:hi + off]
            out = row[lo:hi]
            for i in range(hi - lo):
                out[i] = seg[i]
        else:
            for ow in range(lo, hi):
                row[ow] = xs[ow * sw + off]
        _fill(row, hi, OW, 0)


@njit(parallel=True, cache=True)
def im2col_cpu(x, cols, sh, sw, ph, pw, dh, dw):
    """cols[c, ki, kj, n, oh, ow] = x[n, c, oh*sh - ph + ki*dh, ow*sw - pw + kj*dw] (0 outside)."""
    C, KH, KW, N = cols.shape[0], cols.shape[1], cols.shape[2], cols.shape[3]
    planes = C * KH * KW * N
    if cols.size <= SERIAL_WORK:
        for t in range(planes):
            _im2col_plane(x, cols, t, sh, sw, ph, pw, dh, dw)
    else:
        for t in prange(planes):
            _im2col_plane(x, cols, t, sh, sw, ph, pw, dh, dw)


@cuda.jit(cache=True)
def im2col_cuda(x, cols, sh, sw, ph, pw, dh, dw):
    C, KH, KW, N, OH, OW = cols.shape
    H, W = x.shape[2], x.shape[3]
    for i in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        ow = i % OW
        r = i // OW
        oh = r % OH
        r //= OH
        n = r % N
        r //= N
        kj = r % KW
        r //= KW
        ki = r % KH
        c = r // KH
        ih = oh * sh - ph + ki * dh
        iw = ow * sw - pw + kj * dw
        if 0 <= ih < H and 0 <= iw < W:
            cols[c, ki, kj, n, oh, ow] = x[n, c, ih, iw]
        else:
            cols[c, ki, kj, n, oh, ow] = 0


im2col = KernelPair(im2col_cpu, im2col_cuda)


# ---------------------------------------------------------------- col2im


@njit(inline="always")
def _col2im_plane(dcols, dx, t, sh, sw, ph, pw, dh, dw):
    C, KH, KW, N, OH, OW = dcols.shape
    H, W = dx.shape[2], dx.shape[3]
    n = t // C
    c = t % C
    dst = dx[n, c]
    for ih in range(H):
        _fill(dst[ih], 0, W, 0)
    for ki in range(KH):
        for kj in range(KW):
            src = dcols[c, ki, kj, n]
            off = kj * dw - pw
            lo, hi = _valid_columns(off, sw, W, OW)
            for oh in range(OH):
                ih = oh * sh - ph + ki * dh
                if ih < 0 or ih >= H:
                    continue
                row = dst[ih]
                g = src[oh]
                if sw == 1:
                    seg = row[lo + off:hi + off]
                    gs = g[lo:hi]
                    for i in range(hi - lo):
                        seg[i] += gs[i]
                else:
                    for ow in range(lo, hi):
                        row[ow * sw + off] += g[ow]


@njit(parallel=True, cache=True)
def col2im_cpu(dcols, dx, sh, sw, ph, pw, dh, dw):
    """dx[n, c, ih, iw] = sum of the dcols entries that im2col copied from x[n, c, ih, iw]."""
    planes = dx.shape[0] * dx.shape[1]
    if dcols.size <= SERIAL_WORK:
        for t in range(planes):
            _col2im_plane(dcols, dx, t, sh, sw, ph, pw, dh, dw)
    else:
        for t in prange(planes):
            _col2im_plane(dcols, dx, t, sh, sw, ph, pw, dh, dw)


@cuda.jit(cache=True)
def col2im_cuda(dcols, dx, sh, sw, ph, pw, dh, dw):
    # One thread per input element gathers its taps: no atomics, deterministic.
    C, KH, KW, N, OH, OW = dcols.shape
    H, W = dx.shape[2], dx.shape[3]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        iw = i % W
        r = i // W
        ih = r % H
        r //= H
        c = r % C
        n = r // C
        acc = 0.0  # float64 accumulator: at most KH*KW terms, exact enough for any dtype
        for ki in range(KH):
            th = ih + ph - ki * dh
            if th < 0 or th % sh != 0 or th // sh >= OH:
                continue
            for kj in range(KW):
                tw = iw + pw - kj * dw
                if tw < 0 or tw % sw != 0 or tw // sw >= OW:
                    continue
                acc += dcols[c, ki, kj, n, th // sh, tw // sw]
        dx[n, c, ih, iw] = acc


col2im = KernelPair(col2im_cpu, col2im_cuda)


# ---------------------------------------------------------------- GEMM layout <-> NCHW


@njit(inline="always")
def _unfold_row(src, bias, out, t, has_bias):
    O = out.shape[1]
    n = t // O
    o = t % O
    s = src[o, n]
    d = out[n, o]
    if has_bias:
        b = bias[o]
        for i in range(d.shape[0]):
            d[i] = s[i] + b
    else:
        for i in range(d.shape[0]):
            d[i] = s[i]


@njit(parallel=True, cache=True)
def cnhw_to_nchw_cpu(src, bias, out, has_bias):
    """out[n, o, p] = src[o, n, p] (+ bias[o]): the GEMM result as the NCHW output."""
    rows = out.shape[0] * out.shape[1]
    if out.size <= SERIAL_WORK:
        for t in range(rows):
            _unfold_row(src, bias, out, t, has_bias)
    else:
        for t in prange(rows):
            _unfold_row(src, bias, out, t, has_bias)


@cuda.jit(cache=True)
def cnhw_to_nchw_cuda(src, bias, out, has_bias):
    N, O, P = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i % P
        o = (i // P) % O
        n = i // (P * O)
        if has_bias:
            out[n, o, p] = src[o, n, p] + bias[o]
        else:
            out[n, o, p] = src[o, n, p]


cnhw_to_nchw = KernelPair(cnhw_to_nchw_cpu, cnhw_to_nchw_cuda)


@njit(inline="always", fastmath={"reassoc"})
def _fold_channel(g, out, gbias, o):
    acc = 0.0  # float64: the bias gradient sums N*OH*OW terms
    for n in range(g.shape[0]):
        s = g[n, o]
        d = out[o, n]
        for i in range(d.shape[0]):
            d[i] = s[i]
            acc += s[i]
    gbias[o] = acc


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def nchw_to_cnhw_cpu(g, out, gbias):
    """out[o, n, p] = g[n, o, p] (the output gradient as a GEMM operand); gbias[o] = sum_{n,p} g.

    `reassoc` only lets the bias sum use vector lanes; the copy is exact.
    """
    channels = g.shape[1]
    if g.size <= SERIAL_WORK:
        for o in range(channels):
            _fold_channel(g, out, gbias, o)
    else:
        for o in prange(channels):
            _fold_channel(g, out, gbias, o)


@cuda.jit(cache=True)
def nchw_to_cnhw_cuda(g, out, gbias):
    # gbias is summed by channel_sums (kernels/_channels.py): a thread per channel would
    # walk N*OH*OW elements on its own (milliseconds on a GPU).
    N, O, P = g.shape
    for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        p = i % P
        o = (i // P) % O
        n = i // (P * O)
        out[o, n, p] = g[n, o, p]


_nchw_to_cnhw = KernelPair(nchw_to_cnhw_cpu, nchw_to_cnhw_cuda)


def nchw_to_cnhw(g, out, gbias):
    """out[o, n, p] = g[n, o, p] (the output gradient as a GEMM operand); gbias[o] = sum_{n,p} g."""
    _nchw_to_cnhw(g, out, gbias)
    if type(g) is not np.ndarray:
        channel_sums(g, gbias)


def channel_sums(g, out):
    """The bias gradient of a (N, O, ...) contiguous CUDA output gradient, into out (O,)."""
    N, O = g.shape[0], g.shape[1]
    _channels.channel_sums(g.reshape((g.size,)), out, N, O, g.size // max(1, N * O))


# ---------------------------------------------------------------- depthwise (groups == in_channels)
# x (N, C, H, W), w (O, KH, KW) with O = C * M, out (N, O, OH, OW): output channel o
# reads input channel o // M.


@njit(inline="always")
def _gather_axpy(dst, src, a, lo, hi, off, stride):
    """dst[j] += a * src[j * stride + off] for j in [lo, hi)."""
    if stride == 1:
        s = src[lo + off:hi + off]
        d = dst[lo:hi]
        for j in range(hi - lo):
            d[j] += a * s[j]
    else:
        for j in range(lo, hi):
            dst[j] += a * src[j * stride + off]


@njit(inline="always")
def _scatter_axpy(dst, src, a, lo, hi, off, stride):
    """dst[j * stride + off] += a * src[j] for j in [lo, hi)."""
    if stride == 1:
        d = dst[lo + off:hi + off]
        s = src[lo:hi]
        for j in range(hi - lo):
            d[j] += a * s[j]
    else:
        for j in range(lo, hi):
            dst[j * stride + off] += a * src[j]


@njit(inline="always")
def _depthwise_plane(x, w, bias, out, t, has_bias, sh, sw, ph, pw, dh, dw):
    N, O, OH, OW = out.shape
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    KH, KW = w.shape[1], w.shape[2]
    n = t // O
    o = t % O
    src = x[n, o // (O // C)]
    dst = out[n, o]
    taps = w[o]
    for oh in range(OH):
        row = dst[oh]
        if has_bias:
            _fill(row, 0, OW, bias[o])
        else:
            _fill(row, 0, OW, 0)
        for ki in range(KH):
            ih = oh * sh - ph + ki * dh
            if ih < 0 or ih >= H:
                continue
            xs = src[ih]
            for kj in range(KW):
                off = kj * dw - pw
                lo, hi = _valid_columns(off, sw, W, OW)
                _gather_axpy(row, xs, taps[ki, kj], lo, hi, off, sw)


@njit(parallel=True, cache=True)
def depthwise_fwd_cpu(x, w, bias, out, has_bias, sh, sw, ph, pw, dh, dw):
    planes = out.shape[0] * out.shape[1]
    if out.size * w.shape[1] * w.shape[2] <= SERIAL_WORK:
        for t in range(planes):
            _depthwise_plane(x, w, bias, out, t, has_bias, sh, sw, ph, pw, dh, dw)
    else:
        for t in prange(planes):
            _depthwise_plane(x, w, bias, out, t, has_bias, sh, sw, ph, pw, dh, dw)


@cuda.jit(cache=True)
def depthwise_fwd_cuda(x, w, bias, out, has_bias, sh, sw, ph, pw, dh, dw):
    N, O, OH, OW = out.shape
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    KH, KW = w.shape[1], w.shape[2]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ow = i % OW
        oh = (i // OW) % OH
        o = (i // (OW * OH)) % O
        n = i // (OW * OH * O)
        c = o // (O // C)
        acc = 0.0
        if has_bias:
            acc = bias[o]
        for ki in range(KH):
            ih = oh * sh - ph + ki * dh
            if 0 <= ih < H:
                for kj in range(KW):
                    iw = ow * sw - pw + kj * dw
                    if 0 <= iw < W:
                        acc += w[o, ki, kj] * x[n, c, ih, iw]
        out[n, o, oh, ow] = acc


depthwise_fwd = KernelPair(depthwise_fwd_cpu, depthwise_fwd_cuda)


@njit(inline="always")
def _depthwise_input_plane(g, w, dx, t, sh, sw, ph, pw, dh, dw):
    N, O, OH, OW = g.shape
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    KH, KW = w.shape[1], w.shape[2]
    M = O // C
    n = t // C
    c = t % C
    dst = dx[n, c]
    for ih in range(H):
        _fill(dst[ih], 0, W, 0)
    for o in range(c * M, c * M + M):
        plane = g[n, o]
        taps = w[o]
        for oh in range(OH):
            gr = plane[oh]
            for ki in range(KH):
                ih = oh * sh - ph + ki * dh
                if ih < 0 or ih >= H:
                    continue
                row = dst[ih]
                for kj in range(KW):
                    off = kj * dw - pw
                    lo, hi = _valid_columns(off, sw, W, OW)
                    _scatter_axpy(row, gr, taps[ki, kj], lo, hi, off, sw)


@njit(parallel=True, cache=True)
def depthwise_bwd_input_cpu(g, w, dx, sh, sw, ph, pw, dh, dw):
    """dx[n, c] = sum over the output channels of c of g[n, o] spread back through w[o]."""
    planes = dx.shape[0] * dx.shape[1]
    if g.size * w.shape[1] * w.shape[2] <= SERIAL_WORK:
        for t in range(planes):
            _depthwise_input_plane(g, w, dx, t, sh, sw, ph, pw, dh, dw)
    else:
        for t in prange(planes):
            _depthwise_input_plane(g, w, dx, t, sh, sw, ph, pw, dh, dw)


@cuda.jit(cache=True)
def depthwise_bwd_input_cuda(g, w, dx, sh, sw, ph, pw, dh, dw):
    N, O, OH, OW = g.shape
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    KH, KW = w.shape[1], w.shape[2]
    M = O // C
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        iw = i % W
        ih = (i // W) % H
        c = (i // (W * H)) % C
        n = i // (W * H * C)
        acc = 0.0
        for ki in range(KH):
            th = ih + ph - ki * dh
            if th < 0 or th % sh != 0 or th // sh >= OH:
                continue
            for kj in range(KW):
                tw = iw + pw - kj * dw
                if tw < 0 or tw % sw != 0 or tw // sw >= OW:
                    continue
                for o in range(c * M, c * M + M):
                    acc += w[o, ki, kj] * g[n, o, th // sh, tw // sw]
        dx[n, c, ih, iw] = acc


depthwise_bwd_input = KernelPair(depthwise_bwd_input_cpu, depthwise_bwd_input_cuda)


@njit(inline="always", fastmath={"reassoc"})
def _strided_dot(a, b, lo, hi, off, stride):
    """sum_j a[j] * b[j * stride + off] over [lo, hi), in float64."""
    acc = 0.0
    if stride == 1:
        x = a[lo:hi]
        y = b[lo + off:hi + off]
        for j in range(hi - lo):
            acc += x[j] * y[j]
    else:
        for j in range(lo, hi):
            acc += a[j] * b[j * stride + off]
    return acc


@njit(inline="always", fastmath={"reassoc"})
def _row_total(a):
    acc = 0.0
    for j in range(a.shape[0]):
        acc += a[j]
    return acc


@njit(inline="always", fastmath={"reassoc"})
def _depthwise_weight_channel(g, x, gw, gbias, o, sh, sw, ph, pw, dh, dw):
    N, O, OH, OW = g.shape
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    KH, KW = gw.shape[1], gw.shape[2]
    c = o // (O // C)
    for ki in range(KH):
        for kj in range(KW):
            off = kj * dw - pw
            lo, hi = _valid_columns(off, sw, W, OW)
            acc = 0.0
            for n in range(N):
                gp = g[n, o]
                xp = x[n, c]
                for oh in range(OH):
                    ih = oh * sh - ph + ki * dh
                    if 0 <= ih < H:
                        acc += _strided_dot(gp[oh], xp[ih], lo, hi, off, sw)
            gw[o, ki, kj] = acc
    acc = 0.0
    for n in range(N):
        gp = g[n, o]
        for oh in range(OH):
            acc += _row_total(gp[oh])
    gbias[o] = acc


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def depthwise_bwd_weight_cpu(g, x, gw, gbias, sh, sw, ph, pw, dh, dw):
    """gw[o, ki, kj] = sum_{n, oh, ow} g[n, o, oh, ow] * x[n, c, ih, iw]; gbias[o] = sum g[:, o].

    One task per output channel: it reads that channel's planes once per tap,
    from L2, and sums in float64 (`reassoc` lets the dot products use vector lanes).
    """
    channels = g.shape[1]
    if g.size * gw.shape[1] * gw.shape[2] <= SERIAL_WORK:
        for o in range(channels):
            _depthwise_weight_channel(g, x, gw, gbias, o, sh, sw, ph, pw, dh, dw)
    else:
        for o in prange(channels):
            _depthwise_weight_channel(g, x, gw, gbias, o, sh, sw, ph, pw, dh, dw)


@cuda.jit(cache=True)
def depthwise_bwd_weight_cuda(g, x, gw, gbias, sh, sw, ph, pw, dh, dw):
    # A block per item: item i is tap (o, ki, kj) of the weight, or the bias of o as an
    # extra tap whose input is 1. The block's threads stride over the N*OH*OW products
    # and merge in _block's tree (a thread per tap left the GPU idle: 1 ms of the digits
    # example's step on an H200, where torch's whole step took 0.6 ms of GPU time).
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    N, O, OH, OW = g.shape
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    KH, KW = gw.shape[1], gw.shape[2]
    taps = KH * KW + 1
    plane = OH * OW
    t = cuda.threadIdx.x
    for i in range(cuda.blockIdx.x, O * taps, cuda.gridDim.x):
        o = i // taps
        tap = i % taps
        ki = tap // KW
        kj = tap % KW
        c = o // (O // C)
        acc = 0.0
        for e in range(t, N * plane, BLOCK_THREADS):
            n = e // plane
            oh = (e % plane) // OW
            ow = e % OW
            if tap == KH * KW:
                acc += g[n, o, oh, ow]
            else:
                ih = oh * sh - ph + ki * dh
                iw = ow * sw - pw + kj * dw
                if 0 <= ih < H and 0 <= iw < W:
                    acc += g[n, o, oh, ow] * x[n, c, ih, iw]
        total = block_reduce(buf, acc, False)
        if t == 0:
            if tap == KH * KW:
                gbias[o] = total
            else:
                gw[o, ki, kj] = total


class _BlockPerItemPair(KernelPair):
    """A KernelPair whose CUDA kernel runs a block of BLOCK_THREADS threads per item
    (items(*args) of them) rather than a thread per element."""
    __slots__ = ("items",)

    def __init__(self, cpu, cuda_kernel, items):
        super().__init__(cpu, cuda_kernel)
        self.items = items

    def launch(self, work, *args):
        compiled(self.cuda)[grid_blocks(self.items(*args), BLOCK_THREADS)](*args)


depthwise_bwd_weight = _BlockPerItemPair(depthwise_bwd_weight_cpu, depthwise_bwd_weight_cuda,
                                         lambda g, x, gw, *_: gw.shape[0] * (gw.shape[1] * gw.shape[2] + 1))
