"""A filter box that hands the focus back to its list on enter, esc and ↓, in the key's turn.

Its leaving actions are marked with :func:`~comfy_reality.tui.burst_keys.moves_focus`: in a
burst ("/chain", enter, "j"), the keys after the one that leaves the box go to the list, not
into the box. Enter posts no Submitted: the rows already follow every change of the value.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.widget import Widget

from ..burst_keys import focus_at_once, moves_focus
from .steady_input import SteadyInput


class FilterField(SteadyInput):
    """Enter and ↓ go back to the list; esc clears the filter too where ``clears`` is set.

    ``hides``: the box is hidden once it is left empty (it is shown again by ``/``). ``follow``
    is called as the value changes, not on the Changed message after it: the rows are then
    filtered before the next key of a burst is handed on, and drawn in the keystroke's frame.
    """

    BINDINGS = [
        Binding("escape", "leave(True)", "Clear filter", show=False, id="filter.clear"),
        Binding("down", "leave", "To the list", show=False, id="filter.to_list"),
    ]

    def __init__(
        self,
        back_to: Callable[[], Widget],
        *,
        hides: bool,
        clears: bool,
        placeholder: str,
        id: str | None,
        classes: str | None = None,
        compact: bool = False,
        follow: Callable[[str], object] | None = None,
    ) -> None:
        super().__init__(placeholder=placeholder, id=id, classes=classes, compact=compact)
        self.back_to = back_to
        self.hides = hides
        self.clears = clears
        self.follow = follow

    def _watch_value(self, value: str) -> None:
        super()._watch_value(value)
        if self.follow is not None:
            self.follow(value)

    @moves_focus
    async def action_submit(self) -> None:
        self._leave(hide=True)

    @moves_focus
    def action_leave(self, clear: bool = False) -> None:
        if clear and self.clears:
            self.value = ""
        self._leave(hide=clear)

    def _leave(self, *, hide: bool) -> None:
        if hide and self.hides and not self.value:
            self.add_class("hidden")
        focus_at_once(self.back_to())
