"""The main screen fitted to the terminal's size: the width's breakpoint class and the too-small notice.

Applied when the screen composes (see :mod:`.breakpoints`: the first frame is already the final
layout, not a shorter log and other pane heights that jump a frame later); every resize after that
goes through the same function.
"""

from __future__ import annotations

from typing import Any

from textual.geometry import Size
from textual.screen import Screen

from .breakpoints import apply_breakpoints

MIN_WIDTH, MIN_HEIGHT = 60, 16
"""Below this the panes cannot show a workflow name, a status and the keys at once."""


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
