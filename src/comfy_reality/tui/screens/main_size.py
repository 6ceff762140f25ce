"""The main screen fitted to the terminal's size: the width's breakpoint class and the too-small notice.

Textual adds the breakpoint classes (``-narrow``/``-wide``) on the screen's first Resize, which
comes after the first frame: that frame was laid out for the other width (a shorter log, other
pane heights) and jumped a frame later. Applied when the screen composes, the first frame is
already the final layout; every resize after that goes through the same function.
"""

from __future__ import annotations

from typing import Any

from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Static

MIN_WIDTH, MIN_HEIGHT = 60, 16
"""Below this the panes cannot show a workflow name, a status and the keys at once."""


def fit_to_size(screen: Screen[Any], size: Size, notice: Static | None) -> None:
    """The breakpoint classes for ``size`` and, below a usable size, one clear sentence instead of
    panes squeezed into garbage (``notice``: the screen's ``#too-small`` Static, None before it exists)."""
    width, height = size
    breakpoints = screen.app.HORIZONTAL_BREAKPOINTS or []
    reached = [name for threshold, name in sorted(breakpoints) if width >= threshold]
    screen.update_classes({name: bool(reached) and name == reached[-1] for _, name in breakpoints})
    small = width < MIN_WIDTH or height < MIN_HEIGHT
    screen.set_class(small, "-too-small")
    if small and notice is not None:
        notice.update(
            f"Terminal too small: {width}x{height}.\n"
            f"Need at least {MIN_WIDTH}x{MIN_HEIGHT}: enlarge the window (ctrl+q quits)."
        )
