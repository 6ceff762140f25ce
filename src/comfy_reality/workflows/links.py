"""Link resolution: from an input back to the node output (or value) that feeds it, walking
through reroutes, primitives, subgraph boundaries, bypassed nodes and group-node outputs."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidWorkflowError
from .group_conversion import GroupNodeConversion
from .group_nodes import GroupNodeDefinition
from .ui_graph import MODE_ALWAYS, MODE_BYPASS, SUBGRAPH_INPUT_NODE, SUBGRAPH_OUTPUT_NODE, Resolved, UiGraph


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


class LinkResolver(GroupNodeConversion):
    """The link layer of the converter."""

    def resolve_link(self, graph: UiGraph, link_id: Any, want_type: Any, depth: int = 0) -> Resolved | None:
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
        self, graph: UiGraph, index: int, want_type: Any, depth: int
    ) -> Resolved | None:
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
            return Resolved(value=graph.promoted[name], is_value=True)
        return None

    def resolve_output(
        self, graph: UiGraph, node_id: str, slot: int, want_type: Any, depth: int
    ) -> Resolved | None:
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
                return Resolved(value=values[0], is_value=True)
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
        return Resolved(link=(graph.api_id(node_id), slot))

    def resolve_bypass(
        self, graph: UiGraph, node: dict[str, Any], slot: int, want_type: Any, depth: int
    ) -> Resolved | None:
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

    def resolve_group_output(
        self,
        graph: UiGraph,
        instance: dict[str, Any],
        group: GroupNodeDefinition,
        slot: int,
        want_type: Any,
        depth: int,
    ) -> Resolved | None:
        """A link from a group node's output: its inner origin, taken as is (no bypass or mute is followed)."""
        self.check_group_level(graph, instance, group)
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
        return Resolved(link=(f"{graph.api_id(str(instance['id']))}:{index}", origin_slot))
