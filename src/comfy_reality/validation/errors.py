"""The error dicts ComfyUI's POST /prompt answers with: one builder per error type.

Each builder returns ``{"type", "message", "details", "extra_info"}`` with the server's wording,
so a local verdict and a server rejection can be shown by the same code. The texts are Python's
own where the server prints an exception (``str(exc)``, the exception's type name).
"""

from __future__ import annotations

from typing import Any

from .specs import InputSpec, choice_list_text, input_config

ErrorDict = dict[str, Any]

# Combo lists longer than this are summarised in ``value_not_in_list`` and not echoed back.
LONG_CHOICE_LIST = 20


def full_type_name(exc: BaseException) -> str:
    """An exception's type as the server names it: builtins bare, others with their module."""
    klass = type(exc)
    module = klass.__module__
    return klass.__qualname__ if module == "builtins" else f"{module}.{klass.__qualname__}"


def prompt_error(kind: str, message: str, details: str = "") -> ErrorDict:
    """A top-level ``error`` of the answer (no node in particular)."""
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def missing_class_type(node_id: str) -> ErrorDict:
    return prompt_error(
        "invalid_prompt",
        "Cannot execute because a node is missing the class_type property.",
        f"Node ID '#{node_id}'",
    )


def unknown_class_type(node_id: str, class_type: Any) -> ErrorDict:
    return prompt_error(
        "invalid_prompt", f"Cannot execute because node {class_type} does not exist.", f"Node ID '#{node_id}'"
    )


def no_outputs() -> ErrorDict:
    return prompt_error("prompt_no_outputs", "Prompt has no outputs")


def outputs_failed(reasons: list[ErrorDict]) -> ErrorDict:
    """Every output failed: the details list the outputs' own reasons, one per line."""
    details = "\n".join(f"{r['message']}: {r['details']}" for r in reasons)
    return prompt_error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)


def required_input_missing(name: str) -> ErrorDict:
    return {
        "type": "required_input_missing",
        "message": "Required input is missing",
        "details": f"{name}",
        "extra_info": {"input_name": name},
    }


def bad_linked_input(spec: InputSpec, value: Any) -> ErrorDict:
    return {
        "type": "bad_linked_input",
        "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
        "details": f"{spec.name}",
        "extra_info": {"input_name": spec.name, "input_config": input_config(spec), "received_value": value},
    }


def return_type_mismatch(spec: InputSpec, received: Any, wanted: Any, link: list[Any]) -> ErrorDict:
    return {
        "type": "return_type_mismatch",
        "message": "Return type mismatch between linked nodes",
        "details": f"{spec.name}, received_type({received}) mismatch input_type({wanted})",
        "extra_info": {
            "input_name": spec.name,
            "input_config": input_config(spec),
            "received_type": received,
            "linked_node": link,
        },
    }


def invalid_input_type(spec: InputSpec, value: Any, exc: BaseException) -> ErrorDict:
    return {
        "type": "invalid_input_type",
        "message": f"Failed to convert an input value to a {spec.type} value",
        "details": f"{spec.name}, {value}, {exc}",
        "extra_info": {
            "input_name": spec.name,
            "input_config": input_config(spec),
            "received_value": value,
            "exception_message": str(exc),
        },
    }


def value_smaller_than_min(spec: InputSpec, value: Any, minimum: Any) -> ErrorDict:
    return {
        "type": "value_smaller_than_min",
        "message": f"Value {value} smaller than min of {minimum}",
        "details": f"{spec.name}",
        "extra_info": {"input_name": spec.name, "input_config": input_config(spec), "received_value": value},
    }


def value_bigger_than_max(spec: InputSpec, value: Any, maximum: Any) -> ErrorDict:
    return {
        "type": "value_bigger_than_max",
        "message": f"Value {value} bigger than max of {maximum}",
        "details": f"{spec.name}",
        "extra_info": {"input_name": spec.name, "input_config": input_config(spec), "received_value": value},
    }


def value_not_in_list(spec: InputSpec, value: Any, choices: list[Any]) -> ErrorDict:
    long_list = len(choices) > LONG_CHOICE_LIST
    return {
        "type": "value_not_in_list",
        "message": "Value not in list",
        "details": f"{spec.name}: '{value}' not in {choice_list_text(choices)}",
        "extra_info": {
            "input_name": spec.name,
            "input_config": None if long_list else input_config(spec),
            "received_value": value,
        },
    }


def exception_during_inner_validation(
    spec: InputSpec, link: list[Any], exc: BaseException, traceback: list[str]
) -> ErrorDict:
    """A linked node could not be validated; keyed under that node, described with the consumer's input."""
    return {
        "type": "exception_during_inner_validation",
        "message": "Exception when validating inner node",
        "details": str(exc),
        "extra_info": {
            "input_name": spec.name,
            "input_config": input_config(spec),
            "exception_message": str(exc),
            "exception_type": full_type_name(exc),
            "traceback": traceback,
            "linked_node": link,
        },
    }


def exception_during_validation(exc: BaseException, traceback: list[str]) -> ErrorDict:
    """An output node itself could not be validated."""
    return {
        "type": "exception_during_validation",
        "message": "Exception when validating node",
        "details": str(exc),
        "extra_info": {"exception_type": full_type_name(exc), "traceback": traceback},
    }


def custom_validation_failed(name: str, details: str) -> ErrorDict:
    """A node's own VALIDATE_INPUTS refused a value."""
    return {
        "type": "custom_validation_failed",
        "message": "Custom validation failed for node",
        "details": details,
        "extra_info": {"input_name": name},
    }


def dependency_cycle(cycle: list[str]) -> ErrorDict:
    """Not a server error type: local validation names a cycle the server would only trip over."""
    return {
        "type": "dependency_cycle",
        "message": "Dependency cycle detected",
        "details": " -> ".join(cycle),
        "extra_info": {"cycle": cycle},
    }
