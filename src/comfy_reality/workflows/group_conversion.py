"""Legacy group nodes converted by frontend 1.27.10's rules: inner nodes under ``"<id>:<index>"``,
widget values copied from the instance, inner inputs resolved one step only (its defects kept);
or, for the corrected conversion, each instance rewritten as a subgraph of its own."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidWorkflowError
from .group_nodes import GroupNodeDefinition, as_subgraph
from .subgraphs import SubgraphStructure
from .ui_graph import MODE_ALWAYS, MODE_BYPASS, MODE_NEVER, VIRTUAL_TYPES, UiGraph
from .widgets import expand_widgets


class GroupNodeConversion(SubgraphStructure):
    """The group-node layer of the converter."""

    groups: dict[str, GroupNodeDefinition]
    output: dict[str, dict[str, Any]]

    def group_of(self, node: dict[str, Any]) -> GroupNodeDefinition | None:
        return self.groups.get(str(node.get("type")))

    def groups_as_subgraphs(self, root: dict[str, Any]) -> None:
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

    def check_group_level(self, graph: UiGraph, node: dict[str, Any], group: GroupNodeDefinition) -> None:
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
        self, graph: UiGraph, node_id: str, instance: dict[str, Any], group: GroupNodeDefinition
    ) -> None:
        """Inner nodes under ``"<instance>:<index>"``; like 1.27.10, the instance's own mode is ignored."""
        self.check_group_level(graph, instance, group)
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
        graph: UiGraph,
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
        graph: UiGraph,
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
