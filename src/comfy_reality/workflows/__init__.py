"""Workflow files: format detection, the library, UI->API conversion, node catalogue, validation, editing.

Pure functions over JSON data and files; the HTTP calls (/object_info, /userdata) belong to the
runtime client, whose answers callers pass in.
"""

from .convert import (
    MissingNodeType,
    MissingNodeTypesError,
    convert_ui_to_api,
    find_missing_node_types,
    frontend_defects,
    process_dynamic_prompt,
)
from .edit import EditableInput, apply_overrides, editable_inputs
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
from .loader import load_prompt
from .object_info import InputSpec, ObjectInfo, ObjectInfoCache, packaged_object_info
from .prepare import PreparedWorkflow, prepare_workflow
from .userdata import (
    encode_userdata_path,
    parse_workflow_listing,
    userdata_file_url,
    userdata_list_url,
    workflow_name,
    workflow_userdata_path,
)
from .validate import ValidationReport, validate_prompt

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "EditableInput",
    "InputSpec",
    "MissingNodeType",
    "MissingNodeTypesError",
    "ObjectInfo",
    "ObjectInfoCache",
    "PreparedWorkflow",
    "ValidationReport",
    "WorkflowFile",
    "WorkflowFormat",
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
    "prepare_workflow",
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
]
