"""Past executions from the journal: a filterable table, the highlighted one's details below.

Reads go through the journal's writer thread (``list_executions`` / ``get``), so the event
loop never blocks on SQLite. Each reload is an exclusive worker: typing in the filter
cancels the previous query instead of queueing them up.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Protocol

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Select, Static

from ...journal import JournalEntry, JournalError
from .. import format as fmt

LIMIT = 500
STATUS_CHOICES: list[tuple[str, str]] = [
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("running", "Running"),
    ("pending", "Queued"),
    ("lost", "Lost"),
]
HISTORY_ICON = {**fmt.STATUS_ICON, "lost": "?"}
HISTORY_STYLE = {**fmt.RICH_STATUS_STYLE, "lost": "bold magenta"}
# Fixed widths: the table never re-measures while rows stream in, so rows already drawn stay aligned.
COLUMNS = [("status", "", 1), ("name", "Workflow", 24), ("server", "Server", 21), ("started", "Started", 16),
           ("duration", "Duration", 8), ("nodes", "Nodes", 5), ("outputs", "Outputs", 7)]


class JournalReader(Protocol):
    """What the screen reads from :class:`comfy_reality.journal.Journal`."""

    async def list_executions(
        self, status: Any = None, text: str | None = None, server: str | None = None, limit: int = 200
    ) -> list[JournalEntry]: ...

    async def get(self, key: str) -> JournalEntry | None: ...


def status_text(state: str) -> Text:
    return Text(HISTORY_ICON.get(state, "?"), style=HISTORY_STYLE.get(state, ""))


def short_server(url: str | None) -> str:
    if not url:
        return "?"
    return url.split("://", 1)[-1].rstrip("/")


class HistoryScreen(Screen[None]):
    """Keyboard-first: type to filter, ↑/↓ to pick, details follow the cursor, esc goes back."""

    CSS_PATH = "history.tcss"
    BINDINGS = [
        Binding("escape", "close", "Back", id="history.close"),
        Binding("slash", "focus_filter", "Filter", id="history.filter"),
        Binding("f2", "cycle_status", "Status", id="history.status"),
        Binding("f5", "reload", "Refresh", id="history.reload"),
    ]

    def __init__(self, journal: JournalReader, *, tz: tzinfo | None = None, server: str | None = None) -> None:
        super().__init__()
        self.journal = journal
        self.tz = tz  # None: local time
        self.server = server
        self.entries: list[JournalEntry] = []
        self.selected: JournalEntry | None = None
        self.loaded = 0  # reloads finished: tests wait on it instead of guessing times

    def compose(self) -> ComposeResult:
        yield Static("History", id="history-title")
        with Horizontal(id="history-filters"):
            yield Input(placeholder="Filter: name, id or error text", id="history-filter")
            yield Select([(label, value) for value, label in STATUS_CHOICES], prompt="Any status", id="history-status")
        table: DataTable[Any] = DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        table.border_title = "Executions"
        yield table
        with VerticalScroll(id="history-detail") as detail:
            detail.border_title = "Details"
            yield Static("", id="history-detail-body")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history-table", DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        table.focus()
        self.reload()

    # ------------------------------------------------------------------ loading
    @property
    def status_filter(self) -> str | None:
        value = self.query_one("#history-status", Select).value
        return value if isinstance(value, str) else None

    @work(exclusive=True, group="history-load")
    async def reload(self) -> None:
        text = self.query_one("#history-filter", Input).value.strip() or None
        try:
            entries = await self.journal.list_executions(
                status=self.status_filter, text=text, server=self.server, limit=LIMIT
            )
        except JournalError as exc:
            self._show_message(str(exc))
            self.loaded += 1
            return
        self._fill(entries)
        self.loaded += 1

    def _fill(self, entries: list[JournalEntry]) -> None:
        table = self.query_one("#history-table", DataTable)
        keep = self.selected.id if self.selected else None
        table.clear()
        self.entries = entries
        for entry in entries:
            table.add_row(*self._row(entry), key=entry.id)
        count = len(entries)
        more = f" (newest {LIMIT})" if count >= LIMIT else ""
        table.border_title = f"Executions: {count}{more}"
        if not entries:
            self.selected = None
            filtered = bool(self.query_one("#history-filter", Input).value.strip() or self.status_filter)
            self._show_message(
                "Nothing matches this filter." if filtered
                else "No executions recorded yet: runs appear here as soon as they are queued."
            )
            return
        index = next((i for i, e in enumerate(entries) if e.id == keep), 0)
        table.move_cursor(row=index)
        self.show_details(entries[index].id)

    def _row(self, entry: JournalEntry) -> list[Any]:
        state = entry.display_status
        if entry.lost:
            duration = "–"  # its end is when we noticed, not when it stopped
        elif entry.duration is not None:
            duration = fmt.duration(entry.duration)
        elif not entry.is_final and not entry.lost and entry.started_at is not None:
            duration = fmt.duration(max(0.0, (fmt.now() - entry.started_at).total_seconds())) + "…"
        else:
            duration = "–"
        return [
            status_text(state),
            Text(entry.name or entry.workflow_id or fmt.short_id(entry.id), overflow="ellipsis", no_wrap=True),
            Text(short_server(entry.server_url), overflow="ellipsis", no_wrap=True),
            self._when(entry.started_at or entry.created_at),
            duration,
            str(entry.node_count),
            str(len(entry.output_files)),
        ]

    def _when(self, moment: datetime | None) -> str:
        if moment is None:
            return "–"
        local = moment.astimezone(self.tz)
        today = fmt.now().astimezone(self.tz).date()
        return local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")

    # ------------------------------------------------------------------ details
    @on(DataTable.RowHighlighted, "#history-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and (self.selected is None or self.selected.id != event.row_key.value):
            self.show_details(event.row_key.value)

    @work(exclusive=True, group="history-detail")
    async def show_details(self, key: str) -> None:
        try:
            entry = await self.journal.get(key)
        except JournalError as exc:
            self._show_message(str(exc))
            return
        if entry is None:
            self._show_message("This execution is no longer in the journal.")
            return
        self.selected = entry
        self.query_one("#history-detail-body", Static).update(self.describe(entry))

    def describe(self, entry: JournalEntry) -> Text:
        state = entry.display_status
        out = Text()
        out.append_text(status_text(state))
        out.append(f" {entry.name or entry.workflow_id or 'untitled'}", style="bold")
        out.append(f"  {state}\n", style=HISTORY_STYLE.get(state, ""))
        facts = [
            ("execution", entry.id),
            ("prompt", entry.prompt_id or "never confirmed by the server"),
            ("server", entry.server_url or "?"),
            ("queued", self._when(entry.created_at)),
            ("started", self._when(entry.started_at)),
        ]
        if not entry.lost:
            facts.append(("finished", self._when(entry.completed_at)))
        if entry.duration is not None and not entry.lost:
            facts.append(("duration", fmt.duration(entry.duration)))
        if entry.retry_of:
            facts.append(("retry of", entry.retry_of))
        for label, value in facts:
            out.append(f"{label:>10} ", style="dim")
            out.append(f"{value}\n")
        if entry.lost:
            detail = entry.status_detail or "lost: the server no longer knows this prompt"
            out.append("\n")
            out.append(detail if detail.startswith("lost") else f"lost: {detail}", style="bold magenta")
            out.append("\n")
        elif entry.status_detail and entry.error is None:
            out.append(f"\n{entry.status_detail}\n", style="italic")
        if entry.error is not None:
            error = entry.error
            out.append("\nError: ", style="bold red")
            out.append(f"{error.exception_type}: {error.exception_message}\n", style="red")
            if error.node_id is not None:
                failing = next((n for n in entry.nodes if n.node_id == error.node_id), None)
                name = failing.name if failing and failing.name else f"{error.node_type or '?'} #{error.node_id}"
                out.append(f"  failing node: {name}\n", style="red")
            for line in error.traceback[-4:]:
                out.append(f"  {line.rstrip()}\n", style="dim")
        if entry.node_errors:
            out.append("\nRejected inputs:\n", style="bold red")
            for node_id, info in entry.node_errors.items():
                errors = info.get("errors", []) if isinstance(info, dict) else []
                for err in errors or [{}]:
                    message = err.get("message", "invalid") if isinstance(err, dict) else str(err)
                    details = err.get("details", "") if isinstance(err, dict) else ""
                    out.append(f"  #{node_id}: {message}{(': ' + details) if details else ''}\n", style="red")
        if entry.nodes:
            out.append(f"\nNodes ({len(entry.nodes)}):\n", style="bold")
            for node in entry.nodes:
                node_state = "cached" if node.cached and node.status.value == "completed" else node.status.value
                out.append("  ")
                out.append_text(status_text(node_state))
                out.append(f" {node.name or f'{node.class_type} #{node.node_id}'}")
                extra = node.error or node.status_detail
                if node_state == "cached":
                    extra = "cached"
                elif node.max and node.value is not None and node.status.value != "completed":
                    extra = f"{fmt.number(node.value)}/{fmt.number(node.max)}" + (f"  {extra}" if extra else "")
                if extra:
                    out.append(f"  {extra}", style="dim")
                out.append("\n")
        if entry.output_files:
            out.append(f"\nOutputs ({len(entry.output_files)}):\n", style="bold green")
            for file in entry.output_files:
                where = f"{file.subfolder}/{file.filename}" if file.subfolder else file.filename
                out.append(f"  {where}", style="green")
                out.append(f"  ({file.type}, node #{file.node_id})\n", style="dim")
        elif entry.is_final and not entry.lost:
            out.append("\nNo output files.\n", style="dim")
        return out

    def _show_message(self, message: str) -> None:
        self.query_one("#history-detail-body", Static).update(Text(message, style="italic"))

    # ------------------------------------------------------------------ input
    @on(Input.Changed, "#history-filter")
    def _filter_changed(self) -> None:
        self.reload()

    @on(Input.Submitted, "#history-filter")
    def _filter_submitted(self) -> None:
        self.query_one("#history-table", DataTable).focus()

    @on(Select.Changed, "#history-status")
    def _status_changed(self) -> None:
        self.reload()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_focus_filter(self) -> None:
        self.query_one("#history-filter", Input).focus()

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
    def _selected(self) -> None:
        """enter on a row: move into its details to scroll them."""
        self.query_one("#history-detail", VerticalScroll).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "/" belongs to the filter box while typing there.
        if action == "focus_filter" and isinstance(self.focused, Input):
            return False
        return True
