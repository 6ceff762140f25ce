"""Log lines in time order, though they arrive from three places at their own pace.

Task events come per frame, runtime log records every quarter second (the log tap), the app's
own lines at once: written as they arrive, a failure could show above the ``prompt_queued``
line that caused it. Lines wait a short settle time, then go out sorted by their timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .messages import LogLine

LOG_SETTLE = 0.3
"""Seconds a line waits for earlier lines still on their way (the log tap drains every 0.25 s)."""


class LogOrder:
    """Holds lines for ``settle`` seconds after they arrive, then hands them on oldest first."""

    def __init__(self, settle: float = LOG_SETTLE, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle = settle
        self._clock = clock
        self._pending: list[tuple[float, int, LogLine]] = []
        self._count = 0

    def add(self, lines: list[LogLine]) -> None:
        now = self._clock()
        for line in lines:
            self._pending.append((now, self._count, line))
            self._count += 1

    @property
    def waiting(self) -> bool:
        return bool(self._pending)

    def due(self) -> list[LogLine]:
        """Lines that have settled, sorted by timestamp (arrival order among equal times)."""
        if not self._pending:
            return []
        cutoff = self._clock() - self.settle
        if self._pending[-1][0] <= cutoff:
            ready, self._pending = self._pending, []
        else:
            # Only the settled part goes out, and of it only lines no older than every line still
            # settling: a settled line stamped after one still on hold waits for it, so the two go
            # out in order (a wait bounded by that line's settle).
            settling = [item for item in self._pending if item[0] > cutoff]
            oldest_settling = min(item[2].timestamp for item in settling)
            ready = [
                item for item in self._pending if item[0] <= cutoff and item[2].timestamp <= oldest_settling
            ]
            if not ready:
                return []
            released = {id(item) for item in ready}
            self._pending = [item for item in self._pending if id(item) not in released]
        ready.sort(key=lambda item: (item[2].timestamp, item[1]))
        return [item[2] for item in ready]


__all__ = ["LOG_SETTLE", "LogOrder"]
