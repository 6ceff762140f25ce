"""A Footer whose keys are one line of text: a change of keys repaints one line, with no layout.

Textual's Footer is a row of ``FooterKey`` widgets, each as wide as its text. On every change of
focus it recomposes them (unmount, mount, restyle), and keys of new widths need a layout of the
whole screen, then a second one after the frame: resizing a key sets the footer's virtual size,
a reactive that asks for another layout. Each Tab paid for both, however few keys changed.

Here the footer holds a single :class:`KeyLine` as wide as the footer. It draws the keys itself,
with the same text, styles and order as Textual's FooterKeys (same component classes and CSS
variables), so the screen looks the same; new keys are a repaint of that line, never a layout.
Clicking a key presses it, hovering highlights it (and shows its tooltip) and the mouse wheel
scrolls keys that do not fit, as in Textual's Footer. Unlike it, a key that does not fit whole is
left off rather than cut ("^p Pal"): the wheel scrolls by whole keys. Key groups are not drawn as groups (the
app's screens define none).
"""

from __future__ import annotations

from typing import NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer


class FooterEntry(NamedTuple):
    """One key the footer shows (the first binding of its action, as Textual's Footer shows it)."""

    key: str
    display: str
    description: str
    enabled: bool
    tooltip: str


def footer_entries(screen: Screen[object]) -> tuple[FooterEntry, ...]:
    """The screen's keys as Footer.compose lists them: shown bindings, one per action, in order."""
    entries: dict[str, FooterEntry] = {}
    for _, binding, enabled, tooltip in screen.active_bindings.values():
        if binding.show and binding.action not in entries:
            display = screen.app.get_key_display(binding)
            entries[binding.action] = FooterEntry(binding.key, display, binding.description, enabled, tooltip)
    return tuple(entries.values())


class KeyLine(Widget):
    """The footer's keys drawn as one line, cell for cell as Textual's FooterKeys draw them."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer-key--key", "footer-key--description", "key-line--hover"}
    # FooterKey's own CSS: the styles and variables a theme sets for footer keys.
    DEFAULT_CSS = """
    KeyLine {
        width: 1fr;
        height: 1;
        text-wrap: nowrap;
        text-overflow: clip;
        background: $footer-item-background;
        .footer-key--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
            padding: 0 1;
        }
        .footer-key--description {
            padding: 0 1 0 0;
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .key-line--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
    }
    """

    def __init__(self, entries: tuple[FooterEntry, ...] = ()) -> None:
        super().__init__()
        self.entries = entries
        self._hovered: int | None = None
        self._scrolled = 0  # keys scrolled off the left by the mouse wheel
        self._spans: list[tuple[int, int]] = []  # each shown key's cells, from the line's start

    def show(self, entries: tuple[FooterEntry, ...]) -> None:
        """Draw these keys instead (a repaint of the line)."""
        if entries != self.entries:
            self.entries = entries
            self._hovered = None
            self._scrolled = 0
            if self.tooltip is not None:
                self.tooltip = None
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("footer-key--key")
        description_style = self.get_component_rich_style("footer-key--description")
        key_padding = self.get_component_styles("footer-key--key").padding
        description_padding = self.get_component_styles("footer-key--description").padding
        base = self.rich_style
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int]] = []
        width = self.size.width
        for index in range(self._scrolled, len(self.entries)):
            start = line.cell_len
            styles = (base, key_style, description_style)
            if index == self._hovered:
                styles = _hovered(styles, self.get_component_rich_style("key-line--hover"))
            key_text = _entry_text(
                self.entries[index], styles, key_padding.left, key_padding.right, description_padding
            )
            if start + key_text.cell_len > width:
                break  # whole keys only: "^p Pal" would name nothing
            line.append_text(key_text)
            spans.append((start, line.cell_len))
        self._spans = spans
        return line

    def _entry_at(self, x: int) -> int | None:
        found = next((index for index, (start, end) in enumerate(self._spans) if start <= x < end), None)
        return None if found is None else found + self._scrolled

    def on_mouse_move(self, event: events.MouseMove) -> None:
        hovered = self._entry_at(event.x)
        if hovered != self._hovered:
            self._hovered = hovered
            self.tooltip = self.entries[hovered].tooltip or None if hovered is not None else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hovered is not None:
            self._hovered = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = self._entry_at(event.x)
        if index is None:
            return
        entry = self.entries[index]
        if entry.enabled:
            self.app.simulate_key(entry.key)
        else:
            self.app.bell()

    def _scroll_keys(self, keys: int) -> bool:
        """Scroll by whole keys, as far as the last key coming into view."""
        left_off = len(self.entries) - self._scrolled - len(self._spans)
        scrolled = max(0, self._scrolled + min(keys, left_off))
        if scrolled == self._scrolled:
            return False
        self._scrolled = scrolled
        self.refresh()
        return True

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if self._scroll_keys(1):
            event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self._scroll_keys(-1):
            event.stop()


def _hovered(styles: tuple[Style, Style, Style], hover: Style) -> tuple[Style, Style, Style]:
    """A hovered key: FooterKey:hover's colour and background under the key's own styles."""
    base, key_style, description_style = styles
    background = Style(bgcolor=hover.bgcolor)
    return base + hover, key_style + background, description_style + background


def _entry_text(
    entry: FooterEntry,
    styles: tuple[Style, Style, Style],
    key_left: int,
    key_right: int,
    description_padding: tuple[int, int, int, int],
) -> Text:
    """One key as FooterKey.render draws it (a disabled key dimmed, as its -disabled class does)."""
    base, key_style, description_style = styles
    if entry.description:
        _, description_right, _, description_left = description_padding
        text = Text.assemble(
            (" " * key_left + entry.display + " " * key_right, key_style),
            (" " * description_left + entry.description + " " * description_right, description_style),
        )
    else:
        text = Text.assemble((entry.display, key_style))
    text.stylize_before(base if entry.enabled else base + Style(dim=True))
    return text


class SteadyFooter(Footer):
    """The app's footer: its keys one :class:`KeyLine`, redrawn only when what it lists changes.

    The keys follow the focus in the frame that moves it (Footer waits for the screen's binding
    signal, a frame later, then rebuilds). Used without the command palette key.
    """

    def __init__(self, *, show_command_palette: bool = True) -> None:
        super().__init__(show_command_palette=show_command_palette)
        self.key_line = KeyLine()

    def compose(self) -> ComposeResult:
        """The screen's keys from the start: the first frame shows them (Footer's first is empty)."""
        self._bindings_ready = True
        self.key_line.entries = footer_entries(self.screen)
        yield self.key_line

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.screen, "focused", self._focus_moved, init=False)

    def _focus_moved(self) -> None:
        if self.screen.is_active:
            self.bindings_changed(self.screen)

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.key_line.show(footer_entries(screen))


__all__ = ["FooterEntry", "KeyLine", "SteadyFooter", "footer_entries"]
