"""What each CLI command leaves in the log file: what helps a later reader, not routine open/close."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import save_image_prompt, unique, write_workflow


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMFY_REALITY_HOME": str(home)}
    command = [sys.executable, "-m", "comfy_reality.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def log_lines(home: Path) -> list[dict[str, Any]]:
    path = home / "log" / "comfy-reality.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_a_normal_exit_logs_how_each_command_ended_without_routine_noise(
    server_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    workflow = write_workflow(tmp_path, "w", save_image_prompt(unique()))
    ran = cli(
        home, "run", "--json", "--server", server_url, "--output-dir", str(tmp_path / "o"), str(workflow)
    )
    assert ran.returncode == 0, ran.stderr
    listed = cli(home, "journal")
    assert listed.returncode == 0, listed.stderr
    refused = cli(home, "validate", "--offline", str(tmp_path / "missing.json"))
    assert refused.returncode == 2
    lines = log_lines(home)
    events = [line["event"] for line in lines]
    assert "journal_opened" not in events and "journal_closed" not in events
    # Our session ending is not the server going down.
    assert not [line for line in lines if line["event"] == "server_status" and line.get("state") == "down"]
    ended = [line for line in lines if line["event"] == "command_ended"]
    assert [(line["command"], line["exit_code"]) for line in ended] == [
        ("run", 0),
        ("journal", 0),
        ("validate", 2),
    ]
    assert ended[0]["server_url"] == server_url and ended[0]["seconds"] >= 0
    assert ran.stdout.count("command_ended") == 0  # the log never reaches stdout
