"""After an app restart, reconcile follows the prompts the previous instance left running *live*
(an observer socket under their recorded client_id), but only when that instance is gone; a live
owner keeps its messages and the prompt is polled. Against the embedded server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.journal import SCHEMA_VERSION, Journal, JournalStore
from comfy_reality.journal.journal import InstanceKey, _process_start, process_gone
from comfy_reality.journal.store import _migrate_to_1
from comfy_reality.runtime import Backoff, ComfyUIAsyncRuntime, TaskEvent, TaskStatus, WorkflowExecution
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.state import SessionState

from ..runtime.helpers import until

SPEED = 50.0
SLOW_STEP = 0.05  # per step while the test needs the prompt running; set to 0 to let it finish


def make_runtime(url: str) -> ComfyUIAsyncRuntime:
    return ComfyUIAsyncRuntime(
        url, timeout=5.0, poll_interval=0.05, backoff=Backoff(initial=0.01, maximum=0.05, jitter=0.0)
    )


def long_prompt(nonce: int = 0, steps: int = 200) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": nonce},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": 0.0, "nonce": nonce},
        },
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": f"journal_live_{nonce}"},
        },
    }


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(port=0, speed=SPEED)) as embedded:
        embedded.faults.step_delay = SLOW_STEP
        yield embedded


def progress_of(events: list[TaskEvent], execution: WorkflowExecution, node_id: str = "2") -> list[float]:
    node = execution.node_task(node_id)
    assert node is not None
    return [e.data["value"] for e in events if e.task_id == node.id and e.event_type == "progress" and e.data]


async def queue_and_quit(
    server: EmbeddedServer, journal: Journal, nonce: int = 0
) -> tuple[WorkflowExecution, str]:
    """A previous app session: queue a long prompt, see it run, quit without cancelling it."""
    runtime = make_runtime(server.url)
    detach = journal.attach(runtime)
    async with runtime.session():
        execution = await runtime.submit(long_prompt(nonce), name=f"left running {nonce}")
        await until(runtime, lambda: len([1 for t in execution.tasks if (t.value or 0) >= 2]) == 1)
    detach()
    await journal.flush()
    assert not execution.is_final
    return execution, runtime.client_id


async def follow_to_the_end(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, execution: WorkflowExecution
) -> None:
    server.faults.step_delay = 0.0
    await runtime.wait(execution, timeout=30)
    assert execution.status is TaskStatus.COMPLETED and execution.output_files


async def previous_session(server: EmbeddedServer, path: Path) -> tuple[WorkflowExecution, str]:
    """An earlier app run on this journal that queued a long prompt and quit cleanly, leaving it running."""
    first = await Journal.open(path, progress_interval=0.02)
    left, client_id = await queue_and_quit(server, first)
    await first.close()  # the app quit: its running prompts are released
    return left, client_id


async def reconcile_and_follow_live(
    server: EmbeddedServer, journal: Journal, left: WorkflowExecution, old_client: str
) -> None:
    """A new app session: reconcile, see the left prompt followed live on an observer, to the end."""
    runtime = make_runtime(server.url)
    journal.attach(runtime)
    async with runtime.session():
        report = await journal.reconcile(runtime)
        assert [e.prompt_id for e in report.live] == [left.prompt_id]
        await until(runtime, lambda: runtime.observers.get(old_client) is True)
        await follow_to_the_end(server, runtime, report.live[0])


async def test_restart_after_a_clean_close_follows_live(server: EmbeddedServer, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    left, old_client = await previous_session(server, path)

    journal = await Journal.open(path, progress_interval=0.02)
    runtime = make_runtime(server.url)
    events: list[TaskEvent] = []
    runtime.task_manager.subscribe(events.append)
    try:
        journal.attach(runtime)
        async with runtime.session():
            report = await journal.reconcile(runtime)
            assert [e.prompt_id for e in report.followed] == [left.prompt_id]
            assert [e.prompt_id for e in report.live] == [left.prompt_id]
            assert "1 followed again (1 with live progress)" in report.summary
            execution = report.live[0]
            assert execution.client_id == old_client
            await until(runtime, lambda: len(set(progress_of(events, execution))) >= 3)
            assert runtime.observers == {old_client: True}
            await follow_to_the_end(server, runtime, execution)
            await until(runtime, lambda: not runtime.observers)
        steps = progress_of(events, execution)
        assert steps == sorted(steps) and steps[-1] > steps[0]

        # What the TUI does with these events: its session state routes node progress by parent.
        state = SessionState()
        tasks = {
            e.task_id: task for e in events if (task := runtime.task_manager.get_task(e.task_id)) is not None
        }
        state.apply(tasks, {execution.id: execution})
        entry = state.get(execution.id)
        assert entry is not None and entry.workflow_task is not None
        shown = {t.node_id: t for t in entry.nodes.values()}
        assert shown["2"].max == 200 and shown["2"].status is TaskStatus.COMPLETED

        recorded = await journal.get(left.prompt_id or "")
        assert recorded is not None and recorded.id == left.id and recorded.name == "left running 0"
        assert recorded.status is TaskStatus.COMPLETED and recorded.output_files
        assert {n.node_id: n.status for n in recorded.nodes} == {
            "1": TaskStatus.COMPLETED,
            "2": TaskStatus.COMPLETED,
            "3": TaskStatus.COMPLETED,
        }
    finally:
        await journal.close()


async def test_same_journal_once_the_first_runtime_closed(server: EmbeddedServer, tmp_path: Path) -> None:
    """One app switching runtimes: the journal stays open, the old runtime's socket is gone."""
    journal = await Journal.open(tmp_path / "journal.sqlite3", progress_interval=0.02)
    try:
        left, old_client = await queue_and_quit(server, journal)
        await reconcile_and_follow_live(server, journal, left, old_client)
    finally:
        await journal.close()


async def test_a_running_owner_is_not_robbed(server: EmbeddedServer, tmp_path: Path) -> None:
    """Another instance still runs (its journal open, its session open): poll, never steal."""
    path = tmp_path / "journal.sqlite3"
    first, second = (
        await Journal.open(path, progress_interval=0.02),
        await Journal.open(path, progress_interval=0.02),
    )
    owner, runtime = make_runtime(server.url), make_runtime(server.url)
    first.attach(owner)
    second.attach(runtime)
    try:
        async with owner.session(), runtime.session():
            mine = await owner.submit(long_prompt(1), name="still mine")
            node = mine.node_task("2")
            assert node is not None
            await until(owner, lambda: (node.value or 0) >= 2)
            await first.flush()

            report = await second.reconcile(runtime)
            assert [e.prompt_id for e in report.followed] == [mine.prompt_id]
            assert report.live == [] and runtime.observers == {}
            assert "with live progress" not in report.summary
            # The owner keeps its live messages: its socket is still the one the server routes to.
            before = node.value or 0
            await until(owner, lambda: (node.value or 0) >= before + 3)
            followed = report.followed[0]
            server.faults.step_delay = 0.0
            await owner.wait(mine, timeout=30)
            await runtime.wait(followed, timeout=30)
        assert followed.status is TaskStatus.COMPLETED and followed.output_files
    finally:
        await first.close()
        await second.close()


def set_owner(path: Path, prompt_id: str, owner: str | None) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE executions SET owner = ? WHERE prompt_id = ?", (owner, prompt_id))


async def exited_pid() -> int:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await process.wait()
    return process.pid


async def test_an_owner_process_that_died_is_taken_over(server: EmbeddedServer, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    left, old_client = await previous_session(server, path)
    me = InstanceKey.current()
    set_owner(path, left.prompt_id or "", str(InstanceKey(me.host, await exited_pid(), "", "crashed")))

    journal = await Journal.open(path, progress_interval=0.02)
    try:
        await reconcile_and_follow_live(server, journal, left, old_client)
    finally:
        await journal.close()


async def test_an_owner_process_that_still_runs_keeps_its_prompts(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite3"
    left, _ = await previous_session(server, path)
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.stdin.read()", stdin=asyncio.subprocess.PIPE
    )
    try:
        key = InstanceKey(InstanceKey.current().host, other.pid, _process_start(other.pid) or "", "other-app")
        set_owner(path, left.prompt_id or "", str(key))
        journal = await Journal.open(path, progress_interval=0.02)
        runtime = make_runtime(server.url)
        try:
            journal.attach(runtime)
            async with runtime.session():
                report = await journal.reconcile(runtime)
                assert [e.prompt_id for e in report.followed] == [left.prompt_id]
                assert report.live == [] and runtime.observers == {}
                await follow_to_the_end(server, runtime, report.followed[0])
        finally:
            await journal.close()
    finally:
        assert other.stdin is not None
        other.stdin.close()
        await other.wait()


async def test_two_instances_restarting_at_once_take_over_once(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite3"
    left, old_client = await previous_session(server, path)

    journals = [await Journal.open(path, progress_interval=0.02) for _ in range(2)]
    runtimes = [make_runtime(server.url) for _ in range(2)]
    try:
        for journal, runtime in zip(journals, runtimes, strict=True):
            journal.attach(runtime)
        async with runtimes[0].session(), runtimes[1].session():
            reports = await asyncio.gather(*(j.reconcile(r) for j, r in zip(journals, runtimes, strict=True)))
            assert all([e.prompt_id for e in r.followed] == [left.prompt_id] for r in reports)
            assert sorted(len(r.live) for r in reports) == [0, 1], "exactly one instance observes"
            watcher = runtimes[0] if reports[0].live else runtimes[1]
            await until(watcher, lambda: watcher.observers.get(old_client) is True)
            for runtime, report in zip(runtimes, reports, strict=True):
                await follow_to_the_end(server, runtime, report.followed[0])
    finally:
        for journal in journals:
            await journal.close()


async def test_rows_from_an_older_journal_are_only_polled(server: EmbeddedServer, tmp_path: Path) -> None:
    """A schema-1 file has no owner: nobody knows whether its instance runs, so nobody takes over."""
    first = make_runtime(server.url)
    async with first.session():
        left = await first.submit(long_prompt(3), name="from v1")
        node = left.node_task("2")
        assert node is not None
        await until(first, lambda: node.value is not None)
    path = tmp_path / "journal.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    _migrate_to_1(conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO executions (id, prompt_id, server_url, client_id, name, status, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 'running', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
        (left.id, left.prompt_id, server.url, first.client_id, "from v1"),
    )
    conn.close()

    journal = await Journal.open(path, progress_interval=0.02)
    runtime = make_runtime(server.url)
    try:
        assert (await asyncio.to_thread(lambda: JournalStore(path).schema_version)) == SCHEMA_VERSION
        journal.attach(runtime)
        async with runtime.session():
            report = await journal.reconcile(runtime)
            assert [e.prompt_id for e in report.followed] == [left.prompt_id]
            assert report.live == [] and runtime.observers == {}
            await follow_to_the_end(server, runtime, report.followed[0])
        recorded = await journal.get(left.id)
        assert recorded is not None and recorded.status is TaskStatus.COMPLETED and recorded.name == "from v1"
    finally:
        await journal.close()


def test_instance_keys_and_liveness() -> None:
    me = InstanceKey.current()
    assert InstanceKey.parse(str(me)) == me
    assert InstanceKey.parse("garbage") is None and InstanceKey.parse("h|notapid|s|t") is None
    assert not process_gone("some-other-host", me.pid, me.started)  # cannot check: assume it runs
    assert not process_gone(me.host, me.pid, me.started)  # this very process
    if me.started:
        assert process_gone(me.host, me.pid, str(int(me.started) + 1))  # the pid now names another process


REPO = Path(__file__).resolve().parents[2]


async def test_a_killed_app_is_followed_live_only_once_it_is_dead(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """Real processes: while the app that queued the prompt runs, a second instance polls; once
    the app is SIGKILLed, the next instance follows the prompt live (and can interrupt it)."""
    path = tmp_path / "journal.sqlite3"
    app = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.killable_app",
        server.url,
        str(path),
        "100000",
        "1.0",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        assert app.stdout is not None and app.stderr is not None
        line = await asyncio.wait_for(app.stdout.readline(), 60)
        assert line, (await app.stderr.read()).decode(errors="replace")[-3000:]
        info = json.loads(line)

        journal = await Journal.open(path, progress_interval=0.02)
        runtime = make_runtime(server.url)
        try:
            journal.attach(runtime)
            async with runtime.session():
                report = await journal.reconcile(runtime)
                assert [e.prompt_id for e in report.followed] == [info["prompt_id"]]
                assert report.live == [] and runtime.observers == {}, (
                    "the app still runs: never take its socket"
                )
                assert info["client_id"] in server.state.hub.sockets
        finally:
            await journal.close()
    finally:
        if app.returncode is None:
            app.send_signal(signal.SIGKILL)
        await app.wait()
    assert app.returncode == -signal.SIGKILL

    journal = await Journal.open(path, progress_interval=0.02)
    runtime = make_runtime(server.url)
    events: list[TaskEvent] = []
    runtime.task_manager.subscribe(events.append)
    try:
        journal.attach(runtime)
        async with runtime.session():
            report = await journal.reconcile(runtime)
            assert [e.prompt_id for e in report.live] == [info["prompt_id"]]
            execution = report.live[0]
            assert execution.client_id == info["client_id"]
            await until(runtime, lambda: len(set(progress_of(events, execution))) >= 3)
            await runtime.cancel(execution)
        assert execution.status is TaskStatus.CANCELLED
        node = execution.node_task("2")
        assert (
            node is not None and node.status is TaskStatus.CANCELLED and node.status_detail == "interrupted"
        )
        recorded = await journal.get(info["prompt_id"])
        assert recorded is not None and recorded.id == info["execution_id"]
        assert recorded.status is TaskStatus.CANCELLED and not recorded.lost
    finally:
        await journal.close()


async def test_a_one_shot_reconcile_can_leave_observers_closed(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite3"
    left, _ = await previous_session(server, path)
    journal = await Journal.open(path, progress_interval=0.02)
    runtime = make_runtime(server.url)
    try:
        journal.attach(runtime)
        async with runtime.session():
            report = await journal.reconcile(runtime, follow_live=False)
            assert [e.prompt_id for e in report.followed] == [left.prompt_id]
            assert report.live == [] and runtime.observers == {}
    finally:
        await journal.close()
    # Nothing was claimed: the next instance still follows it live.
    journal = await Journal.open(path, progress_interval=0.02)
    runtime = make_runtime(server.url)
    try:
        journal.attach(runtime)
        async with runtime.session():
            report = await journal.reconcile(runtime)
            assert [e.prompt_id for e in report.live] == [left.prompt_id]
            await follow_to_the_end(server, runtime, report.live[0])
    finally:
        await journal.close()


async def test_a_prompt_that_ended_before_the_restart_opens_no_observer(
    server: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.sqlite3"
    left, _ = await previous_session(server, path)
    ended = asyncio.Event()
    send_json = server.state.hub.send_json

    async def spy(event: str, data: Any, sid: str | None = None) -> None:
        await send_json(event, data, sid)
        if event == "executing" and isinstance(data, dict) and data.get("node") is None:
            ended.set()

    monkeypatch.setattr(server.state.hub, "send_json", spy)
    server.faults.step_delay = 0.0
    await asyncio.wait_for(ended.wait(), 30)

    journal = await Journal.open(path, progress_interval=0.02)
    runtime = make_runtime(server.url)
    try:
        journal.attach(runtime)
        async with runtime.session():
            report = await journal.reconcile(runtime)
            assert report.finished == [left.id] and report.followed == [] and report.live == []
            assert runtime.observers == {}
        recorded = await journal.get(left.id)
        assert recorded is not None and recorded.status is TaskStatus.COMPLETED and recorded.output_files
        assert all(n.status is TaskStatus.COMPLETED for n in recorded.nodes)
    finally:
        await journal.close()


async def test_durations_after_a_restart_come_from_the_server_not_the_reattach(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """A run still going when the app restarted, then finishing: its times are the run's, not the re-attach's."""
    path = tmp_path / "journal.sqlite3"
    left, old_client = await previous_session(server, path)
    assert left.started_at is not None
    first_start = left.started_at

    journal = await Journal.open(path, progress_interval=0.02)
    runtime = make_runtime(server.url)
    try:
        journal.attach(runtime)
        async with runtime.session():
            reattached_at = datetime.now(UTC)
            report = await journal.reconcile(runtime)
            execution = report.followed[0]
            # The rest of the run must be watched live: let it go on only once the observer is on
            # and a step of node 2 has come through it. The first node message after joining only
            # restates the run, so a node 3 that started in it would rightly have no known start.
            await until(runtime, lambda: runtime.observers.get(old_client) is True)
            sampler = execution.node_task("2")
            assert sampler is not None
            heard = sampler.value or 0.0
            await until(runtime, lambda: (sampler.value or 0.0) > heard)
            await follow_to_the_end(server, runtime, execution)
        assert execution.started_at is not None and execution.completed_at is not None
        assert execution.started_at < reattached_at
        assert abs((execution.started_at - first_start).total_seconds()) < 0.5
        duration = execution.duration
        assert duration is not None and duration > (reattached_at - first_start).total_seconds()
        workflow_task = runtime.task_manager.get_task(execution.workflow_task_id or "")
        assert workflow_task is not None and workflow_task.duration == duration
        nodes = {node_id: execution.node_task(node_id) for node_id in ("1", "2", "3")}
        # Nodes 1 and 2 started before the re-attach: no invented start, no fake ~0 s duration.
        for node_id in ("1", "2"):
            node = nodes[node_id]
            assert node is not None and node.status is TaskStatus.COMPLETED and node.duration is None
        saved = nodes["3"]
        assert saved is not None and saved.started_at is not None and saved.started_at >= reattached_at

        recorded = await journal.get(left.prompt_id or "")
        assert recorded is not None and recorded.started_at is not None
        assert recorded.started_at < reattached_at
    finally:
        await journal.close()
