"""Prompt validation with ComfyUI's rules, error types, messages and response shapes.

The rules follow ComfyUI's execution.validate_prompt / validate_inputs (read, not copied):
outputs are validated one by one, each walking its inputs depth-first; an upstream failure
marks the downstream nodes invalid without repeating the error; a prompt with at least one
valid output is accepted and only the valid outputs run. Exceptions raised while following a
link (missing node, bad output index) are reported the way the real server reports them: keyed
under the linked node, described with the consumer's input, with a Python-style message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comfy_reality.server.catalogue import NodeCatalogue

# Frames of the real server's traceback for the two link failures a client can cause; the
# recorded responses carry them, and clients may display them.
_TB_VALIDATE = (
    '  File "/opt/ComfyUI/execution.py", line 808, in validate_inputs\n'
    "    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
_TB_LOOKUP = (
    '  File "/opt/ComfyUI/execution.py", line 788, in validate_inputs\n'
    "    o_class_type = prompt[o_id]['class_type']\n"
    "                   ~~~~~~^^^^^^\n"
)
_TB_INDEX = (
    '  File "/opt/ComfyUI/execution.py", line 790, in validate_inputs\n'
    "    received_type = r[val[1]]\n"
    "                    ~^^^^^^^^\n"
)
_TB_OTHER = (
    '  File "/opt/ComfyUI/execution.py", line 731, in validate_inputs\n'
    "    inputs = prompt[unique_id]['inputs']\n"
    "             ~~~~~~~~~~~~~~~~~^^^^^^^^^^\n"
)
_TB_PROMPT = (
    '  File "/opt/ComfyUI/execution.py", line 1024, in validate_prompt\n'
    "    m = await validate_inputs(prompt_id, prompt, o, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)


# Graphs larger than this are validated upstream-first to bound recursion depth.
_DEEP_GRAPH = 200


class _LinkFault(Exception):
    """An exception raised while validating a node, remembering which statement raised it."""

    def __init__(self, original: BaseException, frame: str) -> None:
        super().__init__(str(original))
        self.original = original
        self.frame = frame


def full_type_name(exc: BaseException) -> str:
    klass = type(exc)
    module = klass.__module__
    return klass.__qualname__ if module == "builtins" else f"{module}.{klass.__qualname__}"


def types_match(received: Any, expected: Any) -> bool:
    """ComfyUI's validate_node_input (non-strict), plus the ``*`` wildcard of AnyType inputs."""
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    if received == "*" or expected == "*":
        return True
    a = {t.strip() for t in received.split(",")}
    b = {t.strip() for t in expected.split(",")}
    return bool(a & b)


@dataclass
class ValidationResult:
    ok: bool
    error: dict[str, Any] | None
    good_outputs: list[str]
    node_errors: dict[str, Any] = field(default_factory=dict)


def _prompt_error(kind: str, message: str, details: str) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


class Validator:
    def __init__(self, catalogue: NodeCatalogue) -> None:
        self.catalogue = catalogue
        self._visiting: set[str] = set()

    def validate_prompt(self, prompt: Any, partial_targets: list[str] | None = None) -> ValidationResult:
        outputs: list[str] = []
        for node_id in prompt:
            node = prompt[node_id]
            if "class_type" not in node:
                return ValidationResult(
                    False,
                    _prompt_error(
                        "invalid_prompt",
                        "Cannot execute because a node is missing the class_type property.",
                        f"Node ID '#{node_id}'",
                    ),
                    [],
                )
            class_type = node["class_type"]
            if not self.catalogue.has(class_type):
                return ValidationResult(
                    False,
                    _prompt_error(
                        "invalid_prompt",
                        f"Cannot execute because node {class_type} does not exist.",
                        f"Node ID '#{node_id}'",
                    ),
                    [],
                )
            if self.catalogue.is_output(class_type) and (
                partial_targets is None or node_id in partial_targets
            ):
                if node_id not in outputs:
                    outputs.append(node_id)

        if not outputs:
            return ValidationResult(
                False, _prompt_error("prompt_no_outputs", "Prompt has no outputs", ""), []
            )

        good: list[str] = []
        failed: list[tuple[str, list[dict[str, Any]]]] = []
        node_errors: dict[str, Any] = {}
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]] = {}
        # ComfyUI walks the outputs in a Python set's order, which varies per process. Walking
        # them last-to-first reproduces the recorded answers (which consumer of a broken node
        # reports it, the order of dependent_outputs); any order is equally valid.
        for output in reversed(outputs):
            if len(prompt) > _DEEP_GRAPH:
                self._validate_upstream_first(prompt, output, validated)
            try:
                valid, reasons, _ = self._validate_inputs(prompt, output, validated)
            except _LinkFault as fault:
                valid = False
                reasons = [
                    {
                        "type": "exception_during_validation",
                        "message": "Exception when validating node",
                        "details": str(fault.original),
                        "extra_info": {
                            "exception_type": full_type_name(fault.original),
                            "traceback": [_TB_PROMPT, fault.frame],
                        },
                    }
                ]
                validated[output] = (False, reasons, output)
            if valid:
                good.append(output)
                continue
            failed.append((output, reasons))
            for node_id, (node_valid, node_reasons, _) in validated.items():
                if node_valid or not node_reasons:
                    continue
                entry = node_errors.get(node_id)
                if entry is None:
                    entry = {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    }
                    node_errors[node_id] = entry
                entry["dependent_outputs"].append(output)

        if not good:
            details = "\n".join(f"{r['message']}: {r['details']}" for _, rs in failed for r in rs)
            return ValidationResult(
                False,
                _prompt_error(
                    "prompt_outputs_failed_validation", "Prompt outputs failed validation", details
                ),
                [],
                node_errors,
            )
        return ValidationResult(True, None, [o for o in outputs if o in good], node_errors)

    def _validate_upstream_first(
        self,
        prompt: dict[str, Any],
        output: str,
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]],
    ) -> None:
        """Validate a big graph's upstream nodes deepest first, so the recursive check of the
        output never nests deeper than one level (a 500-node chain overflowed Python's stack)."""
        order: list[str] = []
        seen: set[str] = {output}
        stack: list[tuple[str, bool]] = [(output, False)]
        while stack:
            node_id, expanded = stack.pop()
            if expanded:
                order.append(node_id)
                continue
            stack.append((node_id, True))
            node = prompt.get(node_id)
            inputs = node.get("inputs") if isinstance(node, dict) else None
            if not isinstance(inputs, dict):
                continue
            for value in inputs.values():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    upstream = value[0]
                    if upstream not in seen and isinstance(prompt.get(upstream), dict):
                        seen.add(upstream)
                        stack.append((upstream, False))
        for node_id in order[:-1]:  # the output itself is validated by the caller
            if node_id in validated:
                continue
            try:
                self._validate_inputs(prompt, node_id, validated)
            except _LinkFault:
                pass  # the caller's own walk meets the same fault and reports it in place

    def _validate_inputs(
        self,
        prompt: dict[str, Any],
        unique_id: str,
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]],
    ) -> tuple[bool, list[dict[str, Any]], str]:
        if unique_id in validated:
            return validated[unique_id]
        if unique_id in self._visiting:
            # ComfyUI recurses until Python gives up; report it the way that surfaces.
            raise _LinkFault(RecursionError("maximum recursion depth exceeded"), _TB_VALIDATE)
        self._visiting.add(unique_id)
        try:
            return self._validate_node(prompt, unique_id, validated)
        finally:
            self._visiting.discard(unique_id)

    def _validate_node(
        self,
        prompt: dict[str, Any],
        unique_id: str,
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]],
    ) -> tuple[bool, list[dict[str, Any]], str]:
        try:
            inputs = prompt[unique_id]["inputs"]
        except (KeyError, TypeError, IndexError) as exc:
            raise _LinkFault(exc, _TB_OTHER) from exc
        class_type = prompt[unique_id]["class_type"]
        types = self.catalogue.input_types(class_type)
        names = list(types.get("required", {})) + [
            n for n in types.get("optional", {}) if n not in types.get("required", {})
        ]
        custom = _custom_validated_inputs(class_type)

        errors: list[dict[str, Any]] = []
        valid = True
        for name in names:
            info = self.catalogue.input_info(class_type, name)
            assert info is not None
            if name not in inputs:
                if info.category == "required":
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": f"{name}",
                            "extra_info": {"input_name": name},
                        }
                    )
                continue
            val = inputs[name]
            config = [info.type, info.extra]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(
                        {
                            "type": "bad_linked_input",
                            "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                            "details": f"{name}",
                            "extra_info": {"input_name": name, "input_config": config, "received_value": val},
                        }
                    )
                    continue
                o_id = val[0]
                try:
                    o_class_type = prompt[o_id]["class_type"]
                except (KeyError, TypeError) as exc:
                    raise _LinkFault(exc, _TB_LOOKUP) from exc
                try:
                    received = self.catalogue.return_types(o_class_type)[val[1]]
                except (IndexError, TypeError) as exc:
                    raise _LinkFault(exc, _TB_INDEX) from exc
                if not types_match(received, info.type):
                    errors.append(
                        {
                            "type": "return_type_mismatch",
                            "message": "Return type mismatch between linked nodes",
                            "details": f"{name}, received_type({received}) mismatch input_type({info.type})",
                            "extra_info": {
                                "input_name": name,
                                "input_config": config,
                                "received_type": received,
                                "linked_node": val,
                            },
                        }
                    )
                    continue
                try:
                    upstream = self._validate_inputs(prompt, o_id, validated)
                    if upstream[0] is False:
                        valid = False
                        continue
                except _LinkFault as fault:
                    valid = False
                    validated[o_id] = (
                        False,
                        [
                            {
                                "type": "exception_during_inner_validation",
                                "message": "Exception when validating inner node",
                                "details": str(fault.original),
                                "extra_info": {
                                    "input_name": name,
                                    "input_config": config,
                                    "exception_message": str(fault.original),
                                    "exception_type": full_type_name(fault.original),
                                    "traceback": [_TB_VALIDATE, fault.frame],
                                    "linked_node": val,
                                },
                            }
                        ],
                        o_id,
                    )
                    continue
                continue

            if isinstance(val, dict) and "__value__" in val:
                val = val["__value__"]
                inputs[name] = val
            try:
                if info.type == "INT":
                    val = int(val)
                elif info.type == "FLOAT":
                    val = float(val)
                elif info.type == "STRING":
                    val = str(val)
                elif info.type == "BOOLEAN":
                    val = bool(val)
                inputs[name] = val
            except Exception as exc:  # the same conversions and messages as Python's int()/float()
                errors.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {info.type} value",
                        "details": f"{name}, {val}, {exc}",
                        "extra_info": {
                            "input_name": name,
                            "input_config": config,
                            "received_value": val,
                            "exception_message": str(exc),
                        },
                    }
                )
                continue

            if name in custom:
                continue
            if "min" in info.extra and _lt(val, info.extra["min"]):
                errors.append(
                    {
                        "type": "value_smaller_than_min",
                        "message": f"Value {val} smaller than min of {info.extra['min']}",
                        "details": f"{name}",
                        "extra_info": {"input_name": name, "input_config": config, "received_value": val},
                    }
                )
                continue
            if "max" in info.extra and _lt(info.extra["max"], val):
                errors.append(
                    {
                        "type": "value_bigger_than_max",
                        "message": f"Value {val} bigger than max of {info.extra['max']}",
                        "details": f"{name}",
                        "extra_info": {"input_name": name, "input_config": config, "received_value": val},
                    }
                )
                continue
            if isinstance(info.type, list):
                options = info.type
                if not _in_list(val, options):
                    if len(options) > 20:
                        list_info = f"(list of length {len(options)})"
                        input_config: Any = None
                    else:
                        list_info = str(options)
                        input_config = config
                    errors.append(
                        {
                            "type": "value_not_in_list",
                            "message": "Value not in list",
                            "details": f"{name}: '{val}' not in {list_info}",
                            "extra_info": {
                                "input_name": name,
                                "input_config": input_config,
                                "received_value": val,
                            },
                        }
                    )
                    continue

        if custom:
            errors.extend(self._custom_validation(class_type, inputs))

        earlier = validated.get(unique_id)
        if earlier is not None and earlier[1] and not errors:
            # A cycle led back here and a nested frame already recorded why: keep that reason.
            return earlier
        result = (False, errors, unique_id) if errors or not valid else (True, [], unique_id)
        validated[unique_id] = result
        return result

    def _custom_validation(self, class_type: str, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        """VALIDATE_INPUTS of the few nodes that have one and that this server simulates."""
        if class_type in ("LoadImage", "LoadImageMask"):
            image = inputs.get("image")
            if isinstance(image, list):
                return []
            name = str(image)
            if name.endswith(" [input]"):
                name = name[: -len(" [input]")]
            path = self.catalogue.input_dir / name
            if "/" in name or ".." in name or not path.is_file():
                return [
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": f"image - Invalid image file: {image}",
                        "extra_info": {"input_name": "image"},
                    }
                ]
        return []


def _custom_validated_inputs(class_type: str) -> frozenset[str]:
    if class_type in ("LoadImage", "LoadImageMask"):
        return frozenset({"image"})
    return frozenset()


def _lt(a: Any, b: Any) -> bool:
    try:
        return bool(a < b)
    except TypeError:
        return False


def _in_list(val: Any, options: list[Any]) -> bool:
    try:
        return val in options
    except TypeError:
        return False
