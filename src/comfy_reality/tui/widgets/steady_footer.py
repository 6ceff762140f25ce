"""A Footer that changes its keys in place instead of rebuilding them.

Textual's Footer recomposes (unmounts and mounts a widget per key, then restyles each one) on
every change of focus. Moving between panes shows the same keys or a few different ones: that
rebuild was most of the time a Tab took. This footer does nothing when the keys it shows did not
change, and otherwise rewrites the keys it already has (adding or removing only the difference).
"""

from __future__ import annotations

from collections import defaultdict

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

FooterKeys = tuple[tuple[str, str, str, bool, str], ...]
KeyRow = tuple[str, str, str, str, bool, str]
"""What one FooterKey shows: key, key display, description, action, disabled, tooltip."""


def shown_keys(screen: Screen[object]) -> FooterKeys:
    """What the footer would show: each listed key, its action, label, whether enabled, its tooltip."""
    return tuple(
        (binding.key, binding.action, binding.description, enabled, tooltip)
        for (_, binding, enabled, tooltip) in screen.active_bindings.values()
        if binding.show or binding.key == screen.app.COMMAND_PALETTE_BINDING
    )


def key_rows(screen: Screen[object]) -> list[KeyRow] | None:
    """The keys as Footer.compose lays them out (one per action); None when it would group some."""
    by_action: defaultdict[str, list[tuple[str, str, str, bool, str]]] = defaultdict(list)
    for _, binding, enabled, tooltip in screen.active_bindings.values():
        if not binding.show:
            continue
        if binding.group is not None:
            return None  # grouped keys are laid out differently: left to Footer.compose
        display = screen.app.get_key_display(binding)
        by_action[binding.action].append((binding.key, display, binding.description, enabled, tooltip))
    return [
        (key, display, description, action, not enabled, tooltip)
        for action, rows in by_action.items()
        for key, display, description, enabled, tooltip in rows[:1]
    ]


class SteadyFooter(Footer):
    """The app's footer: its keys rewritten in place, and only when what it lists changes.

    Used without the command palette key (``show_command_palette=False``): every child is a plain
    FooterKey, in the order Footer.compose would yield them.
    """

    def __init__(self, *, show_command_palette: bool = True) -> None:
        super().__init__(show_command_palette=show_command_palette)
        self._shown: FooterKeys | None = None
        self._rebuild_due = False  # a recompose is scheduled: it reads the keys as they are then

    def compose(self) -> ComposeResult:
        """The screen's keys from the start: the first frame shows them (Footer waits for a binding
        change, then rebuilds, so its first frame is empty)."""
        self._bindings_ready = True
        self._shown = shown_keys(self.screen)
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                _compact_as_bound(widget, self.compact)
            yield widget

    def on_mount(self) -> None:
        super().on_mount()
        # The keys follow the focus in the same frame: the screen's binding signal comes a frame later,
        # so the first frame (focus set on mount) would show the keys of no pane.
        self.watch(self.screen, "focused", self._focus_moved, init=False)

    def _focus_moved(self) -> None:
        if self.screen.is_active:
            self.bindings_changed(self.screen)

    async def recompose(self) -> None:
        self._rebuild_due = False
        await super().recompose()

    def bindings_changed(self, screen: Screen[object]) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            super().bindings_changed(screen)
            return
        keys = shown_keys(screen)
        if keys == self._shown:
            return
        first = self._shown is None
        self._shown = keys
        if self._rebuild_due:
            return
        if first or not self._rewrite(screen):
            self._rebuild_due = True
            super().bindings_changed(screen)

    def _rewrite(self, screen: Screen[object]) -> bool:
        """Show the screen's keys in the FooterKeys already mounted; False when only a recompose can."""
        rows = key_rows(screen)
        if rows is None or (self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE):
            return False
        children = list(self.children)
        keys = [
            child
            for child in children
            if type(child) is FooterKey  # a disabled key has the -disabled class: still one of ours
            and not (child.has_class("-grouped") or child.has_class("-command-palette"))
        ]
        if len(keys) != len(children):
            return False  # not what this footer composed (grouped keys, labels): rebuild
        for widget, row in zip(keys, rows, strict=False):
            _rewrite_key(widget, row)
            if not widget.display:
                widget.display = True
        if len(rows) > len(keys):
            self.mount_all(
                _compact_as_bound(
                    FooterKey(
                        key, display, description, action, disabled=disabled, tooltip=tooltip
                    ).data_bind(compact=Footer.compact),
                    self.compact,
                )
                for key, display, description, action, disabled, tooltip in rows[len(keys) :]
            )
        for extra in keys[len(rows) :]:
            # Kept, hidden, for a pane with more keys: mounting one is a second layout later on.
            if extra.display:
                extra.display = False
        return True


def _compact_as_bound(key: FooterKey, compact: bool) -> FooterKey:
    """``key`` with the footer's compact state (and class) before it mounts, as its data binding leaves
    it: a FooterKey starts compact and the binding undoes it on mount, a restyle each way for every key
    (14 restyles, about 10 ms, before the first frame)."""
    key.set_reactive(FooterKey.compact, compact)
    key.set_class(compact, "-compact", update=False)
    return key


def _rewrite_key(widget: FooterKey, row: KeyRow) -> None:
    key, display, description, action, disabled, tooltip = row
    if (widget.key, widget.key_display, widget.description, widget.action) != (
        key,
        display,
        description,
        action,
    ):
        resized = (widget.key_display, widget.description) != (display, description)
        widget.key, widget.key_display, widget.description, widget.action = key, display, description, action
        widget.refresh(layout=resized)
    if widget._disabled != disabled:
        widget._disabled = disabled
        widget.set_class(disabled, "-disabled")
    if (widget.tooltip or "") != tooltip:
        widget.tooltip = tooltip or None


__all__ = ["SteadyFooter"]
