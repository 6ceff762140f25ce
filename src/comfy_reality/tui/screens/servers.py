"""The Servers screen: each server of the pool in detail; add one for this session, disable, drain, pin.

The screen only shows rows and asks the backend's pool runtime to act; it makes no server call
of its own. Names, URLs and reasons come from the config, the user or the server: plain text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rich.control import strip_control_codes
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static

from ...errors import ComfyError
from ...url_secrets import redact_url
from ..burst_keys import focus_at_once, moves_focus

if TYPE_CHECKING:
    from .main import MainScreen

COLUMNS = ("Server", "State", "Queue", "Ours", "Weight", "Sent", "Nodes", "Memory", "URL")


def capability_line(name: str, found: dict[str, Any]) -> Text:
    """One server's version and what it offers, e.g. for the Servers screen's details."""

    def yes(key: str) -> str:
        return "yes" if found.get(key) else "no"

    line = Text(no_wrap=False)
    line.append(strip_control_codes(name), style="bold")
    line.append(f": ComfyUI {strip_control_codes(str(found.get('comfyui_version') or 'version unknown'))}")
    line.append(
        f" · jobs API {yes('jobs_api')} · targeted cancel {yes('targeted_cancel')}"
        f" · partial execution {yes('partial_execution')} · preview metadata {yes('preview_metadata')}"
    )
    return line


def _cell(value: Any) -> Text:
    return Text(strip_control_codes("" if value is None else str(value)), no_wrap=True)


class AddServerField(Input):
    """The URL field: enter hands the focus back to the table in its turn, so the keys after it
    in a burst act on the table instead of being typed into the hidden field."""

    @moves_focus
    async def action_submit(self) -> None:
        hide_add_field(self.screen)
        await super().action_submit()


def hide_add_field(screen: Screen[Any]) -> None:
    """The add field hidden, the focus on the table at once (the next key of a burst is the table's)."""
    screen.query_one("#servers-add", Input).display = False
    focus_at_once(screen.query_one("#servers-table", DataTable))


class ServersScreen(ModalScreen[None]):
    """Pool details and switches (see the module docstring)."""

    DEFAULT_CSS = """
    ServersScreen {
        align: center middle;
        background: $background 60%;
    }
    #servers-dialog {
        width: 110;
        max-width: 98%;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
    }
    #servers-title {
        text-style: bold;
        background: $accent 30%;
        width: 100%;
        padding: 0 1;
    }
    #servers-table {
        height: auto;
        max-height: 20;
        margin: 1 1 0 1;
    }
    #servers-details {
        padding: 1 1 0 1;
    }
    #servers-add {
        margin: 1 1 0 1;
    }
    #servers-help {
        padding: 1 1 0 1;
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="servers.close"),
        Binding("a", "add", "Add", id="servers.add"),
        Binding("d", "toggle_enabled", "Disable/enable", id="servers.disable"),
        Binding("n", "toggle_drain", "Drain", id="servers.drain"),
        Binding("p", "toggle_pin", "Pin runs", id="servers.pin"),
    ]

    def __init__(
        self,
        rows: list[dict[str, Any]],
        *,
        toggle_enabled: Callable[[str], object],
        toggle_drain: Callable[[str], object],
        toggle_pin: Callable[[str], object],
        add_server: Callable[[str], Awaitable[object]],
        read_capabilities: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__()
        self.rows = rows
        self._toggle_enabled = toggle_enabled
        self._toggle_drain = toggle_drain
        self._toggle_pin = toggle_pin
        self._add_server = add_server
        self._read_capabilities = read_capabilities
        self._asked: set[str] = set()
        self.capabilities: dict[str, dict[str, Any] | str] = {}
        """Each server's capability summary by name, or why it could not be read."""

    def compose(self) -> ComposeResult:
        with Vertical(id="servers-dialog"):
            yield Static("Servers of the pool", id="servers-title")
            table: DataTable[Text] = DataTable(id="servers-table", cursor_type="row", zebra_stripes=True)
            table.add_columns(*COLUMNS)
            yield table
            yield Static("Capabilities: asking each server…", id="servers-details")
            yield AddServerField(
                placeholder="http://host:8188 (enter adds it for this session, esc closes)", id="servers-add"
            )
            yield Static(
                "a add · d disable/enable · n drain (finish what it has, take nothing new) · "
                "p pin runs to it (again: best server) · esc close",
                id="servers-help",
            )

    def on_mount(self) -> None:
        self.query_one("#servers-add", Input).display = False
        self.update_rows(self.rows)
        self.query_one("#servers-table", DataTable).focus()

    def update_rows(self, rows: list[dict[str, Any]]) -> None:
        """New figures from the backend; the cursor stays on its row."""
        self.rows = rows
        table: DataTable[Text] = self.query_one("#servers-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            name = str(row.get("name"))
            table.add_row(
                _cell(f"{name} (pinned)" if row.get("pinned") else name),
                _cell(row.get("state")),
                _cell(row.get("queue_remaining", "?")),
                _cell(row.get("in_flight")),
                _cell(row.get("weight")),
                _cell(row.get("submitted")),
                _cell(row.get("node_types")),
                _cell(row.get("memory")),
                _cell(row.get("url")),
                key=name,
            )
        if rows:
            table.move_cursor(row=min(max(cursor, 0), len(rows) - 1))
        self._ask_new_servers()
        self._show_details()

    def _ask_new_servers(self) -> None:
        """Each server's capabilities, asked once, in the background: one added here is asked too."""
        if self._read_capabilities is None:
            return
        for row in self.rows:
            name = str(row.get("name"))
            if name not in self._asked:
                self._asked.add(name)
                self.run_worker(self._ask(name), group="capabilities", exit_on_error=False)

    async def _ask(self, name: str) -> None:
        assert self._read_capabilities is not None
        try:
            found: dict[str, Any] | str = await self._read_capabilities(name)
        except ComfyError as exc:
            found = f"unknown ({exc})"
        self.show_capabilities(name, found)

    def show_capabilities(self, name: str, found: dict[str, Any] | str) -> None:
        """A server's capabilities (or why they are unknown)."""
        self.capabilities[name] = found
        self._show_details()

    def _show_details(self) -> None:
        """Capabilities, and why a server is down or disabled: the table has no room for the reason."""
        lines = Text("Capabilities\n", style="bold")
        for row in self.rows:
            row_name = str(row.get("name"))
            value = self.capabilities.get(row_name)
            if isinstance(value, dict):
                lines.append_text(capability_line(row_name, value))
            else:
                lines.append(f"{strip_control_codes(row_name)}: {strip_control_codes(value or 'asking…')}")
            reason = row.get("reason")
            if reason and row.get("state") != "connected":
                lines.append(
                    f"\n  {row.get('state')}: {strip_control_codes(redact_url(str(reason)))}", style="yellow"
                )
            lines.append("\n")
        lines.rstrip()
        if self.is_mounted:
            self.query_one("#servers-details", Static).update(lines)

    def selected(self) -> str | None:
        table: DataTable[Text] = self.query_one("#servers-table", DataTable)
        if not self.rows or table.cursor_row < 0:
            return None
        return str(self.rows[min(table.cursor_row, len(self.rows) - 1)].get("name"))

    def _act(self, action: Callable[[str], object], what: str) -> None:
        name = self.selected()
        if name is None:
            return
        try:
            action(name)
        except Exception as exc:  # a name that went away meanwhile: say so, keep the screen
            self.notify(f"{what} {name}: {exc}", severity="error")

    def action_toggle_enabled(self) -> None:
        self._act(self._toggle_enabled, "disable/enable")

    def action_toggle_drain(self) -> None:
        self._act(self._toggle_drain, "drain")

    def action_toggle_pin(self) -> None:
        self._act(self._toggle_pin, "pin")

    @moves_focus
    def action_add(self) -> None:
        field = self.query_one("#servers-add", Input)
        field.display = True
        focus_at_once(field)  # a URL pasted right after "a" goes into the field

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        url = event.value.strip()
        event.input.value = ""  # the field has handed the focus back to the table already
        if not url:
            return
        try:
            await self._add_server(url)
        except Exception as exc:
            self.notify(f"Could not add {strip_control_codes(url)}: {exc}", severity="error")
        else:
            self.notify(f"Added {strip_control_codes(url)} for this session.")

    @moves_focus
    def action_close(self) -> None:
        if self.query_one("#servers-add", Input).display:
            hide_add_field(self)
            return
        self.dismiss(None)


def open_servers(main: MainScreen) -> None:
    """The ``s`` key: a pool's Servers screen (capabilities read in the background); one server: a notice."""
    from ...runtime.pool_app import PoolRuntime

    runtime = main.backend.runtime
    if runtime is None:
        main.notify("Not connected yet. Pool several with --server URL (repeatable).")
        return
    if not isinstance(runtime, PoolRuntime):
        single = runtime

        async def tell() -> None:
            line = capability_line(main.backend.server_url, await single.server_capabilities())
            main.notify(
                f"{line.plain}. Pool several with --server URL (repeatable) or [[servers]] tables in the config.",
                timeout=8,
            )

        main.backend.run_job(tell, name="_server_capabilities", group="actions")
        return
    screen = ServersScreen(
        runtime.rows(),
        toggle_enabled=runtime.toggle_enabled,
        toggle_drain=runtime.toggle_drain,
        toggle_pin=runtime.toggle_pin,
        add_server=runtime.add_server,
        read_capabilities=runtime.member_capabilities,
    )
    main.app.push_screen(screen)
