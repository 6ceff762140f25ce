"""The TUI makes no HTTP calls of its own: it talks to the server only through the runtime's methods."""

from __future__ import annotations

import ast
from pathlib import Path

import comfy_reality.tui

TUI = Path(comfy_reality.tui.__file__).parent
NETWORK_LIBRARIES = {"httpx", "websockets", "aiohttp"}


def tui_modules() -> list[Path]:
    return sorted(TUI.rglob("*.py"))


def test_the_tui_imports_no_network_library() -> None:
    offenders = []
    for path in tui_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in NETWORK_LIBRARIES]
    assert offenders == []


def test_the_tui_never_reaches_the_runtime_http_client() -> None:
    offenders = [
        f"{path.name}:{node.lineno}"
        for path in tui_modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "client"
    ]
    assert offenders == []
