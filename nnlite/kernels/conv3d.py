"""conv3d's im2col / col2im kernels (the 3-D twins of kernels/conv.py's).

conv3d's columns are (C, KD, KH, KW, N, OD, OH, OW). The 2-D kernels stay as they are
(they are the hot path of every 2-D network); these add a depth loop around the same
row copies, so both stay vectorised over output columns.
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .conv import _fill, _valid_columns


@njit(inline="always")
def _im2col3d_plane(x, cols, t, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    C, KD, KH, KW, N, OD, OH, OW = cols.shape
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    n = t % N
    r = t // N
    kj = r % KW
    r //= KW
    ki = r % KH
    r //= KH
    kd = r % KD
    c = r // KD
    src = x[n, c]
    dst = cols[c, kd, ki, kj, n]
    off = kj * dw - pw
    lo, hi = _valid_columns(off, sw, W, OW)
    for od in range(OD):
        idp = od * sd - pd + kd * dd
        for oh in range(OH):
            ih = oh * sh - ph + ki * dh
            row = dst[od, oh]
            if idp < 0 or idp >= D or ih < 0 or ih >= H:
                _fill(row, 0, OW, 0)
                continue
            _fill(row, 0, lo, 0)
            xs = src[idp, ih]
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
def im2col3d_cpu(x, cols, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """cols[c, kd, ki, kj, n, od, oh, ow] = x[n, c, od*sd - pd + kd*dd, oh*sh - ph + ki*dh, ow*sw - pw + kj*dw]."""
    planes = cols.shape[0] * cols.shape[1] * cols.shape[2] * cols.shape[3] * cols.shape[4]
    if cols.size <= SERIAL_WORK:
        for t in range(planes):
            _im2col3d_plane(x, cols, t, sd, sh, sw, pd, ph, pw, dd, dh, dw)
    else:
        for t in prange(planes):
            _im2col3d_plane(x, cols, t, sd, sh, sw, pd, ph, pw, dd, dh, dw)


@cuda.jit(cache=True)
def im2col3d_cuda(x, cols, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    C, KD, KH, KW, N, OD, OH, OW = cols.shape
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    for i in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        ow = i % OW
        r = i // OW
        oh = r % OH
        r //= OH
        od = r % OD
        r //= OD
        n = r % N
        r //= N
        kj = r % KW
        r //= KW
        ki = r % KH
        r //= KH
        kd = r % KD
        c = r // KD
        idp = od * sd - pd + kd * dd
        ih = oh * sh - ph + ki * dh
        iw = ow * sw - pw + kj * dw
        if 0 <= idp < D and 0 <= ih < H and 0 <= iw < W:
            cols[c, kd, ki, kj, n, od, oh, ow] = x[n, c, idp, ih, iw]
        else:
            cols[c, kd, ki, kj, n, od, oh, ow] = 0


im2col3d = KernelPair(im2col3d_cpu, im2col3d_cuda)


@njit(inline="always")
def _col2im3d_plane(dcols, dx, t, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    C, KD, KH, KW, N, OD, OH, OW = dcols.shape
    D, H, W = dx.shape[2], dx.shape[3], dx.shape[4]
    n = t // C
    c = t % C
    dst = dx[n, c]
    for idp in range(D):
        for ih in range(H):
            _fill(dst[idp, ih], 0, W, 0)
    for kd in range(KD):
        for ki in range(KH):
            for kj in range(KW):
                src = dcols[c, kd, ki, kj, n]
                off = kj * dw - pw
                lo, hi = _valid_columns(off, sw, W, OW)
                for od in range(OD):
                    idp = od * sd - pd + kd * dd
                    if idp < 0 or idp >= D:
                        continue
                    for oh in range(OH):
                        ih = oh * sh - ph + ki * dh
                        if ih < 0 or ih >= H:
                            continue
                        row = dst[idp, ih]
                        g = src[od, oh]
                        if sw == 1:
                            seg = row[lo + off:hi + off]
                            gs = g[lo:hi]
                            for i in range(hi - lo):
                                seg[i] += gs[i]
                        else:
                            for ow in range(lo, hi):
                                row[ow * sw + off] += g[ow]


@njit(parallel=True, cache=True)
def col2im3d_cpu(dcols, dx, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """dx[n, c, id, ih, iw] = sum of the dcols entries that im2col3d copied from x[n, c, id, ih, iw]."""
    planes = dx.shape[0] * dx.shape[1]
    if dcols.size <= SERIAL_WORK:
        for t in range(planes):
            _col2im3d_plane(dcols, dx, t, sd, sh, sw, pd, ph, pw, dd, dh, dw)
    else:
        for t in prange(planes):
            _col2im3d_plane(dcols, dx, t, sd, sh, sw, pd, ph, pw, dd, dh, dw)


@cuda.jit(cache=True)
def col2im3d_cuda(dcols, dx, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    # One thread per input element gathers its taps: no atomics, deterministic.
    C, KD, KH, KW, N, OD, OH, OW = dcols.shape
    D, H, W = dx.shape[2], dx.shape[3], dx.shape[4]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        iw = i % W
        r = i // W
        ih = r % H
        r //= H
        idp = r % D
        r //= D
        c = r % C
        n = r // C
        acc = 0.0
        for kd in range(KD):
            td = idp + pd - kd * dd
            if td < 0 or td % sd != 0 or td // sd >= OD:
                continue
            for ki in range(KH):
                th = ih + ph - ki * dh
                if th < 0 or th % sh != 0 or th // sh >= OH:
                    continue
                for kj in range(KW):
                    tw = iw + pw - kj * dw
                    if tw < 0 or tw % sw != 0 or tw // sw >= OW:
                        continue
                    acc += dcols[c, kd, ki, kj, n, td // sd, th // sh, tw // sw]
        dx[n, c, idp, ih, iw] = acc


col2im3d = KernelPair(col2im3d_cpu, col2im3d_cuda)
