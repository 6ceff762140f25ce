"""The top line: server, connection state (with retry countdown), queue, device and memory."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...runtime.models import ConnectionState, ServerStatus
from .. import format as fmt


class StatusBar(Widget):
    """One line that always says whether the app can talk to the server, and why not."""

    DEFAULT_CSS = """
    StatusBar {
        dock: top;
        height: 1;
    }
    """

    status: reactive[ServerStatus | None] = reactive(None, layout=False)
    stats: reactive[dict[str, Any] | None] = reactive(None, layout=False)

    def __init__(self, url: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.url = url

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
        url = status.url if status else self.url
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
                reason = friendly_reason(status.reason)
                text.append(f": {reason if len(reason) <= 48 else reason[:47] + '…'}", style=colour)
            remaining = self.retry_remaining()
            if remaining is not None:
                text.append(f" · retry in {remaining:.0f}s", style="dim")
            text.append(" · F5 now", style="dim")
        if state is ConnectionState.CONNECTED:
            queue = status.queue_remaining if status else None
            text.append(" │ ", style="dim")
            text.append(f"queue {queue if queue is not None else '?'}")
            device = _device_summary(self.stats)
            if device:
                text.append(" │ ", style="dim")
                text.append(device)
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


def _device_summary(stats: dict[str, Any] | None) -> str:
    """``cuda:0 RTX 4090 · VRAM 3.1/24.0 GiB`` or ``cpu · RAM 8.2/24.0 GiB`` from /system_stats."""
    if not stats:
        return ""
    devices = stats.get("devices") or []
    system = stats.get("system") or {}
    device = devices[0] if devices and isinstance(devices[0], dict) else {}
    name = str(device.get("name") or device.get("type") or "?")
    vram_total = device.get("vram_total") or 0
    # Memory first: on a narrow terminal the device name is what gets cut.
    if device.get("type") not in (None, "cpu") and vram_total:
        used = vram_total - (device.get("vram_free") or 0)
        return f"VRAM {used / 2**30:.1f}/{vram_total / 2**30:.1f} GiB · {name}"
    ram_total = system.get("ram_total") or 0
    if ram_total:
        used = ram_total - (system.get("ram_free") or 0)
        return f"RAM {used / 2**30:.1f}/{ram_total / 2**30:.1f} GiB · {name}"
    return name
