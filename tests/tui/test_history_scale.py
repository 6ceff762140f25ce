"""History over a journal of 20,000 executions: paged by key, End reaches the oldest row, the filter finds
rows far beyond the first page (issue 19)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.app import App
from textual.widgets import DataTable, Input, Static

from comfy_reality.journal import Journal, JournalStore
from comfy_reality.tui import format as fmt
from comfy_reality.tui.screens.journal_screen import MARGIN, PAGE, JournalScreen

from .helpers import wait_for
from .test_journal_screen import HistoryApp

ROWS = 20_000
START = datetime(2026, 1, 1, tzinfo=UTC)


def big_journal(path: Path, rows: int = ROWS, *, tie_every: int = 1) -> None:
    """``rows`` finished executions, ``exec-000000`` the oldest; ``tie_every`` rows share a created_at."""
    JournalStore(path).close()  # the schema, by the store's own migrations
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO executions (id, prompt_id, server_url, workflow_id, name, number, status, "
            "created_at, started_at, completed_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    f"exec-{i:06d}",
                    f"prompt-{i:06d}",
                    "http://127.0.0.1:8188",
                    f"workflows/wf-{i % 37}.json",
                    f"run {i:05d}",
                    i,
                    "completed",
                    (START + timedelta(seconds=(i // tie_every) * 30)).isoformat(),
                    (START + timedelta(seconds=(i // tie_every) * 30 + 1)).isoformat(),
                    (START + timedelta(seconds=(i // tie_every) * 30 + 9)).isoformat(),
                    (START + timedelta(seconds=(i // tie_every) * 30 + 9)).isoformat(),
                )
                for i in range(rows)
            ],
        )


def _table(app: App[Any]) -> DataTable[Any]:
    return app.screen.query_one("#history-table", DataTable)


def _name_at(app: App[Any], index: int) -> str:
    table = _table(app)
    column = [c.key.value for c in table.ordered_columns].index("name")
    return str(table.get_row_at(index)[column])


def _cursor_name(app: App[Any]) -> str:
    return _name_at(app, _table(app).cursor_row)


def _details(app: App[Any]) -> str:
    return str(app.screen.query_one("#history-detail-body", Static).render())


async def _open(pilot: Any, app: App[Any]) -> JournalScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.loaded > 0)
    screen = app.screen
    assert isinstance(screen, JournalScreen)
    return screen


def test_key_pages_cover_every_row_once_even_with_tied_times(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    big_journal(path, 1_000, tie_every=7)
    store = JournalStore(path)
    try:
        seen: list[str] = []
        page = store.list_executions(limit=90)
        while page:
            seen.extend(e.id for e in page)
            page = store.list_executions(limit=90, before=page[-1].id)
        assert seen == [f"exec-{i:06d}" for i in reversed(range(1_000))]
        oldest = store.list_executions(limit=50, oldest=True)
        assert [e.id for e in oldest] == [f"exec-{i:06d}" for i in reversed(range(50))]
        newer = store.list_executions(limit=50, after=oldest[0].id)
        assert [e.id for e in newer] == [f"exec-{i:06d}" for i in reversed(range(50, 100))]
        assert store.count_executions(text="run 0099") == 10
        plan = " ".join(
            str(row[-1])
            for row in store._conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM executions ORDER BY created_at DESC, id DESC LIMIT 5"
            )
        )
        assert "executions_created_id" in plan and "TEMP B-TREE" not in plan
    finally:
        store.close()


async def test_twenty_thousand_rows_open_newest_first_and_end_reaches_the_oldest(tmp_path: Path) -> None:
    fmt.freeze_clock(START + timedelta(days=30))
    path = tmp_path / "journal.sqlite"
    big_journal(path)
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await _open(pilot, app)
            table = _table(app)
            assert _name_at(app, 0) == "run 19999"
            assert table.row_count == PAGE  # a page, not the whole journal
            # Counted once the first rows are drawn: 20,000 rows read, which the rows need not wait for.
            await wait_for(pilot, lambda: table.border_title == f"Executions: {ROWS}", what="the count")
            await wait_for(pilot, lambda: "exec-019999" in _details(app), what="details of the newest")

            # Moving down near the window's edge reads the next page in: the list goes on.
            table.move_cursor(row=PAGE - 1, animate=False)
            await wait_for(pilot, lambda: table.row_count == 2 * PAGE, what="the next page")
            assert _name_at(app, 2 * PAGE - 1) == f"run {ROWS - 2 * PAGE:05d}"

            # End: the cursor on the real last row, the oldest execution.
            await pilot.press("end")
            await wait_for(pilot, lambda: _cursor_name(app) == "run 00000", what="End on the oldest row")
            assert table.cursor_row == table.row_count - 1
            await wait_for(pilot, lambda: "exec-000000" in _details(app), what="details of the oldest")

            # Up from the bottom of the journal: newer pages come in above, the cursor stays on its row.
            table.move_cursor(row=MARGIN, animate=False)
            await pilot.press("up")
            await wait_for(pilot, lambda: table.row_count == 2 * PAGE, what="a newer page above")
            assert _cursor_name(app) == f"run {PAGE - MARGIN:05d}"
            assert _name_at(app, 0) == f"run {2 * PAGE - 1:05d}"

            # g / Home: back to the newest; G from there reaches the oldest again.
            await pilot.press("g")
            await wait_for(pilot, lambda: _cursor_name(app) == "run 19999", what="g on the newest row")
            assert table.cursor_row == 0
            await pilot.press("G")
            await wait_for(pilot, lambda: _cursor_name(app) == "run 00000", what="G on the oldest row")
            await pilot.press("home")
            await wait_for(pilot, lambda: _cursor_name(app) == "run 19999", what="Home on the newest row")
            assert screen.at_head


async def test_a_filter_keystroke_finds_a_row_far_beyond_the_first_page(tmp_path: Path) -> None:
    fmt.freeze_clock(START + timedelta(days=30))
    path = tmp_path / "journal.sqlite"
    big_journal(path)
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await _open(pilot, app)
            await pilot.press("slash")
            assert isinstance(screen.focused, Input)
            await pilot.press(*"run 0004")
            await wait_for(pilot, lambda: _table(app).row_count == 10, what="ten matches")
            await pilot.press("2")
            await wait_for(
                pilot,
                lambda: _table(app).row_count == 1 and _name_at(app, 0) == "run 00042",
                what="the one match, 19,957 rows below the first page",
            )
            assert _table(app).border_title == "Executions: 1"
            await wait_for(pilot, lambda: "exec-000042" in _details(app), what="its details")


def _pages_read(screen: JournalScreen) -> bool:
    """No page of the history is being read."""
    return all(w.is_finished for w in screen.workers if w.group == "history-page")


async def _press_page(pilot: Any, app: HistoryApp, screen: JournalScreen, key: str) -> tuple[int, int]:
    """``key`` pressed until the cursor moved and the page read ahead is in: the run numbers under
    the cursor before and after (the newest run has the highest)."""
    name = _cursor_name(app)
    await pilot.press(key)
    await wait_for(pilot, lambda: _cursor_name(app) != name, what=key)
    await wait_for(pilot, lambda: _pages_read(screen), what="the page read ahead")
    return int(name.split()[1]), int(_cursor_name(app).split()[1])


async def test_page_down_moves_a_whole_page_every_time_the_next_page_read_a_screen_ahead(
    tmp_path: Path,
) -> None:
    fmt.freeze_clock(START + timedelta(days=30))
    path = tmp_path / "journal.sqlite"
    big_journal(path, 1000)
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = await _open(pilot, app)
            table = _table(app)

            moves: list[int] = []
            for _ in range(12):  # about 500 rows: across the window's edge several times
                before, after = await _press_page(pilot, app, screen, "pagedown")
                moves.append(before - after)
            # Never stopped short at the window's last row, waiting for the next page.
            # (DataTable's first page from the top row may be a row shorter than the rest.)
            assert max(moves) - min(moves) <= 1, moves
            assert min(moves) >= 30
            assert table.row_count >= sum(moves)


async def test_page_up_from_the_oldest_moves_a_whole_page_every_time_and_the_window_stays_bounded(
    tmp_path: Path,
) -> None:
    fmt.freeze_clock(START + timedelta(days=30))
    path = tmp_path / "journal.sqlite"
    big_journal(path, 2000)
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = await _open(pilot, app)
            table = _table(app)

            await pilot.press("end")
            await wait_for(pilot, lambda: _cursor_name(app) == "run 00000", what="End on the oldest row")
            await wait_for(pilot, lambda: _pages_read(screen), what="End's page")
            await pilot.pause()
            assert (table.row_count, screen.at_tail) == (PAGE, True)  # the page above waits for a move
            moves: list[int] = []
            for _ in range(30):  # about 1,300 rows up: a page read in above many times
                before, after = await _press_page(pilot, app, screen, "pageup")
                moves.append(after - before)
                # The window is the journal's rows in order, newest first, with no gap or repeat.
                numbers = [int(_name_at(app, i).split()[1]) for i in range(table.row_count)]
                assert numbers == list(range(numbers[0], numbers[0] - len(numbers), -1))
                assert table.row_count <= 6 * PAGE
            assert max(moves) - min(moves) <= 1, moves  # never stopped short at the window's top
            assert min(moves) >= 30
            assert not screen.at_tail  # the oldest rows left the window as newer pages came in
            # Down again to the oldest: the rows let go are read back as the cursor nears them.
            await pilot.press("end")
            await wait_for(pilot, lambda: _cursor_name(app) == "run 00000", what="End on the oldest again")


async def test_end_and_home_answer_from_the_pages_read_before_without_waiting_on_the_journal(
    tmp_path: Path,
) -> None:
    """The oldest page is read ahead while idle and the newest kept from the last reload: End and
    Home move the window at once, before any journal read; each is checked against the journal
    after its frame, so a change written since still shows."""
    fmt.freeze_clock(START + timedelta(days=30))
    path = tmp_path / "journal.sqlite"
    big_journal(path, 1_000)
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        # Each read, with the row the cursor was on when it was asked for.
        reads: list[tuple[str, str]] = []
        listing = journal.list_executions

        async def counted(*args: Any, **kwargs: Any) -> Any:
            shown = (
                _cursor_name(app) if isinstance(app.screen, JournalScreen) and _table(app).row_count else ""
            )
            reads.append(("oldest" if kwargs.get("oldest") else "newest", shown))
            return await listing(*args, **kwargs)

        journal.list_executions = counted  # type: ignore[method-assign]
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await _open(pilot, app)
            await wait_for(pilot, lambda: ("oldest", "run 00999") in reads, what="the oldest page read ahead")
            await wait_for(pilot, lambda: screen._remembered("tail") is not None, what="kept")
            table = _table(app)

            reads.clear()
            await pilot.press("end")
            await wait_for(pilot, lambda: len(reads) == 1 and screen.loaded > 1, what="End's check")
            assert _cursor_name(app) == "run 00000" and table.row_count == PAGE
            assert reads == [("oldest", "run 00000")]  # read after the cursor was there, not before

            # Written meanwhile: Home shows the page it knew at once, then the check shows the change.
            with sqlite3.connect(path) as conn:
                conn.execute("UPDATE executions SET name = 'renamed 00999' WHERE id = 'exec-000999'")
            reads.clear()
            await pilot.press("home")
            await wait_for(pilot, lambda: _cursor_name(app) == "renamed 00999", what="Home's page checked")
            assert reads == [("newest", "run 00999")] and table.cursor_row == 0


async def test_history_frames_hold_full_collections_off_like_the_main_screens(tmp_path: Path) -> None:
    """The quiet-moment collector heard only of the main screen's frames: one second into History
    it ran a full collection (20-50 ms) in the middle of its keys. History's frames count too."""
    from comfy_reality.config import Settings
    from comfy_reality.tui import gc_tuning
    from comfy_reality.tui.app import ComfyRealityApp

    path = tmp_path / "journal.sqlite"
    big_journal(path, 300)
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9"),
        connect=False,
        bundled_dir=tmp_path,
        journal_path=path,
        freeze_long_lived=True,
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.journal is not None, what="app")
        # The collector the main screen started, which its frames tell of themselves.
        on_frame = app.main_screen._dirty_lines.on_frame
        collector = getattr(on_frame, "__self__", None)
        assert isinstance(collector, gc_tuning.QuietCollector)
        await pilot.press("h")
        screen = await _open(pilot, app)
        for _ in range(3):
            collector.drawn_at = 0.0  # as if the main screen drew nothing for a long time
            before = _table(app).cursor_row
            await pilot.press("down")
            await wait_for(pilot, lambda b=before: _table(app).cursor_row == b + 1, what="cursor moved")
            await wait_for(pilot, lambda: collector.drawn_at > 0.0, what="History's frame heard")
        assert app.screen is screen


async def test_a_filter_keystroke_shows_its_rows_before_counting_every_match(tmp_path: Path) -> None:
    """The count reads every matching row; the rows a keystroke asks for are shown first, the
    total (said as "100+" meanwhile) right after."""
    fmt.freeze_clock(START + timedelta(days=30))
    path = tmp_path / "journal.sqlite"
    big_journal(path, 1_000)
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        # The first rows' names when each count was asked for.
        counted_over: list[list[str]] = []
        count = journal.count_executions

        async def counted(*args: Any, **kwargs: Any) -> Any:
            table = _table(app)
            counted_over.append([_name_at(app, i) for i in range(min(3, table.row_count))])
            return await count(*args, **kwargs)

        journal.count_executions = counted  # type: ignore[method-assign]
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await _open(pilot, app)
            table = _table(app)
            await wait_for(pilot, lambda: table.border_title == "Executions: 1000", what="the count")
            counted_over.clear()
            screen.query_one("#history-filter", Input).value = "run 005"
            await wait_for(pilot, lambda: table.border_title == "Executions: 100", what="the filter's count")
            assert counted_over == [["run 00599", "run 00598", "run 00597"]]


async def test_details_of_the_same_height_lay_nothing_out_and_a_taller_one_is_shown_whole(
    tmp_path: Path,
) -> None:
    """The details pane's text changes with each cursor move; the screen is laid out again only
    when that changes its height, so moving between runs of the same shape costs no layout."""
    fmt.freeze_clock(START + timedelta(days=30))
    path = tmp_path / "journal.sqlite"
    big_journal(path, 300)
    with sqlite3.connect(path) as conn:  # the newest run failed: its details say more
        conn.execute(
            "UPDATE executions SET status = 'failed', status_detail = ? WHERE id = 'exec-000299'",
            ("a failure\nexplained\nover several\nlines",),
        )
    async with await Journal.open(path) as journal:
        app = HistoryApp(journal)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await _open(pilot, app)
            await wait_for(pilot, lambda: "exec-000299" in _details(app), what="the newest's details")
            body = screen.query_one("#history-detail-body", Static)
            tall = body.size.height
            layouts = [0]
            original = screen._refresh_layout

            def counted(*args: Any, **kwargs: Any) -> Any:
                layouts[0] += 1
                return original(*args, **kwargs)

            screen._refresh_layout = counted  # type: ignore[method-assign]
            await pilot.press("down")  # to a completed run: fewer lines, laid out
            await wait_for(pilot, lambda: "exec-000298" in _details(app), what="second details")
            await wait_for(pilot, lambda: layouts[0] > 0 and body.size.height < tall, what="shorter")
            short = body.size.height
            layouts[0] = 0
            for index in (297, 296, 295):  # the same shape: no layout
                await pilot.press("down")
                await wait_for(pilot, lambda i=index: f"exec-{i:06d}" in _details(app), what="details")
                await pilot.pause()
            assert layouts[0] == 0 and body.size.height == short
            await pilot.press("home")  # back to the failed run: taller again, shown whole
            await wait_for(pilot, lambda: "exec-000299" in _details(app), what="the newest again")
            await wait_for(pilot, lambda: body.size.height == tall, what="laid out taller")
            assert "over several" in _details(app)
