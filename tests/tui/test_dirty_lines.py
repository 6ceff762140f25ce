"""Frames redraw the lines that changed: what reaches the terminal is Textual's, for less work."""

from __future__ import annotations

import random
import re
from typing import Any

from textual._compositor import Compositor
from textual.geometry import Region
from textual.widget import Widget

from comfy_reality.runtime import TaskStatus
from comfy_reality.tui.dirty_lines import DirtyLinesCompositor
from tests.tui.chains import running_chain_spec
from tests.tui.scenes import ExecutionSpec, batch, scene_app

from .helpers import WORKFLOWS, screen_text, wait_for

NODES = 60


def chain(running: int, value: int) -> ExecutionSpec:
    """A chain of NODES nodes: those before ``running`` done, it at ``value``/4, the rest waiting."""
    return running_chain_spec("chain", "chain", NODES, running, value)


async def running_chain(pilot: Any, running: int, value: int) -> None:
    app = pilot.app
    app.post_message(batch([chain(running, value)]))

    def shown() -> bool:
        entry = app.session.entries.get("exec_chain")
        if entry is None:
            return False
        task = entry.nodes[f"node_chain_{running}"]
        return bool(task.status is TaskStatus.RUNNING and task.value == value)

    await wait_for(pilot, shown, what=f"node {running} at {value}")
    await pilot.pause()


_MOVE = r"\x1b\[\d+;\d+H"
_EMPTY_MOVE = re.compile(rf"{_MOVE}(?=(?:{_MOVE}|\n|$))")


def _written(update: Any, console: Any) -> str:
    """What the update writes, without cursor moves that write nothing (Textual moves to a chop that
    starts where a dirty span ends, and writes none of it: nothing on screen depends on that)."""
    return "" if update is None else _EMPTY_MOVE.sub("", str(update.render_segments(console)))


async def test_partial_updates_write_what_textuals_compositor_writes() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        await running_chain(pilot, 5, 1)
        app.main_screen.task_tree.focus()
        app.main_screen.task_tree.select_execution("exec_chain")
        await pilot.pause()
        compositor = app.main_screen._compositor
        assert isinstance(compositor, DirtyLinesCompositor)
        width, height = app.size
        rows = random.Random(19)
        cases: list[list[Region]] = [
            [Region(66, 10, 91, 1)],  # one node row
            [Region(66, 2, 91, 3), Region(66, 20, 91, 2)],  # the header and two rows
            [Region(0, height - 1, width, 1)],  # the footer
            [Region(0, 0, width, 1), Region(3, 40, 20, 2)],  # the status bar and the log
        ]
        for _ in range(40):
            count = rows.randint(1, 4)
            regions = []
            for _ in range(count):
                x, y = rows.randrange(width), rows.randrange(height)
                regions.append(Region(x, y, rows.randint(1, width - x), rows.randint(1, height - y)))
            cases.append(regions)
        for regions in cases:
            compositor._dirty_regions.update(regions)
            ours = _written(compositor.render_partial_update(), app.console)
            compositor._dirty_regions.update(regions)
            textuals = _written(Compositor.render_partial_update(compositor), app.console)
            assert ours == textuals, regions
            assert ours  # something was written: the comparison is not between two empty updates


async def test_full_updates_write_what_textuals_compositor_writes_without_drawing_hidden_widgets() -> None:
    """The first frame and every resize: the same update as Textual's, with the screen and the
    containers wholly behind the panes never drawn."""
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        screen = app.main_screen
        compositor = screen._compositor
        assert isinstance(compositor, DirtyLinesCompositor)
        hidden = [screen, *screen.query("#main, #left, #tasks-box, #detail").results()]
        for size in ((120, 40), (80, 24), (160, 48)):
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda size=size: compositor.size == size, what=f"laid out at {size}")
            if size == (160, 48):
                await running_chain(pilot, 5, 1)
                screen.task_tree.focus()
                screen.task_tree.select_execution("exec_chain")
                await pilot.pause()
            drawn: list[str] = []
            for widget in compositor.visible_widgets:

                def counted(crop: Region, widget: Widget = widget, drawn: list[str] = drawn) -> Any:
                    drawn.append(type(widget).__name__ + (f"#{widget.id}" if widget.id else ""))
                    return type(widget).render_lines(widget, crop)

                widget.render_lines = counted  # type: ignore[method-assign]
            ours = _written(compositor.render_full_update(), app.console)
            assert not {type(w).__name__ + (f"#{w.id}" if w.id else "") for w in hidden} & set(drawn), drawn
            assert "StatusBar#status-bar" in drawn and "TaskTree#tasks" in drawn, drawn
            textuals = _written(Compositor.render_full_update(compositor), app.console)
            assert ours == textuals, size
            for widget in compositor.visible_widgets:
                del widget.render_lines


async def test_a_progress_step_redraws_its_row_and_not_the_panes_around_it() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        await running_chain(pilot, 5, 1)
        screen = app.main_screen
        screen.task_tree.focus()
        screen.task_tree.select_execution("exec_chain")
        await pilot.pause()
        await running_chain(pilot, 5, 2)  # the header has caught up: only the row moves next
        await pilot.pause(0.3)
        drawn: dict[str, set[int]] = {}
        watched: list[Widget] = [
            screen,
            screen.status_bar,
            screen.log_pane,
            screen.task_tree,
            screen.browser,
            screen.execution_view,
            screen.execution_view.nodes,
        ]
        for widget in watched:

            def counted(crop: Region, widget: Widget = widget) -> Any:
                name = type(widget).__name__
                drawn.setdefault(name, set()).update(crop.line_range)
                return type(widget).render_lines(widget, crop)

            widget.render_lines = counted  # type: ignore[method-assign]
        for timer in screen.status_bar._timers:
            timer.pause()  # its one-second tick (while not connected) is not this step's doing
        await running_chain(pilot, 5, 3)
        # Which lines each drew (the one-second tick may redraw the running row once more).
        frame = {name: set(lines) for name, lines in drawn.items()}  # before reading the screen back
        assert "3/4" in next(line for line in screen_text(app).splitlines() if "RealityProgress #5 " in line)
        assert len(frame.get("NodeProgressList", ())) == 1, frame  # the one row that moved
        # The screen and the execution pane behind the row are hidden by it: not drawn at all.
        assert "MainScreen" not in frame and "ExecutionView" not in frame, frame
        for pane in ("StatusBar", "LogPane", "TaskTree", "WorkflowBrowser"):
            assert pane not in frame, frame


async def test_a_folded_branch_is_not_relabelled_until_it_opens() -> None:
    from textual.widgets.tree import TreeNode

    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        await running_chain(pilot, 5, 1)
        tree = app.main_screen.task_tree
        branch = tree._branches["exec_chain"]
        assert not branch.is_expanded
        relabelled: list[str] = []
        original = TreeNode.set_label

        def set_label(node: TreeNode[Any], label: Any) -> None:
            relabelled.append(str(label))
            original(node, label)

        TreeNode.set_label = set_label  # type: ignore[method-assign]
        try:
            await running_chain(pilot, 5, 3)  # node 5 moves while its branch is folded
            assert relabelled == []
            tree.focus()
            tree.select_execution("exec_chain")
            await pilot.press("right")  # open it
            await wait_for(pilot, lambda: any("#5  3/4" in label for label in relabelled))
            leaf = tree._leaves["node_chain_5"]
            assert "#5  3/4" in str(leaf.label)
            await wait_for(
                pilot, lambda: any("#5  3/4" in line for line in screen_text(app).splitlines()[:33])
            )
            await running_chain(pilot, 5, 4)  # open: relabelled as it moves
            assert "#5  4/4" in str(leaf.label)
        finally:
            TreeNode.set_label = original  # type: ignore[method-assign]
