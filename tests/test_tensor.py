"""nnlite.Tensor: creation, attributes, conversion, devices, interop, printing."""
import copy
import pickle

import numpy as np
import pytest

import nnlite
from tests.helpers import assert_close


def test_tensor_infers_dtypes_like_torch(torch):
    for data in ([1, 2], [1.0, 2], [True, False], 3, 2.5, [[1, 2], [3, 4]], []):
        got, want = nnlite.tensor(data), torch.tensor(data)
        assert got.dtype.name == str(want.dtype).replace("torch.", ""), data
        assert tuple(got.shape) == tuple(want.shape)


def test_zero_dim_tensor_stays_zero_dim():
    t = nnlite.tensor(2.5)
    assert t.ndim == 0 and t.shape == () and t.item() == 2.5


def test_attributes():
    t = nnlite.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.dim() == 3 and t.ndim == 3 and t.numel() == 24
    assert t.dtype is nnlite.float32 and t.device == "cpu" and t.device == nnlite.device("cpu")
    assert t.is_leaf and not t.requires_grad and t.grad is None and t.grad_fn is None
    assert t.stride() == (12, 4, 1) and t.is_contiguous()
    assert t.shape.numel() == 24 and repr(t.shape) == "nnlite.Size([2, 3, 4])"
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.size(3)


def test_creation_functions(torch):
    assert_close(nnlite.zeros(2, 3), np.zeros((2, 3)))
    assert_close(nnlite.ones((2, 3)), np.ones((2, 3)))
    assert_close(nnlite.full((2,), 7), np.full(2, 7))
    assert nnlite.full((2,), 7).dtype is nnlite.int64
    assert_close(nnlite.arange(5), torch.arange(5))
    assert_close(nnlite.arange(1, 2, 0.25), torch.arange(1, 2, 0.25))
    assert nnlite.arange(1, 2, 0.25).dtype is nnlite.float32
    assert_close(nnlite.linspace(-1, 1, 7), torch.linspace(-1, 1, 7))
    assert_close(nnlite.eye(3, 4), torch.eye(3, 4))
    x = nnlite.ones(2, 3, dtype=nnlite.float64)
    for fn in ("zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"):
        y = getattr(nnlite, fn)(x)
        assert y.shape == x.shape and y.dtype is nnlite.float64
    assert nnlite.empty(0, 3).shape == (0, 3)


def test_negative_size_is_an_error():
    with pytest.raises(RuntimeError, match="negative dimension"):
        nnlite.zeros(2, -1)
    with pytest.raises(TypeError, match="must be a tuple of ints"):
        nnlite.zeros(2.5)


def test_random_is_seeded_and_in_range():
    nnlite.manual_seed(3)
    a = nnlite.rand(1000)
    nnlite.manual_seed(3)
    b = nnlite.rand(1000)
    assert_close(a, b)
    u = a.numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    n = nnlite.randn(20000).numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    r = nnlite.randint(3, 7, (1000,)).numpy()
    assert r.min() == 3 and r.max() == 6 and r.dtype == np.int64
    assert sorted(nnlite.randperm(10).tolist()) == list(range(10))


def test_numpy_shares_memory_and_from_numpy_shares_back():
    a = np.arange(6, dtype=np.float32)
    t = nnlite.from_numpy(a)
    a[0] = 100
    assert t[0].item() == 100
    t.numpy()[1] = 50
    assert a[1] == 50
    assert np.asarray(t).base is not None or np.shares_memory(np.asarray(t), a)


def test_numpy_refuses_tensors_that_require_grad():
    t = nnlite.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        t.numpy()
    assert_close(t.detach().numpy(), np.ones(2))


def test_from_numpy_rejects_unsupported_dtypes():
    with pytest.raises(TypeError, match="can't convert np.ndarray of type"):
        nnlite.from_numpy(np.zeros(2, dtype=np.complex64))


def test_item_tolist_and_python_protocols():
    t = nnlite.tensor([[1, 2], [3, 4]])
    assert t.tolist() == [[1, 2], [3, 4]]
    assert len(t) == 2 and [r.tolist() for r in t] == [[1, 2], [3, 4]]
    assert int(nnlite.tensor(3)) == 3 and float(nnlite.tensor(2.5)) == 2.5
    assert bool(nnlite.tensor([1.0])) is True
    assert [10, 20, 30][nnlite.tensor(1)] == 20
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(nnlite.ones(2))
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        nnlite.ones(2).item()


@pytest.mark.parametrize("target, name", [("float", "float32"), ("double", "float64"), ("half", "float16"),
                                          ("long", "int64"), ("int", "int32"), ("bool", "bool")])
def test_dtype_conversions(target, name):
    t = getattr(nnlite.tensor([0.0, 1.5, -2.0]), target)()
    assert t.dtype.name == name


def test_to_parses_like_torch(device):
    t = nnlite.ones(2)
    assert t.to(nnlite.float64).dtype is nnlite.float64
    assert t.to(device).device == device
    assert t.to(device, nnlite.float64).dtype is nnlite.float64
    assert t.to(dtype=nnlite.int64).dtype is nnlite.int64
    other = nnlite.zeros(1, dtype=nnlite.float64, device=device)
    moved = t.to(other)
    assert moved.dtype is nnlite.float64 and moved.device == other.device
    assert t.to(nnlite.float32) is t
    assert t.to(nnlite.float32, copy=True) is not t


def test_to_is_differentiable_across_dtype_and_device(device):
    x = nnlite.tensor([1.0, 2.0], requires_grad=True)
    y = (x.to(device).double() * 3).sum()
    y.backward()
    assert x.grad.dtype is nnlite.float32 and x.grad.device == "cpu"
    assert_close(x.grad, np.array([3.0, 3.0]))


def test_cuda_roundtrip_and_errors(cuda_device):
    t = nnlite.arange(6).reshape(2, 3).cuda()
    assert t.device == "cuda:0" and t.is_cuda
    assert t.cpu().tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        t.numpy()
    assert "device='cuda:0'" in repr(t)


def test_device_parsing():
    assert nnlite.device("cuda:1").index == 1 and nnlite.device("cuda").index == 0
    assert str(nnlite.device("cpu")) == "cpu" and repr(nnlite.device("cuda:0")) == "device(type='cuda', index=0)"
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        nnlite.device("tpu")


def test_repr_matches_torch_format(torch):
    assert repr(nnlite.tensor([1.0, 2.5])) == repr(torch.tensor([1.0, 2.5]))
    assert repr(nnlite.tensor([[1, 2], [3, 4]])) == repr(torch.tensor([[1, 2], [3, 4]]))
    assert repr(nnlite.tensor([1.0, 2.0])) == repr(torch.tensor([1.0, 2.0]))
    assert repr(nnlite.tensor([True])) == repr(torch.tensor([True]))
    assert repr(nnlite.tensor([1.0], dtype=nnlite.float64)).endswith("dtype=nnlite.float64)")
    assert repr(nnlite.ones(1, requires_grad=True)).endswith("requires_grad=True)")


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating point"):
        nnlite.tensor([1, 2]).requires_grad_()
    x = nnlite.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    assert y.requires_grad and not y.is_leaf


def test_detach_shares_data_and_version():
    x = nnlite.ones(3, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad
    d[0] = 5
    assert x[0].item() == 5


def test_copy_and_pickle():
    x = nnlite.tensor([1.0, 2.0], requires_grad=True)
    y = copy.deepcopy(x)
    assert y.requires_grad and y.tolist() == [1.0, 2.0] and y is not x
    z = pickle.loads(pickle.dumps(x))
    assert z.tolist() == [1.0, 2.0] and z.requires_grad


def test_new_factories():
    x = nnlite.ones(2, dtype=nnlite.float64)
    assert x.new_zeros(3).dtype is nnlite.float64 and x.new_ones((2, 2)).shape == (2, 2)
    assert x.new_full((2,), 4.0).tolist() == [4.0, 4.0]
    assert x.new_tensor([1, 2]).dtype is nnlite.float64


def test_dlpack_roundtrip_with_torch(torch):
    t = nnlite.arange(6, dtype=nnlite.float32).reshape(2, 3)
    r = torch.from_dlpack(t)
    r[0, 0] = 42
    assert t[0, 0].item() == 42
    back = nnlite.from_dlpack(torch.arange(4).reshape(2, 2).t())
    assert back.tolist() == [[0, 2], [1, 3]] and back.stride() == (1, 2)


def test_dlpack_ctypes_path_on_cpu_memory(torch):
    """The hand-built DLManagedTensor (used for CUDA tensors) read by torch and read back by nnlite."""
    import gc
    from nnlite.utils import dlpack
    a = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    capsule = dlpack.export_capsule(a.ctypes.data, a.shape, [s // 4 for s in a.strides], a.dtype,
                                    dlpack.K_DL_CPU, 0, a)
    assert_close(torch.utils.dlpack.from_dlpack(capsule), a)
    unconsumed = dlpack.export_capsule(a.ctypes.data, a.shape, [s // 4 for s in a.strides], a.dtype,
                                       dlpack.K_DL_CPU, 0, a)
    del capsule, unconsumed
    gc.collect()
    assert not dlpack._live  # both the consumed and the unconsumed struct were freed
    back = dlpack.from_dlpack(torch.utils.dlpack.to_dlpack(torch.tensor([[1.5, 2.5]])))
    assert back.tolist() == [[1.5, 2.5]]


def test_cuda_array_interface(real_gpu):
    from numba import cuda
    t = nnlite.arange(4, dtype=nnlite.float32, device="cuda")
    view = cuda.as_cuda_array(t)
    assert view.copy_to_host().tolist() == [0, 1, 2, 3]
    back = nnlite.as_tensor(view)
    assert back.device == "cuda:0" and back.tolist() == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="requires grad"):
        nnlite.ones(2, device="cuda", requires_grad=True).__cuda_array_interface__


def test_as_tensor_shares_numpy_memory():
    a = np.zeros(3, dtype=np.float32)
    t = nnlite.as_tensor(a)
    a[1] = 7
    assert t[1].item() == 7
    assert nnlite.tensor(a)[1].item() == 7 and nnlite.tensor(a) is not t


def test_dlpack_of_a_cuda_tensor(real_gpu, torch):
    t = nnlite.arange(6, dtype=nnlite.float32, device="cuda").reshape(2, 3)
    assert t.__dlpack_device__() == (2, 0)
    back = nnlite.from_dlpack(t.__dlpack__())
    assert back.device == "cuda:0" and back.tolist() == t.tolist()
