"""`comfy-reality journal reconcile` settles runs an earlier session left unfinished; `run` mentions them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfy_reality import paths

from .conftest import invoke, progress_prompt, save_image_prompt, unique, write_workflow
from .test_journal_prune import record

DEADLINE = 60.0


def until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll a condition that lives in another process (the server, a killed CLI's journal)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def journal_rows() -> dict[str, dict[str, Any]]:
    result = invoke("journal", "--json", "--limit", "1000")
    assert result.exit_code == 0, result.stderr
    return {r["name"]: r for r in json.loads(result.stdout)["executions"]}


def recorded_status(name: str) -> str | None:
    """Read the journal file directly (no Journal.open: that would take part in the test)."""
    path = paths.journal_file()
    if not path.exists():
        return None
    conn = sqlite3.connect(path, timeout=5)
    try:
        row = conn.execute("SELECT status FROM executions WHERE name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:
        return None  # the schema is still being created
    finally:
        conn.close()
    return str(row[0]) if row else None


def reconcile(server: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = invoke("journal", "reconcile", "--server", server, "--json", *extra)
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, report, result.stderr


@pytest.fixture
def killed_run(server_url: str, tmp_path: Path) -> Iterator[str]:
    """A `comfy-reality run` killed (SIGKILL) while its prompt runs on: the journal says running.

    Yields the prompt id; the prompt is interrupted on the server afterwards in any case, so the
    shared server is free for the next test.
    """
    workflow = write_workflow(
        tmp_path, "killed-run", progress_prompt(steps=100_000, delay=0.5, color=unique())
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfy_reality.cli", "run", "--json", "--server", server_url, str(workflow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    )
    prompt_id = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("event") == "progress" and event.get("node_id") == "2":
                prompt_id = event["prompt_id"]
                break
        assert prompt_id, "the run never reached its slow node"
        until(lambda: recorded_status("killed-run") == "running", "the journal to record the run as running")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        yield prompt_id
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if prompt_id is not None:
            httpx.post(f"{server_url}/queue", json={"delete": [prompt_id]}, timeout=10)
            httpx.post(f"{server_url}/interrupt", json={"prompt_id": prompt_id}, timeout=10)


def in_history(server_url: str, prompt_id: str) -> bool:
    return prompt_id in httpx.get(f"{server_url}/history/{prompt_id}", timeout=10).json()


def test_a_killed_run_is_still_running_then_finished(
    server_url: str, killed_run: str, tmp_path: Path
) -> None:
    prompt_id = killed_run
    code, report, stderr = reconcile(server_url)
    assert code == 0, stderr
    [item] = report["executions"]
    assert item["name"] == "killed-run" and item["prompt_id"] == prompt_id and item["was"] == "running"
    assert item["outcome"] == "running" and item["status"] == "running"
    assert report["counts"] == {"running": 1}
    assert journal_rows()["killed-run"]["status"] == "running"  # left to finish

    # Stopped on the server while nobody watches; the next reconcile reads /history.
    httpx.post(f"{server_url}/interrupt", json={"prompt_id": prompt_id}, timeout=10)
    until(lambda: in_history(server_url, prompt_id), "the interrupted prompt in /history")

    quick = write_workflow(tmp_path, "quick", save_image_prompt(unique()))
    noticed = invoke("run", "--server", server_url, "--output-dir", str(tmp_path / "out"), str(quick))
    assert noticed.exit_code == 0, noticed.stderr
    assert (
        f"1 earlier run is unfinished in the journal for {server_url}; "
        f"see `comfy-reality journal reconcile --server {server_url}`"
    ) in noticed.stderr
    assert [json.loads(line)["type"] for line in noticed.stdout.splitlines()][
        -1
    ] == "execution"  # stdout stays NDJSON

    table = invoke("journal", "reconcile", "--server", server_url)
    assert table.exit_code == 0, table.stderr
    assert "killed-run" in table.stdout and "cancelled" in table.stdout and "interrupted" in table.stdout
    assert "Reconciled 1: 1 finished." in table.stdout
    row = journal_rows()["killed-run"]
    assert row["status"] == "cancelled" and "interrupted on the server" in row["status_detail"]

    quiet = invoke("run", "--server", server_url, "--output-dir", str(tmp_path / "out"), str(quick))
    assert quiet.exit_code == 0 and "unfinished" not in quiet.stderr
    assert invoke("journal", "reconcile", "--server", server_url).stdout.strip() == (
        f"No unfinished executions recorded for {server_url}."
    )


def test_finished_and_lost_runs_are_settled(server_url: str, tmp_path: Path) -> None:
    journal = paths.journal_file()
    journal.parent.mkdir(parents=True, exist_ok=True)
    # A prompt that finished on the server after its run stopped following it.
    posted = httpx.post(
        f"{server_url}/prompt",
        json={"prompt": save_image_prompt(unique(), prefix="away"), "client_id": "gone-client"},
        timeout=10,
    ).json()
    prompt_id = posted["prompt_id"]
    until(lambda: in_history(server_url, prompt_id), "the prompt in /history")
    record(journal, "finished-away", days=0.01, status="running", server=server_url)
    conn = sqlite3.connect(journal)
    conn.execute("UPDATE executions SET prompt_id = ? WHERE name = 'finished-away'", (prompt_id,))
    conn.commit()
    conn.close()
    record(journal, "forgotten", days=0.02, status="running", server=server_url)  # the server never had it
    record(journal, "other-server", days=0.01, status="running", server="http://127.0.0.1:9")
    record(journal, "done-before", days=0.01, status="completed", server=server_url)

    code, report, stderr = reconcile(server_url)
    assert code == 0, stderr
    by_name = {item["name"]: item for item in report["executions"]}
    assert set(by_name) == {"finished-away", "forgotten"}  # only this server's unfinished ones
    assert (
        by_name["finished-away"]["outcome"] == "finished"
        and by_name["finished-away"]["status"] == "completed"
    )
    assert "1 output file" in by_name["finished-away"]["detail"]
    assert (
        by_name["forgotten"]["outcome"] == "lost"
        and "no longer knows prompt" in by_name["forgotten"]["detail"]
    )
    assert report["counts"] == {"finished": 1, "lost": 1}

    rows = journal_rows()
    assert rows["finished-away"]["status"] == "completed"
    assert rows["finished-away"]["outputs"][0]["filename"].startswith("away")
    assert rows["forgotten"]["status"] == "lost"
    # Not asked about: still recorded as running, listed as interrupted (its app is gone).
    assert rows["other-server"]["status"] == "interrupted" and recorded_status("other-server") == "running"


def test_unreachable_server_is_exit_3_and_changes_nothing(down_url: str) -> None:
    journal = paths.journal_file()
    journal.parent.mkdir(parents=True, exist_ok=True)
    record(journal, "stranded", days=0.01, status="running", server=down_url)
    result = invoke("journal", "reconcile", "--server", down_url)
    assert result.exit_code == 3
    assert f"cannot check 1 unfinished execution: {down_url} is unreachable" in result.stderr
    assert "hint:" in result.stderr
    # Unchanged: still recorded as running; listed as interrupted, since its app is gone and
    # its server did not answer.
    assert journal_rows()["stranded"]["status"] == "interrupted" and recorded_status("stranded") == "running"


def test_nothing_unfinished_needs_no_server(down_url: str) -> None:
    result = invoke("journal", "reconcile", "--server", down_url)
    assert result.exit_code == 0 and f"No unfinished executions recorded for {down_url}." in result.stdout
    as_json = invoke("journal", "reconcile", "--server", down_url, "--json")
    assert json.loads(as_json.stdout) == {
        "server": down_url,
        "servers": [down_url],
        "unreachable": {},
        "executions": [],
        "counts": {},
        "other_servers": {},
    }


def test_each_server_of_a_pool_settles_its_own(server_url: str, down_url: str) -> None:
    journal = paths.journal_file()
    journal.parent.mkdir(parents=True, exist_ok=True)
    record(journal, "forgotten-here", days=0.02, status="running", server=server_url)
    record(journal, "stranded-there", days=0.01, status="running", server=down_url)
    record(journal, "elsewhere", days=0.01, status="pending", server="http://127.0.0.1:9")
    # The credentials in a URL are a login, not part of the server's name (and never shown).
    with_login = server_url.replace("http://", "http://alice:s3cret@")

    table = invoke("journal", "reconcile", "--server", with_login, "--server", down_url)
    assert table.exit_code == 1  # one server could not be asked
    assert f"error: cannot check 1 unfinished execution: {down_url} is unreachable" in table.stderr
    assert "forgotten-here" in table.stdout and "Reconciled 1: 1 lost." in table.stdout
    assert "stranded-there" not in table.stdout
    assert (
        "1 unfinished execution recorded for other servers: http://127.0.0.1:9 (1); "
        "reconcile them with --server URL."
    ) in table.stdout
    assert "s3cret" not in table.stdout + table.stderr and "alice" not in table.stdout + table.stderr
    rows = journal_rows()
    assert rows["forgotten-here"]["status"] == "lost"
    assert rows["stranded-there"]["status"] == "interrupted" and rows["elsewhere"]["status"] == "interrupted"
    assert recorded_status("stranded-there") == "running" and recorded_status("elsewhere") == "pending"

    record(journal, "forgotten-again", days=0.01, status="running", server=server_url)
    code, report, stderr = reconcile(server_url, "--server", down_url)
    assert code == 1, stderr
    assert "server" not in report and report["servers"] == [server_url, down_url]
    assert list(report["unreachable"]) == [down_url]
    by_name = {item["name"]: item for item in report["executions"]}
    assert by_name["forgotten-again"]["outcome"] == "lost"
    assert by_name["forgotten-again"]["server_url"] == server_url
    assert by_name["stranded-there"]["outcome"] == "unchecked"
    assert by_name["stranded-there"]["server_url"] == down_url
    assert report["counts"] == {"lost": 1, "unchecked": 1}
    assert report["other_servers"] == {"http://127.0.0.1:9": 1}


def test_the_configured_servers_are_asked_by_default(server_url: str, down_url: str) -> None:
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[[servers]]\nurl = "{server_url}"\nname = "near"\n\n[[servers]]\nurl = "{down_url}"\nname = "far"\n',
        encoding="utf-8",
    )
    journal = paths.journal_file()
    journal.parent.mkdir(parents=True, exist_ok=True)
    record(journal, "on-near", days=0.01, status="running", server=server_url)
    record(journal, "on-far", days=0.01, status="running", server=down_url)

    # By name: only that server; the other's execution is counted, not touched.
    code, report, stderr = reconcile("near")
    assert code == 0, stderr
    assert report["servers"] == [server_url]
    assert [item["name"] for item in report["executions"]] == ["on-near"]
    assert report["other_servers"] == {down_url: 1}

    # No --server: every configured server; the unreachable one is the only one still waiting.
    result = invoke("journal", "reconcile", "--json")
    assert result.exit_code == 3, result.stderr  # every server with something to settle was down
    assert "no server with unfinished executions answered (1 unreachable)" in result.stderr
    report = json.loads(result.stdout)
    assert report["servers"] == [server_url, down_url]
    assert [item["name"] for item in report["executions"]] == ["on-far"]
    assert journal_rows()["on-far"]["status"] == "interrupted" and recorded_status("on-far") == "running"


def test_bad_server_url_is_a_usage_error() -> None:
    result = invoke("journal", "reconcile", "--server", "localhost:8188")
    assert result.exit_code == 2 and "invalid server URL" in result.stderr


def test_each_outcome_is_read_from_the_rows_as_now_recorded() -> None:
    from comfy_reality.cli.journal_reconcile import _settled
    from comfy_reality.journal import JournalEntry, ReconcileReport
    from comfy_reality.runtime import TaskStatus
    from comfy_reality.runtime.models import ErrorReport, OutputFile, WorkflowExecution, utc_now

    now = utc_now()
    before = JournalEntry(
        id="row", prompt_id="p-1", name="wf", status=TaskStatus.RUNNING, created_at=now, updated_at=now
    )
    report = ReconcileReport(server_url="http://s")

    def after(**changes: Any) -> JournalEntry:
        return before.model_copy(update=changes)

    done = _settled(
        before,
        after(
            status=TaskStatus.COMPLETED,
            status_detail="read from /history",
            output_files=[OutputFile(node_id="2", filename="a.png")],
        ),
        {},
        report,
    )
    assert (done.outcome, done.status, done.detail) == (
        "finished",
        "completed",
        "1 output file; read from /history",
    )
    failed = _settled(
        before,
        after(
            status=TaskStatus.FAILED,
            error=ErrorReport(node_id="2", exception_type="RealityFail", exception_message="boom"),
        ),
        {},
        report,
    )
    assert (failed.outcome, failed.status, failed.detail) == (
        "finished",
        "failed",
        "node 2: RealityFail: boom",
    )
    lost = _settled(
        before, after(status=TaskStatus.CANCELLED, lost=True, status_detail="lost: restarted"), {}, report
    )
    assert (lost.outcome, lost.status, lost.detail) == ("lost", "lost", "lost: restarted")

    queued = WorkflowExecution(workflow_id="wf", prompt_id="p-1")
    assert _settled(before, before, {"p-1": queued}, report).outcome == "queued"
    queued.status = TaskStatus.RUNNING
    assert _settled(before, before, {"p-1": queued}, report).outcome == "running"

    report.errors.append("p-1: HTTP 500 from /history")
    unchecked = _settled(before, before, {}, report)
    assert (unchecked.outcome, unchecked.detail) == ("unchecked", "p-1: HTTP 500 from /history")
    assert _settled(before, before, {}, ReconcileReport(server_url="http://s")).outcome == "unchanged"
    assert unchecked.record()["was"] == "running" and unchecked.record()["prompt_id"] == "p-1"


def test_run_names_the_server_as_recorded_never_its_login(server_url: str, tmp_path: Path) -> None:
    journal = paths.journal_file()
    journal.parent.mkdir(parents=True, exist_ok=True)
    record(journal, "left-behind", days=0.01, status="running", server=server_url)
    quick = write_workflow(tmp_path, "quick", save_image_prompt(unique()))
    with_login = server_url.replace("http://", "http://alice:s3cret@")
    result = invoke("run", "--server", with_login, "--output-dir", str(tmp_path / "out"), str(quick))
    assert result.exit_code == 0, result.stderr
    assert (
        f"1 earlier run is unfinished in the journal for {server_url}; "
        f"see `comfy-reality journal reconcile --server {server_url}`"
    ) in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
