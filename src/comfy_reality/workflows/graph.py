"""Small graph helpers over API prompts, shared by the library scan and local validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def is_link(value: Any) -> bool:
    """An API input that points at another node: ``[node_id, output_index]``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def iter_links(prompt: dict[str, Any]) -> Iterator[tuple[str, str, str, int]]:
    """(node_id, input_name, source_id, source_slot) for every link of the prompt."""
    for node_id, node in prompt.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for name, value in inputs.items():
            if is_link(value):
                yield str(node_id), str(name), str(value[0]), value[1]


def find_cycle(prompt: dict[str, Any]) -> list[str] | None:
    """One dependency cycle as a node id path (first id repeated at the end), or None.

    Iterative DFS: a prompt with thousands of chained nodes must not hit the recursion limit.
    """
    deps: dict[str, list[str]] = {str(k): [] for k in prompt}
    for node_id, _name, source, _slot in iter_links(prompt):
        if source in deps:
            deps[node_id].append(source)
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(deps, white)
    for start in deps:
        if color[start] != white:
            continue
        path: list[str] = [start]
        iters = [iter(deps[start])]
        color[start] = grey
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                color[path.pop()] = black
                iters.pop()
                continue
            if color[nxt] == grey:
                return [*path[path.index(nxt) :], nxt]
            if color[nxt] == white:
                color[nxt] = grey
                path.append(nxt)
                iters.append(iter(deps[nxt]))
    return None
