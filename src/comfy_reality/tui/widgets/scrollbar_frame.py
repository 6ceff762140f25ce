"""Scrollbars redrawn in the frame of the layout that moved them, not in a frame of their own.

When a layout resizes a scrolling widget, Textual refreshes its scrollbars from inside the
layout (``_scroll_update``), after it has marked what the frame will draw: the refresh becomes
an update message, and the screen draws the scrollbar again in a frame of its own about two
screen ticks (30-40 ms) after the key. A ``ScrollView`` (the log, the node rows) does so at every
layout of the screen, resized or not, as it compares the layout's virtual size with its own.
The scrollbars are added to the frame the layout is about to draw instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.geometry import Size

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object  # a plain mixin: a Widget base here would bring its class defaults (can_focus)


class ScrollbarsInLayoutFrame(_Base):
    """Scrollbars a layout refreshed are drawn in that layout's frame (put this base first)."""

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        bars = [
            bar
            for bar in (self._vertical_scrollbar, self._horizontal_scrollbar)
            if bar is not None and bar._repaint_required
        ]
        if bars:
            # Only the screen lays widgets out, and it draws its frame right after: the bars' dirty
            # regions go into that frame, and no update is left to draw them once more.
            compositor = self.screen._compositor
            shown = compositor.visible_widgets
            for bar in bars:
                bar._repaint_required = False
            compositor.update_widgets({bar for bar in bars if bar in shown})
        return changed
