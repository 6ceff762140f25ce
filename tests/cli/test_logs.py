"""`comfy-reality logs`: the JSON log file made readable."""

from __future__ import annotations

import json
from pathlib import Path

from comfy_reality import paths
from comfy_reality.cli.logs import format_line

from .conftest import invoke


def write_log(lines: list[object]) -> Path:
    path = paths.log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_pretty_prints_the_last_lines() -> None:
    write_log(
        [
            {"timestamp": "2026-11-28T01:00:00Z", "level": "info", "event": "first", "n": 1},
            {
                "timestamp": "2026-11-28T01:00:01Z",
                "level": "error",
                "event": "prompt_failed",
                "prompt_id": "p1",
                "data": {"node": "5"},
            },
            "not json at all",
        ]
    )
    result = invoke("logs", "-n", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines == [
        '2026-11-28T01:00:01Z error   prompt_failed prompt_id=p1 data={"node": "5"}',
        "not json at all",
    ]


def test_raw_and_path() -> None:
    path = write_log([{"event": "x", "level": "info"}])
    assert invoke("logs", "--path").stdout.strip() == str(path)
    assert json.loads(invoke("logs", "--raw").stdout) == {"event": "x", "level": "info"}


def test_missing_log_file_says_what_to_do() -> None:
    result = invoke("logs")
    assert result.exit_code == 2
    assert "no log file yet" in result.stderr and "--follow" in result.stderr


def test_exceptions_are_shown_below_their_line() -> None:
    text = format_line(
        json.dumps({"event": "boom", "level": "error", "exception": "Traceback...\nValueError: x"})
    )
    assert text is not None and text.endswith("Traceback...\nValueError: x")
    assert format_line("   ") is None


def test_follow_prints_new_lines_and_waits_for_the_file(tmp_path: Path) -> None:
    import os
    import queue
    import subprocess
    import sys
    import threading

    env = {**os.environ, "COMFY_REALITY_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfy_reality.cli", "logs", "--follow", "-n", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        log = tmp_path / "home" / "log" / "comfy-reality.jsonl"
        log.parent.mkdir(parents=True)
        with log.open("a") as fh:  # the file appears after the follower started
            fh.write(json.dumps({"event": "late_arrival", "level": "info"}) + "\n")
            fh.flush()
            assert "late_arrival" in lines.get(timeout=20)
            fh.write(json.dumps({"event": "second", "level": "warning"}) + "\n")
            fh.flush()
            assert lines.get(timeout=20).startswith("warning")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
