"""Task events and runtime log records of this session, coloured by level, with follow mode."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any, ClassVar, cast

from rich.cells import cached_cell_len, cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.reactive import reactive
from textual.strip import Strip
from textual.widgets import RichLog

from ...safe_text import safe_str
from ...url_secrets import redact_url
from ..messages import LogLine
from .scrollbar_frame import ScrollbarsInLayoutFrame

LEVEL_STYLE: dict[str, str] = {
    "debug": "dim",
    "info": "",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
}
MAX_LINES = 5000
DRAWN_LINES_CACHED = 256
"""Drawn lines RichLog keeps ready (a screen's worth several times over; Textual's default is 1,024)."""
CELL_WIDTHS_KEPT_FOR = 300
"""Lines written between two clears of Rich's cell-width cache (see :meth:`LogPane.add_lines`)."""


def render_line(line: LogLine, tz: tzinfo | None = None) -> Text:
    """``tz`` None shows local time (what the person's clock says)."""
    stamp = line.timestamp
    clock = stamp.astimezone(tz).strftime("%H:%M:%S") if isinstance(stamp, datetime) else str(stamp)[:8]
    level = line.level.lower()
    text = Text(no_wrap=False)
    text.append(f"{clock} ", style="dim")
    text.append(
        f"{safe_str(level[:4].upper(), one_line=True):<4} ", style=LEVEL_STYLE.get(level, "") or "blue"
    )
    # Log lines quote server text and URLs: shown inert (no escape reaches the terminal), no credentials.
    text.append(safe_str(redact_url(line.text)), style=LEVEL_STYLE.get(level, ""))
    return text


Look = tuple[tuple[int, ...], tuple[Style | None, ...]]
"""A line's look: where its runs end but the last (that one ends with the text) and their styles."""


class StoredLine:
    """A written line kept as its text and its look (shared); drawn as a Strip when shown.

    A Strip carries seven caches of its own (twelve slots, about 150 bytes empty), and a Segment
    (a tuple) per run with its own string: about 630 bytes for a typical line, for up to
    MAX_LINES lines a session. RichLog only ever crops its stored lines to draw them (keeping
    the drawn results in its own bounded cache), so a stored line is not a Strip: it holds one
    string and its look, one tuple shared by every line of the same look (a log line's clock,
    level and text runs are the same lengths but the last): 195 bytes for an 88-character line,
    of which 137 are the string (it was 247 with a run-length string and the width of its own).
    """

    __slots__ = ("_look", "_text")

    _LOOKS: ClassVar[dict[Look, Look]] = {}
    """The looks of lines (a handful: one per log level and shape), shared."""

    def __init__(self, strip: Strip) -> None:
        segments = list(strip)
        self._text = "".join(segment.text for segment in segments)
        look: Look = (
            tuple(len(segment.text) for segment in segments[:-1]),
            tuple(segment.style for segment in segments),
        )
        looks = StoredLine._LOOKS
        if len(looks) < 1024:  # bounded: a hostile stream of distinct styles is kept per line instead
            look = looks.setdefault(look, look)
        self._look = look

    def _rebuilt(self) -> list[Segment]:
        cuts, styles = self._look
        text = self._text
        segments, start = [], 0
        for cut, style in zip(cuts, styles, strict=False):
            segments.append(Segment(text[start : start + cut], style))
            start += cut
        if styles:
            segments.append(Segment(text[start:], styles[-1]))
        return segments

    def __iter__(self) -> Iterator[Segment]:
        return iter(self._rebuilt())

    def __len__(self) -> int:
        return len(self._look[1])

    @property
    def text(self) -> str:
        return self._text

    @property
    def cell_length(self) -> int:
        return cell_len(self._text)

    def crop_extend(self, start: int, end: int, style: Style | None) -> Strip:
        """As Strip's, without its cache: the Strip made here is used once, and when the crop is
        the whole line Strip's cache holds the strip itself, a reference cycle (a strip and its
        seven caches, about 1.5 KB) left for a full collection for every line drawn."""
        return Strip(self._rebuilt()).extend_cell_length(end, style).crop(start, end)


class LogPane(ScrollbarsInLayoutFrame, RichLog):
    HELP = """\
## Log

Task events and runtime log lines of this session (the full JSON log is in
the log file). **f** toggles follow mode: when on, the view sticks to the
newest line.
"""

    BINDINGS = [Binding("f", "toggle_follow", "Follow", id="log.follow")]

    follow: reactive[bool] = reactive(True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, auto_scroll=True
        )
        # RichLog keeps 1,024 drawn lines (each a Strip with its own caches, over a kilobyte) for a
        # pane that shows a few dozen: a long session filled it with lines long scrolled away.
        self._line_cache = LRUCache(DRAWN_LINES_CACHED)
        self.lines_written = 0
        self.tz: tzinfo | None = None

    def add_lines(self, lines: list[LogLine]) -> None:
        """All of a frame's lines in one write: each write sets the virtual size (a relayout)."""
        if not lines:
            return
        block = Text("\n", no_wrap=False).join(render_line(line, self.tz) for line in lines)
        self.write(block, scroll_end=self.follow)
        written = self.lines_written
        self.lines_written += len(lines)
        if written // CELL_WIDTHS_KEPT_FOR != self.lines_written // CELL_WIDTHS_KEPT_FOR:
            # Rich measures every word it wraps through one process-wide cache of 4,096 strings
            # (Textual shares it). Log lines bring new words all the time (ids, times), so it filled
            # over a session's first few hundred executions, each entry keeping its word alive. A
            # width costs little to measure again (one set check for plain text): it is emptied
            # every few hundred lines, and stays at what those lines and the screen bring.
            cached_cell_len.cache_clear()

    def write(self, content: Any, *args: Any, **kwargs: Any) -> LogPane:
        """RichLog's write, then the lines it stored are kept compact (see :class:`StoredLine`)."""
        super().write(content, *args, **kwargs)
        # RichLog reads its lines only through crop_extend: a StoredLine stands in for a Strip.
        stored = cast(list[Strip | StoredLine], self.lines)
        index = len(stored) - 1
        while index >= 0 and isinstance(line := stored[index], Strip):
            stored[index] = StoredLine(line)
            index -= 1
        return self

    def watch_follow(self, follow: bool) -> None:
        self.auto_scroll = follow
        self.border_subtitle = "following · f" if follow else "paused · f to follow"
        if follow:
            self.scroll_end(animate=False)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
