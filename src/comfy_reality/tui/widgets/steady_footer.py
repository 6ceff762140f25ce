"""A Footer that rebuilds its keys only when the keys it shows change.

Textual's Footer recomposes (unmounts and mounts a widget per key, then restyles them) on every
change of focus, though moving between panes of one screen mostly shows the same keys: that was
about a fifth of the time a Tab took.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

FooterKeys = tuple[tuple[str, str, str, bool, str], ...]


def shown_keys(screen: Screen[object]) -> FooterKeys:
    """What the footer would show: each listed key, its action, label, whether enabled, its tooltip."""
    return tuple(
        (binding.key, binding.action, binding.description, enabled, tooltip)
        for (_, binding, enabled, tooltip) in screen.active_bindings.values()
        if binding.show or binding.key == screen.app.COMMAND_PALETTE_BINDING
    )


class SteadyFooter(Footer):
    """The app's footer: recomposed only when what it lists differs from what it shows."""

    def __init__(self, *, show_command_palette: bool = True) -> None:
        super().__init__(show_command_palette=show_command_palette)
        self._shown: FooterKeys | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            super().bindings_changed(screen)
            return
        keys = shown_keys(screen)
        if keys == self._shown:
            return
        self._shown = keys
        super().bindings_changed(screen)


__all__ = ["SteadyFooter"]
