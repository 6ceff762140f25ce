"""Run selected outputs (issue 18): ``R`` lists a workflow's output nodes, queues only the checked
ones (``partial_execution_targets``); the Servers screen shows each server's version and capabilities."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import SelectionList

from comfy_reality.config import ServerEntry, Settings
from comfy_reality.runtime.models import TaskStatus
from comfy_reality.runtime.pool_app import PoolRuntime
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.run_outputs import RunOutputsScreen
from comfy_reality.tui.screens.servers import ServersScreen
from comfy_reality.tui.widgets import WorkflowBrowser

from .helpers import screen_text, wait_for, wait_for_text

SIZE = (150, 40)
TWO_OUTPUTS = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "RealityProgress", "inputs": {"image": ["1", 0], "steps": 2, "delay": 0.01}},
    "3": {
        "class_type": "SaveImage",
        "inputs": {"images": ["2", 0], "filename_prefix": "two_outputs"},
        "_meta": {"title": "[bold]Final[/bold] save"},
    },
    "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}, "_meta": {"title": "Quick look"}},
}


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as running:
        yield running


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "two-outputs.json").write_text(json.dumps(TWO_OUTPUTS))
    return folder


async def open_picker(app: ComfyRealityApp, pilot: Any) -> RunOutputsScreen:
    await wait_for(pilot, lambda: app.object_info is not None, what="object_info")
    browser = app.query_one(WorkflowBrowser)
    browser.option_list.focus()
    # The library scan and /object_info arrive in either order: wait for the workflow to be listed.
    await wait_for(pilot, lambda: browser.highlight("two-outputs") is not None, what="two-outputs listed")
    await pilot.press("R")
    await wait_for(pilot, lambda: isinstance(app.screen, RunOutputsScreen), what="the picker")
    screen = app.screen
    assert isinstance(screen, RunOutputsScreen)
    return screen


async def test_run_selected_outputs_queues_only_the_checked_one(
    server: EmbeddedServer, workflows: Path
) -> None:
    app = ComfyRealityApp(
        Settings(server_url=server.url), bundled_dir=workflows, frame_interval=0.005, use_journal=False
    )
    async with app.run_test(size=SIZE) as pilot:
        picker = await open_picker(app, pilot)
        await wait_for_text(pilot, "Quick look")
        text = screen_text(app)
        assert "#3 [bold]Final[/bold] save  SaveImage" in text  # the title as written, not markup
        assert "#4 Quick look  PreviewImage" in text
        assert "#1" not in text and "#2" not in text  # not output nodes
        options = picker.query_one(SelectionList)
        assert [options.get_option_at_index(i).value for i in range(options.option_count)] == ["3", "4"]

        await pilot.press("enter")  # nothing checked: refused, the picker stays
        await wait_for_text(pilot, "Check at least one output")
        assert isinstance(app.screen, RunOutputsScreen)

        await pilot.press("down", "space", "enter")  # check "Quick look" only
        await wait_for(pilot, lambda: bool(app.session.entries), what="an execution")
        (entry,) = app.session.entries.values()
        execution = entry.execution
        await wait_for(pilot, lambda: execution.status is TaskStatus.COMPLETED, what="the run", timeout=15)
        assert execution.metadata["partial_execution_targets"] == ["4"]
        assert app.runtime is not None
        history = await app.runtime.history(execution.prompt_id or "")
        assert history is not None and list(history.outputs) == ["4"]  # only that output ran
        assert {f.node_id for f in execution.output_files} == {"4"}


async def test_an_older_server_says_it_cannot(server: EmbeddedServer, workflows: Path) -> None:
    app = ComfyRealityApp(
        Settings(server_url=server.url), bundled_dir=workflows, frame_interval=0.005, use_journal=False
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.object_info is not None, what="object_info")
        runtime = app.runtime
        assert runtime is not None

        async def old(*, refresh: bool = False) -> dict[str, Any]:
            return {"comfyui_version": "0.3.40", "partial_execution": False}

        runtime.server_capabilities = old  # type: ignore[method-assign]
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        # The library scan and /object_info arrive in either order: wait for the workflow to be listed.
        await wait_for(pilot, lambda: browser.highlight("two-outputs") is not None, what="two-outputs listed")
        await pilot.press("R")
        await wait_for_text(pilot, "needs ComfyUI 0.3.48")
        assert not isinstance(app.screen, RunOutputsScreen)
        assert not app.session.entries


async def test_servers_screen_shows_version_and_capabilities(server: EmbeddedServer, workflows: Path) -> None:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0, api="current")) as newer:
        settings = Settings(
            servers=[ServerEntry(url=server.url, name="older"), ServerEntry(url=newer.url, name="newer")]
        )
        app = ComfyRealityApp(settings, bundled_dir=workflows, frame_interval=0.005, use_journal=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.runtime, PoolRuntime), what="the pool")
            await wait_for_text(pilot, "newer q")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ServersScreen), what="the Servers screen")
            await wait_for_text(pilot, "newer: ComfyUI 0.38.1")
            await wait_for_text(pilot, "older: ComfyUI 0.3.64")
            text = screen_text(app)
            older = next(line for line in text.splitlines() if "older: ComfyUI" in line)
            newer_line = next(line for line in text.splitlines() if "newer: ComfyUI" in line)
            assert (
                "jobs API no" in older and "targeted cancel no" in older and "partial execution yes" in older
            )
            assert "jobs API yes" in newer_line and "targeted cancel yes" in newer_line


async def test_keys_typed_after_r_in_one_burst_go_to_the_picker(
    server: EmbeddedServer, workflows: Path
) -> None:
    """The picker opens from a job (the server's capabilities first): a space typed right after R
    checks its first output instead of reaching the Workflows list."""
    from .test_burst_keys import send_burst

    app = ComfyRealityApp(
        Settings(server_url=server.url), bundled_dir=workflows, frame_interval=0.005, use_journal=False
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.object_info is not None, what="object_info")
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        await wait_for(pilot, lambda: browser.highlight("two-outputs") is not None, what="two-outputs listed")
        send_burst(app, "R ")

        def first_output_checked() -> bool:
            # The picker's list is mounted a moment after its screen is pushed.
            if not isinstance(app.screen, RunOutputsScreen) or not (found := app.screen.query(SelectionList)):
                return False
            return list(found.first().selected) == ["3"]

        await wait_for(pilot, first_output_checked, what="the picker, its first output checked")
