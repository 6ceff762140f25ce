"""RichTaskPrinter: the live terminal table of the headless CLI.

Its name and ``start(task_manager)`` are public API. How it behaves, and why:

* names come from the task itself (or the ``created`` event's data), never parsed out of
  the human message text;
* a ``failed`` event without data renders as "failed: unknown error" instead of crashing;
* no busy loop: it sleeps until events arrive, and only ticks on a timer while something
  is running (so elapsed times move);
* durations use aware UTC datetimes (``models.utc_now``);
* it stops: :meth:`stop` (or cancelling ``start``) drains the last events, draws the
  final frame and leaves the Live display.

It reads events through ``AsyncTaskManager.events()``, a coalescing buffer, so a flood of
progress events costs one redraw per frame however fast they come.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..durations import format_duration
from ..safe_text import finite_number, safe_line
from .manager import AsyncTaskManager, EventSubscription
from .models import Task, TaskEvent, TaskStatus, TaskType, utc_now

BAR_WIDTH = 20
NARROW = 100  # columns: below this the bars are half as wide, so the names keep their room
QUEUE_REMOVAL_NODE_DETAIL = "not run: removed from the queue"  # what the tracker gives each node

_STATUS_STYLE: dict[str, str] = {
    "pending": "dim",
    "running": "bold yellow",
    "completed": "green",
    "cached": "cyan",
    "failed": "bold red",
    "cancelled": "magenta",
}
_STATUS_ICON: dict[str, str] = {
    "pending": "·",
    "running": "▶",
    "completed": "✓",
    "cached": "✓",
    "failed": "✗",
    "cancelled": "⊘",
}


_FINAL_EVENTS: dict[str, TaskStatus] = {
    "completed": TaskStatus.COMPLETED,
    "failed": TaskStatus.FAILED,
    "cancelled": TaskStatus.CANCELLED,
}


def _as_float(value: Any, default: float | None) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


@dataclass
class TaskRow:
    """What the printer knows about one task; built from events, refreshed from the Task."""

    task_id: str
    name: str
    task_type: TaskType | None = None
    parent_id: str | None = None
    status: TaskStatus = TaskStatus.PENDING
    progress: float = 0.0
    value: float | None = None
    max: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cached: bool = False
    error: str | None = None
    detail: str | None = None
    order: int = 0
    children: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The status word shown in the table ("cached" is a kind of completed)."""
        if self.status is TaskStatus.COMPLETED and self.cached:
            return "cached"
        return self.status.value

    def elapsed(self, now: datetime) -> float | None:
        if self.started_at is None:
            return None
        end = self.completed_at or now
        return max(0.0, (end - self.started_at).total_seconds())


def progress_bar(progress: float, width: int = BAR_WIDTH) -> str:
    """A plain-text bar, so it reads the same in a recording console and in a log."""
    progress = max(0.0, min(1.0, progress))
    filled = int(progress * width + 1e-9)
    return f"{'█' * filled}{'░' * (width - filled)} {progress * 100:3.0f}%"


class RichTaskPrinter:
    """Live table of workflows and their nodes: status, progress bar, duration.

    ``max_node_rows`` bounds the rows per workflow (a 500-node graph would not fit a
    terminal); beyond it running and failed nodes are shown first and the rest summarised.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        refresh_per_second: float = 8.0,
        max_node_rows: int | None = None,
        title: str = "ComfyReality",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.console = console or Console()
        self.refresh_interval = 1.0 / max(0.5, refresh_per_second)
        self.max_node_rows = max_node_rows
        self.title = title
        self.clock = clock
        self.rows: dict[str, TaskRow] = {}
        self._roots: list[str] = []
        self._order = 0
        self._manager: AsyncTaskManager | None = None
        self._stop = asyncio.Event()
        self.frames = 0

    # ------------------------------------------------------------------ events
    def handle_event(self, event: TaskEvent) -> None:
        """Fold one event into the rows. Safe for any event order or missing data."""
        row = self.rows.get(event.task_id)
        task = self._manager.get_task(event.task_id) if self._manager is not None else None
        if row is None:
            row = self._new_row(event, task)
        if task is not None:
            # The task is the truth; events may arrive batched after later changes.
            self._copy_task(row, task)
            return
        data = event.data or {}
        kind = event.event_type
        if kind == "started":
            if not row.status.is_final:
                row.status = TaskStatus.RUNNING
            row.started_at = row.started_at or event.timestamp
        elif kind == "progress":
            if row.status.is_final:
                return
            row.status = TaskStatus.RUNNING
            row.started_at = row.started_at or event.timestamp
            row.progress = _as_float(data.get("progress"), row.progress)
            row.value = _as_float(data.get("value"), row.value)
            row.max = _as_float(data.get("max"), row.max)
        elif kind in ("created", "updated"):
            name = data.get("name")
            if isinstance(name, str) and name:
                row.name = name
        elif kind in _FINAL_EVENTS and not row.status.is_final:
            row.status = _FINAL_EVENTS[kind]
            row.started_at = row.started_at or event.timestamp
            row.completed_at = event.timestamp
            if kind == "completed":
                row.progress = 1.0
                row.cached = bool(data.get("cached", False))
            elif kind == "failed":
                row.error = str(data.get("error") or "unknown error")
            else:
                detail = data.get("status_detail")
                row.detail = str(detail) if detail else None

    def _new_row(self, event: TaskEvent, task: Task | None) -> TaskRow:
        data = event.data or {}
        name = task.name if task is not None else data.get("name")
        if not isinstance(name, str) or not name:
            name = event.task_id
        self._order += 1
        row = TaskRow(
            task_id=event.task_id,
            name=name,
            task_type=event.task_type,
            parent_id=event.parent_id,
            order=self._order,
        )
        self.rows[event.task_id] = row
        parent = self.rows.get(row.parent_id) if row.parent_id else None
        if parent is not None:
            parent.children.append(row.task_id)
        else:
            self._roots.append(row.task_id)
        return row

    @staticmethod
    def _copy_task(row: TaskRow, task: Task) -> None:
        row.name = task.name
        row.task_type = task.type
        row.status = task.status
        row.progress = task.progress
        row.value = task.value
        row.max = task.max
        row.started_at = task.started_at
        row.completed_at = task.completed_at
        row.cached = task.cached
        row.error = task.error
        row.detail = task.status_detail

    # ------------------------------------------------------------------ render
    def render(self) -> RenderableType:
        """One frame: a table per root task (workflow) with its nodes beneath."""
        now = self.clock()
        if not self._roots:
            return Panel(Text("Waiting for tasks…", style="dim"), title=self.title, border_style="blue")
        widths = self._column_widths()
        tables = [self._render_root(self.rows[root_id], now, widths) for root_id in self._roots]
        return Group(*tables)

    def _column_widths(self) -> tuple[int, int]:
        """Status and progress as wide as their longest cell (status capped), the same in every
        workflow's table so the columns line up; the name takes all the rest."""
        rows = list(self.rows.values())
        texts = [self._status_text(row).plain for row in rows]
        for root_id in self._roots:
            children = [self.rows[c] for c in self.rows[root_id].children if c in self.rows]
            texts.append(self._summary(self._select_children(children)[1]))
        status = max((cell_len(text) for text in texts), default=9)
        progress = max(
            self.bar_width + 5, len("Progress"), *(cell_len(self._child_progress(r)) for r in rows)
        )
        names = max((cell_len(row.name) + (2 if row.parent_id else 0) for row in rows), default=8)
        # What the name does not need, up to a third of the terminal, is the status's (at least its word).
        room = self.console.width - progress - 8 - 13  # duration, and the borders and padding of 4 columns
        cap = max(len("⊘ cancelled…"), min(room - names, self.console.width // 3))
        return max(len("Status"), min(status, cap)), progress

    def _render_root(self, root: TaskRow, now: datetime, widths: tuple[int, int]) -> Table:
        status_width, progress_width = widths
        table = Table(title=None, expand=True, show_edge=True, border_style="blue")
        table.add_column("Task", style="cyan", no_wrap=True, overflow="ellipsis", ratio=1, min_width=8)
        table.add_column("Status", no_wrap=True, overflow="ellipsis", width=status_width)
        table.add_column("Progress", no_wrap=True, overflow="ellipsis", width=progress_width)
        table.add_column("Duration", justify="right", no_wrap=True, width=8)
        children = [self.rows[c] for c in root.children if c in self.rows]
        root_progress = root.progress
        if children:
            # Share of the graph that ran: nodes cancelled or failed do not count as done.
            done = sum(
                1.0
                if child.status is TaskStatus.COMPLETED
                else child.progress
                if not child.status.is_final
                else 0.0
                for child in children
            )
            root_progress = done / len(children)
        table.add_row(
            safe_line(root.name, style="bold"),
            self._status_text(root),
            progress_bar(root_progress, self.bar_width),
            format_duration(root.elapsed(now)),
        )
        shown, hidden = self._select_children(children)
        for child in shown:
            table.add_row(
                safe_line("  " + child.name),
                self._status_text(child),
                self._child_progress(child),
                format_duration(child.elapsed(now)),
            )
        if hidden:
            table.add_row(
                Text(f"  … {len(hidden)} more", style="dim"),
                safe_line(self._summary(hidden), style="dim"),
                "",
                "",
            )
        return table

    @staticmethod
    def _summary(hidden: list[TaskRow]) -> str:
        counts: dict[str, int] = {}
        for child in hidden:
            counts[child.label] = counts.get(child.label, 0) + 1
        return ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))

    def _select_children(self, children: list[TaskRow]) -> tuple[list[TaskRow], list[TaskRow]]:
        limit = self.max_node_rows
        if limit is None:
            limit = max(5, self.console.size.height - 8)
        if len(children) <= limit:
            return children, []
        priority = {"failed": 0, "running": 1, "cancelled": 2, "completed": 3, "cached": 4, "pending": 5}
        ranked = sorted(
            children,
            key=lambda c: (
                priority.get(c.label, 9),
                -c.order if c.label in ("completed", "cached") else c.order,
            ),
        )
        keep = {c.task_id for c in ranked[: max(1, limit - 1)]}
        shown = [c for c in children if c.task_id in keep]
        hidden = [c for c in children if c.task_id not in keep]
        return shown, hidden

    @property
    def bar_width(self) -> int:
        return BAR_WIDTH if self.console.width >= NARROW else BAR_WIDTH // 2

    def _child_progress(self, row: TaskRow) -> str:
        bar = progress_bar(row.progress, self.bar_width)
        if row.value is not None and row.max and row.status is TaskStatus.RUNNING:
            return f"{bar} {finite_number(row.value)}/{finite_number(row.max)}"
        return bar

    @staticmethod
    def _status_text(row: TaskRow) -> Text:
        label = row.label
        text = f"{_STATUS_ICON[label]} {label}"
        if row.status is TaskStatus.FAILED:
            text += f": {row.error or 'unknown error'}"
        elif (
            row.status is TaskStatus.CANCELLED
            and row.detail
            # A run removed from the queue says so once, on its workflow row, not on every node.
            and not (row.parent_id and row.detail.startswith(QUEUE_REMOVAL_NODE_DETAIL))
        ):
            text += f": {row.detail}"
        return safe_line(text, style=_STATUS_STYLE[label])

    # --------------------------------------------------------------------- run
    def stop(self) -> None:
        """Ask :meth:`start` to draw its final frame and return."""
        self._stop.set()

    def _any_running(self) -> bool:
        return any(row.status is TaskStatus.RUNNING for row in self.rows.values())

    async def start(self, task_manager: AsyncTaskManager, *, live: bool = True) -> None:
        """Show the live table until :meth:`stop` is called (or this coroutine is cancelled).

        With ``live=False`` nothing is drawn until the end, when the final frame is printed
        once (for consoles that are not terminals).
        """
        self._manager = task_manager
        subscription = task_manager.events()
        # Tasks that existed before we subscribed still belong in the table.
        for task in task_manager.tasks():
            if task.id not in self.rows:
                self._seed(task)
        live_display: Live | None = None
        if live:
            live_display = Live(
                self.render(),
                console=self.console,
                auto_refresh=False,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            live_display.start()
        try:
            await self._loop(subscription, live_display)
        finally:
            subscription.close()
            for event in subscription.drain():
                self.handle_event(event)
            if live_display is not None:
                live_display.update(self.render(), refresh=True)
                live_display.stop()
            else:
                self.console.print(self.render())

    async def _loop(self, subscription: EventSubscription, live_display: Live | None) -> None:
        stop_wait: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        next_event: asyncio.Future[Any] | None = None
        last_frame = 0.0
        dirty = False
        try:
            while not self._stop.is_set():
                if next_event is None:
                    next_event = asyncio.ensure_future(anext(subscription))
                # Sleep until an event or stop; tick only while something runs (durations move).
                timeout: float | None = None
                if dirty or self._any_running():
                    timeout = max(0.0, last_frame + self.refresh_interval - time.monotonic())
                done, _ = await asyncio.wait(
                    {next_event, stop_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if next_event in done:
                    try:
                        event: TaskEvent = next_event.result()
                    except StopAsyncIteration:
                        return
                    next_event = None
                    self.handle_event(event)
                    for queued in subscription.drain():
                        self.handle_event(queued)
                    dirty = True
                now = time.monotonic()
                if now - last_frame >= self.refresh_interval and (dirty or self._any_running()):
                    if live_display is not None:
                        live_display.update(self.render(), refresh=True)
                        self.frames += 1
                    last_frame = now
                    dirty = False
        finally:
            stop_wait.cancel()
            if next_event is not None:
                if next_event.done() and not next_event.cancelled() and next_event.exception() is None:
                    self.handle_event(next_event.result())
                else:
                    next_event.cancel()

    def _seed(self, task: Task) -> None:
        event = TaskEvent.model_construct(
            task_id=task.id,
            event_type="created",
            timestamp=task.created_at,
            data={"name": task.name},
            message=None,
            task_type=task.type,
            parent_id=task.parent_id,
            seq=0,
        )
        self.handle_event(event)
