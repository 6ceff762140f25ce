"""The Queue and Server History screens against the embedded server, driven as a user would.

Another client (a "web UI") queues prompts over HTTP; the app shows them with their owner,
moves/deletes/clears them, and re-runs a finished one through the input form.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable

from comfy_reality import paths
from comfy_reality.config import ServerEntry, Settings
from comfy_reality.runtime.models import TaskStatus
from comfy_reality.runtime.pool_app import PoolRuntime
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.input_form import InputFormScreen
from comfy_reality.tui.screens.name_prompt import NamePromptScreen
from comfy_reality.tui.screens.server_history import ServerHistoryScreen
from comfy_reality.tui.screens.server_queue import (
    ConfirmScreen,
    QueueScreen,
    ServerChoiceScreen,
    server_label,
)

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text
from .test_flows import connected, make_app

WEB_UI = "web-ui-4f1c0d2e"
SIZE = (120, 36)


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as running:
        yield running


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


async def web_ui_post(server: EmbeddedServer, prompt: dict[str, Any]) -> str:
    body = {
        "prompt": prompt,
        "client_id": WEB_UI,
        "extra_data": {"extra_pnginfo": {"workflow": {"id": "5e1f0c2a-graph", "nodes": []}}},
    }
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.post("/prompt", json=body)
        answer.raise_for_status()
        return str(answer.json()["prompt_id"])


async def http(server: EmbeddedServer, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.request(method, path, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None


def table_ids(screen: QueueScreen | ServerHistoryScreen) -> list[str]:
    table = screen.query_one(DataTable)
    return [str(table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(table.row_count)]


async def test_queue_screen_follows_moves_deletes_and_clears_other_clients_prompts(
    server: EmbeddedServer,
) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        blocker = await web_ui_post(server, graph(11, steps=5000, delay=1.0))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="Queue screen")
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await wait_for(pilot, lambda: table_ids(screen) == [blocker], what="the running prompt")
        first = await web_ui_post(server, graph(12))
        second = await web_ui_post(server, graph(13))
        # Followed live: the status broadcasts bring the new prompts without a key press.
        await wait_for(pilot, lambda: table_ids(screen) == [blocker, first, second], what="live update")
        text = screen_text(app)
        assert f"other {WEB_UI[:9]}…" in text and "workflow 5e1f0c2a" in text
        assert "another client's prompt; its progress goes only to that client" in text

        screen.query_one(DataTable).move_cursor(row=2)
        await pilot.press("f")
        await wait_for(pilot, lambda: table_ids(screen) == [blocker, second, first], what="moved to front")
        await wait_for_text(pilot, "(same prompt id)")
        queue = await http(server, "GET", "/queue")
        assert [item[1] for item in queue["queue_pending"]] == [second, first]
        assert all(item[3]["client_id"] == WEB_UI for item in queue["queue_pending"])

        screen.query_one(DataTable).move_cursor(row=1)
        await pilot.press("d")
        await wait_for(pilot, lambda: table_ids(screen) == [blocker, first], what="deleted")

        await pilot.press("m")  # only ours: none of these are
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for_text(pilot, "Cleared 0 pending prompt(s)")
        assert table_ids(screen) == [blocker, first]
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "EVERY client" in screen_text(app)
        await pilot.press("n")  # asked first: no means nothing happens
        await wait_for(pilot, lambda: app.screen is screen)
        assert table_ids(screen) == [blocker, first]
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: table_ids(screen) == [blocker], what="cleared")
        await http(server, "POST", "/interrupt", json={"prompt_id": blocker})
        await wait_for(pilot, lambda: table_ids(screen) == [], what="queue empty")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)


async def test_queue_screen_moves_before_and_after_a_picked_row(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        blocker = await web_ui_post(server, graph(21, steps=5000, delay=1.0))
        first = await web_ui_post(server, graph(22))
        second = await web_ui_post(server, graph(23))
        third = await web_ui_post(server, graph(24))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="Queue screen")
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table_ids(screen) == [blocker, first, second, third], what="the queue")

        table.move_cursor(row=3)
        await pilot.press("b")
        await wait_for_text(pilot, "pick the row with ↑/↓ and press Enter")
        await pilot.press("up", "up", "enter")  # before the first pending one
        await wait_for(
            pilot, lambda: table_ids(screen) == [blocker, third, first, second], what="moved before"
        )
        await wait_for_text(pilot, "(same prompt id)")

        table.move_cursor(row=2)  # first
        await pilot.press("a")
        await pilot.press("down", "enter")  # after second
        await wait_for(
            pilot, lambda: table_ids(screen) == [blocker, third, second, first], what="moved after"
        )
        queue = await http(server, "GET", "/queue")
        assert [item[1] for item in queue["queue_pending"]] == [third, second, first]
        assert all(item[3]["client_id"] == WEB_UI for item in queue["queue_pending"])

        # Esc leaves the pick without moving anything, and a second Esc leaves the screen.
        table.move_cursor(row=1)
        await pilot.press("a")
        await pilot.press("escape")
        await wait_for_text(pilot, "Move cancelled.")
        assert app.screen is screen and screen.picking is None
        await pilot.press("enter")
        assert table_ids(screen) == [blocker, third, second, first]
        await http(server, "POST", "/queue", json={"clear": True})
        await http(server, "POST", "/interrupt", json={"prompt_id": blocker})
        await wait_for(pilot, lambda: table_ids(screen) == [], what="queue empty")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)


async def server_history_of_one_web_ui_prompt(
    pilot: Any, app: ComfyRealityApp, server: EmbeddedServer
) -> tuple[str, ServerHistoryScreen]:
    """Connected, one prompt run by the web UI, and the Server History screen open on it."""
    await connected(pilot, app, catalogue=True)
    original = await web_ui_post(server, graph(21))
    await wait_for_history(server, original)
    await pilot.press("H")
    await wait_for(pilot, lambda: isinstance(app.screen, ServerHistoryScreen), what="Server History")
    screen = app.screen
    assert isinstance(screen, ServerHistoryScreen)
    await wait_for(pilot, lambda: table_ids(screen) == [original], what="the web UI's prompt")
    return original, screen


async def test_server_history_reruns_through_the_form_and_saves_a_workflow(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        original, screen = await server_history_of_one_web_ui_prompt(pilot, app, server)
        await wait_for_text(pilot, "✓ success")
        assert f"queued by other ({WEB_UI})" in screen_text(app)

        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="input form")
        form = app.screen
        assert isinstance(form, InputFormScreen)
        await wait_for_text(pilot, "steps")
        before = set(app.session.entries)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: set(app.session.entries) - before, what="a re-run queued")
        (new_id,) = set(app.session.entries) - before
        await wait_for(pilot, lambda: app.session.entries[new_id].status.is_final, 20, what="re-run done")
        rerun = app.session.entries[new_id]
        assert rerun.status is TaskStatus.COMPLETED
        body = await http(server, "GET", f"/history/{rerun.execution.prompt_id}")
        assert body[rerun.execution.prompt_id]["prompt"][2] == graph(21)  # the values as they ran

        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("f5")
        await wait_for(pilot, lambda: len(table_ids(screen)) == 2, what="refreshed")
        assert table_ids(screen)[0] == rerun.execution.prompt_id  # newest first
        screen.query_one(DataTable).move_cursor(row=1)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, NamePromptScreen), what="name prompt")
        await pilot.press("enter")
        await wait_for_text(pilot, "in your workflows")
        saved = list(paths.user_workflows_dir().glob("*.json"))
        assert len(saved) == 1 and json.loads(saved[0].read_text()) == graph(21)

        await wait_for(pilot, lambda: app.screen is screen)
        screen.query_one(DataTable).move_cursor(row=1)
        await pilot.press("d")
        await wait_for(pilot, lambda: table_ids(screen) == [rerun.execution.prompt_id], what="deleted")
        assert await http(server, "GET", f"/history/{original}") == {}


async def wait_for_history(server: EmbeddedServer, prompt_id: str) -> None:
    import asyncio

    for _ in range(1000):
        if await http(server, "GET", f"/history/{prompt_id}"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{prompt_id} never finished")


async def test_queue_and_server_history_need_a_connection(tmp_path: Path) -> None:
    app = make_app("http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await wait_for_text(pilot, "Not connected to http://127.0.0.1:9")
        assert app.screen is app.main_screen


async def test_journal_history_reruns_through_the_form(server: EmbeddedServer, tmp_path: Path) -> None:
    from comfy_reality.tui.screens.journal_screen import JournalScreen

    from .test_flows import final, run_workflow

    app = make_app(server.url, journal_path=tmp_path / "journal.sqlite3")
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, catalogue=True)
        entry = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen), what="History")
        history = app.screen
        assert isinstance(history, JournalScreen)
        await wait_for(pilot, lambda: history.selected is not None, what="details")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="input form")
        form = app.screen
        assert isinstance(form, InputFormScreen)
        assert form.prompt == entry.execution.prompt


async def test_queue_screen_over_a_pool_names_each_server_and_moves_to_another(
    server: EmbeddedServer,
) -> None:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as other:
        settings = Settings(
            servers=[ServerEntry(url=server.url, name="a"), ServerEntry(url=other.url, name="b")]
        )
        app = ComfyRealityApp(settings, bundled_dir=WORKFLOWS, frame_interval=0.005, use_journal=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.runtime, PoolRuntime), what="the pool")
            runtime = app.runtime
            assert isinstance(runtime, PoolRuntime)
            await wait_for(pilot, lambda: all(m.connected for m in runtime.pool.members), what="servers")
            blocker_a = await web_ui_post(server, graph(31, steps=5000, delay=1.0))
            blocker_b = await web_ui_post(other, graph(32, steps=5000, delay=1.0))
            mover = await web_ui_post(server, graph(33))
            app.task_tree.focus()
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="Queue screen")
            screen = app.screen
            assert isinstance(screen, QueueScreen)
            await wait_for(
                pilot, lambda: set(table_ids(screen)) == {blocker_a, blocker_b, mover}, what="both queues"
            )
            text = screen_text(app)
            assert "Server" in text and server_label(server.url) in text and server_label(other.url) in text

            table = screen.query_one(DataTable)
            table.move_cursor(row=table_ids(screen).index(mover))
            await pilot.press("s")
            await wait_for(
                pilot, lambda: isinstance(app.screen, ServerChoiceScreen), what="the server choice"
            )
            assert "NEW prompt id" in screen_text(app)
            await pilot.press("enter")  # the only other server
            await wait_for_text(pilot, "NEW prompt id")
            await wait_for(pilot, lambda: mover not in table_ids(screen), what="gone from the first server")
            moved = [i for i in table_ids(screen) if i not in (blocker_a, blocker_b)]
            assert len(moved) == 1 and moved[0] != mover
            queue = await http(other, "GET", "/queue")
            assert [item[1] for item in queue["queue_pending"]] == moved
            assert queue["queue_pending"][0][3]["client_id"] == WEB_UI
            assert queue["queue_pending"][0][2] == graph(33)

            await http(server, "POST", "/interrupt", json={"prompt_id": blocker_a})
            await http(other, "POST", "/queue", json={"clear": True})
            await http(other, "POST", "/interrupt", json={"prompt_id": blocker_b})
            await wait_for(pilot, lambda: table_ids(screen) == [], what="queues empty")


async def test_queue_and_server_history_footers_name_the_palette_once(server: EmbeddedServer) -> None:
    """Found by hand at 200 columns: "^p Palette" twice, the second docked at the right edge
    (at 80 columns it covered the screen's own keys)."""
    app = make_app(server.url)
    async with app.run_test(size=(200, 30)) as pilot:
        await connected(pilot, app)
        for key, screen_type in (("q", QueueScreen), ("H", ServerHistoryScreen)):
            await pilot.press(key)
            await wait_for(
                pilot, lambda kind=screen_type: isinstance(app.screen, kind), what=screen_type.__name__
            )
            await wait_for_text(pilot, "esc Back")
            footer_line = screen_text(app).splitlines()[-1]
            assert footer_line.count("Palette") == 1, footer_line
            await pilot.press("escape")
            await wait_for(pilot, lambda kind=screen_type: not isinstance(app.screen, kind), what="back")


async def test_server_history_names_this_apps_own_prompts(server: EmbeddedServer) -> None:
    """Found by hand: the Queue screen named this app's prompts, Server history showed "—" for them
    (their extra_data carries no name), and a re-run of one was called "server 1a2b3c4d"."""
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        app.browser.option_list.focus()
        assert app.browser.highlight("progress") is not None
        await pilot.press("r")
        await wait_for(pilot, lambda: any(e.execution.is_final for e in app.session.entries.values()))
        (entry,) = app.session.entries.values()
        prompt_id = entry.execution.prompt_id
        assert prompt_id is not None
        await wait_for_history(server, prompt_id)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, ServerHistoryScreen), what="Server History")
        screen = app.screen
        assert isinstance(screen, ServerHistoryScreen)
        await wait_for(pilot, lambda: table_ids(screen) == [prompt_id], what="this app's prompt")
        row = next(line for line in screen_text(app).splitlines() if "✓ success" in line)
        assert "this app" in row and "progress" in row


async def test_an_empty_queue_says_so_and_what_to_do(server: EmbeddedServer) -> None:
    """Found by hand: an empty queue was a blank table with no sentence."""
    app = make_app(server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot, app)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="Queue screen")
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await wait_for_text(pilot, "The server's queue is empty")
        text = " ".join(screen_text(app).replace("│", " ").split())
        assert "0 running, 0 pending" in text
        assert "esc goes back to the main screen, where r runs the highlighted workflow" in text
        blocker = await web_ui_post(server, graph(21, steps=5000, delay=1.0))
        await wait_for(pilot, lambda: table_ids(screen) == [blocker], what="the running prompt")
        await wait_for(pilot, lambda: "queue is empty" not in screen_text(app), what="the sentence gone")
        assert screen.query_one(DataTable).has_focus
        await http(server, "POST", "/interrupt", json={"prompt_id": blocker})
        await wait_for_text(pilot, "The server's queue is empty")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)


async def test_queue_age_of_this_apps_prompts_is_their_queue_time(server: EmbeddedServer) -> None:
    """Found by hand: Age was when the screen first saw a prompt, so prompts queued apart all read
    the same. This app's prompts are aged from when it queued them; another client's (the server
    gives no queue time) read "≥" the time since they were first seen."""
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        blocker = await web_ui_post(server, graph(31, steps=5000, delay=1.0))
        app.browser.option_list.focus()
        assert app.browser.highlight("progress") is not None
        for count in (1, 2, 3):
            await pilot.press("r")
            await wait_for(
                pilot,
                lambda n=count: sum(1 for e in app.session.entries.values() if e.execution.prompt_id) == n,
                what=f"run {count} queued",
            )
        assert app.runtime is not None
        ours = sorted((e for e in app.runtime.executions.values() if e.prompt_id), key=lambda e: e.created_at)
        assert len(ours) == 3
        # As if queued 40, 30 and 20 seconds ago (the runtime's record is what the screen reads).
        for execution, ago in zip(ours, (40, 30, 20), strict=True):
            execution.created_at = execution.created_at - timedelta(seconds=ago)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="Queue screen")
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        want = [blocker, *(e.prompt_id for e in ours)]
        await wait_for(pilot, lambda: table_ids(screen) == want, what="all four prompts")
        rows = {
            prompt_id: line
            for line in screen_text(app).splitlines()
            for prompt_id in want
            if prompt_id[:8] in line
        }
        for execution, ago in zip(ours, (40, 30, 20), strict=True):
            assert execution.prompt_id is not None
            assert re.search(rf" {ago}\.\ds ", rows[execution.prompt_id]), rows[execution.prompt_id]
            assert "≥" not in rows[execution.prompt_id]
        assert re.search(r" ≥\d+\.\ds ", rows[blocker]), rows[blocker]  # another client's: only seen
        assert "Age ≥…: first seen here that long ago; the server gave no queue time." in screen_text(app)
        await http(server, "POST", "/queue", json={"clear": True})
        await http(server, "POST", "/interrupt", json={"prompt_id": blocker})
        await wait_for(pilot, lambda: table_ids(screen) == [], what="queue empty")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)


async def test_the_app_closes_cleanly_on_the_queue_screen_while_the_queue_changes(
    server: EmbeddedServer,
) -> None:
    """A snapshot that arrived after the screen's widgets were gone raised NoMatches as the app closed."""
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        blocker = await web_ui_post(server, graph(41, steps=5000, delay=1.0))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="Queue screen")
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await wait_for(pilot, lambda: table_ids(screen) == [blocker], what="the running prompt")
        await http(server, "POST", "/interrupt", json={"prompt_id": blocker})
    assert app.return_code in (0, None)
