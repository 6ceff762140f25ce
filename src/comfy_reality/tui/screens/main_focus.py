"""The border of the pane holding the focus, lit by a class on that pane alone.

A ``:focus-within`` rule makes Textual restyle the pane's whole subtree each time the focus enters
or leaves it, and the focused widget's own ``:focus`` restyles its subtree again: a Tab in and out
of the execution view restyled its five widgets twice each. Only the pane's border and title
change, so only the pane is restyled, once.
"""

from __future__ import annotations

from textual.widget import Widget

FOCUS_WITHIN = "-focus-within"
"""The class app.tcss lights a pane's border by, in place of ``:focus-within``."""


class PaneLight:
    """Moves :data:`FOCUS_WITHIN` to the pane that holds the focus, restyling only the panes it moves between."""

    def __init__(self, *panes: Widget) -> None:
        self.panes = panes
        self._lit: Widget | None = None
        self._focused: Widget | None = None

    def follow(self, focused: Widget | None) -> None:
        """Called as the screen's focus moves (before the widgets hear of it)."""
        blurred, self._focused = self._focused, focused
        lit = None
        if focused is not None:
            lit = next((pane for pane in self.panes if pane in focused.ancestors_with_self), None)
        if lit is self._lit:
            return
        for pane, on in ((self._lit, False), (lit, True)):
            if pane is None:
                continue
            pane.set_class(on, FOCUS_WITHIN, update=False)
            if pane is not focused and pane is not blurred and pane.is_attached:
                # A pane that gains or loses the focus itself is restyled by Textual (has_focus): once is enough.
                pane.app.stylesheet.update_nodes([pane], animate=True)
        self._lit = lit


__all__ = ["FOCUS_WITHIN", "PaneLight"]
