"""What the execution tree keeps per listed execution: text-only stored labels, no stale snapshots.

Each line is drawn from its entry when shown (``TaskTree.render_label``); what a node stores is
only its label's text. These tests check the lines still look as they did, that a changed line
is still redrawn, and that a long session's listed executions cost what they should.
"""

from __future__ import annotations

import gc
import tracemalloc
from datetime import timedelta

from rich.style import Style
from textual.app import App, ComposeResult

from comfy_reality.runtime.models import Task, TaskStatus, TaskType, WorkflowExecution, utc_now
from comfy_reality.tui.state import KEEP_DETAIL, ExecutionEntry, ExecutionSummary, SessionState
from comfy_reality.tui.widgets import TaskTree
from comfy_reality.tui.widgets.task_tree import execution_label, node_label

from .helpers import screen_text, wait_for


class TreeApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TaskTree(id="tree")


def execution(index: int, status: TaskStatus = TaskStatus.COMPLETED) -> WorkflowExecution:
    start = utc_now() - timedelta(minutes=10) + timedelta(seconds=index)
    return WorkflowExecution(
        id=f"exec_{index:04d}",
        workflow_id=f"wf {index}",
        name=f"run {index}",
        status=status,
        created_at=start,
        started_at=start,
        completed_at=start + timedelta(seconds=1.5) if status.is_final else None,
        prompt_id=f"prompt-{index}",
    )


def node(index: int, status: TaskStatus) -> Task:
    return Task(
        id=f"node_{index}",
        type=TaskType.NODE,
        name="KSampler #3",
        class_type="KSampler",
        node_id="3",
        execution_id=f"exec_{index:04d}",
        status=status,
        value=4 if status is TaskStatus.COMPLETED else 1,
        max=4,
    )


async def test_stored_labels_are_text_only_and_the_lines_keep_their_look() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 12)) as pilot:
        tree = app.query_one(TaskTree)
        entry = ExecutionEntry(execution=execution(1), nodes={"node_1": node(1, TaskStatus.COMPLETED)})
        tree.update_entries([entry])
        await pilot.pause()
        branch = tree._branches[entry.id]
        leaf = tree._leaves["node_1"]
        for stored, full in ((branch, execution_label(entry)), (leaf, node_label(entry.nodes["node_1"]))):
            assert stored.label.spans == [] and not stored.label.style  # type: ignore[union-attr]
            assert str(stored.label) == full.plain
        # What is drawn is the styled line, from the entry: the ✓ in green, the time dim.
        drawn = tree.render_label(branch, Style(), Style())
        assert drawn.plain.endswith("✓ run 1  1.5s")
        assert any(str(span.style) == "green" for span in drawn.spans)
        assert "✓ run 1  1.5s" in screen_text(app)


async def test_a_folded_branch_keeps_no_stale_snapshot_and_opens_on_the_latest() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 12)) as pilot:
        tree = app.query_one(TaskTree)
        running = ExecutionEntry(execution=execution(1, TaskStatus.RUNNING))
        first = node(1, TaskStatus.RUNNING)
        running.nodes[first.id] = first
        tree.update_entries([running])
        assert tree._labelled.get(first.id) is first
        latest = node(1, TaskStatus.COMPLETED)
        running.nodes[latest.id] = latest
        running.execution = execution(1)
        tree.update_entries([running])  # folded: not relabelled, and the old snapshot let go
        assert first not in tree._labelled.values()
        assert str(tree._leaves[first.id].label).startswith("●")
        tree.focus()
        tree.select_execution(running.id)
        await pilot.press("right")  # open it: the row shows the latest snapshot
        await wait_for(pilot, lambda: "✓ KSampler #3" in screen_text(app))
        assert str(tree._leaves[first.id].label).startswith("✓ KSampler #3")


async def test_a_listed_compacted_execution_costs_under_800_bytes_in_the_tree() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 12)) as pilot:
        tree = app.query_one(TaskTree)
        summaries = [
            ExecutionSummary.of(
                ExecutionEntry(execution=execution(i), nodes={f"node_{i}": node(i, TaskStatus.COMPLETED)})
            )
            for i in range(500)
        ]
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            tree.update_entries(summaries)
            gc.collect()
            per_branch = (tracemalloc.get_traced_memory()[0] - before) / len(summaries)
        finally:
            tracemalloc.stop()
        await pilot.pause()
        assert "✓ run 499  1.5s" in screen_text(app)  # newest first
        # With styled stored labels this was about 1,150 bytes a branch; 863 with a redraw key kept
        # for every finished branch (its line no longer changes by itself), 725 without.
        assert per_branch < 800, per_branch
        assert not tree._branch_keys


def test_finished_executions_beyond_a_panes_worth_are_compacted() -> None:
    session = SessionState()
    for index in range(KEEP_DETAIL + 1):
        done = execution(index)
        session.apply({}, {done.id: done})
    assert [s.id for s in session.compact()] == ["exec_0000"]
    assert sum(isinstance(e, ExecutionEntry) for e in session.entries.values()) == KEEP_DETAIL
    assert KEEP_DETAIL <= 40  # a tall pane's worth: the rest are off screen until scrolled to


async def test_each_new_execution_leaves_no_old_line_index_for_the_collector() -> None:
    """Every execution added rebuilds the tree's line index; the old one is freed at once.

    Tree's index (a line object and a path list per row) was kept alive by a reference cycle
    until a full collection: with 200 listed, each new run left about 200 rows of garbage, and
    the app's memory grew between collections (which wait for a quiet moment).
    """
    from textual.widgets._tree import _TreeLine

    def line_objects(tree: TaskTree) -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, _TreeLine) and o.node.tree is tree)

    app = TreeApp()
    async with app.run_test(size=(80, 12)) as pilot:
        tree = app.query_one(TaskTree)
        tree.update_entries([ExecutionSummary.of(ExecutionEntry(execution=execution(i))) for i in range(200)])
        await pilot.pause()
        gc.collect()
        gc.disable()
        try:
            for index in range(200, 210):
                tree.update_entries([ExecutionSummary.of(ExecutionEntry(execution=execution(index)))])
                assert len(tree._tree_lines) == index + 1  # the index rebuilt with the new row
            kept = line_objects(tree)
        finally:
            gc.enable()
        assert "✓ run 209  1.5s" in screen_text(app)  # newest first, as before
        # One index of 210 rows; ten rebuilds left about 2,000 rows for the collector before.
        assert kept <= 210 + 10, kept


async def test_a_finished_branch_keeps_no_redraw_key_and_still_shows_late_news() -> None:
    """A finished execution's line keeps no redraw key; news of it (a late history fold that
    moves its end) is compared as text, and the line shows it."""
    app = TreeApp()
    async with app.run_test(size=(80, 12)) as pilot:
        tree = app.query_one(TaskTree)
        running = execution(1, TaskStatus.RUNNING)
        tree.update_entries([ExecutionEntry(execution=running)])
        assert running.id in tree._branch_keys  # its clock ticks
        done = execution(1)
        tree.update_entries([ExecutionEntry(execution=done)])
        assert running.id not in tree._branch_keys
        await wait_for(pilot, lambda: "✓ run 1  1.5s" in screen_text(app))
        assert done.completed_at is not None
        later = done.model_copy(update={"completed_at": done.completed_at + timedelta(seconds=2)})
        tree.update_entries([ExecutionEntry(execution=later)])
        await wait_for(pilot, lambda: "✓ run 1  3.5s" in screen_text(app))
