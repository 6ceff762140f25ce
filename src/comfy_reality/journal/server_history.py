"""Reading a ComfyUI /history entry into what the journal records about a finished prompt.

History is untrusted server data: every field is checked for its type and anything odd is
skipped, so a strange entry gives a less detailed record, never an exception.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..runtime.models import ErrorReport, TaskStatus, output_files_from
from .rows import ServerHistoryResult


def _ms(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e14:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _strs(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, (str, int))] if isinstance(value, list) else []


def server_history_result(entry: Any, prompt_id: str) -> ServerHistoryResult | None:
    """What a history entry says about the end of a prompt; None if it is not a usable entry."""
    if not isinstance(entry, dict):
        return None
    status_block = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    raw_messages = status_block.get("messages") if isinstance(status_block, dict) else None
    messages: list[tuple[str, dict[str, Any]]] = []
    if isinstance(raw_messages, list):
        for item in raw_messages:
            if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
                messages.append((item[0], item[1] if isinstance(item[1], dict) else {}))
    raw_outputs = entry.get("outputs")
    outputs: dict[Any, Any] = raw_outputs if isinstance(raw_outputs, dict) else {}
    status_str = status_block.get("status_str") if isinstance(status_block, dict) else None

    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: ErrorReport | None = None
    interrupted: dict[str, Any] | None = None
    node_states: dict[str, tuple[TaskStatus, str | None]] = {}
    for name, data in messages:
        if name == "execution_start":
            started_at = _ms(data.get("timestamp"))
        elif name == "execution_cached":
            for node in _strs(data.get("nodes")):
                node_states[node] = (TaskStatus.COMPLETED, "cached")
        elif name in ("execution_success", "execution_error", "execution_interrupted"):
            completed_at = _ms(data.get("timestamp")) or completed_at
            for node in _strs(data.get("executed")):
                node_states.setdefault(node, (TaskStatus.COMPLETED, None))
            if name == "execution_interrupted":
                interrupted = data
            elif name == "execution_error" and data.get("exception_type") != "ExecutionBlocked":
                traceback = data.get("traceback")
                error = ErrorReport(
                    node_id=str(data["node_id"]) if isinstance(data.get("node_id"), (str, int)) else None,
                    node_type=data.get("node_type") if isinstance(data.get("node_type"), str) else None,
                    exception_type=str(data.get("exception_type") or "Error"),
                    exception_message=str(data.get("exception_message") or ""),
                    traceback=_strs(traceback),
                    executed=_strs(data.get("executed")),
                )
    for node_id in outputs:
        node_states.setdefault(str(node_id), (TaskStatus.COMPLETED, None))

    detail: str | None
    status: TaskStatus
    if status_str == "success":
        status, detail = TaskStatus.COMPLETED, "finished while the app was not watching; read from /history"
    elif interrupted is not None:
        status = TaskStatus.CANCELLED
        detail = f"interrupted on the server (prompt {prompt_id}) while the app was not watching"
        stopped_at = interrupted.get("node_id")
        if isinstance(stopped_at, (str, int)):
            node_states[str(stopped_at)] = (TaskStatus.CANCELLED, "interrupted")
    else:
        status = TaskStatus.FAILED
        if error is not None:
            where = f" in node {error.node_id} ({error.node_type})" if error.node_id else ""
            detail = f"{error.exception_type}{where}: {error.exception_message}"
            if error.node_id:
                node_states[error.node_id] = (
                    TaskStatus.FAILED,
                    f"{error.exception_type}: {error.exception_message}",
                )
        else:
            detail = f"the server reports prompt {prompt_id} as '{status_str or 'unknown'}' without an error message"
    return ServerHistoryResult(
        status=status,
        status_detail=detail,
        outputs={str(k): v for k, v in outputs.items()},
        output_files=output_files_from(outputs),
        error=error,
        started_at=started_at,
        completed_at=completed_at,
        node_states=node_states,
    )
