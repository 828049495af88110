"""The package's import graph: no circle anywhere, and the engine and the services know no
SQL (issue 12).

The graph is read from the source with ``ast``: every ``import`` and ``from ... import`` of
a ``jobclock`` module, at module level and inside functions alike (a lazy import is still
an arrow), except under ``if TYPE_CHECKING:``. ``from jobclock.x import y`` where ``y`` is
a module is an arrow to ``jobclock.x.y``; otherwise to ``jobclock.x``. The packages a
module sits in are not arrows of their own (Python runs their ``__init__`` first, but they
import their submodules, so every package would be a circle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "jobclock"

Graph = dict[str, set[str]]


def module_files(root: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` under ``root``, by dotted name (a package by its own)."""
    files: dict[str, Path] = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    assert files, f"no modules of {package} under {root}"
    return files


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, in functions too, but none under
    ``if TYPE_CHECKING:`` (its ``else:`` branch does run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
        else:
            yield from _imports(node)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a ``from`` import names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """``name`` or its longest prefix that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(modules: Mapping[str, Path], package: str = PACKAGE) -> Graph:
    """module → the package's modules it imports."""
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _absolute(node, name, is_package)
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                    for alias in node.names
                ]
            for target in targets:
                if target == package or target.startswith(package + "."):
                    known = _known(target, modules)
                    if known is not None and known != name:
                        graph[name].add(known)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan's
    algorithm), each as a path that starts and ends at its smallest module name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: set[str] = set()
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
            visit(node)
    return sorted(_circle(graph, component) for component in components)


def _circle(graph: Graph, component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for successor in sorted(graph[node] & component):
                if successor == start:
                    return [*paths[node], start]
                if successor not in paths:
                    paths[successor] = [*paths[node], successor]
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def shown(circles: list[list[str]]) -> str:
    return "; ".join(" -> ".join(circle) for circle in circles)


def test_the_package_has_no_import_circle() -> None:
    found = cycles(import_graph(module_files()))
    assert not found, f"import circles: {shown(found)}"


def test_the_import_graph_sees_the_portal() -> None:
    # A check that finds nothing must be looking: the portal's real arrows are in the graph.
    graph = import_graph(module_files())
    assert {"jobclock.web.pages", "jobclock.web.editor"} <= graph["jobclock.web.routes"]
    assert graph["jobclock.web.pages"] >= {"jobclock.web.portal"}
    assert "jobclock.web.routes" in graph["jobclock.web"]


def _write(root: Path, files: Mapping[str, str], package: str = "pkg") -> dict[str, Path]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(root, package)


def test_the_check_finds_a_lazy_circle_through_a_submodule(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/web/__init__.py": "from pkg.web.app import make\n",
            "pkg/web/app.py": "def make():\n    from pkg.web import pages\n",
            "pkg/web/pages.py": "from pkg.web.app import make\n",
            "pkg/other.py": "import pkg.web.pages\n",
        },
    )
    assert cycles(import_graph(modules, "pkg")) == [["pkg.web.app", "pkg.web.pages", "pkg.web.app"]]


def test_the_check_resolves_relative_imports_and_skips_type_checking(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from . import b\n",
            "pkg/b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg import a\n"
                "else:\n    from .c import thing\n"
            ),
            "pkg/c.py": "from .a import *\nthing = 1\n",
        },
    )
    graph = import_graph(modules, "pkg")
    assert graph["pkg.b"] == {"pkg.c"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


# -- the engine and the services know no SQL --------------------------------------------
STORE_FREE = ("jobclock.engine", "jobclock.services")
SQL_MODULES = ("sqlalchemy", "jobclock.storage")


def sql_imports(modules: Mapping[str, Path]) -> dict[str, list[str]]:
    """module of engine/ or services.py → the SQL modules it imports (also lazily)."""
    found: dict[str, list[str]] = {}
    for name, path in modules.items():
        if not any(name == root or name.startswith(root + ".") for root in STORE_FREE):
            continue
        names: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            else:
                names.add(_absolute(node, name, path.name == "__init__.py"))
        bad = sorted(
            target
            for target in names
            if any(target == sql or target.startswith(sql + ".") for sql in SQL_MODULES)
        )
        if bad:
            found[name] = bad
    return found


def test_the_engine_and_the_services_import_no_sql() -> None:
    found = sql_imports(module_files())
    assert not found, "; ".join(f"{name} imports {', '.join(bad)}" for name, bad in found.items())


def test_the_sql_check_sees_a_lazy_import(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "jobclock/__init__.py": "",
            "jobclock/engine/__init__.py": "",
            "jobclock/engine/loop.py": "def f():\n    from sqlalchemy import select\n",
            "jobclock/services.py": "from jobclock.storage.sql_store import SqlStore\n",
            "jobclock/api.py": "import sqlalchemy\n",
        },
        "jobclock",
    )
    assert sql_imports(modules) == {
        "jobclock.engine.loop": ["sqlalchemy"],
        "jobclock.services": ["jobclock.storage.sql_store"],
    }
