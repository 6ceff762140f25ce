"""The main screen fitted to the terminal's size: the width's breakpoint class and the too-small notice.

Applied when the screen composes (see :mod:`.breakpoints`: the first frame is already the final
layout, not a shorter log and other pane heights that jump a frame later); every resize after that
goes through the same function.
"""

from __future__ import annotations

from typing import Any

from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Static

from .breakpoints import apply_breakpoints

MIN_WIDTH, MIN_HEIGHT = 60, 16
"""Below this the panes cannot show a workflow name, a status and the keys at once."""


def fit_to_size(screen: Screen[Any], size: Size, notice: Static | None) -> None:
    """The breakpoint classes for ``size`` and, below a usable size, one clear sentence instead of
    panes squeezed into garbage (``notice``: the screen's ``#too-small`` Static, None before it exists)."""
    width, height = size
    apply_breakpoints(screen, width)
    small = width < MIN_WIDTH or height < MIN_HEIGHT
    screen.set_class(small, "-too-small")
    if small and notice is not None:
        notice.update(
            f"Terminal too small: {width}x{height}.\n"
            f"Need at least {MIN_WIDTH}x{MIN_HEIGHT}: enlarge the window (ctrl+q quits)."
        )
