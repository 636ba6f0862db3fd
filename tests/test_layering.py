"""Layering: the core and the CLI never import PySide6 (STYLE.md: dependencies point
`qt -> core` only); no import cycle among jobdock's modules; the simulator stays out of the core.

The Qt check runs in a fresh interpreter, since this process has Qt loaded by pytest-qt. It imports
`jobdock.core` and every module under it that exists now (a module that fails to import fails
the test too), and names the import chain that pulled Qt in, if one did.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

# Runs in the subprocess: a meta-path hook records who first imports a Qt module (and lets the
# import proceed), then every module of the package is imported.
PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, sys, traceback

    QT = ("PySide6", "shiboken6")
    first_import = []

    class Witness:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.split(".")[0] in QT and not first_import:
                frames = [f for f in traceback.extract_stack()[:-1] if "<frozen" not in f.filename]
                first_import.append((name, "".join(traceback.format_list(frames))))
            return None

    sys.meta_path.insert(0, Witness)
    package = importlib.import_module(sys.argv[1])
    imported = [package.__name__]
    if hasattr(package, "__path__"):
        def failed(name):
            raise ImportError(f"cannot import {name}")
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + ".", failed):
            importlib.import_module(module.name)
            imported.append(module.name)
    print("imported:", " ".join(imported))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in QT)
    if loaded:
        name, stack = first_import[0]
        sys.exit(f"{len(loaded)} Qt modules loaded; {name} was first imported from:\\n{stack}")
    """
)


def probe(module: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_core_and_all_its_modules_import_without_qt() -> None:
    out = probe("jobdock.core")
    assert out.startswith("imported: jobdock.core")


def test_cli_imports_without_qt() -> None:
    probe("jobdock.cli.main")


# --- the import graph, read from the source with `ast` -------------------------------------------
#
# Every `import jobdock...` and `from jobdock... import ...` (and relative imports) anywhere in a
# module: at module level, under `if TYPE_CHECKING:`, or inside a function. A lazy import inside a
# function still ties the two modules together, so it counts for cycles too.

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "gui" / "jobdock"


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    function: str | None  # the innermost enclosing function's name; None at module level


def module_names(root: Path) -> dict[str, Path]:
    """`package.sub.module` -> file, for every .py file under the package directory `root`."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(name: str, path: Path, modules: set[str]) -> list[Import]:
    """The imports of package modules in one module. `from a.b import c` names `a.b.c` when
    that is a module, else `a.b`; `import a.b.c` names `a.b.c`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(name, is_package, child)
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                # `import a.b.c` of a name that is no module: its longest module prefix.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.append(Import(name, target, child.lineno, function))
            visit(child, function)

    visit(tree, None)
    return found


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[Import]]:
    files = module_names(root)
    edges = [imp for name, path in files.items() for imp in imports_of(name, path, set(files))]
    graph: dict[str, set[str]] = {name: set() for name in files}
    for imp in edges:
        graph[imp.importer].add(imp.imported)
    return graph, edges


def shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """The shortest import path from `start` back to itself (`[start, ..., start]`)."""
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if start in graph[node]:
            path = [node]
            while path[-1] != start:
                path.append(previous[path[-1]])
            return [*reversed(path), start]
        for nxt in sorted(graph[node] & within):
            if nxt not in previous and nxt != start:
                previous[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is in no cycle")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles as paths `[a, b, ..., a]`: for every module in a strongly connected
    component, the shortest cycle through it (so each module caught in one is named)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm; the package is small enough to recurse
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    found: dict[tuple[str, ...], list[str]] = {}
    for component in components:
        for start in sorted(component):
            cycle = shortest_cycle(graph, start, component)
            at = cycle.index(min(cycle))  # one rotation per cycle, so each is reported once
            found.setdefault(tuple(cycle[at:-1] + cycle[:at]), cycle)
    return sorted(found.values())


def describe(cycle: list[str], edges: list[Import]) -> str:
    steps = []
    for a, b in itertools.pairwise(cycle):
        where = next(imp for imp in edges if imp.importer == a and imp.imported == b)
        scope = f" (in {where.function}())" if where.function else ""
        steps.append(f"  {a} -> {b}  line {where.line}{scope}")
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_no_import_cycle_in_the_package() -> None:
    graph, edges = import_graph(PACKAGE_ROOT)
    found = cycles(graph)
    assert not found, f"{len(found)} import cycles:\n" + "\n\n".join(
        describe(cycle, edges) for cycle in found
    )


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path: Path) -> None:
    package = tmp_path / "planted"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from planted.sub import b\n")  # resolves to module sub.b
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import thing\n")  # lazy
    (package / "c.py").write_text("import planted.a\nthing = 1\n")
    (package / "d.py").write_text("from planted import a\n")  # into the cycle, not part of it
    graph, edges = import_graph(package)
    assert graph["planted.a"] == {"planted.sub.b"}
    assert graph["planted.sub.b"] == {"planted.c"}
    assert cycles(graph) == [["planted.a", "planted.sub.b", "planted.c", "planted.a"]]
    text = describe(cycles(graph)[0], edges)
    assert "planted.sub.b -> planted.c  line 2 (in f())" in text

    (package / "c.py").write_text("thing = 1\n")
    assert cycles(import_graph(package)[0]) == []


def test_the_real_graph_is_read() -> None:
    """Guards the cycle test against passing on an empty or misread graph."""
    graph, edges = import_graph(PACKAGE_ROOT)
    assert len(graph) > 100
    assert "jobdock.core.store.jobs" in graph["jobdock.runtime"]
    assert any(imp.function for imp in edges)  # lazy imports are seen


def test_core_never_imports_the_simulator() -> None:
    _, edges = import_graph(PACKAGE_ROOT)
    wrong = [
        imp
        for imp in edges
        if imp.importer.startswith("jobdock.core") and imp.imported.startswith("jobdock.simulator")
    ]
    assert not wrong, "\n".join(f"{imp.importer} line {imp.line}: {imp.imported}" for imp in wrong)


# The demo's hooks in runtime.py: only inside these may runtime import the simulator, lazily, so
# that a run without --demo never loads it.
RUNTIME_DEMO_FUNCTIONS = {"open", "reset_demo"}


def test_runtime_imports_the_simulator_only_lazily_for_the_demo() -> None:
    _, edges = import_graph(PACKAGE_ROOT)
    to_simulator = [
        imp
        for imp in edges
        if imp.importer == "jobdock.runtime" and imp.imported.startswith("jobdock.simulator")
    ]
    wrong = [imp for imp in to_simulator if imp.function not in RUNTIME_DEMO_FUNCTIONS]
    assert not wrong, "\n".join(
        f"jobdock.runtime line {imp.line} ({imp.function or 'module level'}): {imp.imported}"
        for imp in wrong
    )
