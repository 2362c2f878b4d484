"""conv2d's Winograd F(2x2, 3x3) algorithm (kernels/conv_winograd.py's transforms around 16
GEMMs): 3x3, stride-1 convolutions with 2.25x fewer multiply-adds than im2col + GEMM, and
transformed tiles smaller than im2col's columns. `conv.py`'s `_algorithm` picks it."""
from ..backend.lazy import kernels
from ._arrays import array_strides, strided_view
from ._util import empty_array, flat
from .linear import _mT

KW = kernels("conv_winograd")
KM = kernels("matmul")


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


# Winograd buffers are 16 planes (one per tile position) whose plane stride is
# PLANE_PAD elements more than their size: plane sizes are usually multiples of
# 4 KiB, and 16 load/store streams 4 KiB apart fight over the same L1 sets
# (the input transform ran 6x slower without the gap).
PLANE_PAD = 32


def _planes16(shape, dtype, dev):
    """An uninitialised (16, *shape) array with padded planes (a strided view)."""
    size = _prod(shape)
    buf = empty_array((16 * (size + PLANE_PAD),), dtype, dev)
    inner = tuple(_prod(shape[i + 1:]) for i in range(len(shape)))
    return strided_view(buf, (16, *shape), (size + PLANE_PAD, *inner))


def _matrices(planes):
    """(16, channels, ...) planes as 16 (channels, rest) matrices (a view)."""
    shape = tuple(planes.shape)
    st = array_strides(planes)
    return strided_view(planes, (16, shape[1], _prod(shape[2:])), (st[0], st[1], 1))


def _gemm_into(a, b, out):
    """out = a @ b for (16, M, K) @ (16, K, N) into 16 padded planes; returns out."""
    KM.matmul(a, b, _matrices(out))
    return out


def _tile_grid(x, geo):
    """(N, TH, TW): the Winograd tile grid, one tile per 2x2 block of outputs."""
    return x.shape[0], (geo.out_size[0] + 1) // 2, (geo.out_size[1] + 1) // 2


def _winograd_inputs(x, geo, dtype, dev):
    v = _planes16((x.shape[1], *_tile_grid(x, geo)), dtype, dev)
    KW.winograd_input(x, v, *geo.pad, dtype.np.type(0))
    return v


def _winograd_weights(w, dtype, dev):
    u = _planes16(w.shape[:2], dtype, dev)
    KW.winograd_weight(w, u)
    return u


def forward(x, w, bias, geo, dtype, dev):
    n, o = x.shape[0], w.shape[0]
    v = _winograd_inputs(x, geo, dtype, dev)
    m = _gemm_into(_winograd_weights(w, dtype, dev), _matrices(v), _planes16((o, *_tile_grid(x, geo)), dtype, dev))
    del v
    out = empty_array((n, o, *geo.out_size), dtype, dev)
    KW.winograd_output(m, flat(w) if bias is None else bias, out, bias is not None)
    return out


def backward(g, x, w, geo, needs, dtype, dev):
    # All transforms first, then both GEMMs, then the inverse transforms: Numba's
    # threads and BLAS's hand over the cores twice instead of four times.
    o, c, grid = w.shape[0], x.shape[1], _tile_grid(x, geo)
    g_tiles = _planes16((o, *grid), dtype, dev)
    g_bias = empty_array((o,), dtype, dev)
    KW.winograd_output_grad(g, g_tiles, g_bias, dtype.np.type(0))
    v = _winograd_inputs(x, geo, dtype, dev) if needs[1] else None
    u = _winograd_weights(w, dtype, dev) if needs[0] else None
    g_u = _gemm_into(_matrices(g_tiles), _mT(_matrices(v)), _planes16((o, c), dtype, dev)) if needs[1] else None
    del v
    g_v = _gemm_into(_mT(u), _matrices(g_tiles), _planes16((c, *grid), dtype, dev)) if needs[0] else None
    del g_tiles
    gx = gw = None
    if needs[1]:
        gw = empty_array(w.shape, dtype, dev)
        KW.winograd_weight_grad(g_u, gw)
    if needs[0]:
        gx = empty_array(x.shape, dtype, dev)
        KW.winograd_input_grad(g_v, gx, *geo.pad)
    return gx, gw, g_bias
