"""Hostile workflow files through the public load/validate/scan functions: huge, deeply nested,
cyclic, self-containing subgraphs, not UTF-8. Each gives a clear InvalidWorkflowError (or a clear
validation message) naming the problem, in bounded time, never a crash."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.runtime import InvalidWorkflowError
from comfy_reality.workflows import (
    MAX_FILE_BYTES,
    load_prompt,
    packaged_object_info,
    scan_workflows,
    validate_prompt,
)

pytestmark = pytest.mark.timeout(60)

OBJECT_INFO = packaged_object_info()


def ui_node(
    node_id: int,
    node_type: str,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    widgets: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "mode": 0,
        "inputs": inputs or [],
        "outputs": outputs or [],
        "widgets_values": widgets or [],
        "properties": {},
    }


def cyclic_ui_workflow() -> dict[str, Any]:
    """Two ImageInvert nodes feeding each other, plus a SaveImage of one of them."""
    return {
        "last_node_id": 3,
        "last_link_id": 3,
        "version": 0.4,
        "nodes": [
            ui_node(
                1,
                "ImageInvert",
                [{"name": "image", "type": "IMAGE", "link": 2}],
                [{"name": "IMAGE", "type": "IMAGE", "links": [1, 3]}],
            ),
            ui_node(
                2,
                "ImageInvert",
                [{"name": "image", "type": "IMAGE", "link": 1}],
                [{"name": "IMAGE", "type": "IMAGE", "links": [2]}],
            ),
            ui_node(3, "SaveImage", [{"name": "images", "type": "IMAGE", "link": 3}], [], ["cyc"]),
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 1, 0, "IMAGE"], [3, 1, 0, 3, 0, "IMAGE"]],
    }


def self_containing_subgraph() -> dict[str, Any]:
    sub_id = "7f1c2a9e-0000-4000-8000-00000000beef"
    inner = {
        "id": sub_id,
        "name": "loop",
        "nodes": [ui_node(1, sub_id)],
        "links": [],
        "inputs": [],
        "outputs": [],
    }
    return {
        "last_node_id": 1,
        "last_link_id": 0,
        "version": 0.4,
        "nodes": [ui_node(1, sub_id)],
        "links": [],
        "definitions": {"subgraphs": [inner]},
    }


def assert_clear(exc: InvalidWorkflowError, path: Path | None, *words: str) -> None:
    text = str(exc)
    if path is not None:
        assert str(path) in text, text
    for word in words:
        assert word in text, text


def elapsed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    try:
        result = fn(*args)
    except InvalidWorkflowError as exc:
        result = exc
    return result, time.perf_counter() - start


def test_a_file_above_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is really written
    result, seconds = elapsed(load_prompt, path)
    assert isinstance(result, InvalidWorkflowError)
    assert_clear(result, path, "limit")
    assert seconds < 1.0


def test_a_huge_but_allowed_prompt_loads_and_validates_in_bounded_time(tmp_path: Path) -> None:
    count = 100_000
    prompt: dict[str, Any] = {
        "0": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}
    }
    for i in range(1, count):
        prompt[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    prompt["out"] = {
        "class_type": "SaveImage",
        "inputs": {"images": [str(count - 1), 0], "filename_prefix": "x"},
    }
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(prompt))
    loaded, seconds = elapsed(load_prompt, path)
    assert isinstance(loaded, dict) and len(loaded) == count + 1
    report, validate_seconds = elapsed(validate_prompt, loaded, OBJECT_INFO)
    assert report.messages() is not None
    assert seconds + validate_seconds < 30


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_refused_clearly(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "nested.json"
    path.write_text('{"1": {"class_type": "X", "inputs": ' + "[" * depth + "]" * depth + "}}")
    result, seconds = elapsed(load_prompt, path)
    assert isinstance(result, InvalidWorkflowError)
    assert_clear(result, path, "nesting is too deep")
    assert seconds < 5


def test_a_cyclic_api_graph_gets_a_validation_message_naming_the_cycle() -> None:
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    report, seconds = elapsed(validate_prompt, load_prompt(prompt), OBJECT_INFO)
    assert not report.ok
    assert any("cycle" in message.lower() for message in report.messages()), report.messages()
    assert seconds < 5


def test_a_cyclic_ui_graph_is_converted_or_refused_and_then_caught(tmp_path: Path) -> None:
    path = tmp_path / "cyclic-ui.json"
    path.write_text(json.dumps(cyclic_ui_workflow()))
    result, seconds = elapsed(load_prompt, path, OBJECT_INFO)
    assert seconds < 5
    if isinstance(result, InvalidWorkflowError):
        assert_clear(result, path)
    else:
        report = validate_prompt(result, OBJECT_INFO)
        assert not report.ok
        assert any("cycle" in message.lower() for message in report.messages()), report.messages()


def test_a_subgraph_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "recursive-subgraph.json"
    path.write_text(json.dumps(self_containing_subgraph()))
    result, seconds = elapsed(load_prompt, path, OBJECT_INFO)
    assert isinstance(result, InvalidWorkflowError)
    assert_clear(result, None, "subgraph", "contains itself")
    assert seconds < 5


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"1": {"class_type": "Caf\xe9", "inputs": {}}}'.encode("latin-1"), ["not UTF-8", "offset"]),
        ('{"1": {"class_type": "X", "inputs": {}}}'.encode("utf-16"), ["not UTF-8"]),
        (bytes(range(256)) * 4, ["not UTF-8"]),
        (b"", ["empty"]),
        (b"   \n\t ", ["empty"]),
        (b'{"1": {"class_type": "X", "inputs": {"v": NaN', ["not valid JSON"]),
        (b"\xef\xbb\xbf[1, 2, 3]", ["not a ComfyUI workflow"]),
        (b'"just a string"', ["not a ComfyUI workflow"]),
    ],
    ids=["latin-1", "utf-16", "binary", "empty", "blank", "truncated", "list-with-bom", "string"],
)
def test_unreadable_files_give_clear_errors(tmp_path: Path, content: bytes, words: list[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result, _ = elapsed(load_prompt, path)
    assert isinstance(result, InvalidWorkflowError), result
    assert_clear(result, path, *words)


def test_a_library_of_hostile_files_is_listed_with_errors_never_raised(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "latin1.json").write_bytes('{"a": "\xe9"}'.encode("latin-1"))
    (folder / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "cyclic-ui.json").write_text(json.dumps(cyclic_ui_workflow()))
    (folder / "recursive.json").write_text(json.dumps(self_containing_subgraph()))
    with (folder / "huge.json").open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    (folder / "fine.json").write_text(
        json.dumps(
            {
                "1": {
                    "class_type": "EmptyImage",
                    "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0},
                },
                "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "ok"}},
            }
        )
    )
    start = time.perf_counter()
    files = scan_workflows([("test", folder)])
    assert time.perf_counter() - start < 10
    by_name = {Path(f.path).name: f for f in files}
    assert by_name["fine.json"].error is None
    for name in ("latin1.json", "nested.json", "huge.json"):
        assert by_name[name].error, name
    assert "not UTF-8" in (by_name["latin1.json"].error or "")
    assert "too deep" in (by_name["nested.json"].error or "")
    assert "limit" in (by_name["huge.json"].error or "")
