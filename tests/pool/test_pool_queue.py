"""Every server's queue of a pool as one list, and moving a pending prompt to another server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from comfy_reality.runtime import ComfyUIClient
from comfy_reality.runtime.pool import ServerPool
from comfy_reality.runtime.pool_app import PoolRuntime
from comfy_reality.server import EmbeddedServer

from .conftest import quick_prompt

Servers = Callable[..., Awaitable[list[EmbeddedServer]]]
PoolSession = Callable[..., Awaitable[ServerPool]]
WEB_UI = "web-ui-8a0b"
EXTRA = {"extra_pnginfo": {"workflow": {"id": "graph-7", "nodes": []}}}


def blocker(nonce: int) -> dict[str, Any]:
    return quick_prompt(nonce, steps=5000)


async def test_the_queue_of_every_server_and_a_move_to_another_server(
    servers: Servers, pool_session: PoolSession
) -> None:
    embedded = await servers(2)
    for server in embedded:
        server.faults.step_delay = 0.5  # the blockers keep running while the test looks
    pool = await pool_session([s.url for s in embedded])
    runtime = PoolRuntime(pool)
    async with ComfyUIClient(embedded[0].url) as first, ComfyUIClient(embedded[1].url) as second:
        running0 = (await first.post_prompt(blocker(1), client_id=WEB_UI)).prompt_id
        running1 = (await second.post_prompt(blocker(2), client_id=WEB_UI)).prompt_id
        mover = (await first.post_prompt(quick_prompt(3), client_id=WEB_UI, extra_data=EXTRA)).prompt_id

        # The Queue screen's feed: one list over both servers, each entry naming its server.
        feed = runtime.follow_queue(fallback_interval=0.2)
        try:
            async for snapshot in feed:
                where = {e.prompt_id: e.server_url for e in snapshot.entries}
                if {running0, running1, mover} <= set(where):
                    break
        finally:
            await feed.aclose()  # type: ignore[attr-defined]
        assert where[running0] == where[mover] == embedded[0].url and where[running1] == embedded[1].url
        assert runtime.queue_servers() == [embedded[0].url, embedded[1].url]

        report = await runtime.move_to_server(mover, embedded[1].url)
        assert report.outcome == "moved" and report.server_url == embedded[1].url
        assert report.new_prompt_id is not None and report.new_prompt_id != mover  # ids do not cross servers
        assert "new prompt id" in report.detail
        assert (await first.get_queue()).find(mover) is None
        found = (await second.get_queue()).find(report.new_prompt_id)
        assert found is not None and found[0] == "pending"
        item = found[1]
        assert item.prompt == quick_prompt(3)
        assert item.extra_data["client_id"] == WEB_UI  # its owner still gets its progress
        assert item.extra_data["extra_pnginfo"] == EXTRA["extra_pnginfo"]

        # A running prompt is left alone; one that is gone is reported as such.
        running = await runtime.move_to_server(running0, embedded[1].url)
        assert running.outcome == "running" and (await first.get_queue()).find(running0) is not None
        gone = await runtime.move_to_server(mover, embedded[1].url)
        assert gone.outcome == "not_found"

        # Deletes go to the server that holds the prompt.
        deleted = await runtime.delete_queued([report.new_prompt_id])
        assert deleted.deleted == [report.new_prompt_id]
        for client, prompt_id in ((first, running0), (second, running1)):
            await client.interrupt(prompt_id)


async def test_an_output_of_a_run_the_pool_let_go_comes_from_the_server_that_made_it(
    servers: Servers, pool_session: PoolSession
) -> None:
    embedded = await servers(2)
    pool = await pool_session([s.url for s in embedded])
    runtime = PoolRuntime(pool)
    pool.task_manager.max_finished_roots = 1  # as after many runs
    old = await pool.wait(await pool.submit(quick_prompt(7), server="s1"))
    newer = await pool.wait(await pool.submit(quick_prompt(8), server="s1"))
    assert old.output_files and newer.output_files
    assert all(old.id not in m.runtime.executions for m in pool.members)  # let go
    data = await runtime.download_output(old.output_files[0])
    async with ComfyUIClient(embedded[1].url) as maker:
        file = old.output_files[0]
        assert data == await maker.view(file.filename, file.subfolder, file.type)
