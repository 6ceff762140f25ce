"""The names each package exports are a contract: this pins them, so a change is a decision, not an accident.

Adding or removing a public name means editing this list in the same commit: a change of the public API.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

import comfy_reality
from comfy_reality import errors

EXPORTS: dict[str, set[str]] = {
    "comfy_reality": {
        "ComfyError",
        "ConfigError",
        "ExecutionNotFoundError",
        "InvalidWorkflowError",
        "JournalError",
        "PromptValidationError",
        "ProtocolError",
        "ServerError",
        "ServerResponseError",
        "ServerTimeoutError",
        "ServerUnreachableError",
        "UnsafeOutputPathError",
        "__version__",
    },
    "comfy_reality.runtime": {
        "DeleteReport",
        "HistoryPrompt",
        "MoveReport",
        "Owner",
        "QueueEntry",
        "QueueSnapshot",
        "ServerHistoryItem",
        "ServerQueue",
        "AsyncTaskManager",
        "Auth",
        "Backoff",
        "BinaryFrame",
        "ComfyError",
        "ComfyUIAsyncRuntime",
        "ComfyUIClient",
        "ConnectionState",
        "EventSubscription",
        "ExecutedMessage",
        "ExecutingMessage",
        "ExecutionCachedMessage",
        "ErrorReport",
        "add_task_tree",
        "build_task_tree",
        "ExecutionErrorMessage",
        "ExecutionInterruptedMessage",
        "ExecutionNotFoundError",
        "ExecutionStartMessage",
        "ExecutionSuccessMessage",
        "FeatureFlagsMessage",
        "GenericMessage",
        "HistoryEntry",
        "InvalidWorkflowError",
        "LogsMessage",
        "NoCapableServerError",
        "PoolServer",
        "ServerPool",
        "OutputFile",
        "PreviewFrame",
        "PreviewImageFrame",
        "PreviewImageWithMetadataFrame",
        "ProgressMessage",
        "ProgressStateMessage",
        "PromptResponse",
        "PromptState",
        "PromptValidationError",
        "ProtocolError",
        "QueueItem",
        "QueueState",
        "RichTaskPrinter",
        "ServerError",
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
        "check_prompt",
        "current_task_var",
        "parse_binary",
        "parse_frame",
        "parse_message",
        "parse_text",
        "resolve_server_url",
        "split_server_url",
    },
    "comfy_reality.workflows": {
        "EditableInput",
        "InputSpec",
        "MAX_DEPTH",
        "MAX_FILE_BYTES",
        "MissingNodeType",
        "MissingNodeTypesError",
        "ObjectInfo",
        "ObjectInfoCache",
        "ValidationReport",
        "WorkflowFile",
        "WorkflowFormat",
        "PreparedWorkflow",
        "prepare_workflow",
        "WorkflowReadError",
        "apply_overrides",
        "convert_ui_to_api",
        "detect_format",
        "editable_inputs",
        "encode_userdata_path",
        "find_missing_node_types",
        "frontend_defects",
        "inspect_workflow",
        "load_prompt",
        "packaged_object_info",
        "parse_json_bytes",
        "parse_workflow_listing",
        "process_dynamic_prompt",
        "read_json_file",
        "safe_filename",
        "save_workflow",
        "scan_workflows",
        "unwrap_prompt",
        "userdata_file_url",
        "userdata_list_url",
        "validate_prompt",
        "workflow_name",
        "workflow_userdata_path",
    },
    "comfy_reality.journal": {
        "Journal",
        "JournalEntry",
        "JournalError",
        "JournalNode",
        "JournalStats",
        "JournalStore",
        "ReconcileReport",
        "SCHEMA_VERSION",
        "output_files_from",
        "queue_prompt_ids",
        "server_history_result",
    },
    "comfy_reality.server": {
        "EmbeddedServer",
        "Faults",
        "ServerConfig",
        "serve",
    },
    "comfy_reality.cli": {
        "COMMANDS",
        "cli",
        "main",
    },
    "comfy_reality.tui.widgets": {
        "ExecutionView",
        "LogPane",
        "NodeProgress",
        "NodeProgressList",
        "StatusBar",
        "TaskTree",
        "WorkflowBrowser",
        "WorkflowPreview",
    },
}

DESIGN_NAMES = {
    "Task",
    "TaskEvent",
    "TaskStatus",
    "TaskType",
    "WorkflowExecution",
    "AsyncTaskManager",
    "ComfyUIAsyncRuntime",
    "RichTaskPrinter",
}


@pytest.mark.parametrize("module_name", sorted(EXPORTS))
def test_each_package_exports_exactly_its_pinned_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == EXPORTS[module_name]
    assert len(module.__all__) == len(set(module.__all__)), "a name is listed twice in __all__"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names what it does not define: {missing}"


def test_the_design_names_stay_importable_from_the_runtime() -> None:
    runtime = importlib.import_module("comfy_reality.runtime")
    for name in DESIGN_NAMES:
        assert hasattr(runtime, name), name
    manager = runtime.AsyncTaskManager
    for method in ("create_task", "task_context", "update_progress", "subscribe", "current_task"):
        assert callable(getattr(manager, method)), method


def test_every_error_has_the_one_base() -> None:
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)]
    assert len(classes) > 5
    for cls in classes:
        assert issubclass(cls, comfy_reality.ComfyError), cls
    from comfy_reality.server.storage import PathRejected
    from comfy_reality.workflows import MissingNodeTypesError, WorkflowReadError

    for cls in (PathRejected, MissingNodeTypesError, WorkflowReadError):
        assert issubclass(cls, comfy_reality.ComfyError), cls


def test_the_errors_are_the_same_objects_wherever_imported() -> None:
    runtime = importlib.import_module("comfy_reality.runtime")
    journal = importlib.import_module("comfy_reality.journal")
    for name in comfy_reality.__all__:
        if name.endswith("Error"):
            assert getattr(comfy_reality, name) is getattr(errors, name)
            if hasattr(runtime, name):
                assert getattr(runtime, name) is getattr(errors, name)
    assert journal.JournalError is errors.JournalError


def test_the_package_is_typed() -> None:
    from pathlib import Path

    assert (Path(comfy_reality.__file__).parent / "py.typed").is_file()
