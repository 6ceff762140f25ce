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

The work is layered, one module per job: ``ui_graph`` (reading the file), ``widgets`` (widget
values and their serialization), ``subgraphs`` (flattening), ``group_conversion`` (legacy group
nodes), ``links`` (link resolution); this module emits the prompt and holds the public entry points.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidWorkflowError
from .group_nodes import build_group_definitions, group_name, modernize_type
from .links import LinkResolver, is_valid_connection
from .object_info import ObjectInfo
from .ui_graph import (
    MODE_ALWAYS,
    MODE_BYPASS,
    MODE_NEVER,
    SUBGRAPH_INPUT_NODE,
    VIRTUAL_TYPES,
    Resolved,
    UiGraph,
    clean_graph,
    clean_node,
    clean_subgraphs,
)
from .widgets import expand_widgets, frontend_added_widget, process_dynamic_prompt

__all__ = [
    "VIRTUAL_TYPES",
    "MissingNodeType",
    "MissingNodeTypesError",
    "convert_ui_to_api",
    "expand_widgets",
    "find_missing_node_types",
    "frontend_added_widget",
    "frontend_defects",
    "is_valid_connection",
    "process_dynamic_prompt",
]


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


class _Converter(LinkResolver):
    """Converter layers, bottom up: widgets, subgraphs, group nodes, links; this one emits."""

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
        self.output = {}
        self._widget_cache = {}
        self.subgraphs = clean_subgraphs(workflow)
        self._children = {}
        self.groups = build_group_definitions(workflow, object_info, clean_node)
        root = clean_graph(workflow)
        extra = workflow.get("extra")
        if isinstance(extra, dict) and isinstance(extra.get("groupNodes"), dict):
            for node in root["nodes"]:
                node["type"] = modernize_type(node["type"])
        if correct_group_nodes:
            self.groups_as_subgraphs(root)
        self.root = self._graph(root, (), None, None, None)

    def emit_graph(self, graph: UiGraph) -> None:
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

    def build_node(self, graph: UiGraph, node: dict[str, Any], class_type: str) -> dict[str, Any]:
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
        self, graph: UiGraph, node: dict[str, Any], class_type: str, slot: dict[str, Any]
    ) -> Resolved | None:
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
            return Resolved(value=serial[k], is_value=True)
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

    def iter_nodes(self, graph: UiGraph | None = None) -> Iterator[tuple[UiGraph, str, dict[str, Any]]]:
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
