"""Workflow files: format detection, the library, UI->API conversion, node catalogue, validation, editing.

Pure functions over JSON data and files; the HTTP calls (/object_info, /userdata) belong to the
runtime client, whose answers callers pass in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from comfy_reality.lazy_exports import lazy_getattr

if TYPE_CHECKING:
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

# Each name is imported from its module on first use: `comfy-reality run` on an API-format file
# reads JSON and must not pay for the converter, the node catalogue and their pydantic models.
_MODULE_OF: dict[str, str] = {
    "EditableInput": "edit",
    "InputSpec": "object_info",
    "MAX_DEPTH": "formats",
    "MAX_FILE_BYTES": "formats",
    "MissingNodeType": "convert",
    "MissingNodeTypesError": "convert",
    "ObjectInfo": "object_info",
    "ObjectInfoCache": "object_info",
    "PreparedWorkflow": "prepare",
    "ValidationReport": "validate",
    "WorkflowFile": "library",
    "WorkflowFormat": "formats",
    "WorkflowReadError": "formats",
    "apply_overrides": "edit",
    "convert_ui_to_api": "convert",
    "detect_format": "formats",
    "editable_inputs": "edit",
    "encode_userdata_path": "userdata",
    "find_missing_node_types": "convert",
    "frontend_defects": "convert",
    "inspect_workflow": "library",
    "load_prompt": "loader",
    "packaged_object_info": "object_info",
    "parse_json_bytes": "formats",
    "parse_workflow_listing": "userdata",
    "prepare_workflow": "prepare",
    "process_dynamic_prompt": "convert",
    "read_json_file": "formats",
    "safe_filename": "library",
    "save_workflow": "library",
    "scan_workflows": "library",
    "unwrap_prompt": "formats",
    "userdata_file_url": "userdata",
    "userdata_list_url": "userdata",
    "validate_prompt": "validate",
    "workflow_name": "userdata",
    "workflow_userdata_path": "userdata",
}


__getattr__ = lazy_getattr(__name__, _MODULE_OF, globals())


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
