"""`comfy-reality run` against the embedded server: exit codes, NDJSON, outputs, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import (
    fail_prompt,
    invoke,
    progress_prompt,
    save_image_prompt,
    unique,
    write_workflow,
)


def test_success_saves_outputs_and_reports_ndjson(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "ok", save_image_prompt(unique()))
    out = tmp_path / "out"
    result = invoke("run", "--server", server_url, "--output-dir", str(out), str(workflow))
    assert result.exit_code == 0, result.stderr
    events = result.events()
    kinds = {(e.get("task_type"), e["event"]) for e in events}
    assert ("workflow", "created") in kinds and ("workflow", "completed") in kinds
    assert ("node", "completed") in kinds
    node_names = {e["name"] for e in events if e.get("task_type") == "node"}
    assert any("SaveImage" in name for name in node_names)
    assert all("time" in e and e["time"].endswith("+00:00") for e in events)  # aware UTC
    [execution] = result.executions()
    assert execution["status"] == "completed"
    assert execution["workflow"] == str(workflow)
    assert execution["prompt_id"] and execution["duration"] is not None
    assert execution["started_at"] <= execution["completed_at"]
    [saved] = execution["outputs"]
    saved_path = Path(saved)
    assert saved_path.parent == out and saved_path.read_bytes().startswith(b"\x89PNG")
    # The prompt id of every event line of this run is the execution's.
    assert {e.get("prompt_id") for e in events if e.get("prompt_id")} == {execution["prompt_id"]}


def test_outputs_never_overwrite(server_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = []
    for _ in range(2):
        workflow = write_workflow(tmp_path, "same", save_image_prompt(unique(), prefix="clash"))
        result = invoke("run", "--server", server_url, "--output-dir", str(out), str(workflow))
        assert result.exit_code == 0, result.stderr
        paths.extend(result.executions()[0]["outputs"])
    names = sorted(Path(p).name for p in paths)
    assert len(set(names)) == 2
    assert len(list(out.iterdir())) == 2


def test_default_output_dir_is_the_current_directory(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "cwd", save_image_prompt(unique()))
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = invoke("run", "--server", server_url, str(workflow), cwd=workdir)
    assert result.exit_code == 0, result.stderr
    [saved] = result.executions()[0]["outputs"]
    assert Path(saved).parent.resolve() == workdir.resolve()


def test_failed_execution_exits_1_with_the_error(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "fails", fail_prompt("the test says no", unique()))
    result = invoke("run", "--server", server_url, "--output-dir", str(tmp_path), str(workflow))
    assert result.exit_code == 1
    [execution] = result.executions()
    assert execution["status"] == "failed"
    assert execution["error"]["node_id"] == "2"
    assert "the test says no" in execution["error"]["exception_message"]
    failed = [e for e in result.events() if e["event"] == "failed" and e.get("node_id") == "2"]
    assert failed and "the test says no" in failed[0]["error"]
    # The node after the failure never ran and says why.
    never = [e for e in result.events() if e["event"] == "cancelled" and e.get("node_id") == "3"]
    assert never and never[0].get("status_detail")


def test_server_validation_error_exits_2_with_node_messages(server_url: str, tmp_path: Path) -> None:
    prompt = save_image_prompt(unique())
    prompt["1"]["inputs"]["width"] = 0  # below EmptyImage's min of 1
    workflow = write_workflow(tmp_path, "invalid", prompt)
    result = invoke("run", "--server", server_url, str(workflow))
    assert result.exit_code == 2
    [execution] = result.executions()
    assert execution["status"] == "rejected"
    messages = execution["error"]["node_errors"]
    assert any(m.startswith("node 1 (EmptyImage)") and "width" in m for m in messages)


def test_several_workflows_one_failing(server_url: str, tmp_path: Path) -> None:
    good = write_workflow(tmp_path, "good", save_image_prompt(unique()))
    bad = write_workflow(tmp_path, "bad", fail_prompt("second fails", unique()))
    result = invoke("run", "--server", server_url, "--output-dir", str(tmp_path / "o"), str(good), str(bad))
    assert result.exit_code == 1
    statuses = {e["name"]: e["status"] for e in result.executions()}
    assert statuses == {"good": "completed", "bad": "failed"}


def test_server_down_exits_3_with_a_clear_message(down_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "ok", save_image_prompt(unique()))
    result = invoke("run", "--server", down_url, str(workflow))
    assert result.exit_code == 3
    assert f"Cannot reach ComfyUI at {down_url}" in result.stderr
    assert "comfy-reality server" in result.stderr  # says what to do


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a workflow is a JSON object"),
        ('{"1": {"inputs": {}}}', "has no class_type"),
    ],
)
def test_invalid_workflow_files_exit_2_naming_the_file(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    result = invoke("run", "--server", "http://127.0.0.1:9", str(path))
    assert result.exit_code == 2
    assert str(path) in result.stderr and expected in result.stderr


def test_missing_file_bad_url_and_bad_set_are_usage_errors(tmp_path: Path) -> None:
    missing = invoke("run", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2 and "nope.json" in missing.stderr and "no such file" in missing.stderr
    workflow = write_workflow(tmp_path, "ok", save_image_prompt())
    bad_url = invoke("run", "--server", "localhost:8188", str(workflow))
    assert bad_url.exit_code == 2 and "invalid server URL" in bad_url.stderr and "http://" in bad_url.stderr
    bad_set = invoke("run", "--set", "seed42", str(workflow))
    assert bad_set.exit_code == 2 and "NODE.INPUT=VALUE" in bad_set.stderr
    no_args = invoke("run")
    assert no_args.exit_code == 2


def test_set_overrides_inputs_and_rejects_unknown_nodes(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "ok", save_image_prompt(unique()))
    bad = invoke("run", "--server", server_url, "--set", "99.width=16", str(workflow))
    assert bad.exit_code == 2 and "99" in bad.stderr
    good = invoke(
        "run",
        "--server",
        server_url,
        "--output-dir",
        str(tmp_path / "o"),
        "--set",
        "1.width=16",
        str(workflow),
    )
    assert good.exit_code == 0, good.stderr
    history = httpx.get(f"{server_url}/history/{good.executions()[0]['prompt_id']}").json()
    [entry] = history.values()
    assert entry["prompt"][2]["1"]["inputs"]["width"] == 16


def test_progress_lines_are_throttled(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "flood", progress_prompt(steps=2000, delay=0.0, color=unique()))
    result = invoke("run", "--server", server_url, str(workflow))
    assert result.exit_code == 0, result.stderr
    progress = [e for e in result.events() if e["event"] == "progress" and e.get("node_id") == "2"]
    execution = result.executions()[0]
    allowed = 4 * (execution["duration"] + 1) + 2
    assert 1 <= len(progress) <= allowed, (len(progress), execution["duration"])
    completed = [e for e in result.events() if e["event"] == "completed" and e.get("node_id") == "2"]
    assert completed and completed[0]["progress"] == 1.0


def test_ctrl_c_interrupts_the_prompt_on_the_server(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "slow", progress_prompt(steps=20_000, delay=0.5, color=unique()))
    env = {**os.environ, "COMFY_REALITY_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfy_reality.cli", "run", "--json", "--server", server_url, str(workflow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    prompt_id = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("event") == "progress" and event.get("node_id") == "2":
                prompt_id = event["prompt_id"]
                break
            assert time.monotonic() < deadline, "no progress from the slow node"
        assert prompt_id is not None
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert f"prompt {prompt_id} (slow) was interrupted on the server" in stderr
    final = [json.loads(line) for line in stdout.splitlines() if '"execution"' in line]
    assert final and final[-1]["status"] == "cancelled"
    # The server agrees: the prompt is in its history as interrupted, and nothing runs.
    entry = httpx.get(f"{server_url}/history/{prompt_id}").json()[prompt_id]
    assert any(kind == "execution_interrupted" for kind, _ in entry["status"]["messages"])
    assert httpx.get(f"{server_url}/queue").json()["queue_running"] == []


def test_run_path_imports_no_textual_no_aiohttp_and_no_structlog(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "lean", save_image_prompt(unique()))
    probe = (
        "import sys, json\n"
        "from comfy_reality.cli import main\n"
        "try:\n"
        f"    main(['run', '--json', '--server', {server_url!r}, '--output-dir', {str(tmp_path)!r}, {str(workflow)!r}])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'aiohttp', 'structlog')\n"
        "               or m.startswith(('comfy_reality.tui', 'comfy_reality.server')))\n"
        "sys.stderr.write('PROBE ' + json.dumps({'code': code, 'heavy': heavy}) + '\\n')\n"
    )
    env = {**os.environ, "COMFY_REALITY_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    [report] = [line for line in done.stderr.splitlines() if line.startswith("PROBE ")]
    probe_result = json.loads(report.removeprefix("PROBE "))
    assert probe_result["code"] == 0, done.stderr
    assert probe_result["heavy"] == []


def ui_workflow(color: int) -> dict:
    return {
        "last_node_id": 2,
        "last_link_id": 1,
        "nodes": [
            {
                "id": 1,
                "type": "EmptyImage",
                "pos": [0, 0],
                "mode": 0,
                "inputs": [],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1], "slot_index": 0}],
                "widgets_values": [8, 8, 1, color],
            },
            {
                "id": 2,
                "type": "SaveImage",
                "pos": [300, 0],
                "mode": 0,
                "inputs": [{"name": "images", "type": "IMAGE", "link": 1}],
                "outputs": [],
                "widgets_values": ["ui_run"],
            },
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"]],
        "version": 0.4,
    }


def test_ui_format_workflow_is_converted_with_the_servers_catalogue(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "from_editor", ui_workflow(unique() % 255))
    result = invoke(
        "run",
        "--server",
        server_url,
        "--output-dir",
        str(tmp_path / "o"),
        "--set",
        "1.width=12",
        str(workflow),
    )
    assert result.exit_code == 0, result.stderr
    [execution] = result.executions()
    assert execution["status"] == "completed" and Path(execution["outputs"][0]).name.startswith("ui_run")
    entry = httpx.get(f"{server_url}/history/{execution['prompt_id']}").json()[execution["prompt_id"]]
    assert entry["prompt"][2]["1"]["inputs"]["width"] == 12
    names = {e["name"] for e in result.events() if e.get("task_type") == "node"}
    assert "Save Image #2" in names  # the title from the editor names the node


def test_problems_also_reach_stderr_in_json_mode(server_url: str, tmp_path: Path) -> None:
    prompt = save_image_prompt(unique())
    prompt["1"]["inputs"]["width"] = 0
    rejected = write_workflow(tmp_path, "rejected", prompt)
    failing = write_workflow(tmp_path, "failing", fail_prompt("visible on stderr", unique()))
    result = invoke("run", "--server", server_url, str(rejected), str(failing))
    assert result.exit_code == 2  # invalid beats failed
    assert "✗ rejected: Server rejected the prompt" in result.stderr
    assert "  node 1 (EmptyImage): " in result.stderr
    assert "✗ failing failed in node 2 (RealityFail): RuntimeError: visible on stderr" in result.stderr
    assert "comfy-reality validate" in result.stderr


def test_terminal_mode_draws_the_live_table_and_a_summary(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    import rich.console

    from comfy_reality.cli._common import settings_for
    from comfy_reality.cli.run import RunCommand, read_workflow

    console = rich.console.Console(record=True, width=140, height=40, color_system=None, force_terminal=False)
    monkeypatch.setattr(rich.console, "Console", lambda *args, **kwargs: console)
    good = read_workflow(write_workflow(tmp_path, "drawn", save_image_prompt(unique())))
    bad = read_workflow(write_workflow(tmp_path, "broken", fail_prompt("drawn failure", unique())))
    command = RunCommand(
        [good, bad],
        settings=settings_for(server_url),
        overrides={},
        output_dir=tmp_path / "o",
        json_mode=False,
    )
    assert asyncio.run(command.main()) == 1
    table = console.export_text()
    assert "drawn" in table and "✓ completed" in table
    failed_rows = [line for line in table.splitlines() if "✗ failed: drawn failure" in line]
    assert any("broken" in row for row in failed_rows) and any("RealityFail #2" in row for row in failed_rows)
    assert any("PreviewImage #3" in line and "⊘ cancelled: not run" in line for line in table.splitlines())
    assert "SaveImage #2" in table and "RealityFail #2" in table
    out = capsys.readouterr()
    assert "✓ drawn completed in" in out.out and f"saved {tmp_path / 'o'}" in out.out
    assert "✗ broken failed in node 2 (RealityFail): RuntimeError: drawn failure" in out.err


def test_run_works_off_the_main_thread(server_url: str, tmp_path: Path) -> None:
    import threading

    workflow = write_workflow(tmp_path, "threaded", save_image_prompt(unique()))
    results: list[object] = []
    thread = threading.Thread(
        target=lambda: results.append(
            invoke("run", "--server", server_url, "--output-dir", str(tmp_path / "o"), str(workflow))
        )
    )
    thread.start()
    thread.join(60)
    [result] = results
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
