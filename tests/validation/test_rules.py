"""The validation rules held once: the server and local validation give the same verdicts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.server.catalogue import NodeCatalogue
from comfy_reality.server.validation import Validator
from comfy_reality.validation import (
    InputSpec,
    coerce_like_server,
    parse_input_spec,
    parse_node_inputs,
    types_match,
)
from comfy_reality.workflows import packaged_object_info, validate_prompt
from tests.conftest import PROTOCOL_FIXTURES


def _recorded_prompts() -> list[dict[str, Any]]:
    cases = []
    for line in (PROTOCOL_FIXTURES / "03_validation_errors.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("path") == "/prompt" and isinstance(
            (entry.get("request_json") or {}).get("prompt"), dict
        ):
            cases.append(entry)
    return cases


RECORDED = _recorded_prompts()


def _without_tracebacks(node_errors: dict[str, Any]) -> dict[str, Any]:
    node_errors = copy.deepcopy(node_errors)
    for entry in node_errors.values():
        for error in entry["errors"]:
            error["extra_info"].pop("traceback", None)
    return node_errors


@pytest.mark.parametrize("case", RECORDED, ids=[c["label"] for c in RECORDED])
def test_server_and_local_validation_agree(tmp_path: Path, case: dict[str, Any]) -> None:
    """Everything but the traceback lines (which only the server sends) is the same answer."""
    prompt = case["request_json"]["prompt"]
    server = Validator(NodeCatalogue(tmp_path, virtual_models=False)).validate_prompt(copy.deepcopy(prompt))
    local = validate_prompt(copy.deepcopy(prompt), packaged_object_info())
    assert server.ok is local.accepted
    assert server.error == local.error
    assert _without_tracebacks(server.node_errors) == _without_tracebacks(local.node_errors)
    assert server.good_outputs == local.good_outputs


def test_only_the_server_sends_traceback_lines(tmp_path: Path) -> None:
    case = next(c for c in RECORDED if c["label"] == "link_bad_output_index")
    prompt = case["request_json"]["prompt"]
    server = Validator(NodeCatalogue(tmp_path, virtual_models=False)).validate_prompt(copy.deepcopy(prompt))
    local = validate_prompt(prompt, packaged_object_info())
    (server_entry,) = server.node_errors.values()
    (local_entry,) = local.node_errors.values()
    (recorded,) = case["json"]["node_errors"].values()
    assert (
        server_entry["errors"][0]["extra_info"]["traceback"]
        == recorded["errors"][0]["extra_info"]["traceback"]
    )
    assert local_entry["errors"][0]["extra_info"]["traceback"] == []


def _image_graph(width: Any) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": 8, "batch_size": 1, "color": 0},
        },
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def test_the_server_runs_converted_values_and_local_validation_leaves_the_prompt_alone(
    tmp_path: Path,
) -> None:
    served = _image_graph({"__value__": "16"})
    assert Validator(NodeCatalogue(tmp_path)).validate_prompt(served).ok
    assert served["1"]["inputs"]["width"] == 16

    local = _image_graph({"__value__": "16"})
    assert validate_prompt(local, packaged_object_info()).ok
    assert local["1"]["inputs"]["width"] == {"__value__": "16"}


def test_a_deep_chain_validates_locally_too() -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}
    }
    for i in range(2, 600):
        prompt[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    prompt["600"] = {"class_type": "PreviewImage", "inputs": {"images": ["599", 0]}}
    assert validate_prompt(prompt, packaged_object_info()).ok
    prompt["300"]["inputs"]["image"] = ["299", 5]
    report = validate_prompt(prompt, packaged_object_info())
    assert not report.accepted
    assert list(report.node_errors) == ["300"]
    assert report.node_errors["300"]["errors"][0]["details"] == "tuple index out of range"


def test_combo_typed_model_lists_take_the_virtual_models(tmp_path: Path) -> None:
    """``["COMBO", {"options": [...]}]`` inputs are checked like list combos, on both sides."""

    def upscale(name: str) -> dict[str, Any]:
        return {
            "1": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": name}},
            "2": {
                "class_type": "EmptyImage",
                "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0},
            },
            "3": {
                "class_type": "ImageUpscaleWithModel",
                "inputs": {"upscale_model": ["1", 0], "image": ["2", 0]},
            },
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
        }

    validator = Validator(NodeCatalogue(tmp_path))
    assert validator.validate_prompt(upscale("demo-upscale-4x.pth")).ok
    rejected = validator.validate_prompt(upscale("nope.pth"))
    assert not rejected.ok
    error = rejected.node_errors["1"]["errors"][0]
    assert (error["type"], error["details"]) == (
        "value_not_in_list",
        "model_name: 'nope.pth' not in ['demo-upscale-4x.pth']",
    )
    local = validate_prompt(upscale("nope.pth"), packaged_object_info())
    assert local.node_errors["1"]["errors"][0]["details"] == "model_name: 'nope.pth' not in []"


@pytest.mark.parametrize(
    ("received", "wanted", "expected"),
    [
        ("IMAGE", "IMAGE", True),
        ("IMAGE", "MASK", False),
        ("*", "IMAGE", True),
        ("IMAGE", "*", True),
        ("*", ["a", "b"], True),
        ("INT,FLOAT", "FLOAT", True),
        ("STRING,BOOLEAN", "INT,STRING", True),
        (["a"], ["a", "b"], True),
        (["a"], "COMBO", True),
        ("COMBO", ["a"], True),
        ("STRING", ["a"], False),
        (["a"], "STRING", False),
    ],
)
def test_types_match(received: Any, wanted: Any, expected: bool) -> None:
    assert types_match(received, wanted) is expected


def test_coercion_is_pythons_own() -> None:
    assert coerce_like_server("INT", "12") == 12
    assert coerce_like_server("FLOAT", 2) == 2.0
    assert coerce_like_server("STRING", 3) == "3"
    assert coerce_like_server("BOOLEAN", 0) is False
    assert coerce_like_server("IMAGE", ["1", 0]) == ["1", 0]
    with pytest.raises(ValueError, match=r"invalid literal for int\(\) with base 10: 'tall'"):
        coerce_like_server("INT", "tall")


def test_spec_parsing_reads_both_combo_forms_and_keeps_undeclared_order() -> None:
    assert parse_input_spec("c", [["x", "y"], {"default": "y"}], required=True).choices == ["x", "y"]
    combo = parse_input_spec("c", ["COMBO", {"options": ["p", "q"]}], required=False)
    assert (combo.type, combo.choices, combo.required) == ("COMBO", ["p", "q"], False)
    node = {
        "input": {"required": {"a": ["INT", {}], "b": ["FLOAT", {}]}, "optional": {"c": ["STRING", {}]}},
        "input_order": {"required": ["b"]},
    }
    specs = parse_node_inputs(node)
    assert [(s.name, s.required) for s in specs] == [("b", True), ("a", True), ("c", False)]
    assert all(isinstance(s, InputSpec) for s in specs)
