"""The import graph of our packages, read from the source (every import statement, including
lazy ones inside functions and those under `TYPE_CHECKING`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "hardware", "hub_sync", "provisioning")


def modules() -> dict[str, Path]:
    """Every module of our packages by dotted name (a package by its `__init__`)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(tree: ast.AST, name: str, is_package: bool, known: dict[str, Path]) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                yield submodule if submodule in known else module


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (`from a import b` counts `a.b` if b is one)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        imported = _imported(tree, name, is_package, known)
        targets = {t for t in imported if t in known and t != name}
        graph[name] = targets
    return graph


def unit_of(module: str) -> str:
    """The package-level unit a module belongs to: `agent.api.web` -> `agent.api`;
    `provisioning` is one unit."""
    parts = module.split(".")
    if parts[0] == "provisioning":
        return "provisioning"
    return ".".join(parts[:2])


def unit_graph() -> dict[str, set[str]]:
    """Unit -> the other units it imports."""
    units: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        here = unit_of(module)
        units.setdefault(here, set()).update(unit_of(t) for t in targets if unit_of(t) != here)
    return units


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
