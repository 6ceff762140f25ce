"""Text helpers shared by the widgets: icons, colours, durations, sizes.

``now`` is the one clock the widgets read, so tests and snapshot fixtures can freeze it.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text

from ..durations import format_duration
from ..runtime.kinds import ConnectionState, TaskStatus, utc_now
from ..safe_text import safe_line, safe_str, safe_text

if TYPE_CHECKING:
    from ..runtime.models import Task

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen or utc_now()


def freeze_clock(moment: datetime | None) -> None:
    """Pin ``now`` (snapshot tests); ``None`` lets it run again."""
    global _frozen
    _frozen = moment


STATUS_ICON: dict[str, str] = {
    "pending": "○",
    "running": "●",
    "completed": "✓",
    "cached": "↺",
    "failed": "✗",
    "cancelled": "⊘",
    "rejected": "✗",
}
RICH_STATUS_STYLE: dict[str, str] = {
    "pending": "dim",
    "running": "bold yellow",
    "completed": "green",
    "cached": "cyan",
    "failed": "bold red",
    "cancelled": "magenta",
    "rejected": "bold red",
}
CONNECTION_ICON: dict[ConnectionState, tuple[str, str]] = {
    ConnectionState.CONNECTED: ("●", "green"),
    ConnectionState.CONNECTING: ("◌", "yellow"),
    ConnectionState.RECONNECTING: ("◌", "yellow"),
    ConnectionState.DOWN: ("●", "red"),
}


def task_state(task: Task) -> str:
    """Status key of a task for icons and colours: ``cached`` is a completed task that never ran."""
    if task.status is TaskStatus.COMPLETED and task.cached:
        return "cached"
    return task.status.value


def icon_text(state: str) -> Text:
    return Text(STATUS_ICON.get(state, "?"), style=RICH_STATUS_STYLE.get(state, ""))


# Compact and stable-width enough for labels: ``0.4s``, ``12.3s``, ``4m05s``, ``2h03m`` (same as the CLI's table).
duration = format_duration


def elapsed(seconds: float) -> str:
    """A running clock redrawn once a second: ``7s``, ``1m05s`` (no tenths it could not keep up)."""
    return f"{max(0, int(seconds))}s" if seconds < 60 else format_duration(seconds)


def size(num_bytes: float | None) -> str:
    if num_bytes is None or not math.isfinite(num_bytes):
        return "?"
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def number(value: float | None) -> str:
    """``?`` for None and for NaN/Infinity a server may send (never ``inf/inf``)."""
    if value is None or not math.isfinite(value):
        return "?"
    return f"{int(value)}" if float(value).is_integer() else f"{value:.2f}"


def short_id(value: str | None, length: int = 8) -> str:
    return safe_str((value or "")[:length], one_line=True)


# Outside text (server, workflow, journal, log) for labels and cells: control characters
# made visible, never markup. The one implementation lives in comfy_reality.safe_text.
plain = safe_str
line_text = safe_line
block_text = safe_text


def fuzzy_positions(query: str, text: str) -> list[int] | None:
    """Where the query's letters occur in order in ``text`` (case-insensitive, spaces ignored); None: no match.

    Prefers a contiguous run (a plain substring) so "ksam" lights up "KSam", not scattered letters.
    """
    needle = "".join(query.lower().split())
    if not needle:
        return []
    haystack = text.lower()
    start = haystack.find(needle)
    if start >= 0:
        return list(range(start, start + len(needle)))
    positions: list[int] = []
    index = 0
    for char in needle:
        index = haystack.find(char, index)
        if index < 0:
            return None
        positions.append(index)
        index += 1
    return positions


def highlighted(text: str, positions: list[int] | None, style: str = "") -> Text:
    """``text`` (already made safe) as Text, the matched letters underlined in the accent colour (no markup)."""
    result = Text(text, style=style)
    for position in positions or []:
        if position < len(text):
            result.stylize("bold underline yellow", position, position + 1)
    return result
