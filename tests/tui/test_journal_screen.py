"""The journal screen (titled History, opened with h): past executions, filtered, fitted to the width, with details.

The journal is filled through its store with fixed times (``scenes.fill_journal``, the
README screenshots' scene), and once through a real runtime against the embedded server so
the screen shows what the recorder writes. The snapshots open History in the real app
(offline, private home, its own journal) with ``h``, so they show the footer the user sees.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Static

from comfy_reality.config import Settings
from comfy_reality.journal import Journal, JournalStore
from comfy_reality.runtime import ComfyUIAsyncRuntime
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui import format as fmt
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.history_details import ago, traceback_tail
from comfy_reality.tui.screens.journal_screen import (
    COLUMNS,
    NAME_MIN,
    JournalScreen,
    fit_columns,
)
from tests.tui.scenes import JOURNAL_NOW as NOW
from tests.tui.scenes import SERVER_URL as SERVER
from tests.tui.scenes import (
    SIZES,
    fill_history_journal,
    fill_journal,
    journal_execution,
    journal_node,
    open_history,
    prompt_of,
    scene_app,
)

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text


class HistoryApp(App[None]):
    """Hosts only the history screen, as the main app pushes it."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def compose(self) -> ComposeResult:
        yield Static("main screen", id="main-marker")

    def on_mount(self) -> None:
        self.push_screen(JournalScreen(self.journal, tz=UTC))


def _table(app: App[Any]) -> DataTable[Any]:
    return app.screen.query_one("#history-table", DataTable)


def _names(app: App[Any]) -> list[str]:
    table = _table(app)
    column = [c.key.value for c in table.ordered_columns].index("name")
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


def _row(app: App[Any], index: int) -> dict[str, str]:
    table = _table(app)
    keys = [str(c.key.value) for c in table.ordered_columns]
    return dict(zip(keys, (str(cell) for cell in table.get_row_at(index)), strict=True))


def _details(app: App[Any]) -> str:
    body = app.screen.query_one("#history-detail-body", Static)
    return str(body.render())


async def _loaded(pilot: Any, screen: JournalScreen, before: int) -> None:
    await wait_for(pilot, lambda: screen.loaded > before, what="history reload")


async def _open(pilot: Any, app: App[Any]) -> JournalScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.loaded > 0)
    screen = app.screen
    assert isinstance(screen, JournalScreen)
    return screen


# ---------------------------------------------------------------------- pure helpers
def test_columns_fit_the_width_name_first_then_least_needed_dropped() -> None:
    def widths(columns: list[Any]) -> int:
        return sum(c.width + 2 for c in columns)

    # 80 columns: the table's content is 77 wide (borders and scrollbar).
    narrow = fit_columns(77)
    assert [c.key for c in narrow] == ["status", "name", "prompt", "when", "duration", "nodes", "outputs"]
    assert widths(narrow) == 77
    # Wide: the server fits too, and every column keeps its order.
    wide = fit_columns(100)
    assert [c.key for c in wide] == [c.key for c in COLUMNS]
    assert widths(wide) <= 100
    # Very narrow: only what a user needs first, the name never below its minimum.
    tiny = fit_columns(40)
    assert [c.key for c in tiny] == ["status", "name", "when", "duration", "outputs"]
    assert next(c for c in tiny if c.key == "name").width == NAME_MIN


def test_relative_times() -> None:
    assert ago(None, NOW) == "–"
    assert ago(NOW - timedelta(seconds=12), NOW) == "12s ago"
    assert ago(NOW + timedelta(seconds=5), NOW) == "0s ago"  # a clock a little ahead is not the future
    assert ago(NOW - timedelta(minutes=50), NOW) == "50m ago"
    assert ago(NOW - timedelta(hours=3, minutes=59), NOW) == "3h ago"
    assert ago(NOW - timedelta(days=6), NOW) == "6d ago"
    assert ago(NOW - timedelta(days=30), NOW, UTC) == "Feb 12"
    assert ago(NOW - timedelta(days=400), NOW, UTC) == "Feb 2025"
    assert all(
        len(ago(NOW - timedelta(seconds=s), NOW, UTC)) <= 8 for s in (0, 59, 3599, 86399, 10**6, 10**8)
    )


def test_traceback_tail_drops_marker_lines_and_keeps_the_last() -> None:
    traceback = [
        '  File "a.py", line 1, in f\n    x = g()\n        ^^^\n',
        '  File "b.py", line 2, in g\n',
        "E: boom\n",
    ]
    assert traceback_tail(traceback) == [
        '  File "a.py", line 1, in f',
        "    x = g()",
        '  File "b.py", line 2, in g',
        "E: boom",
    ]
    assert traceback_tail(traceback, lines=2) == ['  File "b.py", line 2, in g', "E: boom"]


# ---------------------------------------------------------------------- the screen
async def test_lists_newest_first_and_filters_by_text_and_status(tmp_path: Path) -> None:
    fmt.freeze_clock(NOW)
    fill_journal(tmp_path / "journal.sqlite")
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await _open(pilot, app)
            assert _names(app) == ["landscape", "night city", "upscale", "portrait"]
            assert _row(app, 3) == {
                "status": "✓",
                "name": "portrait",
                "prompt": prompt_of("ex-done")[:8],
                "when": "50m ago",
                "duration": "12.4s",
                "nodes": "2",
                "outputs": "1",
            }
            assert _row(app, 1)["status"] == "?"  # lost
            assert _row(app, 1)["duration"] == "–"  # its end is when it was noticed
            assert _row(app, 0)["duration"] == "5m00s…"  # still running: time so far

            # Text filter: "/" focuses it, typing narrows the list.
            await pilot.press("slash")
            assert isinstance(screen.focused, Input)
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
            await pilot.press("f2")  # interrupted: the running one's app still runs
            await wait_for(pilot, lambda: _names(app) == [], what="interrupted filter")
            await pilot.press("f2")  # back to any status
            await wait_for(pilot, lambda: len(_names(app)) == 4, what="any status")

            # Nothing matching says so.
            screen.query_one("#history-filter", Input).value = "no such workflow"
            await wait_for(pilot, lambda: _names(app) == [], what="empty result")
            await wait_for_text(pilot, "Nothing matches this filter.")

            # esc steps back: out of the filter first, then out of History.
            await pilot.press("slash")
            assert isinstance(screen.focused, Input)
            await pilot.press("escape")
            assert isinstance(screen.focused, DataTable) and app.screen is screen
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, JournalScreen), what="screen closed")


async def test_details_show_error_nodes_outputs_and_lost_reason(tmp_path: Path) -> None:
    fmt.freeze_clock(NOW)
    fill_journal(tmp_path / "journal.sqlite")
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 50)) as pilot:
            screen = await _open(pilot, app)
            # The newest is highlighted first; moving the cursor follows with its details.
            await wait_for(pilot, lambda: "landscape" in _details(app), what="first details")
            assert "running for 5m00s" in _details(app)
            await pilot.press("down")
            await wait_for(pilot, lambda: "night city" in _details(app), what="lost details")
            assert f"lost: the server at {SERVER} no longer knows prompt {prompt_of('ex-lost')}" in _details(
                app
            )

            await pilot.press("down")
            await wait_for(pilot, lambda: "upscale" in _details(app), what="failed details")
            text = _details(app)
            assert "failed after 3.2s" in text
            assert f"prompt {prompt_of('ex-fail')}" in text and "server http://127.0.0.1:8188" in text
            assert "execution ex-fail" in text
            assert "RuntimeError: CUDA out of memory" in text
            assert "failing node: RealityFail #2" in text
            assert "SaveImage #3" in text and "Nodes (3)" in text
            assert "line 1" in text and "line 2" in text  # the traceback's last lines

            await pilot.press("down")
            await wait_for(pilot, lambda: "portrait" in _details(app), what="completed details")
            text = _details(app)
            assert "Outputs (1)" in text and "portrait_00001_.png" in text and "(output, node #3)" in text
            assert "completed in 12.4s" in text and "50m ago" in text
            assert "queued 14:39:59 · ran 14:40:00–14:40:12" in text
            await pilot.press("enter")  # details from the top; the focus stays in the table
            await pilot.pause()
            assert screen.focused is _table(app) and "portrait_00001_.png" in _details(app)
            screen.query_one("#history-detail").focus()
            await pilot.press("escape")  # back to the table, History stays open
            assert screen.focused is _table(app) and app.screen is screen


async def test_reads_well_at_80_columns_and_splits_when_wide(tmp_path: Path) -> None:
    """At 80x24 every shown column is whole and the details sit below; wide, they sit beside."""
    fmt.freeze_clock(NOW)
    fill_journal(tmp_path / "journal.sqlite")
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open(pilot, app)
            await wait_for(pilot, lambda: "landscape" in _details(app), what="details")
            lines = screen_text(app).splitlines()
            header = next(line for line in lines if "Workflow" in line)
            for label in ("Prompt", "When", "Duration", "Nodes", "Out"):
                assert label in header
            assert "Server" not in header  # the least needed column is the one left out
            portrait = next(line for line in lines if "portrait" in line)
            assert portrait.split() == [
                "│",
                "✓",
                "portrait",
                prompt_of("ex-done")[:8],
                "50m",
                "ago",
                "12.4s",
                "2",
                "1",
                "│",
            ]
            table, detail = screen.query_one("#history-table"), screen.query_one("#history-detail")
            assert detail.region.y >= table.region.bottom and detail.region.width == 80

            await pilot.resize_terminal(160, 48)
            await wait_for(pilot, lambda: "server" in _row(app, 0), what="server column")
            assert _row(app, 0)["server"] == "127.0.0.1:8188"
            await wait_for(
                pilot, lambda: detail.region.x >= table.region.right, what="details beside the table"
            )
            assert detail.region.y == table.region.y

            await pilot.resize_terminal(80, 24)
            await wait_for(pilot, lambda: "server" not in _row(app, 0), what="back to the narrow columns")
            assert _names(app) == ["landscape", "night city", "upscale", "portrait"]


async def test_the_footer_lists_each_key_once(tmp_path: Path) -> None:
    """The app's ctrl+p binding and the footer's own palette key used to both show."""
    journal_path = tmp_path / "journal.sqlite3"
    fill_journal(journal_path)
    app = ComfyRealityApp(
        Settings(server_url=SERVER), connect=False, bundled_dir=WORKFLOWS, journal_path=journal_path
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.journal is not None, what="journal open")
        await pilot.press("h")
        await _open(pilot, app)
        footer = screen_text(app).splitlines()[-1]
        assert footer.count("Palette") == 1 and footer.count("^p") == 1
        for label in ("Back", "Filter", "Status", "Refresh", "Quit"):
            assert footer.count(label) == 1, footer


async def test_times_age_and_running_executions_move_on(tmp_path: Path) -> None:
    """The screen's tick redraws relative times and reads the journal again while something runs."""
    path = tmp_path / "journal.sqlite"
    fmt.freeze_clock(NOW)
    fill_journal(path)
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await _open(pilot, app)
            await wait_for(pilot, lambda: "landscape" in _details(app), what="details")
            assert _row(app, 3)["when"] == "50m ago"

            # The running one finishes (written by another connection, as a second app would).
            store = JournalStore(path)
            try:
                done = journal_execution(
                    "ex-run",
                    "landscape",
                    "completed",
                    5,
                    61.0,
                    outputs=[
                        {
                            "node_id": "9",
                            "filename": "land_00001_.png",
                            "subfolder": "",
                            "type": "output",
                            "kind": "images",
                        }
                    ],
                )
                store.write_batch([done], [journal_node("ex-run", "1", "KSampler", "completed")])
            finally:
                store.close()
            fmt.freeze_clock(NOW + timedelta(minutes=20))
            before = screen.loaded
            screen._tick()
            await _loaded(pilot, screen, before)
            await wait_for(pilot, lambda: _row(app, 0)["status"] == "✓", what="finished row")
            assert _row(app, 0)["duration"] == "1m01s" and _row(app, 0)["outputs"] == "1"
            assert _row(app, 3)["when"] == "1h ago"
            await wait_for(
                pilot, lambda: "land_00001_.png" in _details(app), what="details follow the change"
            )
            assert _table(app).cursor_row == 0

            # Nothing runs any more: a tick only redraws the times, no query.
            fmt.freeze_clock(NOW + timedelta(hours=3))
            before = screen.loaded
            screen._tick()
            await pilot.pause()
            assert screen.loaded == before
            assert _row(app, 0)["when"] == "3h ago" and "3h ago" in _details(app)


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
        async with app.run_test(size=(80, 24)) as pilot:
            await _open(pilot, app)
            assert _names(app) == ["tiny save"]
            assert _row(app, 0)["prompt"] == (execution.prompt_id or "")[:8]
            await wait_for(pilot, lambda: "Outputs (1)" in _details(app), what="recorded outputs")
            assert "history_" in _details(app)
            assert f"prompt {execution.prompt_id}" in _details(app)
            assert "tiny save" in screen_text(app)


async def test_a_rejected_run_shows_its_rejected_inputs(tmp_path: Path) -> None:
    fmt.freeze_clock(NOW)
    fill_history_journal(tmp_path / "journal.sqlite")
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open(pilot, app)
            await pilot.press("slash", *"inpaint", "enter")
            await wait_for(pilot, lambda: _names(app) == ["inpaint-sdxl"], what="filtered")
            await wait_for(pilot, lambda: "inpaint-sdxl" in _details(app), what="details")
            assert _row(app, 0)["prompt"] == "–" and _row(app, 0)["when"] == "1d ago"
            text = _details(app)
            assert "prompt never confirmed by the server" in text
            assert "Rejected inputs:" in text
            assert "#4: Value not in list: ckpt_name: 'sdxl_base.safetensors' not in" in text
            assert "rejected by the server: 1 node has invalid inputs" in text
            assert screen.selected is not None and screen.selected.id == "ex-rej"


# ---------------------------------------------------------------------- snapshots
@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_history_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """The README's History screenshot: the same journal, app and keys as the screenshots tool."""
    path = tmp_path / "journal.sqlite3"
    fill_history_journal(path)
    assert snap_compare(scene_app(WORKFLOWS, path), terminal_size=size, run_before=open_history)


@pytest.mark.parametrize(("width", "layout"), [(140, "-split"), (100, "-stacked")])
async def test_first_listing_is_laid_out_as_it_stays(tmp_path: Path, width: int, layout: str) -> None:
    """The split/stacked layout is set when the screen composes, not on its first Resize: the rows
    first shown keep their columns (a wide first layout had shown a Server column, then dropped it)."""
    fmt.freeze_clock(NOW)
    fill_journal(tmp_path / "journal.sqlite")
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(width, 40)) as pilot:
            screen = await _open(pilot, app)
            first = list(_row(app, 0))
            assert screen.has_class(layout)
            for _ in range(3):
                await pilot.pause()
            assert list(_row(app, 0)) == first
            assert screen.has_class(layout)


async def test_a_run_whose_app_stopped_reads_as_interrupted_not_running(tmp_path: Path) -> None:
    """The app quit during a run on a --demo server that is gone: History says interrupted (the
    table, the details, the status filter), not "running for 2h19m"; a run another app still
    follows stays running."""
    path = tmp_path / "journal.sqlite"
    fmt.freeze_clock(NOW)
    store = JournalStore(path)
    try:
        store.write_batch(
            [
                journal_execution("ex-gone", "demo run", "running", 139, None, followed=False),
                journal_execution("ex-live", "live run", "running", 5, None),
            ],
            [journal_node("ex-gone", "1", "KSampler", "running")],
        )
    finally:
        store.close()
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await _open(pilot, app)
            assert _names(app) == ["live run", "demo run"]
            assert _row(app, 0)["status"] == "●" and _row(app, 0)["duration"] == "5m00s…"
            assert _row(app, 1)["status"] == "◌" and _row(app, 1)["duration"] == "–"
            await pilot.press("down")
            await wait_for(pilot, lambda: "demo run" in _details(app), what="interrupted details")
            text = _details(app)
            assert "demo run  interrupted" in text and "running for" not in text
            assert "interrupted: it was running when the app following it stopped" in text
            assert f"the next start connected to {SERVER} asks that server" in text
            assert "last heard" in text

            for _ in range(7):  # completed, failed, cancelled, running, pending, lost, interrupted
                await pilot.press("f2")
            await wait_for(pilot, lambda: _names(app) == ["demo run"], what="interrupted filter")
            assert _row(app, 0)["status"] == "◌"
            # Nothing reads the journal again for it every few seconds: it no longer moves on.
            before = screen.loaded
            screen._tick()
            await pilot.pause()
            assert screen.loaded == before
