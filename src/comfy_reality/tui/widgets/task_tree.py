"""Executions of the session, newest first, with their node tasks as children."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.control import strip_control_codes
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from .. import format as fmt
from ..state import ExecutionSummary, SessionEntry

if TYPE_CHECKING:
    from ...runtime.models import Task

TOGGLE_STYLE = Style.from_meta({"toggle": True})
DRAWN_LINES_CACHED = 256
"""Drawn lines kept ready (several tall panes' worth; a resize grows it to the height): Tree keeps
1,024, and every batch that relabels a row makes the kept ones stale, so a long session filled it
with lines no longer shown, each a Strip of about a kilobyte."""
"""What makes a click on the ▸ icon fold the branch (as Textual's own labels do)."""


@dataclass(frozen=True, slots=True)
class TreeRef:
    execution_id: str
    task_id: str | None = None  # None for the execution's own branch


def fit(name: Text, tail: Text, room: int | None) -> Text:
    """``name`` + ``tail`` in ``room`` cells: the name is cut (with …) so the tail (status, time, id) stays whole."""
    if room is not None and name.cell_len + tail.cell_len > room:
        name = name.copy()
        name.truncate(max(room - tail.cell_len, 3), overflow="ellipsis")
    return Text.assemble(name, tail, no_wrap=True, overflow="ellipsis")


def execution_label(entry: SessionEntry, room: int | None = None, query: str = "") -> Text:
    state = entry.state_key
    name = Text(no_wrap=True)
    name.append_text(fmt.icon_text(state))
    name.append(" ")
    title = fmt.plain(entry.title, one_line=True)
    positions = fmt.fuzzy_positions(query, title) if query else None
    name.append_text(fmt.highlighted(title, positions, "bold" if state == "running" else ""))
    text = Text(no_wrap=True)
    if entry.rejected:
        text.append("  rejected", style="red")
    elif entry.status.is_final:
        text.append(f"  {fmt.duration(entry.duration)}", style="dim")
    elif entry.started_at is not None:
        # Whole seconds: the label moves on with the one-second tick, so tenths would lag behind.
        text.append(f"  {fmt.elapsed((fmt.now() - entry.started_at).total_seconds())}", style="yellow")
    else:
        text.append("  queued", style="dim")
    if entry.retry_of:
        text.append("  ↻", style="dim")
    server_name = entry.server_name  # set by a pool of several servers
    if isinstance(server_name, str):
        text.append(f"  @{strip_control_codes(server_name)}", style="dim")
    return fit(name, text, room)


def node_label(task: Task, room: int | None = None) -> Text:
    state = fmt.task_state(task)
    name = Text(no_wrap=True)
    name.append_text(fmt.icon_text(state))
    name.append(" ")
    name.append(
        fmt.plain(task.class_type or task.name, one_line=True), style="dim" if state == "pending" else ""
    )
    # The node id stays whole: two "CLIPTextEncode" rows differ only by it.
    text = Text(no_wrap=True)
    text.append(f" #{fmt.plain(task.node_id, one_line=True)}", style="dim")
    if state == "running" and task.max:
        text.append(f"  {fmt.number(task.value)}/{fmt.number(task.max)}", style="yellow")
    elif state == "cancelled" and task.max and task.value:
        # Where it stopped: "KSampler #3  32/50 cancelled".
        text.append(f"  {fmt.number(task.value)}/{fmt.number(task.max)}", style="dim")
        text.append(" cancelled", style=fmt.RICH_STATUS_STYLE[state])
    elif state in ("cached", "failed", "cancelled"):
        text.append(f"  {state}", style=fmt.RICH_STATUS_STYLE[state])
    return fit(name, text, room)


def branch_key(entry: SessionEntry) -> tuple[object, ...]:
    """What an execution's line shows but its running clock, which the 1 s tick advances."""
    return (
        entry.state_key,
        entry.title,
        entry.duration if entry.status.is_final else None,
        entry.started_at is None,
        entry.retry_of,
        entry.server_name,
    )


def _relabel(node: TreeNode[TreeRef], label: Text) -> None:
    """Set a label only when its text differs: every set_label repaints the line.

    The stored label is text only (see :meth:`TaskTree.process_label`). Its text says everything
    its look depends on: the state's icon leads every line, and the rest is styled by what it says.
    """
    if str(node.label) != label.plain:
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

- **↑/↓** or **j/k** move, **g/G** first/last
- **→/←** expand/collapse (← on a node goes back to its execution), **enter** toggle
- **/** filter the executions (fuzzy: letters in order)
- **x** cancel (interrupt if running, remove from the queue if pending)
- **t** retry a failed or cancelled run
- **o** save the outputs of a completed run
- **y** copy the prompt id · **Y** copy the error · **p** copy the output path

**h** (History) and **l** (Log) keep their meaning here; use ←/→ to fold.
"""

    BINDINGS = [
        Binding("right", "expand_node", "Expand", show=False, id="tree.expand"),
        Binding("left", "collapse_node", "Collapse", show=False, id="tree.collapse"),
        Binding("j", "cursor_down", "Down", show=False, id="tree.down"),
        Binding("k", "cursor_up", "Up", show=False, id="tree.up"),
        Binding("g", "scroll_home", "First", show=False, id="tree.first"),
        Binding("G", "scroll_end", "Last", show=False, id="tree.last"),
    ]

    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)
    """As Widget's, without a layout of the screen when the rows change (see :meth:`watch_virtual_size`)."""

    def __init__(self, *, id: str | None = None) -> None:
        # A Text, not a str: a str root label is parsed as markup, which loads Rich's markup and
        # emoji tables (about 3 ms) before the first frame for a label that is never shown.
        super().__init__(Text("executions"), id=id)
        # Set without their watchers (nor the mount's first call of them): a tree not yet mounted has no
        # lines to rebuild, and each watcher's first call inspects its signature, before the first frame.
        self.set_reactive(TaskTree.show_root, False)
        self.set_reactive(TaskTree.guide_depth, 2)
        self._line_cache = LRUCache(DRAWN_LINES_CACHED)
        self._branches: dict[str, TreeNode[TreeRef]] = {}
        self._leaves: dict[str, TreeNode[TreeRef]] = {}
        self._branch_keys: dict[str, tuple[object, ...]] = {}
        """What each branch's label was drawn from (see :func:`branch_key`): a batch moving only the
        clock does not redraw it (the clock alone ticked it ten times a second)."""
        self._labelled: dict[str, Task] = {}
        """The task snapshot each leaf's label was drawn from: a batch brings new snapshots only for what moved."""
        self._entries: dict[str, SessionEntry] = {}
        self.filter_query = ""
        """Only executions whose name matches it (letters in order) have a branch; "" shows all."""

    @property
    def selected_execution_id(self) -> str | None:
        node = self.cursor_node
        return node.data.execution_id if node is not None and node.data is not None else None

    def update_entries(self, entries: Sequence[SessionEntry]) -> None:
        cursor = self.cursor_node
        added = False
        for entry in entries:
            self._entries[entry.id] = entry
            if self.filter_query and fmt.fuzzy_positions(self.filter_query, entry.title) is None:
                continue  # filtered out: kept, and shown again when the filter changes
            branch = self._branches.get(entry.id)
            if branch is None:
                first = self.root.children[0] if self.root.children else None
                branch = self.root.add(
                    execution_label(entry),
                    TreeRef(entry.id),
                    before=first,
                    expand=False,
                    allow_expand=entry.node_count > 0,
                )
                self._branches[entry.id] = branch
                self._keep_branch_key(entry, branch_key(entry))
                added = True
            elif self._branch_keys.get(entry.id) != (key := branch_key(entry)):
                self._keep_branch_key(entry, key)
                _relabel(branch, execution_label(entry))
            if entry.node_count:
                branch.allow_expand = True
            labelled = self._labelled
            shown = branch.is_expanded
            for task in entry.nodes.values():
                if labelled.get(task.id) is task:
                    continue  # the same snapshot as last time: its line has not changed
                leaf = self._leaves.get(task.id)
                if leaf is None:
                    labelled[task.id] = task
                    self._leaves[task.id] = branch.add_leaf(node_label(task), TreeRef(entry.id, task.id))
                elif shown:
                    labelled[task.id] = task
                    _relabel(leaf, node_label(task))
                else:
                    # A folded branch's rows are not on screen: relabelled when it opens
                    # (on_tree_node_expanded). The stale snapshot is not kept meanwhile.
                    labelled.pop(task.id, None)
        if added and cursor is not None:
            # New branches go on top; keep the cursor on the node it was on, not on its old line.
            self._tree_lines  # noqa: B018 - rebuilds the line index so the node knows its line
            self.move_cursor(cursor)

    def _keep_branch_key(self, entry: SessionEntry, key: tuple[object, ...]) -> None:
        """Kept while the execution runs (its clock ticks); a finished one's line no longer changes
        by itself, so it keeps none (hundreds are listed) and news of it is compared as text."""
        if entry.status.is_final:
            self._branch_keys.pop(entry.id, None)
        else:
            self._branch_keys[entry.id] = key

    def set_filter(self, query: str) -> None:
        """Keep only the executions whose name matches ``query``; the rows are rebuilt newest first."""
        query = query.strip()
        if query == self.filter_query:
            return
        self.filter_query = query
        selected = self.selected_execution_id
        matching = {
            execution_id
            for execution_id, entry in self._entries.items()
            if not query or fmt.fuzzy_positions(query, entry.title) is not None
        }
        if matching <= self._branches.keys():
            # A keystroke that keeps or narrows the list: the rows that stay are not rebuilt
            # (with a 500-node execution listed, that was 500 rows and two layouts a keystroke).
            for execution_id in self._branches.keys() - matching:
                self._drop_branch(execution_id)
            self._line_cache.clear()  # the query's letters are highlighted in the names
            self.refresh()
        else:
            for branch in self._branches.values():
                branch.remove()
            self._branches.clear()
            self._branch_keys.clear()
            self._leaves.clear()
            # Oldest first: each new branch goes on top, so the newest ends up first.
            self.update_entries(sorted(self._entries.values(), key=lambda e: e.created_at))
        self.border_subtitle = f"filter: {query}" if query else ""
        if selected in self._branches:
            self.select_execution(selected)
        elif self.root.children:
            self.move_cursor(self.root.children[0])

    def _drop_branch(self, execution_id: str) -> None:
        """Take an execution's branch off the tree (its entry stays: a filter may show it again)."""
        branch = self._branches.pop(execution_id)
        self._branch_keys.pop(execution_id, None)
        entry = self._entries.get(execution_id)
        if entry is not None:
            for task_id in entry.nodes:
                self._leaves.pop(task_id, None)
                self._labelled.pop(task_id, None)
        branch.remove()

    def remove_entries(self, execution_ids: list[str]) -> None:
        for execution_id in execution_ids:
            entry = self._entries.pop(execution_id, None)
            branch = self._branches.pop(execution_id, None)
            self._branch_keys.pop(execution_id, None)
            if entry is not None:
                for task_id in entry.nodes:
                    self._leaves.pop(task_id, None)
                    self._labelled.pop(task_id, None)
            if branch is not None:
                branch.remove()

    def compact_entries(self, summaries: list[ExecutionSummary]) -> None:
        """Executions compacted by the session: their node lines go (read back when one is selected)."""
        for summary in summaries:
            old = self._entries.get(summary.id)
            if old is None:
                continue
            self._entries[summary.id] = summary
            for task_id in old.nodes:
                self._leaves.pop(task_id, None)
                self._labelled.pop(task_id, None)
            branch = self._branches.get(summary.id)
            if branch is not None and branch.children:
                branch.collapse()
                branch.remove_children()

    def refresh_running(self) -> None:
        """Redraw the elapsed time of executions that are still going."""
        for execution_id, entry in self._entries.items():
            branch = self._branches.get(execution_id)
            if branch is not None and not entry.rejected and not entry.status.is_final:
                _relabel(branch, execution_label(entry))

    def select_execution(self, execution_id: str) -> None:
        branch = self._branches.get(execution_id)
        if branch is not None:
            self.move_cursor(branch)

    EMPTY = "No runs yet: press r to run the selected workflow (e edits its inputs first)."

    def _invalidate(self) -> None:
        """As Tree's (a branch opened or closed, rows added or removed), without a layout.

        The pane's size comes from the stylesheet, not from its rows: the rows are rebuilt on
        idle and only the scroll extent follows them (:meth:`watch_virtual_size`). Opening a
        500-node branch laid out the whole screen, then drew the tree a frame later.
        """
        self._clear_line_cache()
        self._updates += 1
        self.root._reset()
        self.refresh()

    def _clear_line_cache(self) -> None:
        """As Tree's, and the old line index is emptied at once instead of left to the collector.

        Tree builds its line index (a line and a path list per row) in a recursive inner function
        that refers to itself: a reference cycle that keeps each index alive after it is replaced,
        until a full collection. Every execution added rebuilds the index, so with hundreds listed
        each run left hundreds of rows of garbage behind, and the app's memory grew between
        collections (which wait for a quiet moment: see ``gc_tuning``).
        """
        old_lines = self._tree_lines_cached
        super()._clear_line_cache()
        if old_lines is not None:
            old_lines.clear()

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        """As ScrollView's, without redrawing the scrollbar when a layout leaves the pane as it was.

        ScrollView compares the size of the pane's parent with its own content size, which always
        differ: every layout (a detail pane swapped by Tab, another execution shown) redrew the
        scrollbar in a frame of its own after the layout's. Rows that change the scroll extent
        update it themselves (:meth:`watch_virtual_size`).
        """
        if self._size == size and self._container_size == size - self.styles.gutter.totals:
            return False
        return super()._size_updated(size, virtual_size, container_size, layout)

    def watch_virtual_size(self, size: Size) -> None:
        """The rows changed: the scrollbar follows; a layout only if it appears or goes."""
        if self.is_mounted:
            self._scroll_update(size)
            self.refresh()

    def notify_style_update(self) -> None:
        """A restyle (focus moving in or out, a theme) changes colours, not rows: repaint the lines.

        Tree's own rebuilds the line index and re-lays out, which with hundreds of executions was
        most of what a Tab cost. Rules that change a size re-lay out through the styles themselves.
        """
        Widget.notify_style_update(self)
        self._line_cache.clear()  # the drawn lines; the line index (Tree._clear_line_cache drops it too) stays
        self.refresh()

    def render_label(self, node: TreeNode[TreeRef], base_style: Style, style: Style) -> Text:
        """Labels fitted to the pane's width: names are cut, status, time and node id never."""
        data = node.data
        entry = self._entries.get(data.execution_id) if data is not None else None
        if entry is not None and data is not None:
            # Branches sit at the left edge after the ▸ icon; nodes after one guide.
            indent = 2 if data.task_id is None else self.guide_depth
            room = self.scrollable_content_region.width - indent
            task = entry.nodes.get(data.task_id) if data.task_id is not None else None
            if data.task_id is None:
                label = execution_label(entry, room, self.filter_query)
            elif task is not None:
                label = node_label(task, room)
            else:
                return super().render_label(node, base_style, style)
            label.stylize(style)
            if node.allow_expand:
                icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
                return Text.assemble((icon, base_style + TOGGLE_STYLE), label)
            return label
        return super().render_label(node, base_style, style)

    def process_label(self, label: str | Text) -> Text:
        """What a node stores: its label's first line as text alone, without spans or styles.

        Every line is drawn from its entry (:meth:`render_label`); the stored label only gives the
        line's width and tells a changed line (:func:`_relabel`). A styled label's spans were
        about a quarter of a listed execution's branch (1,165 -> 885 bytes by tracemalloc).
        """
        first_line = super().process_label(label)
        return Text(first_line.plain) if first_line.spans or first_line.style else first_line

    def get_label_width(self, node: TreeNode[TreeRef]) -> int:
        """The stored label's width: labels are fitted to the pane when drawn (and x never scrolls).

        Tree's own renders every label of every open line each time the line index is rebuilt
        (a branch added, one opened): with hundreds of rows that was most of an expand.
        """
        label = node.label
        return (label.cell_len if isinstance(label, Text) else len(label)) + 2

    def render_line(self, y: int) -> Strip:
        """An empty pane says what to do instead of staying blank."""
        if self.root.children:
            return super().render_line(y)
        width = self.size.width
        empty = (
            f"No execution matches {self.filter_query!r}: esc clears the filter."
            if self.filter_query
            else self.EMPTY
        )
        lines = Text(empty, style="dim italic").wrap(self.app.console, max(width - 1, 1))
        if y >= len(lines) or width <= 1:
            return Strip.blank(width, self.rich_style)
        line = Text(" ").append_text(lines[y])
        return (
            Strip(list(line.render(self.app.console))).adjust_cell_length(width).apply_style(self.rich_style)
        )

    def action_expand_node(self) -> None:
        """→: open the execution's branch; on an open branch, step onto its first node."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.is_expanded and node.children:
            self.move_cursor(node.children[0])

    def action_collapse_node(self) -> None:
        """←: close an open branch; on a node (or a closed branch), step back to its execution."""
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[TreeRef]) -> None:
        """The rows of a branch that changed while it was folded get their labels now."""
        data = event.node.data
        entry = self._entries.get(data.execution_id) if data is not None else None
        if entry is None or data is None or data.task_id is not None:
            return
        labelled = self._labelled
        for task in entry.nodes.values():
            leaf = self._leaves.get(task.id)
            if leaf is not None and labelled.get(task.id) is not task:
                labelled[task.id] = task
                _relabel(leaf, node_label(task))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[TreeRef]) -> None:
        event.stop()
        data = event.node.data
        self.post_message(self.ExecutionSelected(data.execution_id if data else None))
