"""Format detection and the library scan, including every kind of broken file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfy_reality.errors import InvalidWorkflowError
from comfy_reality.workflows import (
    WorkflowFormat,
    WorkflowReadError,
    detect_format,
    read_json_file,
    save_workflow,
    scan_workflows,
)
from tests.conftest import CONVERSION_FIXTURES

API = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
}
UI_FILE = CONVERSION_FIXTURES / "pairs" / "3d_hunyuan3d-v2.1.ui.json"


def test_detect_api_and_wrapper() -> None:
    assert detect_format(API) == (WorkflowFormat.API, None)
    assert detect_format({"prompt": API, "client_id": "x"}) == (WorkflowFormat.API, None)


def test_detect_ui() -> None:
    assert detect_format(json.loads(UI_FILE.read_text()))[0] is WorkflowFormat.UI
    assert detect_format({"nodes": [{"id": 1, "type": "KSampler"}]}) == (WorkflowFormat.UI, None)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "is a list"),
        ("text", "is a str"),
        ({}, "empty"),
        ({"1": {"inputs": {}}}, "node '1' has no class_type"),
        ({"1": {"class_type": "X", "inputs": []}}, "inputs must be an object"),
        ({"1": 5, "2": {"class_type": "X"}}, "node '1' is a int"),
        ({"a": 1, "b": "c"}, "neither an API prompt"),
        ({"prompt": {"1": {"inputs": {}}}}, "prompt wrapper"),
        ({"nodes": {}, "links": []}, "nodes must be a list"),
        ({"nodes": [{"id": 1}], "links": []}, "has no id or type"),
    ],
)
def test_detect_invalid_reasons(data: object, fragment: str) -> None:
    fmt, reason = detect_format(data)
    assert fmt is WorkflowFormat.INVALID
    assert reason is not None and fragment in reason


def test_read_json_file_errors(tmp_path: Path) -> None:
    cases = {
        "empty.json": (b"", "empty"),
        "blank.json": (b"  \n", "empty"),
        "latin1.json": ('{"a": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
        "broken.json": (b'{"a": ', "not valid JSON"),
        "deep.json": (b"[" * 5000 + b"]" * 5000, "nesting is too deep"),
        "deep_ok_parse.json": (b"[" * 300 + b"]" * 300, "nesting is too deep"),
    }
    for name, (raw, fragment) in cases.items():
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(WorkflowReadError, match=fragment) as info:
            read_json_file(path)
        assert str(path) in str(info.value)
    with pytest.raises(WorkflowReadError, match="no such file"):
        read_json_file(tmp_path / "missing.json")


def test_size_cap_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    path.write_bytes(b'{"a": "' + b"x" * 2048 + b'"}')
    with pytest.raises(WorkflowReadError, match=r"2.0 KB, above the 1.0 KB limit"):
        read_json_file(path, max_bytes=1024)


def _write(directory: Path, name: str, content: bytes | str | object) -> Path:
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_scan_lists_everything_with_errors(tmp_path: Path) -> None:
    user = tmp_path / "user"
    bundled = tmp_path / "bundled"
    user.mkdir()
    bundled.mkdir()
    _write(bundled, "good.json", API)
    _write(
        bundled, "good.md", "# Good workflow\n\nMakes a **tiny** image and saves it.\nSecond line.\n\nMore."
    )
    _write(bundled, "wrapped.json", {"prompt": API})
    _write(bundled, "wrapped.txt", "Wrapped prompt from a tool.")
    (user / "ui.json").write_bytes(UI_FILE.read_bytes())
    _write(user, "notjson.json", "{nope")
    _write(user, "latin.json", "caf\xe9".encode("latin-1"))
    _write(user, "list.json", [1, 2])
    _write(user, "empty.json", "")
    _write(user, "deep.json", "[" * 3000 + "]" * 3000)
    _write(user, "noclass.json", {"1": {"inputs": {}}})
    _write(
        user,
        "cyclic.json",
        {
            "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        },
    )
    _write(user, "huge.json", {"1": {"class_type": "X", "inputs": {"t": "y" * 70000}}})
    _write(user, "notes.txt", "not listed: not .json")
    (user / "dir.json").mkdir()

    entries = scan_workflows(
        [("user", user), ("bundled", bundled), ("missing", tmp_path / "nope")], max_bytes=65536
    )
    by_name = {e.name: e for e in entries}
    assert [e.name for e in entries if e.source == "bundled"] == ["good", "wrapped"]
    assert set(by_name) == {
        "good",
        "wrapped",
        "ui",
        "notjson",
        "latin",
        "list",
        "empty",
        "deep",
        "noclass",
        "cyclic",
        "huge",
    }
    good = by_name["good"]
    assert good.ok and good.format is WorkflowFormat.API and good.node_count == 2
    assert good.description == "Makes a tiny image and saves it. Second line."
    assert good.class_types == ["EmptyImage", "SaveImage"]
    assert (
        by_name["wrapped"].format is WorkflowFormat.API
        and by_name["wrapped"].description == "Wrapped prompt from a tool."
    )
    ui = by_name["ui"]
    assert ui.ok and ui.format is WorkflowFormat.UI and ui.source == "user"
    assert "SaveGLB" in ui.class_types and "MarkdownNote" not in ui.class_types
    assert not any("-" in t and len(t) == 36 for t in ui.class_types)  # subgraph ids are not node types
    assert ui.node_count == 10  # 2 top-level nodes + 8 inside the subgraph
    assert ui.description
    expected_errors = {
        "notjson": "not valid JSON",
        "latin": "not UTF-8",
        "list": "is a list",
        "empty": "empty",
        "deep": "too deep",
        "noclass": "has no class_type",
        "cyclic": "dependency cycle: ",
        "huge": "above the 64.0 KB limit",
    }
    for name, fragment in expected_errors.items():
        entry = by_name[name]
        assert entry.error and fragment in entry.error, (name, entry.error)
        assert not entry.ok
    assert by_name["cyclic"].format is WorkflowFormat.API
    assert "1 -> 2 -> 1" in (by_name["cyclic"].error or "") or "2 -> 1 -> 2" in (
        by_name["cyclic"].error or ""
    )


def test_ui_description_from_markdown_note() -> None:
    data = {
        "nodes": [
            {"id": 1, "type": "KSampler", "pos": [0, 0]},
            {"id": 2, "type": "MarkdownNote", "pos": [500, 0], "widgets_values": ["## Later\n\nsecond note"]},
            {
                "id": 3,
                "type": "Note",
                "pos": [0, -100],
                "widgets_values": ["# Title\n\nFirst [link](http://x) text."],
            },
        ],
        "links": [],
    }
    from comfy_reality.workflows.library import ui_description

    assert ui_description(data) == "First link text."


def test_save_workflow_atomic_no_overwrite(tmp_path: Path) -> None:
    path = save_workflow(API, tmp_path / "lib", "My flow/../x", description="A flow.")
    assert path.parent == tmp_path / "lib" and path.name == "My flow_.._x.json"
    assert json.loads(path.read_text()) == API
    assert path.with_suffix(".md").read_text() == "A flow.\n"
    with pytest.raises(FileExistsError, match="already exists"):
        save_workflow(API, tmp_path / "lib", "My flow/../x")
    changed = {**API, "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    save_workflow(changed, tmp_path / "lib", "My flow/../x", overwrite=True)
    assert json.loads(path.read_text()) == changed
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    with pytest.raises(InvalidWorkflowError, match="refusing to save"):
        save_workflow({"x": 1}, tmp_path / "lib", "bad")
    with pytest.raises(InvalidWorkflowError, match="not usable"):
        save_workflow(API, tmp_path / "lib", "...")


def test_scan_with_catalogue_lists_missing_node_types(tmp_path: Path) -> None:
    from comfy_reality.workflows import ObjectInfo

    info = ObjectInfo({"EmptyImage": {"input": {}, "output": ["IMAGE"]}})
    _write(tmp_path, "api.json", API)
    ui = json.loads(UI_FILE.read_text())
    ui["nodes"][0].setdefault("properties", {})["cnr_id"] = "comfy-core"
    _write(tmp_path, "ui.json", ui)
    entries = {e.name: e for e in scan_workflows([("x", tmp_path)], object_info=info)}
    assert entries["api"].missing_node_types == ["SaveImage"] and entries["api"].ok
    assert any(m.startswith("SaveGLB") for m in entries["ui"].missing_node_types)
    assert all(e.missing_node_types == [] for e in scan_workflows([("x", tmp_path)]))


def test_first_paragraph_prefers_prose() -> None:
    from comfy_reality.workflows.library import first_paragraph

    text = (
        "## Guide\n\nTutorial\n\n```\nComfyUI/\n├── models/\n```\n\n"
        "To use it, you must:\n\n| a | b |\n|---|---|\n\n"
        "> - This workflow turns a **sketch** into a [clean render](http://x) in two passes.\n\nLater text."
    )
    assert first_paragraph(text) == "This workflow turns a sketch into a clean render in two passes."
    assert first_paragraph("Tutorial\n\nDocs") == "Tutorial"
    assert first_paragraph("# only a heading") is None
    assert first_paragraph("word " * 200, limit=20) == "word word word word…"
