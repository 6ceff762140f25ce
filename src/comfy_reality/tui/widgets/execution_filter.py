"""The Executions pane's filter: type to keep only the runs whose name matches (letters in order)."""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Input

from ..burst_keys import focus_at_once
from .filter_field import FilterField
from .task_tree import TaskTree


class ExecutionFilter(FilterField):
    """Shown by ``/`` on the Executions pane; esc clears it, enter and ↓ go back to the tree."""

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
        # The rows follow each keystroke at once: the field and the rows change in one frame.
        super().__init__(
            lambda: tree,
            hides=True,
            clears=True,
            placeholder="filter executions…",
            id=id,
            classes="hidden",
            follow=tree.set_filter,
        )
        self.task_tree = tree

    async def open(self, box: Widget) -> None:
        """Show the field (mounted in ``box`` above the tree by the first /) and focus it before returning:
        the rest of a burst of keys is typed there."""
        if self.parent is None:
            await box.mount(self, before=self.task_tree)
        self.remove_class("hidden")
        focus_at_once(self)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()  # the tree followed the value as it changed (``follow``)
