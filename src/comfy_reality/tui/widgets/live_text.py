"""A text block that redraws only when its content changes, and re-lays out only when its height may."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from .one_layout import SizedInOneLayout


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

    def render(self) -> RenderableType:
        return self._content

    def set(self, content: RenderableType) -> None:
        old = self._content
        if isinstance(old, Text) and isinstance(content, Text):
            if old == content:
                return
            self._content = content
            self.refresh(layout=_lines(old, self.size.width) != _lines(content, self.size.width))
            return
        self._content = content
        self.refresh(layout=True)

    def show(self, visible: bool) -> None:
        """Hide or show without touching the stylesheet when nothing changes."""
        if self.display != visible:
            self.display = visible


def _lines(text: Text, width: int) -> int | None:
    """Line count when no line wraps at ``width``; None (always re-lay out) when one might."""
    lines = text.plain.split("\n")
    if width <= 0 or any(len(line) >= width for line in lines):
        return None
    return len(lines)
