"""Panes whose own focus restyles nothing: the screen lights the pane in use by a class.

Textual restyles a widget's whole subtree when its focus changes. The detail panes (the execution
view, the workflow preview) hold widgets with no rule that depends on the pane's focus, and the
pane's border is lit by the screen's ``-focus-within`` class (screens/main_focus.py), which
restyles the pane alone as the focus moves. A Tab in or out of one restyled its header, rows and
outputs for nothing, and a frame later drew its scrollbar and rows again.
"""

from __future__ import annotations

from textual.widget import Widget


class PaneLitByScreen(Widget):
    """Not restyled as it gains or loses the focus: no rule of its own or its contents depends on ``:focus``."""

    def watch_has_focus(self, _has_focus: bool) -> None:
        """Textual's restyles the subtree; the screen's class has already lit or dimmed the pane."""
