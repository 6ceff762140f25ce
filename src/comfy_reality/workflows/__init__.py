"""Workflow files: format detection, the library, UI->API conversion, node catalogue, validation, editing."""

from .convert import (
    MissingNodeType,
    MissingNodeTypesError,
    convert_ui_to_api,
    find_missing_node_types,
    process_dynamic_prompt,
)
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
from .object_info import InputSpec, ObjectInfo, ObjectInfoCache, packaged_object_info
from .validate import ValidationReport, validate_prompt
from .library import WorkflowFile, inspect_workflow, safe_filename, save_workflow, scan_workflows

__all__ = [
    "InputSpec",
    "MissingNodeType",
    "MissingNodeTypesError",
    "ObjectInfo",
    "ObjectInfoCache",
    "convert_ui_to_api",
    "find_missing_node_types",
    "packaged_object_info",
    "process_dynamic_prompt",
    "ValidationReport",
    "validate_prompt",
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
