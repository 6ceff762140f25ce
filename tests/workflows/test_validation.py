"""Local validation answers like the real server: replayed against the recorded 03 transcript."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest

from comfy_reality.errors import PromptValidationError
from comfy_reality.workflows import ObjectInfo, packaged_object_info, validate_prompt
from tests.conftest import PROTOCOL_FIXTURES


@cache
def _info() -> ObjectInfo:
    return packaged_object_info()


def _recorded() -> list[dict[str, Any]]:
    cases = []
    for line in (PROTOCOL_FIXTURES / "03_validation_errors.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if (
            entry.get("dir") == "http"
            and entry.get("path") == "/prompt"
            and "prompt" in (entry.get("request_json") or {})
        ):
            cases.append(entry)
    return cases


RECORDED = _recorded()


def _normalize(body: dict[str, Any]) -> dict[str, Any]:
    """Drop what a local check cannot share with the server: its traceback lines and set-iteration order.

    The server walks output nodes in ``set`` order (hash-randomized per process), so which consumer
    first reaches a broken node, and therefore the consumer-side ``input_name``/``input_config``/
    ``linked_node`` of an ``exception_during_inner_validation``, varies between server runs too;
    those three are checked separately in test_inner_exception_names_a_real_consumer.
    """
    body = copy.deepcopy(body)
    for entry in (body.get("node_errors") or {}).values():
        entry["dependent_outputs"] = sorted(entry["dependent_outputs"])
        for err in entry["errors"]:
            extra = err.get("extra_info", {})
            extra.pop("traceback", None)
            if err["type"] == "exception_during_inner_validation":
                for key in ("input_name", "input_config", "linked_node"):
                    extra.pop(key, None)
    return body


def test_transcript_has_the_cases() -> None:
    labels = {c["label"] for c in RECORDED}
    assert {
        "missing_required_input",
        "value_above_max",
        "value_below_min",
        "invalid_combo_value_only_output",
        "wrong_value_type_string_for_int",
        "link_to_nonexistent_node",
        "link_output_type_mismatch",
        "link_bad_output_index",
        "no_output_nodes",
        "unknown_class_type",
        "node_missing_class_type",
        "empty_prompt_object",
        "prompt_is_list",
        "one_bad_branch_one_good_output",
    } <= labels


@pytest.mark.parametrize("case", RECORDED, ids=[c["label"] for c in RECORDED])
def test_same_verdict_as_server(case: dict[str, Any]) -> None:
    report = validate_prompt(case["request_json"]["prompt"], _info())
    server = case["json"]
    if case["status"] == 400:
        assert not report.accepted
        assert _normalize(report.body()) == _normalize(
            {"error": server["error"], "node_errors": server["node_errors"]}
        )
    else:
        assert report.accepted
        assert _normalize({"node_errors": report.node_errors}) == _normalize(
            {"node_errors": server["node_errors"]}
        )
        assert report.ok is (not server["node_errors"])


def test_messages_match_prompt_validation_error_lines() -> None:
    case = next(c for c in RECORDED if c["label"] == "value_below_min")
    report = validate_prompt(case["request_json"]["prompt"], _info())
    server_exc = PromptValidationError(case["json"]["error"], case["json"]["node_errors"])
    assert report.to_exception().node_messages() == server_exc.node_messages()
    assert report.messages() == [
        "Prompt outputs failed validation",
        "node 2 (RealityProgress): Value 0 smaller than min of 1: steps",
    ]


@pytest.mark.parametrize("label", ["link_to_nonexistent_node", "link_bad_output_index"])
def test_inner_exception_names_a_real_consumer(label: str) -> None:
    case = next(c for c in RECORDED if c["label"] == label)
    prompt = case["request_json"]["prompt"]
    report = validate_prompt(prompt, _info())
    for node_id, entry in report.node_errors.items():
        extra = entry["errors"][0]["extra_info"]
        consumers = {
            (name, tuple(value))
            for other in prompt.values()
            for name, value in other["inputs"].items()
            if isinstance(value, list) and str(value[0]) == node_id
        }
        assert (extra["input_name"], tuple(extra["linked_node"])) in consumers
        assert extra["input_config"][0] == "IMAGE"


def test_cycle_is_reported_per_node() -> None:
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    report = validate_prompt(prompt, _info())
    assert not report.accepted
    assert list(report.node_errors) == ["2"]
    err = report.node_errors["2"]["errors"][0]
    assert err["type"] == "dependency_cycle" and err["message"] == "Dependency cycle detected"
    assert err["details"] in ("1 -> 2 -> 1", "2 -> 1 -> 2")
    assert report.node_errors["2"]["dependent_outputs"] == ["3"]


def test_every_unknown_type_is_listed() -> None:
    prompt = {
        "1": {"class_type": "Nope1", "inputs": {}},
        "2": {"class_type": "Nope2", "inputs": {}},
        "3": {"class_type": "Nope1", "inputs": {}},
    }
    report = validate_prompt(prompt, _info())
    assert report.error == {
        "type": "invalid_prompt",
        "message": "Cannot execute because node Nope1 does not exist.",
        "details": "Node ID '#1'",
        "extra_info": {},
    }
    assert report.unknown_class_types == {"Nope1": ["1", "3"], "Nope2": ["2"]}


def test_valid_prompt_is_ok_and_value_wrapper_unwrapped() -> None:
    prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": "64", "height": 64.0, "batch_size": 1, "color": 0},
        },
        "2": {
            "class_type": "SaveImage",
            "inputs": {"images": ["1", 0], "filename_prefix": {"__value__": "x"}},
        },
    }
    report = validate_prompt(prompt, _info())
    assert report.ok and report.good_outputs == ["2"]


def test_long_combo_lists_are_summarized_like_the_server() -> None:
    info = ObjectInfo(
        {
            "Pick": {
                "input": {"required": {"c": [[f"v{i}" for i in range(25)], {}]}},
                "output": [],
                "output_node": True,
            },
        }
    )
    report = validate_prompt({"1": {"class_type": "Pick", "inputs": {"c": "zzz"}}}, info)
    err = report.node_errors["1"]["errors"][0]
    assert err["details"] == "c: 'zzz' not in (list of length 25)"
    assert err["extra_info"]["input_config"] is None


def test_bad_link_shape_and_type_error_conversion() -> None:
    prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": None, "height": 64, "batch_size": 1, "color": 0},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0, 9], "filename_prefix": "x"}},
    }
    report = validate_prompt(prompt, _info())
    errors = report.node_errors["2"]["errors"]
    assert errors[0]["type"] == "bad_linked_input" and errors[0]["details"] == "images"
