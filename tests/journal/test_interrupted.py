"""A run whose app stopped during it, and that nothing has settled since, reads as interrupted,
not as running for ever; its row still says running, so a server that answers later settles it."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from comfy_reality.journal import Journal
from comfy_reality.journal.owners import InstanceKey
from comfy_reality.runtime import TaskStatus

from .fakes import FakeRuntime
from .test_reconcile import previous_session, recorded_history

GONE_SERVER = "http://127.0.0.1:9"  # a --demo server of a session that has ended


async def test_a_run_whose_app_quit_reads_as_interrupted_until_a_server_settles_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    prompt_id, finished = recorded_history("01_success.jsonl")
    ids = await previous_session(path, prompt_id)  # the app quit while it ran (a clean close)
    row_id = ids[prompt_id]

    async with await Journal.open(path) as journal:
        [entry] = await journal.list_executions()
        assert entry.status is TaskStatus.RUNNING  # as recorded: nothing is lost
        assert entry.interrupted and entry.display_status == "interrupted"
        got = await journal.get(row_id)
        assert got is not None and got.display_status == "interrupted"
        assert await journal.unsettled() == {row_id}
        assert [e.id for e in await journal.list_executions(status="interrupted")] == [row_id]
        assert await journal.count_executions(status="interrupted") == 1
        assert await journal.list_executions(status="running") == []
        assert await journal.count_executions(status="running") == 0
        # Reconcile still sees it as unfinished: the server decides.
        assert [e.id for e in await journal.unfinished("http://fake:8188")] == [row_id]

    # Its server comes back and knows how it ended: the real result, not "interrupted".
    async with await Journal.open(path) as journal:
        runtime = FakeRuntime(client_id="client-new")
        runtime.client.history = {prompt_id: finished}
        journal.attach(runtime)
        report = await journal.reconcile(runtime)
        assert report.finished == [row_id]
        [entry] = await journal.list_executions()
        assert entry.status is TaskStatus.COMPLETED and not entry.interrupted
        assert entry.display_status == "completed" and entry.output_files
        assert await journal.unsettled() == frozenset()


async def test_a_run_of_a_crashed_app_reads_as_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    ids = await previous_session(path, "p-crashed")
    # The app was killed: its instance never released the row, and its process is gone.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(dead.stdout)
    owner = str(InstanceKey(socket.gethostname(), pid, "1", "crashed-app"))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE executions SET owner = ?, own = 1", (owner,))
    conn.close()
    async with await Journal.open(path) as journal:
        [entry] = await journal.list_executions()
        assert entry.id == ids["p-crashed"] and entry.display_status == "interrupted"


async def test_runs_something_still_follows_read_as_running(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    # 1. The app that queued it still runs (here: its journal is open in this process).
    async with await Journal.open(path) as recording:
        runtime = FakeRuntime(server_url=GONE_SERVER)
        recording.attach(runtime)
        execution = runtime.new_execution(prompt_id="p-live")
        runtime.run_node(execution, "1")
        [entry] = await recording.list_executions()
        assert entry.display_status == "running" and not entry.interrupted
        async with await Journal.open(path) as reader:  # as `comfy-reality journal` reads it
            [entry] = await reader.list_executions()
            assert entry.display_status == "running"
            assert await reader.list_executions(status="interrupted") == []

    # 2. Its app quit, and a new one follows it again after reconcile (by polling, no owner).
    ids = await previous_session(path, "p-followed")
    async with await Journal.open(path) as journal:
        runtime = FakeRuntime(client_id="client-new")
        runtime.client.queue = {
            "queue_running": [[1, "p-followed", {}, {"client_id": "client-old"}, ["3"]]],
            "queue_pending": [],
        }
        journal.attach(runtime)
        assert ids["p-followed"] in await journal.unsettled()  # before: nothing follows it
        report = await journal.reconcile(runtime)
        assert [e.prompt_id for e in report.followed] == ["p-followed"]
        entry = await journal.get(ids["p-followed"])
        # As the (fake) runtime now reports it: queued again, followed, not interrupted.
        assert entry is not None and not entry.interrupted and entry.display_status == "pending"

    # 3. A one-shot check (`journal reconcile`) found it on its server's queue: that server has it.
    async with await Journal.open(path) as journal:
        runtime = FakeRuntime(client_id="client-check")
        runtime.client.queue = {
            "queue_running": [[1, "p-followed", {}, {"client_id": "client-old"}, ["3"]]],
            "queue_pending": [],
        }
        journal.attach(runtime)
        await journal.reconcile(runtime, follow_live=False)
    async with await Journal.open(path) as journal:
        entry = await journal.get(ids["p-followed"])
        assert entry is not None and not entry.interrupted and entry.display_status == "pending"
        assert (entry.status_detail or "").startswith("checked: still on the server's queue")
