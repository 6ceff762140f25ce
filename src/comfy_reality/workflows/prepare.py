"""Preparing a workflow for a run: one path shared by the CLI (run, validate, convert) and the app.

From parsed JSON to what a front end needs before it queues anything: the file's format, the
API prompt (UI workflows converted with the server's node catalogue), where the web UI's
conversion differs from the drawn graph, and the node types the server does not list. Each
front end decides how to show these; none of them repeats the steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidWorkflowError
from .formats import WorkflowFormat, detect_format
from .loader import load_prompt

if TYPE_CHECKING:
    from .object_info import ObjectInfo


@dataclass(frozen=True)
class PreparedWorkflow:
    """A workflow ready to queue, with what the user should know about it first."""

    format: WorkflowFormat
    """API or UI: the format of the file as read (the prompt is always API format)."""
    prompt: dict[str, Any]
    """The API prompt, ``{node_id: {"class_type": ..., "inputs": {...}}}``."""
    web_ui_defects: list[str] = field(default_factory=list)
    """Where the web UI's conversion differs from the graph as drawn (empty once corrected)."""
    unknown_node_types: list[str] = field(default_factory=list)
    """``Type (node 2)`` for each node whose class the server does not list (none without a catalogue)."""

    def require_known_node_types(self) -> None:
        """Refuse a prompt the server cannot run because it lacks some of its node types."""
        if self.unknown_node_types:
            raise InvalidWorkflowError(
                "the server does not have these node types: "
                + ", ".join(self.unknown_node_types)
                + ". Install the custom nodes that provide them, or pick another server"
            )


def workflow_format(data: Any, *, source: str | None = None) -> WorkflowFormat:
    """API or UI; anything else raises InvalidWorkflowError saying why it is not a workflow."""
    fmt, reason = detect_format(data)
    if fmt is WorkflowFormat.INVALID:
        raise InvalidWorkflowError(f"not a ComfyUI workflow: {reason}", source=source)
    return fmt


def prepare_workflow(
    data: Any,
    object_info: ObjectInfo | None,
    *,
    source: str | None = None,
    correct_frontend_defects: bool = False,
) -> PreparedWorkflow:
    """The API prompt of parsed workflow JSON, with its web-UI defects and unknown node types.

    ``source`` (a file name) is named in every error. Converting a UI workflow needs
    ``object_info``; without it this raises InvalidWorkflowError saying so.
    """
    fmt = workflow_format(data, source=source)
    try:
        prompt = load_prompt(data, object_info, correct_frontend_defects=correct_frontend_defects)
    except InvalidWorkflowError as exc:
        if source is not None and exc.source is None:
            raise InvalidWorkflowError(str(exc), source=source) from exc
        raise
    return PreparedWorkflow(
        format=fmt,
        prompt=prompt,
        web_ui_defects=web_ui_defects(data, object_info, correct_frontend_defects=correct_frontend_defects),
        unknown_node_types=unknown_node_types(prompt, object_info),
    )


def web_ui_defects(data: Any, object_info: ObjectInfo | None, *, correct_frontend_defects: bool) -> list[str]:
    """Where the web UI's conversion of a UI workflow differs from its graph (nothing when corrected)."""
    if correct_frontend_defects or object_info is None:
        return []
    from .convert import frontend_defects  # the converter only once there is a catalogue to convert with

    try:
        return frontend_defects(data, object_info)
    except InvalidWorkflowError:
        return []  # the conversion itself reports what is wrong with the file


def unknown_node_types(prompt: dict[str, Any], object_info: ObjectInfo | None) -> list[str]:
    """``Type (node 2)`` for each node whose class the server does not list; none without a catalogue."""
    if object_info is None:
        return []
    return [
        f"{node.get('class_type')} (node {node_id})"
        for node_id, node in prompt.items()
        if isinstance(node, dict) and node.get("class_type") not in object_info
    ]
