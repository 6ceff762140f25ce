"""What the copy keys put on the clipboard: a run's prompt id, its error, an output's path.

Plain text built from the execution (server text included as-is: the clipboard is not the
terminal, but control characters are still dropped so a paste cannot run anything).
"""

from __future__ import annotations

from pathlib import Path

from ..safe_text import safe_str
from .image_actions import server_path
from .state import ExecutionEntry


def error_text(entry: ExecutionEntry) -> str | None:
    """The error as someone would paste it into an issue: type, node, message, traceback."""
    execution = entry.execution
    error = execution.error
    lines: list[str] = []
    if error is not None:
        where = f" in node {error.node_id} ({error.node_type})" if error.node_id else ""
        lines.append(f"{error.exception_type}{where}: {error.exception_message.strip()}")
        lines.extend(ln.rstrip() for part in error.traceback for ln in part.splitlines() if ln.strip())
    lines.extend(entry.validation_messages)
    if not lines and execution.status_detail and entry.state_key in ("failed", "rejected"):
        lines.append(execution.status_detail)
    return safe_str("\n".join(lines)) if lines else None


def output_path_text(entry: ExecutionEntry, saved: dict[tuple[str, str, str, str], Path]) -> str | None:
    """Where the first output is: the saved copy if it was saved, else its place on the server."""
    files = entry.execution.output_files
    if not files:
        return None
    first = files[0]
    local = saved.get((first.node_id, first.subfolder, first.filename, first.type))
    if local is not None:
        return str(local)
    return safe_str(server_path(first), one_line=True)


__all__ = ["error_text", "output_path_text"]
