"""Local prompt validation that answers like the ComfyUI server's POST /prompt would.

The rules are the server's own (``comfy_reality.validation``, the code the embedded server
runs), read against a catalogue from /object_info, so the error dict and ``node_errors`` have the
server's shape, types and wording. Callers can therefore show a local result and a server
rejection with the same code (``PromptValidationError.node_messages``).

Only here: a dependency cycle is reported on the node that closes it (the server would recurse
until Python's stack overflows), every unknown node type is listed, not just the first, no
traceback lines are sent (the server's would only leak its paths), the prompt is never modified,
and ``ValidationReport.messages`` gives readable lines.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..errors import PromptValidationError
from ..validation import NodeValidator, NodeVerdict, check_prompt
from ..validation.errors import ErrorDict, dependency_cycle, no_outputs, outputs_failed
from .graph import find_cycle
from .object_info import ObjectInfo


class ValidationReport(BaseModel):
    """The server's verdict shape: ``error`` (None when it would queue) and per-node errors."""

    error: dict[str, Any] | None = None
    node_errors: dict[str, Any] = Field(default_factory=dict)
    good_outputs: list[str] = Field(default_factory=list)
    unknown_class_types: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing at all to complain about."""
        return self.error is None and not self.node_errors

    @property
    def accepted(self) -> bool:
        """The server would queue it (possibly running only the valid outputs, like a 200 with node_errors)."""
        return self.error is None

    def body(self) -> dict[str, Any]:
        """The JSON body the server sends with its 400."""
        return {"error": self.error, "node_errors": self.node_errors}

    def to_exception(self) -> PromptValidationError:
        return PromptValidationError(self.error or outputs_failed([]), self.node_errors)

    def messages(self) -> list[str]:
        """Readable lines: the top-level error then one per node error (same format as server rejections)."""
        exc = self.to_exception()
        lines = []
        if self.error is not None:
            text = str(self.error.get("message") or self.error.get("type"))
            details = self.error.get("details")
            lines.append(f"{text} ({details})" if details else text)
        lines.extend(exc.node_messages())
        return lines


class _LocalNodeValidator(NodeValidator):
    """The server's node rules, with a cycle reported on the node that closes it."""

    def __init__(self, prompt: dict[str, Any], object_info: ObjectInfo) -> None:
        super().__init__(prompt, object_info)
        self.cycle_hits: set[str] = set()

    def revisit(self, node_id: str) -> NodeVerdict:
        # Invalid without a reason here; the node's own check, when it ends, names the cycle.
        self.cycle_hits.add(node_id)
        return (False, [], node_id)

    def extra_errors(self, node_id: str, class_type: str, inputs: dict[str, Any]) -> list[ErrorDict]:
        if node_id not in self.cycle_hits:
            return []
        return [dependency_cycle(find_cycle(self.prompt) or [node_id, node_id])]


def validate_prompt(prompt: Any, object_info: ObjectInfo) -> ValidationReport:
    """Check an API prompt the way the server will, without sending it."""
    if not isinstance(prompt, dict):
        return ValidationReport(error=no_outputs())
    nodes = {str(k): v for k, v in prompt.items()}
    verdict = check_prompt(
        nodes, object_info, lambda p: _LocalNodeValidator(p, object_info), list_all_unknown=True
    )
    return ValidationReport(
        error=verdict.error,
        node_errors=verdict.node_errors,
        good_outputs=verdict.good_outputs,
        unknown_class_types=verdict.unknown_class_types,
    )
