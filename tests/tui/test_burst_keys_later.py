"""Keys typed in one burst after a key whose screen opens later (after a job, or a message) go to that screen."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import DataTable, Input

from comfy_reality.errors import ComfyError
from comfy_reality.server import EmbeddedServer
from comfy_reality.tui import burst_keys
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.input_form import InputFormScreen
from comfy_reality.tui.screens.name_prompt import NamePromptScreen
from comfy_reality.tui.screens.save_outputs import SaveOutputsScreen
from comfy_reality.workflows import WorkflowFile
from tests.tui.scenes import apply_scene, demo_object_info, fill_history_journal, open_history, scene_app

from .helpers import WORKFLOWS, screen_text, wait_for
from .test_burst_keys import ServersHost, send_burst, settle
from .test_flows import make_app
from .test_server_screens import SIZE, http, server, server_history_of_one_web_ui_prompt

__all__ = ["server"]  # the embedded server fixture, for the Server history test


def record_submissions(app: ComfyRealityApp) -> list[str]:
    """Prompts the main screen submits, recorded instead of sent (a stand-in connection)."""
    submitted: list[str] = []

    async def submit(prompt: dict[str, Any], *, name: str, workflow_id: str) -> None:
        submitted.append(name)

    app.main_screen.submit_prompt = submit  # type: ignore[method-assign]
    app.backend.connected_runtime = lambda: object()  # type: ignore[assignment,method-assign,return-value]
    return submitted


async def burst_into_the_form(pilot: Any, app: ComfyRealityApp, keys: str) -> Input:
    """Send the burst, wait for the form and its focus: the field the keys after the opening key went to."""
    send_burst(app, keys)
    await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="the form")
    form = app.screen
    await settle(pilot)
    field = app.focused
    assert isinstance(field, Input) and field.screen is form
    return field


async def test_keys_after_e_go_into_the_form_and_run_nothing() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files), what="the workflows")
        app.object_info = demo_object_info()
        submitted = record_submissions(app)
        assert app.browser.highlight("progress") is not None
        log_shown = app.log_pane.display
        # The first field is a number: 5 is typed into it; r (run unedited on the main screen)
        # is refused by it, l (the log on the main screen) too.
        field = await burst_into_the_form(pilot, app, "e5rl")
        assert submitted == []
        assert field.value == "645"
        assert app.log_pane.display == log_shown


async def test_keys_after_enter_in_the_servers_add_field_act_on_the_table() -> None:
    app = ServersHost()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.focused, DataTable), what="the Servers table")
        table = app.focused
        # After enter the field is hidden: p pins the highlighted server instead of being typed there.
        send_burst(app, "ahttp://127.0.0.2:8188\rp")
        await wait_for(pilot, lambda: len(app.calls) == 2, what="the add and the pin")
        await settle(pilot)
        assert sorted(app.calls) == [("add", "http://127.0.0.2:8188"), ("pin", "demo1")]
        field = app.screen.query_one("#servers-add", Input)
        assert not field.display and not field.value
        assert app.focused is table


async def field_of(pilot: Any, app: ComfyRealityApp, screen_type: type[Screen[Any]], what: str) -> Input:
    """The field of the prompt screen the burst opened (mounted a moment after the screen is pushed)."""
    await wait_for(
        pilot, lambda: isinstance(app.screen, screen_type) and bool(app.screen.query(Input)), what=what
    )
    return app.screen.query_one(Input)


def next_name(app: ComfyRealityApp, name: str) -> str:
    names = [wf.name for wf in app.browser._shown]
    return names[names.index(name) + 1]


async def opened_on_progress(pilot: Any, app: ComfyRealityApp, read: Any) -> None:
    """The app with a catalogue, "progress" highlighted and its workflow read by ``read``."""
    await wait_for(pilot, lambda: bool(app.workflow_files), what="the workflows")
    app.object_info = demo_object_info()
    app.library.read = read  # type: ignore[method-assign]
    assert app.browser.highlight("progress") is not None
    app.browser.option_list.focus()
    await wait_for(pilot, lambda: app.focused is app.browser.option_list, what="the Workflows list")


async def test_keys_after_e_go_on_when_the_workflow_cannot_be_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(burst_keys, "HOLD_LIMIT", 60.0)  # released by the job's end, not by the limit

    async def unreadable(workflow: WorkflowFile) -> Any:
        await asyncio.sleep(0)
        raise ComfyError("the server closed the connection")

    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened_on_progress(pilot, app, unreadable)
        after = next_name(app, "progress")
        send_burst(app, "ej")  # the form does not open: j moves down the list all the same
        await wait_for(pilot, lambda: app.browser.highlighted.name == after, what="j on the list")  # type: ignore[union-attr]
        await wait_for(pilot, lambda: "Cannot open progress" in screen_text(app), what="the notice")
        assert app.screen is app.main_screen


async def test_esc_while_the_form_is_opening_cancels_it(monkeypatch: pytest.MonkeyPatch) -> None:
    reading = asyncio.Event()

    async def never_answers(workflow: WorkflowFile) -> Any:
        reading.set()
        await asyncio.Event().wait()

    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened_on_progress(pilot, app, never_answers)
        after = next_name(app, "progress")
        send_burst(app, "e")
        await wait_for(pilot, reading.is_set, what="the workflow read")
        # Typed while the form opens: x (for the form) goes with the esc that cancels it; j goes on.
        send_burst(app, "x\x1bj")
        await wait_for(pilot, lambda: app.browser.highlighted.name == after, what="j on the list")  # type: ignore[union-attr]
        await settle(pilot)
        assert not [w for w in app.workers if w.name == "_open_form" and not w.is_finished]
        assert app.screen is app.main_screen


async def test_keys_wait_for_a_slow_form_no_longer_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never_answers(workflow: WorkflowFile) -> Any:
        await asyncio.Event().wait()

    monkeypatch.setattr(burst_keys, "HOLD_LIMIT", 0.2)
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened_on_progress(pilot, app, never_answers)
        after = next_name(app, "progress")
        send_burst(app, "ej")
        await wait_for(pilot, lambda: app.browser.highlighted.name == after, what="j on the list")  # type: ignore[union-attr]
        assert [w for w in app.workers if w.name == "_open_form" and not w.is_finished]  # still opening


async def test_keys_after_e_in_history_go_into_the_form(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    fill_history_journal(journal)
    app = scene_app(WORKFLOWS, journal_path=journal)
    async with app.run_test(size=(100, 30)) as pilot:
        history = await open_history(pilot)
        app.object_info = demo_object_info()
        submitted = record_submissions(app)
        assert history.selected is not None
        # The scene's journal keeps no prompts: this run kept the one of "progress" (its width first).
        history.selected.prompt = json.loads((WORKFLOWS / "progress.json").read_text())
        # r in History runs the selected execution again as it was: here it is the form's.
        field = await burst_into_the_form(pilot, app, "e5r")
        assert submitted == []
        assert field.value == "645"


async def test_keys_after_e_in_server_history_go_into_the_form(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        original, _ = await server_history_of_one_web_ui_prompt(pilot, app, server)
        # The prompt is read from the server before the form opens; d would delete the entry.
        field = await burst_into_the_form(pilot, app, "e5d")
        assert field.value == "85"  # the width, 8, then the 5 typed after e
        assert original in await http(server, "GET", "/history")  # not deleted


async def test_keys_after_o_go_into_the_folder_prompt() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(100, 30)) as pilot:
        await apply_scene(pilot, "completed")
        assert app.focused is app.task_tree
        line = app.task_tree.cursor_line
        # In the tree, j moves down and l toggles the log: here they end the typed folder's name.
        send_burst(app, "ojl")
        field = await field_of(pilot, app, SaveOutputsScreen, "the folder prompt")
        await wait_for(pilot, lambda: field.value.endswith("jl"), what="the folder typed")
        assert app.focused is field
        assert app.task_tree.cursor_line == line


async def test_keys_after_ctrl_s_in_the_form_go_into_the_name_prompt() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened_on_progress(pilot, app, app.library.read)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="the form")
        # ctrl+s closes the form and its callback opens the name prompt: "-v2" replaces the proposed name (selected, as when typed by hand).
        send_burst(app, "\x13-v2")
        field = await field_of(pilot, app, NamePromptScreen, "the name prompt")
        await wait_for(pilot, lambda: field.value == "-v2", what="the name typed")
        assert app.focused is field
