"""History screen: past executions from the journal, filtered, with details; one snapshot.

The journal is filled through its store with fixed times (deterministic), and once through a
real runtime against the embedded server so the screen shows what the recorder writes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Static

from comfy_reality.journal import Journal, JournalStore
from comfy_reality.journal.store import ExecutionSnapshot, NodeSnapshot
from comfy_reality.runtime import ComfyUIAsyncRuntime
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui import format as fmt
from comfy_reality.tui.screens.history import HistoryScreen

from .helpers import screen_text, wait_for, wait_for_text

NOW = datetime(2026, 3, 14, 15, 30, 0, tzinfo=UTC)
SERVER = "http://127.0.0.1:8188"


def _execution(
    id_: str, name: str, status: str, minutes_ago: int, seconds: float | None, *,
    error: dict[str, Any] | None = None, outputs: list[dict[str, Any]] | None = None,
    detail: str | None = None, prompt_id: str | None = "auto", server: str = SERVER,
) -> ExecutionSnapshot:
    started = NOW - timedelta(minutes=minutes_ago)
    completed = started + timedelta(seconds=seconds) if seconds is not None else None
    return ExecutionSnapshot(
        id=id_, prompt_id=f"prompt-{id_}" if prompt_id == "auto" else prompt_id, server_url=server,
        client_id="client-1", workflow_id=name, name=name, number=minutes_ago, status=status,
        status_detail=detail, retry_of=None, progress=1.0 if completed else 0.3, prompt_json="{}",
        outputs_json="{}", output_files_json=json.dumps(outputs or []),
        error_json=json.dumps(error) if error else None, node_errors_json="{}",
        created_at=(started - timedelta(seconds=1)).isoformat(), started_at=started.isoformat(),
        completed_at=completed.isoformat() if completed else None,
    )


def _node(execution_id: str, node_id: str, class_type: str, status: str, *,
          error: str | None = None, cached: bool = False) -> NodeSnapshot:
    return NodeSnapshot(
        execution_id=execution_id, node_id=node_id, class_type=class_type, name=f"{class_type} #{node_id}",
        status=status, cached=cached, progress=1.0 if status == "completed" else 0.0, value=None, max=None,
        started_at=None, completed_at=None, error=error, error_type="RuntimeError" if error else None,
        status_detail=None, traceback_json="[]", outputs_json="{}",
    )


def fill_journal(path: Path) -> None:
    """Four executions: completed with outputs, failed at node 2, running, and one lost."""
    image = {"node_id": "3", "filename": "portrait_00001_.png", "subfolder": "", "type": "output", "kind": "images"}
    executions = [
        _execution("ex-done", "portrait", "completed", 50, 12.4, outputs=[image]),
        _execution(
            "ex-fail", "upscale", "failed", 40, 3.2,
            error={"node_id": "2", "node_type": "RealityFail", "exception_type": "RuntimeError",
                   "exception_message": "CUDA out of memory", "traceback": ["line 1", "line 2"]},
        ),
        _execution("ex-run", "landscape", "running", 5, None),
        _execution("ex-lost", "night city", "running", 20, None),
    ]
    nodes = [
        _node("ex-done", "1", "EmptyImage", "completed", cached=True),
        _node("ex-done", "3", "SaveImage", "completed"),
        _node("ex-fail", "1", "EmptyImage", "completed"),
        _node("ex-fail", "2", "RealityFail", "failed", error="CUDA out of memory"),
        _node("ex-fail", "3", "SaveImage", "cancelled"),
        _node("ex-run", "1", "KSampler", "running"),
        _node("ex-lost", "1", "KSampler", "pending"),
    ]
    store = JournalStore(path)
    try:
        store.write_batch(executions, nodes)
        assert store.mark_lost(
            "ex-lost", f"lost: the server at {SERVER} no longer knows prompt prompt-ex-lost (it restarted?)"
        )
    finally:
        store.close()


class HistoryApp(App[None]):
    """Hosts only the history screen, as the main app pushes it."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def compose(self) -> ComposeResult:
        yield Static("main screen", id="main-marker")

    def on_mount(self) -> None:
        self.push_screen(HistoryScreen(self.journal, tz=UTC))


def _table(app: App[Any]) -> DataTable[Any]:
    return app.screen.query_one("#history-table", DataTable)


def _names(app: App[Any]) -> list[str]:
    table = _table(app)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def _details(app: App[Any]) -> str:
    body = app.screen.query_one("#history-detail-body", Static)
    return str(body.render())


async def _loaded(pilot: Any, screen: HistoryScreen, before: int) -> None:
    await wait_for(pilot, lambda: screen.loaded > before, what="history reload")


async def test_lists_newest_first_and_filters_by_text_and_status(tmp_path: Path) -> None:
    fmt.freeze_clock(NOW)
    fill_journal(tmp_path / "journal.sqlite")
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded > 0)
            screen = app.screen
            assert isinstance(screen, HistoryScreen)
            assert _names(app) == ["landscape", "night city", "upscale", "portrait"]
            row = [str(cell) for cell in _table(app).get_row_at(3)]
            assert row == ["✓", "portrait", "127.0.0.1:8188", "14:40:00", "12.4s", "2", "1"]
            assert [str(c) for c in _table(app).get_row_at(1)][0] == "?"  # lost

            # Text filter: "/" focuses it, typing narrows the list.
            await pilot.press("slash")
            assert isinstance(screen.focused, Input)
            before = screen.loaded
            await pilot.press(*"upsc")
            await wait_for(pilot, lambda: _names(app) == ["upscale"], what="text filter")
            await pilot.press("enter")
            assert isinstance(screen.focused, DataTable)

            # Clear the text, then F2 cycles the status filter: completed, failed, ...
            screen.query_one("#history-filter", Input).value = ""
            await wait_for(pilot, lambda: len(_names(app)) == 4, what="filter cleared")
            before = screen.loaded
            await pilot.press("f2")
            await _loaded(pilot, screen, before)
            assert _names(app) == ["portrait"]
            await pilot.press("f2")
            await wait_for(pilot, lambda: _names(app) == ["upscale"], what="failed filter")
            for _ in range(4):  # cancelled, running, pending, lost
                await pilot.press("f2")
            await wait_for(pilot, lambda: _names(app) == ["night city"], what="lost filter")
            await pilot.press("f2")  # back to any status
            await wait_for(pilot, lambda: len(_names(app)) == 4, what="any status")

            # Nothing matching says so.
            screen.query_one("#history-filter", Input).value = "no such workflow"
            await wait_for(pilot, lambda: _names(app) == [], what="empty result")
            await wait_for_text(pilot, "Nothing matches this filter.")

            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen), what="screen closed")


async def test_details_show_error_nodes_outputs_and_lost_reason(tmp_path: Path) -> None:
    fmt.freeze_clock(NOW)
    fill_journal(tmp_path / "journal.sqlite")
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 50)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded > 0)
            screen = app.screen
            assert isinstance(screen, HistoryScreen)
            # The newest is highlighted first; moving the cursor follows with its details.
            await wait_for(pilot, lambda: "landscape" in _details(app), what="first details")
            await pilot.press("down")
            await wait_for(pilot, lambda: "night city" in _details(app), what="lost details")
            assert "lost: the server at http://127.0.0.1:8188 no longer knows prompt prompt-ex-lost" in _details(app)

            await pilot.press("down")
            await wait_for(pilot, lambda: "upscale" in _details(app), what="failed details")
            text = _details(app)
            assert "RuntimeError: CUDA out of memory" in text
            assert "failing node: RealityFail #2" in text
            assert "SaveImage #3" in text and "Nodes (3)" in text

            await pilot.press("down")
            await wait_for(pilot, lambda: "portrait" in _details(app), what="completed details")
            text = _details(app)
            assert "Outputs (1)" in text and "portrait_00001_.png" in text
            assert "12.4s" in text
            await pilot.press("enter")
            assert screen.focused is screen.query_one("#history-detail")


@pytest.fixture
async def embedded() -> Any:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as server:
        yield server


async def test_shows_what_a_real_run_recorded(tmp_path: Path, embedded: EmbeddedServer) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "history"}},
    }
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        runtime = ComfyUIAsyncRuntime(embedded.url)
        journal.attach(runtime)
        async with runtime.session():
            execution = await asyncio.wait_for(runtime.execute_workflow(prompt, name="tiny save"), 30)
        assert execution.status.value == "completed"
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded > 0)
            assert _names(app) == ["tiny save"]
            await wait_for(pilot, lambda: "Outputs (1)" in _details(app), what="recorded outputs")
            assert "history_" in _details(app)
            assert "tiny save" in screen_text(app)


@pytest.mark.parametrize("size", [(100, 30)], ids=["100x30"])
def test_history_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "journal.sqlite"
    fill_journal(path)

    class SnapshotApp(App[None]):
        async def on_mount(self) -> None:
            fmt.freeze_clock(NOW)
            self.journal = await Journal.open(path)
            await self.push_screen(HistoryScreen(self.journal, tz=UTC))

        async def on_unmount(self) -> None:
            await self.journal.close()

    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen) and pilot.app.screen.loaded > 0)
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: "upscale" in _details(pilot.app), what="failed details")
        await pilot.pause()

    assert snap_compare(SnapshotApp(), terminal_size=size, run_before=run_before)
