"""Copy this session's log records into the log pane (the file log stays the record).

A tap on :mod:`..logs` (its file writer and its structlog chain call it before rendering), and
placed in structlog's chain too when structlog runs under another configuration (tests, a
library user). It keeps a bounded buffer the app drains four times a second, so logging never
blocks on the UI. Installing it imports nothing: the app does not load structlog for it.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import MutableMapping
from typing import Any

from ..logs import add_tap, remove_tap, tap_processor
from ..runtime.kinds import LIFECYCLE_EVENTS, utc_now
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
        self._inserted = False  # tap_processor put into a structlog configuration not the file log's

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
        """Tap the log; if structlog already runs without the file log's chain, tap its chain too."""
        if self.installed:
            return
        add_tap(self)
        structlog = sys.modules.get("structlog")
        if structlog is not None:
            processors = list(structlog.get_config()["processors"])
            if tap_processor not in processors:
                processors.insert(max(0, len(processors) - 1), tap_processor)
                structlog.configure(processors=processors)
                self._inserted = True
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed:
            return
        remove_tap(self)
        structlog = sys.modules.get("structlog")
        if self._inserted and structlog is not None:
            processors = [p for p in structlog.get_config()["processors"] if p is not tap_processor]
            structlog.configure(processors=processors)
        self._inserted = False
        self.installed = False

    def drain(self) -> list[LogLine]:
        lines = list(self.buffer)
        self.buffer.clear()
        return lines
