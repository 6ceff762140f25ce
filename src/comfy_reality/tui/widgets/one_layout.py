"""Widgets resized by a layout that do not ask for another one.

When a layout gives a widget a new size, Textual sets its ``virtual_size``, a reactive that asks
for a layout of its own: the screen is laid out once more, to the same result, a frame later.
A cursor key that showed another execution in the detail pane ran three layouts and drew three
frames, the last about 50 ms after the key; the widgets of the detail pane skip that last one.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.widget import Widget


class SizedInOneLayout(Widget):
    """Takes the size a layout gives it without scheduling another layout (scrollbars still follow)."""

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # What a layout found is final: its virtual size is stored without asking for a layout.
        # A scrollbar that must appear or go still asks for one (show_vertical_scrollbar).
        return super()._size_updated(size, virtual_size, container_size, layout=False)
