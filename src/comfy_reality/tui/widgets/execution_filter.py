"""The Executions pane's filter: type to keep only the runs whose name matches (letters in order)."""

from __future__ import annotations

from textual import events
from textual.widget import Widget
from textual.widgets import Input

from ..burst_keys import focus_at_once
from .steady_input import SteadyInput
from .task_tree import TaskTree


class ExecutionFilter(SteadyInput):
    """Shown by ``/`` on the Executions pane; esc clears it, enter goes back to the tree."""

    DEFAULT_CSS = """
    ExecutionFilter {
        border: none;
        height: 1;
        padding: 0 1;
    }
    ExecutionFilter:focus {
        border: none;  /* Input's own focus rule would draw a box two rows too tall for the field */
    }
    """

    def __init__(self, tree: TaskTree, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter executions…", id=id, classes="hidden")
        self.task_tree = tree

    async def open(self, box: Widget) -> None:
        """Show the field (mounted in ``box`` above the tree by the first /) and focus it before returning:
        the rest of a burst of keys is typed there."""
        if self.parent is None:
            await box.mount(self, before=self.task_tree)
        self.remove_class("hidden")
        focus_at_once(self)

    def _watch_value(self, value: str) -> None:
        # The rows follow the keystroke at once, not on the Changed message that follows it:
        # the field and the rows then change in one frame, not in two a frame interval apart.
        super()._watch_value(value)
        self.task_tree.set_filter(value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.task_tree.set_filter(event.value)  # already done as the value changed: nothing to do

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.add_class("hidden")
        self.task_tree.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.value = ""
            self.add_class("hidden")
            self.task_tree.focus()
        elif event.key == "down":
            event.stop()
            self.task_tree.focus()
