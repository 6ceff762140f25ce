"""The engine: task model, task manager and the async ComfyUI client. Imports no Textual.

The errors it raises are defined in :mod:`comfy_reality.errors` and re-exported here.
"""

from typing import Any

from ..errors import (
    ComfyError,
    ExecutionNotFoundError,
    InvalidWorkflowError,
    PromptValidationError,
    ProtocolError,
    ServerError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
    UnsafeOutputPathError,
)
from .auth import Auth
from .client import (
    ComfyUIClient,
    HistoryEntry,
    PromptResponse,
    PromptState,
    QueueItem,
    QueueState,
    resolve_server_url,
    split_server_url,
)
from .connection import Backoff
from .dispatch import NoCapableServerError
from .manager import AsyncTaskManager, EventSubscription, Unsubscribe, current_task_var
from .models import (
    ConnectionState,
    ErrorReport,
    OutputFile,
    PreviewFrame,
    ServerStatus,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    WorkflowExecution,
)
from .pool import PoolServer, ServerPool
from .prompt import check_prompt
from .protocol import (
    BinaryFrame,
    ExecutedMessage,
    ExecutingMessage,
    ExecutionCachedMessage,
    ExecutionErrorMessage,
    ExecutionInterruptedMessage,
    ExecutionStartMessage,
    ExecutionSuccessMessage,
    FeatureFlagsMessage,
    GenericMessage,
    LogsMessage,
    PreviewImageFrame,
    PreviewImageWithMetadataFrame,
    ProgressMessage,
    ProgressStateMessage,
    StatusMessage,
    TextFrame,
    UnknownBinaryFrame,
    WsMessage,
    parse_binary,
    parse_frame,
    parse_message,
    parse_text,
)
from .runtime import ComfyUIAsyncRuntime
from .server_history import HistoryPrompt, ServerHistoryItem
from .server_queue import DeleteReport, MoveReport, Owner, QueueEntry, QueueSnapshot, ServerQueue
from .tree import add_task_tree, build_task_tree


def __getattr__(name: str) -> Any:
    # RichTaskPrinter pulls in Rich's live display: imported on first use, so the engine alone stays light.
    if name == "RichTaskPrinter":
        from .printer import RichTaskPrinter

        return RichTaskPrinter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncTaskManager",
    "Auth",
    "Backoff",
    "BinaryFrame",
    "ComfyError",
    "ComfyUIAsyncRuntime",
    "ComfyUIClient",
    "ConnectionState",
    "DeleteReport",
    "ErrorReport",
    "EventSubscription",
    "ExecutedMessage",
    "ExecutingMessage",
    "ExecutionCachedMessage",
    "ExecutionErrorMessage",
    "ExecutionInterruptedMessage",
    "ExecutionNotFoundError",
    "ExecutionStartMessage",
    "ExecutionSuccessMessage",
    "FeatureFlagsMessage",
    "GenericMessage",
    "HistoryEntry",
    "HistoryPrompt",
    "InvalidWorkflowError",
    "LogsMessage",
    "MoveReport",
    "NoCapableServerError",
    "OutputFile",
    "Owner",
    "PoolServer",
    "PreviewFrame",
    "PreviewImageFrame",
    "PreviewImageWithMetadataFrame",
    "ProgressMessage",
    "ProgressStateMessage",
    "PromptResponse",
    "PromptState",
    "PromptValidationError",
    "ProtocolError",
    "QueueEntry",
    "QueueItem",
    "QueueSnapshot",
    "QueueState",
    "RichTaskPrinter",
    "ServerError",
    "ServerHistoryItem",
    "ServerPool",
    "ServerQueue",
    "ServerResponseError",
    "ServerStatus",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "StatusMessage",
    "Task",
    "TaskEvent",
    "TaskStatus",
    "TaskType",
    "TextFrame",
    "UnknownBinaryFrame",
    "UnsafeOutputPathError",
    "Unsubscribe",
    "WorkflowExecution",
    "WsMessage",
    "add_task_tree",
    "build_task_tree",
    "check_prompt",
    "current_task_var",
    "parse_binary",
    "parse_frame",
    "parse_message",
    "parse_text",
    "resolve_server_url",
    "split_server_url",
]
