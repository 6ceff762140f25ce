"""The Server History screen: the server's own /history (every client's finished prompts).

Beside the journal's History (what this app ran, kept on this machine), this is what the
server remembers for everyone until it restarts: status, duration, outputs, errors. A prompt
can be re-run through the input form (values as they ran) or saved as a local workflow file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ...errors import ComfyError
from ...runtime.server_history import HistoryPrompt, ServerHistoryItem
from ...url_secrets import redact_url
from .. import format as fmt
from ..burst_keys import moves_focus, turn_waits_for_job
from ..image_actions import GalleryActions
from ..messages import RerunRequested
from ..widgets.steady_footer import SteadyFooter
from .server_queue import OWNER_LABEL, OWNER_STYLE, ConfirmScreen, cursor_key, data_text

if TYPE_CHECKING:
    from ..images import ImageSupport

STATUS_LOOK = {
    "success": ("✓ success", "green"),
    "error": ("✗ error", "bold red"),
    "interrupted": ("⊘ interrupted", "magenta"),
    "unknown": ("? unknown", "dim"),
}
LIMIT = 200


class HistorySource(Protocol):
    """What the screen uses of the runtime."""

    async def server_history(self, max_items: int | None = 200) -> list[ServerHistoryItem]: ...

    async def delete_server_history(self, prompt_ids: Iterable[str]) -> None: ...

    async def clear_server_history(self) -> None: ...

    async def history_prompt(self, prompt_id: str) -> HistoryPrompt: ...


class ServerHistoryScreen(Screen[None], GalleryActions):
    """↑/↓ pick an entry; its outputs and error show below, images as thumbnails (pictures on)."""

    DEFAULT_CSS = """
    ServerHistoryScreen { layout: vertical; background: $background; }
    #server-history-title { dock: top; height: 1; background: $panel; padding: 0 1; text-style: bold; }
    #server-history-table { height: 1fr; border: round $accent; background: $surface; }
    #server-history-detail { height: 8; border: round $panel-lighten-2; padding: 0 1; background: $surface; }
    ServerHistoryScreen.-pictures #server-history-detail { height: 50%; min-height: 8; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back", id="server_history.close"),
        Binding("e", "rerun", "Re-run…", id="server_history.rerun"),
        Binding("s", "save", "Save", id="server_history.save"),
        Binding("d,delete", "delete", "Delete", id="server_history.delete"),
        Binding("c", "clear", "Clear…", id="server_history.clear"),
        Binding("f5", "reload", "Refresh", id="server_history.reload"),
    ]

    def __init__(self, source: HistorySource, server_url: str, *, images: ImageSupport | None = None) -> None:
        super().__init__()
        self.source = source
        # Thumbnails of the highlighted entry's image outputs (fetched through the app's runtime); None: off.
        self.images = images if images is not None and images.enabled else None
        self.server_url = redact_url(server_url)  # credentials in a URL are never shown
        self.items: list[ServerHistoryItem] = []
        self.loaded = 0  # loads finished: tests wait on it

    def compose(self) -> ComposeResult:
        yield Static(
            Text(f"Server history of {data_text(self.server_url)} · loading…"), id="server-history-title"
        )
        table: DataTable[Any] = DataTable(id="server-history-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Ended", "Status", "Took", "Owner", "Workflow", "Out", "Prompt")
        table.border_title = "Finished prompts of every client, newest first"
        yield table
        with VerticalScroll(id="server-history-detail"):
            yield Static("", id="server-history-body")
            if self.images is not None:
                from ..widgets.gallery import Gallery

                gallery = Gallery(self.images, id="server-history-gallery")
                gallery.display = False
                yield gallery
        yield SteadyFooter(show_command_palette=False)  # the app's own ^p Palette key is already listed

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.reload()

    @work(exclusive=True, group="server-history-load")
    async def reload(self) -> None:
        try:
            items = await self.source.server_history(LIMIT)
        except ComfyError as exc:
            self.query_one("#server-history-title", Static).update(
                Text(f"Server history of {data_text(self.server_url)} · cannot read it: {data_text(exc, 80)}")
            )
            self.loaded += 1
            return
        self.fill(items)
        self.loaded += 1

    def fill(self, items: list[ServerHistoryItem]) -> None:
        table = self.query_one(DataTable)
        keep = self.highlighted_id()
        self.items = items
        table.clear()
        for item in items:
            table.add_row(*self._cells(item), key=item.prompt_id)
        ids = [i.prompt_id for i in items]
        if keep in ids:
            table.move_cursor(row=ids.index(keep), animate=False)
        more = f" (newest {LIMIT})" if len(items) >= LIMIT else ""
        self.query_one("#server-history-title", Static).update(
            Text(f"Server history of {data_text(self.server_url)} · {len(items)} prompt(s){more}")
        )
        self._show_detail()

    def _cells(self, item: ServerHistoryItem) -> list[Any]:
        label, style = STATUS_LOOK[item.status]
        ended = item.ended_at.astimezone(self.app_tz()).strftime("%m-%d %H:%M") if item.ended_at else "—"
        duration = fmt.duration(item.duration) if item.duration is not None else "—"
        return [
            Text(ended),
            Text(label, style=style),
            Text(duration, justify="right"),
            Text(OWNER_LABEL[item.owner], style=OWNER_STYLE[item.owner]),
            Text(data_text(item.workflow_name or "—", 24)),
            Text(str(len(item.outputs)), justify="right"),
            Text(fmt.short_id(item.prompt_id)),
        ]

    def app_tz(self) -> Any:
        return getattr(self.app, "log_timezone", None)

    def describe(self, item: ServerHistoryItem) -> Text:
        out = Text()
        label, style = STATUS_LOOK[item.status]
        out.append(f"{label} ", style=style)
        out.append(f"prompt {data_text(item.prompt_id)}", style="bold")
        owner = OWNER_LABEL[item.owner] + (f" ({data_text(item.client_id, 40)})" if item.client_id else "")
        out.append(f" · {item.node_count} nodes · queued by {owner}\n")
        if item.error:
            out.append(data_text(item.error, 400) + "\n", style="red")
        if item.outputs:
            out.append("outputs: ", style="bold")
            out.append(", ".join(data_text(f"{f.filename} ({f.type})", 60) for f in item.outputs[:8]))
            if len(item.outputs) > 8:
                out.append(f" and {len(item.outputs) - 8} more")
        elif item.status == "success":
            out.append("no output files", style="dim")
        return out

    def _show_detail(self) -> None:
        item = self._item(self.highlighted_id())
        body = self.query_one("#server-history-body", Static)
        if item is None:
            body.update(Text("The server has no history yet." if not self.items else ""))
        else:
            body.update(self.describe(item))
        if self.images is not None:
            from ..widgets.gallery import Gallery, is_image

            files = item.outputs if item is not None else []
            self.query_one("#server-history-gallery", Gallery).show_outputs(
                item.prompt_id if item is not None else None, files
            )
            self.set_class(any(is_image(f) for f in files), "-pictures")

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    # ------------------------------------------------------------------ actions
    def highlighted_id(self) -> str | None:
        return cursor_key(self.query_one(DataTable))

    def _item(self, prompt_id: str | None) -> ServerHistoryItem | None:
        return next((i for i in self.items if i.prompt_id == prompt_id), None)

    def action_close(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self.reload()

    def action_delete(self) -> None:
        prompt_id = self.highlighted_id()
        if prompt_id is not None:
            self._delete(prompt_id)

    @work(group="server-history-action")
    async def _delete(self, prompt_id: str) -> None:
        try:
            await self.source.delete_server_history([prompt_id])
        except ComfyError as exc:
            self.notify(f"Delete failed: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Removed {fmt.short_id(prompt_id)} from the server's history", timeout=3)
        self.reload()

    def action_clear(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._clear()

        self.app.push_screen(
            ConfirmScreen(
                "Clear the server's history?",
                f"Remove every client's finished prompts from the history of {self.server_url}? "
                "Their output files stay on the server; this app's journal is not touched.",
            ),
            answered,
        )

    @work(group="server-history-action")
    async def _clear(self) -> None:
        try:
            await self.source.clear_server_history()
        except ComfyError as exc:
            self.notify(f"Clear failed: {exc}", severity="error", timeout=8)
            return
        self.notify("Cleared the server's history", timeout=3)
        self.reload()

    @moves_focus
    def action_rerun(self) -> None:
        """The prompt is read from the server first: keys typed after ``e`` in a burst wait for the form."""
        turn_waits_for_job(self._fetch_prompt("rerun"))

    @moves_focus
    def action_save(self) -> None:
        turn_waits_for_job(self._fetch_prompt("save"))

    @work(group="server-history-action")
    async def _fetch_prompt(self, purpose: str) -> None:
        prompt_id = self.highlighted_id()
        item = self._item(prompt_id)
        if prompt_id is None or item is None:
            self.notify("No entry highlighted.", severity="warning")
            return
        try:
            source = await self.source.history_prompt(prompt_id)
        except ComfyError as exc:
            self.notify(f"Cannot read its prompt: {exc}", severity="error", timeout=8)
            return
        name = data_text(item.workflow_name or f"server {fmt.short_id(prompt_id)}", 40)
        self.post_message(RerunRequested(source.prompt, name, save=purpose == "save"))
