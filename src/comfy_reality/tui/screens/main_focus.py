"""The screen's focus styles, changed as the focus moves: the pane in use lit by a class on that pane alone.

A ``:focus-within`` rule makes Textual restyle the pane's whole subtree each time the focus enters
or leaves it, and the focused widget's own ``:focus`` restyles its subtree again: a Tab in and out
of the execution view restyled its five widgets twice each. Only the pane's border and title
change, so only the pane is restyled, once.

Textual restyles the widgets that gain and lose the focus when they hear of it, a message later:
what those restyles redraw (a pane's scrollbar, the rows inside it) then came a frame after the
Tab's first. Here every restyle happens as the focus moves, so a Tab draws one frame.
"""

from __future__ import annotations

from typing import TypeVar

from textual.widget import Widget

PaneT = TypeVar("PaneT", bound=Widget)

FOCUS_WITHIN = "-focus-within"
"""The class app.tcss lights a pane's border by, in place of ``:focus`` and ``:focus-within``."""


class PaneLight:
    """Moves :data:`FOCUS_WITHIN` to the pane that holds the focus, restyling only the panes it moves between.

    The panes given restyle nothing on their own focus (widgets.pane_focus): this is what lights them.
    """

    def __init__(self, *panes: Widget) -> None:
        self.panes: tuple[Widget, ...] = panes
        self._lit: Widget | None = None
        self._focused: Widget | None = None

    def add(self, pane: PaneT) -> PaneT:
        """Light ``pane`` too: a pane mounted after the first frame is added as it mounts, not built before."""
        self.panes = (*self.panes, pane)
        return pane

    def follow(self, focused: Widget | None) -> None:
        """Called as the screen's focus moves (before the widgets get their Focus and Blur events)."""
        blurred, self._focused = self._focused, focused
        # Their events set the same values again later: no second restyle.
        if blurred is not None and blurred is not focused and blurred.is_attached:
            blurred.has_focus = False
        if focused is not None and focused.is_attached:
            focused.has_focus = True
        lit = None
        if focused is not None:
            lit = next((pane for pane in self.panes if pane in focused.ancestors_with_self), None)
        if lit is self._lit:
            return
        for pane, on in ((self._lit, False), (lit, True)):
            if pane is not None:
                pane.set_class(on, FOCUS_WITHIN, update=False)
                if pane.is_attached:
                    pane.app.stylesheet.update_nodes([pane], animate=True)
        self._lit = lit


__all__ = ["FOCUS_WITHIN", "PaneLight"]
