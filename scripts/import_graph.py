"""The shape of the code: modules with their line counts, the import graph between them, and its cycles.

``tests/test_architecture.py`` uses it to keep modules small and imports acyclic; run it directly to see
the tree of ``include/`` and ``plugins/`` and any cycle, e.g. ``python scripts/import_graph.py --edges``.
Imports inside functions count (they still tie two modules together); imports under
``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = (PROJECT_ROOT / "include", PROJECT_ROOT / "plugins")
MAX_LINES = 400


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    is_package: bool
    imports: set[str] = field(default_factory=set)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(roots: Iterable[Path]) -> dict[str, Module]:
    """Every ``.py`` file under the roots, keyed by its dotted module name."""
    modules: dict[str, Module] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            name = module_name(root, path)
            modules[name] = Module(name, path, len(text.splitlines()), path.name == "__init__.py")
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """All import statements at any depth, except the body of ``if TYPE_CHECKING:``."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.orelse)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node))


def _known_prefix(dotted: str, known: dict[str, Module]) -> str | None:
    """The longest leading part of ``dotted`` that is one of our modules."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _targets(module: Module, node: ast.Import | ast.ImportFrom, known: dict[str, Module]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            target = _known_prefix(alias.name, known)
            if target:
                yield target
        return
    base = node.module or ""
    if node.level:
        package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        submodule = f"{base}.{alias.name}" if base else alias.name
        target = submodule if submodule in known else _known_prefix(base, known)
        if target:
            yield target


def build_graph(roots: Iterable[Path] = SOURCE_ROOTS) -> dict[str, Module]:
    """Modules with ``imports`` filled in: the set of our own modules each one imports."""
    modules = discover(roots)
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
        for node in _import_nodes([tree]):
            module.imports.update(t for t in _targets(module, node, modules) if t != module.name)
    return modules


def strongly_connected(graph: dict[str, Module]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of one module without a self-import are left out."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start].imports)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ].imports))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def cycle_path(graph: dict[str, Module], component: Sequence[str]) -> list[str]:
    """One concrete cycle through the component's first module, shortest first (breadth-first)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for succ in sorted(graph[node].imports & members):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if succ not in previous:
                    previous[succ] = node
                    following.append(succ)
        frontier = following
    return list(component)


def describe_cycles(graph: dict[str, Module]) -> list[str]:
    return [f"{' -> '.join(cycle_path(graph, c))}   (component: {', '.join(c)})" for c in strongly_connected(graph)]


def oversized(graph: dict[str, Module], limit: int = MAX_LINES) -> list[Module]:
    return sorted((m for m in graph.values() if m.lines > limit), key=lambda m: -m.lines)


def tree_lines(graph: dict[str, Module], base: Path = PROJECT_ROOT, limit: int = MAX_LINES) -> list[str]:
    """An indented listing of the files under ``base`` with line counts; ``!`` marks a file over the limit."""
    out: list[str] = []
    shown: set[Path] = set()
    for module in sorted(graph.values(), key=lambda m: m.path):
        rel = module.path.relative_to(base)
        for depth in range(1, len(rel.parts)):
            folder = Path(*rel.parts[:depth])
            if folder not in shown:
                shown.add(folder)
                out.append(f"{'  ' * (depth - 1)}{folder.name}/")
        mark = " !" if module.lines > limit else ""
        out.append(f"{'  ' * (len(rel.parts) - 1)}{rel.name:<32} {module.lines:>5}{mark}")
    return out


def package_of(name: str) -> str:
    """``data_pipeline.steps.ddl`` -> ``data_pipeline.steps``; a top-level module stays itself."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def package_edges(graph: dict[str, Module]) -> dict[str, set[str]]:
    """The graph folded onto sub-packages: which sub-packages each one imports from."""
    edges: dict[str, set[str]] = {}
    for module in graph.values():
        source = package_of(module.name)
        edges.setdefault(source, set()).update(t for t in map(package_of, module.imports) if t != source)
    return edges


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="also print every module's imports")
    args = parser.parse_args(argv)
    graph = build_graph()
    print("\n".join(tree_lines(graph)))
    print("\nImports between packages:")
    for package, targets in sorted(package_edges(graph).items()):
        print(f"  {package} -> {', '.join(sorted(targets)) or '-'}")
    if args.edges:
        print("\nImports between modules:")
        for name in sorted(graph):
            if graph[name].imports:
                print(f"  {name} -> {', '.join(sorted(graph[name].imports))}")
    cycles = describe_cycles(graph)
    big = oversized(graph)
    print(f"\n{len(graph)} modules, {sum(len(m.imports) for m in graph.values())} imports between them")
    print(f"Import cycles: {len(cycles)}")
    for line in cycles:
        print(f"  {line}")
    print(f"Modules over {MAX_LINES} lines: {len(big)}")
    for module in big:
        print(f"  {module.path.relative_to(PROJECT_ROOT)} ({module.lines})")
    return 1 if cycles or big else 0


if __name__ == "__main__":
    sys.exit(main())
