"""One-line Rich Text to a Strip, as Textual's own visual pipeline draws it, without its per-line cost.

Textual draws a widget's Rich Text by converting it to ``Content``, splitting it at every span
boundary and building a new Rich style (with the cell offset in its meta, for text selection)
for every piece: about 175 µs a node row, which at 500 nodes was a sizeable share of the app's
CPU. :class:`TextStrips` makes the same segments (same text pieces, same styles, same offsets)
with the styles kept per (span style, offset), so a row costs a walk over its few spans.

Only plain cases take this path (one line, spans that do not overlap, string styles, no text
selection, default alignment); anything else goes through Textual as before. A test compares
both, segment by segment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual.strip import Strip
from textual.style import Style

if TYPE_CHECKING:
    from textual.widget import Widget

KEPT_STYLES = 4096  # (span style, offset) pairs per base style; cleared past this


class TextStrips:
    """Segments of one-line Texts in one widget, for the base (visual) style it draws with."""

    def __init__(self, widget: Widget, base: Style) -> None:
        self.base = base
        app = widget.app
        self._get_rich_style = app.console.get_style
        self._get_widget_style = widget._get_style  # how Content parses a string style of its own
        self._ansi_theme = app.ansi_theme
        self._parsed: dict[tuple[bool, str], Style] = {}
        self._styles: dict[tuple[str, str, int, int], RichStyle] = {}

    def _parse(self, style: str, *, whole: bool) -> Style:
        key = (whole, style)
        parsed = self._parsed.get(key)
        if parsed is None:
            if whole:  # Content.stylize_before keeps the Text's own style a string
                parsed = self._get_widget_style(style)
            else:  # Content.from_rich_text turns each span's style into a visual Style
                parsed = Style.from_rich_style(self._get_rich_style(style), self._ansi_theme)
            self._parsed[key] = parsed
        return parsed

    def _style(self, whole: str, span_style: str, x: int, y: int = 0) -> RichStyle:
        """What Content.render and Line.to_strip make of a piece at offset ``x`` of line ``y`` (see Textual)."""
        key = (whole, span_style, x, y)
        style = self._styles.get(key)
        if style is None:
            base = self.base
            styles = [base]
            if whole:
                styles.append(self._parse(whole, whole=True))
            if span_style:
                styles.append(self._parse(span_style, whole=False))
            if len(self._styles) >= KEPT_STYLES:
                self._styles.clear()
            style = self._styles[key] = (base + Style.combine(styles)).rich_style_with_offset(x, y)
        return style

    def strip(self, text: Text, y: int = 0) -> Strip | None:
        """The Strip of line ``y`` of a text; None when the line is not a plain case (draw it through Textual)."""
        plain = text.plain
        whole = text.style
        if not isinstance(whole, str) or "\n" in plain or "\t" in plain:
            return None
        if not plain:  # an empty line is one empty segment in the text's style
            return Strip([Segment("", self._style(whole, "", 0, y))], 0)
        segments: list[Segment] = []
        add = segments.append
        x = 0
        for start, end, span_style in text.spans:
            if start < x or end <= start or end > len(plain) or not isinstance(span_style, str):
                return None  # overlapping, out of order, empty, or a Style object
            if start > x:
                add(Segment(plain[x:start], self._style(whole, "", x, y)))
            add(Segment(plain[start:end], self._style(whole, span_style, start, y)))
            x = end
        if x < len(plain):
            add(Segment(plain[x:], self._style(whole, "", x, y)))
        return Strip(segments, text.cell_len)

    def pieces_strip(self, whole: str, pieces: list[tuple[str, str]]) -> Strip:
        """The Strip of the Text that appending ``pieces`` to an empty Text of style ``whole`` makes.

        For pieces of one-cell characters (no newline, no tab): runs of unstyled pieces make one
        segment, as the gaps between a Text's spans do; each styled piece is a span of its own.
        """
        segments: list[Segment] = []
        add = segments.append
        style_of = self._style
        x = 0
        gap: list[str] = []  # the current run of unstyled pieces
        gap_start = 0
        for text, span_style in pieces:
            if not text:
                continue
            if span_style:
                if gap:
                    add(Segment("".join(gap), style_of(whole, "", gap_start)))
                    gap = []
                add(Segment(text, style_of(whole, span_style, x)))
            else:
                if not gap:
                    gap_start = x
                gap.append(text)
            x += len(text)
        if gap:
            add(Segment("".join(gap), style_of(whole, "", gap_start)))
        return Strip(segments, x)
