"""A screen's first resume without Textual's restyle of its whole tree (see ``MainScreen.on_screen_resume``).

Textual restyles every widget of a screen each time it resumes: its styles may have changed while
another screen was on top. On the first resume, just before the first frame, that repeats what
mounting did; only the scrollbars, made on first use, have no styles yet.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.screen import Screen
from textual.widget import Widget


def resume_without_restyle(screen: Screen[Any], event: events.ScreenResume) -> None:
    """Tell Textual's handler not to restyle ``screen``, and style the scrollbars it shows as its
    restyle would (a test checks the first frame's styles equal a full restyle's)."""
    event.refresh_styles = False
    apply = screen.app.stylesheet.apply
    for node in screen.walk_children(Widget):
        if node.is_scrollable:
            if node.show_vertical_scrollbar and node.scrollbar_size_vertical:
                apply(node.vertical_scrollbar)
            if node.show_horizontal_scrollbar and node.scrollbar_size_horizontal:
                apply(node.horizontal_scrollbar)


__all__ = ["resume_without_restyle"]
