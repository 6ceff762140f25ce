"""Panes whose focus restyles the pane alone, not the widgets inside it.

Textual restyles a widget's whole subtree when its focus changes. The detail panes (the execution
view, the workflow preview) hold widgets with no rule that depends on the pane's focus: only the
pane's border changes, so a Tab in or out of one restyled its header, rows and outputs for nothing.
"""

from __future__ import annotations

from textual.widget import Widget


class FocusRestylesPane(Widget):
    """Restyles only itself (and its scrollbars) as it gains or loses the focus."""

    def watch_has_focus(self, _has_focus: bool) -> None:
        if self.is_attached:
            self.app.stylesheet.update_nodes([self], animate=True)
