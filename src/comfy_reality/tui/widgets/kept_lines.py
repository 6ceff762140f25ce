"""A block of rich content drawn once per width and style, then served line by line.

Static re-renders its whole renderable whenever it is refreshed, and measures it again (for
its height) at every layout after a refresh. For the workflow preview, a table of every node,
that was a table of 500 rows drawn twice each time the pane was shown or lost the focus.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget


class KeptLines(Widget):
    """Content set with :meth:`update`; its lines are kept until it, the width or the style changes."""

    DEFAULT_CSS = """
    KeptLines {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._content: RenderableType = Text("")
        self._kept: tuple[tuple[int, object], list[Strip]] | None = None

    @property
    def content(self) -> RenderableType:
        return self._content

    def update(self, content: RenderableType) -> None:
        self._content = content
        self._kept = None
        self.refresh(layout=True)

    def _lines(self, width: int) -> list[Strip]:
        key = (width, self.visual_style)
        kept = self._kept
        if kept is None or kept[0] != key:
            # Through Textual's visuals, as a widget's render() is: the same look as a Static.
            visual = visualize(self, self._content)
            height = visual.get_height(self.styles, width)  # type: ignore[arg-type]  # as Widget does
            kept = (key, Visual.to_strips(self, visual, width, height, self.visual_style))
            self._kept = kept
        return kept[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width)) if width > 0 else 0

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        lines = self._lines(width) if width > 0 else []
        return lines[y] if 0 <= y < len(lines) else Strip.blank(width, self.rich_style)


__all__ = ["KeptLines"]
