"""Scrollbars redrawn in the frame of the layout that moved them, not in a frame of their own.

When a layout resizes a scrolling widget, Textual refreshes its scrollbars from inside the
layout (``_scroll_update``), after it has marked what the frame will draw: the refresh becomes
an update message, and the screen draws the scrollbar again in a frame of its own about two
screen ticks (30-40 ms) after the key. A ``ScrollView`` (the log, the node rows) does so at every
layout of the screen, resized or not, as it compares the layout's virtual size with its own.
A scrollbar that shows something new is added to the frame the layout is about to draw; one
that shows what it showed is not drawn again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.geometry import Size

if TYPE_CHECKING:
    from textual.scrollbar import ScrollBar
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object  # a plain mixin: a Widget base here would bring its class defaults (can_focus)


def _shows(bar: ScrollBar) -> tuple[object, ...]:
    """What a scrollbar draws, besides its size and style (which a layout or a restyle repaint)."""
    return (bar.window_virtual_size, bar.window_size, bar.position, bar.grabbed, bar.mouse_over)


class ScrollbarsInLayoutFrame(_Base):
    """Scrollbars a layout refreshed are drawn in that layout's frame (put this base first)."""

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        bars = [bar for bar in (self._vertical_scrollbar, self._horizontal_scrollbar) if bar is not None]
        before = [(bar._repaint_required, _shows(bar)) for bar in bars]
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        redraw: set[Widget] = set()
        for bar, (pending, shown) in zip(bars, before, strict=True):
            if not bar._repaint_required:
                continue
            # Only the screen lays widgets out, and it draws its frame right after: no update is
            # left to draw the bar once more. A bar the layout resized or moved is in the frame
            # already; one that shows new values is added to it.
            bar._repaint_required = False
            if pending or _shows(bar) != shown:
                redraw.add(bar)
        if redraw:
            compositor = self.screen._compositor
            compositor.update_widgets(redraw & compositor.visible_widgets.keys())
        return changed
