"""Web-UI workflow (``workflow.json``) -> API prompt, as the official frontend 1.27.10 builds it.

The frontend is the reference: it is what users compare against when they press "Queue" in the
browser, so this reproduces its ``graphToPrompt`` output, quirks included (tests/fixtures/conversion
holds pairs of workflows and the prompts the frontend built from them; the rules observed there):

* widgets come from the node definition, in input order, with the hidden companions the frontend
  adds (``control_after_generate`` after seed-like inputs, ``upload`` after upload combos, ...);
  ``widgets_values`` fill them by position, so a definition that changed shifts later values;
* Reroute / PrimitiveNode / Note / MarkdownNote and subgraph instances are never emitted;
  links are walked through reroutes, subgraph boundaries and bypassed (mode 4) nodes;
* muted (mode 2) nodes are dropped and any input left pointing at a missing node is removed;
* subgraph inner nodes get path ids (``"19:7"``, ``"65:35:82"``), promoted widgets feed them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidWorkflowError
from .group_nodes import (
    GroupNodeDefinition,
    as_subgraph,
    build_group_definitions,
    group_name,
    modernize_type,
    parse_index,
)
from .object_info import SEED_INPUT_NAMES, InputSpec, ObjectInfo

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
# The frontend's bundled English names, used for ``_meta.title`` where /object_info has no display_name.
FRONTEND_ENGLISH_NAMES = {
    "ImageScaleToTotalPixels": "Scale Image to Total Pixels",
    "ImageBlur": "Image Blur",
}
# Widget input types implemented by frontend extensions rather than by the generic widgets.
CUSTOM_WIDGET_TYPES = frozenset({"AUDIO_RECORD", "LOAD_3D", "LOAD_3D_ANIMATION", "WEBCAM"})
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "file_upload")


def frontend_added_widget(class_type: str) -> str | None:
    """Display widgets extensions add to some nodes; they serialize as an empty string."""
    if class_type in ("SaveGLB", "Preview3D"):
        return "image"
    if class_type == "LoadAudio" or class_type.startswith("SaveAudio"):
        return "audioUI"
    if class_type == "PreviewAny":
        return "preview"
    return None


class MissingNodeType(BaseModel):
    """A node type the workflow uses and the server lacks, with the pack hints the file records."""

    model_config = ConfigDict(frozen=True)

    class_type: str
    node_ids: list[str] = Field(default_factory=list)
    cnr_id: str | None = None  # registry id of the node pack (properties.cnr_id)
    aux_id: str | None = None  # usually "github-user/repo" (properties.aux_id)
    version: str | None = None

    def describe(self) -> str:
        name = group_name(self.class_type)
        if name is not None:
            nodes = ", ".join(self.node_ids[:5])
            return (
                f"group node {name!r} (node {nodes}): its definition is missing from the file's "
                "extra.groupNodes; save the workflow again from the web UI that made it"
            )
        hint = self.cnr_id or self.aux_id
        where = f" (from node pack {hint}{' ' + self.version if self.version else ''})" if hint else ""
        nodes = ", ".join(self.node_ids[:5]) + (" ..." if len(self.node_ids) > 5 else "")
        return f"{self.class_type}{where}, used by node {nodes}"


class MissingNodeTypesError(InvalidWorkflowError):
    """The workflow needs node types the server does not have: install the packs or pick another server."""

    def __init__(self, missing: list[MissingNodeType], *, source: str | None = None) -> None:
        self.missing = missing
        lines = "\n".join(f"  - {m.describe()}" for m in missing)
        super().__init__(
            f"the server does not have {len(missing)} node type(s) this workflow uses:\n{lines}\n"
            "Install the missing custom nodes on the server (e.g. with ComfyUI-Manager) and reload the node list.",
            source=source,
        )


@dataclass
class _Widget:
    name: str
    emit: bool
    spec: InputSpec | None = None
    constant: Any = None  # frontend-added display widgets always serialize this


def _has_value_control(spec: InputSpec) -> bool:
    """The frontend adds a control_after_generate widget to INT widgets (explicitly, or named like a
    seed) and to COMBO widgets that ask for one; other widget types ignore the option."""
    explicit = spec.options.get("control_after_generate")
    if spec.type == "INT":
        return bool(explicit) if explicit is not None else spec.name in SEED_INPUT_NAMES
    return spec.type == "COMBO" and bool(explicit)


def expand_widgets(specs: list[InputSpec]) -> list[_Widget]:
    """The widgets a node built from these input specs has, hidden companions included, in order."""
    widgets: list[_Widget] = []
    for spec in specs:
        if not (spec.is_widget or spec.type in CUSTOM_WIDGET_TYPES):
            continue
        widgets.append(_Widget(spec.name, True, spec))
        if _has_value_control(spec):
            widgets.append(_Widget("control_after_generate", False))
            if spec.type == "COMBO":
                widgets.append(_Widget("control_filter_list", False))
        remote = spec.options.get("remote")
        if isinstance(remote, dict) and remote.get("refresh_button"):
            widgets.append(_Widget("control_after_refresh", False))
            widgets.append(_Widget("refresh", True))
        if any(spec.options.get(flag) for flag in UPLOAD_FLAGS):
            if spec.options.get("audio_upload"):
                widgets.append(_Widget("audioUI", True, constant=""))
            widgets.append(_Widget("upload", False))
    return widgets


@dataclass
class _Graph:
    """One graph level: the root, or one subgraph instance's definition placed at ``path``."""

    nodes: dict[str, dict[str, Any]]
    links: dict[str, tuple[str, int, str, int, Any]]  # id -> origin, origin_slot, target, target_slot, type
    path: tuple[str, ...] = ()
    parent: _Graph | None = None
    instance: dict[str, Any] | None = None
    definition: dict[str, Any] | None = None
    promoted: dict[str, Any] = field(default_factory=dict)  # subgraph input name -> instance widget value

    def api_id(self, node_id: str) -> str:
        return ":".join((*self.path, node_id))


@dataclass
class _Resolved:
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


def _clean_node(raw: dict[str, Any]) -> dict[str, Any] | None:
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


def _clean_graph(raw: dict[str, Any]) -> dict[str, Any]:
    nodes = [n for n in (_clean_node(r) for r in _dicts(raw.get("nodes"))) if n is not None]
    graph = {"nodes": nodes, "links": raw.get("links")}
    if "inputs" in raw or "outputs" in raw:
        graph["inputs"] = [_clean_slot(i) for i in _dicts(raw.get("inputs"))]
        graph["outputs"] = [_clean_slot(o) for o in _dicts(raw.get("outputs"))]
    return graph


def _parse_links(raw: Any) -> dict[str, tuple[str, int, str, int, Any]]:
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


def is_valid_connection(type_a: Any, type_b: Any) -> bool:
    """LiteGraph's type compatibility: wildcard/empty match all, comma lists match on any member."""
    a = "" if type_a in (None, "", "*", 0) else type_a
    b = "" if type_b in (None, "", "*", 0) else type_b
    if not a or not b or a == b:
        return True
    a_text, b_text = str(a).lower(), str(b).lower()
    if "," not in a_text and "," not in b_text:
        return a_text == b_text
    return any(is_valid_connection(x, y) for x in a_text.split(",") for y in b_text.split(","))


_COMMENT = re.compile(r"/\*[\s\S]*?\*/|//[^\n]*")


def process_dynamic_prompt(text: str, rng: random.Random) -> str:
    """The frontend's dynamic prompt pass: comments removed, ``{a|b}`` replaced by one random option."""
    text = _COMMENT.sub("", text)
    pos = 0

    def parse(in_braces: bool) -> list[str]:
        nonlocal pos
        options = [""]
        while pos < len(text):
            ch = text[pos]
            if ch == "\\" and pos + 1 < len(text):
                options[-1] += text[pos + 1]
                pos += 2
            elif ch == "{":
                pos += 1
                inner = parse(True)
                options[-1] += rng.choice(inner)
            elif ch == "}" and in_braces:
                pos += 1
                return options
            elif ch == "|" and in_braces:
                options.append("")
                pos += 1
            else:
                options[-1] += ch
                pos += 1
        return options

    return "".join(parse(False))


class _Converter:
    def __init__(
        self,
        workflow: dict[str, Any],
        object_info: ObjectInfo,
        rng: random.Random,
        *,
        skip_disabled_subgraphs: bool = False,
        correct_group_nodes: bool = False,
    ) -> None:
        self.object_info = object_info
        self.rng = rng
        self.skip_disabled_subgraphs = skip_disabled_subgraphs
        self.output: dict[str, dict[str, Any]] = {}
        self._widget_cache: dict[str, list[_Widget]] = {}
        definitions = workflow.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        self.subgraphs: dict[str, dict[str, Any]] = {
            str(sg["id"]): _clean_graph(sg) for sg in _dicts(subgraphs) if isinstance(sg.get("id"), str)
        }
        self._children: dict[tuple[str, ...], _Graph] = {}
        self.groups = build_group_definitions(workflow, object_info, _clean_node)
        root = _clean_graph(workflow)
        extra = workflow.get("extra")
        if isinstance(extra, dict) and isinstance(extra.get("groupNodes"), dict):
            for node in root["nodes"]:
                node["type"] = modernize_type(node["type"])
        if correct_group_nodes:
            self._groups_as_subgraphs(root)
        self.root = self._graph(root, (), None, None, None)

    # -- graph structure ---------------------------------------------------------------------

    def _graph(
        self,
        data: dict[str, Any],
        path: tuple[str, ...],
        parent: _Graph | None,
        instance: dict[str, Any] | None,
        definition: dict[str, Any] | None,
    ) -> _Graph:
        nodes = {node["id"]: node for node in data["nodes"]}
        graph = _Graph(
            nodes=nodes,
            links=_parse_links(data.get("links")),
            path=path,
            parent=parent,
            instance=instance,
            definition=definition,
        )
        if instance is not None and definition is not None:
            graph.promoted = self._promoted_values(graph, instance, definition)
        return graph

    def is_subgraph(self, node: dict[str, Any]) -> bool:
        return str(node.get("type")) in self.subgraphs

    def group_of(self, node: dict[str, Any]) -> GroupNodeDefinition | None:
        return self.groups.get(str(node.get("type")))

    def _groups_as_subgraphs(self, root: dict[str, Any]) -> None:
        """Each top-level group instance becomes a subgraph of its own (its widget values differ)."""
        for node in root["nodes"]:
            group = self.group_of(node)
            if group is None:
                continue
            group_values = self.group_widget_values(group, node)
            inner_values: dict[int, dict[str, Any]] = {}
            primitive_values: dict[int, Any] = {}
            for index, inner in enumerate(group.nodes):
                if str(inner["type"]) in self.object_info:
                    inner_values[index] = self.inner_widget_values(group, index, group_values)
            for entry in group.entries.values():
                if entry.primitive is not None and entry.name in group_values:
                    primitive_values[entry.primitive] = group_values[entry.name]
            key = f"{group.type}#instance-{node['id']}"
            self.subgraphs[key] = as_subgraph(group, node, inner_values, primitive_values)
            node["type"] = key
            node["widgets_values"] = None

    def child_graph(self, graph: _Graph, instance: dict[str, Any]) -> _Graph:
        path = (*graph.path, str(instance["id"]))
        child = self._children.get(path)
        if child is None:
            if len(path) > MAX_SUBGRAPH_DEPTH:
                raise InvalidWorkflowError(
                    f"subgraphs are nested more than {MAX_SUBGRAPH_DEPTH} levels deep (a subgraph that contains itself?)"
                )
            definition = self.subgraphs[str(instance["type"])]
            child = self._graph(definition, path, graph, instance, definition)
            self._children[path] = child
        return child

    def _promoted_values(
        self, graph: _Graph, instance: dict[str, Any], definition: dict[str, Any]
    ) -> dict[str, Any]:
        """Instance widgets: one per subgraph input wired to a widget input inside, valued by position."""
        values = instance.get("widgets_values")
        if not isinstance(values, list) or not values:
            return {}
        widget_inputs: list[str] = []
        for sg_input in definition["inputs"]:
            for link_id in sg_input["linkIds"]:
                link = graph.links.get(link_id)
                if link is None:
                    continue
                target = graph.nodes.get(link[2])
                inputs = self.node_inputs(target) if target else []
                if link[3] < len(inputs) and inputs[link[3]].get("widget"):
                    widget_inputs.append(sg_input["name"])
                    break
        return {name: values[i] for i, name in enumerate(widget_inputs) if i < len(values)}

    def instance_inputs(self, instance: dict[str, Any]) -> list[dict[str, Any]]:
        """An instance's input slots as the frontend rebuilds them from the definition, with saved links."""
        definition = self.subgraphs[str(instance["type"])]
        by_name = {i["name"]: i for i in instance["inputs"]}
        slots = []
        for sg_input in definition["inputs"]:
            entry = by_name.get(sg_input["name"], {})
            slots.append(
                {
                    "name": sg_input["name"],
                    "type": sg_input["type"],
                    "link": entry.get("link"),
                    "widget": entry.get("widget"),
                }
            )
        return slots

    def node_inputs(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        if self.is_subgraph(node):
            return self.instance_inputs(node)
        inputs: list[dict[str, Any]] = node["inputs"]
        return inputs

    def output_type(self, node: dict[str, Any], slot: int) -> Any:
        outputs = node["outputs"]
        if slot < len(outputs):
            return outputs[slot]["type"]
        if self.is_subgraph(node):
            sg_outputs = self.subgraphs[node["type"]]["outputs"]
            return sg_outputs[slot]["type"] if slot < len(sg_outputs) else None
        types = self.object_info.output_types(str(node.get("type")))
        return types[slot] if slot < len(types) else None

    # -- link resolution ---------------------------------------------------------------------

    def resolve_link(self, graph: _Graph, link_id: Any, want_type: Any, depth: int = 0) -> _Resolved | None:
        if depth > 500:
            raise InvalidWorkflowError("links form a loop through reroutes, bypassed nodes or subgraphs")
        if link_id is None:
            return None
        link = graph.links.get(str(link_id))
        if link is None:
            return None
        origin, origin_slot = link[0], link[1]
        if origin == str(SUBGRAPH_INPUT_NODE):
            return self.resolve_subgraph_input(graph, origin_slot, want_type, depth + 1)
        return self.resolve_output(graph, origin, origin_slot, want_type, depth + 1)

    def resolve_subgraph_input(
        self, graph: _Graph, index: int, want_type: Any, depth: int
    ) -> _Resolved | None:
        """A link from a subgraph's input node: continue outside, at what feeds the instance."""
        if graph.instance is None or graph.parent is None or graph.definition is None:
            return None
        sg_inputs = graph.definition["inputs"]
        if index >= len(sg_inputs):
            return None
        name = sg_inputs[index]["name"]
        slots = self.instance_inputs(graph.instance)
        slot = slots[index] if index < len(slots) else None
        if slot is not None and slot.get("link") is not None:
            return self.resolve_link(graph.parent, slot["link"], want_type, depth)
        if name in graph.promoted:
            return _Resolved(value=graph.promoted[name], is_value=True)
        return None

    def resolve_output(
        self, graph: _Graph, node_id: str, slot: int, want_type: Any, depth: int
    ) -> _Resolved | None:
        node = graph.nodes.get(node_id)
        if node is None:
            return None
        node_type = str(node.get("type"))
        mode = node.get("mode", MODE_ALWAYS)
        if node_type == "Reroute":
            inputs = self.node_inputs(node)
            return self.resolve_link(graph, inputs[0].get("link"), want_type, depth + 1) if inputs else None
        if node_type == "PrimitiveNode":
            values = node.get("widgets_values")
            if isinstance(values, list) and values:
                return _Resolved(value=values[0], is_value=True)
            return None
        group = self.group_of(node)
        if group is not None:
            return self.resolve_group_output(graph, node, group, slot, want_type, depth)
        if mode == MODE_BYPASS:
            return self.resolve_bypass(graph, node, slot, want_type, depth)
        if self.is_subgraph(node):
            child = self.child_graph(graph, node)
            definition = self.subgraphs[node_type]
            sg_outputs = definition["outputs"]
            if slot >= len(sg_outputs):
                return None
            for link_id in sg_outputs[slot]["linkIds"]:
                link = child.links.get(link_id)
                if link is not None and link[2] == str(SUBGRAPH_OUTPUT_NODE):
                    return self.resolve_link(child, link_id, want_type, depth + 1)
            return None
        return _Resolved(link=(graph.api_id(node_id), slot))

    def resolve_bypass(
        self, graph: _Graph, node: dict[str, Any], slot: int, want_type: Any, depth: int
    ) -> _Resolved | None:
        """Pass-through of a bypassed node: the input of the same slot if types fit, else by type."""
        inputs = self.node_inputs(node)
        out_type = self.output_type(node, slot)
        index = -1
        if (
            slot < len(inputs)
            and is_valid_connection(inputs[slot].get("type"), out_type)
            and is_valid_connection(inputs[slot].get("type"), want_type)
        ):
            index = slot
        else:
            index = next((i for i, inp in enumerate(inputs) if inp.get("type") == want_type), -1)
            if index < 0:
                index = next(
                    (i for i, inp in enumerate(inputs) if is_valid_connection(inp.get("type"), want_type)), -1
                )
        if index < 0:
            return None
        return self.resolve_link(graph, inputs[index].get("link"), want_type, depth + 1)

    # -- legacy group nodes ------------------------------------------------------------------

    def _check_group_level(self, graph: _Graph, node: dict[str, Any], group: GroupNodeDefinition) -> None:
        if graph.path:
            raise InvalidWorkflowError(
                f"group node {group.name!r} (node {graph.api_id(str(node['id']))}) is inside a subgraph; ComfyUI's "
                "web UI refuses to queue that too. Open the workflow in the web UI, right-click the group node "
                "and choose 'Convert to nodes', then save it again"
            )

    def group_widget_values(self, group: GroupNodeDefinition, instance: dict[str, Any]) -> dict[str, Any]:
        """The instance's widgets by group widget name, assigned from its ``widgets_values`` by position."""
        saved = instance.get("widgets_values")
        values: dict[str, Any] = {}
        for index, widget in enumerate(expand_widgets(group.widget_specs())):
            if widget.spec is None or widget.name != widget.spec.name:
                continue  # companions (control_after_generate, upload, ...) never reach inner nodes
            if isinstance(saved, list) and index < len(saved):
                values[widget.name] = saved[index]
            elif isinstance(saved, dict) and widget.name in saved:
                values[widget.name] = saved[widget.name]
            else:
                values[widget.name] = self.default_value(widget.spec)
        return values

    def emit_group(
        self, graph: _Graph, node_id: str, instance: dict[str, Any], group: GroupNodeDefinition
    ) -> None:
        """Inner nodes under ``"<instance>:<index>"``; like 1.27.10, the instance's own mode is ignored."""
        self._check_group_level(graph, instance, group)
        group_values = self.group_widget_values(group, instance)
        for index, inner in enumerate(group.nodes):
            inner_type = str(inner["type"])
            if inner_type in VIRTUAL_TYPES or inner_type not in self.object_info:
                continue
            if inner.get("mode", MODE_ALWAYS) in (MODE_NEVER, MODE_BYPASS):
                continue
            entry = self.build_group_child(graph, node_id, instance, group, index, group_values)
            self.output[f"{graph.api_id(node_id)}:{index}"] = entry

    def inner_widget_values(
        self, group: GroupNodeDefinition, index: int, group_values: dict[str, Any]
    ) -> dict[str, Any]:
        """An inner node's widgets: its own saved values, then the group's widgets copied onto the
        inner widgets they stand for, in registration order (a PrimitiveNode's onto its targets)."""
        inner = group.nodes[index]
        values = self.widget_values(inner, str(inner["type"]))
        for name, (source, input_name) in group.widget_sources.items():
            if name not in group_values:
                continue
            value = group_values[name]
            source_type = group.nodes[source]["type"]
            if source_type == "PrimitiveNode":
                for target, target_input in group.primitive_targets.get(source, []):
                    if target == index and target_input in values:
                        values[target_input] = value
                continue
            if source_type == "Reroute":
                for link in group.links_from.get(source, {}).get(0, []):
                    slots = inner["inputs"]
                    if (
                        link.target == index
                        and link.target_slot < len(slots)
                        and slots[link.target_slot]["widget"]
                    ):
                        widget_name = slots[link.target_slot]["widget"]["name"]
                        if widget_name in values:
                            values[widget_name] = value
            if source == index and input_name in values:
                values[input_name] = value
        return values

    def build_group_child(
        self,
        graph: _Graph,
        node_id: str,
        instance: dict[str, Any],
        group: GroupNodeDefinition,
        index: int,
        group_values: dict[str, Any],
    ) -> dict[str, Any]:
        inner = group.nodes[index]
        class_type = str(inner["type"])
        inputs = self.serialized_widgets(class_type, self.inner_widget_values(group, index, group_values))
        widget_names = {w.name for w in self.widgets(class_type)}
        for slot_index, slot in enumerate(inner["inputs"]):
            widget_ref = slot.get("widget")
            if widget_ref and widget_ref["name"] not in widget_names:
                continue
            origin = self.group_child_origin(graph, node_id, instance, group, index, slot_index)
            if origin is not None:
                inputs[str(slot.get("name"))] = [origin[0], origin[1]]
        return {"inputs": inputs, "class_type": class_type, "_meta": {"title": self.title(inner, class_type)}}

    def group_child_origin(
        self,
        graph: _Graph,
        node_id: str,
        instance: dict[str, Any],
        group: GroupNodeDefinition,
        index: int,
        slot: int,
    ) -> tuple[str, int] | None:
        """Where an inner input comes from, resolved only one step, as 1.27.10 does.

        From outside: the node wired to the group's input, whatever it is (a Reroute, PrimitiveNode,
        bypassed node or another group leaves an id that is not emitted, so the input is dropped).
        From inside: the inner origin, unless it is a PrimitiveNode (its value is in the widget).
        """
        outer_slot = group.input_map.get(index, {}).get(slot)
        if outer_slot is not None:
            outer_inputs = self.node_inputs(instance)
            if outer_slot >= len(outer_inputs):
                return None
            link = graph.links.get(str(outer_inputs[outer_slot].get("link")))
            if link is None or link[0] not in graph.nodes:
                return None
            return graph.api_id(link[0]), link[1]
        inner_link = group.links_to.get(index, {}).get(slot)
        if inner_link is None or inner_link.origin >= len(group.nodes):
            return None
        if group.nodes[inner_link.origin]["type"] == "PrimitiveNode":
            return None
        return f"{graph.api_id(node_id)}:{inner_link.origin}", inner_link.origin_slot

    def resolve_group_output(
        self,
        graph: _Graph,
        instance: dict[str, Any],
        group: GroupNodeDefinition,
        slot: int,
        want_type: Any,
        depth: int,
    ) -> _Resolved | None:
        """A link from a group node's output: its inner origin, taken as is (no bypass or mute is followed)."""
        self._check_group_level(graph, instance, group)
        if instance.get("mode", MODE_ALWAYS) == MODE_BYPASS:
            inputs = self.node_inputs(instance)
            for index in (slot, *range(len(inputs))):
                if index < len(inputs) and inputs[index].get("type") == want_type:
                    return self.resolve_link(
                        graph, inputs[index].get("link"), inputs[index].get("type"), depth + 1
                    )
            return None
        if slot >= len(group.output_map):
            return None
        index, origin_slot = group.output_map[slot]
        for _ in range(len(group.nodes) + 1):
            if group.nodes[index]["type"] != "Reroute":
                break
            inner_link = group.links_to.get(index, {}).get(0)
            if (
                group.input_map.get(index, {}).get(0) is not None
                or inner_link is None
                or inner_link.origin >= len(group.nodes)
                or group.nodes[inner_link.origin]["type"] == "PrimitiveNode"
            ):
                raise InvalidWorkflowError(
                    f"group node {group.name!r}: output {slot} comes from a Reroute with nothing inside the group "
                    "feeding it; ComfyUI's web UI cannot queue this either. Convert the group node to nodes in "
                    "the web UI (right-click, 'Convert to nodes') and save the workflow again"
                )
            index, origin_slot = inner_link.origin, inner_link.origin_slot
        return _Resolved(link=(f"{graph.api_id(str(instance['id']))}:{index}", origin_slot))

    # -- widgets -----------------------------------------------------------------------------

    def widgets(self, class_type: str) -> list[_Widget]:
        cached = self._widget_cache.get(class_type)
        if cached is not None:
            return cached
        widgets = expand_widgets(self.object_info.input_specs(class_type))
        added = frontend_added_widget(class_type)
        if added and not any(w.name == added for w in widgets):
            widgets.append(_Widget(added, True, constant=""))
        self._widget_cache[class_type] = widgets
        return widgets

    @staticmethod
    def default_value(spec: InputSpec | None) -> Any:
        if spec is None:
            return None
        if "default" in spec.options:
            return spec.options["default"]
        if spec.type == "COMBO":
            return spec.choices[0] if spec.choices else None
        if spec.type in ("INT", "FLOAT"):
            return spec.options.get("min", 0)
        if spec.type == "STRING":
            return ""
        if spec.type == "BOOLEAN":
            return False
        return None

    def widget_values(self, node: dict[str, Any], class_type: str) -> dict[str, Any]:
        """Widget name -> value after the frontend's positional assignment of ``widgets_values``."""
        widgets = self.widgets(class_type)
        saved = node.get("widgets_values")
        values: dict[str, Any] = {}
        for index, widget in enumerate(widgets):
            if widget.constant is not None:
                value = widget.constant
            elif isinstance(saved, list) and index < len(saved):
                value = saved[index]
            elif isinstance(saved, dict) and widget.name in saved:
                value = saved[widget.name]
            else:
                value = self.default_value(widget.spec)
            values[widget.name] = value
        if class_type in ("KSampler", "KSamplerAdvanced"):
            sampler = values.get("sampler_name")
            if isinstance(sampler, str) and sampler.startswith("sample_"):
                values["sampler_name"] = sampler[len("sample_") :]
        return values

    # -- emission ----------------------------------------------------------------------------

    def title(self, node: dict[str, Any], class_type: str) -> str:
        title = node.get("title")
        if isinstance(title, str) and title:
            return title
        return (
            self.object_info.display_name(class_type) or FRONTEND_ENGLISH_NAMES.get(class_type) or class_type
        )

    def emit_graph(self, graph: _Graph) -> None:
        for node_id, node in graph.nodes.items():
            node_type = str(node.get("type"))
            if self.is_subgraph(node):
                # 1.27.10 expands every instance, bypassed or muted ones included (its defect, reproduced
                # by default); skip_disabled_subgraphs gives what bypass/mute mean instead.
                if self.skip_disabled_subgraphs and node.get("mode") in (MODE_NEVER, MODE_BYPASS):
                    continue
                self.emit_graph(self.child_graph(graph, node))
                continue
            group = self.group_of(node)
            if group is not None:
                self.emit_group(graph, node_id, node, group)
                continue
            if node_type in VIRTUAL_TYPES or node_type not in self.object_info:
                continue
            if node.get("mode", MODE_ALWAYS) in (MODE_NEVER, MODE_BYPASS):
                continue
            self.output[graph.api_id(node_id)] = self.build_node(graph, node, node_type)

    def serialized_widgets(self, class_type: str, values: dict[str, Any]) -> dict[str, Any]:
        """The prompt inputs a node's widgets give: serializable ones only, dynamic prompts applied."""
        emit = {w.name for w in self.widgets(class_type) if w.emit}
        specs = {s.name: s for s in self.object_info.input_specs(class_type)}
        inputs: dict[str, Any] = {}
        for name, value in values.items():
            if name not in emit:
                continue
            spec = specs.get(name)
            if spec is not None and spec.dynamic_prompts and isinstance(value, str):
                value = process_dynamic_prompt(value, self.rng)
            inputs[name] = {"__value__": value} if isinstance(value, list) else value
        return inputs

    def build_node(self, graph: _Graph, node: dict[str, Any], class_type: str) -> dict[str, Any]:
        widgets = self.widgets(class_type)
        specs = {s.name: s for s in self.object_info.input_specs(class_type)}
        inputs = self.serialized_widgets(class_type, self.widget_values(node, class_type))
        widget_names = {w.name for w in widgets}
        for slot in self.node_inputs(node):
            name = str(slot.get("name"))
            widget_ref = slot.get("widget")
            if widget_ref and widget_ref["name"] not in widget_names:
                continue  # a converted widget this definition no longer has: the frontend drops the slot
            if slot.get("link") is None:
                continue
            resolved = self.resolve_link(graph, slot.get("link"), slot.get("type"))
            if resolved is None and widget_ref:
                resolved = self.unpromoted_value(graph, node, class_type, slot)
            if resolved is None:
                continue
            if resolved.is_value:
                value = resolved.value
                spec = specs.get(name)
                if spec is not None and spec.dynamic_prompts and isinstance(value, str):
                    # The value lands on the target widget, which serializes it like its own.
                    value = process_dynamic_prompt(value, self.rng)
                inputs[name] = {"__value__": value} if isinstance(value, list) else value
            elif resolved.link is not None:
                inputs[name] = [resolved.link[0], resolved.link[1]]
        return {"inputs": inputs, "class_type": class_type, "_meta": {"title": self.title(node, class_type)}}

    def unpromoted_value(
        self, graph: _Graph, node: dict[str, Any], class_type: str, slot: dict[str, Any]
    ) -> _Resolved | None:
        """Value 1.27.10 gives a widget input fed by an unlinked, unvalued promoted widget.

        Observed (pairs/image_ovis_text_to_image, consistent with all 110 such inputs in the corpus):
        the k-th linked widget input of the inner node takes the k-th prompt-serialized entry of the
        node's own ``widgets_values`` (control_after_generate entries skipped), not its own widget's value.
        Usually the two coincide; when a seed precedes them they shift, and the frontend emits the shift.
        """
        link = graph.links.get(str(slot.get("link")))
        if link is None or link[0] != str(SUBGRAPH_INPUT_NODE) or graph.instance is None:
            return None
        if graph.instance.get("widgets_values") or graph.definition is None:
            return None
        slots = self.instance_inputs(graph.instance)
        if link[1] < len(slots) and slots[link[1]].get("link") is not None:
            return None  # fed from outside: the outer link decides, not the promoted widget
        saved = node.get("widgets_values")
        if not isinstance(saved, list):
            return None
        widget_slots = [s for s in self.node_inputs(node) if s.get("widget")]
        k = next((i for i, s in enumerate(widget_slots) if s is slot), None)
        if k is None:
            return None
        widgets = self.widgets(class_type)
        serial = [v for w, v in zip(widgets, saved, strict=False) if w.emit]
        if k < len(serial):
            return _Resolved(value=serial[k], is_value=True)
        return None

    def run(self) -> dict[str, dict[str, Any]]:
        self.emit_graph(self.root)
        # Muted nodes had no pass-through: inputs that point at a node not emitted are dropped.
        for entry in self.output.values():
            inputs = entry["inputs"]
            for name in [
                n
                for n, v in inputs.items()
                if isinstance(v, list) and len(v) == 2 and v[0] not in self.output
            ]:
                del inputs[name]
        return self.output

    # -- checks ------------------------------------------------------------------------------

    def iter_nodes(self, graph: _Graph | None = None) -> Iterator[tuple[_Graph, str, dict[str, Any]]]:
        graph = graph or self.root
        for node_id, node in graph.nodes.items():
            yield graph, node_id, node
            if self.is_subgraph(node):
                yield from self.iter_nodes(self.child_graph(graph, node))

    def _sent_nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(prompt id, node) of every node that would be sent, group nodes' inner nodes included."""
        for graph, node_id, node in self.iter_nodes():
            group = self.group_of(node)
            if group is None:
                yield graph.api_id(node_id), node
                continue
            for index, inner in enumerate(group.nodes):
                yield f"{graph.api_id(node_id)}:{index}", inner

    def missing_types(self) -> list[MissingNodeType]:
        found: dict[str, dict[str, Any]] = {}
        for api_id, node in self._sent_nodes():
            node_type = str(node.get("type"))
            if node_type in VIRTUAL_TYPES or self.is_subgraph(node) or node_type in self.object_info:
                continue
            if node.get("mode", MODE_ALWAYS) in (MODE_NEVER, MODE_BYPASS):
                continue  # never sent to the server
            raw_props = node.get("properties")
            props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
            entry = found.setdefault(node_type, {"ids": [], "cnr_id": None, "aux_id": None, "ver": None})
            entry["ids"].append(api_id)
            for key in ("cnr_id", "aux_id", "ver"):
                if entry[key] is None and isinstance(props.get(key), str) and props[key]:
                    entry[key] = props[key]
        return [
            MissingNodeType(
                class_type=t, node_ids=e["ids"], cnr_id=e["cnr_id"], aux_id=e["aux_id"], version=e["ver"]
            )
            for t, e in sorted(found.items())
        ]


def _check_ui(workflow: Any) -> None:
    if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
        raise InvalidWorkflowError("not a UI workflow: expected a JSON object with a nodes list")


def find_missing_node_types(workflow: dict[str, Any], object_info: ObjectInfo) -> list[MissingNodeType]:
    """Node types the workflow would send that the server lacks (bypassed/muted nodes are not sent)."""
    _check_ui(workflow)
    return _Converter(workflow, object_info, random.Random(0)).missing_types()


def convert_ui_to_api(
    workflow: dict[str, Any],
    object_info: ObjectInfo,
    *,
    allow_missing: bool = False,
    skip_disabled_subgraphs: bool = False,
    correct_frontend_defects: bool = False,
    rng: random.Random | None = None,
    source: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The API prompt the web UI would queue for this workflow.

    Raises MissingNodeTypesError (unless ``allow_missing``: those nodes are then left out) and
    InvalidWorkflowError for anything that is not a UI workflow. ``rng`` drives ``{a|b}``
    dynamic-prompt choices (random by default, like the browser).

    ``skip_disabled_subgraphs`` corrects frontend 1.27.10, which still emits (and so runs) the
    inner nodes of a bypassed or muted subgraph instance; consumers get the same pass-through.
    ``correct_frontend_defects`` does that and also converts legacy group nodes by what they mean
    (as subgraphs) instead of by 1.27.10's defective rules (see group_nodes).
    """
    _check_ui(workflow)
    converter = _Converter(
        workflow,
        object_info,
        rng or random.Random(),
        skip_disabled_subgraphs=skip_disabled_subgraphs or correct_frontend_defects,
        correct_group_nodes=correct_frontend_defects,
    )
    missing = converter.missing_types()
    if missing and not allow_missing:
        raise MissingNodeTypesError(missing, source=source)
    try:
        return converter.run()
    except RecursionError:
        raise InvalidWorkflowError(
            "subgraphs are nested too deeply or contain themselves", source=source
        ) from None


class _FirstChoice(random.Random):
    """Dynamic prompts resolved the same way in both conversions being compared."""

    def choice(self, seq: Any) -> Any:
        return seq[0]


def frontend_defects(workflow: dict[str, Any], object_info: ObjectInfo) -> list[str]:
    """What the web UI's conversion gets wrong for this workflow, one line each (empty: nothing).

    Compares the exact (browser) conversion with the corrected one, so a user can see why a
    legacy group node or a disabled subgraph runs differently than it looks, before running it.
    """
    if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
        return []
    exact = convert_ui_to_api(workflow, object_info, allow_missing=True, rng=_FirstChoice())
    fixed = convert_ui_to_api(
        workflow, object_info, allow_missing=True, rng=_FirstChoice(), correct_frontend_defects=True
    )
    lines: list[str] = []

    def label(node_id: str, entry: dict[str, Any]) -> str:
        return f"node {node_id} ({entry.get('_meta', {}).get('title') or entry.get('class_type')})"

    def show(value: Any) -> str:
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            return f"output {value[1]} of node {value[0]}"
        return repr(value)

    for node_id in sorted(set(exact) - set(fixed)):
        lines.append(
            f"{label(node_id, exact[node_id])}: the web UI runs it although its group node or subgraph "
            "is bypassed or muted"
        )
    for node_id in sorted(set(fixed) - set(exact)):
        lines.append(f"{label(node_id, fixed[node_id])}: the web UI leaves it out")
    for node_id in sorted(set(exact) & set(fixed)):
        got, meant = exact[node_id]["inputs"], fixed[node_id]["inputs"]
        for name in sorted(set(got) | set(meant)):
            if got.get(name) == meant.get(name):
                continue
            if name not in got:
                lines.append(
                    f"{label(node_id, exact[node_id])}: the web UI leaves input {name!r} unconnected "
                    f"(meant: {show(meant[name])})"
                )
            elif name not in meant:
                lines.append(
                    f"{label(node_id, exact[node_id])}: the web UI sets input {name!r} to {show(got[name])}, "
                    "which is not wired to it"
                )
            else:
                lines.append(
                    f"{label(node_id, exact[node_id])}: the web UI sets input {name!r} to {show(got[name])} "
                    f"instead of {show(meant[name])}"
                )
    return lines
