"""The log pane reads in the order things happened, for a prompt that fails before the POST answers.

Found by hand: for the bundled failing-node the pane printed ``prompt_queued`` after the node's failure line.
The runtime wrote that record only once it had replayed the socket messages that beat the POST
answer (the workflow's creation, start and the node's failure), so its time stamp came last.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from comfy_reality.config import Settings
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.logtap import LogTap
from comfy_reality.tui.widgets import LogPane

from .helpers import WORKFLOWS, wait_for
from .test_flows import connected


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as running:
        yield running


def pane_lines(app: ComfyRealityApp) -> list[str]:
    return [strip.text for strip in app.query_one(LogPane).lines]


def first(lines: list[str], needle: str) -> int:
    return next(index for index, line in enumerate(lines) if needle in line)


async def test_prompt_queued_reads_before_what_the_prompt_then_did(
    server: EmbeddedServer, isolated_home: Path
) -> None:
    app = ComfyRealityApp(
        Settings(server_url=server.url), bundled_dir=WORKFLOWS, frame_interval=0.005, log_tap=LogTap()
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot, app)
        app.browser.option_list.focus()
        assert app.browser.highlight("fail") is not None
        await pilot.press("r")
        await wait_for(
            pilot, lambda: any("execution_finished" in line for line in pane_lines(app)), what="the end"
        )
        lines = pane_lines(app)
        queued = first(lines, "prompt_queued")
        assert queued < first(lines, "Task 'fail' created"), lines
        assert queued < first(lines, "Workflow 'fail' started"), lines
        assert queued < first(lines, "failed: deliberate failure"), lines
        assert first(lines, "Task 'fail' failed") < first(lines, "execution_finished"), lines
