"""Typed task model shared by the runtime, the TUI, the CLI and the journal.

Every datetime is timezone-aware UTC and every id is a string (ComfyUI node ids such as
``"12:5"`` or ``"2.0.0.1"`` are not numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# Re-exported: every module that names them through models keeps working.
from .kinds import LIFECYCLE_EVENTS as LIFECYCLE_EVENTS
from .kinds import ConnectionState as ConnectionState
from .kinds import EventType as EventType
from .kinds import TaskStatus as TaskStatus
from .kinds import TaskType as TaskType
from .kinds import new_id as new_id
from .kinds import utc_now as utc_now

# defer_build: a model's validator is built on its first use, not on import. The app's first frame
# needs none of these; a session that never runs a prompt never builds the task models.
_Model = TypeVar("_Model", bound=BaseModel)


class TaskEvent(BaseModel):
    """One change of one task. Frozen: subscribers share the same instance."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    task_id: str
    event_type: EventType
    timestamp: datetime = Field(default_factory=utc_now)
    data: dict[str, Any] | None = None
    message: str | None = None
    # Enough context that a subscriber can route the event without asking the manager.
    task_type: TaskType | None = None
    parent_id: str | None = None
    # The execution the task belongs to (None for tasks outside any execution).
    execution_id: str | None = None
    seq: int = 0


class Task(BaseModel):
    """A unit of work: a whole workflow execution, one ComfyUI node of it, or a system job."""

    model_config = ConfigDict(validate_assignment=False, defer_build=True)

    id: str = Field(default_factory=lambda: new_id("task"))
    type: TaskType = TaskType.NODE
    status: TaskStatus = TaskStatus.PENDING
    name: str
    description: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    parent_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    # The execution this task is part of: set on its workflow task and on every node task, so a
    # task (and each of its events) leads to its execution without any lookup.
    execution_id: str | None = None
    # ComfyUI identity: node tasks carry node_id/class_type, workflow tasks the prompt_id.
    node_id: str | None = None
    class_type: str | None = None
    prompt_id: str | None = None
    # Live progress of a node (sampler steps): raw value/max plus derived rate and ETA.
    value: float | None = None
    max: float | None = None
    rate: float | None = None
    eta_seconds: float | None = None
    cached: bool = False
    # Why a node ended the way it did when it never ran ("not run: node 5 failed").
    status_detail: str | None = None
    error_type: str | None = None
    traceback: list[str] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish; None until the task has finished."""
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return None

    def elapsed(self, now: datetime | None = None) -> float | None:
        """Seconds since start, for a running task (or its duration once finished)."""
        if self.started_at is None:
            return None
        end = self.completed_at or now or utc_now()
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def is_final(self) -> bool:
        return self.status.is_final


_new_object = object.__new__
_set_attribute = object.__setattr__


def assembled(cls: type[_Model], fields: dict[str, Any], fields_set: set[str]) -> _Model:
    """The instance pydantic would build from ``fields`` (every field, in field order, already of
    its type), put together without validating it again."""
    instance = _new_object(cls)
    _set_attribute(instance, "__dict__", fields)
    _set_attribute(instance, "__pydantic_fields_set__", fields_set)
    _set_attribute(instance, "__pydantic_extra__", None)
    _set_attribute(instance, "__pydantic_private__", None)
    return instance


def _constructor(cls: type[_Model]) -> Callable[[dict[str, Any]], _Model]:
    """``cls(**values)`` for values the runtime made itself, already of their fields' types, without
    validating them again: the instance pydantic builds (every field in field order, defaults
    and fresh default factories for the rest, the given names as the fields set)."""
    template: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, field in cls.model_fields.items():
        template[name] = None if field.default_factory is not None else field.default
        if field.default_factory is not None:
            factories.append((name, field.default_factory))  # type: ignore[arg-type]

    def construct(values: dict[str, Any]) -> _Model:
        fields = template.copy()
        fields.update(values)
        for name, factory in factories:
            if name not in values:
                fields[name] = factory()
        return assembled(cls, fields, set(values))

    return construct


construct_task = _constructor(Task)
"""``Task(**values)`` for a task the runtime builds itself (its task trees): see :func:`_constructor`."""


class OutputFile(BaseModel):
    """A file a node produced, as ComfyUI reports it (names are untrusted server data)."""

    model_config = ConfigDict(defer_build=True)

    node_id: str
    filename: str
    subfolder: str = ""
    type: str = "output"
    kind: str = "images"


_construct_output_file = _constructor(OutputFile)


def output_files_from(outputs: Any) -> list[OutputFile]:
    """Every ``{filename, subfolder, type}`` item of a prompt's outputs (``{node: {kind: [...]}}``).

    Server data is untrusted: anything that is not shaped like a file reference is skipped.
    """
    files: list[OutputFile] = []
    if not isinstance(outputs, dict):
        return files
    for node_id, ui in outputs.items():
        if not isinstance(ui, dict):
            continue
        for kind, items in ui.items():
            if not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
                    continue
                subfolder = item.get("subfolder")
                file_type = item.get("type")
                # Every value is a str by now: built as OutputFile(...) builds it, without validating again.
                files.append(
                    _construct_output_file(
                        {
                            "node_id": str(node_id),
                            "filename": item["filename"],
                            "subfolder": subfolder if isinstance(subfolder, str) else "",
                            "type": file_type if isinstance(file_type, str) and file_type else "output",
                            "kind": str(kind),
                        }
                    )
                )
    return files


class ErrorReport(BaseModel):
    """What the server said about a failed prompt, kept whole for the error panes (data, not an exception)."""

    model_config = ConfigDict(defer_build=True)

    node_id: str | None = None
    node_type: str | None = None
    exception_type: str
    exception_message: str
    traceback: list[str] = Field(default_factory=list)
    current_inputs: dict[str, Any] = Field(default_factory=dict)
    executed: list[str] = Field(default_factory=list)


class WorkflowExecution(BaseModel):
    """One submission of one prompt to one server, from queueing to its final state.

    ``server_url`` names the server (never with credentials: they stay in the client), so
    executions of several servers can live side by side. ``workflow_task_id`` and ``tasks`` are
    its task tree (built once by :func:`~comfy_reality.runtime.tree.build_task_tree`); every
    task of it names this execution back in ``Task.execution_id``.
    """

    model_config = ConfigDict(defer_build=True)

    id: str = Field(default_factory=lambda: new_id("exec"))
    workflow_id: str
    name: str | None = None
    status: TaskStatus = TaskStatus.PENDING
    tasks: list[Task] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utc_now)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    server_url: str | None = None
    client_id: str | None = None
    prompt_id: str | None = None
    number: int | None = None
    prompt: dict[str, Any] = Field(default_factory=dict)
    workflow_task_id: str | None = None
    # Partial acceptance: the server queued the prompt but these nodes failed validation.
    node_errors: dict[str, Any] = Field(default_factory=dict)
    error: ErrorReport | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    output_files: list[OutputFile] = Field(default_factory=list)
    retry_of: str | None = None
    status_detail: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return None

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    def node_task(self, node_id: str) -> Task | None:
        for task in self.tasks:
            if task.node_id == node_id:
                return task
        return None


class PreviewFrame(BaseModel):
    """A live preview image (sampler preview, SaveImageWebsocket) for the TUI to show."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    execution_id: str | None = None
    prompt_id: str | None = None
    node_id: str | None = None
    display_node_id: str | None = None
    image_type: str
    image: bytes = Field(repr=False)
    received_at: datetime = Field(default_factory=utc_now)


class ServerStatus(BaseModel):
    """What the app shows in its status bar about one server."""

    model_config = ConfigDict(frozen=True)

    url: str
    state: ConnectionState = ConnectionState.CONNECTING
    queue_remaining: int | None = None
    reason: str | None = None
    retry_in: float | None = None
    changed_at: datetime = Field(default_factory=utc_now)

    def with_queue(self, remaining: int | None) -> ServerStatus:
        """``model_copy(update={"queue_remaining": remaining})``, the same instance, built without
        pydantic's generic copy: status messages come twice a prompt."""
        return assembled(
            ServerStatus,
            {**self.__dict__, "queue_remaining": remaining},
            {*self.__pydantic_fields_set__, "queue_remaining"},
        )
