"""torch.compiler's names that model code calls while running eagerly. nnlite has no graph
compiler: code always runs as the Python it is, so nothing is ever "compiling" and `disable`
hands the function back unchanged. `compile` is not offered."""


def is_compiling():
    return False


def disable(fn=None, recursive=True):
    """@torch.compiler.disable or @torch.compiler.disable(recursive=False): eager already."""
    return fn if fn is not None else (lambda f: f)
