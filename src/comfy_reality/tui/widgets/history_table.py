"""The History screen's executions table: a DataTable that pages and draws cheaply.

Every column has a set width and every row one line, which DataTable does not assume. It
measures each cell of each new row (to learn widths it then ignores), adds rows one reactive
update at a time, draws each cell through Rich's general layout (Padding, Styled,
render_lines), asks for its own styles once per line and pickles a new click-meta style per
cell. Over 20,000 executions that, not the journal, was the cost of a keystroke: ~50 ms to
measure a page of 100 rows and ~45 ms to draw a 44-row frame. Here a page is added at once
and sized from the fixed widths, and a one-line text cell is cut, padded and styled directly
(a frame in ~15 ms), segment for segment what DataTable would have drawn: tests compare the
two, cell by cell and whole table against whole table. Anything else falls back to DataTable.

A page key then still drew every line in view anew. Drawn lines are now kept by what their row
shows (not by DataTable's window-wide update count, which any refill resets), so a window
refilled with rows drawn before (Home after End, a filter typed and erased) draws none again;
while idle after a frame that moved the view, the page below and the page above are drawn
ahead into the same cache; and a page added to a table already taller than its view sets the
scroll extent without laying the whole screen out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import zip_longest
from typing import Any, cast

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.color import Color
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, DuplicateKey, Row, RowKey

_NULL = Style.null()
DRAWN_ROWS = 512  # a few screens of rows in each cursor state
AHEAD_CHUNK = 8  # lines drawn ahead per idle callback: about a millisecond


class HistoryTable(DataTable[Any]):
    """The executions table; says when its width changes so the columns can be fitted again."""

    # The table holds a window of the journal: first and last mean the journal's, which the screen pages in.
    BINDINGS = [
        Binding("home,ctrl+home", "screen.cursor('top')", "First", show=False),
        Binding("end,ctrl+end", "screen.cursor('bottom')", "Last", show=False),
    ]

    class Resized(Message):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width

    def on_resize(self, event: events.Resize) -> None:
        # Content width less the vertical scrollbar, which appears once rows overflow.
        self.post_message(
            self.Resized(max(0, self.content_region.width - self.styles.scrollbar_size_vertical))
        )

    # ------------------------------------------------------------------ rows
    def replace_rows(self, rows: Iterable[tuple[str, list[Any]]], cursor: int, scroll_y: int = 0) -> None:
        """Show these rows instead, the cursor on row ``cursor`` and the view ``scroll_y`` rows down
        (then moved as little as shows the cursor), all before the next frame."""
        self.clear()
        self._add_rows(rows)
        if self.row_count:
            # The cursor first: move_cursor scrolls the cursor it replaces (row 0 after clear) into
            # view, which would undo the scroll and leave the new cursor's row at the view's edge.
            self.move_cursor(row=max(0, min(cursor, self.row_count - 1)), animate=False, scroll=False)
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
            self._scroll_cursor_into_view()

    def append_rows(self, rows: Iterable[tuple[str, list[Any]]]) -> None:
        self._add_rows(rows)

    def _add_rows(self, rows: Iterable[tuple[str, list[Any]]]) -> None:
        """``add_row`` for each, without its per-row cursor check and refresh (a page is ~100 rows),
        then the virtual size now rather than on idle: the cursor can scroll into view at once."""
        was_empty = self.row_count == 0
        columns = [column.key for column in self.ordered_columns]
        added: list[RowKey] = []
        for key, cells in rows:
            row_key = RowKey(key)
            if row_key in self._row_locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            if len(cells) > len(columns):
                raise ValueError("More values provided than there are columns.")
            self._row_locations[row_key] = self.row_count
            self._data[row_key] = dict(zip_longest(columns, cells))
            self.rows[row_key] = Row(row_key, 1, None, False)
            added.append(row_key)
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate
        if was_empty and self.row_count and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self.refresh()
        self._require_update_dimensions = False
        self._update_dimensions(added)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        rows = [self.rows.get(key) for key in new_rows]
        fixed = all(not column.auto_width for column in self.columns.values()) and all(
            row is None or (row.height == 1 and row.label is None) for row in rows
        )
        if not fixed:
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self._set_virtual_size(Size(width, self._total_row_height + header))

    def _set_virtual_size(self, size: Size) -> None:
        """The scrollable size, laying the screen out again only when that can change it: a page
        added to (or a window swapped in) a table already taller than its view leaves the table's
        own size and its scrollbars as they were, and a layout of the screen is a frame's time."""
        old, view = self.virtual_size, self.container_size.height
        if size == old:
            return
        if size.width == old.width and view > 0 and old.height > view and size.height > view:
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
            self.refresh()
        else:
            self.virtual_size = size

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        # At once, so the frame that first shows the cursor's row shows it in view; and once more
        # after the refresh, in case that frame's layout resized the table (the rows grew or shrank).
        if self.cursor_type == "row" and self.is_valid_row_index(self.cursor_row):
            offset = self._get_fixed_offset()
            _, y, width, height = self._get_row_region(self.cursor_row)
            region = Region(int(self.scroll_x) + offset.left, y, width - offset.left, height)
            self.scroll_to_region(region, animate=animate, spacing=offset, force=True, immediate=True)
        self.call_after_refresh(super()._scroll_cursor_into_view, animate=animate)

    # ------------------------------------------------------------------ drawing
    # DataTable asks for its own style, background and row style once per line drawn; each walks
    # the widget's ancestors. Within one render_lines call they cannot change: asked once there.
    _frame: dict[Any, Any] | None = None
    # Style sums of cells, without their meta: (row style, cursor style, post style, text style) -> sum.
    _style_sums: dict[tuple[Style, Style, Style, Style | None], Style]

    _metas: dict[tuple[int, int, bool], Style]
    # Drawn rows by what they show, kept across clear(): a window refilled with rows it held before
    # (Home after End, a filter erased) draws from here instead of cell by cell.
    _drawn: LRUCache[tuple[Any, ...], tuple[int, Strip]]  # by what the row shows: its index then, its line

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._style_sums = {}
        self._metas = {}
        self._drawn = LRUCache(DRAWN_ROWS)
        self._ahead_lines = []

    def notify_style_update(self) -> None:
        # A theme or focus style changed what a row looks like: the rows drawn before are stale.
        self._drawn.clear()
        super().notify_style_update()

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """A data row's line from ``_drawn`` when a row with the same cells was drawn at the same
        index in the same state, whichever window held it; anything else as DataTable draws it."""
        frame = self._frame
        if frame is None or not self._plain_rows():
            return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row_index = self._row_locations.get(row_key) if row_key in self._row_locations else None
        row = self.rows.get(row_key)
        if row_index is None or line_no or row is None or row.height != 1:
            return super()._render_line(y, x1, x2, base_style)
        state = self._frame_state()
        shown = row_shows(self._data.get(row_key), state[0])
        if shown is None:
            return super()._render_line(y, x1, x2, base_style)
        cursor, hover = self.cursor_coordinate.row, self.hover_coordinate.row
        # Only the row's parity (its zebra stripe) in the key: a page read in above the window moves
        # every row down by a page, and a row drawn before at another index only needs its cells'
        # click meta renumbered, not drawing again.
        key = (shown, row_index % 2, x1, x2, base_style, cursor == row_index, hover == row_index, state)
        drawn = self._drawn.get(key)
        strip = None
        if drawn is not None:
            strip = (
                drawn[1] if drawn[0] == row_index else renumbered(drawn[1], drawn[0], row_index, self._meta)
            )
        if strip is None:
            strip = super()._render_line(y, x1, x2, base_style)
        if drawn is None or drawn[1] is not strip:
            self._drawn.set(key, (row_index, strip))
        return strip

    def _plain_rows(self) -> bool:
        """Rows laid out as the fast paths assume: a row cursor, no fixed rows or columns, no labels."""
        return (
            self.cursor_type == "row"
            and not self.fixed_columns
            and not self.fixed_rows
            and not (self._labelled_row_exists and self.show_row_labels)
        )

    def _frame_state(self) -> tuple[Any, ...]:
        """All else a data row's drawing depends on (asked once a frame)."""
        frame = self._frame if self._frame is not None else {}
        if "state" not in frame:
            frame["state"] = (
                tuple(column.key for column in self.ordered_columns),
                tuple(self._column_widths()[0]),
                self.size.width,
                self.show_cursor,
                self._show_hover_cursor,
                self._pseudo_class_state,
                self.cursor_foreground_priority,
                self.cursor_background_priority,
                self.cell_padding,
                self.zebra_stripes,
                self._text_defaults(),
            )
        return cast("tuple[Any, ...]", frame["state"])

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame = {}
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None
            self._schedule_draw_ahead()

    # ------------------------------------------------------------------ drawing ahead
    # A page key shows a page of rows never drawn (a frame's cost is drawing them). While idle
    # after a frame that moved the view, the page below it and the page above are drawn into
    # ``_drawn``, a few lines per callback so a key is never queued behind more than that.
    _ahead_view: tuple[Any, ...] | None = None
    _ahead_lines: list[int]

    def _schedule_draw_ahead(self) -> None:
        if not self._plain_rows() or not self.row_count:
            return
        view = (
            round(self.scroll_y),
            round(self.scroll_x),
            self.size,
            self.row_count,
            self._update_count,
            self.get_pseudo_class_state(),
        )
        if view == self._ahead_view:
            return
        first_scheduled = self._ahead_view is None or not self._ahead_lines
        self._ahead_view = view
        top, height = view[0], self.scrollable_content_region.height - self._header_rows()
        below = range(top + height, min(self.row_count, top + 2 * height))
        above = range(max(0, top - height), top)
        self._ahead_lines = [*below, *reversed(above)]
        if first_scheduled:
            self.call_later(self._draw_ahead)

    def _draw_ahead(self) -> None:
        """Draw the next few lines ahead of the view (their cursor and hover as they are now)."""
        lines, self._ahead_lines = self._ahead_lines[:AHEAD_CHUNK], self._ahead_lines[AHEAD_CHUNK:]
        if not lines or not self.is_mounted or not self._plain_rows():
            self._ahead_lines = []
            return
        self._pseudo_class_state = self.get_pseudo_class_state()
        self._frame = {}
        try:
            base_style, header = self.rich_style, self._header_rows()
            x1 = round(self.scroll_x)
            for line in lines:
                if line < self.row_count:
                    self._render_line(line + header, x1, x1 + self.size.width, base_style)
        finally:
            self._frame = None
        if self._ahead_lines:
            self.call_later(self._draw_ahead)

    def _header_rows(self) -> int:
        return self.header_height if self.show_header else 0

    @property
    def rich_style(self) -> Style:
        frame = self._frame
        if frame is None:
            return super().rich_style
        if "rich_style" not in frame:
            frame["rich_style"] = super().rich_style
        return cast(Style, frame["rich_style"])

    @property
    def background_colors(self) -> tuple[Color, Color]:
        frame = self._frame
        if frame is None:
            return super().background_colors
        if "background_colors" not in frame:
            frame["background_colors"] = super().background_colors
        return cast("tuple[Color, Color]", frame["background_colors"])

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        frame = self._frame
        if frame is None or row_index < self.fixed_rows:
            return super()._get_row_style(row_index, base_style)
        key = ("row_style", row_index % 2, base_style)
        if key not in frame:
            frame[key] = super()._get_row_style(row_index, base_style)
        return cast(Style, frame[key])

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        found = self._one_line_cell(row_index, column_index)
        if found is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key, column_key, cell = found
        cache_key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        justify, overflow = self._text_defaults()
        inner = text_segments(cell, width - 2 * self.cell_padding, justify, overflow, self.app.console)
        if inner is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component_style, post_style = self._cell_styles(cursor, hover)
        line = self._styled_cell(inner, row_index, column_index, base_style, component_style, post_style)
        lines = [line]
        self._cell_render_cache[cache_key] = lines
        return lines

    def _cell_styles(self, cursor: bool, hover: bool) -> tuple[Style, Style]:
        """A data cell's component and post styles in this cursor and hover state."""
        return self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )

    def _styled_cell(
        self,
        inner: list[Segment],
        row_index: int,
        column_index: int,
        base_style: Style,
        component_style: Style,
        post_style: Style,
    ) -> list[Segment]:
        """A cell's text segments padded and styled as DataTable styles them."""
        # Segment.apply_style(segments, base + meta + component, post): the sums without the meta
        # (the same for every cell of a row's stripe and state) are kept; the meta, the cell's own
        # row and column for mouse clicks, is added last, which gives equal styles.
        meta = self._meta(row_index, column_index)
        sums = self._style_sums
        if len(sums) > 4096:
            sums.clear()
        styled: dict[Style | None, Style] = {}
        line: list[Segment] = []
        pad = [Segment(" " * self.cell_padding, _NULL)] if self.cell_padding else []
        for text, style, _ in (*pad, *inner, *pad):
            if style not in styled:
                key = (base_style, component_style, post_style, style)
                if key not in sums:
                    combined = base_style + component_style + style
                    sums[key] = combined + post_style if post_style else combined
                styled[style] = sums[key] + meta
            line.append(Segment(text, styled[style]))
        return line

    def _data_row_cells(
        self, row_key: RowKey, row_index: int, row_style: Style, widths: list[int], cursor: bool, hover: bool
    ) -> list[list[Segment]]:
        """A one-line data row's cells, drawn in one pass: the row's state and the frame's
        constants asked once, not once per cell as ``_render_cell`` must."""
        row = self.rows.get(row_key)
        if row is None or row.height != 1 or row_index < self.fixed_rows:
            return [
                self._render_cell(row_index, index, row_style, width, cursor=cursor, hover=hover)[0]
                for index, width in enumerate(widths)
            ]
        data = self._data.get(row_key, {})
        justify, overflow = self._text_defaults()
        console = self.app.console
        padding = 2 * self.cell_padding
        component_style, post_style = self._cell_styles(cursor, hover)
        cells: list[list[Segment]] = []
        for index, (column, width) in enumerate(zip(self.ordered_columns, widths, strict=True)):
            cell = data.get(column.key)
            inner = (
                text_segments(cell, width - padding, justify, overflow, console)
                if isinstance(cell, Text)
                else None
            )
            if inner is None:
                cells.append(
                    self._render_cell(row_index, index, row_style, width, cursor=cursor, hover=hover)[0]
                )
            else:
                cells.append(
                    self._styled_cell(inner, row_index, index, row_style, component_style, post_style)
                )
        return cells

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        """A row's cells and the space right of them, as DataTable lays them out for a row cursor
        without fixed columns or row labels; the column widths and header style asked once a frame."""
        if (
            self.cursor_type != "row"
            or self.fixed_columns
            or (self._labelled_row_exists and self.show_row_labels)
        ):
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        cache_key = (
            row_key,
            line_no,
            base_style,
            cursor_location,
            hover_location,
            self.cursor_type,
            self.show_cursor,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._row_render_cache.get(cache_key)
        if cached is not None:
            return cached
        found = self._row_locations.get(row_key) if row_key in self._row_locations else None
        row_index = -1 if found is None else found
        row_style = self._get_row_style(row_index, base_style)
        cursor, hover = cursor_location.row == row_index, hover_location.row == row_index
        widths, space = self._column_widths()
        if row_index >= 0 and line_no == 0:
            cells = self._data_row_cells(row_key, row_index, row_style, widths, cursor, hover)
        else:
            cells = [
                self._render_cell(row_index, index, row_style, width, cursor=cursor, hover=hover)[line_no]
                for index, width in enumerate(widths)
            ]
        extend_style, _ = self._get_styles_to_render_cell(
            row_index == -1,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            False,
            False,
        )
        extend_style = row_style + extend_style + self._meta(row_index, 0, out_of_bounds=True)
        cells.append([Segment(" " * space, extend_style)])
        row_pair: tuple[list[list[Segment]], list[list[Segment]]] = ([], cells)
        self._row_render_cache[cache_key] = row_pair
        return row_pair

    def _meta(self, row: int, column: int, out_of_bounds: bool = False) -> Style:
        """The style that tells a mouse click its cell: made once per cell position, as Rich pickles
        the meta of each new one (that was a third of a frame's time)."""
        key = (row, column, out_of_bounds)
        style = self._metas.get(key)
        if style is None:
            if len(self._metas) > 8192:
                self._metas.clear()
            meta: dict[str, Any] = {"row": row, "column": column}
            if out_of_bounds:
                meta["out_of_bounds"] = True
            style = self._metas[key] = Style.from_meta(meta)
        return style

    def _column_widths(self) -> tuple[list[int], int]:
        """Each column's drawn width, and the space right of the last (once per frame)."""
        frame = self._frame if self._frame is not None else {}
        if "widths" not in frame:
            widths = [column.get_render_width(self) for column in self.ordered_columns]
            frame["widths"] = (widths, max(0, self.size.width - sum(widths) - self._row_label_column_width))
        return cast("tuple[list[int], int]", frame["widths"])

    def _text_defaults(self) -> tuple[str | None, str | None]:
        """The console's justify and overflow, which a text without its own uses (once per frame)."""
        frame = self._frame if self._frame is not None else {}
        if "text_defaults" not in frame:
            options = self.app.console_options
            frame["text_defaults"] = (options.justify, options.overflow)
        return cast("tuple[str | None, str | None]", frame["text_defaults"])

    def _one_line_cell(self, row_index: int, column_index: int) -> tuple[RowKey, ColumnKey, Text] | None:
        """The cell's text when it is a data cell of a one-line row (not the header, not fixed)."""
        if row_index < self.fixed_rows or column_index < self.fixed_columns:
            return None  # also the header (-1) and row labels (-1)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return None
        row = self.rows.get(row_key)
        if row is None or row.height != 1:
            return None
        cell = self._data.get(row_key, {}).get(column_key)
        return (row_key, column_key, cell) if isinstance(cell, Text) else None


def renumbered(
    strip: Strip, old_row: int, new_row: int, meta_of: Callable[[int, int, bool], Style]
) -> Strip | None:
    """A row's drawn line with the click meta of each cell (``row``, ``column``, ``out_of_bounds``)
    moved from row ``old_row`` to ``new_row``; None when a segment carries anything else (a link,
    other meta), which is then drawn anew."""
    renamed: dict[Style, Style] = {}
    segments: list[Segment] = []
    for text, style, control in strip:
        if style is not None:
            new_style = renamed.get(style)
            if new_style is None:
                meta = style.meta
                column, out_of_bounds = meta.get("column"), meta.get("out_of_bounds", False)
                if not meta:
                    new_style = style
                elif (
                    style.link
                    or meta.get("row") != old_row
                    or not isinstance(column, int)
                    or set(meta) - {"row", "column", "out_of_bounds"}
                ):
                    return None
                else:
                    new_style = style.clear_meta_and_links() + meta_of(new_row, column, out_of_bounds is True)
                renamed[style] = new_style
            style = new_style
        segments.append(Segment(text, style, control))
    return Strip(segments, strip.cell_length)


def row_shows(cells: dict[ColumnKey, Any] | None, columns: tuple[ColumnKey, ...]) -> tuple[Any, ...] | None:
    """What a row's text cells show, as a key; None when a cell is not a Text (drawn every time)."""
    if cells is None:
        return None
    shown: list[Any] = []
    for column in columns:
        cell = cells.get(column)
        if not isinstance(cell, Text):
            return None
        shown.append(
            (
                cell.plain,
                cell.style,
                cell.justify,
                cell.overflow,
                cell.no_wrap,
                cell.end,
                cell.tab_size,
                *cell.spans,
            )
        )
    return tuple(shown)


def text_segments(
    cell: Text, width: int, justify: str | None, overflow: str | None, console: Console
) -> list[Segment] | None:
    """A one-line text cut and padded to ``width`` cells as Rich renders it without wrapping, for
    the plain case (one style, no spans, no tabs, one cell per character); None otherwise."""
    plain = cell.plain
    if (
        width <= 0
        or not plain
        or cell.spans
        or cell.no_wrap is False
        or "\n" in plain
        or "\t" in plain
        or cell_len(plain) != len(plain)
    ):
        return None
    justify = cell.justify or justify or "default"
    overflow = cell.overflow or overflow or "fold"
    if justify not in ("default", "left", "right") or overflow not in ("fold", "crop", "ellipsis"):
        return None
    if justify == "right":
        plain = plain.rstrip()
    if len(plain) > width:
        plain = plain[: width - 1] + "…" if overflow == "ellipsis" else plain[:width]
    if justify == "right":
        plain = plain.rjust(width)
    elif justify == "left":
        plain = plain.ljust(width)
    style = console.get_style(cell.style) if cell.style else None
    segments = [Segment(plain, style)] if plain else []
    if len(plain) < width:
        segments.append(Segment(" " * (width - len(plain)), _NULL))
    return segments
