"""The answer to POST /prompt (or the request itself) is lost on the way: no orphaned prompt.

A proxy of our own on 127.0.0.1 sits between the runtime and the embedded server and loses
exactly the request or answer a test arms. The client chose the prompt_id, so it asks the server
whether it has it: found, the prompt is followed to its end; surely not there, it is POSTed once
more; the server cannot be asked, the journal keeps an unconfirmed row that reconcile settles.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from comfy_reality.cli import cli
from comfy_reality.journal import Journal
from comfy_reality.journal.submissions import SubmissionRows
from comfy_reality.runtime import (
    ComfyUIAsyncRuntime,
    ServerResponseError,
    ServerUnreachableError,
    TaskStatus,
    WorkflowExecution,
    downloads,
    submission,
)
from comfy_reality.server import EmbeddedServer

from .conftest import make_runtime, progress_prompt, wait_connected
from .lossy_proxy import LossyProxy

Session = Callable[..., Awaitable[ComfyUIAsyncRuntime]]


@pytest.fixture
async def proxy(server: EmbeddedServer) -> AsyncIterator[LossyProxy]:
    async with LossyProxy(server.port) as running:
        yield running


@pytest.fixture
def runs(server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times the server started executing each prompt_id."""
    counts: Counter[str] = Counter()
    executor = server.state.executor
    original = executor.execute

    async def counted(
        prompt: dict[str, Any], prompt_id: str, extra_data: dict[str, Any], outputs: list[str]
    ) -> dict[str, Any]:
        counts[prompt_id] += 1
        return await original(prompt, prompt_id, extra_data, outputs)

    monkeypatch.setattr(executor, "execute", counted)
    return counts


def journal_rows(path: Path) -> list[tuple[str | None, str, str | None]]:
    """(prompt_id, status, status_detail) of every row, read as another process would."""
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT prompt_id, status, status_detail FROM executions"))


async def test_lost_answer_is_recorded_first_and_followed_to_its_end_once(
    server: EmbeddedServer, proxy: LossyProxy, runs: Counter[str], journal: Journal, session: Session
) -> None:
    rows_at_post: list[list[tuple[str | None, str, str | None]]] = []

    def at_request(chunk: bytes) -> None:
        if chunk.startswith(b"POST /prompt"):
            rows_at_post.append(journal_rows(journal.path))

    proxy.on_request = at_request
    proxy.arm(b"POST /prompt", "answer")
    runtime = await session(proxy.url, confirm_delay=0.05)
    journal.attach(runtime)
    await wait_connected(runtime)

    execution = await runtime.submit(progress_prompt(steps=3, nonce=101), name="answer lost")

    assert proxy.lost == [(b"POST /prompt", "answer")]
    # The row was committed before the request left: pending, with the prompt_id the server got.
    assert rows_at_post == [[(execution.prompt_id, "pending", "submitting: not yet confirmed by the server")]]
    done = await runtime.wait(execution, timeout=20)
    assert done.status is TaskStatus.COMPLETED
    assert [f.filename for f in done.output_files]
    assert proxy.count(b"POST /prompt") == 1  # never POSTed again: the server had it
    assert runs == {execution.prompt_id: 1}  # and ran it once
    await journal.flush()
    entry = await journal.get(execution.id)
    assert entry is not None and entry.status is TaskStatus.COMPLETED and entry.status_detail is None
    assert entry.prompt_id == execution.prompt_id and entry.output_files


async def test_lost_request_is_posted_again_once_and_runs(
    server: EmbeddedServer, proxy: LossyProxy, runs: Counter[str], journal: Journal, session: Session
) -> None:
    proxy.arm(b"POST /prompt", "request")
    runtime = await session(proxy.url, confirm_delay=0.05)
    journal.attach(runtime)
    await wait_connected(runtime)

    execution = await runtime.submit(progress_prompt(steps=2, nonce=102), name="request lost")
    done = await runtime.wait(execution, timeout=20)

    assert proxy.lost == [(b"POST /prompt", "request")]
    assert proxy.count(b"POST /prompt") == 1  # the lost one never arrived; the second did
    assert done.status is TaskStatus.COMPLETED
    assert runs == {execution.prompt_id: 1}
    await journal.flush()
    assert [(e.prompt_id, e.status) for e in await journal.list_executions()] == [
        (execution.prompt_id, TaskStatus.COMPLETED)
    ]


async def test_a_prompt_the_server_never_got_leaves_no_row(
    server: EmbeddedServer, proxy: LossyProxy, runs: Counter[str], journal: Journal, session: Session
) -> None:
    proxy.arm(b"POST /prompt", "request", times=submission.MAX_POSTS)
    runtime = await session(proxy.url, confirm_delay=0.02)
    journal.attach(runtime)
    await wait_connected(runtime)

    with pytest.raises(ServerUnreachableError) as info:
        await runtime.submit(progress_prompt(nonce=103), name="never arrives")

    assert info.value.unconfirmed_prompt_id is None  # asked each time: surely not queued
    assert len(proxy.lost) == submission.MAX_POSTS and proxy.count(b"POST /prompt") == 0
    assert runs == {}
    await journal.flush()
    assert await journal.list_executions() == []  # written before the POST, removed after


async def test_unconfirmed_prompt_stays_in_the_journal_and_reconcile_follows_it(
    server: EmbeddedServer, proxy: LossyProxy, runs: Counter[str], tmp_path: Path
) -> None:
    """The answer is lost and the server then stalls: nobody can say yet; the row says so, and
    the next reconcile finds the prompt and follows it to its end."""
    path = tmp_path / "journal.sqlite3"
    journal = await Journal.open(path, progress_interval=0.02)

    def stall() -> None:
        server.faults.stall_http = True

    proxy.arm(b"POST /prompt", "answer", on_trigger=stall)
    runtime = make_runtime(proxy.url, timeout=0.5, confirm_delay=0.05)
    journal.attach(runtime)
    try:
        async with runtime.session():
            await wait_connected(runtime)
            with pytest.raises(ServerUnreachableError) as info:
                await runtime.submit(progress_prompt(steps=2, nonce=104), name="unconfirmed")
        prompt_id = info.value.unconfirmed_prompt_id
        assert prompt_id is not None
        assert "disconnected without sending a response" in str(info.value)
        await journal.flush()
        [row] = journal_rows(path)
        assert row[0] == prompt_id and row[1] == "pending" and "unconfirmed" in (row[2] or "")
    finally:
        server.faults.stall_http = False
        await journal.close()

    later_journal = await Journal.open(path, progress_interval=0.02)
    try:
        later = make_runtime(proxy.url)  # the same server address as recorded
        later_journal.attach(later)
        async with later.session():
            report = await later_journal.reconcile(later)
            assert [e.prompt_id for e in report.followed] + report.finished != []
            for execution in report.followed:
                await later.wait(execution, timeout=20)
        await later_journal.flush()
        [entry] = await later_journal.list_executions()
        assert entry.prompt_id == prompt_id and entry.status is TaskStatus.COMPLETED
        assert runs == {prompt_id: 1}
    finally:
        await later_journal.close()


async def test_view_is_retried_before_an_output_is_reported_missing(
    server: EmbeddedServer, proxy: LossyProxy, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(downloads, "FIRST_PAUSE", 0.01)
    runtime = await session(proxy.url)
    done = await runtime.execute_workflow(progress_prompt(steps=1, nonce=105), name="outputs")
    [output] = [f for f in done.output_files if f.type == "output"]

    proxy.arm(b"GET /view", "request", times=2)  # two dropped connections, then it gets through
    data = await runtime.download_output(output)
    assert data.startswith(b"\x89PNG")
    assert proxy.count(b"GET /view") == 1 and len(proxy.lost) == 2

    missing = output.model_copy(update={"filename": "not_there_00001_.png"})
    with pytest.raises(ServerResponseError) as info:
        await runtime.download_output(missing)
    assert info.value.status_code == 404
    assert proxy.count(b"GET /view?filename=not_there") == downloads.DOWNLOAD_ATTEMPTS


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


async def test_run_keeps_following_queued_prompts_when_one_post_fails(
    server: EmbeddedServer,
    proxy: LossyProxy,
    runs: Counter[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three workflows; every POST of the second is lost before the server sees it. The first
    and third still run to their end and save their outputs; the exit code says 3."""
    monkeypatch.setattr(submission, "CONFIRM_DELAY", 0.02)
    paths = []
    for index, name in enumerate(["first", "second", "third"]):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(progress_prompt(steps=3, nonce=200 + index, prefix=name)))
        paths.append(str(path))
    posts = 0

    def lose_the_second(chunk: bytes) -> None:
        nonlocal posts
        if chunk.startswith(b"POST /prompt"):
            posts += 1
            if posts == 2:
                proxy.arm(b"POST /prompt", "request", times=submission.MAX_POSTS)

    proxy.on_request = lose_the_second
    out = tmp_path / "out"
    code, stdout, stderr = await asyncio.to_thread(
        run_cli, "run", "--server", proxy.url, "--output-dir", str(out), "--json", *paths
    )

    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    finals = {line["name"]: line for line in lines if line["type"] == "execution"}
    assert {name: line["status"] for name, line in finals.items()} == {
        "first": "completed",
        "second": "not_submitted",
        "third": "completed",
    }
    assert code == 3
    assert "Cannot reach ComfyUI" in finals["second"]["error"]["message"]
    assert "second: not queued" in stderr
    assert sorted(p.name.split("_")[0] for p in out.iterdir()) == ["first", "third"]
    assert sorted(runs.values()) == [1, 1]
    journal = await Journal.open()
    try:
        rows = await journal.list_executions()
        assert sorted((row.name, row.status) for row in rows) == [
            ("first", TaskStatus.COMPLETED),
            ("third", TaskStatus.COMPLETED),
        ]
    finally:
        await journal.close()


async def test_a_row_whose_post_never_arrived_is_settled_as_never_queued(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """The app stopped between writing the row and the POST: reconcile says it was never queued."""
    path = tmp_path / "journal.sqlite3"
    journal = await Journal.open(path, progress_interval=0.02)
    runtime = make_runtime(server.url)
    journal.attach(runtime)
    execution = WorkflowExecution(
        workflow_id="w",
        name="stopped before the POST",
        server_url=runtime.server_url,
        client_id=runtime.client_id,
        prompt_id="0b9c8f0e-0000-4000-8000-000000000001",
        prompt=progress_prompt(nonce=106),
        status_detail="submitting: not yet confirmed by the server",
    )
    await SubmissionRows(journal, runtime).submitting(execution)
    await journal.close()

    reopened = await Journal.open(path)
    try:
        later = make_runtime(server.url)
        async with later.session():
            report = await reopened.reconcile(later)
        assert report.lost == [execution.id]
        entry = await reopened.get(execution.id)
        assert entry is not None and entry.lost
        assert f"never queued prompt {execution.prompt_id}" in (entry.status_detail or "")
    finally:
        await reopened.close()
