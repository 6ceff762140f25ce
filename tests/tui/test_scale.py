"""At scale the app keeps answering: bursts of runs, notices folded, no timer with a non-positive time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from time import time
from typing import Any

import pytest
from textual import events
from textual import timer as textual_timer

from comfy_reality.config import Settings
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.notices import MIN_TOAST_SECONDS, NoticeFolder, SafeNotification
from comfy_reality.tui.widgets import WorkflowBrowser

from .helpers import WORKFLOWS, wait_for


def test_a_notification_past_its_expiry_still_has_a_positive_time_left() -> None:
    late = SafeNotification("Queued x", timeout=2, raised_at=time() - 10)
    assert late.has_expired
    assert late.time_left >= MIN_TOAST_SECONDS


def test_a_burst_of_notices_of_one_kind_becomes_one_summary() -> None:
    folder = NoticeFolder()
    shown: list[SafeNotification] = []
    replaced: list[SafeNotification] = []
    for index in range(200):
        toast, old = folder.fold(f"Queued run {index}", title="", severity="information", timeout=2)
        shown.append(toast)
        if old is not None:
            replaced.append(old)
    live = [toast for toast in shown if not toast.has_expired]
    assert len(live) == 1
    assert live[0].message.splitlines() == [
        "Queued run 197",
        "Queued run 198",
        "Queued run 199",
        "(and 197 more like these)",
    ]
    assert len(replaced) == 199 and all(old.has_expired for old in replaced)
    # Another kind of notice is not folded into the burst.
    error, old = folder.fold("Cannot queue", title="", severity="error", timeout=-3)
    assert old is None and error.timeout >= MIN_TOAST_SECONDS and not error.has_expired


@pytest.fixture
def timer_intervals(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every interval a Textual timer is created with while the test runs."""
    intervals: list[float] = []
    original = textual_timer.Timer.__init__

    def recording(
        self: textual_timer.Timer, event_target: Any, interval: float, *args: Any, **kwargs: Any
    ) -> None:
        intervals.append(interval)
        original(self, event_target, interval, *args, **kwargs)

    monkeypatch.setattr(textual_timer.Timer, "__init__", recording)
    return intervals


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as running:
        yield running


async def test_a_burst_of_200_runs_from_the_keyboard_leaves_the_app_answering(
    server: EmbeddedServer, timer_intervals: list[float]
) -> None:
    app = ComfyRealityApp(Settings(server_url=server.url), bundled_dir=WORKFLOWS, frame_interval=0.005)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: any(wf.name == "progress" for wf in app.workflow_files), what="scan")
        await wait_for(pilot, lambda: app.backend.connected_runtime() is not None, what="connection")
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        assert browser.highlight("progress") is not None
        # As fast as a keyboard repeats: every key is in the app's queue before the first is handled.
        for _ in range(200):
            app.post_message(events.Key("r", "r"))
        await wait_for(pilot, lambda: len(app.session.entries) >= 200, timeout=60, what="200 executions")
        # At most a few toasts for 200 "Queued …" notices: the burst is one summary.
        await wait_for(pilot, lambda: len(app._notifications) <= 3, what="notices folded")
        # Still answering keys: Tab moves the focus to the next pane.
        focused = app.focused
        await pilot.press("tab")
        await wait_for(pilot, lambda: app.focused is not focused, timeout=5, what="focus moved")
    assert timer_intervals and min(timer_intervals) > 0


async def test_right_and_left_open_and_close_an_execution_in_the_tree() -> None:
    from tests.tui.scenes import apply_scene, scene_app

    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "running")
        tree = app.task_tree
        tree.focus()
        branch = tree.root.children[-1]
        tree.move_cursor(branch)
        await pilot.press("right")
        assert branch.is_expanded
        await pilot.press("down", "left")
        assert tree.cursor_node is branch and branch.is_expanded
        await pilot.press("left")
        assert not branch.is_expanded
