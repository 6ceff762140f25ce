"""Messages the backend posts to the app (the panes' own messages are nested in each widget).

High-rate messages replace their stale predecessors in the queue (``can_replace``), so a
flood never backs up the message queue: the screen always draws the newest state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from ..runtime.models import PreviewFrame, ServerStatus, Task, TaskEvent, WorkflowExecution


@dataclass
class LogLine:
    """One line of the log pane: a task event or a runtime log record of this session."""

    timestamp: datetime
    level: str
    text: str


class TaskEventsBatch(Message):
    """Everything that changed since the last frame: events plus snapshots of the tasks they touched.

    ``tasks`` and ``executions`` are copies taken in the worker, so widgets never read the
    runtime's live objects.
    """

    def __init__(
        self,
        events: list[TaskEvent],
        tasks: dict[str, Task],
        executions: dict[str, WorkflowExecution],
    ) -> None:
        super().__init__()
        self.events = events
        self.tasks = tasks
        self.executions = executions


class ServerStatusChanged(Message):
    def __init__(self, status: ServerStatus) -> None:
        super().__init__()
        self.status = status

    def can_replace(self, message: Message) -> bool:
        # Countdown updates of one state coalesce; a change of state is always delivered (it is logged).
        return isinstance(message, ServerStatusChanged) and message.status.state is self.status.state


class ServersChanged(Message):
    """Each server of a pool (state, queue, memory ...), for the status bar and the Servers screen."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ServersChanged)


class SystemStatsUpdated(Message):
    def __init__(self, stats: dict[str, Any]) -> None:
        super().__init__()
        self.stats = stats

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SystemStatsUpdated)


class PreviewArrived(Message):
    """A live preview frame (runtime.subscribe_previews); a newer one of the same execution
    replaces it in the queue, so a preview flood never backs up the app."""

    def __init__(self, frame: PreviewFrame) -> None:
        super().__init__()
        self.frame = frame

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PreviewArrived) and message.frame.execution_id == self.frame.execution_id


class RerunRequested(Message):
    """A history screen (the journal's or the server's) asks for a prompt in the input form
    (``save``: saved as a local workflow instead)."""

    def __init__(self, prompt: dict[str, Any], name: str, *, save: bool = False) -> None:
        super().__init__()
        self.prompt = prompt
        self.name = name
        self.save = save
