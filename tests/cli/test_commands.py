"""queue / history / interrupt / stats / validate / convert / server / --help, against the embedded server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from comfy_reality.cli import COMMANDS

from .conftest import fail_prompt, invoke, progress_prompt, save_image_prompt, unique, write_workflow

ROOT = Path(__file__).resolve().parents[2]
CONVERSION = ROOT / "tests" / "fixtures" / "conversion"


def post(server_url: str, prompt: dict) -> str:
    response = httpx.post(f"{server_url}/prompt", json={"prompt": prompt, "client_id": "cli-tests"})
    response.raise_for_status()
    return str(response.json()["prompt_id"])


def wait_until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def running_ids(server_url: str) -> list[str]:
    return [item[1] for item in httpx.get(f"{server_url}/queue").json()["queue_running"]]


def test_queue_interrupt_history_round_trip(server_url: str) -> None:
    slow = post(server_url, progress_prompt(steps=20_000, delay=0.5, color=unique()))
    pending = post(server_url, save_image_prompt(unique()))
    try:
        wait_until(lambda: running_ids(server_url) == [slow])
        queue = invoke("queue", "--server", server_url, "--json")
        assert queue.exit_code == 0
        data = json.loads(queue.stdout)
        assert [i["prompt_id"] for i in data["running"]] == [slow]
        assert [i["prompt_id"] for i in data["pending"]] == [pending]
        assert data["running"][0]["nodes"] == 3 and data["running"][0]["client_id"] == "cli-tests"
        # This server (as ComfyUI before its jobs API) gives no queue time: the age is unknown, not 0.
        assert [i["age"] for i in data["running"] + data["pending"]] == [None, None]

        human = invoke("queue", "--server", server_url)
        assert "1 running, 1 pending" in human.stdout and slow[:8] in human.stdout
        assert " 0s " not in human.stdout

        other = invoke("interrupt", "--server", server_url, "--json", pending)
        assert json.loads(other.stdout)["interrupted"] is None  # only pending: nothing stopped
        assert running_ids(server_url) == [slow]

        stopped = invoke("interrupt", "--server", server_url, "--json")
        assert stopped.exit_code == 0
        assert json.loads(stopped.stdout) == {"server": server_url, "interrupted": slow, "running": [slow]}
        wait_until(lambda: slow in httpx.get(f"{server_url}/history/{slow}").json())
    finally:
        httpx.post(f"{server_url}/interrupt", json={})
    wait_until(lambda: pending in httpx.get(f"{server_url}/history/{pending}").json())

    history = invoke("history", "--server", server_url, "--json", "--limit", "2")
    assert history.exit_code == 0
    entries = {e["prompt_id"]: e for e in json.loads(history.stdout)["history"]}
    assert entries[slow]["status"] == "interrupted"
    assert entries[pending]["status"] == "success" and entries[pending]["outputs"]
    assert entries[pending]["duration"] is not None
    human = invoke("history", "--server", server_url, "--limit", "2")
    assert "interrupted" in human.stdout and "success" in human.stdout

    idle = invoke("interrupt", "--server", server_url)
    assert "Nothing is running" in idle.stdout


def test_history_shows_the_error_of_a_failed_prompt(server_url: str) -> None:
    prompt_id = post(server_url, fail_prompt("history error", unique()))
    wait_until(lambda: prompt_id in httpx.get(f"{server_url}/history/{prompt_id}").json())
    result = invoke("history", "--server", server_url, "--json", "--limit", "1")
    [entry] = json.loads(result.stdout)["history"]
    assert entry["prompt_id"] == prompt_id and entry["status"] == "error"
    assert entry["error"]["node_id"] == "2" and "history error" in entry["error"]["exception_message"]


def test_stats_json_and_table(server_url: str) -> None:
    result = invoke("stats", "--server", server_url, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["system"]["comfyui_version"] and data["devices"]
    table = invoke("stats", "--server", server_url)
    assert "comfyui_version" in table.stdout and "Devices" in table.stdout


@pytest.mark.parametrize("command", ["queue", "history", "interrupt", "stats"])
def test_server_commands_exit_3_when_down(command: str, down_url: str) -> None:
    result = invoke(command, "--server", down_url)
    assert result.exit_code == 3
    assert f"Cannot reach ComfyUI at {down_url}" in result.stderr


def test_validate_against_the_server(server_url: str, tmp_path: Path) -> None:
    good = write_workflow(tmp_path, "good", save_image_prompt())
    bad_prompt = save_image_prompt()
    bad_prompt["1"]["inputs"]["width"] = 0
    bad = write_workflow(tmp_path, "bad", bad_prompt)
    ok = invoke("validate", "--server", server_url, "--json", str(good))
    assert ok.exit_code == 0
    [verdict] = json.loads(ok.stdout)["workflows"]
    assert verdict["valid"] and verdict["checked_against"] == server_url and verdict["nodes"] == 2

    result = invoke("validate", "--server", server_url, str(good), str(bad))
    assert result.exit_code == 2
    assert f"✓ {good}: valid" in result.stdout
    # The same message the server gives when the prompt is POSTed.
    server_says = httpx.post(f"{server_url}/prompt", json={"prompt": bad_prompt}).json()
    detail = server_says["node_errors"]["1"]["errors"][0]
    assert f"node 1 (EmptyImage): {detail['message']}: {detail['details']}" in result.stderr


def test_validate_locally_when_the_server_is_down(down_url: str, tmp_path: Path) -> None:
    linked = save_image_prompt()
    linked["2"]["inputs"]["images"] = ["7", 0]
    broken = write_workflow(tmp_path, "dangling", linked)
    good = write_workflow(tmp_path, "good", save_image_prompt())
    result = invoke("validate", "--server", down_url, "--json", str(broken), str(good))
    assert result.exit_code == 2
    verdicts = {Path(v["workflow"]).name: v for v in json.loads(result.stdout)["workflows"]}
    assert verdicts["good.json"]["valid"] and verdicts["good.json"]["checked_against"] is None
    assert any("links to node 7" in e for e in verdicts["dangling.json"]["errors"])
    assert any("not reachable" in n for n in verdicts["good.json"]["notes"])
    not_json = tmp_path / "x.json"
    not_json.write_text("{", encoding="utf-8")
    offline = invoke("validate", "--offline", str(not_json))
    assert offline.exit_code == 2 and "not valid JSON" in offline.stderr


def test_convert_ui_workflow_with_object_info_file(tmp_path: Path) -> None:
    pairs = sorted((CONVERSION / "pairs").glob("*.ui.json"))
    assert pairs, "conversion fixtures missing"
    ui = pairs[0]
    expected = json.loads(ui.with_name(ui.name.replace(".ui.json", ".api.json")).read_text())
    out = tmp_path / "api.json"
    result = invoke("convert", str(ui), "--object-info", str(CONVERSION / "object_info.json"), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    converted = json.loads(out.read_text())
    assert {k: v["class_type"] for k, v in converted.items()} == {
        k: v["class_type"] for k, v in expected.items()
    }
    assert "Wrote the API prompt" in result.stderr


def test_convert_api_input_is_unchanged_and_ui_needs_a_catalogue(tmp_path: Path, down_url: str) -> None:
    prompt = save_image_prompt(3)
    api = write_workflow(tmp_path, "api", prompt)
    result = invoke("convert", str(api))
    assert result.exit_code == 0 and json.loads(result.stdout) == prompt
    ui = sorted((CONVERSION / "pairs").glob("*.ui.json"))[0]
    no_catalogue = invoke("convert", str(ui), "--server", down_url)
    assert no_catalogue.exit_code == 3 and "--object-info" in no_catalogue.stderr


def test_every_command_has_help_and_there_is_a_version() -> None:
    for command in COMMANDS:
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout, command
    version = invoke("--version")
    assert version.exit_code == 0 and "comfy-reality, version" in version.stdout


def test_environment_and_config_file_supply_the_server(
    tmp_path: Path, server_url: str, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.setenv("COMFYUI_URL", server_url)
    assert invoke("stats", "--json").exit_code == 0
    monkeypatch.delenv("COMFYUI_URL")
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'server_url = "{server_url}"\n')
    assert invoke("stats", "--json").exit_code == 0
    config.write_text("server_url = 12\n")
    broken = invoke("stats")
    assert broken.exit_code == 2 and "config" in broken.stderr


def test_server_command_reports_a_taken_port(server_url: str) -> None:
    port = server_url.rsplit(":", 1)[1]
    result = invoke("server", "--port", port)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_convert_asks_the_server_for_its_catalogue(server_url: str, tmp_path: Path) -> None:
    from .test_run import ui_workflow

    ui = write_workflow(tmp_path, "editor", ui_workflow(4))
    result = invoke("convert", "--server", server_url, str(ui))
    assert result.exit_code == 0, result.stderr
    prompt = json.loads(result.stdout)
    assert prompt["1"]["class_type"] == "EmptyImage" and prompt["1"]["inputs"]["color"] == 4
    assert prompt["2"]["inputs"] == {"filename_prefix": "ui_run", "images": ["1", 0]}
    # What convert prints is what the server accepts.
    assert httpx.post(f"{server_url}/prompt", json={"prompt": prompt}).status_code == 200
