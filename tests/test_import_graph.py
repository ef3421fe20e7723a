"""The package's own modules import each other without a circle (issue 18).

The rule this test enforces: build the graph of every ``import`` statement in every module of
`colorization_tf` that names one of the package's own modules, wherever it stands: at module level,
inside a function (a lazy import still says "this module needs that one"), and under
``if TYPE_CHECKING:`` (a type-only import still ties the two modules together). The graph must have
no cycle. Conventions:

- ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``;
  ``import a.b.c`` is an edge to ``a.b.c``. Python runs the enclosing packages' ``__init__`` first
  whatever the form, but a submodule reached through its own package is not a circle, so those
  implicit parent imports are not edges.
- ``importlib.import_module(...)`` with a computed name is invisible to `ast` and not counted.

Reference:
    import-linter's "independence" and "layers" contracts, and pydeps' cycle report, use the same
    edges: https://import-linter.readthedocs.io/en/stable/contract_types.html
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "colorization_tf"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE


def package_modules(package_dir: Path = PACKAGE_DIR, package: str = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's ``__init__``) for every ``.py`` under `package_dir`."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_modules(name: str, modules: dict[str, tuple[Path, bool]]) -> dict[str, int]:
    """The package modules `name` imports -> the line of the first such import."""
    path, is_package = modules[name]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            targets = submodules + ([base] if len(submodules) < len(node.names) else [])
        for target in targets:
            if target in modules and target != name:
                found.setdefault(target, node.lineno)
    return found


def import_graph(modules: dict[str, tuple[Path, bool]]) -> dict[str, dict[str, int]]:
    return {name: imported_modules(name, modules) for name in modules}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:  # recursion depth is bounded by the module count (~150)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    found = []
    for component in components:
        start = min(component)
        paths, seen = [[start]], {start}
        while paths:  # breadth first inside the component: the shortest way back to `start`
            path = paths.pop(0)
            nexts = sorted(set(graph[path[-1]]) & component)
            if start in nexts:
                found.append(path + [start])
                break
            for other in nexts:
                if other not in seen:
                    seen.add(other)
                    paths.append(path + [other])
    return found


def describe(cycle: list[str], graph: dict[str, dict[str, int]], modules) -> str:
    steps = [f"{a} (line {graph[a][b]} of {modules[a][0].relative_to(PACKAGE_DIR.parent)})" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(steps + [cycle[-1]])


def test_the_package_has_no_import_circle():
    modules = package_modules()
    graph = import_graph(modules)
    found = cycles(graph)
    assert not found, "import circles in colorization_tf (each module imports the next):\n" + "\n".join(
        describe(cycle, graph, modules) for cycle in found)


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


@pytest.mark.parametrize("files, expected", [
    # a lazy import inside a function closes the circle as well as a module-level one
    ({"__init__.py": "", "a.py": "from toy import b\n", "b.py": "def f():\n    from toy.a import x\n"}, [["toy.a", "toy.b", "toy.a"]]),
    # a type-only import counts; relative imports are resolved
    ({"__init__.py": "", "a.py": "from .b import y\n", "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"},
     [["toy.a", "toy.b", "toy.a"]]),
    # through a package facade: sub -> package __init__ -> sub
    ({"p/__init__.py": "from toy.p.sub import g\n", "p/sub.py": "def g():\n    from toy.p import h\n", "__init__.py": ""},
     [["toy.p", "toy.p.sub", "toy.p"]]),
    # a submodule importing a sibling through its package is no circle; neither is a package re-exporting it
    ({"__init__.py": "", "p/__init__.py": "from toy.p.sub import g\n", "p/sub.py": "from toy.p import other\n", "p/other.py": ""}, []),
])
def test_the_checker_finds_circles(tmp_path, files, expected):
    _write(tmp_path / "toy", files)
    modules = package_modules(tmp_path / "toy", "toy")
    assert cycles(import_graph(modules)) == expected
