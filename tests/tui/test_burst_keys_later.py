"""Keys typed in one burst after a key whose screen opens later (after a job, or a message) go to that screen."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input

from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.input_form import InputFormScreen
from tests.tui.scenes import demo_object_info, scene_app

from .helpers import WORKFLOWS, wait_for
from .test_burst_keys import ServersHost, send_burst, settle


def record_submissions(app: ComfyRealityApp) -> list[str]:
    """Prompts the main screen submits, recorded instead of sent (a stand-in connection)."""
    submitted: list[str] = []

    async def submit(prompt: dict[str, Any], *, name: str, workflow_id: str) -> None:
        submitted.append(name)

    app.main_screen.submit_prompt = submit  # type: ignore[method-assign]
    app.backend.connected_runtime = lambda: object()  # type: ignore[assignment,method-assign,return-value]
    return submitted


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
        send_burst(app, "e5rl")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="the form")
        form = app.screen
        await settle(pilot)
        assert submitted == []
        field = app.focused
        assert isinstance(field, Input) and field.screen is form
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
