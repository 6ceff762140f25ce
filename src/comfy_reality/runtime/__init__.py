"""The engine: task model, task manager and the async ComfyUI client. Imports no Textual."""

from .errors import (
    ComfyError,
    ExecutionNotFoundError,
    InvalidWorkflowError,
    PromptValidationError,
    ServerError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
)
from .manager import AsyncTaskManager, EventSubscription, Unsubscribe, current_task_var
from .models import (
    ConnectionState,
    ExecutionError,
    OutputFile,
    ServerStatus,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    WorkflowExecution,
)

__all__ = [
    "AsyncTaskManager",
    "ComfyError",
    "ConnectionState",
    "EventSubscription",
    "ExecutionError",
    "ExecutionNotFoundError",
    "InvalidWorkflowError",
    "OutputFile",
    "PromptValidationError",
    "ServerError",
    "ServerResponseError",
    "ServerStatus",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "Task",
    "TaskEvent",
    "TaskStatus",
    "TaskType",
    "Unsubscribe",
    "WorkflowExecution",
    "current_task_var",
]
