"""load_prompt, the per-server object_info cache, the packaged fallback and /userdata naming helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfy_reality import paths
from comfy_reality.errors import InvalidWorkflowError
from comfy_reality.workflows import (
    MissingNodeTypesError,
    ObjectInfo,
    ObjectInfoCache,
    encode_userdata_path,
    load_prompt,
    packaged_object_info,
    parse_workflow_listing,
    userdata_file_url,
    userdata_list_url,
    workflow_name,
    workflow_userdata_path,
)
from tests.conftest import CONVERSION_FIXTURES

PAIR = CONVERSION_FIXTURES / "pairs-templates-0.1.95" / "image2image"


def _conversion_info() -> ObjectInfo:
    return ObjectInfo.from_json(json.loads((CONVERSION_FIXTURES / "object_info.json").read_text()))


def test_load_prompt_api_file_and_wrapper(tmp_path: Path) -> None:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {}}}
    (tmp_path / "a.json").write_text(json.dumps({"prompt": prompt, "client_id": "x"}))
    assert load_prompt(tmp_path / "a.json") == prompt
    assert load_prompt({1: {"class_type": "EmptyImage", "inputs": {}}}) == prompt  # ids become strings


def test_load_prompt_converts_ui(tmp_path: Path) -> None:
    ui = PAIR.with_suffix(".ui.json")
    expected = json.loads(PAIR.with_suffix(".api.json").read_text())
    assert load_prompt(ui, _conversion_info()) == expected
    with pytest.raises(InvalidWorkflowError, match="needs the server's node list") as info:
        load_prompt(ui)
    assert str(ui) in str(info.value)


def test_load_prompt_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    with pytest.raises(InvalidWorkflowError, match="bad.json: not a ComfyUI workflow: the JSON is a list"):
        load_prompt(bad)
    ui = json.loads(PAIR.with_suffix(".ui.json").read_text())
    ui["nodes"][0]["type"] = "NotInstalledNode"
    ui["nodes"][0]["mode"] = 0
    ui["nodes"][0].setdefault("properties", {})["cnr_id"] = "some-pack"
    with pytest.raises(MissingNodeTypesError, match="NotInstalledNode \\(from node pack some-pack"):
        load_prompt(ui, _conversion_info())


def test_packaged_catalogue_is_the_embedded_servers() -> None:
    info = packaged_object_info()
    assert "KSampler" in info and "RealityProgress" in info
    assert info.is_output_node("SaveImage") and not info.is_output_node("KSampler")


def test_cache_per_server_and_change_detection(isolated_home: Path) -> None:
    cache = ObjectInfoCache()
    assert cache.directory == paths.cache_dir() / "object_info"
    assert cache.get("http://127.0.0.1:8188") is None
    data = {"A": {"input": {}, "output": []}, "B": {"input": {}, "output": []}}
    info, changed = cache.store("http://127.0.0.1:8188/", data)
    assert changed and set(info) == {"A", "B"}
    assert cache.get("http://127.0.0.1:8188").raw == data  # trailing slash does not matter
    assert cache.get("http://other:8188") is None
    assert cache.is_current("http://127.0.0.1:8188", ["B", "A"])
    assert not cache.is_current("http://127.0.0.1:8188", ["A"])
    _, changed = cache.store(
        "http://127.0.0.1:8188", {**data, "A": {"input": {"required": {}}, "output": ["X"]}}
    )
    assert not changed  # same node set
    _, changed = cache.store("http://127.0.0.1:8188", {**data, "C": {"input": {}, "output": []}})
    assert changed
    entry = cache.load("http://127.0.0.1:8188")
    assert entry is not None and entry.node_count == 3 and entry.fetched_at.tzinfo is not None


def test_corrupt_cache_is_dropped() -> None:
    cache = ObjectInfoCache()
    path = cache.path_for("http://x")
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    assert cache.get("http://x") is None and not path.exists()


def test_userdata_helpers() -> None:
    assert workflow_userdata_path("my flow") == "workflows/my flow.json"
    assert workflow_userdata_path("my flow.json") == "workflows/my flow.json"
    for bad in ("", "..", "a/b", ".hidden", "x:y"):
        with pytest.raises(InvalidWorkflowError):
            workflow_userdata_path(bad)
    assert encode_userdata_path("workflows/my flow.json") == "workflows%2Fmy%20flow.json"
    with pytest.raises(InvalidWorkflowError):
        encode_userdata_path("../etc/passwd")
    assert (
        userdata_file_url("workflows/a.json", overwrite=False)
        == "/userdata/workflows%2Fa.json?overwrite=false"
    )
    assert userdata_file_url("workflows/a.json") == "/userdata/workflows%2Fa.json"
    assert userdata_list_url() == "/userdata?dir=workflows&recurse=true&split=false"
    assert workflow_name("workflows/sub/My.json") == "sub/My"
    assert parse_workflow_listing(["b.json", "A.json", "notes.txt", {"path": "sub/c.json"}]) == [
        "workflows/A.json",
        "workflows/b.json",
        "workflows/sub/c.json",
    ]
    assert parse_workflow_listing(None) == []
    with pytest.raises(InvalidWorkflowError):
        parse_workflow_listing({"x": 1})
