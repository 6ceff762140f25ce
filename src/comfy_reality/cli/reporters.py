"""How `run` shows task events: NDJSON lines for machines, the Rich live table for people.

Both take the same task events from the task manager; `run` picks one (``--json`` or a pipe:
NDJSON). Imports no Textual.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from ._common import dumps, echo

if TYPE_CHECKING:
    from rich.console import Console

    from comfy_reality.runtime import AsyncTaskManager, TaskEvent

PROGRESS_INTERVAL = 0.25  # seconds between NDJSON progress lines of one task (4 per second)
_FINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})


class JsonReporter:
    """NDJSON task events on a stream, progress throttled per task.

    Lines are built inline when an event is emitted (so each carries the task's state at
    that moment, not a later one) and written by :meth:`run`, off the emitting code path.
    """

    def __init__(self, stream: IO[str], *, progress_interval: float = PROGRESS_INTERVAL) -> None:
        self.stream = stream
        self.progress_interval = progress_interval
        self._last_progress: dict[str, float] = {}
        self._manager: AsyncTaskManager | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._pending: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()
        self._stopped = False
        self.lines = 0

    def attach(self, manager: AsyncTaskManager) -> None:
        self._manager = manager
        self._unsubscribe = manager.subscribe(self.on_event)

    def on_event(self, event: TaskEvent) -> None:
        if event.event_type == "progress":
            progress = (event.data or {}).get("progress", 0.0)
            last = self._last_progress.get(event.task_id)
            now = time.monotonic()
            if last is not None and now - last < self.progress_interval and progress < 1.0:
                return
            self._last_progress[event.task_id] = now
        elif event.event_type in _FINAL_EVENTS:
            self._last_progress.pop(event.task_id, None)  # a long batch keeps no entry per ended task
        self._pending.append(self.event_line(event))
        self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            self._flush()
            if self._stopped:
                return

    def _flush(self) -> None:
        while self._pending:
            self.write(self._pending.popleft())

    def notify(self, message: str) -> None:
        """A human message: stderr, so stdout stays machine-readable."""
        echo(message, err=True)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stopped = True
        self._ready.set()

    def event_line(self, event: TaskEvent) -> dict[str, Any]:
        line: dict[str, Any] = {
            "type": "event",
            "event": event.event_type,
            "seq": event.seq,
            "time": event.timestamp.isoformat(),
            "task_id": event.task_id,
            "task_type": event.task_type.value if event.task_type else None,
            "parent_id": event.parent_id,
        }
        manager = self._manager
        task = manager.get_task(event.task_id) if manager is not None else None
        if manager is not None and task is not None:
            root = task if task.parent_id is None else manager.get_task(task.parent_id)
            line.update(
                name=task.name,
                status=task.status.value,
                execution_id=task.execution_id,
                prompt_id=(root.prompt_id if root is not None else None),
                node_id=task.node_id,
                class_type=task.class_type,
                progress=round(task.progress, 4),
                value=task.value,
                max=task.max,
                cached=task.cached or None,
                error=task.error if event.event_type == "failed" else None,
                error_type=task.error_type if event.event_type == "failed" else None,
                status_detail=task.status_detail,
            )
        elif event.data:
            line["data"] = event.data
        if event.message:
            line["message"] = event.message
        return {k: v for k, v in line.items() if v is not None}

    def write(self, line: dict[str, Any]) -> None:
        self.stream.write(dumps(line) + "\n")
        self.stream.flush()
        self.lines += 1


class LiveReporter:
    """The Rich live table on a terminal."""

    def __init__(self, console: Console) -> None:
        from comfy_reality.runtime.printer import RichTaskPrinter

        self.printer = RichTaskPrinter(console)
        self._manager: AsyncTaskManager | None = None

    def attach(self, manager: AsyncTaskManager) -> None:
        self._manager = manager

    async def run(self) -> None:
        from .terminal import no_echo

        assert self._manager is not None
        with no_echo():  # a ^C echoed into the table would leave its border behind
            await self.printer.start(self._manager)

    def notify(self, message: str) -> None:
        """Printed above the live table (Rich keeps the table at the bottom)."""
        from comfy_reality.safe_text import safe_text
        from comfy_reality.url_secrets import redact_url

        self.printer.console.print(safe_text(redact_url(message)), highlight=False)

    def stop(self) -> None:
        self.printer.stop()
