"""An Input whose keystrokes do not lay the screen out again.

Textual's Input sets its virtual size (the text's width) on every change of its value, and
the virtual size is a reactive that lays out the whole screen: in History, a filter
keystroke paid a layout of every pane before its answer could be drawn. An Input whose own
size does not follow its text (any width but ``auto``) only needs the new scroll extent.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Input


class SteadyInput(Input):
    """Input that sets its scroll extent without a layout when its size is fixed by its styles."""

    def _watch_value(self, value: str) -> None:
        if not self.styles.auto_dimensions:
            size = Size(self.content_width, 1)
            if size != self.virtual_size:
                self.set_reactive(Widget.virtual_size, size)
                self.refresh()
        super()._watch_value(value)
