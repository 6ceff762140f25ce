"""The session as the screen knows it: snapshots of executions and their node tasks.

Filled only from :class:`~comfy_reality.tui.messages.TaskEventsBatch` messages (and from
submissions the server refused, which never became executions on the server), so every
widget draws from one consistent copy instead of the runtime's live objects.

A long session keeps its memory flat: only the newest finished executions keep their whole
model (nodes, outputs, errors, prompt); older ones are compacted to an :class:`ExecutionSummary`
(what the tree's line shows) and their detail is read back from the journal when wanted
(:mod:`.session_detail`).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import PromptValidationError
from ..runtime.kinds import TaskStatus, TaskType, new_id, utc_now

if TYPE_CHECKING:  # the models (and pydantic) load with the first execution, after the first frame
    from ..runtime.models import Task, WorkflowExecution

REJECTED = "rejected"
KEEP_DETAIL = 30
"""Finished executions that keep their whole model in memory (the newest, or the last looked at):
about a tall pane's worth of the tree. Older ones are off screen until scrolled to, and reading
one back from the journal takes a few milliseconds off the loop; a whole 6-node execution's
session side (its entry and the tree's node rows) is several kilobytes, a summary a few hundred bytes."""
RETRY_METADATA = ("server_name", "extra_data", "front", "partial_execution_targets")
"""What a summary keeps of an execution's metadata: the pool's server name (shown) and what a
retry sends again (the journal does not record them)."""
_NO_NODES: Mapping[str, Task] = MappingProxyType({})


@dataclass(slots=True)
class ExecutionEntry:
    """One execution: its snapshot, its workflow task and its node tasks in graph order."""

    execution: WorkflowExecution
    workflow_task: Task | None = None
    nodes: dict[str, Task] = field(default_factory=dict)
    rejected: bool = False

    @property
    def id(self) -> str:
        return self.execution.id

    @property
    def title(self) -> str:
        return self.execution.name or (
            self.workflow_task.name if self.workflow_task else self.execution.workflow_id
        )

    @property
    def status(self) -> TaskStatus:
        return self.execution.status

    @property
    def state_key(self) -> str:
        return REJECTED if self.rejected else self.execution.status.value

    @property
    def validation_messages(self) -> list[str]:
        return list(self.execution.metadata.get("validation_messages", []))

    # What a summary has too (the tree's line reads these, whatever the entry is).
    @property
    def created_at(self) -> datetime:
        return self.execution.created_at

    @property
    def started_at(self) -> datetime | None:
        return self.execution.started_at

    @property
    def duration(self) -> float | None:
        return self.execution.duration

    @property
    def retry_of(self) -> str | None:
        return self.execution.retry_of

    @property
    def prompt_id(self) -> str | None:
        return self.execution.prompt_id

    @property
    def server_name(self) -> object:
        return self.execution.metadata.get("server_name")

    @property
    def node_count(self) -> int:
        return len(self.nodes)


@dataclass(slots=True)
class ExecutionSummary:
    """A finished execution compacted: what its tree line and header show, and what a retry needs
    beyond the journal. Its nodes, outputs, errors and prompt are in the journal (read back by
    :func:`~comfy_reality.tui.session_detail.read_detail`); a few hundred bytes instead of kilobytes."""

    id: str
    workflow_id: str
    name: str | None
    title: str
    status: TaskStatus
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    prompt_id: str | None
    number: int | None
    retry_of: str | None
    status_detail: str | None
    metadata: dict[str, Any] | None
    node_count: int
    nodes_done: int

    rejected: ClassVar[bool] = False
    nodes: ClassVar[Mapping[str, Task]] = _NO_NODES
    """None held: :attr:`node_count` and :attr:`nodes_done` say what the header and tree need."""

    @classmethod
    def of(cls, entry: ExecutionEntry) -> ExecutionSummary:
        execution = entry.execution
        kept = {key: execution.metadata[key] for key in RETRY_METADATA if key in execution.metadata}
        if kept.get("front") is False:
            del kept["front"]  # what a retry assumes when it is missing: most summaries keep no dict
        return cls(
            id=execution.id,
            workflow_id=execution.workflow_id,
            name=execution.name,
            title=entry.title,
            status=execution.status,
            created_at=execution.created_at,
            started_at=execution.started_at,
            completed_at=execution.completed_at,
            prompt_id=execution.prompt_id,
            number=execution.number,
            retry_of=execution.retry_of,
            status_detail=execution.status_detail,
            metadata=kept or None,
            node_count=len(entry.nodes),
            nodes_done=sum(1 for t in entry.nodes.values() if t.status is TaskStatus.COMPLETED),
        )

    @property
    def state_key(self) -> str:
        return self.status.value

    @property
    def duration(self) -> float | None:
        if self.started_at is not None and self.completed_at is not None:
            return (self.completed_at - self.started_at).total_seconds()
        return None

    @property
    def server_name(self) -> object:
        return self.metadata.get("server_name") if self.metadata else None

    def whole_execution(self, **detail: Any) -> WorkflowExecution:
        """The execution again, with ``detail`` (from the journal) or as a header-only stand-in."""
        from ..runtime.models import WorkflowExecution

        return WorkflowExecution(
            id=self.id,
            workflow_id=self.workflow_id,
            name=self.name,
            status=self.status,
            created_at=self.created_at,
            started_at=self.started_at,
            completed_at=self.completed_at,
            metadata=dict(self.metadata or {}),
            prompt_id=self.prompt_id,
            number=self.number,
            retry_of=self.retry_of,
            status_detail=self.status_detail,
            **detail,
        )

    def placeholder(self) -> ExecutionEntry:
        """What the detail pane shows while the journal is read: the header's facts, no nodes yet."""
        return ExecutionEntry(execution=self.whole_execution())


SessionEntry = ExecutionEntry | ExecutionSummary


class SessionState:
    """Executions of this session by id, newest last.

    Each task names its execution (``Task.execution_id``), so a task snapshot goes straight to
    its entry. ``max_finished`` bounds how many finished executions the session lists (the task
    manager bounds its own likewise): beyond it the oldest are forgotten. :meth:`compact` turns
    finished executions beyond the newest (or last looked at) few into summaries; the app does
    so only when a journal can give their detail back.
    """

    def __init__(self, max_finished: int = 500) -> None:
        self.entries: dict[str, SessionEntry] = {}
        self.max_finished = max_finished
        self._detailed: dict[str, None] = {}
        """Finished, whole, compactable entries, least recently finished or looked at first."""

    def get(self, execution_id: str | None) -> SessionEntry | None:
        return self.entries.get(execution_id) if execution_id else None

    def touch(self, execution_id: str) -> None:
        """Looked at: a whole finished entry stays whole the longest."""
        if execution_id in self._detailed:
            self._detailed[execution_id] = self._detailed.pop(execution_id)

    def restore(self, entry: ExecutionEntry) -> None:
        """A compacted execution's whole model, read back: kept as the one looked at last."""
        if not isinstance(self.entries.get(entry.id), ExecutionSummary):
            return  # forgotten meanwhile, or already whole again
        self.entries[entry.id] = entry
        self._detailed[entry.id] = None

    def compact(self, keep: int = KEEP_DETAIL, pinned: Container[str] = ()) -> list[ExecutionSummary]:
        """Summaries for the whole finished entries beyond the ``keep`` newest or last looked at
        (never a ``pinned`` one); returns them (the tree drops their node lines)."""
        if len(self._detailed) <= keep:
            return []
        compacted: list[ExecutionSummary] = []
        skipped: list[str] = []
        while len(self._detailed) > keep:
            execution_id = next(iter(self._detailed))
            del self._detailed[execution_id]
            entry = self.entries.get(execution_id)
            if execution_id in pinned:
                skipped.append(execution_id)
            elif isinstance(entry, ExecutionEntry):
                summary = ExecutionSummary.of(entry)
                self.entries[execution_id] = summary
                compacted.append(summary)
        for execution_id in skipped:  # stays whole, as the most recently looked at
            self._detailed[execution_id] = None
        return compacted

    def active(self) -> list[ExecutionEntry]:
        """Executions still queued or running on the server."""
        return [
            e
            for e in self.entries.values()
            if isinstance(e, ExecutionEntry) and not e.rejected and not e.status.is_final
        ]

    def apply(self, tasks: dict[str, Task], executions: dict[str, WorkflowExecution]) -> set[str]:
        """Take new snapshots in; return the ids of the executions that changed."""
        changed: set[str] = set()
        for execution in executions.values():
            entry = self.entries.get(execution.id)
            if entry is None:
                self.entries[execution.id] = ExecutionEntry(execution=execution)
            elif isinstance(entry, ExecutionSummary):
                # News of a compacted execution (rare: a late fold of its history): whole again,
                # from the runtime's final object and its node tasks.
                self.entries[execution.id] = ExecutionEntry(
                    execution=execution,
                    nodes={t.id: t for t in execution.tasks if t.type is TaskType.NODE},
                )
            else:
                entry.execution = execution
            changed.add(execution.id)
        for task in tasks.values():
            entry = self.get(task.execution_id)
            if not isinstance(entry, ExecutionEntry):
                continue
            if task.type is TaskType.WORKFLOW:
                entry.workflow_task = task
            elif task.type is TaskType.NODE:
                entry.nodes[task.id] = task
            else:
                continue
            changed.add(entry.id)
        detailed = self._detailed
        for execution_id in changed:
            entry = self.entries[execution_id]
            if entry.status.is_final and not entry.rejected and execution_id not in detailed:
                detailed[execution_id] = None
        return changed

    def forget_oldest_finished(self) -> list[str]:
        """Drop the oldest finished executions beyond ``max_finished``; returns their ids."""
        finished = [e.id for e in self.entries.values() if e.rejected or e.status.is_final]
        excess = finished[: max(0, len(finished) - self.max_finished)]
        for execution_id in excess:
            del self.entries[execution_id]
            self._detailed.pop(execution_id, None)
        return excess

    def add_rejected(
        self, name: str, workflow_id: str, prompt: dict[str, Any], error: Exception
    ) -> ExecutionEntry:
        """Record a submission the server refused, so it shows in the tree with its reasons."""
        from ..runtime.models import ErrorReport, WorkflowExecution

        now = utc_now()
        messages = error.node_messages() if isinstance(error, PromptValidationError) else []
        if isinstance(error, PromptValidationError):
            headline = str(error.error.get("message") or error.error_type)
            details = error.error.get("details")
            if details:
                headline = f"{headline}: {details}"
        else:
            headline = str(error)
        node_id = next(iter(error.node_errors), None) if isinstance(error, PromptValidationError) else None
        execution = WorkflowExecution(
            id=new_id("rejected"),
            workflow_id=workflow_id,
            name=name,
            status=TaskStatus.FAILED,
            created_at=now,
            started_at=now,
            completed_at=now,
            prompt=prompt,
            node_errors=error.node_errors if isinstance(error, PromptValidationError) else {},
            error=ErrorReport(
                node_id=node_id,
                node_type=(prompt.get(node_id) or {}).get("class_type") if node_id else None,
                exception_type=type(error).__name__,
                exception_message=headline,
            ),
            status_detail="the server refused the prompt; nothing was queued",
            metadata={"validation_messages": messages},
        )
        entry = ExecutionEntry(execution=execution, rejected=True)
        self.entries[execution.id] = entry
        return entry
