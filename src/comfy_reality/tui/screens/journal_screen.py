"""Past executions from the local journal (the screen titled History, opened with h): a filterable table, the
highlighted one's details beside or below. "History" in code names means the server's /history; this is the journal.

Reads go through the journal's writer thread (``list_executions`` / ``get``), so the event
loop never blocks on SQLite. Each reload is an exclusive worker: typing in the filter
cancels the previous query instead of queueing them up.

The table holds a window of the journal, paged by key as the cursor nears either edge: a
page older once it is a screen from the bottom, a page newer a screen from the top (so a page
key never waits at the edge); End jumps to the oldest page, Home back to the newest, both at
once from the pages last read (the oldest is read ahead while idle), then checked against the
journal after their frame. 20,000 executions open as fast as 200.

The table fits its width: the name column takes what the fixed columns leave, and the
least needed columns (server, prompt id, node count) are dropped first on narrow terminals;
everything dropped is still in the details.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Input, Select, Static

from ...journal import JournalEntry, JournalError
from ...safe_text import safe_str, safe_text
from ...url_secrets import redact_url
from .. import format as fmt
from .. import gc_tuning
from ..burst_keys import focus_at_once, moves_focus, post_in_turn
from ..image_actions import GalleryActions
from ..messages import RerunRequested
from ..widgets.filter_field import FilterField
from ..widgets.history_table import HistoryTable
from ..widgets.steady_footer import SteadyFooter
from .breakpoints import apply_breakpoints
from .history_details import ago, describe, duration_text, status_text

if TYPE_CHECKING:
    from ..images import ImageSupport

PAGE = 100  # rows read at a time: twice a tall terminal's rows
MARGIN = 20  # rows from the window's edge at which the next page is read
# The most rows the window keeps when a page is read in above it (the rows furthest below go):
# each such page redraws the table's row index, which costs what the window holds.
WINDOW_ROWS = 5 * PAGE
KEPT_CELLS = 2000  # rows' cells kept for reuse: several windows' worth
TAIL_AFTER = 0.3  # seconds the filter stays still before the oldest page is read ahead for End
# While a listed execution is still queued or running, the list is read again this often;
# otherwise only the relative times are redrawn.
TICK_SECONDS = 5.0
# From this width the details sit beside the table instead of below it.
SPLIT_WIDTH = 140
STATUS_CHOICES: list[tuple[str, str]] = [
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("running", "Running"),
    ("pending", "Queued"),
    ("lost", "Lost"),
    ("interrupted", "Interrupted"),
]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # characters of content; the table adds one cell of padding on each side
    rank: int = 0  # 0: always shown; otherwise optional columns are added in rank order while they fit


NAME = Column("name", "Workflow", 0)
COLUMNS = [
    Column("status", "", 1),
    NAME,
    Column("prompt", "Prompt", 8, rank=2),
    Column("server", "Server", 18, rank=3),
    Column("when", "When", 8),
    Column("duration", "Duration", 8),
    Column("nodes", "Nodes", 5, rank=1),
    Column("outputs", "Out", 3),
]
RIGHT_ALIGNED = {"duration", "nodes", "outputs"}
NAME_MIN = 16  # narrower than this and names become unreadable: drop optional columns instead
NAME_MAX = 40  # wider only spreads the row out; leftover space stays at the right


def fit_columns(width: int, padding: int = 1) -> list[Column]:
    """The columns that fit ``width`` cells, the name column sized to what the others leave."""
    used = sum(c.width + 2 * padding for c in COLUMNS if c.rank == 0 and c is not NAME) + 2 * padding
    chosen = {c.key for c in COLUMNS if c.rank == 0}
    for column in sorted((c for c in COLUMNS if c.rank), key=lambda c: c.rank):
        if width - used - column.width - 2 * padding >= NAME_MIN:
            chosen.add(column.key)
            used += column.width + 2 * padding
    name_width = max(NAME_MIN, min(NAME_MAX, width - used))
    return [Column("name", NAME.label, name_width) if c is NAME else c for c in COLUMNS if c.key in chosen]


class JournalReader(Protocol):
    """What the screen reads from :class:`comfy_reality.journal.Journal`."""

    async def list_executions(
        self,
        status: Any = None,
        text: str | None = None,
        server: str | None = None,
        limit: int = 200,
        *,
        before: str | None = None,
        after: str | None = None,
        oldest: bool = False,
    ) -> list[JournalEntry]: ...

    async def count_executions(
        self, status: Any = None, text: str | None = None, server: str | None = None
    ) -> int: ...

    async def get(self, key: str) -> JournalEntry | None: ...


def short_server(url: str | None) -> str:
    if not url:
        return "?"
    return safe_str(redact_url(url), one_line=True).split("://", 1)[-1].rstrip("/")


class JournalScreen(Screen[None], GalleryActions):
    """Keyboard-first: type to filter, ↑/↓ to pick, details follow the cursor, esc steps back."""

    HELP = """\
## History

Every run the journal recorded, newest first; the details follow the cursor.

- **↑/↓** or **j/k** move, **g/G** first/last, **enter** details from the top (focus stays here)
- **t** retry a failed, cancelled, lost or interrupted run · **r** run it again with the same inputs
- **o** save its outputs · **E** open its whole error (then **y** copies it)
- **/** filter by name, id or error text · **F2** status · **F5** refresh · **esc** back
"""

    DEFAULT_CSS = """
    JournalScreen {
        layout: vertical;
        background: $background;
    }
    #history-bar {
        dock: top;
        height: 1;
        background: $panel;
    }
    #history-title {
        width: auto;
        padding: 0 1;
        text-style: bold;
    }
    #history-filter {
        width: 1fr;
    }
    #history-status {
        width: 20;
        margin-left: 1;
    }
    #history-body {
        layout: vertical;
        height: 1fr;
    }
    #history-table, #history-detail {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-title-style: bold;
        background: $surface;
        scrollbar-size-vertical: 1;
        height: 1fr;
    }
    #history-table:focus, #history-detail:focus {
        border: round $accent;
        border-title-color: $accent;
    }
    #history-table {
        /* Few rows leave the room to the details; many rows share it half and half. */
        height: auto;
        min-height: 5;
        max-height: 50%;
    }
    #history-detail {
        padding: 0 1;
    }
    JournalScreen.-split #history-body {
        layout: horizontal;
    }
    JournalScreen.-split #history-table {
        height: 1fr;
        max-height: 100%;
    }
    JournalScreen.-split #history-detail {
        width: 40%;
    }
    """
    HORIZONTAL_BREAKPOINTS = [(0, "-stacked"), (SPLIT_WIDTH, "-split")]
    BINDINGS = [
        Binding("escape", "close", "Back", id="history.close"),
        Binding("slash", "focus_filter", "Filter", id="history.filter"),
        Binding("f2", "cycle_status", "Status", id="history.status"),
        Binding("f5", "reload", "Refresh", id="history.reload"),
        Binding("e", "rerun", "Re-run…", id="history.rerun"),
        # Listed by ? (the footer keeps to the keys above at 80 columns).
        Binding("t", "act('retry')", "Retry", show=False, id="history.retry"),
        Binding("r", "act('rerun')", "Run again", show=False, id="history.run_again"),
        Binding("o", "act('save')", "Save outputs", show=False, id="history.save"),
        Binding("E", "act('error')", "Open error", show=False, id="history.error"),
        Binding("question_mark", "help", "Keys", show=False, id="history.help"),  # named in the title bar
        Binding("j", "cursor('down')", "Down", show=False, id="history.down"),
        Binding("k", "cursor('up')", "Up", show=False, id="history.up"),
        Binding("g", "cursor('top')", "First", show=False, id="history.first"),
        Binding("G", "cursor('bottom')", "Last", show=False, id="history.last"),
    ]

    def __init__(
        self,
        journal: JournalReader,
        *,
        tz: tzinfo | None = None,
        server: str | None = None,
        images: ImageSupport | None = None,
    ) -> None:
        super().__init__()
        self.journal = journal
        # Thumbnails of the selected execution's outputs (fetched through the app's runtime); None: off.
        self.images = images if images is not None and images.enabled else None
        self.tz = tz  # None: local time
        self.server = server
        self.entries: list[JournalEntry] = []  # the window the table holds, newest first
        self.at_head = True  # the window starts at the newest matching execution
        self.at_tail = True  # the window ends at the oldest matching execution
        self.total = 0  # executions matching the filters
        self._total_key: tuple[Any, ...] | None = None  # the filters ``total`` counted
        self.selected: JournalEntry | None = None
        self.columns: list[Column] = fit_columns(80)
        self.loaded = 0  # reloads finished: tests wait on it instead of guessing times
        self._newest_seen: str | None = None
        self._cells: dict[str, dict[str, Any]] = {}  # what each row shows, to update only what changed
        self._kept_cells: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}  # by entry id
        self._loading: tuple[str, str] | None = None  # the page being read: where, and next to which row
        self._jumped_to: str | None = None  # the oldest row, where End put the cursor
        # The newest and oldest pages last read, by filters: Home and End show them at once.
        self._ends: dict[str, tuple[tuple[Any, ...], list[JournalEntry]]] = {}

    def compose(self) -> ComposeResult:
        apply_breakpoints(self, self.app.size.width)  # the first frame split or stacked as it stays
        with Horizontal(id="history-bar"):
            yield Static("History · ? keys", id="history-title")
            yield FilterField(
                lambda: self.query_one(HistoryTable),
                hides=False,
                clears=False,
                placeholder="/ to filter: name, id or error text",
                id="history-filter",
                compact=True,
            )
            yield Select(
                [(label, value) for value, label in STATUS_CHOICES],
                prompt="Any status",
                id="history-status",
                compact=True,
            )
        with Container(id="history-body"):
            table = HistoryTable(id="history-table", cursor_type="row", zebra_stripes=True)
            table.border_title = "Executions"
            yield table
            with VerticalScroll(id="history-detail") as detail:
                detail.border_title = "Details"
                yield Static("", id="history-detail-body")
                if self.images is not None:
                    from ..widgets.gallery import Gallery

                    gallery = Gallery(self.images, id="history-gallery")
                    gallery.display = False
                    yield gallery
        # The app's own ctrl+p binding is listed with the others; the footer's extra one would repeat it.
        yield SteadyFooter(show_command_palette=False)

    def _compositor_refresh(self) -> None:
        # Each frame of this screen tells the quiet-moment garbage collector the app is busy.
        gc_tuning.frame_drawn()
        super()._compositor_refresh()

    def on_mount(self) -> None:
        self._set_columns(self.columns)
        self.query_one(HistoryTable).focus()
        self._newest_seen = self._newest_in_session()  # the session's newest run at the last tick
        self.set_interval(TICK_SECONDS, self._tick)
        self.reload()

    # ------------------------------------------------------------------ columns
    @on(HistoryTable.Resized)
    def _table_resized(self, event: HistoryTable.Resized) -> None:
        columns = fit_columns(event.width, self.query_one(HistoryTable).cell_padding)
        if columns != self.columns:
            self._set_columns(columns)

    def _set_columns(self, columns: list[Column]) -> None:
        table = self.query_one(HistoryTable)
        cursor = table.cursor_row
        self.columns = columns
        scroll_y = round(table.scroll_y)
        table.clear(columns=True)
        for column in columns:
            label = Text(column.label, justify="right" if column.key in RIGHT_ALIGNED else "left")
            table.add_column(label, key=column.key, width=column.width)
        table.replace_rows(self._rows(self.entries), cursor, scroll_y)

    def _row(self, cells: dict[str, Any]) -> list[Any]:
        return [cells[column.key] for column in self.columns]

    def _rows(self, entries: list[JournalEntry]) -> list[tuple[str, list[Any]]]:
        return [(entry.id, self._row(self._cells[entry.id])) for entry in entries]

    # ------------------------------------------------------------------ loading
    @property
    def status_filter(self) -> str | None:
        value = self.query_one("#history-status", Select).value
        return value if isinstance(value, str) else None

    @property
    def text_filter(self) -> str | None:
        return self.query_one("#history-filter", Input).value.strip() or None

    def _filter_key(self) -> tuple[Any, ...]:
        return (self.status_filter, self.text_filter, self.server)

    def _remembered(self, end: str) -> list[JournalEntry] | None:
        """The newest (``head``) or oldest (``tail``) page last read under the current filters."""
        kept = self._ends.get(end)
        return kept[1] if kept is not None and kept[0] == self._filter_key() else None

    @work(exclusive=True, group="history-load")
    async def reload(self, keep_extent: bool = False, after_frame: bool = False) -> None:
        """The newest page (or, refreshing, as many rows as the window already holds).

        No debounce: a query takes a few ms (schema v5's search copy), and the next keystroke
        cancels this worker, so a stale answer is never shown. ``after_frame``: read once the
        frame in progress is drawn (Home showed the remembered newest page; this checks it)."""
        self.workers.cancel_group(self, "history-page")
        if after_frame:
            await self.wait_for_refresh()
        limit = max(PAGE, len(self.entries)) if keep_extent else PAGE
        text = self.text_filter
        key = self._filter_key()
        try:
            entries = await self.journal.list_executions(
                status=self.status_filter, text=text, server=self.server, limit=limit
            )
        except JournalError as exc:
            self._show_message(str(exc))
            self.loaded += 1
            return
        self._ends["head"] = (key, entries[:PAGE])
        if after_frame and not self.at_head:
            self.loaded += 1
            return  # End moved the window away while this checked Home's page
        counted = len(entries) < limit  # else: counted after the frame that shows these rows
        if counted:
            self.total, self._total_key = len(entries), key
        self.at_head = True
        self.at_tail = counted
        # The last count stands until the new one while the filters are those it counted (a refresh).
        self._fill(entries, counted or key == self._total_key)
        self.loaded += 1
        if not counted:
            self.count_matches(key)
        if not self.at_tail and self._remembered("tail") is None:
            self.read_tail()

    @work(exclusive=True, group="history-count")
    async def count_matches(self, key: tuple[Any, ...]) -> None:
        """How many executions match, once the frame with the first rows is drawn: a count reads
        every matching row (20,000 with no filter), which a keystroke's answer need not wait for."""
        await self.wait_for_refresh()
        try:
            total = await self.journal.count_executions(status=key[0], text=key[1], server=key[2])
        except JournalError:
            return
        if key != self._filter_key():
            return
        self.total, self._total_key = total, key
        if self.at_head and total <= len(self.entries):
            self.at_tail = True
        self.query_one(HistoryTable).border_title = f"Executions: {total}"

    @work(exclusive=True, group="history-tail")
    async def read_tail(self) -> None:
        """The oldest page, read ahead once the filter has been still for a moment: End then shows
        it at once instead of waiting on SQLite (and checks it after its frame)."""
        key = self._filter_key()
        await asyncio.sleep(TAIL_AFTER)
        try:
            page = await self.journal.list_executions(
                status=key[0], text=key[1], server=key[2], limit=PAGE, oldest=True
            )
        except JournalError:
            return  # End reads it itself
        if key == self._filter_key():
            for entry in page:
                self._cells_of(entry)  # its cells made now, not on End's frame
            self._ends["tail"] = (key, page)

    @work(exclusive=True, group="history-page")
    async def load_page(self, where: str) -> None:
        """The page ``older`` or ``newer`` than the window, or the ``oldest`` page (the window then
        jumps there). A page read ahead (older, newer) or a check of the remembered oldest page
        (``recheck``) is read after the frame in progress, which it would otherwise hold back."""
        table = self.query_one(HistoryTable)
        query: dict[str, Any] = {
            "status": self.status_filter,
            "text": self.text_filter,
            "server": self.server,
        }
        anchor = self._anchor(where)
        self._loading = (where, anchor)
        try:
            if where != "oldest":
                await self.wait_for_refresh()
            if where == "older" and self.entries:
                page = await self.journal.list_executions(**query, limit=PAGE, before=anchor)
            elif where == "newer" and self.entries:
                page = await self.journal.list_executions(**query, limit=PAGE, after=anchor)
            else:
                page = await self.journal.list_executions(**query, limit=PAGE, oldest=True)
        except JournalError as exc:
            self._show_message(str(exc))
            return
        finally:
            self._loading = None
        if where == "recheck":
            self._recheck_tail(page)
            return
        if where == "oldest":
            self._ends["tail"] = (self._filter_key(), page)
        known = {e.id for e in self.entries} if where != "oldest" else set()
        page = [e for e in page if e.id not in known]
        cells = {e.id: self._cells_of(e) for e in page}
        if where == "older":
            self.at_tail = len(page) < PAGE
            self.entries = [*self.entries, *page]
            self._cells.update(cells)
            table.append_rows(self._rows(page))
        elif where == "newer":
            self.at_head = len(page) < PAGE
            # The rows above grow by a page: the view and the cursor move down with their rows.
            cursor = table.cursor_row + len(page)
            scroll_y = round(table.scroll_y) + len(page)
            entries, kept = [*page, *self.entries], max(WINDOW_ROWS, cursor + 2 * PAGE)
            if len(entries) > kept:
                for gone in entries[kept:]:
                    self._cells.pop(gone.id, None)
                entries = entries[:kept]
                self.at_tail = False
            self.entries = entries
            self._cells.update(cells)
            table.replace_rows(self._rows(self.entries), cursor, scroll_y)
        else:
            self._show_oldest(page)
        self.loaded += 1

    def _show_oldest(self, page: list[JournalEntry]) -> None:
        """The window jumps to the oldest page, the cursor on its last row."""
        self.at_tail = True
        self.at_head = len(page) < PAGE
        self.entries = page
        self._cells = {e.id: self._cells_of(e) for e in page}
        self._jumped_to = page[-1].id if page else None
        self.query_one(HistoryTable).replace_rows(self._rows(page), len(page) - 1, len(page))

    def _recheck_tail(self, page: list[JournalEntry]) -> None:
        """The oldest page read again after End showed the remembered one: changed cells redrawn,
        the window replaced only if its rows changed (the cursor then on the oldest again)."""
        self._ends["tail"] = (self._filter_key(), page)
        if not self.at_tail or self.at_head:
            return  # the window moved on since End
        if [e.id for e in page] == [e.id for e in self.entries]:
            self.entries = page
            self._update_cells({e.id: self._cells_of(e) for e in page})
        else:
            self._show_oldest(page)
        self.loaded += 1

    def _anchor(self, where: str) -> str:
        """The row a page ``older`` or ``newer`` than the window is read next to."""
        if not self.entries:
            return ""
        return self.entries[-1].id if where == "older" else self.entries[0].id

    def _fill(self, entries: list[JournalEntry], counted: bool = True) -> None:
        table = self.query_one(HistoryTable)
        same_rows = [e.id for e in entries] == [e.id for e in self.entries]
        previous = {e.id: e for e in self.entries}
        self.entries = entries
        cells = {entry.id: self._cells_of(entry) for entry in entries}
        if same_rows:
            # A refresh of the same list: redraw only the cells that changed, the cursor stays put.
            self._update_cells(cells)
        else:
            keep = self.selected.id if self.selected else None
            self._cells = cells
            index = next((i for i, e in enumerate(entries) if e.id == keep), 0)
            table.replace_rows(self._rows(entries), index)
        table.border_title = f"Executions: {self.total if counted else f'{len(entries)}+'}"
        if not entries:
            self.selected = None
            filtered = bool(self.query_one("#history-filter", Input).value.strip() or self.status_filter)
            message = (
                "Nothing matches this filter."
                if filtered
                else "No executions recorded yet: runs appear here as soon as they are queued."
            )
            # After the frame that shows the empty table: the details' new height lays the screen out.
            self.call_after_refresh(lambda: None if self.entries else self._show_message(message))
            return
        if same_rows:
            selected = self.selected
            if selected is not None and selected.id in previous:
                fresh = next(e for e in entries if e.id == selected.id)
                if fresh.updated_at != previous[selected.id].updated_at:
                    self.show_details(selected.id)
            return
        self.show_details(entries[index].id)

    def _update_cells(self, cells: dict[str, dict[str, Any]]) -> None:
        table = self.query_one(HistoryTable)
        shown = {column.key for column in self.columns}
        for key, row in cells.items():
            old = self._cells.get(key, {})
            for column, value in row.items():
                if column in shown and old.get(column) != value:
                    table.update_cell(key, column, value)
        self._cells = cells

    def _newest_in_session(self) -> str | None:
        """The id of the run this app queued last (the session's entries are in the order queued)."""
        session = getattr(self.app, "session", None)
        return next(reversed(session.entries), None) if session is not None else None

    def _tick(self) -> None:
        """Relative times age; queued and running executions may have moved on in the journal,
        and a run queued meanwhile (e: re-run through the form) is new to the list."""
        newest = self._newest_in_session()
        if any(entry.id == newest for entry in self.entries):
            self._newest_seen = newest  # listed (until then each tick reads again: its row may be late)
        queued_meanwhile = newest != self._newest_seen
        if self.at_head and (
            queued_meanwhile or any(not e.is_final and not e.lost and not e.interrupted for e in self.entries)
        ):
            self.reload(keep_extent=True)
            return
        self._update_cells({entry.id: self._cells_of(entry) for entry in self.entries})
        if self.selected is not None:
            self._set_details(describe(self.selected, self.tz))

    def _cells_of(self, entry: JournalEntry) -> dict[str, Any]:
        """What the entry's row shows; the same cells again while what they show is unchanged
        (the table then finds the row already drawn and the refresh has no cell to update)."""
        when = ago(entry.started_at or entry.created_at, fmt.now(), self.tz)
        duration = duration_text(entry)
        shows = (
            entry.display_status,
            entry.name,
            entry.workflow_id,
            entry.prompt_id,
            entry.server_url,
            when,
            duration,
            entry.node_count,
            len(entry.output_files),
        )
        kept = self._kept_cells.get(entry.id)
        if kept is not None and kept[0] == shows:
            return kept[1]
        if len(self._kept_cells) >= KEPT_CELLS:
            self._kept_cells.clear()
        cells = self._new_cells(entry, when, duration)
        self._kept_cells[entry.id] = (shows, cells)
        return cells

    def _new_cells(self, entry: JournalEntry, when: str, duration: str) -> dict[str, Any]:
        return {
            "status": status_text(entry.display_status),
            "name": Text(
                safe_str(entry.name or entry.workflow_id or fmt.short_id(entry.id), one_line=True),
                overflow="ellipsis",
                no_wrap=True,
            ),
            "prompt": Text(fmt.short_id(entry.prompt_id) or "–", style="dim"),
            "server": Text(short_server(entry.server_url), overflow="ellipsis", no_wrap=True, style="dim"),
            "when": Text(when, end=""),
            "duration": Text(duration, justify="right"),
            "nodes": Text(str(entry.node_count), justify="right"),
            "outputs": Text(
                str(len(entry.output_files)), justify="right", style="green" if entry.output_files else "dim"
            ),
        }

    # ------------------------------------------------------------------ details
    @on(DataTable.RowHighlighted, "#history-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Where the cursor is now: a rebuilt window posts highlights of rows it has since moved past.
        # The next page is read while the cursor is still a screen away from the window's edge, so
        # a page key never stops at the edge waiting for it; one read per edge at a time. A page
        # above is read two screens ahead: it renumbers every row, and the rows it brings are drawn
        # ahead while idle before a page key reaches them.
        table = self.query_one(HistoryTable)
        row, screen = table.cursor_row, table.scrollable_content_region.height
        where = (
            "older"
            if not self.at_tail and row >= len(self.entries) - MARGIN - screen
            else "newer"
            if not self.at_head and row < MARGIN + 2 * screen
            else None
        )
        if where == "newer" and row < len(self.entries) and self.entries[row].id == self._jumped_to:
            where = None  # on End's row: read once the cursor moves up, not with End's own frame
        if where is not None and self.entries and self._loading != (where, self._anchor(where)):
            self.load_page(where)
        if event.row_key.value is not None and (
            self.selected is None or self.selected.id != event.row_key.value
        ):
            self.show_details(event.row_key.value)

    @work(exclusive=True, group="history-detail")
    async def show_details(self, key: str) -> None:
        # After the frame that shows the table's answer: a key's effect is not held back by the
        # details (a journal read and a layout), and while ↓ is held only the last row's are read.
        await self.wait_for_refresh()
        try:
            entry = await self.journal.get(key)
        except JournalError as exc:
            self._show_message(str(exc))
            return
        if entry is None:
            self._show_message("This execution is no longer in the journal.")
            return
        self.selected = entry
        self._set_details(describe(entry, self.tz))
        if self.images is not None:
            from ..widgets.gallery import Gallery

            self.query_one("#history-gallery", Gallery).show_outputs(entry.prompt_id, entry.output_files)

    def _show_message(self, message: str) -> None:
        self._set_details(safe_text(message, "italic"))

    def _set_details(self, text: Text) -> None:
        """The details pane's text; the screen is laid out again only when its height changed (a
        cursor move between runs of the same shape otherwise laid the whole screen out)."""
        body = self.query_one("#history-detail-body", Static)
        height, width = body.size.height, body.size.width
        body.update(text, layout=False)
        if not width or body.get_content_height(body.size, self.app.size, width) != height:
            body.refresh(layout=True)

    # ------------------------------------------------------------------ input
    @on(Input.Changed, "#history-filter")
    def _filter_changed(self) -> None:
        self.reload()

    @on(Select.Changed, "#history-status")
    def _status_changed(self) -> None:
        self.reload()

    def action_close(self) -> None:
        """esc steps back: from the filter or the details to the table, from the table out of History."""
        table = self.query_one(HistoryTable)
        if self.focused is not None and self.focused is not table:
            table.focus()
            return
        self.dismiss(None)

    @moves_focus
    def action_focus_filter(self) -> None:
        focus_at_once(self.query_one("#history-filter", Input))

    def action_cycle_status(self) -> None:
        """Next status filter (then back to any): quicker than opening the list."""
        select = self.query_one("#history-status", Select)
        values = [value for value, _ in STATUS_CHOICES]
        current = select.value if isinstance(select.value, str) else None
        if current is None:
            select.value = values[0]
        elif current == values[-1]:
            select.clear()
        else:
            select.value = values[values.index(current) + 1]

    def action_reload(self) -> None:
        self.reload()

    @on(DataTable.RowSelected, "#history-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        """enter on a row: its details, from the top; the cursor stays in the table (tab moves there)."""
        key = event.row_key.value
        if key is not None and (self.selected is None or self.selected.id != key):
            self.show_details(key)
        self.query_one("#history-detail", VerticalScroll).scroll_home(animate=False)

    @moves_focus  # o and E open a screen: the keys after them in a burst wait for it
    def action_act(self, what: str) -> None:
        entry = self.selected
        if entry is None:
            self.notify("No run selected.", severity="warning")
            return
        from . import history_actions

        if what in ("retry", "rerun"):
            # The new run is listed at once: the list follows only the unfinished runs it shows.
            history_actions.run_again(self.app, entry, retry=what == "retry", queued=self._new_run_queued)
        elif what == "save":
            history_actions.save_outputs(self.app, entry)
        else:
            history_actions.open_error(self.app, entry)

    def _new_run_queued(self) -> None:
        if self.is_attached:
            self.reload(keep_extent=True)

    @classmethod
    def key_rows(cls, app: App[object]) -> list[tuple[str, str, str]]:
        """This screen's keys, for its help and the main screen's History section."""
        return [
            (app.get_key_display(b), b.description, b.id or b.action)
            for b in cls.BINDINGS
            if isinstance(b, Binding) and b.description
        ]

    def action_help(self) -> None:
        from .help import HelpScreen

        rows = self.key_rows(self.app)
        self.app.push_screen(HelpScreen(self.HELP, rows, [], sections=[("History", rows)]))

    def action_cursor(self, where: str) -> None:
        table = self.query_one(HistoryTable)
        if where == "top" and not self.at_head:
            head = self._remembered("head")
            if head:
                # The newest page as last read, at once; read again after this frame (runs that
                # arrived since, changed cells), the window's extent kept so the cursor stays.
                self.at_head = True
                self.at_tail = len(head) < PAGE or self.total <= len(head)
                self.selected = None  # the cursor on the newest row
                self._fill(head)
                self.reload(keep_extent=True, after_frame=True)
            else:
                self.reload()
        elif where == "bottom" and not self.at_tail:
            tail = self._remembered("tail")
            if tail:
                self.workers.cancel_group(self, "history-page")
                self._show_oldest(tail)
                self.load_page("recheck")
            else:
                self.load_page("oldest")
        elif where in ("top", "bottom"):
            if self.entries:
                table.move_cursor(row=0 if where == "top" else len(self.entries) - 1, animate=False)
        else:
            (table.action_cursor_down if where == "down" else table.action_cursor_up)()

    @moves_focus
    def action_rerun(self) -> None:
        """The selected execution's prompt (values as sent) into the input form, to edit and queue.

        The app opens the form: keys typed after ``e`` in a burst wait for it."""
        entry = self.selected
        if entry is None or not entry.prompt:
            self.notify("Pick an execution whose prompt the journal kept.", severity="warning")
            return
        post_in_turn(self, RerunRequested(entry.prompt, entry.name or entry.workflow_id or "journal entry"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Letters belong to the filter box while typing there.
        return not (
            action in ("focus_filter", "rerun", "act", "cursor", "help") and isinstance(self.focused, Input)
        )
