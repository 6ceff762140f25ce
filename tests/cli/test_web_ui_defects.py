"""UI workflows the web UI converts differently from their graph (legacy group nodes): the CLI says so,
sends the web UI's prompt by default, and the graph's with --fix-frontend-defects (or the config)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comfy_reality import paths
from tests.conftest import CONVERSION_FIXTURES, FIXTURES

from .conftest import invoke

OBJECT_INFO = str(CONVERSION_FIXTURES / "object_info.json")
WARNING = "node 10:0 (KSampler): the web UI leaves input 'seed' unconnected (meant: 99)"


def outer_seed_workflow(tmp_path: Path) -> Path:
    """A PrimitiveNode outside a group node feeding its seed, with a model the embedded server has."""
    workflow: dict[str, Any] = json.loads(
        (FIXTURES / "group_nodes" / "primitive_outside.ui.json").read_text()
    )
    for node in workflow["nodes"]:
        if node["type"] == "CheckpointLoaderSimple":
            node["widgets_values"] = ["demo-sd15.safetensors"]
    path = tmp_path / "outer-seed.json"
    path.write_text(json.dumps(workflow))
    return path


def test_convert_warns_and_gives_the_web_uis_prompt_unless_asked_to_fix(tmp_path: Path) -> None:
    path = outer_seed_workflow(tmp_path)
    as_web_ui = invoke("convert", str(path), "--object-info", OBJECT_INFO)
    assert as_web_ui.exit_code == 0, as_web_ui.stderr
    assert "seed" not in json.loads(as_web_ui.stdout)["10:0"]["inputs"]
    assert WARNING in as_web_ui.stderr and "--fix-frontend-defects" in as_web_ui.stderr
    fixed = invoke("convert", str(path), "--object-info", OBJECT_INFO, "--fix-frontend-defects")
    assert fixed.exit_code == 0, fixed.stderr
    assert json.loads(fixed.stdout)["10:0"]["inputs"]["seed"] == 99
    assert "web UI" not in fixed.stderr


def test_the_config_setting_is_the_default_and_the_flag_overrides_it(tmp_path: Path) -> None:
    path = outer_seed_workflow(tmp_path)
    config = paths.config_file()  # inside this test's private home
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("correct_frontend_defects = true\n")
    by_config = invoke("convert", str(path), "--object-info", OBJECT_INFO)
    assert json.loads(by_config.stdout)["10:0"]["inputs"]["seed"] == 99
    as_web_ui = invoke("convert", str(path), "--object-info", OBJECT_INFO, "--as-web-ui")
    assert "seed" not in json.loads(as_web_ui.stdout)["10:0"]["inputs"]


def test_validate_reports_the_defect_and_the_servers_verdict(server_url: str, tmp_path: Path) -> None:
    path = outer_seed_workflow(tmp_path)
    as_web_ui = invoke("validate", "--server", server_url, "--json", str(path))
    [verdict] = json.loads(as_web_ui.stdout)["workflows"]
    assert as_web_ui.exit_code == 2
    assert verdict["web_ui_defects"] == [WARNING]
    assert any("Required input is missing: seed" in error for error in verdict["errors"])
    fixed = invoke("validate", "--server", server_url, "--json", "--fix-frontend-defects", str(path))
    assert fixed.exit_code == 0, fixed.stdout
    assert json.loads(fixed.stdout)["workflows"][0]["web_ui_defects"] == []


def test_run_sends_the_graph_as_drawn_with_the_flag(server_url: str, tmp_path: Path) -> None:
    path = outer_seed_workflow(tmp_path)
    refused = invoke(
        "run", "--server", server_url, "--output-dir", str(tmp_path / "out"), "--no-journal", str(path)
    )
    assert refused.exit_code == 2 and WARNING in refused.stderr
    ran = invoke(
        "run",
        "--server",
        server_url,
        "--output-dir",
        str(tmp_path / "out"),
        "--no-journal",
        "--fix-frontend-defects",
        str(path),
    )
    assert ran.exit_code == 0, ran.stderr
    [execution] = ran.executions()
    assert execution["status"] == "completed" and execution["outputs"]
