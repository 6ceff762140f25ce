"""Reading a web-UI graph: node and slot fields type-checked, links parsed, graph levels placed.

Conversion reads only what these functions keep, so a damaged file yields an error or a dropped
node, never a crash deep in the converter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .group_nodes import parse_index

MODE_ALWAYS = 0
MODE_NEVER = 2  # "muted"
MODE_BYPASS = 4

# Node types that exist only in the web UI: never sent to the server, links are walked through them.
VIRTUAL_TYPES = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})
MAX_SUBGRAPH_DEPTH = 32
SUBGRAPH_INPUT_NODE = -10
SUBGRAPH_OUTPUT_NODE = -20

# Renames the frontend applies when it loads a workflow, before building nodes.
TYPE_RENAMES = {
    "T2IAdapterLoader": "ControlNetLoader",
    "ConditioningAverage ": "ConditioningAverage",
    "SDV_img2vid_Conditioning": "SVD_img2vid_Conditioning",
}


@dataclass
class UiGraph:
    """One graph level: the root, or one subgraph instance's definition placed at ``path``."""

    nodes: dict[str, dict[str, Any]]
    links: dict[str, tuple[str, int, str, int, Any]]  # id -> origin, origin_slot, target, target_slot, type
    path: tuple[str, ...] = ()
    parent: UiGraph | None = None
    instance: dict[str, Any] | None = None
    definition: dict[str, Any] | None = None
    promoted: dict[str, Any] = field(default_factory=dict)  # subgraph input name -> instance widget value

    def api_id(self, node_id: str) -> str:
        return ":".join((*self.path, node_id))


@dataclass
class Resolved:
    link: tuple[str, int] | None = None
    value: Any = None
    is_value: bool = False


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _ref(value: Any) -> str | None:
    """A node or link id: ints and strings only (a list or dict there is corruption)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return str(value)


def _clean_slot(raw: dict[str, Any]) -> dict[str, Any]:
    widget = raw.get("widget")
    widget_name = widget.get("name") if isinstance(widget, dict) else None
    label = raw.get("label")
    return {
        "name": str(raw.get("name", "")),
        "label": label if isinstance(label, str) else None,
        "type": raw.get("type") if isinstance(raw.get("type"), (str, int)) else None,
        "link": _ref(raw.get("link")),
        "links": [x for x in (_ref(v) for v in _list(raw.get("links"))) if x is not None],
        "linkIds": [x for x in (_ref(v) for v in _list(raw.get("linkIds"))) if x is not None],
        "widget": {"name": widget_name} if isinstance(widget_name, str) else None,
    }


def clean_node(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The fields conversion reads, with their types checked, so a damaged file cannot crash it."""
    node_id = _ref(raw.get("id"))
    if node_id is None or not isinstance(raw.get("type"), str):
        return None
    mode = raw.get("mode")
    values = raw.get("widgets_values")
    title = raw.get("title")
    props = raw.get("properties")
    return {
        "id": node_id,
        "type": TYPE_RENAMES.get(raw["type"], raw["type"]),
        "mode": mode if isinstance(mode, int) and not isinstance(mode, bool) else MODE_ALWAYS,
        "inputs": [_clean_slot(i) for i in _dicts(raw.get("inputs"))],
        "outputs": [_clean_slot(o) for o in _dicts(raw.get("outputs"))],
        "widgets_values": values if isinstance(values, (list, dict)) else None,
        "title": title if isinstance(title, str) else None,
        "properties": props if isinstance(props, dict) else {},
    }


def clean_graph(raw: dict[str, Any]) -> dict[str, Any]:
    nodes = [n for n in (clean_node(r) for r in _dicts(raw.get("nodes"))) if n is not None]
    graph = {"nodes": nodes, "links": raw.get("links")}
    if "inputs" in raw or "outputs" in raw:
        graph["inputs"] = [_clean_slot(i) for i in _dicts(raw.get("inputs"))]
        graph["outputs"] = [_clean_slot(o) for o in _dicts(raw.get("outputs"))]
    return graph


def parse_links(raw: Any) -> dict[str, tuple[str, int, str, int, Any]]:
    links: dict[str, tuple[str, int, str, int, Any]] = {}
    for item in _list(raw):
        if isinstance(item, list) and len(item) >= 5:
            link_id, origin, origin_slot, target, target_slot = item[:5]
            link_type = item[5] if len(item) > 5 else None
        elif isinstance(item, dict):
            link_id = item.get("id")
            origin, origin_slot = item.get("origin_id"), item.get("origin_slot")
            target, target_slot = item.get("target_id"), item.get("target_slot")
            link_type = item.get("type")
        else:
            continue
        key, origin_ref, target_ref = _ref(link_id), _ref(origin), _ref(target)
        origin_index, target_index = parse_index(origin_slot), parse_index(target_slot)
        if (
            key is None
            or origin_ref is None
            or target_ref is None
            or origin_index is None
            or target_index is None
        ):
            continue
        links[key] = (origin_ref, origin_index, target_ref, target_index, link_type)
    return links


def clean_subgraphs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The workflow's subgraph definitions (``definitions.subgraphs``) by id, cleaned."""
    definitions = workflow.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    return {str(sg["id"]): clean_graph(sg) for sg in _dicts(subgraphs) if isinstance(sg.get("id"), str)}
