"""The top line: server, connection state (with retry countdown), queue, device and memory."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.control import strip_control_codes
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...runtime.kinds import ConnectionState
from ...url_secrets import redact_url
from .. import format as fmt

if TYPE_CHECKING:
    from ...runtime.models import ServerStatus


class StatusBar(Widget):
    """One line that always says whether the app can talk to the server, and why not."""

    # One line: a long server-given device name is cut with an ellipsis, never wrapped out of sight.
    DEFAULT_CSS = """
    StatusBar {
        dock: top;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    status: reactive[ServerStatus | None] = reactive(None, layout=False)
    stats: reactive[dict[str, Any] | None] = reactive(None, layout=False)
    servers: reactive[list[dict[str, Any]] | None] = reactive(None, layout=False)
    """A pool's servers (name, state, queue, memory); None with one server."""

    def __init__(self, url: str, *, demo: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.url = url
        self.demo = demo
        """--demo: until its server reports, the address is not known yet (never the configured URL)."""

    def on_mount(self) -> None:
        # The retry countdown moves by itself; one cheap tick a second, only while it matters.
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        if self.status is not None and self.status.state is not ConnectionState.CONNECTED:
            self.refresh()

    def retry_remaining(self) -> float | None:
        status = self.status
        if status is None or status.retry_in is None:
            return None
        waited = (fmt.now() - status.changed_at).total_seconds()
        return max(0.0, status.retry_in - waited)

    def render(self) -> Text:
        status = self.status
        state = status.state if status else ConnectionState.CONNECTING
        icon, colour = fmt.CONNECTION_ICON[state]
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.size.width >= 100:
            text.append(" ComfyReality ", style="bold reverse")
        text.append(" ")
        text.append(f"{icon} ", style=colour)
        if status is None and self.demo:
            text.append("starting the demo server on 127.0.0.1…", style=f"bold {colour}")
            return text
        url = fmt.plain(redact_url(status.url if status else self.url), one_line=True)
        if state is ConnectionState.CONNECTED:
            text.append(url, style="bold")
        else:
            verb = {
                ConnectionState.CONNECTING: "connecting to",
                ConnectionState.RECONNECTING: "reconnecting to",
                ConnectionState.DOWN: "not connected to",
            }[state]
            text.append(f"{verb} {url}", style=f"bold {colour}")
            if status and status.reason:
                reason = fmt.plain(redact_url(friendly_reason(status.reason)), one_line=True)
                text.append(f": {reason if len(reason) <= 48 else reason[:47] + '…'}", style=colour)
            remaining = self.retry_remaining()
            if remaining is not None:
                text.append(f" · retry in {remaining:.0f}s", style="dim")
            text.append(" · F5 now", style="dim")
        if self.servers:
            text.append(" │ ", style="dim")
            text.append_text(server_chips(self.servers, wide=self.size.width >= 140))
            return text
        if state is ConnectionState.CONNECTED:
            queue = status.queue_remaining if status else None
            text.append(" │ ", style="dim")
            text.append(f"queue {queue if queue is not None else '?'}")
            device = _device_summary(self.stats)
            if device:
                text.append(" │ ", style="dim")
                text.append(device)
        return text


_CHIP_STYLE = {
    "connected": ("●", "green"),
    "connecting": ("◌", "yellow"),
    "reconnecting": ("◌", "yellow"),
    "down": ("●", "red"),
    "disabled": ("○", "dim"),
    "draining": ("◐", "yellow"),
}


_STATE_WORD = {
    "down": "down",
    "disabled": "disabled",
    "connecting": "connecting",
    "reconnecting": "reconnecting",
}


def server_chips(rows: list[dict[str, Any]], *, wide: bool = False) -> Text:
    """``● gpu1 q2 VRAM 3.1/24G  ● gpu2 q0`` : each server's state, queue (and memory when wide).

    Names come from the config or the user: data, added as plain text, never markup.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, row in enumerate(rows):
        if index:
            text.append("  ")
        icon, colour = _CHIP_STYLE.get(str(row.get("state")), ("?", "dim"))
        text.append(f"{icon} ", style=colour)
        text.append(strip_control_codes(str(row.get("name"))), style="bold" if row.get("pinned") else "")
        state = str(row.get("state"))
        if state in _STATE_WORD:  # a down or disabled server's last queue length is stale: say why instead
            text.append(f" {_STATE_WORD[state]}", style=colour)
            continue
        if state == "draining":
            text.append(" draining", style=colour)
        queue = row.get("queue_remaining")
        text.append(f" q{queue if queue is not None else '?'}", style="dim")
        if wide and row.get("memory"):
            text.append(f" {row['memory']}", style="dim")
    return text


_REASONS = (
    ("Errno 111", "connection refused"),
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("Errno 113", "no route to host"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted (--insecure skips the check)"),
)


def friendly_reason(reason: str) -> str:
    """The socket error people recognise, instead of the raw errno text."""
    for needle, friendly in _REASONS:
        if needle in reason:
            return friendly
    return reason


def _bytes(value: Any) -> float | None:
    """A memory figure from the server: a finite number, else None (a string, NaN, Infinity...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _gib(value: float | None) -> str:
    return "?" if value is None else f"{value / 2**30:.1f}"


def _device_summary(stats: dict[str, Any] | None) -> str:
    """``cuda:0 RTX 4090 · VRAM 3.1/24.0 GiB`` or ``cpu · RAM 8.2/24.0 GiB`` from /system_stats.

    Every field is the server's: names are shown inert, numbers that are not numbers as ``?``."""
    if not isinstance(stats, dict) or not stats:
        return ""
    devices = stats.get("devices") or []
    system = stats.get("system") or {}
    if not isinstance(system, dict):
        system = {}
    device = devices[0] if isinstance(devices, list) and devices and isinstance(devices[0], dict) else {}
    name = fmt.plain(device.get("name") or device.get("type") or "?", one_line=True)
    vram_total = device.get("vram_total") or 0
    # Memory first: on a narrow terminal the device name is what gets cut.
    if device.get("type") not in (None, "cpu") and vram_total:
        total = _bytes(vram_total)
        free = _bytes(device.get("vram_free") or 0)
        used = total - free if total is not None and free is not None else None
        return f"VRAM {_gib(used)}/{_gib(total)} GiB · {name}"
    ram_total = system.get("ram_total") or 0
    if ram_total:
        total = _bytes(ram_total)
        free = _bytes(system.get("ram_free") or 0)
        used = total - free if total is not None and free is not None else None
        return f"RAM {_gib(used)}/{_gib(total)} GiB · {name}"
    return name
