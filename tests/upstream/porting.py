"""Run upstream Python files (torchvision's, detectron2's) on nnlite with only their imports
changed, as a user porting them would.

`port(sources, package, modules)` writes the chosen upstream files into a fresh package under a
temporary folder, rewriting each import statement and nothing else, and imports them. An
import's target is decided by the longest matching prefix in `modules`:

    {"torch": "nnlite",                       # the framework
     "torchvision.ops.misc": PORTED,          # a file under test, loaded from `sources`
     "torchvision.ops": "nnlite.ops",         # nnlite's twin of an upstream module
     "torchvision.utils": "tests.upstream.stand_ins"}   # upstream plumbing (logging, weights)

The same sources can be loaded with {"torch": "torch"} to get upstream's own numbers on PyTorch.
"""
import ast
import importlib
import itertools
import os
import sys
import zipfile

PORTED = object()
_counter = itertools.count()


def wheel_sources(wheel_path, prefix):
    """{module name: source text} of every .py file under `prefix` (e.g. "torchvision/") in a wheel."""
    out = {}
    with zipfile.ZipFile(wheel_path) as wheel:
        for name in wheel.namelist():
            if name.startswith(prefix) and name.endswith(".py"):
                out[_module_name(name)] = wheel.read(name).decode()
    return out


def tree_sources(root, prefix):
    """{module name: source text} of every .py file under root/prefix (a source checkout)."""
    out = {}
    for folder, _, files in os.walk(os.path.join(root, prefix)):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                with open(path) as fh:
                    out[_module_name(os.path.relpath(path, root))] = fh.read()
    return out


def _module_name(path):
    name = path[:-3].replace("/", ".").replace(os.sep, ".")
    return name[:-len(".__init__")] if name.endswith(".__init__") else name


def _is_package(sources, module):
    return any(other.startswith(module + ".") for other in sources)


def port(sources, modules, tmp_dir):
    """Write the PORTED modules of `sources` (rewritten) under a new top-level package in
    tmp_dir, import them, and return {upstream module name: imported module}."""
    top = f"ported_{next(_counter)}_{os.getpid()}"
    wanted = [m for m in sources if _target(m, modules) is PORTED]
    if not wanted:
        raise ValueError("no source module is marked PORTED")
    for module in wanted + _parents(wanted):
        path = os.path.join(tmp_dir, top, *module.split("."))
        if _is_package(sources, module):
            path = os.path.join(path, "__init__")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = sources.get(module, "") if module in wanted else ""
        with open(path + ".py", "w") as fh:
            fh.write(rewrite_imports(text, module, _is_package(sources, module), modules, top))
    open(os.path.join(tmp_dir, top, "__init__.py"), "a").close()
    sys.path.insert(0, tmp_dir)
    try:
        return {m: importlib.import_module(f"{top}.{m}") for m in wanted}
    finally:
        sys.path.remove(tmp_dir)


def _parents(modules):
    parents = set()
    for m in modules:
        parts = m.split(".")
        parents.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(parents - set(modules))


def _target(module, modules):
    """Where an upstream module name points: PORTED, or the replacement module name."""
    best = None
    for prefix in modules:
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best):
                best = prefix
    if best is None:
        return module  # the standard library and other third-party modules stay as they are
    replacement = modules[best]
    return PORTED if replacement is PORTED else replacement + module[len(best):]


def _absolute(node, module, is_package):
    if not node.level:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _resolve(name, modules, top):
    target = _target(name, modules)
    return f"{top}.{name}" if target is PORTED else target


def _rewrite_node(node, module, is_package, modules, top):
    """The import statement `node` with its module names mapped."""
    if isinstance(node, ast.Import):
        parts = []
        for alias in node.names:
            new = _resolve(alias.name, modules, top)
            if alias.asname:
                parts.append(f"import {new} as {alias.asname}")
            elif new == alias.name:
                parts.append(f"import {new}")
            elif "." not in alias.name:
                parts.append(f"import {new} as {alias.name}")
            else:  # `import torch.fx` binds `torch`: bind the same name to the replacement's top
                head = alias.name.split(".")[0]
                parts.append(f"import {new}")
                parts.append(f"import {_resolve(head, modules, top)} as {head}")
        return "; ".join(parts)
    source = _absolute(node, module, is_package)
    groups = {}  # the replacement module -> the names imported from it
    for alias in node.names:
        # `from torchvision.ops import misc`: a ported submodule comes from the ported package
        submodule_ported = _target(f"{source}.{alias.name}", modules) is PORTED
        home = f"{top}.{source}" if submodule_ported else _resolve(source, modules, top)
        groups.setdefault(home, []).append(alias.name + (f" as {alias.asname}" if alias.asname else ""))
    return "; ".join(f"from {home} import {', '.join(names)}" for home, names in groups.items())


def rewrite_imports(text, module, is_package, modules, top):
    """`text` with every import statement (at any depth) mapped and every other line unchanged."""
    if not text:
        return text
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            edits.append((node.lineno - 1, node.col_offset, node.end_lineno, node.end_col_offset,
                          _rewrite_node(node, module, is_package, modules, top)))
    for start, col, end, end_col, new in sorted(edits, reverse=True):
        # keep what precedes the statement on its first line (indent, `if x:`) and what
        # follows it on its last (a comment, the newline); offsets are in UTF-8 bytes
        first, last = lines[start].encode(), lines[end - 1].encode()
        lines[start:end] = [(first[:col] + new.encode() + last[end_col:]).decode()]
    return "".join(lines)
