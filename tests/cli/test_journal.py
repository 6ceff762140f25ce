"""`comfy-reality run` records into the execution journal; `comfy-reality journal` lists it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import fail_prompt, invoke, progress_prompt, save_image_prompt, unique, write_workflow


def test_run_records_and_journal_lists_newest_first(
    server_url: str, tmp_path: Path, isolated_home: Path
) -> None:
    ok = write_workflow(tmp_path, "journal-ok", save_image_prompt(unique(), prefix="journal"))
    bad = write_workflow(tmp_path, "journal-bad", fail_prompt("journal boom", unique()))
    assert (
        invoke("run", "--server", server_url, "--output-dir", str(tmp_path / "out"), str(ok)).exit_code == 0
    )
    assert invoke("run", "--server", server_url, str(bad)).exit_code == 1
    assert (isolated_home / "data" / "journal.sqlite3").exists() or any(
        isolated_home.rglob("journal.sqlite3")
    )

    result = invoke("journal", "--json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["executions"]
    assert [(r["name"], r["status"]) for r in records] == [
        ("journal-bad", "failed"),
        ("journal-ok", "completed"),
    ]
    failed, done = records
    assert failed["error"]["exception_message"] == "journal boom" and failed["error"]["node_id"] == "2"
    assert [o["filename"] for o in done["outputs"]] and done["outputs"][0]["filename"].startswith("journal")
    assert done["server"] == server_url and done["nodes"] == 2 and done["duration"] >= 0

    only_failed = json.loads(invoke("journal", "--json", "--status", "failed").stdout)["executions"]
    assert [r["name"] for r in only_failed] == ["journal-bad"]
    assert (
        json.loads(invoke("journal", "--json", "--limit", "1").stdout)["executions"][0]["name"]
        == "journal-bad"
    )
    assert json.loads(invoke("journal", "--json", "--text", "no such thing").stdout)["executions"] == []

    table = invoke("journal")
    assert table.exit_code == 0
    assert "journal-ok" in table.stdout and "journal-bad" in table.stdout and "boom" in table.stdout


def test_no_journal_flag_and_empty_journal(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "unrecorded", save_image_prompt(unique()))
    result = invoke(
        "run", "--no-journal", "--server", server_url, "--output-dir", str(tmp_path / "o"), str(workflow)
    )
    assert result.exit_code == 0, result.stderr
    listing = invoke("journal")
    assert listing.exit_code == 0 and "No executions recorded yet." in listing.stdout


def test_an_unusable_journal_warns_and_the_run_still_works(server_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    broken = home / "data" / "journal.sqlite3"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not an SQLite database, just junk" * 100)
    workflow = write_workflow(tmp_path, "warned", save_image_prompt(unique()))
    env = {**os.environ, "COMFY_REALITY_HOME": str(home)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "comfy_reality.cli",
            "run",
            "--server",
            server_url,
            "--output-dir",
            str(tmp_path / "out"),
            str(workflow),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning: Execution journal" in proc.stderr and "Running without a journal" in proc.stderr
    listing = invoke("journal", "--path", str(broken))
    assert listing.exit_code != 0 and str(broken) in listing.stderr


def test_ctrl_c_still_exits_130_and_the_journal_has_the_cancelled_run(
    server_url: str, tmp_path: Path
) -> None:
    workflow = write_workflow(
        tmp_path, "slow-journal", progress_prompt(steps=20_000, delay=0.5, color=unique())
    )
    home = tmp_path / "home"
    env = {**os.environ, "COMFY_REALITY_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfy_reality.cli", "run", "--json", "--server", server_url, str(workflow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("event") == "progress" and event.get("node_id") == "2":
                break
            assert time.monotonic() < deadline, "no progress from the slow node"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    listing = subprocess.run(
        [sys.executable, "-m", "comfy_reality.cli", "journal", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    [record] = json.loads(listing.stdout)["executions"]
    assert record["name"] == "slow-journal" and record["status"] == "cancelled"


def test_a_run_whose_app_stopped_is_listed_as_interrupted(isolated_home: Path) -> None:
    """Recorded as running by an app that quit during it (on a --demo server that is gone):
    listed as interrupted, with why, not as running; the row itself still says running."""
    from comfy_reality import paths

    from .test_journal_prune import record

    journal = paths.journal_file()
    journal.parent.mkdir(parents=True, exist_ok=True)
    record(journal, "demo-run", days=0.1, status="running", server="http://127.0.0.1:9")
    [row] = json.loads(invoke("journal", "--json").stdout)["executions"]
    assert row["name"] == "demo-run" and row["status"] == "interrupted" and row["duration"] is None
    only = json.loads(invoke("journal", "--json", "--status", "interrupted").stdout)["executions"]
    assert [r["name"] for r in only] == ["demo-run"]
    assert json.loads(invoke("journal", "--json", "--status", "running").stdout)["executions"] == []

    table = invoke("journal")
    assert table.exit_code == 0, table.stderr
    assert "│ interrupted │" in table.stdout and "running" not in table.stdout
    assert "its app stopped during it" in " ".join(table.stdout.replace("│", " ").split())
