"""Partial execution: which output nodes of an API prompt to run (``run --only``, the app's
"run selected outputs").

ComfyUI takes ``partial_execution_targets`` on POST /prompt (since 0.3.48): a flat list of
output-node ids; only those outputs, and the nodes they need, run. Non-output ids are ignored
there in silence, so they are refused here, with the output nodes named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidWorkflowError
from .object_info import ObjectInfo


def node_title(node: Any) -> str | None:
    meta = node.get("_meta") if isinstance(node, Mapping) else None
    title = meta.get("title") if isinstance(meta, Mapping) else None
    return title if isinstance(title, str) and title.strip() else None


def output_nodes(prompt: Mapping[str, Any], object_info: ObjectInfo) -> list[str]:
    """Ids of the prompt's output nodes (``output_node`` in /object_info), in prompt order."""
    return [
        node_id
        for node_id, node in prompt.items()
        if isinstance(node, Mapping)
        and isinstance(node.get("class_type"), str)
        and object_info.is_output_node(node["class_type"])
    ]


def _describe(prompt: Mapping[str, Any], node_id: str) -> str:
    node = prompt[node_id]
    title = node_title(node)
    class_type = node.get("class_type", "?") if isinstance(node, Mapping) else "?"
    return f"{node_id} ({title or class_type}{f', {class_type}' if title and title != class_type else ''})"


def resolve_output_targets(
    prompt: Mapping[str, Any], object_info: ObjectInfo, selectors: Iterable[str]
) -> list[str]:
    """Map ids or titles (``_meta.title``, case-insensitive) onto output-node ids, in the order given.

    Raises InvalidWorkflowError naming the output nodes when a selector matches no node, matches
    several titles, or names a node that is not an output node.
    """
    outputs = output_nodes(prompt, object_info)
    available = ", ".join(_describe(prompt, n) for n in outputs) or "none"
    targets: list[str] = []
    for raw in selectors:
        selector = raw.strip()
        if selector in prompt:
            matches = [selector]
        else:
            wanted = selector.casefold()
            matches = [n for n in prompt if (node_title(prompt[n]) or "").strip().casefold() == wanted]
        if not matches:
            raise InvalidWorkflowError(
                f"--only {raw!r}: no node has that id or title. Output nodes: {available}."
            )
        if len(matches) > 1:
            raise InvalidWorkflowError(
                f"--only {raw!r}: {len(matches)} nodes have that title ({', '.join(matches)}); "
                f"use the id. Output nodes: {available}."
            )
        node_id = matches[0]
        if node_id not in outputs:
            raise InvalidWorkflowError(
                f"--only {raw!r}: node {_describe(prompt, node_id)} is not an output node. "
                f"Output nodes: {available}."
            )
        if node_id not in targets:
            targets.append(node_id)
    if not targets:
        raise InvalidWorkflowError(f"--only needs at least one output node. Output nodes: {available}.")
    return targets
