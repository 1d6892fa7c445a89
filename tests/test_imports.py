"""The package's modules import each other without a cycle (a cycle made NUFFT's Toeplitz kernel depend on the
module that uses it, and the core on its test helpers)."""

import ast
import pathlib

import bridges

ROOT = pathlib.Path(bridges.__file__).parent


def module_graph() -> dict:
    """Module name -> the package modules it imports, anywhere in its text (imports inside functions too)."""
    files = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        package = parts[-1] == "__init__"
        files[".".join(parts[:-1] if package else parts)] = (path, package)
    graph = {}
    for name, (path, package) in files.items():
        here = name.split(".") if package else name.split(".")[:-1]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (
                    ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                    if node.level
                    else node.module
                )
                # `from . import testing` imports the module bridges.testing, `from .x import f` the module x
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            else:
                continue
            edges |= {t for t in targets if t in files and t != name}
        graph[name] = edges
    return graph


def cycles(graph) -> list:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_relative_and_lazy_imports():
    graph = module_graph()
    assert "bridges.operator" in graph["bridges.mri.nufft"]  # from ..operator import ...
    assert "bridges.mri.nufft_backends" in graph["bridges.mri.nufft"]  # from . import nufft_backends
    assert "bridges.testing" in graph["bridges"]  # from . import testing
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_the_modules():
    assert cycles(module_graph()) == [], "expected no import cycle among bridges' modules"
