"""Copy this session's structlog records into the log pane (the file log stays the record).

A processor placed before the renderer of whatever structlog configuration is active; it
keeps a bounded buffer the app drains once per frame, so logging never blocks on the UI.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableMapping
from typing import Any

from ..logs import ensure_structlog
from ..runtime.models import LIFECYCLE_EVENTS, utc_now
from .messages import LogLine

_SKIP_KEYS = {"event", "level", "timestamp", "log_level", "exc_info", "execution_id", "task_id", "client_id"}


_DUPLICATED = {"server_status"}


def _short(key: str, value: Any) -> str:
    """Ids shortened as the other panes show them; the file log keeps them whole."""
    text = str(value)
    if key.endswith("_id") and len(text) > 12:
        return text[:8]
    return text if len(text) <= 120 else text[:119] + "…"


class LogTap:
    def __init__(self, maxlen: int = 2000) -> None:
        self.buffer: deque[LogLine] = deque(maxlen=maxlen)
        self.installed = False

    def __call__(
        self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event = str(event_dict.get("event", ""))
        # Task lifecycle and connection records duplicate lines the app writes itself.
        if not (event in LIFECYCLE_EVENTS and "task_id" in event_dict) and event not in _DUPLICATED:
            level = str(event_dict.get("level") or method)
            fields = " ".join(
                f"{k}={_short(k, v)}" for k, v in event_dict.items() if k not in _SKIP_KEYS and v is not None
            )
            self.buffer.append(LogLine(utc_now(), level, f"{event} {fields}".strip()))
        return event_dict

    def install(self) -> None:
        """Insert the tap just before the final renderer of the current configuration."""
        if self.installed:
            return
        ensure_structlog()  # the file log's configuration, if it was waiting for structlog
        import structlog  # installed once the panes exist: the first frame never waits for it

        processors = list(structlog.get_config()["processors"])
        processors.insert(max(0, len(processors) - 1), self)
        structlog.configure(processors=processors)
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed:
            return
        import structlog

        processors = [p for p in structlog.get_config()["processors"] if p is not self]
        structlog.configure(processors=processors)
        self.installed = False

    def drain(self) -> list[LogLine]:
        lines = list(self.buffer)
        self.buffer.clear()
        return lines
