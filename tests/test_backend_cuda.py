"""Backend pieces around numba.cuda that the op tests do not reach."""
import os
import subprocess
import sys

import numpy as np
import pytest

from nnlite.backend import cuda as backend_cuda


def test_numpy_without_row_stack_gets_the_alias_numba_cuda_needs(monkeypatch):
    """NumPy 2.5 removed np.row_stack; numba-cuda 0.30 looks it up when it first compiles."""
    monkeypatch.delattr(np, "row_stack", raising=False)
    backend_cuda._numpy_compat()
    assert np.row_stack is np.vstack


def test_numpy_with_row_stack_is_left_alone(monkeypatch):
    marker = object()
    monkeypatch.setattr(np, "row_stack", marker, raising=False)
    backend_cuda._numpy_compat()
    assert np.row_stack is marker


def test_a_pooled_block_returns_to_the_pool_only_after_its_last_view():
    """numba-cuda's views count references on their owner instead of holding it: a block
    must not go back to the caching allocator while a view (a slice, a strided view) still
    reads it. Checked on numba-cuda's own pointer classes at fake addresses (no GPU), in a
    process without the simulator, which replaces those classes."""
    pytest.importorskip("numba_cuda")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    done = subprocess.run([sys.executable, "-c", _POOL_CHECK], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


_POOL_CHECK = """
import ctypes, gc
from numba.cuda.cudadrv.driver import MemoryPointer
from nnlite.backend import memory
raw = MemoryPointer(None, ctypes.c_void_p(0x10000), 4096)
pool = memory._Pool(1 << 20)
base = memory.pooled_pointer(None, pool, 4096, raw)
view = base.view(256)
inner = view.view(256)
assert inner.device_pointer_value == 0x10000 + 512
del base; gc.collect()
assert not pool.free, "back in the pool while views read it"
del view; gc.collect()
assert not pool.free, "back in the pool while a view of a view reads it"
del inner; gc.collect()
assert pool.take(4096) is raw and pool.take(4096) is None, "not back in the pool, once, after the last view"
assert not memory._live_blocks
print("ok")
"""
