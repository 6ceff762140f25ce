"""The main screen fitted to the terminal's size: the width's breakpoint class, the too-small notice
and whether the log shows.

Applied when the screen composes (see :mod:`.breakpoints`: the first frame is already the final
layout, not a shorter log and other pane heights that jump a frame later); every resize after that
goes through the same function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget

from .breakpoints import apply_breakpoints

MIN_WIDTH, MIN_HEIGHT = 60, 16
"""Below this the panes cannot show a workflow name, a status and the keys at once."""
LOG_MIN_HEIGHT = 40
"""Under this many rows the log is hidden (``l`` shows it): the panes above need the rows more."""


def fit_to_size(screen: Screen[Any], size: Size) -> str | None:
    """The breakpoint classes for ``size``; below a usable size, the one clear sentence to show
    instead of panes squeezed into garbage (None: the size is usable)."""
    width, height = size
    apply_breakpoints(screen, width)
    small = width < MIN_WIDTH or height < MIN_HEIGHT
    screen.set_class(small, "-too-small")
    if not small:
        return None
    return (
        f"Terminal too small: {width}x{height}.\n"
        f"Need at least {MIN_WIDTH}x{MIN_HEIGHT}: enlarge the window (ctrl+q quits)."
    )


class LogFit:
    """Whether the log shows: by the terminal's height, whether the app started at that size or was
    resized to it, until the user shows or hides it with ``l`` (their choice then holds at any size)."""

    def __init__(self, log: Widget, height: int, focus_elsewhere: Callable[[], object]) -> None:
        self.log = log
        self.focus_elsewhere = focus_elsewhere  # where the focus goes from a log that hides
        self.chosen: bool | None = None  # shown (True) or hidden (False) by the user; None: by height
        self.fit(height)

    def fit(self, height: int) -> None:
        self._show(height >= LOG_MIN_HEIGHT if self.chosen is None else self.chosen)

    def toggle(self) -> None:
        self.chosen = self.log.has_class("hidden")
        self._show(self.chosen)

    def _show(self, shown: bool) -> None:
        if not shown and self.log.has_focus:
            self.focus_elsewhere()
        self.log.set_class(not shown, "hidden")
