"""The app over a pool: `--demo --servers N`, the status bar's server chips, the Servers screen
(disable, drain, pin, add one for this session), and executions naming their server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from textual.widgets import Input

from comfy_reality.config import ServerEntry, Settings
from comfy_reality.runtime.pool_app import PoolRuntime
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.input_form import InputFormScreen
from comfy_reality.tui.screens.servers import ServersScreen
from comfy_reality.tui.widgets import WorkflowBrowser

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text

SIZE = (150, 40)


@pytest.fixture
async def extra_server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as running:
        yield running


def pool_of(app: ComfyRealityApp) -> PoolRuntime:
    runtime = app.runtime
    assert isinstance(runtime, PoolRuntime)
    return runtime


async def test_demo_with_three_servers_shows_each_and_runs_on_one(extra_server: EmbeddedServer) -> None:
    app = ComfyRealityApp(
        Settings(), bundled_dir=WORKFLOWS, frame_interval=0.005, demo=True, demo_servers=3, use_journal=False
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.runtime, PoolRuntime), what="the pool")
        pool = pool_of(app)
        await wait_for(
            pilot, lambda: all(m.connected and m.catalogue for m in pool.pool.members), what="servers"
        )
        assert [m.weight for m in pool.pool.members] == [1.0, 2.0, 0.5]  # different speeds
        await wait_for_text(pilot, "demo3 q")
        assert "● demo1 q" in screen_text(app) and "● demo2 q" in screen_text(app)

        # The Servers screen: details, drain one, disable one, pin the last: the run goes there.
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ServersScreen), what="the Servers screen")
        await wait_for_text(pilot, "Servers of the pool")
        await pilot.press("n")  # drain demo1
        await pilot.press("down", "d")  # disable demo2
        await pilot.press("down", "p")  # pin demo3
        await wait_for(pilot, lambda: [m.state for m in pool.pool.members][:2] == ["draining", "disabled"])
        assert pool.pinned == "demo3"
        await wait_for_text(pilot, "demo3 (pinned)")

        # Add a server for this session.
        await pilot.press("a")
        await pilot.press(*extra_server.url)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(pool.pool.members) == 4, what="the added server")
        await wait_for_text(pilot, extra_server.url)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ServersScreen))

        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        assert browser.highlight("progress") is not None
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(app.session.entries), what="an execution")
        (entry,) = app.session.entries.values()
        await wait_for(pilot, lambda: entry.execution.metadata.get("server_name") == "demo3")
        await wait_for_text(pilot, "@demo3")


async def test_servers_key_with_one_server_says_how_to_pool(extra_server: EmbeddedServer) -> None:
    app = ComfyRealityApp(
        Settings(server_url=extra_server.url), bundled_dir=WORKFLOWS, frame_interval=0.005, use_journal=False
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.runtime is not None)
        await pilot.press("s")
        await wait_for_text(pilot, "Pool several with --server URL")


async def test_config_servers_make_a_pool(extra_server: EmbeddedServer) -> None:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as other:
        settings = Settings(
            servers=[ServerEntry(url=extra_server.url, name="left"), ServerEntry(url=other.url, name="right")]
        )
        app = ComfyRealityApp(settings, bundled_dir=WORKFLOWS, frame_interval=0.005, use_journal=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.runtime, PoolRuntime), what="the pool")
            await wait_for_text(pilot, "right q")
            assert [m.name for m in pool_of(app).pool.members] == ["left", "right"]


async def test_the_input_form_queues_a_batch_across_the_pool(extra_server: EmbeddedServer) -> None:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as other:
        settings = Settings(
            servers=[ServerEntry(url=extra_server.url, name="a"), ServerEntry(url=other.url, name="b")]
        )
        app = ComfyRealityApp(settings, bundled_dir=WORKFLOWS, frame_interval=0.005, use_journal=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.runtime, PoolRuntime), what="the pool")
            await wait_for(pilot, lambda: app.object_info is not None, what="object_info")
            browser = app.query_one(WorkflowBrowser)
            browser.option_list.focus()
            await wait_for(
                pilot, lambda: browser.highlight("txt2img-ui") is not None, what="txt2img-ui listed"
            )
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="the form")
            form = app.screen
            assert isinstance(form, InputFormScreen)
            form.query_one("#batch-repeat", Input).value = "2"
            form.query_one("#batch-sweep", Input).value = "3.seed=random; 3.steps=2,3"
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: len(app.session.entries) == 4, what="four runs", timeout=20)
            titles = sorted(e.title for e in app.session.entries.values())
            assert titles[0] == "txt2img-ui (edited) [3.seed=random 3.steps=2 #1]"
            servers = {e.execution.metadata.get("server_name") for e in app.session.entries.values()}
            assert servers == {"a", "b"}  # spread over the pool
            seeds = {e.execution.prompt["3"]["inputs"]["seed"] for e in app.session.entries.values()}
            assert len(seeds) == 4  # a new seed for each run


async def test_a_bad_sweep_in_the_form_is_refused_with_the_reason(extra_server: EmbeddedServer) -> None:
    app = ComfyRealityApp(
        Settings(server_url=extra_server.url), bundled_dir=WORKFLOWS, frame_interval=0.005, use_journal=False
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.object_info is not None, what="object_info")
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        await wait_for(pilot, lambda: browser.highlight("txt2img-ui") is not None, what="txt2img-ui listed")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="the form")
        app.screen.query_one("#batch-sweep", Input).value = "3.seed"
        await pilot.press("ctrl+r")
        await wait_for_text(pilot, "Batch: '3.seed' is not NODE.INPUT=V1,V2")
        assert isinstance(app.screen, InputFormScreen)


async def test_a_server_added_on_the_servers_screen_says_why_it_is_down() -> None:
    """Found by hand: a server added here that cannot be reached read "down" and nothing more (its
    reason was in no row and no line), and it never joined the Capabilities list."""
    app = ComfyRealityApp(
        Settings(), bundled_dir=WORKFLOWS, frame_interval=0.005, demo=True, demo_servers=2, use_journal=False
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.runtime, PoolRuntime), what="the pool")
        pool = pool_of(app)
        await wait_for(pilot, lambda: all(m.connected for m in pool.pool.members), what="servers")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ServersScreen), what="the Servers screen")
        await wait_for_text(pilot, "demo2: ComfyUI")
        await pilot.press("a")
        app.screen.query_one("#servers-add", Input).value = "http://alice:hunter2@127.0.0.1:9"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(pool.pool.members) == 3, what="the added server")
        await wait_for_text(pilot, "down: [Errno 111] Connect call failed")
        await wait_for_text(pilot, "127.0.0.1:9: unknown (Cannot reach ComfyUI at http://127.0.0.1:9")
        assert "hunter2" not in screen_text(app) and "alice" not in screen_text(app)


async def test_the_palette_opens_the_servers_screen() -> None:
    """`s` is in no footer; the palette listed every other screen but not this one."""
    app = ComfyRealityApp(
        Settings(), bundled_dir=WORKFLOWS, frame_interval=0.005, demo=True, demo_servers=2, use_journal=False
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.runtime, PoolRuntime), what="the pool")
        await pilot.press("ctrl+p")
        await pilot.press(*"servers")
        await wait_for_text(pilot, "Each server of the pool")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServersScreen), what="the Servers screen")
        await wait_for_text(pilot, "Servers of the pool")
