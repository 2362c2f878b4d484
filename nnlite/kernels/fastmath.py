"""Vectorisable math for CPU kernels.

Without Intel's SVML, `math.exp` in a Numba loop is a scalar call into libm,
which made softmax 3.3x slower than PyTorch here. `fexp` is an inlinable
polynomial that LLVM vectorises: for float32 it is accurate to within one ulp
(tested against float64 numpy), handles inf, -inf, NaN, overflow and the
subnormal range; for float64 it is `math.exp` itself, so double precision
stays exact. `ftanh` is built the same way on top of it. CUDA kernels call `math.exp`, which the GPU computes in hardware.
`fexp_nonpos` is fexp for arguments <= 0 and not NaN (softmax's x - max), twice as fast.
`ferf` (gelu), `flog1p` (logsigmoid, softplus, mish) and `fexpm1` (elu) follow the same pattern:
a branch-free float32 formula within two ulps of float64, the libm function itself for float64.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload


@intrinsic
def _int_bits_as_float32(typingctx, i):
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


def fexp(x):
    """exp(x); compiled by the overload below (float32: vectorisable polynomial)."""
    return math.exp(x)


_f = np.float32


@njit(inline="always")
def _exp_parts(xc):
    """(exp(r), n) with xc = n*ln2 + r, r in [-ln2/2, ln2/2] (Cephes expf); xc clamped by the caller."""
    # np.floor keeps float32 (math.floor returns int64, which turned the
    # whole polynomial into float64 and halved the vector width).
    n = np.floor(xc * _f(1.44269504) + _f(0.5))
    r = xc - n * _f(0.693359375)
    r = r - n * _f(-2.12194440e-4)
    p = _f(1.9875691500e-4)
    p = p * r + _f(1.3981999507e-3)
    p = p * r + _f(8.3334519073e-3)
    p = p * r + _f(4.1665795894e-2)
    p = p * r + _f(1.6666665459e-1)
    p = p * r + _f(5.0000001201e-1)
    return p * r * r + r + _f(1.0), n


@overload(fexp)
def _fexp_overload(x):
    if x != types.float32:
        return lambda x: math.exp(x)

    def exp_float32(x):
        # exp(x) = 2**n * exp(r). Clamp first so float->int conversion is
        # defined; NaN is restored last.
        xc = x if x < _f(89.0) else _f(89.0)
        xc = xc if xc > _f(-104.0) else _f(-104.0)
        p, n = _exp_parts(xc)
        # 2**n as two factors, so results in the subnormal range and overflow
        # to inf come out right instead of wrapping the exponent bits.
        ni = np.int32(n)
        half = ni >> 1
        s1 = _int_bits_as_float32((half + np.int32(127)) << np.int32(23))
        s2 = _int_bits_as_float32((ni - half + np.int32(127)) << np.int32(23))
        res = p * s1 * s2
        return x if x != x else res
    return exp_float32


def fexp_nonpos(x):
    """exp(x) for x <= 0 that is not NaN (e.g. x - max(x) in softmax); compiled below.

    float32: the polynomial of fexp with a single 2**n factor and no NaN or
    overflow handling, twice as fast; for x < log(2**-126) = -87.34 (results in
    the subnormal range) it returns 0. float64: math.exp.
    """
    return math.exp(x)


@overload(fexp_nonpos)
def _fexp_nonpos_overload(x):
    if x != types.float32:
        return lambda x: math.exp(x)

    def exp_nonpos_float32(x):
        # below log(2**-126) the exponent bits of 2**n would wrap: flush to 0
        xc = x if x > _f(-87.33654) else _f(-87.33654)
        p, n = _exp_parts(xc)
        res = p * _int_bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))
        return res if x >= _f(-87.33654) else _f(0.0)
    return exp_nonpos_float32


def ftanh(x):
    """tanh(x); compiled by the overload below (float32: vectorisable)."""
    return math.tanh(x)


@overload(ftanh)
def _ftanh_overload(x):
    if x != types.float32:
        return lambda x: math.tanh(x)

    def tanh_float32(x):
        # Cephes tanhf: an odd polynomial near 0 (relative accuracy where
        # tanh(x) ~ x), 1 - 2/(exp(2|x|) + 1) elsewhere. Both are computed and
        # one selected, so the loop has no branch and vectorises.
        z = x * x
        p = _f(-5.70498872745e-3)
        p = p * z + _f(2.06390887954e-2)
        p = p * z + _f(-5.37397155531e-2)
        p = p * z + _f(1.33314422036e-1)
        p = p * z + _f(-3.33332819422e-1)
        small = p * z * x + x
        ax = abs(x)
        big = _f(1.0) - _f(2.0) / (fexp(ax + ax) + _f(1.0))
        big = big if x > 0 else -big
        return small if ax < _f(0.625) else big
    return tanh_float32


def like(v, c):
    """The constant c in the type of scalar v (compiled by the overload below).

    Numba types `1 - v` for a float32 v as float64 (int64 and float32 promote
    to float64), which halves the vector width; `like(v, 1) - v` stays float32.
    """
    return c


@overload(like)
def _like_overload(v, c):
    if v == types.float32:
        return lambda v, c: np.float32(c)
    return lambda v, c: c


@intrinsic
def _float32_bits_as_int(typingctx, x):
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return sig, codegen


@njit(inline="always")
def _pick(cond, a, b):
    """a if cond else b for float32, blended from the bits: no branch, so nothing for LLVM to
    sink into one and no phi node in a body that Numba inlines (which its SSA checks warn about)."""
    m = -np.int32(cond)
    return _int_bits_as_float32((_float32_bits_as_int(a) & m) | (_float32_bits_as_int(b) & ~m))


def ferf(x):
    """erf(x); compiled by the overload below (float32: vectorisable, float64: math.erf)."""
    return math.erf(x)


# The boundary between ferf's two formulas, and the point past which erf rounds to 1 in float32
# (1 - erf(3.93) = 2.6e-8 is under half an ulp of 1).
_ERF_SPLIT = 0.9
_ERF_SATURATE = 3.93


@overload(ferf, inline="always")
def _ferf_overload(x):
    if x != types.float32:
        return lambda x: math.erf(x)

    def erf_float32(x):
        # Two minimax fits (weighted Lawson iterations in float64, our own):
        # |x| < 0.9: erf(x) = x + x * p(x*x), p = erf(x)/x - 1 (the 1 kept apart so its rounding
        #   does not cost an ulp); relative error of the fit 1.2e-8.
        # |x| >= 0.9: erf(|x|) = 1 - exp(q(|x|)), q = log(erfc) on [0.9, 3.93]; error 1.6e-9 of 1.
        # Both are computed and one is selected by _pick, so the loop has no branch and vectorises;
        # inlined into the caller by Numba (inline="always"): left to LLVM, a body this size stays
        # a call in the loop, which then runs scalar (gelu's backward 20x slower).
        # Max error over a dense grid: 1.5 ulp against float64 math.erf (tests/functional/test_activation_extra.py).
        s = x * x
        p = _f(-6.090344395488501e-4)
        p = p * s + _f(5.011957138776779e-3)
        p = p * s + _f(-2.6778902858495712e-2)
        p = p * s + _f(1.1282140761613846e-1)
        p = p * s + _f(-3.761252462863922e-1)
        p = p * s + _f(1.2837915122509003e-1)
        small = x + x * p
        ax = abs(x)
        t = _pick(ax < _f(_ERF_SATURATE), ax, _f(_ERF_SATURATE))   # also sends inf (and NaN) to 3.93
        t = _pick(t > _f(_ERF_SPLIT), t, _f(_ERF_SPLIT))
        q = _f(1.9718527619261295e-4)
        q = q * t + _f(-3.0556421261280775e-3)
        q = q * t + _f(2.227722480893135e-2)
        q = q * t + _f(-1.0403764247894287e-1)
        q = q * t + _f(-6.370594501495361e-1)
        q = q * t + _f(-1.1277498006820679)
        q = q * t + _f(-1.7744710203260183e-4)
        big = _f(1.0) - fexp(q)
        big = _pick(x > 0, big, -big)
        res = _pick(ax < _f(_ERF_SPLIT), small, big)
        return _pick(x != x, x, res)
    return erf_float32


def flog1p(x):
    """log(1 + x); compiled by the overload below (float32: vectorisable, float64: math.log1p)."""
    return math.log1p(x)


_SQRT_HALF_BITS = 0x3F3504F3     # float32 bits of sqrt(1/2)


@overload(flog1p)
def _flog1p_overload(x):
    if x != types.float32:
        return lambda x: math.log1p(x)

    def log1p_float32(x):
        # u = 1 + x = 2**e * m with m in [sqrt(1/2), sqrt(2)), split from u's bits (no libm call);
        # log(m) = f - f*f/2 + f**3 * P(f), f = m - 1, with Cephes logf's polynomial; the rounding
        # error of 1 + x is added back as (x - (u - 1)) / u, which keeps tiny x exact.
        u = _f(1.0) + x
        ix = _float32_bits_as_int(u) - np.int32(_SQRT_HALF_BITS)
        e = ix >> np.int32(23)
        m = _int_bits_as_float32((ix & np.int32(0x007FFFFF)) + np.int32(_SQRT_HALF_BITS))
        f = m - _f(1.0)
        fe = _f(e)
        c = (x - (u - _f(1.0))) / (u if u != 0 else _f(1.0))   # u = 0 (x = -1) is selected away below
        p = _f(7.0376836292e-2)
        p = p * f + _f(-1.1514610310e-1)
        p = p * f + _f(1.1676998740e-1)
        p = p * f + _f(-1.2420140846e-1)
        p = p * f + _f(1.4249322787e-1)
        p = p * f + _f(-1.6668057665e-1)
        p = p * f + _f(2.0000714765e-1)
        p = p * f + _f(-2.4999993993e-1)
        p = p * f + _f(3.3333331174e-1)
        z = f * f
        r = f * z * p + fe * _f(-2.12194440e-4) + c - _f(0.5) * z + f + fe * _f(0.693359375)
        r = r if u > 0 else (_f(-np.inf) if u == 0 else _f(np.nan))
        return x if x != x or x == _f(np.inf) or x == 0 else r   # NaN, inf and +-0 pass through
    return log1p_float32


def fexpm1(x):
    """exp(x) - 1; compiled by the overload below (float32: vectorisable, float64: math.expm1)."""
    return math.expm1(x)


@overload(fexpm1)
def _fexpm1_overload(x):
    if x != types.float32:
        return lambda x: math.expm1(x)

    def expm1_float32(x):
        # |x| < 1/2: the Taylor series to x**9 (remainder under 3e-10 relative), written as
        # x + x * (x * p) so that small results keep full relative precision (and -0 stays -0).
        # Elsewhere fexp(x) - 1 loses under two ulp. Both computed, one selected: no branch.
        p = _f(1.0 / 362880.0)
        p = p * x + _f(1.0 / 40320.0)
        p = p * x + _f(1.0 / 5040.0)
        p = p * x + _f(1.0 / 720.0)
        p = p * x + _f(1.0 / 120.0)
        p = p * x + _f(1.0 / 24.0)
        p = p * x + _f(1.0 / 6.0)
        p = p * x + _f(0.5)
        small = x + x * (x * p)
        big = fexp(x) - _f(1.0)            # inf, -inf (-> -1) and NaN come out right here
        res = small if abs(x) < _f(0.5) else big
        return x if x == 0 else res        # -0 stays -0
    return expm1_float32
