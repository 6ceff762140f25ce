"""Executions of the session, newest first, with their node tasks as children."""

from __future__ import annotations

from dataclasses import dataclass

from rich.control import strip_control_codes
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...runtime.models import Task
from .. import format as fmt
from ..state import ExecutionEntry


@dataclass(frozen=True)
class TreeRef:
    execution_id: str
    task_id: str | None = None  # None for the execution's own branch


def execution_label(entry: ExecutionEntry) -> Text:
    state = entry.state_key
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append_text(fmt.icon_text(state))
    text.append(" ")
    text.append(fmt.plain(entry.title, one_line=True), style="bold" if state == "running" else "")
    execution = entry.execution
    if entry.rejected:
        text.append("  rejected", style="red")
    elif execution.status.is_final:
        text.append(f"  {fmt.duration(execution.duration)}", style="dim")
    elif execution.started_at is not None:
        text.append(f"  {fmt.duration((fmt.now() - execution.started_at).total_seconds())}", style="yellow")
    else:
        text.append("  queued", style="dim")
    if execution.retry_of:
        text.append("  ↻", style="dim")
    server_name = execution.metadata.get("server_name")  # set by a pool of several servers
    if isinstance(server_name, str):
        text.append(f"  @{strip_control_codes(server_name)}", style="dim")
    return text


def node_label(task: Task) -> Text:
    state = fmt.task_state(task)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append_text(fmt.icon_text(state))
    text.append(" ")
    text.append(
        f"{fmt.plain(task.class_type or task.name, one_line=True)} ",
        style="dim" if state == "pending" else "",
    )
    text.append(f"#{fmt.plain(task.node_id, one_line=True)}", style="dim")
    if state == "running" and task.max:
        text.append(f"  {fmt.number(task.value)}/{fmt.number(task.max)}", style="yellow")
    elif state in ("cached", "failed", "cancelled"):
        text.append(f"  {state}", style=fmt.RICH_STATUS_STYLE[state])
    return text


def _relabel(node: TreeNode[TreeRef], label: Text) -> None:
    """Set a label only when it differs: every set_label repaints the line."""
    if node.label != label:
        node.set_label(label)


class TaskTree(Tree[TreeRef]):
    """Selecting (highlighting) a branch drives the detail pane through :class:`TaskTree.ExecutionSelected`."""

    class ExecutionSelected(Message):
        """The cursor moved onto an execution (or off all of them)."""

        def __init__(self, execution_id: str | None) -> None:
            super().__init__()
            self.execution_id = execution_id

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TaskTree.ExecutionSelected)

    HELP = """\
## Executions

Every run of this session, newest first. Each branch is one prompt on the
server; its children are the prompt's nodes.

- **↑/↓** move, **→/←** expand/collapse, **enter** toggle
- **x** cancel (interrupt if running, remove from the queue if pending)
- **t** retry a failed or cancelled run
- **o** save the outputs of a completed run
"""

    BINDINGS = [
        Binding("right", "expand_node", "Expand", show=False, id="tree.expand"),
        Binding("left", "collapse_node", "Collapse", show=False, id="tree.collapse"),
    ]

    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("executions", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._branches: dict[str, TreeNode[TreeRef]] = {}
        self._leaves: dict[str, TreeNode[TreeRef]] = {}
        self._labelled: dict[str, Task] = {}
        """The task snapshot each leaf's label was drawn from: a batch brings new snapshots only for what moved."""
        self._entries: dict[str, ExecutionEntry] = {}

    @property
    def selected_execution_id(self) -> str | None:
        node = self.cursor_node
        return node.data.execution_id if node is not None and node.data is not None else None

    def update_entries(self, entries: list[ExecutionEntry]) -> None:
        cursor = self.cursor_node
        added = False
        for entry in entries:
            self._entries[entry.id] = entry
            branch = self._branches.get(entry.id)
            if branch is None:
                first = self.root.children[0] if self.root.children else None
                branch = self.root.add(
                    execution_label(entry),
                    TreeRef(entry.id),
                    before=first,
                    expand=False,
                    allow_expand=bool(entry.nodes),
                )
                self._branches[entry.id] = branch
                added = True
            else:
                _relabel(branch, execution_label(entry))
            if entry.nodes:
                branch.allow_expand = True
            labelled = self._labelled
            for task in entry.nodes.values():
                if labelled.get(task.id) is task:
                    continue  # the same snapshot as last time: its line has not changed
                labelled[task.id] = task
                leaf = self._leaves.get(task.id)
                if leaf is None:
                    self._leaves[task.id] = branch.add_leaf(node_label(task), TreeRef(entry.id, task.id))
                else:
                    _relabel(leaf, node_label(task))
        if added and cursor is not None:
            # New branches go on top; keep the cursor on the node it was on, not on its old line.
            self._tree_lines  # noqa: B018 - rebuilds the line index so the node knows its line
            self.move_cursor(cursor)

    def remove_entries(self, execution_ids: list[str]) -> None:
        for execution_id in execution_ids:
            entry = self._entries.pop(execution_id, None)
            branch = self._branches.pop(execution_id, None)
            if entry is not None:
                for task_id in entry.nodes:
                    self._leaves.pop(task_id, None)
                    self._labelled.pop(task_id, None)
            if branch is not None:
                branch.remove()

    def refresh_running(self) -> None:
        """Redraw the elapsed time of executions that are still going."""
        for execution_id, entry in self._entries.items():
            if not entry.rejected and not entry.status.is_final:
                _relabel(self._branches[execution_id], execution_label(entry))

    def select_execution(self, execution_id: str) -> None:
        branch = self._branches.get(execution_id)
        if branch is not None:
            self.move_cursor(branch)

    def action_expand_node(self) -> None:
        """→ opens the branch under the cursor (Textual's Tree has no such action of its own)."""
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()

    def action_collapse_node(self) -> None:
        """← closes the branch, or from a node goes to its execution's line."""
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[TreeRef]) -> None:
        event.stop()
        data = event.node.data
        self.post_message(self.ExecutionSelected(data.execution_id if data else None))
