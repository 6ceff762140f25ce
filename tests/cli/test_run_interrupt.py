"""`comfy-reality run` and Ctrl-C pressed twice: the server is still left as the first press promised."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import progress_prompt, unique, write_workflow


def start_run(server_url: str, tmp_path: Path, *workflows: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "COMFY_REALITY_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "comfy_reality.cli", "run", "--json", "--server", server_url]
    return subprocess.Popen(
        [*command, *map(str, workflows)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_progress(proc: subprocess.Popen[str], name: str) -> None:
    """Read NDJSON until the slow node of workflow ``name`` reports progress (it is running)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    prompt_ids: set[str] = set()
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("name") == name and event.get("prompt_id"):
            prompt_ids.add(event["prompt_id"])
        if (
            event.get("event") == "progress"
            and event.get("node_id") == "2"
            and event.get("prompt_id") in prompt_ids
        ):
            return
        assert time.monotonic() < deadline, "no progress from the slow node"
    pytest.fail("the run ended before its slow node made progress")


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def history_entry(server_url: str, prompt_id: str) -> dict[str, Any]:
    """The prompt's history entry, once the server has written it (an interrupt lands between steps)."""
    deadline = time.monotonic() + 30
    while not (found := httpx.get(f"{server_url}/history/{prompt_id}").json()):
        assert time.monotonic() < deadline, "the interrupted prompt never reached the history"
        time.sleep(0.05)
    return dict(found[prompt_id])


def our_prompts_left(server_url: str, prompt_ids: set[str]) -> list[Any]:
    queue = httpx.get(f"{server_url}/queue").json()
    return [item for item in queue["queue_running"] + queue["queue_pending"] if item[1] in prompt_ids]


@pytest.mark.parametrize("second_press", ["at once", "while interrupting"])
def test_ctrl_c_twice_still_stops_our_prompts_and_prints_no_traceback(
    server_url: str, tmp_path: Path, second_press: str
) -> None:
    running = write_workflow(tmp_path, "first", progress_prompt(steps=20_000, delay=0.5, color=unique()))
    pending = write_workflow(tmp_path, "second", progress_prompt(steps=20_000, delay=0.5, color=unique()))
    proc = start_run(server_url, tmp_path, running, pending)
    try:
        wait_for_progress(proc, "first")
        proc.send_signal(signal.SIGINT)
        if second_press == "while interrupting":
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert line.startswith("Interrupting"), line
        proc.send_signal(signal.SIGINT)
        stdout, stderr = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "CancelledError" not in stderr and "never retrieved" not in stderr
    executions = {e["name"]: e for e in map(json.loads, stdout.splitlines()) if e["type"] == "execution"}
    assert set(executions) == {"first", "second"}, (stdout[-2000:], stderr)
    prompt_ids = {executions["first"]["prompt_id"], executions["second"]["prompt_id"]}
    # The server agrees: neither prompt of ours runs or waits, and the running one was interrupted.
    entry = history_entry(server_url, executions["first"]["prompt_id"])
    assert any(kind == "execution_interrupted" for kind, _ in entry["status"]["messages"])
    assert our_prompts_left(server_url, prompt_ids) == []
    assert httpx.get(f"{server_url}/history/{executions['second']['prompt_id']}").json() == {}
    assert "first" in stderr and "second" in stderr  # each prompt's fate is named


def test_second_press_sends_the_stop_in_one_go_without_waiting(
    server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both presses land before the interrupt starts: the quick path is the one that runs."""
    import asyncio

    from comfy_reality.cli._common import settings_for
    from comfy_reality.cli.run import RunCommand, read_workflow

    jobs = [
        read_workflow(
            write_workflow(tmp_path, name, progress_prompt(steps=20_000, delay=0.5, color=unique()))
        )
        for name in ("first", "second")
    ]
    command = RunCommand(
        jobs, settings=settings_for(server_url), overrides={}, output_dir=tmp_path / "o", json_mode=True
    )

    async def main() -> int:
        run = asyncio.ensure_future(command.main())
        while not (jobs[0].execution and jobs[0].execution.status.value == "running"):
            await asyncio.sleep(0.01)
        command._on_sigint()
        command._on_sigint()
        return await run

    assert asyncio.run(main()) == 130
    err = capsys.readouterr().err
    assert "Quitting: asking the server to stop them" in err
    prompt_ids = {job.execution.prompt_id for job in jobs if job.execution and job.execution.prompt_id}
    assert len(prompt_ids) == 2
    for job in jobs:
        assert (
            job.interrupt_note and "asked to stop it (not waiting for its confirmation)" in job.interrupt_note
        )
    first = jobs[0].execution.prompt_id if jobs[0].execution else None
    assert first is not None
    entry = history_entry(server_url, first)
    assert any(kind == "execution_interrupted" for kind, _ in entry["status"]["messages"])
    assert our_prompts_left(server_url, prompt_ids) == []
