"""Editing the values of an API prompt: one code path for the TUI form and the CLI's ``--set``.

Values arrive as text (a form field, ``--set 3.seed=42``); each is checked against the node's
input spec from /object_info so the user hears the server's reason before anything is queued.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import InvalidWorkflowError
from .graph import is_link
from .object_info import InputSpec, ObjectInfo

SEED_MAX = 0xFFFFFFFFFFFFFFFF
_CANNOT_APPLY = "cannot apply the values:\n  "


class EditableInput(BaseModel):
    """One value a user may change: a widget input that is not fed by a link."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # built when a form opens, not on import

    node_id: str
    class_type: str
    title: str
    name: str
    spec: InputSpec
    value: Any

    @property
    def key(self) -> str:
        """The ``--set`` / apply_overrides key: ``<node id>.<input name>``."""
        return f"{self.node_id}.{self.name}"


def _node_sort_key(node_id: str) -> tuple[Any, ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in node_id.replace(".", ":").split(":"))


def node_title(node: Mapping[str, Any], object_info: ObjectInfo | None = None) -> str:
    meta = node.get("_meta")
    if isinstance(meta, Mapping) and isinstance(meta.get("title"), str) and meta["title"]:
        return str(meta["title"])
    class_type = str(node.get("class_type", "?"))
    return (object_info.display_name(class_type) if object_info else None) or class_type


def editable_inputs(prompt: Mapping[str, Any], object_info: ObjectInfo) -> list[EditableInput]:
    """Every widget input of known node types, in node id order, linked inputs skipped."""
    found: list[EditableInput] = []
    for node_id in sorted((str(k) for k in prompt), key=_node_sort_key):
        node = prompt[node_id]
        if not isinstance(node, Mapping):
            continue
        class_type = str(node.get("class_type"))
        if class_type not in object_info:
            continue
        raw_inputs = node.get("inputs")
        inputs: Mapping[str, Any] = raw_inputs if isinstance(raw_inputs, Mapping) else {}
        title = node_title(node, object_info)
        for spec in object_info.input_specs(class_type):
            if not spec.is_widget:
                continue
            value = inputs.get(spec.name, spec.default)
            if is_link(value):
                continue
            if isinstance(value, Mapping) and "__value__" in value:
                value = value["__value__"]
            found.append(
                EditableInput(
                    node_id=node_id,
                    class_type=class_type,
                    title=title,
                    name=spec.name,
                    spec=spec,
                    value=value,
                )
            )
    return found


def _split_key(key: str, prompt: Mapping[str, Any]) -> tuple[str, str]:
    """``"19:7.seed"`` -> (``"19:7"``, ``"seed"``); the longest prefix that is a node id wins (ids may hold dots)."""
    key = key.strip()
    positions = [i for i, ch in enumerate(key) if ch == "."]
    for pos in reversed(positions):
        node_id, name = key[:pos], key[pos + 1 :]
        if node_id in prompt and name:
            return node_id, name
    if not positions:
        raise InvalidWorkflowError(f"{key!r}: expected NODE.INPUT, e.g. 3.seed")
    node_id = key[: positions[0]]
    valid = ", ".join(f"{k} ({prompt[k].get('class_type', '?')})" for k in sorted(prompt, key=_node_sort_key))
    raise InvalidWorkflowError(f"{key!r}: there is no node {node_id!r} in this workflow; nodes are: {valid}")


def _coerce_like(current: Any, value: Any) -> Any:
    """Without a spec, keep the type the prompt already has (text from a command line otherwise)."""
    if not isinstance(value, str) or isinstance(current, str) or current is None:
        return value
    if isinstance(current, bool):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if isinstance(current, int):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
    if isinstance(current, float):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    return value


def absent_reason(prompt: Mapping[str, Any], key: str, object_info: ObjectInfo | None = None) -> str | None:
    """Why ``key`` (``3.seed``) names nothing to set in this prompt: no such node, or no such input on it."""
    try:
        node_id, name = _split_key(str(key), prompt)
    except InvalidWorkflowError as exc:
        return str(exc)
    node = prompt[node_id]
    raw_inputs = node.get("inputs") if isinstance(node, Mapping) else None
    inputs: Mapping[str, Any] = raw_inputs if isinstance(raw_inputs, Mapping) else {}
    class_type = str(node.get("class_type")) if isinstance(node, Mapping) else "?"
    if object_info is not None and class_type in object_info:
        if object_info.input_spec(class_type, name) is not None:
            return None
        names = [s.name for s in object_info.input_specs(class_type) if s.is_widget]
        return f"{key}: {class_type} has no input {name!r}; settable inputs are: {', '.join(names) or 'none'}"
    if name in inputs:
        return None
    names = [n for n, v in inputs.items() if not is_link(v)]
    return f"{key}: node {node_id} ({class_type}) has no input {name!r}; inputs are: {', '.join(names) or 'none'}"


def apply_overrides_to_each(
    prompts: Sequence[tuple[str, Mapping[str, Any]]],
    overrides: Mapping[str, Any],
    object_info: ObjectInfo | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """``--set`` over several workflows ``(name, prompt)``: each value goes where its node and input exist.

    Returns the new prompts and one note per value that some workflows lack. A value that applies to
    no workflow, or is refused where it applies, raises InvalidWorkflowError naming the workflow.
    """
    edited: list[dict[str, Any]] = []
    problems: list[str] = []
    absent: dict[str, dict[str, str]] = {str(key): {} for key in overrides}
    for name, prompt in prompts:
        here: dict[str, Any] = {}
        for key in overrides:
            reason = absent_reason(prompt, str(key), object_info)
            if reason is None:
                here[str(key)] = overrides[key]
            else:
                absent[str(key)][name] = reason
        try:
            edited.append(apply_overrides(prompt, here, object_info))
        except InvalidWorkflowError as exc:
            refused = str(exc).removeprefix(_CANNOT_APPLY).split("\n  ")
            problems.extend(f"{name}: {line}" if len(prompts) > 1 else line for line in refused)
            edited.append(dict(prompt))
    notes: list[str] = []
    for key, where in absent.items():
        if len(where) == len(prompts):
            problems.extend(
                f"{name}: {reason}" if len(prompts) > 1 else reason for name, reason in where.items()
            )
        elif where:
            notes.append(f"--set {key} applies only where the node has it; not set in: {', '.join(where)}")
    if problems:
        raise InvalidWorkflowError(_CANNOT_APPLY + "\n  ".join(problems))
    return edited, notes


def _without_name(reason: str, name: str) -> str:
    """``steps: expected an integer`` -> ``expected an integer``: the key already names the input."""
    return reason.removeprefix(f"{name}: ")


def apply_overrides(
    prompt: Mapping[str, Any],
    overrides: Mapping[str, Any],
    object_info: ObjectInfo | None = None,
) -> dict[str, Any]:
    """A copy of ``prompt`` with ``{"3.seed": "42", "6.text": "a cat"}`` applied; the input is unchanged.

    Unknown nodes or inputs, linked inputs and invalid values raise InvalidWorkflowError naming the
    valid choices or the spec's reason. ``"random"`` is accepted for seed-like inputs.
    """
    result: dict[str, Any] = copy.deepcopy(dict(prompt))
    problems: list[str] = []
    for key, raw in overrides.items():
        reason = absent_reason(result, str(key), object_info)
        if reason is not None:
            problems.append(reason)
            continue
        node_id, name = _split_key(str(key), result)
        node = result[node_id]
        inputs = node.setdefault("inputs", {})
        class_type = str(node.get("class_type"))
        current = inputs.get(name)
        if is_link(current):
            problems.append(
                f"{key}: this input is connected to node {current[0]} (output {current[1]}); "
                "it has no value of its own to set"
            )
            continue
        spec = object_info.input_spec(class_type, name) if object_info and class_type in object_info else None
        if spec is not None and not spec.is_widget:
            problems.append(f"{key}: {name} takes a {spec.type} link from another node, not a value")
            continue
        try:
            if (
                spec is not None
                and spec.seed_like
                and isinstance(raw, str)
                and raw.strip().lower() == "random"
            ):
                upper = int(spec.max) if spec.max is not None else SEED_MAX
                value: Any = random.randint(int(spec.min or 0), min(upper, SEED_MAX))
            elif spec is not None:
                value = spec.validate(raw)
            else:
                value = _coerce_like(current, raw)
        except ValueError as exc:
            reason = _without_name(str(exc), name)
            hint = f" (expected {spec.describe()})" if spec is not None and spec.type != "COMBO" else ""
            problems.append(f"{key}: {reason}{hint}")
            continue
        inputs[name] = {"__value__": value} if isinstance(value, list) else value
    if problems:
        raise InvalidWorkflowError(_CANNOT_APPLY + "\n  ".join(problems))
    return result
