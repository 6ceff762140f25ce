"""The whole server's queue on the embedded server: other clients' prompts, moves that keep the
prompt id, delete/clear, a move racing the prompt's start, and re-run from the server history.

A long prompt of ours (the "blocker") keeps the worker busy so the others stay pending; it is
interrupted to let the queue run. Waits are on socket messages and task events, never on a clock.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from comfy_reality.runtime import ComfyUIAsyncRuntime, Owner, TaskStatus, WorkflowExecution
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.workflows import apply_overrides
from tests.runtime.helpers import until
from tests.server.wsclient import Listener

from .conftest import make_runtime

SPEED = 50.0
WEB_UI = "web-ui-client-0001"


def graph(nonce: int, steps: int = 2, delay: float = 0.05) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": nonce},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": delay, "preview": False, "nonce": nonce},
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(port=0, speed=SPEED)) as embedded:
        yield embedded


@pytest.fixture
async def runtime(server: EmbeddedServer) -> AsyncIterator[ComfyUIAsyncRuntime]:
    rt = make_runtime(server.url)
    async with rt.session():
        yield rt


@pytest.fixture
async def web_ui(server: EmbeddedServer) -> AsyncIterator[Listener]:
    """Another client (say a browser's web UI) with its own socket."""
    async with Listener(f"{server.ws_url}?clientId={WEB_UI}") as listener:
        yield listener


async def foreign_post(server: EmbeddedServer, nonce: int, *, client_id: str = WEB_UI) -> str:
    """POST /prompt as the web UI does: its client_id and its graph in extra_pnginfo."""
    body = {
        "prompt": graph(nonce),
        "client_id": client_id,
        "extra_data": {"extra_pnginfo": {"workflow": {"id": f"{nonce:08d}-graph", "nodes": []}}},
    }
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{server.url}/prompt", json=body)
    answer.raise_for_status()
    return str(answer.json()["prompt_id"])


async def blocker(runtime: ComfyUIAsyncRuntime, nonce: int) -> WorkflowExecution:
    """Our long prompt, running: everything queued after it stays pending until it is cancelled."""
    execution = await runtime.submit(graph(nonce, steps=5000, delay=1.0), name="blocker")
    await until(runtime, lambda: execution.status is TaskStatus.RUNNING)
    return execution


def started(listener: Listener) -> list[str]:
    return [m["data"]["prompt_id"] for m in listener.json("execution_start")]


async def pending_ids(runtime: ComfyUIAsyncRuntime) -> list[str]:
    return [e.prompt_id for e in (await runtime.queue_snapshot()).pending]


async def test_foreign_prompts_are_listed_in_order_with_their_owner(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, web_ui: Listener
) -> None:
    block = await blocker(runtime, 101)
    ours = await runtime.submit(graph(102), name="ours")
    theirs = await foreign_post(server, 103)
    old_instance = f"old-instance-{uuid.uuid4().hex[:8]}"
    runtime.set_app_client_ids([old_instance])
    sibling = await foreign_post(server, 104, client_id=old_instance)

    snapshot = await runtime.queue_snapshot()

    assert [e.prompt_id for e in snapshot.running] == [block.prompt_id]
    assert [(e.prompt_id, e.position) for e in snapshot.pending] == [
        (ours.prompt_id, 1),
        (theirs, 2),
        (sibling, 3),
    ]
    by_id = {e.prompt_id: e for e in snapshot.entries}
    assert (
        by_id[block.prompt_id].owner is Owner.THIS_APP and by_id[block.prompt_id].workflow_name == "blocker"
    )
    assert by_id[ours.prompt_id].owner is Owner.THIS_APP
    assert by_id[theirs].owner is Owner.OTHER_CLIENT and by_id[theirs].client_id == WEB_UI
    assert by_id[theirs].workflow_name == "workflow 00000103" and by_id[theirs].node_count == 3
    assert by_id[sibling].owner is Owner.OTHER_INSTANCE
    assert all(e.age() >= 0 for e in snapshot.entries)
    # This app knows when it queued its own prompts; the server (API 0.3.64) gives no create_time.
    assert by_id[ours.prompt_id].queued_at == ours.created_at
    assert by_id[block.prompt_id].queued_at == block.created_at
    assert by_id[theirs].queued_at is None and not by_id[theirs].queue_time_known
    assert by_id[sibling].queued_at is None
    await runtime.cancel(block)


async def test_move_to_front_keeps_the_prompt_id_and_its_owner_still_hears_it(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, web_ui: Listener
) -> None:
    block = await blocker(runtime, 201)
    first, second, third = [await foreign_post(server, n) for n in (202, 203, 204)]

    report = await runtime.move_queued(third, "front")

    assert report.outcome == "moved" and report.prompt_id == third and report.position == 1
    assert await pending_ids(runtime) == [third, first, second]
    moved = (await runtime.queue_snapshot()).find(third)
    assert moved is not None and moved.client_id == WEB_UI and moved.workflow_name == "workflow 00000204"

    await runtime.cancel(block)
    await web_ui.wait_done(second)
    # The web UI's socket got execution_start for the moved prompt, under its unchanged id, first.
    assert started(web_ui) == [third, first, second]
    history = await runtime.server_history()
    assert [h.prompt_id for h in history][:3] == [second, first, third]
    assert all(h.status == "success" and h.owner is Owner.OTHER_CLIENT for h in history[:3])


async def test_move_before_after_up_and_down(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, web_ui: Listener
) -> None:
    block = await blocker(runtime, 301)
    a, b, c, d = [await foreign_post(server, n) for n in (302, 303, 304, 305)]

    assert (await runtime.move_queued(d, "before", b)).outcome == "moved"
    assert await pending_ids(runtime) == [a, d, b, c]
    assert (await runtime.move_queued(a, "after", c)).outcome == "moved"
    assert await pending_ids(runtime) == [d, b, c, a]
    assert (await runtime.move_queued(c, "up")).outcome == "moved"
    assert await pending_ids(runtime) == [d, c, b, a]
    assert (await runtime.move_queued(d, "down")).outcome == "moved"
    assert await pending_ids(runtime) == [c, d, b, a]
    unchanged = await runtime.move_queued(c, "up")
    assert unchanged.outcome == "unchanged" and "already first" in unchanged.detail
    running = await runtime.move_queued(block.prompt_id or "", "front")
    assert running.outcome == "running"
    assert (await runtime.move_queued("no-such-prompt", "front")).outcome == "not_found"

    await runtime.cancel(block)
    await web_ui.wait_done(a)
    assert started(web_ui) == [c, d, b, a]


async def test_delete_one_and_clear_only_ours(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, web_ui: Listener
) -> None:
    block = await blocker(runtime, 401)
    mine_1 = await runtime.submit(graph(402), name="mine 1")
    theirs_1 = await foreign_post(server, 403)
    mine_2 = await runtime.submit(graph(404), name="mine 2")
    theirs_2 = await foreign_post(server, 405)

    deleted = await runtime.delete_queued([theirs_1, block.prompt_id or "", "no-such-prompt"])
    assert deleted.deleted == [theirs_1]
    assert deleted.running == [block.prompt_id]  # the server deletes pending prompts only
    assert deleted.not_found == ["no-such-prompt"]
    assert await pending_ids(runtime) == [mine_1.prompt_id, mine_2.prompt_id, theirs_2]

    cleared = await runtime.clear_queue(only_app=True)
    assert sorted(cleared.deleted) == sorted([mine_1.prompt_id, mine_2.prompt_id])
    assert await pending_ids(runtime) == [theirs_2]
    snapshot = await runtime.queue_snapshot()
    assert [e.prompt_id for e in snapshot.running] == [block.prompt_id]

    everything = await runtime.clear_queue()
    assert everything.deleted == [theirs_2] and everything.running == [block.prompt_id]
    assert await pending_ids(runtime) == []
    await runtime.cancel(block)


async def test_a_move_racing_the_prompts_start_leaves_it_alone(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, web_ui: Listener
) -> None:
    block = await blocker(runtime, 501)
    first = await foreign_post(server, 502)
    second = await foreign_post(server, 503)
    queue = runtime.server_queue
    real_delete = queue.client.delete_from_queue

    async def worker_wins(prompt_ids: list[str]) -> None:
        # The worker takes `second` between our read of the queue and our delete.
        await real_delete([first])
        await runtime.cancel(block)
        await web_ui.wait(lambda s: second in started(s), what="second started")
        await real_delete(prompt_ids)

    queue.client.delete_from_queue = worker_wins  # type: ignore[method-assign]
    try:
        report = await runtime.move_queued(second, "front")
    finally:
        del queue.client.delete_from_queue

    assert report.outcome == "started" and "left alone" in report.detail
    await web_ui.wait_done(second)
    assert started(web_ui) == [second]  # ran once, under its own id; nothing re-queued
    assert await pending_ids(runtime) == []
    history = {h.prompt_id: h for h in await runtime.server_history()}
    assert history[second].status == "success"


async def test_rerun_from_server_history_with_edits(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, web_ui: Listener
) -> None:
    original = await foreign_post(server, 601)
    await web_ui.wait_done(original)

    source = await runtime.history_prompt(original)
    assert source.prompt == graph(601) and source.client_id == WEB_UI
    assert "client_id" not in source.rerun_extra_data() and "extra_pnginfo" in source.rerun_extra_data()
    edited = apply_overrides(source.prompt, {"2.steps": "3", "1.color": "602"})
    rerun = await runtime.execute_workflow(edited, name="rerun", extra_data=source.rerun_extra_data())

    assert rerun.status is TaskStatus.COMPLETED and rerun.prompt_id != original
    node = rerun.node_task("2")
    assert node is not None and node.max == 3
    items = {h.prompt_id: h for h in await runtime.server_history()}
    assert items[rerun.prompt_id or ""].owner is Owner.THIS_APP
    assert items[original].owner is Owner.OTHER_CLIENT
    again = await runtime.history_prompt(rerun.prompt_id or "")
    assert again.prompt["2"]["inputs"]["steps"] == 3 and again.prompt["1"]["inputs"]["color"] == 602
    assert (await runtime.history_prompt(original)).prompt == graph(601)  # the original is unchanged


async def test_follow_yields_a_new_snapshot_when_another_client_queues(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, web_ui: Listener
) -> None:
    block = await blocker(runtime, 701)
    stream = runtime.follow_queue()
    try:
        first = await anext(stream)
        assert [e.prompt_id for e in first.running] == [block.prompt_id] and first.pending == []
        theirs = await foreign_post(server, 702)
        while True:  # each status broadcast gives a fresh read; the foreign prompt shows up in one
            snapshot = await anext(stream)
            if snapshot.pending:
                break
        assert [e.prompt_id for e in snapshot.pending] == [theirs]
        assert snapshot.pending[0].owner is Owner.OTHER_CLIENT
    finally:
        await stream.aclose()
    await runtime.cancel(block)


def test_workflow_name_and_owner_come_from_what_the_client_sent() -> None:
    from comfy_reality.runtime.server_queue import owner_of, workflow_name_of

    graph_only = {"extra_pnginfo": {"workflow": {"id": "5e1f0c2a-1111", "nodes": []}}}
    named = {"extra_pnginfo": {"workflow": {"id": "x", "extra": {"name": "  portrait\n"}}}}
    assert workflow_name_of(graph_only) == "workflow 5e1f0c2a"
    assert workflow_name_of(named) == "portrait"
    assert workflow_name_of({"extra_pnginfo": "not a dict"}) is None and workflow_name_of(None) is None
    assert owner_of("me", "me", ["old"]) is Owner.THIS_APP
    assert owner_of("old", "me", ["old"]) is Owner.OTHER_INSTANCE
    assert owner_of("browser", "me", ["old"]) is Owner.OTHER_CLIENT
    assert owner_of(None, "me", ["old"]) is Owner.NO_CLIENT


async def test_a_move_after_an_anchor_that_left_puts_the_prompt_back(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime, web_ui: Listener
) -> None:
    block = await blocker(runtime, 801)
    a, b, c = [await foreign_post(server, n) for n in (802, 803, 804)]
    queue = runtime.server_queue
    real_delete = queue.client.delete_from_queue

    async def anchor_leaves(prompt_ids: list[str]) -> None:
        await real_delete([c])  # someone deletes the anchor between our read and our delete
        await real_delete(prompt_ids)

    queue.client.delete_from_queue = anchor_leaves  # type: ignore[method-assign]
    try:
        report = await runtime.move_queued(a, "after", c)
    finally:
        del queue.client.delete_from_queue
    assert report.outcome == "unchanged" and "left the queue" in report.detail
    assert await pending_ids(runtime) == [a, b]  # back in its old place, same id
    await runtime.cancel(block)
