"""Recognise what a JSON document is: an API prompt, a web-UI workflow, or neither (and why).

Reading is bounded: files above ``MAX_FILE_BYTES`` are refused before they are read and nesting
deeper than ``MAX_DEPTH`` is refused, so a hostile or broken file cannot stall the TUI or the CLI.
"""

from __future__ import annotations

import math
import os
import stat
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import InvalidWorkflowError

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 200


class WorkflowFormat(StrEnum):
    API = "api"
    UI = "ui"
    INVALID = "invalid"


class WorkflowReadError(InvalidWorkflowError):
    """The file cannot be read as a JSON document at all (size, encoding, syntax, nesting)."""


def _depth_exceeds(data: Any, limit: int) -> bool:
    # Iterative, so checking the depth cannot itself hit the recursion limit.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def _size(n: int) -> str:
    if n >= 1_048_576:
        return f"{n / 1_048_576:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


class _NonFiniteNumber(ValueError):
    """NaN / Infinity (or a float too large to hold) in a workflow file."""


def _refuse_constant(name: str) -> Any:
    raise _NonFiniteNumber(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NonFiniteNumber(text if len(text) <= 40 else text[:40] + "…")
    return value


def parse_json_bytes(raw: bytes, *, source: str | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Decode and parse, turning every failure into a WorkflowReadError that says what is wrong."""
    import json  # on first use: not on the way to the app's first frame

    if not raw.strip():
        raise WorkflowReadError("the file is empty; expected a JSON workflow", source=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WorkflowReadError(
            f"not UTF-8 text (invalid byte at offset {exc.start}); workflows are UTF-8 JSON files",
            source=source,
        ) from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFiniteNumber as exc:
        raise WorkflowReadError(
            f"not valid JSON: it holds the number {exc}, which JSON does not allow and no server "
            "accepts; replace it with a real number",
            source=source,
        ) from None
    except json.JSONDecodeError as exc:
        raise WorkflowReadError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", source=source
        ) from None
    except RecursionError:
        raise WorkflowReadError(
            f"JSON nesting is too deep (more than {max_depth} levels); this is not a workflow", source=source
        ) from None
    if _depth_exceeds(data, max_depth):
        raise WorkflowReadError(
            f"JSON nesting is too deep (more than {max_depth} levels); this is not a workflow", source=source
        )
    return data


def read_json_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Read one JSON file with the size cap checked before reading."""
    source = str(path)
    try:
        info = path.stat()
        size = info.st_size
    except FileNotFoundError:
        raise WorkflowReadError("no such file", source=source) from None
    except OSError as exc:
        raise WorkflowReadError(f"cannot read the file: {exc.strerror or exc}", source=source) from None
    if stat.S_ISDIR(info.st_mode):
        raise WorkflowReadError("this is a directory, not a workflow file", source=source)
    if not stat.S_ISREG(info.st_mode):
        # A FIFO or device named *.json would block the read forever (or never end).
        raise WorkflowReadError("this is not a regular file (a pipe or a device?); not read", source=source)
    if size > max_bytes:
        raise WorkflowReadError(
            f"the file is {_size(size)}, above the {_size(max_bytes)} limit for workflow files",
            source=source,
        )
    try:
        # O_NONBLOCK: should a FIFO replace the file after the check, opening it does not hang.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise WorkflowReadError(
                    "this is not a regular file (a pipe or a device?); not read", source=source
                )
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise WorkflowReadError(f"cannot read the file: {exc.strerror or exc}", source=source) from None
    if len(raw) > max_bytes:
        raise WorkflowReadError(
            f"the file is above the {_size(max_bytes)} limit for workflow files", source=source
        )
    return parse_json_bytes(raw, source=source, max_depth=max_depth)


def unwrap_prompt(data: Any) -> Any:
    """Accept the ``{"prompt": {...}}`` body some tools save instead of the bare prompt."""
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "nodes" not in data:
        return data["prompt"]
    return data


def _api_reason(data: dict[str, Any]) -> str | None:
    """Why this dict is not an API prompt, or None if it is one."""
    if not data:
        return "the JSON object is empty; an API prompt maps node ids to {class_type, inputs}"
    for node_id, node in data.items():
        if not isinstance(node, dict):
            return f"node {node_id!r} is a {type(node).__name__}, not an object with class_type and inputs"
        class_type = node.get("class_type")
        if not isinstance(class_type, str) or not class_type:
            return f"node {node_id!r} has no class_type"
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            return f"node {node_id!r} ({class_type}): inputs must be an object, got {type(inputs).__name__}"
    return None


def _ui_reason(data: dict[str, Any]) -> str | None:
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        return "nodes must be a list"
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            return f"nodes[{index}] is a {type(node).__name__}, not an object"
        if "id" not in node or not isinstance(node.get("type"), str):
            return f"nodes[{index}] has no id or type"
    links = data.get("links", [])
    if links is not None and not isinstance(links, list):
        return "links must be a list"
    return None


def detect_format(data: Any) -> tuple[WorkflowFormat, str | None]:
    """Classify parsed JSON; the reason is set exactly when the format is INVALID."""
    if isinstance(data, list):
        return WorkflowFormat.INVALID, "the JSON is a list; a workflow is a JSON object"
    if not isinstance(data, dict):
        return WorkflowFormat.INVALID, f"the JSON is a {type(data).__name__}; a workflow is a JSON object"
    if isinstance(data.get("nodes"), list) or (
        "nodes" in data and ("links" in data or "last_node_id" in data or "version" in data)
    ):
        reason = _ui_reason(data)
        return (
            (WorkflowFormat.INVALID, f"looks like a UI workflow but {reason}")
            if reason
            else (WorkflowFormat.UI, None)
        )
    if isinstance(data.get("prompt"), dict):
        data = data["prompt"]
        reason = _api_reason(data)
        if reason:
            return WorkflowFormat.INVALID, f"the prompt wrapper holds no valid API prompt: {reason}"
        return WorkflowFormat.API, None
    reason = _api_reason(data)
    if reason is None:
        return WorkflowFormat.API, None
    if not data:
        return WorkflowFormat.INVALID, "the JSON object is empty; not a workflow"
    if not any(isinstance(v, dict) for v in data.values()):
        return (
            WorkflowFormat.INVALID,
            "neither an API prompt ({id: {class_type, inputs}}) nor a UI workflow (nodes, links)",
        )
    return WorkflowFormat.INVALID, f"not an API prompt: {reason}"
