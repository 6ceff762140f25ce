"""A long session: what the runtime lets go of is still shown, whole and right, by the app.

The runtime and its task manager keep only the newest finished executions; the app's session
holds the finished ones it shows (the runtime's own final objects, not copies).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from comfy_reality.runtime.models import TaskStatus
from comfy_reality.server import EmbeddedServer
from comfy_reality.tui.backend import Backend
from comfy_reality.tui.widgets import TaskTree

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text
from .test_flows import SIZE, connected, final, make_app, run_workflow, server

__all__ = ["server"]  # the fixture, used by name below


async def test_an_execution_the_runtime_let_go_is_still_shown_and_can_be_retried(
    server: EmbeddedServer,
) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        runtime = app.runtime
        assert runtime is not None
        runtime.task_manager.max_finished_roots = 1  # keep one finished execution, as if after many
        failed = await final(pilot, app, (await run_workflow(pilot, app, "fail")).id)
        assert failed.status is TaskStatus.FAILED
        done = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        assert done.status is TaskStatus.COMPLETED
        await wait_for(pilot, lambda: failed.id not in runtime.executions, what="the runtime letting go")
        assert runtime.task_manager.get_task(failed.execution.workflow_task_id or "") is None
        # The app still holds it, and shows it as it ended.
        entry = app.session.entries[failed.id]
        assert entry.status is TaskStatus.FAILED and entry.nodes
        assert {t.status for t in entry.nodes.values()} >= {TaskStatus.FAILED}
        tree = app.query_one(TaskTree)
        tree.focus()
        tree.select_execution(failed.id)
        await wait_for_text(pilot, "RuntimeError in node 2 (RealityFail)")
        assert "deliberate failure" in screen_text(app)
        # Retried from what the app holds (the prompt it ran).
        before = set(app.session.entries)
        await pilot.press("t")
        await wait_for(pilot, lambda: set(app.session.entries) - before, what="the retry")
        (retry_id,) = set(app.session.entries) - before
        retry = await final(pilot, app, retry_id)
        assert retry.execution.retry_of == failed.id
        assert retry.execution.prompt == failed.execution.prompt
        assert retry.status is TaskStatus.FAILED


async def test_runs_that_end_before_the_app_s_next_batch_still_end_on_screen(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race: the app folds events a frame (under a flood, several) after they happen, and the
    # runtime may let a finished run go meanwhile. Here the app's event pump is held back until
    # both runs ended and the runtime kept only the newer one.
    gate = asyncio.Event()
    pump = Backend._pump_events

    async def held_back(self: Backend, runtime: Any, subscription: Any) -> None:
        await gate.wait()
        await pump(self, runtime, subscription)

    monkeypatch.setattr(Backend, "_pump_events", held_back)
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        runtime = app.runtime
        assert runtime is not None
        runtime.task_manager.max_finished_roots = 1
        runs = []
        for name in ("fail", "progress"):
            prompt = json.loads((WORKFLOWS / f"{name}.json").read_text())
            runs.append(await runtime.submit(prompt, name=name, workflow_id=name))
            await runtime.wait(runs[-1])
        failed, done = runs
        assert failed.id not in runtime.executions
        assert runtime.task_manager.get_task(failed.workflow_task_id or "") is None
        assert failed.id not in app.session.entries  # nothing folded yet

        gate.set()
        await wait_for(pilot, lambda: {failed.id, done.id} <= app.session.entries.keys(), what="both runs")
        entry = await final(pilot, app, failed.id)
        assert entry.status is TaskStatus.FAILED
        assert {t.status for t in entry.nodes.values()} >= {TaskStatus.FAILED}
        assert not any(t.status is TaskStatus.RUNNING for t in entry.nodes.values())
        assert (await final(pilot, app, done.id)).status is TaskStatus.COMPLETED
        tree = app.query_one(TaskTree)
        tree.focus()
        tree.select_execution(failed.id)
        await wait_for_text(pilot, "RuntimeError in node 2 (RealityFail)")
        assert "deliberate failure" in screen_text(app)
