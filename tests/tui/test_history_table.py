"""The History table draws one-line text cells itself (no Rich layout per cell): segment for segment
what DataTable draws, in every cursor, hover and zebra state; and it sizes itself without measuring."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from comfy_reality.tui.widgets.history_table import HistoryTable

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
