"""What keeps keys cheap with big graphs: what a Tab or a batch leaves untouched stays untouched."""

from __future__ import annotations

import dataclasses
import gc
from datetime import UTC, datetime, timedelta

from comfy_reality.runtime.models import TaskStatus, WorkflowExecution
from comfy_reality.tui import format as fmt
from comfy_reality.tui.gc_tuning import freeze_long_lived
from comfy_reality.tui.state import ExecutionEntry
from comfy_reality.tui.widgets import TaskTree
from comfy_reality.tui.widgets.kept_lines import KeptLines
from comfy_reality.tui.widgets.steady_footer import KeyLine
from comfy_reality.tui.widgets.task_tree import branch_key, execution_label
from tests.tui.scenes import apply_scene, scene_app

from .helpers import WORKFLOWS, screen_text, wait_for


def _footer(app: object) -> str:
    return screen_text(app).splitlines()[-1]


async def test_tab_redraws_the_footer_line_and_keeps_the_tree_lines() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "running")
        app.browser.option_list.focus()
        await pilot.pause()
        tree = app.main_screen.task_tree
        line = app.screen.query_one(KeyLine)
        lines = tree._tree_lines
        seen: dict[str, str] = {}
        for _ in range(5):
            await pilot.press("tab")
            await pilot.pause()
            seen[type(app.focused).__name__] = _footer(app)
            assert app.screen.query_one(KeyLine) is line  # the same widget, redrawn
        assert tree._tree_lines is lines  # focus in and out of the tree: its line index not rebuilt
        assert "x Cancel" in seen["TaskTree"] and "r Run" not in seen["TaskTree"]
        assert "r Run" in seen["WorkflowList"] and "x Cancel" not in seen["WorkflowList"]
        assert all(footer.lstrip().startswith("? Help") for footer in seen.values())


async def test_the_workflow_preview_is_drawn_once_for_a_width() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "idle")
        body = app.main_screen.preview.query_one("#preview-body", KeptLines)
        await wait_for(pilot, lambda: body._kept is not None and "RealityFail" in screen_text(app))
        kept = body._kept
        app.main_screen.task_tree.focus()
        await pilot.pause()
        app.browser.option_list.focus()  # the preview is shown again
        await pilot.pause()
        body.refresh()
        await pilot.pause()
        assert body._kept is kept
        assert "RealityFail" in screen_text(app)


async def test_a_running_header_catches_up_with_the_node_count_within_its_interval() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "running")
        view = app.main_screen.execution_view
        entry = view.entry
        assert entry is not None and not entry.status.is_final
        done = sum(1 for task in entry.nodes.values() if task.status is TaskStatus.COMPLETED)
        pending = next(key for key, task in entry.nodes.items() if task.status is TaskStatus.PENDING)
        nodes = dict(entry.nodes)
        nodes[pending] = nodes[pending].model_copy(update={"status": TaskStatus.COMPLETED})
        view.show(entry, {})  # drawn now: the next one falls within the interval
        view.show(dataclasses.replace(entry, nodes=nodes), {})
        await wait_for(pilot, lambda: f"{done + 1}/{len(nodes)} nodes" in screen_text(app), timeout=5)


def test_a_branch_key_ignores_the_running_clock_but_not_the_state() -> None:
    """A batch that only moved the clock does not redraw the branch (the 1 s tick does)."""
    started = datetime(2026, 1, 1, tzinfo=UTC)
    execution = WorkflowExecution(workflow_id="wf.json", name="wf", status=TaskStatus.RUNNING)
    running = ExecutionEntry(execution.model_copy(update={"started_at": started}))
    try:
        fmt.freeze_clock(started + timedelta(seconds=3))
        label, key = execution_label(running), branch_key(running)
        fmt.freeze_clock(started + timedelta(seconds=4.2))
        assert execution_label(running) != label  # the clock moves the label...
        assert branch_key(running) == key  # ...not what a batch compares
    finally:
        fmt.freeze_clock(None)
    done = dataclasses.replace(
        running, execution=running.execution.model_copy(update={"status": TaskStatus.COMPLETED})
    )
    assert branch_key(done) != key


def test_freezing_moves_the_survivors_out_of_the_collectors_way() -> None:
    try:
        freeze_long_lived()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_task_tree_label_widths_come_from_the_stored_labels() -> None:
    tree = TaskTree()
    node = tree.root.add("a label", expand=False)
    assert tree.get_label_width(node) == len("a label") + 2


async def test_a_row_that_changed_off_screen_shows_its_new_state_when_scrolled_to() -> None:
    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll

    from comfy_reality.runtime.models import Task
    from comfy_reality.tui.widgets import NodeProgressList

    tasks = [Task(name=f"Step #{index}", node_id=str(index), class_type="Step") for index in range(60)]

    class Rows(App[None]):
        def compose(self) -> ComposeResult:
            with VerticalScroll(id="view"):
                yield NodeProgressList(id="rows")

    app = Rows()
    async with app.run_test(size=(80, 12)) as pilot:
        rows = app.query_one(NodeProgressList)
        view = app.query_one("#view", VerticalScroll)
        assert rows.outer_size.height <= view.size.height  # the rows scroll themselves
        rows.show("exec", tasks)
        await pilot.pause()
        rows.scroll_end(animate=False)  # the last rows drawn once, pending
        await pilot.pause()
        assert "Step #59" in screen_text(app) and "pending" in screen_text(app)
        rows.scroll_home(animate=False)
        await pilot.pause()
        done = tasks[59].model_copy(update={"status": TaskStatus.COMPLETED})
        rows.show("exec", [*tasks[:59], done])  # changes while off screen
        await pilot.pause()
        rows.scroll_end(animate=False)
        await pilot.pause()
        last = next(line for line in screen_text(app).splitlines() if "Step #59" in line)
        assert "pending" not in last and "✓" in last


async def test_the_second_tick_redraws_only_the_rows_that_show_a_clock() -> None:
    from textual.app import App, ComposeResult

    from comfy_reality.runtime.models import Task
    from comfy_reality.tui.widgets import NodeProgressList

    start = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    fmt.freeze_clock(start + timedelta(seconds=3))
    tasks = [
        Task(name="Steps #1", node_id="1", status=TaskStatus.RUNNING, started_at=start, value=2, max=4),
        Task(name="Clock #2", node_id="2", status=TaskStatus.RUNNING, started_at=start),
        Task(name="Eta #3", node_id="3", status=TaskStatus.RUNNING, started_at=start, eta_seconds=9.0),
        Task(name="Done #4", node_id="4", status=TaskStatus.COMPLETED, started_at=start, completed_at=start),
    ]

    class Rows(App[None]):
        def compose(self) -> ComposeResult:
            yield NodeProgressList(id="rows")

    app = Rows()
    async with app.run_test(size=(100, 8)) as pilot:
        rows = app.query_one(NodeProgressList)
        rows.show("exec", tasks)
        await pilot.pause()
        clock_line = next(line for line in screen_text(app).splitlines() if "Clock #2" in line)
        assert clock_line.rstrip().endswith("3.0s")
        drawn: list[str] = []
        original = rows._row_strips

        def row_strips(task: Task, width: int, style: object) -> object:
            drawn.append(task.name)
            return original(task, width, style)  # type: ignore[arg-type]

        rows._row_strips = row_strips  # type: ignore[method-assign]
        fmt.freeze_clock(start + timedelta(seconds=5))
        rows.refresh_running()
        await pilot.pause()
        clock_line = next(line for line in screen_text(app).splitlines() if "Clock #2" in line)
        assert clock_line.rstrip().endswith("5.0s")
        assert drawn == ["Clock #2"]  # the step count and the ETA do not move with the clock
