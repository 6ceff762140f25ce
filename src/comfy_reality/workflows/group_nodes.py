"""Legacy group nodes (``extra.groupNodes``; node type ``workflow>Name``) as frontend 1.27.10 reads them.

Before subgraphs, the web UI could fold several nodes into one "group node" whose definition is
stored in the workflow. The frontend still loads them: it registers a node type per definition,
lays out its inputs and widgets from the inner nodes, and queues the inner nodes with ids
``"<instance id>:<inner index>"``. This module rebuilds that registration (which inner slot feeds
from which group input, which group widget sets which inner widget, which inner output each group
output is) so conversion can emit exactly what the browser would. The rules were checked against
the frontend itself (tests/fixtures/group_nodes), including its defects:

* converted widget inputs are ordered by their slot index *as text* ("10" before "4"), and
  mapped back to inner slots by that order, so nodes with ten or more inputs mix them up;
* a widget fed by an inner PrimitiveNode comes before the deferred converted widgets, yet group
  inputs are numbered without it, which shifts the input each later widget socket maps to.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InvalidWorkflowError
from .object_info import WIDGET_TYPES, InputSpec, ObjectInfo

PREFIX = "workflow"
SEPARATOR = ">"
LEGACY_SEPARATOR = "/"
SEED_NAMES = ("seed", "noise_seed")
SUBGRAPH_INPUT = -10  # the origin id of links from a subgraph's inputs (and target id of its outputs: -20)
SUBGRAPH_OUTPUT = -20
# Widget input types frontend extensions add; the widget store counts them as widgets too.
EXTENSION_WIDGET_TYPES = frozenset({"IMAGEUPLOAD", "AUDIO_RECORD", "LOAD_3D", "LOAD_3D_ANIMATION", "WEBCAM"})


def group_type(name: str) -> str:
    return f"{PREFIX}{SEPARATOR}{name}"


def group_name(node_type: str) -> str | None:
    """The definition name of a ``workflow>Name`` node type, else None."""
    head = f"{PREFIX}{SEPARATOR}"
    return node_type[len(head) :] if node_type.startswith(head) else None


def modernize_type(node_type: str) -> str:
    """Very old files wrote ``workflow/Name``; the frontend renames them on load."""
    head = f"{PREFIX}{LEGACY_SEPARATOR}"
    return group_type(node_type[len(head) :]) if node_type.startswith(head) else node_type


@dataclass(frozen=True)
class GroupLink:
    """One link of a definition: inner indexes (the origin is None for links from outside)."""

    origin: int
    origin_slot: int
    target: int
    target_slot: int
    type: Any


@dataclass
class GroupEntry:
    """One input of the registered group node type: a socket, or a widget (with its own socket)."""

    name: str
    spec: InputSpec
    widget: bool
    primitive: int | None = None  # inner index of the PrimitiveNode whose value widget this is
    source: tuple[int, str] | None = None  # the inner (index, input name) this input stands for


@dataclass
class GroupNodeDefinition:
    name: str
    nodes: list[dict[str, Any]]  # cleaned inner nodes; the index in this list is the id suffix
    links_to: dict[int, dict[int, GroupLink]] = field(default_factory=dict)
    links_from: dict[int, dict[int, list[GroupLink]]] = field(default_factory=dict)
    external_from: dict[int, dict[int, Any]] = field(default_factory=dict)
    entries: dict[str, GroupEntry] = field(default_factory=dict)  # the registered inputs, in order
    input_map: dict[int, dict[int, int]] = field(
        default_factory=dict
    )  # inner index -> inner slot -> group input
    widget_sources: dict[str, tuple[int, str]] = field(
        default_factory=dict
    )  # group widget -> inner (index, widget)
    primitive_targets: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    output_map: list[tuple[int, int]] = field(default_factory=list)  # group output -> inner (index, slot)
    primitive_specs: dict[int, InputSpec] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return group_type(self.name)

    def widget_specs(self) -> list[InputSpec]:
        """The group node's widget inputs in widget order, named as the group names them."""
        specs = []
        for entry in self.entries.values():
            if not entry.widget:
                continue
            spec = (
                self.primitive_specs.get(entry.primitive, entry.spec)
                if entry.primitive is not None
                else entry.spec
            )
            specs.append(replace(spec, name=entry.name))
        return specs


def parse_index(value: Any) -> int | None:
    """A slot or node index as saved (int, or a digit string); anything else makes it unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _is_widget_spec(spec: InputSpec) -> bool:
    """The widget store's test: the type alone decides (forceInput does not)."""
    return spec.type in WIDGET_TYPES or spec.type in EXTENSION_WIDGET_TYPES


class _Builder:
    """Walks a definition the way the frontend's registration does, filling a GroupNodeDefinition."""

    def __init__(
        self, name: str, data: dict[str, Any], nodes: list[dict[str, Any]], object_info: ObjectInfo
    ) -> None:
        self.data = data
        self.object_info = object_info
        self.result = GroupNodeDefinition(name=name, nodes=nodes)
        raw_config = data.get("config")
        self.config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        self.seen_inputs: dict[str, int] = {}
        self.input_count = 0
        self.old_to_new_widget: dict[int, dict[str, str | None]] = {}
        self.deferred: list[tuple[int, dict[str, Any], list[str], dict[int, str], dict[str, InputSpec]]] = []

    def build(self) -> GroupNodeDefinition:
        self._read_links()
        for index, node in enumerate(self.result.nodes):
            self._process_node(index, node)
        for index, node, slots, converted, specs in self.deferred:
            self._process_converted(index, node, slots, converted, specs)
        return self.result

    # -- links ------------------------------------------------------------------------------

    def _read_links(self) -> None:
        raw_links = self.data.get("links")
        for item in raw_links if isinstance(raw_links, list) else []:
            if not isinstance(item, list) or len(item) < 4 or item[0] is None:
                continue  # links from outside the group are wired through the instance's inputs
            origin, origin_slot, target, target_slot = (parse_index(v) for v in item[:4])
            if origin is None or origin_slot is None or target is None or target_slot is None:
                continue
            link = GroupLink(origin, origin_slot, target, target_slot, item[5] if len(item) > 5 else None)
            self.result.links_from.setdefault(origin, {}).setdefault(origin_slot, []).append(link)
            self.result.links_to.setdefault(target, {})[target_slot] = link
        raw_external = self.data.get("external")
        for item in raw_external if isinstance(raw_external, list) else []:
            if isinstance(item, list) and len(item) >= 3:
                node, slot = parse_index(item[0]), parse_index(item[1])
                if node is not None and slot is not None:
                    self.result.external_from.setdefault(node, {})[slot] = item[2]

    # -- node definitions -------------------------------------------------------------------

    def _node_config(self, index: int, kind: str, key: Any) -> dict[str, Any] | None:
        node_config = self.config.get(str(index))
        section = node_config.get(kind) if isinstance(node_config, dict) else None
        found = section.get(str(key)) if isinstance(section, dict) else None
        return found if isinstance(found, dict) else None

    def _node_def(self, index: int, node: dict[str, Any]) -> tuple[list[InputSpec], list[Any]] | None:
        """Input specs and output types, as the frontend finds them for an inner node (None: skipped)."""
        node_type = str(node["type"])
        if node_type in self.object_info:
            return self.object_info.input_specs(node_type), self.object_info.output_types(node_type)
        links_from = self.result.links_from.get(index)
        if node_type == "PrimitiveNode":
            first = (links_from or {}).get(0)
            if not first:
                return None
            value_type = first[0].type
            spec = InputSpec(name="value", type=str(value_type) if value_type is not None else "*")
            if value_type == "COMBO":
                widget = node["outputs"][0].get("widget") if node["outputs"] else None
                target = (
                    self.result.nodes[first[0].target] if first[0].target < len(self.result.nodes) else None
                )
                target_spec = (
                    self.object_info.input_spec(str(target["type"]), widget["name"])
                    if target is not None and widget and str(target["type"]) in self.object_info
                    else None
                )
                if target_spec is None:
                    return None
                spec = InputSpec(name="value", type="COMBO", choices=target_spec.choices, raw=target_spec.raw)
            self.result.primitive_specs[index] = spec
            return [spec], [spec.type]
        if node_type == "Reroute":
            links_to = self.result.links_to.get(index)
            if links_to and links_from and not self.result.external_from.get(index, {}).get(0):
                return None  # an inner pass-through: followed by links, not an input of the group
            reroute_type: Any = "*"
            if links_from:
                for link in links_from.get(0, []):
                    target = self.result.nodes[link.target] if link.target < len(self.result.nodes) else None
                    if (
                        target is not None
                        and link.target_slot < len(target["inputs"])
                        and reroute_type == "*"
                    ):
                        reroute_type = target["inputs"][link.target_slot].get("type")
            elif links_to:
                origin = links_to.get(0)
                if origin is not None and origin.origin < len(self.result.nodes):
                    outputs = self.result.nodes[origin.origin]["outputs"]
                    if origin.origin_slot < len(outputs):
                        reroute_type = outputs[origin.origin_slot].get("type")
            else:
                raw_links = self.data.get("links")
                for item in raw_links if isinstance(raw_links, list) else []:
                    if isinstance(item, list) and len(item) > 5 and parse_index(item[2]) == index:
                        reroute_type = item[5]
                        break
                if reroute_type == "*":
                    reroute_type = self.result.external_from.get(index, {}).get(0) or "*"
            name = str(reroute_type)
            spec = InputSpec(name=name, type=name, options={"forceInput": True})
            return [spec], [reroute_type]
        return None  # Notes and unknown types add nothing to the group's interface

    # -- inputs -----------------------------------------------------------------------------

    def _input_name(self, index: int, node: dict[str, Any], input_name: str) -> str:
        custom = self._node_config(index, "input", input_name)
        name = custom.get("name") if custom and isinstance(custom.get("name"), str) else None
        if name is None:
            label = next((s.get("label") for s in node["inputs"] if s.get("name") == input_name), None)
            name = label if isinstance(label, str) and label else input_name
        key = name
        if (node["type"] == "PrimitiveNode" and node.get("title")) or name in self.seen_inputs:
            title = node.get("title")
            prefix = f"{title if title is not None else node['type']} "
            key = name = f"{prefix}{input_name}"
            if name in self.seen_inputs:
                name = f"{prefix}{self.seen_inputs[name]} {input_name}"
        self.seen_inputs[key] = self.seen_inputs.get(key, 1) + 1
        return name

    @staticmethod
    def _with_control(spec: InputSpec, input_name: str) -> InputSpec:
        if input_name in SEED_NAMES:
            return replace(spec, options={**spec.options, "control_after_generate": True})
        return spec

    def _process_node(self, index: int, node: dict[str, Any]) -> None:
        definition = self._node_def(index, node)
        if definition is None:
            return
        specs, outputs = definition
        by_name = {spec.name: spec for spec in specs}
        if specs:
            slots: list[str] = []
            converted: dict[int, str] = {}
            widget_map = self.old_to_new_widget.setdefault(index, {})
            for spec in specs:
                if not _is_widget_spec(spec):
                    slots.append(spec.name)
                    continue
                socket = next(
                    (
                        i
                        for i, s in enumerate(node["inputs"])
                        if s.get("name") == spec.name and (s.get("widget") or {}).get("name") == spec.name
                    ),
                    -1,
                )
                if socket > -1:
                    converted[socket] = spec.name
                    widget_map[spec.name] = None
                    continue
                name = self._input_name(index, node, spec.name)
                primitive = index if node["type"] == "PrimitiveNode" else None
                self.result.entries[name] = GroupEntry(
                    name, self._with_control(spec, spec.name), True, primitive, (index, spec.name)
                )
                widget_map[spec.name] = name
                self.result.widget_sources[name] = (index, spec.name)
            self._process_slots(index, node, slots, by_name)
            self.deferred.append((index, node, slots, converted, by_name))
        self._process_outputs(index, outputs)

    def _process_slots(
        self, index: int, node: dict[str, Any], slots: list[str], specs: dict[str, InputSpec]
    ) -> None:
        links_to = self.result.links_to.get(index, {})
        input_map = self.result.input_map.setdefault(index, {})
        for slot, input_name in enumerate(slots):
            if slot in links_to:
                self._primitive_connection(links_to[slot], input_name, specs)
                continue
            name = self._input_name(index, node, input_name)
            custom = self._node_config(index, "input", input_name)
            if custom is not None and custom.get("visible") is False:
                continue
            self.result.entries[name] = GroupEntry(name, specs[input_name], False, source=(index, input_name))
            input_map[slot] = self.input_count
            self.input_count += 1

    def _process_converted(
        self,
        index: int,
        node: dict[str, Any],
        slots: list[str],
        converted: dict[int, str],
        specs: dict[str, InputSpec],
    ) -> None:
        links_to = self.result.links_to.get(index, {})
        input_map = self.result.input_map.setdefault(index, {})
        # The frontend sorts the socket indexes with Array.prototype.sort(): as strings.
        ordered = [converted[k] for k in sorted(converted, key=str)]
        for position, input_name in enumerate(ordered):
            slot = len(slots) + position
            if slot in links_to:
                self._primitive_connection(links_to[slot], input_name, specs)
                continue
            name = self._input_name(index, node, input_name)
            entry = GroupEntry(
                name, self._with_control(specs[input_name], input_name), True, source=(index, input_name)
            )
            self.result.entries[name] = entry
            self.result.widget_sources[name] = (index, input_name)
            self.old_to_new_widget.setdefault(index, {})[input_name] = name
            input_map[slot] = self.input_count
            self.input_count += 1

    def _primitive_connection(self, link: GroupLink, input_name: str, specs: dict[str, InputSpec]) -> None:
        """An inner PrimitiveNode feeding a widget: its value widget takes the target's settings."""
        if link.origin >= len(self.result.nodes) or self.result.nodes[link.origin]["type"] != "PrimitiveNode":
            return
        primitive = self.result.primitive_specs.get(link.origin)
        target = specs.get(input_name)
        if primitive is None or target is None:
            return
        options = {**target.options, "control_after_generate": True}
        self.result.primitive_specs[link.origin] = replace(primitive, options=options)
        self.result.primitive_targets.setdefault(link.origin, []).append((link.target, input_name))

    # -- outputs ----------------------------------------------------------------------------

    def _process_outputs(self, index: int, outputs: list[Any]) -> None:
        links_from = self.result.links_from.get(index, {})
        external = self.result.external_from.get(index, {})
        for slot in range(len(outputs)):
            has_link = slot in links_from and not external.get(slot)
            custom = self._node_config(index, "output", slot)
            visible = (
                custom.get("visible")
                if custom is not None and custom.get("visible") is not None
                else not has_link
            )
            if visible:
                self.result.output_map.append((index, slot))


def build_group_definitions(
    workflow: dict[str, Any], object_info: ObjectInfo, clean_node: Any
) -> dict[str, GroupNodeDefinition]:
    """Every definition in ``extra.groupNodes``, keyed by its node type (``workflow>Name``).

    ``clean_node`` is conversion's own field checker; inner nodes have no usable id, so each is
    given its index, which is also the suffix of its prompt id.
    """
    extra = workflow.get("extra")
    raw = extra.get("groupNodes") if isinstance(extra, dict) else None
    if not isinstance(raw, dict):
        return {}
    definitions: dict[str, GroupNodeDefinition] = {}
    for name, data in raw.items():
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
            raise InvalidWorkflowError(
                f"group node {name!r}: its definition in extra.groupNodes has no nodes list"
            )
        nodes = []
        for index, inner in enumerate(data["nodes"]):
            cleaned = clean_node({**inner, "id": index}) if isinstance(inner, dict) else None
            if cleaned is None:
                raise InvalidWorkflowError(f"group node {name!r}: inner node {index} is not a node (no type)")
            nodes.append(cleaned)
        definition = _Builder(str(name), data, nodes, object_info).build()
        definitions[definition.type] = definition
    return definitions


def _slot(name: str, type_: Any, link_ids: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "label": None,
        "type": type_,
        "link": None,
        "links": [],
        "linkIds": link_ids or [],
        "widget": None,
    }


def as_subgraph(
    definition: GroupNodeDefinition,
    instance: dict[str, Any],
    inner_values: dict[int, dict[str, Any]],
    primitive_values: dict[int, Any],
) -> dict[str, Any]:
    """One instance as the subgraph it means: what corrected conversion walks instead of 1.27.10's rules.

    Inner links, reroutes, bypassed inner nodes and primitives are then followed like any subgraph's;
    each group input feeds the inner input it is named after (not the frontend's shifted index);
    the instance's widget values are baked into the inner nodes (``inner_values``, by widget name).
    Ids stay ``"<instance>:<index>"``.
    """
    nodes: list[dict[str, Any]] = []
    for index, inner in enumerate(definition.nodes):
        node = {
            **inner,
            "id": str(index),
            "inputs": [dict(slot) for slot in inner["inputs"]],
            "outputs": [{**slot, "links": []} for slot in inner["outputs"]],
        }
        if index in inner_values:
            node["widgets_values"] = inner_values[index]
        if index in primitive_values:
            node["widgets_values"] = [primitive_values[index]]
        nodes.append(node)
    links: list[list[Any]] = []

    def connect(origin: int | str, origin_slot: int, target: int | str, target_slot: int, type_: Any) -> str:
        link_id = str(len(links) + 1)
        links.append([link_id, str(origin), origin_slot, str(target), target_slot, type_])
        if isinstance(target, int) and target_slot < len(nodes[target]["inputs"]):
            nodes[target]["inputs"][target_slot]["link"] = link_id
        if isinstance(origin, int):
            outputs = nodes[origin]["outputs"]
            while len(outputs) <= origin_slot:
                outputs.append(_slot("", None))
            outputs[origin_slot]["links"].append(link_id)
        return link_id

    for target, by_slot in definition.links_to.items():
        for target_slot, link in by_slot.items():
            if link.origin < len(nodes) and target < len(nodes):
                connect(link.origin, link.origin_slot, target, target_slot, link.type)
    inputs: list[dict[str, Any]] = []
    for position, outer in enumerate(instance["inputs"]):
        entry = definition.entries.get(str(outer.get("name")))
        link_ids: list[str] = []
        if entry is not None and outer.get("link") is not None:
            if entry.primitive is not None:
                targets = definition.primitive_targets.get(entry.primitive, [])
            else:
                targets = [entry.source] if entry.source is not None else []
            for target, input_name in targets:
                target_node = nodes[target] if target < len(nodes) else None
                slots = target_node["inputs"] if target_node is not None else []
                if target_node is not None and target_node["type"] == "Reroute":
                    slot: int | None = 0 if slots else None  # named after its type, it has one input
                else:
                    slot = next((i for i, s in enumerate(slots) if s["name"] == input_name), None)
                if slot is not None:
                    link_ids.append(connect(str(SUBGRAPH_INPUT), position, target, slot, outer.get("type")))
        inputs.append(_slot(str(outer.get("name")), outer.get("type"), link_ids))
    outputs: list[dict[str, Any]] = []
    for position, (index, slot) in enumerate(definition.output_map):
        saved = definition.nodes[index]["outputs"]
        type_ = saved[slot].get("type") if slot < len(saved) else None
        outputs.append(
            _slot(str(position), type_, [connect(index, slot, str(SUBGRAPH_OUTPUT), position, type_)])
        )
    return {"nodes": nodes, "links": links, "inputs": inputs, "outputs": outputs}
