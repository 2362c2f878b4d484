"""What upstream files import from their own plumbing (API-usage logging, tracing flags,
the compiled-extension check), which has nothing to do with nnlite: neutral stand-ins."""
import collections.abc
import itertools


def _log_api_usage_once(obj):
    """torchvision.utils: logs which API was used; nothing to log here."""


def _is_tracing():
    """torchvision._is_tracing: nnlite has no tracer."""
    return False


def _assert_has_ops():
    """torchvision.extension: checks that the compiled extension loaded; nnlite has none."""


def _make_ntuple(x, n):
    """torchvision.utils._make_ntuple: x repeated n times unless it is already a sequence."""
    if isinstance(x, collections.abc.Iterable):
        return tuple(x)
    return tuple(itertools.repeat(x, n))


def load_state_dict_from_url(url, *args, **kwargs):
    """torchvision._internally_replaced_utils: the tests build models with weights=None."""
    raise RuntimeError(f"the porting tests download no weights (asked for {url})")


class _Preset:
    """torchvision.transforms._presets: named in the weights tables, never called here."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("the porting tests run no transforms")


ImageClassification = ObjectDetection = _Preset


def _has_ops():
    """torchvision.extension: no compiled extension, so torchvision's Python files take their
    pure-PyTorch paths where they have one (roi_align's `_roi_align`)."""
    return False


def _register_custom_op():
    """torchvision.ops._register_onnx_ops: ONNX export symbolics; nothing is exported here."""
