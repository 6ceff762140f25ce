"""No import cycle between the package's modules (module-level imports; ``TYPE_CHECKING`` blocks and
imports inside functions are excluded: they run after both modules exist)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(SRC).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (SRC / "comfy_reality").rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}

    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]

        def visit(body: list[ast.stmt], name: str = name, package: str = package) -> None:
            for node in body:
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    continue
                if isinstance(node, ast.Import):
                    graph[name].update(a.name for a in node.names if a.name in modules)
                elif isinstance(node, ast.ImportFrom):
                    if node.level:
                        parts = package.split(".")
                        base = ".".join(parts[: len(parts) - node.level + 1])
                        target = f"{base}.{node.module}" if node.module else base
                    else:
                        target = node.module or ""
                    for alias in node.names:
                        candidate = f"{target}.{alias.name}"
                        if candidate in modules:
                            graph[name].add(candidate)
                        elif target in modules:
                            graph[name].add(target)
                elif isinstance(node, ast.If | ast.Try):
                    visit(node.body)
                    visit(node.orelse)
                    for handler in getattr(node, "handlers", []):
                        visit(handler.body)

        visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative enough for ~200 nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
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
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def test_the_checker_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_module_imports_itself_back() -> None:
    graph = _import_graph()
    assert "comfy_reality.runtime.runtime" in graph
    assert "comfy_reality.runtime.tracker" in graph["comfy_reality.runtime.runtime"]
    assert _cycles(graph) == []
