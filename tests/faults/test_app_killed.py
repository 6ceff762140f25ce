"""The app is SIGKILLed mid-run. A new process opens the journal and reconciles: the execution is
followed again, filled in from /history, or marked lost; never duplicated, never left hanging."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.journal import Journal
from comfy_reality.runtime import TaskStatus
from comfy_reality.server import EmbeddedServer

from .conftest import make_runtime

REPO = Path(__file__).resolve().parents[2]


async def run_and_kill(server: EmbeddedServer, journal_path: Path, steps: int) -> dict[str, Any]:
    """Start the app in a subprocess, wait until its prompt runs and is journaled, SIGKILL it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.killable_app",
        server.url,
        str(journal_path),
        str(steps),
        "1.0",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            assert process.stderr is not None
            raise AssertionError((await process.stderr.read()).decode(errors="replace")[-3000:])
        info: dict[str, Any] = json.loads(line)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    return info


@pytest.mark.parametrize("meanwhile", ["still running", "finished", "server restarted"])
async def test_app_killed_mid_run_then_reconciled(
    server: EmbeddedServer, tmp_path: Path, meanwhile: str
) -> None:
    path = tmp_path / "journal.sqlite3"
    # ~20 ms a step: the "finished" prompt ends in about 2 s, the others run until stopped.
    info = await run_and_kill(server, path, 100 if meanwhile == "finished" else 100_000)
    prompt_id = info["prompt_id"]

    if meanwhile == "finished":
        # Someone else watches it to the end while the app is gone (no journal involved).
        watcher = make_runtime(server.url)
        async with watcher.session():
            finished = await watcher.wait(await watcher.attach(prompt_id), timeout=60)
        assert finished.status is TaskStatus.COMPLETED
    elif meanwhile == "server restarted":
        await server.restart()

    journal = await Journal.open(path)
    try:
        before = await journal.get(prompt_id)
        assert before is not None and before.status is TaskStatus.RUNNING  # what the killed app left
        assert before.client_id == info["client_id"]
        runtime = make_runtime(server.url)
        journal.attach(runtime)
        async with runtime.session():
            report = await journal.reconcile(runtime)
            if meanwhile == "still running":
                assert [e.prompt_id for e in report.followed] == [prompt_id]
                followed = report.followed[0]
                assert followed.status is TaskStatus.RUNNING
                await runtime.cancel(followed)  # settle it: the followed execution ends like any other
                final = await runtime.wait(followed, timeout=60)
                assert final.status is TaskStatus.CANCELLED
            elif meanwhile == "finished":
                assert report.finished == [info["execution_id"]]
            else:
                assert report.lost == [info["execution_id"]]
        entries = await journal.list_executions()
        assert len(entries) == 1, "one execution, never duplicated"
        entry = await journal.get(prompt_id)
        assert entry is not None and entry.id == info["execution_id"]
        if meanwhile == "server restarted":
            assert entry.lost and entry.status is TaskStatus.CANCELLED
            assert (
                entry.status_detail is not None
                and f"no longer knows prompt {prompt_id}" in entry.status_detail
            )
        elif meanwhile == "still running":
            assert entry.status is TaskStatus.CANCELLED and not entry.lost
            assert entry.completed_at is not None
            assert all(node.status.is_final for node in entry.nodes)
        else:
            assert entry.status is TaskStatus.COMPLETED and not entry.lost
            assert entry.output_files and entry.output_files[0].filename.startswith("fault")
            assert entry.completed_at is not None
    finally:
        await journal.close()
