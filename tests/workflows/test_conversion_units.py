"""Each conversion construct on a small hand-made graph, against a tiny node catalogue."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from comfy_reality.errors import InvalidWorkflowError
from comfy_reality.workflows import (
    MissingNodeTypesError,
    ObjectInfo,
    convert_ui_to_api,
    find_missing_node_types,
    process_dynamic_prompt,
)
from tests.conftest import CONVERSION_FIXTURES

INFO = ObjectInfo(
    {
        "Src": {"input": {"required": {}}, "output": ["IMAGE"], "display_name": "Image Source"},
        "MaskSrc": {"input": {"required": {}}, "output": ["MASK"], "display_name": None},
        "IntSrc": {"input": {"required": {}}, "output": ["INT"], "display_name": "Int"},
        "Filter": {
            "input": {"required": {"image": ["IMAGE"], "strength": ["FLOAT", {"default": 1.0, "min": 0.0}]}},
            "input_order": {"required": ["image", "strength"]},
            "output": ["IMAGE"],
            "display_name": "Filter",
        },
        "Mix": {
            "input": {"required": {"mask": ["MASK"], "image": ["IMAGE"]}},
            "input_order": {"required": ["mask", "image"]},
            "output": ["IMAGE"],
            "display_name": "Mix",
        },
        "Seeded": {
            "input": {
                "required": {
                    "seed": ["INT", {"control_after_generate": True}],
                    "steps": ["INT", {"default": 20}],
                    "tags": ["STRING", {"default": ""}],
                }
            },
            "input_order": {"required": ["seed", "steps", "tags"]},
            "output": ["IMAGE"],
            "display_name": "Seeded",
        },
        "Text": {
            "input": {"required": {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}]}},
            "output": ["CONDITIONING"],
            "display_name": "Text",
        },
        "Sink": {
            "input": {"required": {"images": ["IMAGE"]}},
            "output": [],
            "output_node": True,
            "display_name": "Sink",
        },
        "ImageBlur": {
            "input": {"required": {"image": ["IMAGE"], "blur_radius": ["INT", {"default": 1}]}},
            "input_order": {"required": ["image", "blur_radius"]},
            "output": ["IMAGE"],
            "display_name": None,
        },
        "ControlNetLoader": {
            "input": {"required": {"control_net_name": [["cn.pth"], {}]}},
            "output": ["CONTROL_NET"],
            "display_name": "Load ControlNet Model",
        },
        "LoadImage": {
            "input": {"required": {"image": [["a.png"], {"image_upload": True}]}},
            "output": ["IMAGE", "MASK"],
            "display_name": "Load Image",
        },
    }
)


def node(
    node_id: int,
    type_: str,
    *,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    widgets: list[Any] | None = None,
    mode: int = 0,
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": node_id,
        "type": type_,
        "mode": mode,
        "inputs": inputs or [],
        "outputs": outputs or [],
    }
    if widgets is not None:
        data["widgets_values"] = widgets
    if title is not None:
        data["title"] = title
    data.update(extra)
    return data


def inp(name: str, type_: str, link: int | None, *, widget: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "type": type_, "link": link}
    if widget:
        data["widget"] = {"name": name}
    return data


def out(type_: str, links: list[int] | None = None) -> dict[str, Any]:
    return {"name": type_, "type": type_, "links": links or []}


def wf(
    nodes: list[dict[str, Any]], links: list[list[Any]], subgraphs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "last_node_id": 99,
        "last_link_id": 99,
        "nodes": nodes,
        "links": links,
        "version": 0.4,
    }
    if subgraphs:
        data["definitions"] = {"subgraphs": subgraphs}
    return data


def convert(workflow: dict[str, Any]) -> dict[str, Any]:
    return convert_ui_to_api(workflow, INFO, rng=random.Random(1))


def test_reroute_is_walked_through() -> None:
    got = convert(
        wf(
            [
                node(1, "Src", outputs=[out("IMAGE", [1])]),
                node(2, "Reroute", inputs=[inp("", "*", 1)], outputs=[out("IMAGE", [2])]),
                node(3, "Reroute", inputs=[inp("", "*", 2)], outputs=[out("IMAGE", [3])]),
                node(4, "Sink", inputs=[inp("images", "IMAGE", 3)]),
            ],
            [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "*"], [3, 3, 0, 4, 0, "IMAGE"]],
        )
    )
    assert got == {
        "1": {"inputs": {}, "class_type": "Src", "_meta": {"title": "Image Source"}},
        "4": {"inputs": {"images": ["1", 0]}, "class_type": "Sink", "_meta": {"title": "Sink"}},
    }


def test_muted_node_is_dropped_with_dangling_inputs() -> None:
    got = convert(
        wf(
            [
                node(1, "Src", outputs=[out("IMAGE", [1])]),
                node(
                    2,
                    "Filter",
                    inputs=[inp("image", "IMAGE", 1)],
                    outputs=[out("IMAGE", [2])],
                    widgets=[0.5],
                    mode=2,
                ),
                node(3, "Sink", inputs=[inp("images", "IMAGE", 2)]),
            ],
            [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
        )
    )
    assert set(got) == {"1", "3"}
    assert got["3"]["inputs"] == {}  # no pass-through for mute


def test_bypass_passes_through_the_same_slot() -> None:
    got = convert(
        wf(
            [
                node(1, "Src", outputs=[out("IMAGE", [1])]),
                node(
                    2,
                    "Filter",
                    inputs=[inp("image", "IMAGE", 1)],
                    outputs=[out("IMAGE", [2])],
                    widgets=[0.5],
                    mode=4,
                ),
                node(
                    5,
                    "Filter",
                    inputs=[inp("image", "IMAGE", 2)],
                    outputs=[out("IMAGE", [3])],
                    widgets=[0.1],
                    mode=4,
                ),
                node(3, "Sink", inputs=[inp("images", "IMAGE", 3)]),
            ],
            [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 5, 0, "IMAGE"], [3, 5, 0, 3, 0, "IMAGE"]],
        )
    )
    assert set(got) == {"1", "3"}
    assert got["3"]["inputs"] == {"images": ["1", 0]}  # a chain of bypassed nodes is followed


def test_bypass_picks_an_input_by_type() -> None:
    got = convert(
        wf(
            [
                node(1, "MaskSrc", outputs=[out("MASK", [1])]),
                node(2, "Src", outputs=[out("IMAGE", [2])]),
                node(
                    3,
                    "Mix",
                    inputs=[inp("mask", "MASK", 1), inp("image", "IMAGE", 2)],
                    outputs=[out("IMAGE", [3])],
                    mode=4,
                ),
                node(4, "Sink", inputs=[inp("images", "IMAGE", 3)]),
            ],
            [[1, 1, 0, 3, 0, "MASK"], [2, 2, 0, 3, 1, "IMAGE"], [3, 3, 0, 4, 0, "IMAGE"]],
        )
    )
    # Slot 0 is a MASK, which fits neither the IMAGE output nor the consumer: the first IMAGE input is used.
    assert got["4"]["inputs"] == {"images": ["2", 0]}
    assert got["1"]["_meta"]["title"] == "MaskSrc"  # no display_name and no English name: the class


def test_bypass_without_matching_input_leaves_the_input_out() -> None:
    got = convert(
        wf(
            [
                node(1, "MaskSrc", outputs=[out("MASK", [1])]),
                node(
                    3,
                    "Mix",
                    inputs=[inp("mask", "MASK", 1), inp("image", "IMAGE", None)],
                    outputs=[out("IMAGE", [3])],
                    mode=4,
                ),
                node(4, "Sink", inputs=[inp("images", "IMAGE", 3)]),
            ],
            [[1, 1, 0, 3, 0, "MASK"], [3, 3, 0, 4, 0, "IMAGE"]],
        )
    )
    assert got["4"]["inputs"] == {}  # the IMAGE input of the bypassed node is unconnected


def test_primitive_value_is_folded_into_the_widget() -> None:
    got = convert(
        wf(
            [
                node(1, "Src", outputs=[out("IMAGE", [1])]),
                node(
                    2,
                    "PrimitiveNode",
                    outputs=[
                        {"name": "FLOAT", "type": "FLOAT", "links": [2], "widget": {"name": "strength"}}
                    ],
                    widgets=[0.25, "fixed"],
                ),
                node(
                    3,
                    "Filter",
                    inputs=[inp("image", "IMAGE", 1), inp("strength", "FLOAT", 2, widget=True)],
                    outputs=[out("IMAGE")],
                    widgets=[0.9],
                ),
            ],
            [[1, 1, 0, 3, 0, "IMAGE"], [2, 2, 0, 3, 1, "FLOAT"]],
        )
    )
    assert got["3"]["inputs"] == {"image": ["1", 0], "strength": 0.25}
    assert set(got) == {"1", "3"}


def test_converted_widget_is_replaced_by_its_link_and_control_value_is_skipped() -> None:
    got = convert(
        wf(
            [
                node(1, "IntSrc", outputs=[out("INT", [1])]),
                node(
                    2,
                    "Seeded",
                    inputs=[inp("steps", "INT", 1, widget=True)],
                    outputs=[out("IMAGE")],
                    widgets=[123456789012, "randomize", 30, "tags here"],
                ),
            ],
            [[1, 1, 0, 2, 0, "INT"]],
        )
    )
    assert got["2"]["inputs"] == {"seed": 123456789012, "steps": ["1", 0], "tags": "tags here"}


def test_missing_trailing_values_take_defaults_and_extra_ones_are_ignored() -> None:
    got = convert(
        wf(
            [
                node(1, "Seeded", outputs=[out("IMAGE")], widgets=[7, "fixed"]),
                node(2, "Filter", inputs=[inp("image", "IMAGE", None)], widgets=[0.3, "extra", 5]),
            ],
            [],
        )
    )
    assert got["1"]["inputs"] == {"seed": 7, "steps": 20, "tags": ""}
    assert got["2"]["inputs"] == {"strength": 0.3}


def test_titles() -> None:
    got = convert(
        wf(
            [
                node(1, "Src", title="My source"),
                node(2, "Src"),
                node(3, "ImageBlur", widgets=[2]),
                node(4, "MaskSrc"),
            ],
            [],
        )
    )
    assert [got[k]["_meta"]["title"] for k in "1234"] == [
        "My source",
        "Image Source",
        "Image Blur",
        "MaskSrc",
    ]


def _subgraph(
    sg_id: str,
    nodes: list[dict[str, Any]],
    links: list[dict[str, Any]],
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": sg_id,
        "name": sg_id,
        "nodes": nodes,
        "links": links,
        "inputs": inputs,
        "outputs": outputs,
        "inputNode": {"id": -10},
        "outputNode": {"id": -20},
    }


def _link(
    link_id: int, origin: int, origin_slot: int, target: int, target_slot: int, type_: str
) -> dict[str, Any]:
    return {
        "id": link_id,
        "origin_id": origin,
        "origin_slot": origin_slot,
        "target_id": target,
        "target_slot": target_slot,
        "type": type_,
    }


FILTER_SG = _subgraph(
    "sg-filter",
    [
        node(
            1,
            "Filter",
            inputs=[inp("image", "IMAGE", 11), inp("strength", "FLOAT", 12, widget=True)],
            outputs=[out("IMAGE", [13])],
            widgets=[0.7],
        ),
        node(2, "Sink", inputs=[inp("images", "IMAGE", 14)]),
    ],
    [
        _link(11, -10, 0, 1, 0, "IMAGE"),
        _link(12, -10, 1, 1, 1, "FLOAT"),
        _link(13, 1, 0, -20, 0, "IMAGE"),
        _link(14, 1, 0, 2, 0, "IMAGE"),
    ],
    [
        {"name": "image", "type": "IMAGE", "linkIds": [11]},
        {"name": "strength", "type": "FLOAT", "linkIds": [12]},
    ],
    [{"name": "IMAGE", "type": "IMAGE", "linkIds": [13]}],
)


def test_subgraph_is_expanded_with_path_ids_and_promoted_widget() -> None:
    got = convert(
        wf(
            [
                node(1, "Src", outputs=[out("IMAGE", [1])]),
                node(
                    19,
                    "sg-filter",
                    inputs=[inp("image", "IMAGE", 1)],
                    outputs=[out("IMAGE", [2])],
                    widgets=[0.3],
                ),
                node(3, "Sink", inputs=[inp("images", "IMAGE", 2)]),
            ],
            [[1, 1, 0, 19, 0, "IMAGE"], [2, 19, 0, 3, 0, "IMAGE"]],
            [FILTER_SG],
        )
    )
    assert set(got) == {"1", "3", "19:1", "19:2"}
    assert got["19:1"]["inputs"] == {"image": ["1", 0], "strength": 0.3}  # the instance's promoted value
    assert got["19:2"]["inputs"] == {"images": ["19:1", 0]}
    assert got["3"]["inputs"] == {"images": ["19:1", 0]}  # followed into the subgraph


def test_promoted_widget_fed_by_an_outer_link_and_empty_instance_values() -> None:
    got = convert(
        wf(
            [
                node(1, "Src", outputs=[out("IMAGE", [1])]),
                node(
                    2,
                    "PrimitiveNode",
                    outputs=[{"name": "FLOAT", "type": "FLOAT", "links": [3]}],
                    widgets=[0.05],
                ),
                node(
                    19,
                    "sg-filter",
                    inputs=[inp("image", "IMAGE", 1), inp("strength", "FLOAT", 3, widget=True)],
                    outputs=[out("IMAGE")],
                    widgets=[0.3],
                ),
                node(20, "sg-filter", inputs=[inp("image", "IMAGE", 4)], outputs=[out("IMAGE")], widgets=[]),
            ],
            [[1, 1, 0, 19, 0, "IMAGE"], [3, 2, 0, 19, 1, "FLOAT"], [4, 1, 0, 20, 0, "IMAGE"]],
            [FILTER_SG],
        )
    )
    assert got["19:1"]["inputs"]["strength"] == 0.05  # the outer link wins over the instance value
    assert got["20:1"]["inputs"]["strength"] == 0.7  # no instance values: the inner node keeps its own


def test_nested_subgraph_ids() -> None:
    outer = _subgraph(
        "sg-outer",
        [
            node(
                5,
                "sg-filter",
                inputs=[inp("image", "IMAGE", 21)],
                outputs=[out("IMAGE", [22])],
                widgets=[0.4],
            )
        ],
        [_link(21, -10, 0, 5, 0, "IMAGE"), _link(22, 5, 0, -20, 0, "IMAGE")],
        [{"name": "image", "type": "IMAGE", "linkIds": [21]}],
        [{"name": "IMAGE", "type": "IMAGE", "linkIds": [22]}],
    )
    got = convert(
        wf(
            [
                node(1, "Src", outputs=[out("IMAGE", [1])]),
                node(65, "sg-outer", inputs=[inp("image", "IMAGE", 1)], outputs=[out("IMAGE", [2])]),
                node(3, "Sink", inputs=[inp("images", "IMAGE", 2)]),
            ],
            [[1, 1, 0, 65, 0, "IMAGE"], [2, 65, 0, 3, 0, "IMAGE"]],
            [outer, FILTER_SG],
        )
    )
    assert set(got) == {"1", "3", "65:5:1", "65:5:2"}
    assert got["65:5:1"]["inputs"] == {"image": ["1", 0], "strength": 0.4}
    assert got["3"]["inputs"] == {"images": ["65:5:1", 0]}


def test_bypassed_subgraph_instance_passes_through_but_inner_nodes_stay() -> None:
    got = convert(
        wf(
            [
                node(1, "Src", outputs=[out("IMAGE", [1])]),
                node(
                    19,
                    "sg-filter",
                    inputs=[inp("image", "IMAGE", 1)],
                    outputs=[out("IMAGE", [2])],
                    widgets=[0.3],
                    mode=4,
                ),
                node(3, "Sink", inputs=[inp("images", "IMAGE", 2)]),
            ],
            [[1, 1, 0, 19, 0, "IMAGE"], [2, 19, 0, 3, 0, "IMAGE"]],
            [FILTER_SG],
        )
    )
    assert got["3"]["inputs"] == {"images": ["1", 0]}
    assert {"19:1", "19:2"} <= set(got)  # frontend 1.27.10 still emits them


def test_dynamic_prompts() -> None:
    rng = random.Random(3)
    assert process_dynamic_prompt("a {red|red} cat /* note */ here // trailing", rng) == "a red cat  here "
    assert process_dynamic_prompt(r"literal \{x\} and {a|{b|b}}", rng) in (
        "literal {x} and a",
        "literal {x} and b",
    )
    got = convert(wf([node(1, "Text", widgets=["see https://example.com/x"])], []))
    assert got["1"]["inputs"]["text"] == "see https:"  # what the frontend does to URLs in prompts


def test_array_values_are_wrapped_and_upload_widget_not_emitted() -> None:
    got = convert(
        wf(
            [
                node(1, "Seeded", widgets=[1, "fixed", 2, ["a", "b"]]),
                node(2, "LoadImage", widgets=["a.png", "image"]),
            ],
            [],
        )
    )
    assert got["1"]["inputs"]["tags"] == {"__value__": ["a", "b"]}
    assert got["2"]["inputs"] == {"image": "a.png"}


def test_load_time_renames() -> None:
    got = convert(wf([node(1, "T2IAdapterLoader", widgets=["cn.pth"])], []))
    assert got["1"]["class_type"] == "ControlNetLoader"
    real = ObjectInfo(json.loads((CONVERSION_FIXTURES / "object_info.json").read_text()))
    ks = convert_ui_to_api(
        wf([node(1, "KSampler", widgets=[1, "fixed", 20, 8, "sample_euler", "normal", 1])], []), real
    )
    assert ks["1"]["inputs"]["sampler_name"] == "euler"


def test_missing_node_types_are_reported_with_pack_hints() -> None:
    workflow = wf(
        [
            node(1, "FancyNode", properties={"cnr_id": "comfyui-fancy", "ver": "1.2.0"}),
            node(2, "FancyNode"),
            node(3, "OtherNode", properties={"aux_id": "someone/other-nodes"}),
            node(4, "Ghost", mode=4),
            node(5, "Src"),
        ],
        [],
    )
    with pytest.raises(MissingNodeTypesError) as info:
        convert(workflow)
    missing = {m.class_type: m for m in info.value.missing}
    assert set(missing) == {"FancyNode", "OtherNode"}  # bypassed nodes are never sent
    assert missing["FancyNode"].node_ids == ["1", "2"] and missing["FancyNode"].cnr_id == "comfyui-fancy"
    assert missing["OtherNode"].aux_id == "someone/other-nodes"
    assert "FancyNode (from node pack comfyui-fancy 1.2.0), used by node 1, 2" in str(info.value)
    assert find_missing_node_types(workflow, INFO) == info.value.missing
    assert set(convert_ui_to_api(workflow, INFO, allow_missing=True)) == {"5"}


def test_self_nesting_and_non_workflows_fail_clearly() -> None:
    loop = _subgraph("sg-loop", [node(1, "sg-loop")], [], [], [])
    with pytest.raises(InvalidWorkflowError, match="nested more than"):
        convert(wf([node(1, "sg-loop")], [], [loop]))
    with pytest.raises(InvalidWorkflowError, match="not a UI workflow"):
        convert({"1": {"class_type": "Src", "inputs": {}}})


def test_unvalued_promoted_widgets_shift_like_frontend_1_27_10() -> None:
    """pairs/image_ovis_text_to_image in miniature: a seed before the promoted inputs shifts their values."""
    seeded_sg = _subgraph(
        "sg-seeded",
        [
            node(
                1,
                "Seeded",
                inputs=[inp("steps", "INT", 31, widget=True), inp("tags", "STRING", 32, widget=True)],
                outputs=[out("IMAGE")],
                widgets=[999, "randomize", 30, "t"],
            )
        ],
        [_link(31, -10, 0, 1, 0, "INT"), _link(32, -10, 1, 1, 1, "STRING")],
        [
            {"name": "steps", "type": "INT", "linkIds": [31]},
            {"name": "tags", "type": "STRING", "linkIds": [32]},
        ],
        [],
    )
    got = convert(wf([node(7, "sg-seeded", widgets=[])], [], [seeded_sg]))
    assert got["7:1"]["inputs"] == {"seed": 999, "steps": 999, "tags": 30}
    valued = convert(wf([node(7, "sg-seeded", widgets=[12, "x"])], [], [seeded_sg]))
    assert valued["7:1"]["inputs"] == {"seed": 999, "steps": 12, "tags": "x"}


def test_dynamic_prompt_applies_to_values_folded_from_a_primitive() -> None:
    got = convert(
        wf(
            [
                node(
                    1,
                    "PrimitiveNode",
                    outputs=[{"name": "STRING", "type": "STRING", "links": [1]}],
                    widgets=["a {b|b} c // note"],
                ),
                node(2, "Text", inputs=[inp("text", "STRING", 1, widget=True)], widgets=["own"]),
            ],
            [[1, 1, 0, 2, 0, "STRING"]],
        )
    )
    assert got["2"]["inputs"] == {"text": "a b c "}
