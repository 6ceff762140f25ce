"""500 node rows scroll themselves: following the running node repaints rows, it lays nothing out."""

from __future__ import annotations

from typing import Any

from textual.geometry import Region
from textual.pilot import Pilot

from comfy_reality.runtime import TaskStatus
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.widgets import ExecutionView
from tests.tui.chains import running_chain_spec
from tests.tui.scenes import batch, scene_app

from .helpers import WORKFLOWS, screen_text, wait_for

NODES = 500


async def running(pilot: Pilot[None], node: int) -> None:
    """The chain with ``node`` running (those before it done), and every frame it asked for drawn."""
    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    app.post_message(batch([running_chain_spec("big", "big-chain", NODES, node, 1)]))
    await wait_for(
        pilot,
        lambda: (
            "exec_big" in app.session.entries
            and app.session.entries["exec_big"].nodes[f"node_big_{node}"].status is TaskStatus.RUNNING
        ),
        what=f"node {node} running",
    )
    for _ in range(3):
        await pilot.pause()


def row(app: Any, node: int) -> str | None:
    """The screen line of node ``node``'s row, or None when it is not in view."""
    return next((line for line in screen_text(app).splitlines() if f"RealityProgress #{node} " in line), None)


class Counts:
    """Every reflow of the screen (layouts and scroll reflows) and the lines the node rows draw."""

    def __init__(self, app: ComfyRealityApp) -> None:
        self.reflows = 0
        self.row_lines: list[int] = []
        screen = app.screen
        nodes = app.main_screen.execution_view.nodes
        refresh_layout = screen._refresh_layout
        render_lines = nodes.render_lines

        def counted_reflow(*args: Any, **kwargs: Any) -> None:
            self.reflows += 1
            refresh_layout(*args, **kwargs)

        def counted_lines(crop: Region) -> Any:
            self.row_lines.extend(crop.line_range)
            return render_lines(crop)

        screen._refresh_layout = counted_reflow  # type: ignore[method-assign]
        nodes.render_lines = counted_lines  # type: ignore[method-assign]


async def shown(pilot: Pilot[None]) -> ComfyRealityApp:
    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    await wait_for(pilot, lambda: bool(app.workflow_files))
    await running(pilot, 2)
    tree = app.main_screen.task_tree
    tree.focus()
    tree.select_execution("exec_big")
    await wait_for(pilot, lambda: row(app, 2) is not None, what="the rows")
    for _ in range(3):
        await pilot.pause()
    return app


async def test_following_the_running_node_lays_nothing_out_and_draws_only_rows() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot)
        nodes = app.main_screen.execution_view.nodes
        height = nodes.size.height

        counts = Counts(app)
        await running(pilot, 200)  # far below: the rows jump to it
        drawn = list(counts.row_lines)  # before reading the screen back (that draws it all again)
        assert counts.reflows == 0
        running_row = row(app, 200)
        assert running_row is not None and "●" in running_row and "1/4" in running_row
        finished_row = row(app, 199)  # context above it, finished
        assert finished_row is not None and "✓" in finished_row
        assert row(app, 2) is None
        assert "● big-chain" in screen_text(app)  # the header stays at the top of the pane
        assert sorted(drawn) == list(range(height))  # the jump repaints the rows in view, once
        assert nodes.show_vertical_scrollbar and height < NODES

        counts.row_lines.clear()
        await running(pilot, 201)  # the next node, in view: two rows change, nothing scrolls
        drawn = list(counts.row_lines)
        assert counts.reflows == 0
        assert len(drawn) == 2
        finished_row, running_row = row(app, 200), row(app, 201)
        assert finished_row is not None and "✓" in finished_row
        assert running_row is not None and "●" in running_row


async def test_keys_scroll_the_rows_and_end_follows_again() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot)
        await running(pilot, 120)
        view = app.query_one(ExecutionView)
        nodes = view.nodes
        view.focus()
        await pilot.pause()
        top = round(nodes.scroll_y)
        counts = Counts(app)
        await pilot.press("down")  # the rows move a line; the pane (and its header) stays
        await wait_for(pilot, lambda: round(nodes.scroll_y) == top + 1, what="the rows scrolled")
        assert view.scroll_y == 0 and "● big-chain" in screen_text(app)
        await running(pilot, 300)  # the user took over: no following
        assert row(app, 300) is None and round(nodes.scroll_y) == top + 1
        await pilot.press("end")
        await running(pilot, 310)
        await wait_for(pilot, lambda: row(app, 310) is not None, what="following again")
        await pilot.press("home")
        await wait_for(pilot, lambda: row(app, 1) is not None, what="the first row")
        assert counts.reflows == 0


async def test_the_wheel_over_the_rows_scrolls_them_and_stops_following() -> None:
    from textual import events

    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot)
        await running(pilot, 120)
        nodes = app.main_screen.execution_view.nodes
        top = round(nodes.scroll_y)
        nodes.post_message(events.MouseScrollDown(nodes, 5, 5, 0, 1, 0, False, False, False))
        await wait_for(pilot, lambda: round(nodes.scroll_y) > top, what="the rows scrolled by the wheel")
        scrolled = round(nodes.scroll_y)
        await running(pilot, 300)  # the user took over: the rows stay where the wheel put them
        assert round(nodes.scroll_y) == scrolled and row(app, 300) is None
