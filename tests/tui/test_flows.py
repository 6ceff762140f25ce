"""User flows end to end: the app, the real runtime and the embedded ComfyUI server (fast speed).

Every wait is on a condition (an execution's status, text on the screen), never a sleep.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Input, TextArea

from comfy_reality import paths
from comfy_reality.config import Settings
from comfy_reality.runtime import ComfyUIAsyncRuntime
from comfy_reality.runtime.models import ConnectionState, TaskStatus
from comfy_reality.runtime.runtime import Backoff
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.confirm_quit import ConfirmQuitScreen
from comfy_reality.tui.screens.help import HelpScreen
from comfy_reality.tui.screens.input_form import InputField, InputFormScreen
from comfy_reality.tui.screens.name_prompt import NamePromptScreen
from comfy_reality.tui.screens.save_outputs import SaveOutputsScreen
from comfy_reality.tui.state import ExecutionEntry
from comfy_reality.tui.widgets import TaskTree, WorkflowBrowser

from .helpers import BROKEN, WORKFLOWS, screen_text, wait_for, wait_for_text

SPEED = 50.0
SIZE = (120, 36)


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=SPEED)) as running:
        yield running


def make_app(url: str, **kwargs: Any) -> ComfyRealityApp:
    app = ComfyRealityApp(Settings(server_url=url), bundled_dir=WORKFLOWS, frame_interval=0.005, **kwargs)
    return app


async def connected(pilot: Any, app: ComfyRealityApp, *, catalogue: bool = False) -> None:
    await wait_for(
        pilot,
        lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
        what="connection",
    )
    await wait_for(
        pilot, lambda: any(wf.name == "progress" for wf in app.workflow_files), what="workflow scan"
    )
    if catalogue:
        await wait_for(pilot, lambda: app.object_info is not None, what="object_info")


async def run_workflow(pilot: Any, app: ComfyRealityApp, name: str) -> ExecutionEntry:
    """Highlight a workflow, press r, return the session entry of the execution it queued."""
    before = set(app.session.entries)
    browser = app.query_one(WorkflowBrowser)
    browser.option_list.focus()
    assert browser.highlight(name) is not None
    await pilot.press("r")
    await wait_for(pilot, lambda: set(app.session.entries) - before, what=f"an execution of {name}")
    (new_id,) = set(app.session.entries) - before
    return app.session.entries[new_id]


async def final(pilot: Any, app: ComfyRealityApp, entry_id: str, timeout: float = 20.0) -> ExecutionEntry:
    await wait_for(pilot, lambda: app.session.entries[entry_id].status.is_final, timeout, what="final state")
    return app.session.entries[entry_id]


async def server_json(server: EmbeddedServer, method: str, path: str, **kwargs: Any) -> Any:
    """Ask the server directly (async: it runs on this test's event loop)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        response = await client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


async def history_prompt(server: EmbeddedServer, prompt_id: str) -> dict[str, Any]:
    body = await server_json(server, "GET", f"/history/{prompt_id}")
    return dict(body[prompt_id]["prompt"][2])


async def test_run_to_success_then_save_outputs(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        entry = await run_workflow(pilot, app, "progress")
        entry = await final(pilot, app, entry.id)
        assert entry.status is TaskStatus.COMPLETED
        await wait_for_text(pilot, "progress  completed in")
        text = screen_text(app)
        assert "RealityProgress #2" in text and "10/10" in text
        assert "Outputs (1)" in text and "tui_progress_" in text
        assert app.query_one(TaskTree).selected_execution_id == entry.id
        # Save the outputs into the default folder.
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveOutputsScreen))
        assert app.screen.query_one(Input).value == str(paths.default_output_dir())
        await pilot.press("enter")
        await wait_for_text(pilot, f"Saved 1 file(s) to {paths.default_output_dir()}")
        saved = list(paths.default_output_dir().glob("tui_progress_*.png"))
        assert len(saved) == 1 and saved[0].read_bytes().startswith(b"\x89PNG")


async def test_cancel_while_running(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        entry = await run_workflow(pilot, app, "slow")
        await wait_for(
            pilot, lambda: any(t.value for t in app.session.entries[entry.id].nodes.values()), what="progress"
        )
        await wait_for_text(pilot, "/200")
        await pilot.press("x")
        entry = await final(pilot, app, entry.id)
        assert entry.status is TaskStatus.CANCELLED
        await wait_for_text(pilot, "slow  cancelled")
        sampler = next(t for t in entry.nodes.values() if t.class_type == "RealityProgress")
        assert sampler.status is TaskStatus.CANCELLED


async def test_cancel_a_pending_execution(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        running = await run_workflow(pilot, app, "slow")
        await wait_for(pilot, lambda: app.session.entries[running.id].status is TaskStatus.RUNNING)
        pending = await run_workflow(pilot, app, "slow")
        await wait_for(pilot, lambda: app.query_one(TaskTree).selected_execution_id == pending.id)
        assert app.session.entries[pending.id].status is TaskStatus.PENDING
        await wait_for_text(pilot, "queued")
        await pilot.press("x")
        pending = await final(pilot, app, pending.id)
        assert pending.status is TaskStatus.CANCELLED
        # Removing the queued prompt left the running one alone.
        assert app.session.entries[running.id].status is TaskStatus.RUNNING
        queue = await server_json(server, "GET", "/queue")
        assert [item[1] for item in queue["queue_pending"]] == []
        assert [item[1] for item in queue["queue_running"]] == [running.execution.prompt_id]
        # Any execution can be cancelled: move the cursor down to the running one.
        app.query_one(TaskTree).select_execution(running.id)
        await pilot.press("x")
        assert (await final(pilot, app, running.id)).status is TaskStatus.CANCELLED


async def test_retry_after_failure(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        entry = await final(pilot, app, (await run_workflow(pilot, app, "fail")).id)
        assert entry.status is TaskStatus.FAILED
        await wait_for_text(pilot, "RuntimeError in node 2 (RealityFail)")
        assert "deliberate failure" in screen_text(app)
        before = set(app.session.entries)
        await pilot.press("t")
        await wait_for(pilot, lambda: set(app.session.entries) - before, what="the retry")
        (retry_id,) = set(app.session.entries) - before
        retry = await final(pilot, app, retry_id)
        assert retry.execution.retry_of == entry.id
        assert retry.execution.prompt_id != entry.execution.prompt_id
        assert retry.status is TaskStatus.FAILED
        tree = app.query_one(TaskTree)
        assert [n.data.execution_id for n in tree.root.children] == [retry_id, entry.id]
        # A completed run cannot be retried; the app says why.
        done = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        assert done.status is TaskStatus.COMPLETED
        await pilot.press("t")
        await wait_for_text(pilot, "Only failed or cancelled runs can be retried")


async def test_validation_error_shown_per_node(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        entry = await run_workflow(pilot, app, "invalid-steps")
        assert entry.rejected and entry.status is TaskStatus.FAILED
        await wait_for_text(pilot, "node 2 (RealityProgress): Value 0 smaller than min of 1")
        text = screen_text(app)
        assert "rejected by the server" in text and "The server refused the prompt" in text
        assert "Prompt outputs failed validation" in text


async def test_server_down_at_start_then_up(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    slow_retry = Backoff(initial=60.0, maximum=60.0, jitter=0.0)
    app = make_app(url, runtime_factory=lambda u: ComfyUIAsyncRuntime(u, backoff=slow_retry, timeout=5))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, f"not connected to {url}: connection refused · retry in")
        assert "F5 now" in screen_text(app)
        # Workflows can still be browsed, and running says why it cannot.
        await wait_for(pilot, lambda: bool(app.workflow_files))
        app.query_one(WorkflowBrowser).highlight("progress")
        await pilot.press("r")
        await wait_for_text(pilot, f"Not connected to {url}")
        async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=port, speed=SPEED)):
            await pilot.press("f5")  # the next automatic retry is a minute away: F5 must do it now
            await wait_for(
                pilot, lambda: app.runtime.status.state is ConnectionState.CONNECTED, what="reconnect"
            )
            await wait_for_text(pilot, "queue 0")
            entry = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
            assert entry.status is TaskStatus.COMPLETED


async def test_help_describes_the_focused_pane_and_every_key(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        app.query_one(TaskTree).focus()
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await wait_for_text(pilot, "Every run of this session")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        ids = [row[2] for row in help_screen.global_keys]
        for key_id in (
            "run",
            "cancel",
            "retry",
            "toggle_log",
            "filter",
            "reconnect",
            "help",
            "quit",
            "command_palette",
        ):
            assert key_id in ids
        assert "tree.expand" in [row[2] for row in help_screen.pane_keys]
        await wait_for_text(pilot, "Keys everywhere")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
        app.query_one(WorkflowBrowser).option_list.focus()
        await pilot.press("question_mark")
        await wait_for_text(pilot, "Saved workflows, one section per source")


async def test_help_has_a_key_table_per_pane_the_focused_one_first(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=(120, 60)) as pilot:
        await connected(pilot, app)
        app.query_one(TaskTree).focus()
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        titles = [title for title, _rows in help_screen.sections]
        assert titles[0] == "Executions"
        for title in ("Workflows", "Execution detail", "Log", "History (h)"):
            assert title in titles
        keys = {title: [row[2] for row in rows] for title, rows in help_screen.sections}
        assert "tree.expand" in keys["Executions"] and "tree.collapse" in keys["Executions"]
        assert "workflows.down" in keys["Workflows"] and "run" not in keys["Workflows"]  # run: everywhere
        assert "log.follow" in keys["Log"]
        every_id = [ident for rows in keys.values() for ident in rows]
        assert not [
            ident for ident in every_id if ident.startswith(("screen.", "app.")) or "cursor_" in ident
        ]
        await wait_for_text(pilot, "Keys everywhere")
        text = screen_text(app)
        assert text.index("  Executions") < text.index("Keys everywhere")  # the focused pane first
        help_screen.query_one("#help-body").scroll_end(animate=False)
        await wait_for_text(pilot, "History (h)")
        text += screen_text(app)
        assert "gallery_open" in keys["Execution detail"]
        assert "Page Left" not in text and "copy_text" not in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
        app.query_one(WorkflowBrowser).option_list.focus()
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen) and app.screen.sections[0][0] == "Workflows"


async def test_quit_asks_while_running_and_leaves_the_prompt_on_the_server(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        entry = await run_workflow(pilot, app, "slow")
        await wait_for(pilot, lambda: app.session.entries[entry.id].status is TaskStatus.RUNNING)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmQuitScreen))
        await wait_for_text(pilot, "they keep running on the server")
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmQuitScreen))
        assert app.is_running
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmQuitScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, what="exit")
    queue = await server_json(server, "GET", "/queue")
    assert [item[1] for item in queue["queue_running"]] == [entry.execution.prompt_id]


async def test_quit_without_running_prompts_does_not_ask(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, what="exit")


def _field(app: ComfyRealityApp, key: str) -> InputField:
    return next(f for f in app.screen.query(InputField) if f.item.key == key)


async def test_ui_workflow_form_edits_seed_and_text_and_the_server_gets_them(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot, app, catalogue=True)
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        assert browser.highlight("txt2img-ui") is not None
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="the form")
        await wait_for_text(pilot, "Edit inputs · txt2img-ui")
        seed, steps, text = _field(app, "3.seed"), _field(app, "3.steps"), _field(app, "6.text")
        assert isinstance(text.editor, TextArea)  # CLIPTextEncode text is multiline
        # An invalid value is refused with the spec's reason, and running is refused too.
        steps.editor.focus()
        steps_input = steps.editor
        assert isinstance(steps_input, Input)
        steps_input.value = "0"
        await wait_for_text(pilot, "smaller than min of 1")
        await pilot.press("ctrl+r")
        await wait_for_text(pilot, "value(s) refused")
        assert isinstance(app.screen, InputFormScreen)
        steps_input.value = "3"
        # Corrected: the refusal goes away with the reason under the field.
        await wait_for(pilot, lambda: "value(s) refused" not in screen_text(app), what="the refusal cleared")
        # ctrl+n randomizes the focused seed; then type a fixed one.
        seed.editor.focus()
        old_seed = seed.raw_value()
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: seed.raw_value() != old_seed, what="a new seed")
        seed_input = seed.editor
        assert isinstance(seed_input, Input)
        seed_input.value = "12345"
        text_area = text.editor
        assert isinstance(text_area, TextArea)
        text_area.text = "a red fox in the snow"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not isinstance(app.screen, InputFormScreen), what="form closed")
        await wait_for(
            pilot, lambda: any(e.title == "txt2img-ui (edited)" for e in app.session.entries.values())
        )
        entry = next(e for e in app.session.entries.values() if e.title == "txt2img-ui (edited)")
        entry = await final(pilot, app, entry.id, timeout=30)
        assert entry.status is TaskStatus.COMPLETED, entry.execution.error
        received = await history_prompt(server, entry.execution.prompt_id or "")
        assert received["3"]["inputs"]["seed"] == 12345
        assert received["3"]["inputs"]["steps"] == 3
        assert received["6"]["inputs"]["text"] == "a red fox in the snow"
        assert received["3"]["class_type"] == "KSampler"  # converted from the UI format


async def form_of_progress_with_steps(pilot: Any, app: ComfyRealityApp, steps: str) -> None:
    """Connected with the catalogue, the form of "progress" open and its steps field set."""
    await connected(pilot, app, catalogue=True)
    app.query_one(WorkflowBrowser).highlight("progress")
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen))
    field = _field(app, "2.steps").editor
    assert isinstance(field, Input)
    field.value = steps


async def test_form_saves_a_new_local_workflow(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await form_of_progress_with_steps(pilot, app, "4")
        await pilot.press("ctrl+s")
        await wait_for_text(pilot, "Save as a new workflow")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any(wf.name == "progress-edited" and wf.source == "user" for wf in app.workflow_files),
            what="the saved workflow listed",
        )
        saved = json.loads((paths.user_workflows_dir() / "progress-edited.json").read_text())
        assert saved["2"]["inputs"]["steps"] == 4


async def test_esc_in_the_save_dialog_goes_back_to_the_form_with_its_edits(server: EmbeddedServer) -> None:
    """Found by hand: ctrl+s then esc (a second thought about the name) closed the form too, and
    every value typed into it was lost."""
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await form_of_progress_with_steps(pilot, app, "4")
        for save_key in ("ctrl+s", "ctrl+t"):
            await pilot.press(save_key)
            await wait_for(pilot, lambda: isinstance(app.screen, NamePromptScreen), what="the name dialog")
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="back to the form")
            await wait_for_text(pilot, "Edit inputs · progress")
            assert _field(app, "2.steps").raw_value() == "4"
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: any(e.title == "progress (edited)" for e in app.session.entries.values())
        )


async def test_server_saved_workflows_are_listed_opened_and_run(server: EmbeddedServer) -> None:
    prompt = json.loads((WORKFLOWS / "progress.json").read_text())
    prompt["2"]["inputs"]["steps"] = 3
    await server_json(
        server, "POST", "/userdata/workflows%2Fshared%20on%20server.json", content=json.dumps(prompt)
    )
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await wait_for(
            pilot, lambda: any(wf.source == "server" for wf in app.workflow_files), what="server list"
        )
        await wait_for_text(pilot, "On the server  1")
        assert "shared on server" in screen_text(app)
        entry = await run_workflow(pilot, app, "shared on server")
        entry = await final(pilot, app, entry.id)
        assert entry.status is TaskStatus.COMPLETED
        received = await history_prompt(server, entry.execution.prompt_id or "")
        assert received["2"]["inputs"]["steps"] == 3
        # It opens in the form too.
        app.query_one(WorkflowBrowser).option_list.focus()
        app.query_one(WorkflowBrowser).highlight("shared on server")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen))
        assert _field(app, "2.steps").raw_value() == "3"


async def test_form_saves_to_the_server(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot, app, catalogue=True)
        app.query_one(WorkflowBrowser).highlight("progress")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen))
        await pilot.press("ctrl+t")
        await wait_for_text(pilot, "Save to the server's workflows as")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any(wf.source == "server" and wf.name == "progress-edited" for wf in app.workflow_files),
            what="listed from the server",
        )
    listing = await server_json(server, "GET", "/userdata", params={"dir": "workflows"})
    assert "progress-edited.json" in listing


async def test_unknown_node_reported(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, catalogue=True)
        await wait_for(pilot, lambda: any(wf.missing_node_types for wf in app.workflow_files), what="rescan")
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        browser.highlight("unknown-node")
        await wait_for_text(pilot, "The server does not have these node types")
        assert "NoSuchNodeFromAMissingPack" in screen_text(app)
        await pilot.press("r")
        await wait_for_text(pilot, "NoSuchNodeFromAMissingPack (node 2)")
        rejected = [e for e in app.session.entries.values() if e.rejected]
        assert len(rejected) == 1 and rejected[0].title == "unknown-node"
        queue = await server_json(server, "GET", "/queue")
        assert queue["queue_running"] == [] and queue["queue_pending"] == []


async def test_bad_workflow_files_listed_with_their_error_next_to_good_ones(server: EmbeddedServer) -> None:
    app = make_app(server.url, workflow_dirs=[BROKEN])  # as --workflows DIR
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await wait_for_text(pilot, "Folder broken  2")
        text = screen_text(app)
        assert "✗ list" in text and "✗ truncated" in text
        app.browser.option_list.focus()
        app.browser.highlight("list")
        await wait_for_text(pilot, "This file cannot be run")
        await pilot.press("r")
        await wait_for_text(pilot, "list cannot be run")
        assert not app.session.entries
        # The good ones still run.
        entry = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        assert entry.status is TaskStatus.COMPLETED


async def test_connection_lost_mid_session_reconnects_and_says_so(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        seen: list[ConnectionState] = []
        app.runtime.subscribe_status(lambda status: seen.append(status.state))
        await server.faults.drop_websockets()
        await wait_for(pilot, lambda: ConnectionState.RECONNECTING in seen, what="reconnecting state")
        await wait_for(
            pilot, lambda: app.runtime.status.state is ConnectionState.CONNECTED, what="reconnected"
        )
        await pilot.press("l")  # the log pane starts hidden on a short terminal
        await wait_for_text(pilot, f"server {server.url} reconnecting")
        assert f"server {server.url} connected" in screen_text(app)
        entry = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        assert entry.status is TaskStatus.COMPLETED


async def test_history_r_runs_the_recorded_prompt_again(server: EmbeddedServer) -> None:
    from comfy_reality.tui.screens.journal_screen import JournalScreen

    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        first = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        assert first.status is TaskStatus.COMPLETED
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.loaded > 0)
        await wait_for_text(pilot, "progress")
        before = set(app.session.entries)
        await pilot.press("r")
        await wait_for(pilot, lambda: set(app.session.entries) - before, what="the run again")
        (again_id,) = set(app.session.entries) - before
        again = await final(pilot, app, again_id)
        assert again.status is TaskStatus.COMPLETED
        assert again.execution.prompt == first.execution.prompt


async def test_history_o_saves_the_recorded_outputs(server: EmbeddedServer, tmp_path: Path) -> None:
    from comfy_reality.tui.screens.journal_screen import JournalScreen

    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        entry = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        assert entry.status is TaskStatus.COMPLETED
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.loaded > 0)
        await wait_for_text(pilot, "progress")
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveOutputsScreen))
        folder = tmp_path / "from-history"
        app.screen.query_one(Input).value = str(folder)
        await pilot.press("enter")
        await wait_for_text(pilot, f"Saved 1 file(s) to {folder}")
        saved = list(folder.glob("tui_progress_*.png"))
        assert len(saved) == 1 and saved[0].read_bytes().startswith(b"\x89PNG")
