"""Legacy group nodes: the frontend's own output for 36 recorded cases, and each rule on small graphs.

tests/fixtures/group_nodes holds workflows whose group nodes were made by frontend 1.27.10 itself,
with the prompt it queued after reloading each file (manifest.json says what each case shows and
which frontend defect it records; we reproduce those too, since the browser is the reference).
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.errors import InvalidWorkflowError
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.workflows import (
    MissingNodeTypesError,
    ObjectInfo,
    convert_ui_to_api,
    find_missing_node_types,
    frontend_defects,
)
from comfy_reality.workflows.group_nodes import build_group_definitions
from tests.conftest import CONVERSION_FIXTURES, FIXTURES

GROUP_FIXTURES = FIXTURES / "group_nodes"


@cache
def _object_info() -> ObjectInfo:
    return ObjectInfo.from_json(json.loads((CONVERSION_FIXTURES / "object_info.json").read_text()))


def _manifest() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((GROUP_FIXTURES / "manifest.json").read_text())["cases"]
    return cases


def _load(name: str, suffix: str) -> Any:
    return json.loads((GROUP_FIXTURES / f"{name}.{suffix}.json").read_text(encoding="utf-8"))


def test_every_recorded_case_is_listed() -> None:
    on_disk = {p.name[: -len(".ui.json")] for p in GROUP_FIXTURES.glob("*.ui.json")}
    assert on_disk == {c["case"] for c in _manifest()}
    assert len(on_disk) == 37


@pytest.mark.parametrize("case", [c["case"] for c in _manifest()])
def test_recorded_case_converts_exactly_like_the_frontend(case: str) -> None:
    got = convert_ui_to_api(_load(case, "ui"), _object_info(), rng=random.Random(0))
    assert got == _load(case, "api")


def test_defects_are_reproduced_not_corrected() -> None:
    """The cases flagged as frontend defects really show them (so the exact match above means something)."""

    def run(case: str) -> dict[str, Any]:
        return convert_ui_to_api(_load(case, "ui"), _object_info(), rng=random.Random(0))

    assert "seed" not in run("primitive_outside")["10:0"]["inputs"]
    assert "vae" not in run("reroute_outside")["42:1"]["inputs"]
    chained = run("chained_groups")["11:0"]["inputs"]
    assert "positive" not in chained and "negative" not in chained
    bypassed = run("bypassed_group")
    assert {"10:0", "10:1"} <= set(bypassed) and "images" not in bypassed["9"]["inputs"]
    shifted = run("external_after_inner_primitive")["31:1"]["inputs"]
    assert shifted["cfg"] == ["32", 0] and shifted["steps"] == 20
    sorted_wrong = run("external_into_sorted_widgets")["97:0"]["inputs"]
    assert sorted_wrong["noise_seed"] == ["95", 0] and sorted_wrong["scheduler"] == ["96", 0]


def _corrected(case: str) -> dict[str, Any]:
    return convert_ui_to_api(
        _load(case, "ui"), _object_info(), rng=random.Random(0), correct_frontend_defects=True
    )


@pytest.mark.parametrize("case", [c["case"] for c in _manifest() if not c["frontend_defect"]])
def test_corrected_mode_changes_nothing_where_the_frontend_is_right(case: str) -> None:
    assert _corrected(case) == _load(case, "api")


def test_corrected_mode_gives_what_each_defect_case_means() -> None:
    """correct_frontend_defects: group nodes converted as the subgraphs they stand for."""
    assert _corrected("primitive_outside")["10:0"]["inputs"]["seed"] == 99
    assert _corrected("reroute_outside")["42:1"]["inputs"]["vae"] == ["4", 2]
    assert _corrected("reroute_inside")["41:2"]["inputs"]["vae"] == ["4", 2]
    assert _corrected("inner_bypassed")["21:2"]["inputs"]["samples"] == ["21:0", 0]
    assert _corrected("bypassed_outer_into_group")["94:0"]["inputs"]["latent_image"] == ["5", 0]
    chained = _corrected("chained_groups")["11:0"]["inputs"]
    assert chained["positive"] == ["10:0", 0] and chained["negative"] == ["10:1", 0]
    for case in ("bypassed_group", "muted_group"):
        got = _corrected(case)
        assert not any(key.startswith("10:") for key in got)
        assert "images" not in got["9"]["inputs"]  # nothing of type IMAGE to pass through, nothing runs
    bypassed_first = _corrected("group_output_to_group_bypassed")
    assert not any(key.startswith("10:") for key in bypassed_first)
    fed = _corrected("external_after_inner_primitive")["31:1"]["inputs"]
    assert fed["steps"] == ["32", 0] and fed["cfg"] == 8
    fed = _corrected("external_into_sorted_widgets")["97:0"]["inputs"]
    assert fed["end_at_step"] == ["95", 0] and fed["steps"] == ["96", 0]
    assert fed["noise_seed"] == 0 and fed["scheduler"] == "simple"


def test_defect_report_names_each_difference_and_nothing_else() -> None:
    info = _object_info()
    assert frontend_defects(_load("ksampler_decode", "ui"), info) == []
    assert frontend_defects(_load("primitive_outside", "ui"), info) == [
        "node 10:0 (KSampler): the web UI leaves input 'seed' unconnected (meant: 99)"
    ]
    assert frontend_defects(_load("external_after_inner_primitive", "ui"), info) == [
        "node 31:1 (KSampler): the web UI sets input 'cfg' to output 0 of node 32 instead of 8",
        "node 31:1 (KSampler): the web UI sets input 'steps' to 20 instead of output 0 of node 32",
    ]
    bypassed = frontend_defects(_load("bypassed_group", "ui"), info)
    assert (
        bypassed[0]
        == "node 10:0 (KSampler): the web UI runs it although its group node or subgraph is bypassed or muted"
    )
    assert (
        frontend_defects({"1": {"class_type": "X", "inputs": {}}}, info) == []
    )  # API format: nothing to compare


# -- rules on hand-made graphs -------------------------------------------------------------

INFO = ObjectInfo(
    {
        "Src": {"input": {"required": {}}, "output": ["IMAGE"], "display_name": "Image Source"},
        "Filter": {
            "input": {"required": {"image": ["IMAGE"], "strength": ["FLOAT", {"default": 1.0}]}},
            "input_order": {"required": ["image", "strength"]},
            "output": ["IMAGE"],
            "display_name": "Filter",
        },
        "Seeded": {
            "input": {
                "required": {
                    "image": ["IMAGE"],
                    "seed": ["INT", {"default": 0}],
                    "steps": ["INT", {"default": 20}],
                }
            },
            "input_order": {"required": ["image", "seed", "steps"]},
            "output": ["IMAGE"],
            "display_name": "Seeded",
        },
        "Sink": {
            "input": {"required": {"images": ["IMAGE"]}},
            "output": [],
            "output_node": True,
            "display_name": "Sink",
        },
    }
)


def _slot(name: str, type_: str, link: int | None = None, widget: bool = False) -> dict[str, Any]:
    slot: dict[str, Any] = {"name": name, "type": type_, "link": link}
    if widget:
        slot["widget"] = {"name": name}
    return slot


def _filter_chain_workflow(
    group_values: list[Any], *, instance_type: str = "workflow>Two filters"
) -> dict[str, Any]:
    """Src(1) -> group(5: Filter, Filter) -> Sink(2), saved the way 1.27.10 saves group nodes."""
    inner = [
        {
            "id": -1,
            "type": "Filter",
            "mode": 0,
            "index": 0,
            "widgets_values": [0.1],
            "inputs": [_slot("image", "IMAGE"), _slot("strength", "FLOAT", widget=True)],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}],
        },
        {
            "id": -1,
            "type": "Filter",
            "mode": 0,
            "index": 1,
            "title": "Second",
            "widgets_values": [0.2],
            "inputs": [_slot("image", "IMAGE"), _slot("strength", "FLOAT", widget=True)],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}],
        },
    ]
    return {
        "nodes": [
            {
                "id": 1,
                "type": "Src",
                "mode": 0,
                "inputs": [],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
            },
            {
                "id": 5,
                "type": instance_type,
                "mode": 0,
                "widgets_values": group_values,
                "inputs": [
                    _slot("image", "IMAGE", 1),
                    _slot("strength", "FLOAT", widget=True),
                    _slot("Second strength", "FLOAT", widget=True),
                ],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}],
            },
            {"id": 2, "type": "Sink", "mode": 0, "inputs": [_slot("images", "IMAGE", 2)], "outputs": []},
        ],
        "links": [[1, 1, 0, 5, 0, "IMAGE"], [2, 5, 0, 2, 0, "IMAGE"]],
        "extra": {
            "groupNodes": {
                "Two filters": {
                    "nodes": inner,
                    "links": [[None, 0, 0, 0, 1, "IMAGE"], [0, 0, 1, 0, 3, "IMAGE"]],
                    "external": [[1, 0, "IMAGE"]],
                }
            }
        },
    }


def test_inner_nodes_get_instance_index_ids_and_group_widget_values() -> None:
    got = convert_ui_to_api(_filter_chain_workflow([0.5, 0.7]), INFO)
    assert got == {
        "1": {"inputs": {}, "class_type": "Src", "_meta": {"title": "Image Source"}},
        "5:0": {
            "inputs": {"strength": 0.5, "image": ["1", 0]},
            "class_type": "Filter",
            "_meta": {"title": "Filter"},
        },
        "5:1": {
            "inputs": {"strength": 0.7, "image": ["5:0", 0]},
            "class_type": "Filter",
            "_meta": {"title": "Second"},
        },
        "2": {"inputs": {"images": ["5:1", 0]}, "class_type": "Sink", "_meta": {"title": "Sink"}},
    }


def test_duplicate_input_names_are_prefixed_by_title_or_node_type() -> None:
    [definition] = build_group_definitions(_filter_chain_workflow([]), INFO, _clean).values()
    assert list(definition.entries) == ["image", "strength", "Second strength"]
    assert definition.widget_sources == {"strength": (0, "strength"), "Second strength": (1, "strength")}
    untitled = _filter_chain_workflow([])
    del untitled["extra"]["groupNodes"]["Two filters"]["nodes"][1]["title"]
    [definition] = build_group_definitions(untitled, INFO, _clean).values()
    assert list(definition.entries)[-1] == "Filter strength"
    assert definition.output_map == [(1, 0)]  # the first Filter's output only feeds the second


def test_missing_group_widget_values_take_the_spec_default() -> None:
    got = convert_ui_to_api(_filter_chain_workflow([0.5]), INFO)
    assert got["5:1"]["inputs"]["strength"] == 1.0


def test_old_slash_separator_is_read_as_a_group_node() -> None:
    got = convert_ui_to_api(_filter_chain_workflow([0.5, 0.7], instance_type="workflow/Two filters"), INFO)
    assert {"5:0", "5:1"} <= set(got)


def test_seed_widgets_get_a_control_widget_so_later_values_stay_aligned() -> None:
    workflow = _filter_chain_workflow([])
    definition = workflow["extra"]["groupNodes"]["Two filters"]
    definition["nodes"][1] = {
        "id": -1,
        "type": "Seeded",
        "mode": 0,
        "index": 1,
        "widgets_values": [1, "fixed", 2],
        "inputs": [
            _slot("image", "IMAGE"),
            _slot("seed", "INT", widget=True),
            _slot("steps", "INT", widget=True),
        ],
        "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}],
    }
    workflow["nodes"][1]["widgets_values"] = [0.5, 42, "randomize", 7]
    got = convert_ui_to_api(workflow, INFO)
    assert got["5:1"]["inputs"] == {"seed": 42, "steps": 7, "image": ["5:0", 0]}


def test_inner_nodes_missing_on_the_server_are_named_with_their_prompt_ids() -> None:
    workflow = _filter_chain_workflow([0.5, 0.7])
    inner = workflow["extra"]["groupNodes"]["Two filters"]["nodes"][1]
    inner["type"] = "FancyFilter"
    inner["properties"] = {"cnr_id": "fancy-pack"}
    with pytest.raises(MissingNodeTypesError) as info:
        convert_ui_to_api(workflow, INFO)
    [missing] = info.value.missing
    assert (
        missing.class_type == "FancyFilter" and missing.node_ids == ["5:1"] and missing.cnr_id == "fancy-pack"
    )
    assert find_missing_node_types(workflow, INFO) == info.value.missing


def test_an_instance_without_a_definition_says_so() -> None:
    workflow = _filter_chain_workflow([0.5, 0.7], instance_type="workflow>Gone")
    with pytest.raises(
        MissingNodeTypesError, match="group node 'Gone' \\(node 5\\): its definition is missing"
    ):
        convert_ui_to_api(workflow, INFO)


def test_group_node_inside_a_subgraph_is_refused_like_the_frontend() -> None:
    workflow = _filter_chain_workflow([0.5, 0.7])
    group_instance = workflow["nodes"][1]
    workflow["nodes"] = [{"id": 9, "type": "sg-1", "mode": 0, "inputs": [], "outputs": []}]
    workflow["links"] = []
    workflow["definitions"] = {
        "subgraphs": [
            {
                "id": "sg-1",
                "name": "holder",
                "inputs": [],
                "outputs": [],
                "nodes": [group_instance],
                "links": [],
            }
        ]
    }
    with pytest.raises(InvalidWorkflowError, match="inside a subgraph"):
        convert_ui_to_api(workflow, INFO)


def test_broken_definitions_fail_with_the_group_name() -> None:
    workflow = _filter_chain_workflow([0.5, 0.7])
    workflow["extra"]["groupNodes"]["Two filters"] = {"links": []}
    with pytest.raises(InvalidWorkflowError, match="group node 'Two filters'.*no nodes list"):
        convert_ui_to_api(workflow, INFO)


def _clean(raw: dict[str, Any]) -> dict[str, Any] | None:
    from comfy_reality.workflows.ui_graph import clean_node

    return clean_node(raw)


# -- end to end ------------------------------------------------------------------------------


async def test_group_node_workflow_runs_on_the_embedded_server(tmp_path: Path) -> None:
    """A saved group-node workflow converts against the server's catalogue and runs to an image."""
    from comfy_reality.runtime import ComfyUIAsyncRuntime, TaskStatus

    workflow = _load("ksampler_decode", "ui")
    for node in workflow["nodes"]:
        if node["type"] == "CheckpointLoaderSimple":
            node["widgets_values"] = ["demo-sd15.safetensors"]  # a model the embedded server has
    async with (
        EmbeddedServer(ServerConfig(port=0, speed=50.0, data_dir=tmp_path / "server")) as server,
        ComfyUIAsyncRuntime(server.url, timeout=10.0).session() as runtime,
    ):
        info = ObjectInfo.from_json(await runtime.client.get_object_info())
        prompt = convert_ui_to_api(workflow, info, rng=random.Random(0))
        execution = await runtime.execute_workflow(prompt, name="group node")
        assert execution.status == TaskStatus.COMPLETED, execution.error
        received = server.state.queue.history[execution.prompt_id]["prompt"][2]
    assert {"10:0", "10:1"} <= set(received)
    assert received["10:0"]["inputs"]["steps"] == 20 and received["10:1"]["inputs"]["samples"] == ["10:0", 0]
    assert execution.outputs
