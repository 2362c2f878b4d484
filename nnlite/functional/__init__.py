"""nnlite.functional: every op as a function (torch's names, signatures and numerics).

`nnlite.nn.functional` re-exports the neural-network part of it.
"""
from .binary import (add, bitwise_and, bitwise_or, bitwise_xor, div, divide, eq, equal, floor_divide,
                     ge, greater, greater_equal, gt, le, less, less_equal, logical_and, logical_or,
                     logical_xor, lt, maximum, minimum, mul, multiply, ne, not_equal, pow, remainder,
                     rsub, sub, subtract, true_divide, where)
from .conversion import to
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       linspace, normal_, ones, ones_like, rand, rand_like, randint, randint_like,
                       randn, randn_like, randperm, tensor, uniform_, zeros, zeros_like)
from .reduction import mean, sum, sum_to_size
from .shape import (broadcast_tensors, broadcast_to, cat, chunk, clone, concat, concatenate,
                    contiguous, expand, expand_as, flatten, flip, fliplr, flipud, hstack, movedim,
                    narrow, permute, repeat, repeat_interleave, reshape, reshape_as, split, squeeze,
                    stack, swapaxes, swapdims, t, tensor_split, tile, transpose, unbind, unflatten,
                    unsqueeze, view, view_as, vstack)
from .unary import (abs, absolute, bitwise_not, ceil, clamp, clamp_max, clamp_min, clip, cos, exp,
                    expm1, fix, floor, log, log1p, logical_not, neg, negative, reciprocal, round,
                    rsqrt, sgn, sigmoid, sign, sin, sqrt, square, tanh, trunc)
from ..tensor import Tensor
