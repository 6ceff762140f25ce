"""The full-screen app against a server whose every text field carries escapes and markup.

Through Pilot: the app connects, lists the server's saved workflows, previews one whose node
is titled ``[/]``, runs a workflow that fails with hostile texts and outputs named like real
ComfyUI names ``[/]`` (subfolder ``[``, file ``]_00001_.png``), opens the history. Nothing
crashes, and no escape sequence is in what the screen would draw.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from textual.app import ComposeResult

from comfy_reality.config import Settings
from comfy_reality.logs import configure_logging
from comfy_reality.runtime.models import ConnectionState
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.widgets import ExecutionView, StatusBar, WorkflowBrowser
from tests.tui.pilot import screen_text, wait_for

from .hostile_server import EVIL, HostileServer, bad_bytes

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def file_logging(isolated_home: Path) -> Iterator[None]:
    saved = structlog.get_config()
    configure_logging(level="info", log_path=isolated_home / "log" / "tui.jsonl")
    yield
    structlog.configure(**saved)


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    server = HostileServer("error")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def drawn(app: ComfyRealityApp) -> str:
    """Every character the screen would draw, and the SVG a screenshot would save."""
    return screen_text(app) + app.export_screenshot()


def assert_inert(app: ComfyRealityApp) -> None:
    assert app.return_code is None, "the app stopped"
    text = drawn(app)
    assert bad_bytes(text) == [], text[-2000:]
    assert "\x1b" not in screen_text(app)


async def test_app_shows_hostile_server_text_inert(hostile: HostileServer, tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "evil.json").write_text(
        json.dumps(
            {"1": {"class_type": "EvilNode", "inputs": {"text": "x"}, "_meta": {"title": "[/]" + EVIL}}}
        ),
        encoding="utf-8",
    )
    app = ComfyRealityApp(
        Settings(server_url=hostile.url), bundled_dir=workflows, frame_interval=0.005, stats_interval=0.05
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(
            pilot,
            lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
            what="connection",
        )
        await wait_for(
            pilot, lambda: any(wf.name == "evil" for wf in app.workflow_files), what="workflow scan"
        )
        # The status bar shows the hostile device name (made visible), with ? for what is not a number.
        await wait_for(pilot, lambda: app.query_one(StatusBar).stats is not None, what="system stats")
        await pilot.pause()
        assert_inert(app)
        assert "\\x1b" in screen_text(app)
        # Preview: the node titled "[/]" is text.
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        assert browser.highlight("evil") is not None
        await pilot.pause()
        await wait_for(pilot, lambda: "[/]" in screen_text(app), what="the [/] title in the preview")
        assert_inert(app)
        # Run it: the server fails it with hostile texts and hostile output names.
        before = set(app.session.entries)
        await pilot.press("r")
        await wait_for(pilot, lambda: set(app.session.entries) - before, what="an execution")
        (entry_id,) = set(app.session.entries) - before
        await wait_for(pilot, lambda: app.session.entries[entry_id].status.is_final, 20, what="final state")
        await wait_for(
            pilot,
            lambda: (
                app.query_one(ExecutionView).entry is not None
                and "]_00001_.png" in screen_text(app)
                and "message" in screen_text(app)
            ),
            what="error and outputs shown",
        )
        assert_inert(app)
        # The log pane (l) shows the log lines that quote the server.
        await pilot.press("l")
        await pilot.pause()
        assert_inert(app)
        # History screen: the journal's copy of the same texts.
        await pilot.press("h")
        await wait_for(pilot, lambda: "History" in screen_text(app), what="history screen")
        await pilot.pause(0.2)
        assert_inert(app)


async def test_non_finite_numbers_show_as_question_marks(tmp_path: Path) -> None:
    server = HostileServer("error", nan=True)
    await server.start()
    try:
        app = ComfyRealityApp(
            Settings(server_url=server.url), bundled_dir=tmp_path, frame_interval=0.005, stats_interval=0.05
        )
        async with app.run_test(size=(140, 36)) as pilot:
            await wait_for(
                pilot,
                lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
                what="connection",
            )
            await wait_for(pilot, lambda: app.object_info is not None, what="object_info")
            await wait_for(pilot, lambda: app.query_one(StatusBar).stats is not None, what="system stats")
            await wait_for(pilot, lambda: "VRAM ?" in screen_text(app), what="VRAM shown as ?")
            text = screen_text(app)
            assert "inf" not in text.lower().replace("info", "") and "nan" not in text.lower()
            assert app.return_code is None
    finally:
        await server.stop()


async def test_notifications_of_the_safe_app_are_plain_text() -> None:
    from textual.widgets import Static

    from comfy_reality.tui.safe_app import SafeTextApp

    class Probe(SafeTextApp[None]):
        def compose(self) -> ComposeResult:
            yield Static("probe")

    app = Probe()
    async with app.run_test(size=(100, 20)) as pilot:
        app.notify(f"Cannot queue {EVIL}: http://bob:pw-123@127.0.0.1:9/?token=tok-456", title=EVIL)
        await pilot.pause()
        await wait_for(pilot, lambda: "Cannot queue" in screen_text(app), what="the toast")
        text = screen_text(app) + app.export_screenshot()
        assert bad_bytes(text) == []
        assert "[/]" in screen_text(app)  # shown as typed, not parsed
        assert "pw-123" not in text and "tok-456" not in text
        assert app.return_code is None


def test_command_palette_highlight_is_not_markup() -> None:
    from textual.fuzzy import Matcher

    from comfy_reality.tui.commands import plain_highlight

    content = plain_highlight(Matcher("ev"), "Run [/]ev[link=file:///etc/passwd]x")
    assert content.plain == "Run [/]ev[link=file:///etc/passwd]x"
