"""The border of the pane holding the focus, lit by a class on that pane alone.

A ``:focus-within`` rule makes Textual restyle the pane's whole subtree each time the focus enters
or leaves it, and the focused widget's own ``:focus`` restyles its subtree again: a Tab in and out
of the execution view restyled its five widgets twice each. Only the pane's border and title
change, so only the pane is restyled, once, as the focus moves (before the widgets hear of it:
what the restyle redraws, the pane's rows and scrollbar included, then goes into the Tab's first
frame, not a second one).
"""

from __future__ import annotations

from textual.widget import Widget

FOCUS_WITHIN = "-focus-within"
"""The class app.tcss lights a pane's border by, in place of ``:focus`` and ``:focus-within``."""


class PaneLight:
    """Moves :data:`FOCUS_WITHIN` to the pane that holds the focus, restyling only the panes it moves between.

    The panes given restyle nothing on their own focus (widgets.pane_focus): this is what lights them.
    """

    def __init__(self, *panes: Widget) -> None:
        self.panes = panes
        self._lit: Widget | None = None

    def follow(self, focused: Widget | None) -> None:
        """Called as the screen's focus moves."""
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
