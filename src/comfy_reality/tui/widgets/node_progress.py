"""Per-node progress of one execution: status, bar, value/max, rate and ETA, elapsed, error."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.containers import Vertical
from textual.widget import Widget

from ...runtime.models import Task, TaskStatus
from ...safe_text import finite_number
from .. import format as fmt

_BAR_STYLE: dict[str, str] = {
    "running": "yellow",
    "completed": "green",
    "cached": "cyan",
    "failed": "red",
    "cancelled": "magenta",
    "pending": "grey37",
}


QUEUE_REMOVAL = "not run: removed from the queue"


def bar_text(fraction: float, width: int, style: str) -> Text:
    """A thin progress bar with half-cell resolution (the look of Rich's bar, without its layout cost)."""
    cells = max(0.0, min(1.0, fraction)) * width
    full = int(cells)
    half = full < width and cells - full >= 0.5
    text = Text(no_wrap=True)
    text.append("━" * full, style=style)
    if half:
        text.append("╸", style=style)
    text.append("━" * (width - full - (1 if half else 0)), style="grey23")
    return text


def node_detail(task: Task, *, compact: bool = False) -> Text:
    """The right-hand column: counts and speed while running, how it ended otherwise."""
    state = fmt.task_state(task)
    text = Text(no_wrap=True, overflow="ellipsis")
    if state == "running":
        if task.max:
            text.append(f"{fmt.number(task.value)}/{fmt.number(task.max)}")
        if task.rate and not compact:
            text.append(f"  {finite_number(task.rate, '.1f')} it/s", style="dim")
        if task.eta_seconds is not None:
            text.append(f" ETA {fmt.duration(task.eta_seconds)}", style="yellow")
        elif not task.max:
            text.append(f"{fmt.duration(task.elapsed(fmt.now()))}", style="yellow")
    elif state == "cached":
        text.append("cached", style="cyan")
    elif state == "completed":
        if task.max:
            text.append(
                f"{fmt.number(task.value if task.value is not None else task.max)}/{fmt.number(task.max)}  "
            )
        text.append(fmt.duration(task.duration), style="green")
    elif state == "failed":
        text.append("failed" if compact else f"failed after {fmt.duration(task.duration)}", style="bold red")
    elif state == "cancelled":
        if task.max and task.value:
            # Where it stopped: "32/50 cancelled".
            text.append(f"{fmt.number(task.value)}/{fmt.number(task.max)} ")
        text.append("cancelled", style="magenta")
    else:
        text.append("pending", style="dim")
    return text


class NodeProgress(Widget):
    """One node of the selected execution; redrawn only when its task snapshot changes."""

    DEFAULT_CSS = """
    NodeProgress {
        height: auto;
    }
    """

    DEFAULT_CLASSES = "node-progress"

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task_snapshot = task

    def update_task(self, task: Task) -> None:
        old = self.task_snapshot
        self.task_snapshot = task
        if _extra_line(old, fmt.task_state(old)) is None and _extra_line(task, fmt.task_state(task)) is None:
            if (old.status, old.value, old.max, old.rate, old.eta_seconds, old.progress) != (
                task.status,
                task.value,
                task.max,
                task.rate,
                task.eta_seconds,
                task.progress,
            ):
                self.refresh()
        else:
            self.refresh(layout=True)

    def render(self) -> RenderableType:
        # Plain Text, not a Table: this runs for every progress frame of the selected execution.
        task = self.task_snapshot
        state = fmt.task_state(task)
        width = self.size.width or 80
        narrow = width < 60
        # The detail (count, rate, ETA) is kept whole: the rate goes first, then the bar shrinks, the name last.
        detail = node_detail(task, compact=narrow)
        detail_width = 15 if narrow else max(24, min(32, width // 3))
        if detail.cell_len > detail_width:
            detail = node_detail(task, compact=True)
        bar_width = 8 if narrow else max(8, min(30, width // 6))
        name_width = max(4, width - 2 - bar_width - detail_width - 2)
        if state in ("completed", "cached"):
            fraction = 1.0
        elif task.max:
            fraction = float(task.value or 0.0) / float(task.max)
        else:
            fraction = float(task.progress)
        line = fmt.icon_text(state)
        line.append(" ")
        name = fmt.plain(task.name or f"{task.class_type} #{task.node_id}", one_line=True)
        if len(name) > name_width:
            # Cut the title, keep its " #id": two nodes of the same title differ only by it.
            _title, sep, node_id = name.rpartition(" #")
            keep = f"{sep}{node_id}" if sep and len(node_id) < name_width // 2 else ""
            name = name[: name_width - 1 - len(keep)].rstrip() + "…" + keep
        line.append(name.ljust(name_width), style="dim" if state == "pending" else "")
        line.append(" ")
        line.append_text(bar_text(fraction, bar_width, _BAR_STYLE.get(state, "white")))
        line.append(" ")
        detail.truncate(detail_width, overflow="ellipsis")
        line.append(" " * (detail_width - detail.cell_len))
        line.append_text(detail)
        extra = _extra_line(task, state)
        if extra is None:
            return line
        return Group(line, extra)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return 1 if _extra_line(self.task_snapshot, fmt.task_state(self.task_snapshot)) is None else 2


def _extra_line(task: Task, state: str) -> Text | None:
    if state == "failed":
        message = task.error or "unknown error"
        head = f"{task.error_type}: " if task.error_type else ""
        first = (f"{head}{message}".splitlines() or [""])[0]
        line = Text(f"  └ {fmt.plain(first, one_line=True)}", style="red", no_wrap=True, overflow="ellipsis")
        return line
    if state == "cancelled" and task.status_detail and not task.status_detail.startswith(QUEUE_REMOVAL):
        # A run removed from the queue says so once, in the header, not under every node.
        detail = fmt.plain(task.status_detail, one_line=True)
        return Text(f"  └ {detail}", style="magenta", no_wrap=True, overflow="ellipsis")
    return None


class NodeProgressList(Vertical):
    """A :class:`NodeProgress` per node task, kept in graph order, reconciled on each update."""

    DEFAULT_CSS = """
    NodeProgressList {
        height: auto;
    }
    """

    DEFAULT_CLASSES = "node-progress-list"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, NodeProgress] = {}
        self._execution_id: str | None = None

    def show(self, execution_id: str | None, tasks: list[Task]) -> None:
        if execution_id != self._execution_id:
            self._execution_id = execution_id
            self._rows.clear()
            self.remove_children()
        new_rows: list[NodeProgress] = []
        for task in tasks:
            row = self._rows.get(task.id)
            if row is None:
                row = NodeProgress(task)
                self._rows[task.id] = row
                new_rows.append(row)
            else:
                row.update_task(task)
        if new_rows:
            self.mount_all(new_rows)

    def running_rows(self) -> list[NodeProgress]:
        return [r for r in self._rows.values() if r.task_snapshot.status is TaskStatus.RUNNING]
