"""Subgraph flattening: instances placed as child graph levels with path ids (``"19:7"``),
their input slots rebuilt from the definition and their promoted widgets valued by position."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidWorkflowError
from .ui_graph import MAX_SUBGRAPH_DEPTH, UiGraph, parse_links
from .widgets import WidgetValues


class SubgraphStructure(WidgetValues):
    """The graph-structure layer of the converter: graph levels, instance slots, output types."""

    subgraphs: dict[str, dict[str, Any]]
    _children: dict[tuple[str, ...], UiGraph]

    def _graph(
        self,
        data: dict[str, Any],
        path: tuple[str, ...],
        parent: UiGraph | None,
        instance: dict[str, Any] | None,
        definition: dict[str, Any] | None,
    ) -> UiGraph:
        nodes = {node["id"]: node for node in data["nodes"]}
        graph = UiGraph(
            nodes=nodes,
            links=parse_links(data.get("links")),
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

    def child_graph(self, graph: UiGraph, instance: dict[str, Any]) -> UiGraph:
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
        self, graph: UiGraph, instance: dict[str, Any], definition: dict[str, Any]
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
