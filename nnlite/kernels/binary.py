"""Pointwise binary kernels with broadcasting: arithmetic, comparisons, where.

Every kernel takes (a, b, out, walk): `a` and `b` are the operands' own flat
contiguous arrays, `out` the flat output, and `walk` an int64 array with the
output collapsed to a canonical 4-D shape and each operand's element strides
over it (0 along broadcast dimensions). See `_loops.binary_loop`.

CPU kernels are one per op (each vectorised with its scalar function inlined);
their CUDA twin is one kernel per family, taking an op code. `where` is the
ternary member: (cond, a, b, out, walk) with three operands' strides in walk.
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK, bcast_offsets, binary_loop, operand_kind, walk_offsets


# ---------------------------------------------------------------- arithmetic

@njit(inline="always")
def _add(x, y):
    return x + y


@njit(inline="always")
def _sub(x, y):
    return x - y


@njit(inline="always")
def _mul(x, y):
    return x * y


@njit(inline="always")
def _div(x, y):
    return x / y


@njit(inline="always")
def _floor_divide(x, y):
    return x // y


@njit(inline="always")
def _remainder(x, y):
    return x % y


@njit(inline="always")
def _pow(x, y):
    return x ** y


@njit(inline="always")
def _maximum(x, y):
    return x if (x > y or x != x) else y


@njit(inline="always")
def _minimum(x, y):
    return x if (x < y or x != x) else y


@njit(parallel=True, cache=True)
def add_cpu(a, b, out, walk):
    binary_loop(_add, a, b, out, walk)


@njit(parallel=True, cache=True)
def sub_cpu(a, b, out, walk):
    binary_loop(_sub, a, b, out, walk)


@njit(parallel=True, cache=True)
def mul_cpu(a, b, out, walk):
    binary_loop(_mul, a, b, out, walk)


@njit(parallel=True, cache=True, error_model="numpy")
def div_cpu(a, b, out, walk):
    binary_loop(_div, a, b, out, walk)


@njit(parallel=True, cache=True, error_model="numpy")
def floor_divide_cpu(a, b, out, walk):
    binary_loop(_floor_divide, a, b, out, walk)


@njit(parallel=True, cache=True, error_model="numpy")
def remainder_cpu(a, b, out, walk):
    binary_loop(_remainder, a, b, out, walk)


@njit(parallel=True, cache=True, error_model="numpy")
def pow_cpu(a, b, out, walk):
    binary_loop(_pow, a, b, out, walk)


@njit(parallel=True, cache=True)
def maximum_cpu(a, b, out, walk):
    binary_loop(_maximum, a, b, out, walk)


@njit(parallel=True, cache=True)
def minimum_cpu(a, b, out, walk):
    binary_loop(_minimum, a, b, out, walk)


(ADD, SUB, MUL, DIV, FLOOR_DIVIDE, REMAINDER, POW, MAXIMUM, MINIMUM) = range(9)


@cuda.jit(device=True)
def _arith_dev(op, out, i, x, y):
    # Each branch stores for itself: returning values of different types
    # would unify them (int64 through float64 loses precision).
    if op == ADD:
        out[i] = x + y
        return
    if op == SUB:
        out[i] = x - y
        return
    if op == MUL:
        out[i] = x * y
        return
    if op == DIV:
        out[i] = x / y
        return
    if op == FLOOR_DIVIDE:
        out[i] = x // y
        return
    if op == REMAINDER:
        out[i] = x % y
        return
    if op == POW:
        out[i] = x ** y
        return
    if op == MAXIMUM:
        out[i] = x if (x > y or x != x) else y
        return
    out[i] = x if (x < y or x != x) else y


@cuda.jit(device=True)
def _operands(a, b, i, shape, sa, sb, ka, kb):
    ia, ib = walk_offsets(i, shape, sa, sb, ka, kb)
    return a[ia], b[ib]


@cuda.jit(cache=True)
def arith_cuda(a, b, out, walk, op):
    shape = (walk[0], walk[1], walk[2], walk[3])
    sa = (walk[4], walk[5], walk[6], walk[7])
    sb = (walk[8], walk[9], walk[10], walk[11])
    ka, kb = operand_kind(shape, sa), operand_kind(shape, sb)
    n, i, step = out.size, cuda.grid(1), cuda.gridsize(1)
    while i + 3 * step < n:  # four elements' loads in flight per thread (kernels/_loops.py)
        i1, i2, i3 = i + step, i + 2 * step, i + 3 * step
        x0, y0 = _operands(a, b, i, shape, sa, sb, ka, kb)
        x1, y1 = _operands(a, b, i1, shape, sa, sb, ka, kb)
        x2, y2 = _operands(a, b, i2, shape, sa, sb, ka, kb)
        x3, y3 = _operands(a, b, i3, shape, sa, sb, ka, kb)
        _arith_dev(op, out, i, x0, y0)
        _arith_dev(op, out, i1, x1, y1)
        _arith_dev(op, out, i2, x2, y2)
        _arith_dev(op, out, i3, x3, y3)
        i += 4 * step
    while i < n:
        x0, y0 = _operands(a, b, i, shape, sa, sb, ka, kb)
        _arith_dev(op, out, i, x0, y0)
        i += step


add = KernelPair(add_cpu, arith_cuda, ADD)
sub = KernelPair(sub_cpu, arith_cuda, SUB)
mul = KernelPair(mul_cpu, arith_cuda, MUL)
div = KernelPair(div_cpu, arith_cuda, DIV)
floor_divide = KernelPair(floor_divide_cpu, arith_cuda, FLOOR_DIVIDE)
remainder = KernelPair(remainder_cpu, arith_cuda, REMAINDER)
pow = KernelPair(pow_cpu, arith_cuda, POW)
maximum = KernelPair(maximum_cpu, arith_cuda, MAXIMUM)
minimum = KernelPair(minimum_cpu, arith_cuda, MINIMUM)


# ---------------------------------------------------------------- comparisons and logic

@njit(inline="always")
def _eq(x, y):
    return x == y


@njit(inline="always")
def _ne(x, y):
    return x != y


@njit(inline="always")
def _lt(x, y):
    return x < y


@njit(inline="always")
def _le(x, y):
    return x <= y


@njit(inline="always")
def _gt(x, y):
    return x > y


@njit(inline="always")
def _ge(x, y):
    return x >= y


@njit(inline="always")
def _logical_and(x, y):
    return bool(x) and bool(y)


@njit(inline="always")
def _logical_or(x, y):
    return bool(x) or bool(y)


@njit(inline="always")
def _logical_xor(x, y):
    return bool(x) != bool(y)


@njit(parallel=True, cache=True)
def eq_cpu(a, b, out, walk):
    binary_loop(_eq, a, b, out, walk)


@njit(parallel=True, cache=True)
def ne_cpu(a, b, out, walk):
    binary_loop(_ne, a, b, out, walk)


@njit(parallel=True, cache=True)
def lt_cpu(a, b, out, walk):
    binary_loop(_lt, a, b, out, walk)


@njit(parallel=True, cache=True)
def le_cpu(a, b, out, walk):
    binary_loop(_le, a, b, out, walk)


@njit(parallel=True, cache=True)
def gt_cpu(a, b, out, walk):
    binary_loop(_gt, a, b, out, walk)


@njit(parallel=True, cache=True)
def ge_cpu(a, b, out, walk):
    binary_loop(_ge, a, b, out, walk)


@njit(parallel=True, cache=True)
def logical_and_cpu(a, b, out, walk):
    binary_loop(_logical_and, a, b, out, walk)


@njit(parallel=True, cache=True)
def logical_or_cpu(a, b, out, walk):
    binary_loop(_logical_or, a, b, out, walk)


@njit(parallel=True, cache=True)
def logical_xor_cpu(a, b, out, walk):
    binary_loop(_logical_xor, a, b, out, walk)


(EQ, NE, LT, LE, GT, GE, LOGICAL_AND, LOGICAL_OR, LOGICAL_XOR) = range(9)


@cuda.jit(device=True)
def _compare_dev(op, x, y):
    if op == EQ:
        return x == y
    if op == NE:
        return x != y
    if op == LT:
        return x < y
    if op == LE:
        return x <= y
    if op == GT:
        return x > y
    if op == GE:
        return x >= y
    if op == LOGICAL_AND:
        return bool(x) and bool(y)
    if op == LOGICAL_OR:
        return bool(x) or bool(y)
    return bool(x) != bool(y)


@cuda.jit(cache=True)
def compare_cuda(a, b, out, walk, op):
    shape = (walk[0], walk[1], walk[2], walk[3])
    sa = (walk[4], walk[5], walk[6], walk[7])
    sb = (walk[8], walk[9], walk[10], walk[11])
    ka, kb = operand_kind(shape, sa), operand_kind(shape, sb)
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ia, ib = walk_offsets(i, shape, sa, sb, ka, kb)
        out[i] = _compare_dev(op, a[ia], b[ib])


eq = KernelPair(eq_cpu, compare_cuda, EQ)
ne = KernelPair(ne_cpu, compare_cuda, NE)
lt = KernelPair(lt_cpu, compare_cuda, LT)
le = KernelPair(le_cpu, compare_cuda, LE)
gt = KernelPair(gt_cpu, compare_cuda, GT)
ge = KernelPair(ge_cpu, compare_cuda, GE)
logical_and = KernelPair(logical_and_cpu, compare_cuda, LOGICAL_AND)
logical_or = KernelPair(logical_or_cpu, compare_cuda, LOGICAL_OR)
logical_xor = KernelPair(logical_xor_cpu, compare_cuda, LOGICAL_XOR)


# ---------------------------------------------------------------- bitwise (integer and bool)

@njit(inline="always")
def _bitwise_and(x, y):
    return x & y


@njit(inline="always")
def _bitwise_or(x, y):
    return x | y


@njit(inline="always")
def _bitwise_xor(x, y):
    return x ^ y


@njit(parallel=True, cache=True)
def bitwise_and_cpu(a, b, out, walk):
    binary_loop(_bitwise_and, a, b, out, walk)


@njit(parallel=True, cache=True)
def bitwise_or_cpu(a, b, out, walk):
    binary_loop(_bitwise_or, a, b, out, walk)


@njit(parallel=True, cache=True)
def bitwise_xor_cpu(a, b, out, walk):
    binary_loop(_bitwise_xor, a, b, out, walk)


(BITWISE_AND, BITWISE_OR, BITWISE_XOR) = range(3)


@cuda.jit(cache=True)
def bitwise_cuda(a, b, out, walk, op):
    # a family of its own: `&` does not type for the float arrays the arithmetic kernel takes
    shape = (walk[0], walk[1], walk[2], walk[3])
    sa = (walk[4], walk[5], walk[6], walk[7])
    sb = (walk[8], walk[9], walk[10], walk[11])
    ka, kb = operand_kind(shape, sa), operand_kind(shape, sb)
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        x, y = _operands(a, b, i, shape, sa, sb, ka, kb)
        if op == BITWISE_AND:
            out[i] = x & y
        elif op == BITWISE_OR:
            out[i] = x | y
        else:
            out[i] = x ^ y


bitwise_and = KernelPair(bitwise_and_cpu, bitwise_cuda, BITWISE_AND)
bitwise_or = KernelPair(bitwise_or_cpu, bitwise_cuda, BITWISE_OR)
bitwise_xor = KernelPair(bitwise_xor_cpu, bitwise_cuda, BITWISE_XOR)


# ---------------------------------------------------------------- where (ternary)

@njit(inline="always")
def _where_task(c, a, b, out, walk, t):
    shape = (walk[0], walk[1], walk[2], walk[3])
    sc = (walk[4], walk[5], walk[6], walk[7])
    sa = (walk[8], walk[9], walk[10], walk[11])
    sb = (walk[12], walk[13], walk[14], walk[15])
    l = t % shape[3]
    r = t // shape[3]
    k = r % shape[2]
    r //= shape[2]
    j = r % shape[1]
    h = r // shape[1]
    ic = h * sc[0] + j * sc[1] + k * sc[2] + l * sc[3]
    ia = h * sa[0] + j * sa[1] + k * sa[2] + l * sa[3]
    ib = h * sb[0] + j * sb[1] + k * sb[2] + l * sb[3]
    out[t] = a[ia] if c[ic] else b[ib]


@njit(parallel=True, cache=True)
def where_cpu(c, a, b, out, walk):
    if out.size <= SERIAL_WORK:
        for t in range(out.size):
            _where_task(c, a, b, out, walk, t)
    else:
        for t in prange(out.size):
            _where_task(c, a, b, out, walk, t)


@cuda.jit(cache=True)
def where_cuda(c, a, b, out, walk):
    shape = (walk[0], walk[1], walk[2], walk[3])
    sc = (walk[4], walk[5], walk[6], walk[7])
    sa = (walk[8], walk[9], walk[10], walk[11])
    sb = (walk[12], walk[13], walk[14], walk[15])
    for t in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ic, ia = bcast_offsets(t, shape, sc, sa)
        ib = bcast_offsets(t, shape, sc, sb)[1]
        out[t] = a[ia] if c[ic] else b[ib]


where = KernelPair(where_cpu, where_cuda)
