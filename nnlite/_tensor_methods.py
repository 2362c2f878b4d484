"""Tensor methods and operators, each a call to the functional op of the same name.

Kept apart from tensor.py so that the Tensor class stays readable and the
functional layer can import Tensor without a cycle.
"""
from . import functional as F
from .autograd.grad_mode import state as _grad_state
from .backend import dtype as _dt
from .functional import indexing as _indexing
from .functional.inplace import inplace  # noqa: F401  (also used by nn ops)
from .tensor import Tensor

# ------------------------------------------------------------------ operators


def _reverse(fn):
    def r(self, other):
        return fn(other, self)
    return r


def _binary_op(fn):
    def op(self, other):
        if not isinstance(other, (Tensor, int, float, bool)) and not hasattr(other, "dtype"):
            return NotImplemented
        return fn(self, other)
    return op


Tensor.__add__ = _binary_op(F.add)
Tensor.__radd__ = _binary_op(F.add)
Tensor.__sub__ = _binary_op(F.sub)
Tensor.__rsub__ = _binary_op(_reverse(F.sub))
Tensor.__mul__ = _binary_op(F.mul)
Tensor.__rmul__ = _binary_op(F.mul)
Tensor.__truediv__ = _binary_op(F.div)
Tensor.__rtruediv__ = _binary_op(_reverse(F.div))
Tensor.__floordiv__ = _binary_op(F.floor_divide)
Tensor.__rfloordiv__ = _binary_op(_reverse(F.floor_divide))
Tensor.__mod__ = _binary_op(F.remainder)
Tensor.__rmod__ = _binary_op(_reverse(F.remainder))
Tensor.__pow__ = _binary_op(F.pow)
Tensor.__rpow__ = _binary_op(_reverse(F.pow))
Tensor.__and__ = _binary_op(F.bitwise_and)
Tensor.__rand__ = _binary_op(F.bitwise_and)
Tensor.__or__ = _binary_op(F.bitwise_or)
Tensor.__ror__ = _binary_op(F.bitwise_or)
Tensor.__xor__ = _binary_op(F.bitwise_xor)
Tensor.__rxor__ = _binary_op(F.bitwise_xor)
Tensor.__eq__ = _binary_op(F.eq)
Tensor.__ne__ = _binary_op(F.ne)
Tensor.__lt__ = _binary_op(F.lt)
Tensor.__le__ = _binary_op(F.le)
Tensor.__gt__ = _binary_op(F.gt)
Tensor.__ge__ = _binary_op(F.ge)
Tensor.__neg__ = F.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = F.abs
Tensor.__invert__ = F.bitwise_not
Tensor.__matmul__ = _binary_op(F.matmul)
Tensor.__rmatmul__ = _binary_op(_reverse(F.matmul))
Tensor.__getitem__ = _indexing.getitem
Tensor.__setitem__ = _indexing.setitem


# ------------------------------------------------------------------ in-place ops

def _inplace_method(name, fn, uses_self=True):
    """Tensor.<name>: fn(self, *args) stored into self (see functional/inplace.py)."""
    def method(self, *args, **kwargs):
        operands = [a for a in args if isinstance(a, Tensor)] + \
                   [v for v in kwargs.values() if isinstance(v, Tensor)]
        return inplace(name, self, lambda x: fn(x, *args, **kwargs), operands, uses_self)
    method.__name__ = name
    return method


Tensor.add_ = _inplace_method("add_", F.add, uses_self=False)
Tensor.sub_ = _inplace_method("sub_", F.sub, uses_self=False)
Tensor.mul_ = _inplace_method("mul_", F.mul)
Tensor.div_ = _inplace_method("div_", F.div)
Tensor.pow_ = _inplace_method("pow_", F.pow)
Tensor.clamp_ = _inplace_method("clamp_", F.clamp)
Tensor.clamp_min_ = _inplace_method("clamp_min_", F.clamp_min)
Tensor.clamp_max_ = _inplace_method("clamp_max_", F.clamp_max)
Tensor.neg_ = _inplace_method("neg_", F.neg, uses_self=False)
Tensor.abs_ = _inplace_method("abs_", F.abs)
Tensor.exp_ = _inplace_method("exp_", F.exp)
Tensor.log_ = _inplace_method("log_", F.log)
Tensor.sqrt_ = _inplace_method("sqrt_", F.sqrt)
Tensor.sigmoid_ = _inplace_method("sigmoid_", F.sigmoid)
Tensor.tanh_ = _inplace_method("tanh_", F.tanh)
Tensor.floor_ = _inplace_method("floor_", F.floor)
Tensor.ceil_ = _inplace_method("ceil_", F.ceil)
Tensor.round_ = _inplace_method("round_", F.round)
Tensor.lerp_ = _inplace_method("lerp_", F.lerp)
Tensor.addcmul_ = _inplace_method("addcmul_", F.addcmul)
Tensor.addcdiv_ = _inplace_method("addcdiv_", F.addcdiv)
Tensor.__iadd__ = Tensor.add_
Tensor.__isub__ = Tensor.sub_
Tensor.__imul__ = Tensor.mul_
Tensor.__itruediv__ = Tensor.div_


def _copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        src = F.tensor(src, dtype=self.dtype, device=self._device)

    def moved(_):
        s = src.to(self._device, self.dtype)
        return F.expand(s, self.shape) if tuple(s.shape) != tuple(self.shape) else s
    return inplace("copy_", self, moved, (src,), uses_self=False)


def _fill_(self, value):
    if isinstance(value, Tensor):
        value = value.item()
    if _grad_state.enabled and (self._requires_grad or self._base is not None and self._base._requires_grad) \
            or not self.is_contiguous():
        return inplace("fill_", self, lambda x: F.full_like(x, value), uses_self=False)
    F.creation.fill_(self, value)  # the common case: one kernel writes the value
    self._version[0] += 1
    return self


def _zero_(self):
    return _fill_(self, 0)


def _uniform_(self, a=0.0, b=1.0, generator=None):
    return _random_fill(self, F.creation.uniform_, a, b, generator)


def _normal_(self, mean=0.0, std=1.0, generator=None):
    return _random_fill(self, F.creation.normal_, mean, std, generator)


def _random_fill(self, fill, a, b, generator):
    def draw(x):
        return fill(F.empty_like(x), a, b, generator)
    if _grad_state.enabled and (self._requires_grad or self._base is not None) or not self.is_contiguous():
        return inplace("random fill", self, draw, uses_self=False)
    fill(self, a, b, generator)
    self._version[0] += 1
    return self


def _bernoulli_(self, p=0.5, *, generator=None):
    """Tensor.bernoulli_(p): self filled with 1 where a draw falls under p (a float or a
    tensor of probabilities broadcast to self's shape), else 0."""
    if isinstance(p, Tensor):
        sample = F.creation.bernoulli(p.detach().to(self.dtype if self.dtype.is_floating_point else p.dtype)
                                      .expand(self.shape), generator=generator)
    else:
        sample = F.creation.bernoulli(self.detach(), float(p), generator=generator)
    return _copy_(self, sample)


def _bernoulli(self, p=None, *, generator=None):
    return F.creation.bernoulli(self, p, generator=generator)


Tensor.bernoulli_ = _bernoulli_
Tensor.bernoulli = _bernoulli
Tensor.copy_ = _copy_
Tensor.fill_ = _fill_
Tensor.zero_ = _zero_
Tensor.uniform_ = _uniform_
Tensor.normal_ = _normal_


# ------------------------------------------------------------------ methods

def _method(fn):
    def m(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    m.__name__ = fn.__name__
    m.__doc__ = fn.__doc__
    return m


for _family in F.FAMILIES:
    for _name in _family.TENSOR_METHODS:
        setattr(Tensor, _name, _method(getattr(_family, _name)))


def _where_method(self, condition, other):
    return F.where(condition, self, other)


Tensor.where = _where_method
Tensor.T = property(lambda self: F.permute(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(lambda self: F.transpose(self, -2, -1))


def _new_factory(fn):
    def m(self, *size, dtype=None, device=None, requires_grad=False):
        return fn(*size, dtype=dtype or self.dtype, device=device or self._device,
                  requires_grad=requires_grad)
    return m


Tensor.new_zeros = _new_factory(F.zeros)
Tensor.new_ones = _new_factory(F.ones)
Tensor.new_empty = _new_factory(F.empty)


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    return F.full(size, fill_value, dtype=dtype or self.dtype, device=device or self._device,
                  requires_grad=requires_grad)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return F.tensor(data, dtype=dtype or self.dtype, device=device or self._device,
                    requires_grad=requires_grad)


Tensor.new_full = _new_full
Tensor.new_tensor = _new_tensor

_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


def _type(self, dtype=None, non_blocking=False):
    """With no argument the type name ('nnlite.FloatTensor'), else a cast, as Tensor.type."""
    if dtype is None:
        prefix = "nnlite.cuda." if self._device.type == "cuda" else "nnlite."
        return prefix + _TYPE_NAMES[self.dtype.name]
    if isinstance(dtype, str):
        name = dtype.rsplit(".", 1)[-1]
        dtype = _dt.as_dtype(next(d for d, n in _TYPE_NAMES.items() if n == name))
    return self.to(dtype)


Tensor.type = _type
Tensor.__array_priority__ = 1000  # numpy defers to Tensor's reflected operators

Tensor.log2_ = _inplace_method("log2_", F.log2)
Tensor.tril_ = _inplace_method("tril_", F.tril, uses_self=False)
Tensor.triu_ = _inplace_method("triu_", F.triu, uses_self=False)
