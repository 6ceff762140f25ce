"""Local prompt validation that answers like the ComfyUI server's POST /prompt would.

Follows the server's ``validate_prompt``/``validate_inputs`` (0.3.64) step by step, with the node
catalogue from /object_info instead of the Python classes, so the error dict and ``node_errors``
have the server's shape, types and wording (checked against the recorded 400 bodies in
tests/fixtures/protocol/03_validation_errors.jsonl). Callers can therefore show a local result
and a server rejection with the same code (``PromptValidationError.node_messages``).

Beyond the server: a dependency cycle is reported per node (the server would only fail later,
at execution) and every unknown node type is listed, not just the first.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..errors import PromptValidationError
from .graph import find_cycle
from .object_info import InputSpec, ObjectInfo, choice_list_text

_INTERNAL_TB: list[str] = []  # the server sends its own traceback lines; ours would only leak paths


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
        return PromptValidationError(
            self.error
            or {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
                "extra_info": {},
            },
            self.node_errors,
        )

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


def _error(kind: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def _input_config(spec: InputSpec) -> list[Any]:
    raw = spec.raw
    head = raw[0] if raw else spec.type
    options = raw[1] if len(raw) > 1 and isinstance(raw[1], dict) else {}
    return [head, options]


def _types_match(received: Any, wanted: Any) -> bool:
    """The server's validate_node_input: equal, wildcard, or overlapping comma-separated unions."""
    if received == wanted:
        return True
    if isinstance(wanted, list) or wanted == "COMBO":
        return isinstance(received, list) or received in ("COMBO", "*")
    if not isinstance(received, str) or not isinstance(wanted, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in wanted.split(",")}
    if "*" in got or "*" in want:
        return True
    return bool(got & want)


class _Validator:
    def __init__(self, prompt: dict[str, Any], object_info: ObjectInfo) -> None:
        self.prompt = prompt
        self.info = object_info
        self.validated: dict[str, tuple[bool, list[dict[str, Any]], str]] = {}
        self.in_progress: set[str] = set()
        self.cycle_hits: set[str] = set()

    def validate_node(self, node_id: str) -> tuple[bool, list[dict[str, Any]], str]:
        if node_id in self.validated:
            return self.validated[node_id]
        if node_id in self.in_progress:
            # Reached again while validating its own inputs: a dependency cycle. The server would
            # recurse until RecursionError; we stop and report the cycle on this node instead.
            self.cycle_hits.add(node_id)
            return (False, [], node_id)
        self.in_progress.add(node_id)
        try:
            return self._validate_node(node_id)
        finally:
            self.in_progress.discard(node_id)

    def _validate_node(self, node_id: str) -> tuple[bool, list[dict[str, Any]], str]:
        node = self.prompt[node_id]
        inputs = node.get("inputs") or {}
        class_type = node["class_type"]
        errors: list[dict[str, Any]] = []
        valid = True
        for spec in self.info.input_specs(class_type):
            name = spec.name
            if name not in inputs:
                if spec.required:
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": f"{name}",
                            "extra_info": {"input_name": name},
                        }
                    )
                continue
            value = inputs[name]
            info = _input_config(spec)
            wanted = info[0] if spec.type == "COMBO" else spec.type
            if isinstance(value, list):
                if len(value) != 2:
                    errors.append(
                        {
                            "type": "bad_linked_input",
                            "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                            "details": f"{name}",
                            "extra_info": {"input_name": name, "input_config": info, "received_value": value},
                        }
                    )
                    continue
                source_id = value[0]
                # Same lookups as the server, so a dangling link raises the same KeyError/IndexError
                # and is reported by the consumer one level up, as the server does.
                source_class = self.prompt[source_id]["class_type"]
                received = tuple(self.info.output_types(source_class))[value[1]]
                if not _types_match(received, wanted):
                    errors.append(
                        {
                            "type": "return_type_mismatch",
                            "message": "Return type mismatch between linked nodes",
                            "details": f"{name}, received_type({received}) mismatch input_type({wanted})",
                            "extra_info": {
                                "input_name": name,
                                "input_config": info,
                                "received_type": received,
                                "linked_node": value,
                            },
                        }
                    )
                    continue
                try:
                    result = self.validate_node(str(source_id))
                    if result[0] is False:
                        valid = False
                        continue
                except Exception as exc:
                    valid = False
                    self.validated[str(source_id)] = (
                        False,
                        [
                            {
                                "type": "exception_during_inner_validation",
                                "message": "Exception when validating inner node",
                                "details": str(exc),
                                "extra_info": {
                                    "input_name": name,
                                    "input_config": info,
                                    "exception_message": str(exc),
                                    "exception_type": type(exc).__name__,
                                    "traceback": _INTERNAL_TB,
                                    "linked_node": value,
                                },
                            }
                        ],
                        str(source_id),
                    )
                    continue
                continue
            try:
                if isinstance(value, dict) and "__value__" in value:
                    value = value["__value__"]
                if spec.type == "INT":
                    value = int(value)
                elif spec.type == "FLOAT":
                    value = float(value)
                elif spec.type == "STRING":
                    value = str(value)
                elif spec.type == "BOOLEAN":
                    value = bool(value)
            except Exception as exc:
                errors.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {spec.type} value",
                        "details": f"{name}, {value}, {exc}",
                        "extra_info": {
                            "input_name": name,
                            "input_config": info,
                            "received_value": value,
                            "exception_message": str(exc),
                        },
                    }
                )
                continue
            if spec.type in ("INT", "FLOAT"):
                if spec.min is not None and value < spec.min:
                    errors.append(
                        {
                            "type": "value_smaller_than_min",
                            "message": f"Value {value} smaller than min of {spec.min}",
                            "details": f"{name}",
                            "extra_info": {"input_name": name, "input_config": info, "received_value": value},
                        }
                    )
                    continue
                if spec.max is not None and value > spec.max:
                    errors.append(
                        {
                            "type": "value_bigger_than_max",
                            "message": f"Value {value} bigger than max of {spec.max}",
                            "details": f"{name}",
                            "extra_info": {"input_name": name, "input_config": info, "received_value": value},
                        }
                    )
                    continue
            if spec.type == "COMBO":
                options = spec.choices or []
                try:
                    missing = value not in options
                except TypeError:
                    missing = True
                if missing:
                    long_list = len(options) > 20
                    errors.append(
                        {
                            "type": "value_not_in_list",
                            "message": "Value not in list",
                            "details": f"{name}: '{value}' not in {choice_list_text(options)}",
                            "extra_info": {
                                "input_name": name,
                                "input_config": None if long_list else info,
                                "received_value": value,
                            },
                        }
                    )
                    continue
        if node_id in self.cycle_hits:
            cycle = find_cycle(self.prompt) or [node_id, node_id]
            errors.append(
                {
                    "type": "dependency_cycle",
                    "message": "Dependency cycle detected",
                    "details": " -> ".join(cycle),
                    "extra_info": {"cycle": cycle},
                }
            )
        result = (False, errors, node_id) if errors or not valid else (True, [], node_id)
        self.validated[node_id] = result
        return result


def validate_prompt(prompt: Any, object_info: ObjectInfo) -> ValidationReport:
    """Check an API prompt the way the server will, without sending it."""
    if not isinstance(prompt, dict):
        return ValidationReport(error=_error("prompt_no_outputs", "Prompt has no outputs"))
    prompt = {str(k): v for k, v in prompt.items()}
    unknown: dict[str, list[str]] = {}
    first_error: dict[str, Any] | None = None
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return ValidationReport(
                error=_error(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{node_id}'",
                )
            )
        class_type = node["class_type"]
        if class_type not in object_info:
            unknown.setdefault(str(class_type), []).append(node_id)
            if first_error is None:
                first_error = _error(
                    "invalid_prompt",
                    f"Cannot execute because node {class_type} does not exist.",
                    f"Node ID '#{node_id}'",
                )
            continue
        if object_info.is_output_node(class_type):
            outputs.append(node_id)
    if first_error is not None:
        return ValidationReport(error=first_error, unknown_class_types=unknown)
    if not outputs:
        return ValidationReport(error=_error("prompt_no_outputs", "Prompt has no outputs"))

    validator = _Validator(prompt, object_info)
    node_errors: dict[str, Any] = {}
    good: list[str] = []
    output_errors: list[tuple[str, list[dict[str, Any]]]] = []
    for output_id in outputs:
        try:
            valid, reasons, _ = validator.validate_node(output_id)
        except Exception as exc:
            valid = False
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(exc),
                    "extra_info": {"exception_type": type(exc).__name__, "traceback": _INTERNAL_TB},
                }
            ]
            validator.validated[output_id] = (False, reasons, output_id)
        if valid is True:
            good.append(output_id)
            continue
        if reasons:
            output_errors.append((output_id, reasons))
        for node_id, (node_valid, node_reasons, _) in validator.validated.items():
            # Downstream nodes of a broken one are invalid without reasons; the server omits them.
            if node_valid is not True and node_reasons:
                entry = node_errors.setdefault(
                    node_id,
                    {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    },
                )
                if output_id not in entry["dependent_outputs"]:
                    entry["dependent_outputs"].append(output_id)
    error = None
    if not good:
        details = "\n".join(
            f"{r['message']}: {r['details']}" for _, reasons in output_errors for r in reasons
        )
        error = {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": details,
            "extra_info": {},
        }
    return ValidationReport(error=error, node_errors=node_errors, good_outputs=good)
