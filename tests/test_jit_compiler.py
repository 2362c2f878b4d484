"""nnlite.jit / nnlite.compiler / nnlite._dynamo: the eager answers model code asks for
(detectron2's wrappers.py calls torch.jit.script_if_tracing at import and
torch._dynamo.is_compiling in Conv2d.forward)."""
import pytest

import nnlite
import nnlite._dynamo


def _double(x):
    return 2 * x


def test_jit_decorators_hand_the_function_back():
    assert nnlite.jit.script_if_tracing(_double) is _double
    assert nnlite.jit.is_scripting() is False and nnlite.jit.is_tracing() is False


def test_compiler_disable_both_forms_and_is_compiling():
    assert nnlite.compiler.disable(_double) is _double
    assert nnlite.compiler.disable(recursive=False)(_double) is _double
    assert nnlite.compiler.is_compiling() is False
    assert nnlite._dynamo.is_compiling() is False


def test_same_answers_as_torch_when_eager():
    torch = pytest.importorskip("torch")
    assert nnlite.compiler.is_compiling() == torch.compiler.is_compiling()
    assert nnlite._dynamo.is_compiling() == torch._dynamo.is_compiling()
    assert nnlite.jit.is_scripting() == torch.jit.is_scripting()
