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
            # Everything that arrived before the newest unsettled line's predecessors settle waits too:
            # releasing only the old part keeps a late earlier-timestamped line in order.
            ready = [item for item in self._pending if item[0] <= cutoff]
            if not ready:
                return []
            self._pending = [item for item in self._pending if item[0] > cutoff]
        ready.sort(key=lambda item: (item[2].timestamp, item[1]))
        return [item[2] for item in ready]


__all__ = ["LOG_SETTLE", "LogOrder"]
