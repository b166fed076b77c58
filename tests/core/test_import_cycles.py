"""No import cycles between typedflow's modules, counting the imports inside functions too (they run
as well; only ``if TYPE_CHECKING:`` imports never do). A cycle hidden in a function is how a layer
starts leaning on the one above it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Source folder -> the package it is installed as.
ROOTS = {"typedflow": "typedflow", "backends": "typedflow.backends"}


def modules(repo: Path, roots: dict[str, str]) -> dict[str, Path]:
    """Every module by its dotted name (a package by its ``__init__.py``)."""
    found: dict[str, Path] = {}
    for folder, package in roots.items():
        for path in sorted((repo / folder).rglob("*.py")):
            parts = [package, *path.relative_to(repo / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at any depth, but not under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            for other in child.orelse:
                yield from _imports(other)
        elif isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        else:
            yield from _imports(child)


def import_graph(mods: dict[str, Path], top: str) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from a import b`` is ``a.b`` when that is a module)."""

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names if a.name.split(".")[0] == top)
                continue
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.split(".")[0] != top:
                continue
            targets.update(known(f"{base}.{a.name}") if f"{base}.{a.name}" in mods else known(base) for a in node.names)
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, successors = work[-1]
            w = next(successors, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_typedflow_has_no_import_cycle() -> None:
    mods = modules(REPO, ROOTS)
    assert len(mods) > 100 and "typedflow.backends.local.interpreter" in mods
    graph = import_graph(mods, "typedflow")
    assert "typedflow.runtime.execute" in graph["typedflow.backends.local.isolation"]  # the graph sees imports
    assert cycles(graph) == []


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "typedflow"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typedflow.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from typedflow import a\n")
    (pkg / "d.py").write_text("import typedflow.c\n")
    mods = modules(tmp_path, {"typedflow": "typedflow"})
    graph = import_graph(mods, "typedflow")
    assert graph["typedflow.c"] == set()  # for the type checker only: never runs
    assert graph["typedflow.d"] == {"typedflow.c"}
    assert cycles(graph) == [["typedflow.a", "typedflow.sub.b"]]
