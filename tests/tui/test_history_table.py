"""The History table draws one-line text cells itself (no Rich layout per cell): segment for segment
what DataTable draws, in every cursor, hover and zebra state; and it sizes itself without measuring."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable

from comfy_reality.tui.widgets.history_table import HistoryTable
from tests.tui.pilot import wait_for

CELLS: list[Text] = [
    Text("✓", style="bold green"),
    Text("run 00042", overflow="ellipsis", no_wrap=True),
    Text("a name far too long for the column it is shown in", overflow="ellipsis", no_wrap=True),
    Text("a name far too long for the column it is shown in"),
    Text("abc", style="dim"),
    Text("12.5s", justify="right"),
    Text("1234567890123", justify="right"),
    Text("3  ", justify="right", style="green"),
    Text("   ", justify="right"),
    Text("left", justify="left", style="italic"),
    Text("3h ago", end=""),
    Text("–", style="dim"),
    Text(""),
    Text("wide 漢字 text"),
    Text.assemble(("two", "red"), " styles"),
    Text("tab\there"),
]
WIDTHS = [1, 8, 5, 12, 3, 6, 4, 4, 4, 9, 8, 1, 3, 6, 10, 7]


class TableApp(App[None]):
    CSS = "HistoryTable { height: 10; }"

    def compose(self) -> ComposeResult:
        yield HistoryTable(cursor_type="row", zebra_stripes=True)


async def test_fast_cells_are_drawn_exactly_as_data_table_draws_them() -> None:
    app = TableApp()
    async with app.run_test(size=(150, 20)) as pilot:
        table = app.query_one(HistoryTable)
        for index, width in enumerate(WIDTHS):
            table.add_column(f"c{index}", key=f"c{index}", width=width)
        table.replace_rows([(f"row-{r}", list(CELLS)) for r in range(4)], cursor=1)
        await pilot.pause()
        table.hover_coordinate = Coordinate(2, 0)
        for row in range(4):
            base = table._get_row_style(row, table.rich_style)
            for column, width in enumerate(WIDTHS):
                render_width = width + 2 * table.cell_padding
                for cursor in (False, True):
                    for hover in (False, True):
                        table._cell_render_cache.clear()
                        fast = table._render_cell(row, column, base, render_width, cursor, hover)
                        table._cell_render_cache.clear()
                        slow = DataTable._render_cell(table, row, column, base, render_width, cursor, hover)
                        assert fast == slow, (CELLS[column], cursor, hover)


async def test_rows_are_sized_without_measuring_and_the_cursor_shown_at_once() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(HistoryTable)
        table.add_column("name", key="name", width=20)
        rows: list[tuple[str, list[Any]]] = [(f"row-{r}", [Text(f"run {r}")]) for r in range(100)]
        table.replace_rows(rows, cursor=99, scroll_y=100)
        # No idle pass needed: the size is known and the cursor's row is in view before the next frame.
        assert table.virtual_size.height == 101
        assert table.cursor_row == 99
        assert table.scroll_y == table.max_scroll_y > 0
        await pilot.pause()
        assert table.scroll_y == table.max_scroll_y
        assert str(table.get_row_at(99)[0]) == "run 99"


class BothApp(App[None]):
    """The same rows in a HistoryTable and a plain DataTable, one above the other."""

    CSS = "DataTable { height: 12; }"

    def compose(self) -> ComposeResult:
        yield HistoryTable(id="fast", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="plain", cursor_type="row", zebra_stripes=True)


async def test_whole_lines_are_drawn_exactly_as_data_table_draws_them() -> None:
    app = BothApp()
    async with app.run_test(size=(150, 30)) as pilot:
        fast, plain = app.query_one("#fast", DataTable), app.query_one("#plain", DataTable)
        rows = [(f"row-{r}", [CELLS[(r + c) % len(CELLS)] for c in range(len(WIDTHS))]) for r in range(40)]
        for table in (fast, plain):
            for index, width in enumerate(WIDTHS):
                table.add_column(
                    Text(f"c{index}", justify="right" if index % 2 else "left"), key=f"c{index}", width=width
                )
        assert isinstance(fast, HistoryTable)
        fast.replace_rows(rows, cursor=0)
        for key, cells in rows:
            plain.add_row(*cells, key=key)
        region = fast.size.region
        for cursor, hover in ((0, 3), (7, 2), (20, 20), (35, 0)):
            for table in (fast, plain):
                table.move_cursor(row=cursor, animate=False)
                table.hover_coordinate = Coordinate(hover, 0)
                table._set_hover_cursor(hover % 2 == 0)
            drawn: dict[str, list[list[Any]]] = {}
            for focused in (None, fast, plain):
                app.set_focus(focused)
                await pilot.pause()
                await pilot.pause()
                assert fast.scroll_y == plain.scroll_y
                for table in (fast, plain) if focused is None else (focused,):
                    state = "focused" if focused is not None else "unfocused"
                    drawn[f"{table.id} {state}"] = [list(strip) for strip in table.render_lines(region)]
            assert drawn["fast unfocused"] == drawn["plain unfocused"]
            assert drawn["fast focused"] == drawn["plain focused"]
            assert drawn["fast focused"] != drawn["fast unfocused"]  # the focus shows


async def _plain_lines(
    pilot: Any, rows: list[tuple[str, list[Any]]], cursor: int, scroll_y: int
) -> list[list[Any]]:
    """What a plain DataTable beside it draws for these rows, cursor and scroll."""
    plain = pilot.app.query_one("#plain", DataTable)
    plain.clear()
    for key, cells in rows:
        plain.add_row(*cells, key=key)
    await pilot.pause()  # it sizes itself when idle
    plain.move_cursor(row=cursor, animate=False)
    plain.scroll_to(y=scroll_y, animate=False, immediate=True)
    await pilot.pause()
    assert (plain.cursor_row, plain.scroll_y) == (cursor, scroll_y)
    return [list(strip) for strip in plain.render_lines(plain.size.region)]


class CountingTable(HistoryTable):
    """Counts the data rows drawn cell by cell (not taken from the rows already drawn)."""

    drawn_rows = 0
    frame_rows = 0  # drawn by the last frame (not ahead of it)

    def _data_row_cells(self, *args: Any, **kwargs: Any) -> list[list[Any]]:
        self.drawn_rows += 1
        return super()._data_row_cells(*args, **kwargs)

    def render_lines(self, crop: Region) -> list[Strip]:
        before = self.drawn_rows
        try:
            return super().render_lines(crop)
        finally:
            self.frame_rows = self.drawn_rows - before


class CountingApp(App[None]):
    CSS = "DataTable { height: 12; }"

    def compose(self) -> ComposeResult:
        yield CountingTable(id="fast", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="plain", cursor_type="row", zebra_stripes=True)


def _rows(first: int, count: int) -> list[tuple[str, list[Any]]]:
    return [
        (f"row-{r}", [Text(f"run {r}"), Text(f"{r % 7}s", justify="right")])
        for r in range(first, first + count)
    ]


async def _mounted(pilot: Any, app: App[None]) -> CountingTable:
    fast = app.query_one(CountingTable)
    for table in (fast, app.query_one("#plain", DataTable)):
        table.add_column("name", key="name", width=12)
        table.add_column("took", key="took", width=4)
    app.set_focus(None)  # both drawn unfocused, to compare them
    await pilot.pause()
    return fast


async def test_a_window_refilled_with_rows_drawn_before_draws_none_again_and_changed_cells_anew() -> None:
    app = CountingApp()
    async with app.run_test(size=(60, 30)) as pilot:
        fast = await _mounted(pilot, app)
        newest, oldest = _rows(0, 40), _rows(960, 40)
        fast.replace_rows(newest, cursor=0)
        await pilot.pause()
        fast.replace_rows(oldest, cursor=39, scroll_y=40)  # End
        await pilot.pause()
        fast.replace_rows(newest, cursor=0)  # Home: the same rows as first shown
        fast.drawn_rows = 0
        region = fast.size.region
        home = [list(strip) for strip in fast.render_lines(region)]
        assert fast.drawn_rows == 0
        assert home == await _plain_lines(pilot, newest, 0, 0)
        # The same key with other cells: drawn again, as a plain table draws them.
        changed = [(key, [Text(f"renamed {key}"), cells[1]]) for key, cells in newest]
        fast.replace_rows(changed, cursor=0)
        lines = [list(strip) for strip in fast.render_lines(region)]
        assert fast.drawn_rows == 11  # every data row in view
        assert lines == await _plain_lines(pilot, changed, 0, 0)
        assert "renamed" in "".join(segment.text for segment in lines[1])


async def test_the_page_below_the_view_is_drawn_while_idle_and_a_page_down_draws_only_the_cursor_row() -> (
    None
):
    app = CountingApp()
    async with app.run_test(size=(60, 30)) as pilot:
        fast = await _mounted(pilot, app)
        rows = _rows(0, 100)
        fast.replace_rows(rows, cursor=0)
        await pilot.pause()
        await pilot.pause()  # the idle callbacks that draw ahead
        fast.action_page_down()
        await pilot.pause()
        assert fast.cursor_row > 0 and fast.scroll_y > 0
        # The new cursor row is the one row of the new page not drawn ahead in the state it shows.
        assert fast.frame_rows == 1
        drawn = [list(strip) for strip in fast.render_lines(fast.size.region)]
        assert drawn == await _plain_lines(pilot, rows, fast.cursor_row, round(fast.scroll_y))


async def test_a_page_added_below_a_scrolling_table_sizes_it_without_a_layout_and_few_rows_lay_it_out() -> (
    None
):
    app = CountingApp()
    async with app.run_test(size=(60, 30)) as pilot:
        fast = await _mounted(pilot, app)
        fast.replace_rows(_rows(0, 100), cursor=0)
        screen = app.screen

        def settled() -> bool:  # the layouts the first rows asked for (the scrollbar's too) are done
            return not screen._layout_required and not any(w._layout_required for w in screen.walk_children())

        for _ in range(2):
            await wait_for(pilot, settled, what="the first layouts")
            await pilot.pause()
        assert fast.show_vertical_scrollbar
        layouts: list[object] = []
        refresh_layout = screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> None:
            if screen._layout_required:  # not a scroll's reflow: a layout of the screen
                layouts.append(args)
            refresh_layout(*args, **kwargs)

        screen._refresh_layout = counted  # type: ignore[method-assign]
        fast.append_rows(_rows(100, 100))
        assert fast.virtual_size.height == 201
        assert fast.max_scroll_y == 201 - fast.scrollable_content_region.height
        assert fast.vertical_scrollbar.window_virtual_size == 201
        fast.move_cursor(row=199, animate=False)
        await pilot.pause()
        assert fast.scroll_y == fast.max_scroll_y
        assert layouts == []
        # Fewer rows than the view holds: the scrollbar goes, which needs the layout.
        fast.replace_rows(_rows(0, 3), cursor=0)
        await pilot.pause()
        assert fast.virtual_size.height == 4
        assert not fast.show_vertical_scrollbar
        assert layouts


async def test_a_page_read_in_above_the_window_draws_no_row_again_and_each_keeps_its_own_click_row() -> None:
    """History prepends a page as the cursor nears the window's top: every row moves down a page.
    A row drawn before is reused with its cells' click rows renumbered, as a plain table draws it."""
    app = CountingApp()
    async with app.run_test(size=(60, 30)) as pilot:
        fast = await _mounted(pilot, app)
        window = _rows(100, 40)
        cursor, scroll_y = 15, 10  # the view's rows 10 to 20 (row 0 has the hover, out of view)
        fast.replace_rows(window, cursor=cursor, scroll_y=scroll_y)
        await pilot.pause()  # sized: from now on the table scrolls where it is told
        fast.replace_rows(window, cursor=cursor, scroll_y=scroll_y)
        assert (fast.cursor_row, fast.scroll_y) == (cursor, scroll_y)
        fast.render_lines(fast.size.region)
        for page in (20, 7):  # an even page keeps each row's stripe; an odd one swaps them all
            first = int(window[0][0].split("-")[1]) - page
            window = _rows(first, page) + window
            cursor, scroll_y = cursor + page, scroll_y + page
            fast.replace_rows(window, cursor=cursor, scroll_y=scroll_y)
            assert (fast.cursor_row, fast.scroll_y) == (cursor, scroll_y)
            fast.drawn_rows = 0
            lines = [list(strip) for strip in fast.render_lines(fast.size.region)]
            assert fast.drawn_rows == (0 if page % 2 == 0 else 11)
            assert lines == await _plain_lines(pilot, window, cursor, scroll_y)
            rows_clicked = {
                segment.style.meta.get("row")
                for segment in lines[3]
                if segment.style is not None and segment.style.meta
            }
            assert rows_clicked == {scroll_y + 2}  # the third data row in view (the header is line 0)
