"""Workflow files: format detection, the library, UI->API conversion, node catalogue, validation, editing."""

from .formats import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    WorkflowFormat,
    WorkflowReadError,
    detect_format,
    parse_json_bytes,
    read_json_file,
    unwrap_prompt,
)
from .library import WorkflowFile, inspect_workflow, safe_filename, save_workflow, scan_workflows

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "WorkflowFile",
    "WorkflowFormat",
    "WorkflowReadError",
    "detect_format",
    "inspect_workflow",
    "parse_json_bytes",
    "read_json_file",
    "safe_filename",
    "save_workflow",
    "scan_workflows",
    "unwrap_prompt",
]
