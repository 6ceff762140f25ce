"""A screen's breakpoint classes set when it composes, not on its first Resize.

Textual adds the breakpoint classes (the app's ``-narrow``/``-wide``, History's
``-stacked``/``-split``) on a screen's first Resize, which comes after its first frame: that frame
was laid out for the other width and jumped a frame later (History's table showed a column for a
moment, then dropped it). Set when the screen composes, the first frame is already the final
layout; Textual's own Resize handling then keeps them as they are.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen


def apply_breakpoints(screen: Screen[Any], width: int) -> None:
    """The classes of ``screen``'s horizontal breakpoints (its own, else the app's) for ``width``."""
    own = screen.HORIZONTAL_BREAKPOINTS
    breakpoints = (screen.app.HORIZONTAL_BREAKPOINTS if own is None else own) or []
    reached = [name for threshold, name in sorted(breakpoints) if width >= threshold]
    screen.update_classes({name: bool(reached) and name == reached[-1] for _, name in breakpoints})


__all__ = ["apply_breakpoints"]
