"""A text block that redraws only the lines that change, and re-lays out only when its height may.

A running execution's header is set several times a second (its clock, its node count): through
Textual's visual pipeline every set re-rendered the whole block (about 0.7 ms for its three lines,
a sixth of the whole app's CPU while a small workflow runs). Here each line that fits the width
goes straight to segments (:class:`TextStrips`, as the node rows do), a set repaints only the lines
whose text or styles moved, and a line drawn before is not drawn again. Anything else (a line that
may wrap, a renderable that is not a Text, text selection, alignment) goes through Textual.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import RenderableType
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip

from .one_layout import SizedInOneLayout
from .text_strips import TextStrips

LineKey = tuple[str, str, tuple[object, ...]]


class LiveText(SizedInOneLayout):
    """Like Static, for content replaced many times a second (Static.update always re-lays out)."""

    DEFAULT_CSS = """
    LiveText {
        height: auto;
    }
    """

    def __init__(
        self, content: RenderableType = "", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._content: RenderableType = content
        self._lines: list[Text] | None = _split(content)
        """The content's lines when it is a Text (None otherwise: Textual draws it)."""
        self._drawn: dict[int, tuple[LineKey, Strip]] = {}
        self._text_strips: TextStrips | None = None
        self.lines_drawn = 0
        """Lines this widget made (not those it drew before): a count for tests and benchmarks."""

    def render(self) -> RenderableType:
        return self._content

    def set(self, content: RenderableType) -> None:
        old = self._content
        if isinstance(old, Text) and isinstance(content, Text):
            if old == content:
                return
            old_lines = self._lines
            self._content = content
            self._lines = new_lines = _split(content)
            width = self.size.width
            count = _lines(old, width)
            if count != _lines(content, width):
                self.refresh(layout=True)
            elif count is None or old_lines is None or new_lines is None:
                self.refresh()
            else:  # the same lines, none wraps: repaint those that moved
                changed = [
                    y for y, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if _key(a) != _key(b)
                ]
                if changed:
                    self.refresh(*(Region(0, y, width, 1) for y in changed))
            return
        self._content = content
        self._lines = _split(content)
        self.refresh(layout=True)

    def show(self, visible: bool) -> None:
        """Hide or show without touching the stylesheet when nothing changes."""
        if self.display != visible:
            self.display = visible

    def render_line(self, y: int) -> Strip:
        lines = self._lines
        if lines is None or not self._plain_lines(lines):
            self.lines_drawn += 1
            return super().render_line(y)
        if y >= len(lines):
            return Strip.blank(self.size.width, self.visual_style.rich_style)
        line = lines[y]
        key = _key(line)
        style = self.visual_style
        maker = self._text_strips
        if maker is None or maker.base != style:
            maker = self._text_strips = TextStrips(self, style)
            self._drawn.clear()
        drawn = self._drawn.get(y)
        if drawn is not None and drawn[0] == key:
            return drawn[1]
        strip = maker.strip(line, y)
        if strip is None:
            self.lines_drawn += 1
            return super().render_line(y)
        self.lines_drawn += 1
        self._drawn[y] = (key, strip)
        return strip

    def _plain_lines(self, lines: list[Text]) -> bool:
        """Whether each line is drawn as it is: it fits, nothing aligns, selects or pads it."""
        width = self.size.width
        styles = self.styles
        return (
            self.text_selection is None
            and not self.BLANK
            and styles.text_align in ("start", "left")
            and styles.content_align == ("left", "top")
            and not styles.line_pad
            and all(line.cell_len < width for line in lines)
        )


def _split(content: RenderableType) -> list[Text] | None:
    if not isinstance(content, Text):
        return None
    return list(content.split("\n", allow_blank=True))


def _key(line: Text) -> LineKey:
    style = line.style
    return (line.plain, style if isinstance(style, str) else repr(style), tuple(line.spans))


def _lines(text: Text, width: int) -> int | None:
    """Line count when no line wraps at ``width``; None (always re-lay out) when one might."""
    lines = text.plain.split("\n")
    if width <= 0 or any(cell_len(line) >= width for line in lines):
        return None
    return len(lines)
