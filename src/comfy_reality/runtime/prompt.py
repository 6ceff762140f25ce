"""The API-format prompt as the engine needs it: checked before it is sent, and read as a graph."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidWorkflowError


@functools.lru_cache(maxsize=4096)
def natural_key(node_id: str) -> tuple[tuple[int, int, str], ...]:
    """ "2" < "10" < "10:3" < "a": numbers as numbers, never comparing a number with text.

    Remembered per id: every prompt of a batch (and every tree the app draws) sorts the same ids."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", node_id) if p)


def input_links(inputs: Any) -> Iterable[str]:
    """The node ids an input dict takes values from (``[source_id, output_index]`` pairs)."""
    if not isinstance(inputs, dict):
        return
    for value in inputs.values():
        if (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], str)
            and isinstance(value[1], int)
        ):
            yield value[0]


def check_prompt(prompt: Any) -> dict[str, Any]:
    """Refuse anything that is not an API-format prompt, with a message saying what to do."""
    return checked_prompt(prompt)[0]


def checked_prompt(prompt: Any) -> tuple[dict[str, Any], str]:
    """:func:`check_prompt`, plus the prompt as the JSON text it was checked with: the POST body
    embeds that text, so a prompt is encoded once per submission, not twice."""
    if not isinstance(prompt, dict) or not prompt:
        raise InvalidWorkflowError(
            "The prompt must be a non-empty JSON object of nodes ({node_id: {class_type, inputs}}); "
            f"got {type(prompt).__name__}."
        )
    if "nodes" in prompt and "links" in prompt:
        raise InvalidWorkflowError(
            "This is a UI-format workflow (as saved by the ComfyUI editor), not an API-format prompt. "
            "Convert it first with comfy_reality.workflows.load_prompt() (the CLI and TUI do this "
            "automatically), or export it from ComfyUI with 'Export (API)'."
        )
    if set(prompt) == {"prompt"} or ("prompt" in prompt and isinstance(prompt.get("prompt"), dict)):
        raise InvalidWorkflowError(
            "This looks like a POST /prompt body ({'prompt': {...}}); pass the inner prompt object instead."
        )
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise InvalidWorkflowError(
                f"Node {node_id!r} has no class_type: every node of an API-format prompt needs "
                "'class_type' and 'inputs'."
            )
        if "inputs" in node and not isinstance(node["inputs"], dict):
            raise InvalidWorkflowError(
                f"Node {node_id!r} ({node['class_type']}): 'inputs' must be an object."
            )
    try:
        # NaN/Infinity are not JSON: the server would refuse them.
        encoded = json.dumps(prompt, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidWorkflowError(f"The prompt cannot be sent as JSON: {exc}.") from exc
    return {str(k): v for k, v in prompt.items()}, encoded
