"""The session as the screen knows it: snapshots of executions and their node tasks.

Filled only from :class:`~comfy_reality.tui.messages.TaskEventsBatch` messages (and from
submissions the server refused, which never became executions on the server), so every
widget draws from one consistent copy instead of the runtime's live objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import PromptValidationError
from ..runtime.models import ErrorReport, Task, TaskStatus, TaskType, WorkflowExecution, new_id, utc_now

REJECTED = "rejected"


@dataclass
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


class SessionState:
    """Executions of this session by id, newest last.

    Each task names its execution (``Task.execution_id``), so a task snapshot goes straight to
    its entry. ``max_finished`` bounds a long session's memory the way the task manager bounds
    its own: beyond it the oldest finished executions are forgotten.
    """

    def __init__(self, max_finished: int = 500) -> None:
        self.entries: dict[str, ExecutionEntry] = {}
        self.max_finished = max_finished

    def get(self, execution_id: str | None) -> ExecutionEntry | None:
        return self.entries.get(execution_id) if execution_id else None

    def active(self) -> list[ExecutionEntry]:
        """Executions still queued or running on the server."""
        return [e for e in self.entries.values() if not e.rejected and not e.status.is_final]

    def apply(self, tasks: dict[str, Task], executions: dict[str, WorkflowExecution]) -> set[str]:
        """Take new snapshots in; return the ids of the executions that changed."""
        changed: set[str] = set()
        for execution in executions.values():
            entry = self.entries.get(execution.id)
            if entry is None:
                self.entries[execution.id] = ExecutionEntry(execution=execution)
            else:
                entry.execution = execution
            changed.add(execution.id)
        for task in tasks.values():
            entry = self.get(task.execution_id)
            if entry is None:
                continue
            if task.type is TaskType.WORKFLOW:
                entry.workflow_task = task
            elif task.type is TaskType.NODE:
                entry.nodes[task.id] = task
            else:
                continue
            changed.add(entry.id)
        return changed

    def forget_oldest_finished(self) -> list[str]:
        """Drop the oldest finished executions beyond ``max_finished``; returns their ids."""
        finished = [e.id for e in self.entries.values() if e.rejected or e.status.is_final]
        excess = finished[: max(0, len(finished) - self.max_finished)]
        for execution_id in excess:
            del self.entries[execution_id]
        return excess

    def add_rejected(
        self, name: str, workflow_id: str, prompt: dict[str, Any], error: Exception
    ) -> ExecutionEntry:
        """Record a submission the server refused, so it shows in the tree with its reasons."""
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
