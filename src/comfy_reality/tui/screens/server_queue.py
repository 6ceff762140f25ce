"""The Queue screen: every client's running and pending prompts, live, and steering them.

The list follows the server's ``status`` broadcasts (each one triggers a fresh GET /queue in
the runtime). Moves keep the prompt id (delete + re-queue, see
:mod:`comfy_reality.runtime.server_queue`); clearing asks first. A prompt queued by another
client sends its node progress only to that client's socket: this screen shows its place,
start and end, and says so instead of drawing a bar that never moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, OptionList, Static

from ...errors import ComfyError
from ...runtime.server_queue import DeleteReport, MoveReport, MoveTo, Owner, QueueEntry, QueueSnapshot
from ...url_secrets import redact_url
from .. import format as fmt
from ..widgets.steady_footer import SteadyFooter

FOREIGN_NOTE = "Other clients' prompts: place, start and end only. Moves keep the prompt id."
SEEN_NOTE = "Age ≥…: first seen here that long ago; the server gave no queue time."
EMPTY_QUEUE = (
    "The server's queue is empty: nothing is running or waiting.\n\n"
    "Prompts that any client queues show up here by themselves. "
    "esc goes back to the main screen, where r runs the highlighted workflow."
)
OWNER_LABEL = {
    Owner.THIS_APP: "this app",
    Owner.OTHER_INSTANCE: "this app (other)",
    Owner.OTHER_CLIENT: "other",
    Owner.NO_CLIENT: "no client id",
}
OWNER_STYLE = {
    Owner.THIS_APP: "green",
    Owner.OTHER_INSTANCE: "cyan",
    Owner.OTHER_CLIENT: "yellow",
    Owner.NO_CLIENT: "dim",
}


def data_text(value: object, limit: int = 60) -> str:
    """Server data for a cell: no control characters reach the terminal, long text is cut."""
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cursor_key(table: DataTable[Any]) -> str | None:
    """The row key under a table's cursor (None for an empty table)."""
    if table.row_count == 0:
        return None
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:
        return None
    return str(key.value) if key.value is not None else None


class QueueSource(Protocol):
    """What the screen uses of the runtime (:class:`comfy_reality.runtime.ComfyUIAsyncRuntime`)."""

    def follow_queue(self, fallback_interval: float = 10.0) -> AsyncIterator[QueueSnapshot]: ...

    async def delete_queued(self, prompt_ids: Iterable[str]) -> DeleteReport: ...

    async def clear_queue(self, *, only_app: bool = False) -> DeleteReport: ...

    async def move_queued(self, prompt_id: str, to: MoveTo, anchor: str | None = None) -> MoveReport: ...


@runtime_checkable
class PoolQueueSource(Protocol):
    """A pool's runtime also moves a pending prompt to another of its servers."""

    def queue_servers(self) -> list[str]: ...

    async def move_to_server(self, prompt_id: str, server_url: str) -> MoveReport: ...


def server_label(url: str) -> str:
    """``http://gpu1.lab:8188/x`` -> ``gpu1.lab:8188``: host and port only, never credentials."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return data_text(f"{host}:{port}" if port else host, 24)


class ServerChoiceScreen(ModalScreen[str | None]):
    """Which server of the pool a pending prompt moves to (Enter picks, Esc cancels)."""

    DEFAULT_CSS = """
    ServerChoiceScreen { align: center middle; }
    #server-choice { width: 64; height: auto; max-height: 80%; border: thick $accent; background: $surface; padding: 1 2; }
    #server-choice > OptionList { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="server_choice.cancel")]

    def __init__(self, prompt_id: str, servers: list[str]) -> None:
        super().__init__()
        self.prompt_id = prompt_id
        self.servers = servers

    def compose(self) -> ComposeResult:
        with Vertical(id="server-choice"):
            yield Static(
                Text(
                    f"Move {fmt.short_id(self.prompt_id)} to which server? It is deleted here and queued "
                    "there with the same prompt and client id, under a NEW prompt id (ids do not cross "
                    "servers)."
                )
            )
            yield OptionList(*[server_label(url) for url in self.servers])

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.servers[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question before something that cannot be undone (y / n, esc = no)."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; background: $background 60%; }
    #confirm-dialog { width: 72; max-width: 95%; height: auto; border: thick $warning; background: $surface; padding: 0 0 1 0; }
    #confirm-title { text-style: bold; background: $accent 30%; width: 100%; padding: 0 1; }
    #confirm-message { padding: 1 2 0 2; }
    #confirm-buttons { height: auto; align: center middle; padding-top: 1; }
    #confirm-buttons Button { margin: 0 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(Text(self.title_text), id="confirm-title")
            yield Static(Text(self.message), id="confirm-message")
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (y)", variant="error", id="confirm-yes")
                yield Button("No (n)", variant="primary", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class QueueScreen(Screen[None]):
    """↑/↓ pick a prompt, space marks several; the list follows the server by itself."""

    DEFAULT_CSS = """
    QueueScreen { layout: vertical; background: $background; }
    #queue-title { dock: top; height: 1; background: $panel; padding: 0 1; text-style: bold; }
    #queue-table { height: 1fr; border: round $accent; border-title-style: bold; background: $surface; }
    #queue-note { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    #queue-empty { height: 1fr; border: round $accent; padding: 1 2; display: none; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back", id="queue.close"),
        Binding("d,delete", "delete", "Delete", id="queue.delete"),
        Binding("space", "mark", "Mark", id="queue.mark"),
        Binding("f", "move('front')", "Front", id="queue.front"),
        Binding("u", "move('up')", "Up", id="queue.up"),
        Binding("n", "move('down')", "Down", id="queue.down"),
        Binding("b", "pick_anchor('before')", "Before…", show=False, id="queue.before"),
        Binding("a", "pick_anchor('after')", "After…", show=False, id="queue.after"),
        Binding("s", "move_to_server", "Server…", show=False, id="queue.move_to_server"),
        Binding("c", "clear(False)", "Clear…", id="queue.clear"),
        Binding("m", "clear(True)", "Clear ours…", id="queue.clear_ours"),
    ]

    def __init__(self, source: QueueSource, server_url: str) -> None:
        super().__init__()
        self.source = source
        self.server_url = redact_url(server_url)  # credentials in a URL are never shown
        self.snapshot: QueueSnapshot | None = None
        self.marked: set[str] = set()
        self.updates = 0  # snapshots shown so far: tests wait on it
        # b/a: (the prompt to move, before or after) until Enter picks the anchor row or Esc cancels.
        self.picking: tuple[str, MoveTo] | None = None
        # Several servers (a pool): a Server column and "move to another server".
        self.servers = source.queue_servers() if isinstance(source, PoolQueueSource) else []
        self.pooled = len(self.servers) > 1

    def compose(self) -> ComposeResult:
        yield Static(
            Text(f"Queue of {data_text(self.server_url)} · waiting for the server…"), id="queue-title"
        )
        table: DataTable[Any] = DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        if self.pooled:
            table.add_columns("#", "State", "Server", "Owner", "Workflow", "Nodes", "Age", "Prompt")
        else:
            table.add_columns("#", "State", "Owner", "Workflow", "Nodes", "Age", "Prompt")
        table.border_title = "Running and pending prompts of every client"
        yield table
        empty = Static(Text(EMPTY_QUEUE), id="queue-empty")
        empty.border_title = table.border_title
        yield empty
        yield Static(Text(FOREIGN_NOTE), id="queue-note")
        yield SteadyFooter(show_command_palette=False)  # the app's own ^p Palette key is already listed

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.follow()
        self.set_interval(1.0, self._tick)

    @work(exclusive=True, group="queue-follow")
    async def follow(self) -> None:
        async for snapshot in self.source.follow_queue():
            self.show(snapshot)

    def _tick(self) -> None:
        if self.snapshot is not None and self.snapshot.entries:
            self.show(self.snapshot)  # ages move on between server messages

    # ------------------------------------------------------------------ drawing
    def show(self, snapshot: QueueSnapshot) -> None:
        if not self.query("#queue-table"):
            return  # the app is closing: a snapshot can arrive after the screen's widgets went
        if snapshot.error is not None and self.snapshot is not None:
            snapshot = self.snapshot.model_copy(update={"error": snapshot.error})
        self.snapshot = snapshot
        self.updates += 1
        table = self.query_one(DataTable)
        keep = self.highlighted_id()
        present = {e.prompt_id for e in snapshot.entries}
        self.marked &= present
        table.clear()
        now = fmt.now()
        for entry in snapshot.entries:
            table.add_row(*self._cells(entry, now), key=entry.prompt_id)
        if keep in present:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self._show_empty(not snapshot.entries and snapshot.error is None)
        title = Text(f"Queue of {data_text(self.server_url)} · ", style="bold")
        title.append(f"{len(snapshot.running)} running, {len(snapshot.pending)} pending")
        if snapshot.error:
            title.append(f" · cannot read the queue: {data_text(snapshot.error, 80)}", style="bold red")
        else:
            title.append(" · live", style="green")
        self.query_one("#queue-title", Static).update(title)
        self.query_one("#queue-note", Static).update(self._note(snapshot))

    def _show_empty(self, empty: bool) -> None:
        """An empty queue is a sentence saying so, not a blank table."""
        table = self.query_one(DataTable)
        if table.display == (not empty):
            return
        table.display = not empty
        self.query_one("#queue-empty", Static).display = empty
        if not empty:
            table.focus()

    def _cells(self, entry: QueueEntry, now: Any) -> list[Any]:
        mark = "▶ " if entry.prompt_id in self.marked else ""
        if entry.state == "running":
            state = Text("● running", style="bold yellow")
        else:
            state = Text("○ pending", style="dim")
        owner = OWNER_LABEL[entry.owner]
        if entry.owner is Owner.OTHER_CLIENT and entry.client_id:
            owner = f"other {data_text(entry.client_id, 10)}"
        server = [Text(server_label(entry.server_url), style="blue")] if self.pooled else []
        return [
            Text(f"{mark}{entry.position}" if entry.state == "pending" else f"{mark}▸"),
            state,
            *server,
            Text(owner, style=OWNER_STYLE[entry.owner]),
            Text(data_text(entry.workflow_name or "—", 28)),
            Text(str(entry.node_count), justify="right"),
            self._age_cell(entry, now),
            Text(fmt.short_id(entry.prompt_id)),
        ]

    @staticmethod
    def _age_cell(entry: QueueEntry, now: Any) -> Text:
        """How long ago it was queued; for a prompt whose queue time nobody told this app (another
        client's, on a server that does not say), how long ago this app first saw it, marked so."""
        age = fmt.duration(entry.age(now))
        if entry.queue_time_known:
            return Text(age, justify="right")
        return Text(f"≥{age}", style="dim", justify="right")

    def _note(self, snapshot: QueueSnapshot) -> Text:
        note = Text()
        running = snapshot.running[0] if snapshot.running else None
        if running is not None and running.owner is not Owner.THIS_APP:
            note.append("● Running: another client's prompt; ", style="bold yellow")
            note.append("its progress goes only to that client.\n")
        elif running is not None:
            note.append("● Running: this app's prompt; its progress is on the main screen.\n")
        note.append(FOREIGN_NOTE, style="dim")
        if any(not entry.queue_time_known for entry in snapshot.entries):
            note.append("\n" + SEEN_NOTE, style="dim")
        return note

    # ------------------------------------------------------------------ actions
    def highlighted_id(self) -> str | None:
        return cursor_key(self.query_one(DataTable))

    def _entry(self, prompt_id: str | None) -> QueueEntry | None:
        return self.snapshot.find(prompt_id) if self.snapshot is not None and prompt_id else None

    def _movable_entry(self) -> QueueEntry | None:
        """The highlighted prompt if it may move (pending); else None, with the reason shown."""
        entry = self._entry(self.highlighted_id())
        if entry is None:
            self.notify("No prompt highlighted.", severity="warning")
        elif entry.state == "running":
            self.notify("That prompt is already running; only pending prompts move.", severity="warning")
            return None
        return entry

    def action_close(self) -> None:
        if self.picking is not None:  # Esc first leaves the anchor pick, then the screen
            self.picking = None
            self.notify("Move cancelled.", timeout=2)
            return
        self.dismiss()

    def action_pick_anchor(self, to: MoveTo) -> None:
        """b/a: move the highlighted prompt before/after a row picked next (↑/↓ then Enter)."""
        entry = self._movable_entry()
        if entry is None:
            return
        self.picking = (entry.prompt_id, to)
        self.notify(
            f"Move {fmt.short_id(entry.prompt_id)} {to}: pick the row with ↑/↓ and press Enter (Esc cancels)",
            timeout=6,
        )

    def action_mark(self) -> None:
        prompt_id = self.highlighted_id()
        if prompt_id is None:
            return
        self.marked ^= {prompt_id}
        if self.snapshot is not None:
            self.show(self.snapshot)
        table = self.query_one(DataTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_delete(self) -> None:
        targets = sorted(self.marked) or [p for p in [self.highlighted_id()] if p]
        if not targets:
            self.notify("The queue is empty.", severity="warning")
            return
        self._delete(targets)

    @work(group="queue-action")
    async def _delete(self, targets: list[str]) -> None:
        try:
            report = await self.source.delete_queued(targets)
        except ComfyError as exc:
            self.notify(f"Delete failed: {exc}", severity="error", timeout=8)
            return
        self.marked -= set(report.deleted)
        parts = [f"Deleted {len(report.deleted)}"]
        if report.running:
            parts.append(f"{len(report.running)} running left alone (x on the main screen interrupts ours)")
        if report.not_found:
            parts.append(f"{len(report.not_found)} no longer queued")
        self.notify("; ".join(parts), severity="warning" if report.running else "information")

    def action_move(self, to: MoveTo) -> None:
        entry = self._movable_entry()
        if entry is None:
            return
        self._move(entry.prompt_id, to)

    @work(group="queue-action")
    async def _move(self, prompt_id: str, to: MoveTo, anchor: str | None = None) -> None:
        try:
            report = await self.source.move_queued(prompt_id, to, anchor)
        except ComfyError as exc:
            self.notify(f"Move failed: {exc}", severity="error", timeout=8)
            return
        short = fmt.short_id(prompt_id)
        if report.outcome == "moved":
            self.notify(f"Moved {short} to place {report.position} (same prompt id)", timeout=3)
        elif report.outcome == "unchanged":
            self.notify(f"{short} stays: {report.detail}", timeout=3)
        elif report.outcome == "started":
            self.notify(f"{short} started running during the move; left alone", severity="warning")
        else:
            self.notify(f"{short} not moved: {report.detail}", severity="error", timeout=10)

    def action_move_to_server(self) -> None:
        """s: delete here, queue on another server of the pool (a new prompt id there)."""
        if not self.pooled or not isinstance(self.source, PoolQueueSource):
            self.notify("One server: there is no other server to move to.", severity="warning")
            return
        entry = self._movable_entry()
        if entry is None:
            return
        others = [url for url in self.servers if url != entry.server_url]
        prompt_id = entry.prompt_id

        def picked(url: str | None) -> None:
            if url is not None:
                self._move_to_server(prompt_id, url)

        self.app.push_screen(ServerChoiceScreen(prompt_id, others), picked)

    @work(group="queue-action")
    async def _move_to_server(self, prompt_id: str, server_url: str) -> None:
        assert isinstance(self.source, PoolQueueSource)
        try:
            report = await self.source.move_to_server(prompt_id, server_url)
        except ComfyError as exc:
            self.notify(f"Move failed: {exc}", severity="error", timeout=8)
            return
        short = fmt.short_id(prompt_id)
        if report.outcome == "moved" and report.new_prompt_id:
            self.notify(
                f"Moved {short} to {server_label(server_url)}: NEW prompt id "
                f"{fmt.short_id(report.new_prompt_id)} (ids do not cross servers)",
                timeout=6,
            )
        elif report.outcome in ("started", "running"):
            self.notify(f"{short} started running before the move; left alone", severity="warning")
        else:
            self.notify(f"{short} not moved: {data_text(report.detail, 120)}", severity="error", timeout=10)

    def action_clear(self, only_app: bool) -> None:
        whose = "this app's pending prompts" if only_app else "the pending prompts of EVERY client"
        count = (
            sum(1 for e in self.snapshot.pending if not only_app or e.owner.is_app) if self.snapshot else 0
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._clear(only_app)

        self.app.push_screen(
            ConfirmScreen(
                "Clear the queue?",
                f"Remove {whose} ({count} now) from {self.server_url}? The running prompt keeps running. "
                "This cannot be undone.",
            ),
            answered,
        )

    @work(group="queue-action")
    async def _clear(self, only_app: bool) -> None:
        try:
            report = await self.source.clear_queue(only_app=only_app)
        except ComfyError as exc:
            self.notify(f"Clear failed: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Cleared {len(report.deleted)} pending prompt(s)", timeout=3)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.picking is None:
            return
        prompt_id, to = self.picking
        anchor = self.highlighted_id()
        anchor_entry = self._entry(anchor)
        if anchor is None or anchor_entry is None:
            return
        if anchor == prompt_id:
            self.notify("Pick another row as the anchor (Esc cancels).", severity="warning")
            return
        if anchor_entry.state == "running":
            self.notify("Pick a pending prompt: the running one stays first.", severity="warning")
            return
        self.picking = None
        self._move(prompt_id, to, anchor)
