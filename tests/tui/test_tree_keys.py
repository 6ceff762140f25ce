"""Keys in the Executions pane with a 500-node execution listed: one layout at most, and the screen right.

A cursor key that shows another execution lays the screen out once (it ran three layouts, three
frames); opening a branch and a filter keystroke lay nothing out, yet show what they changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.pilot import Pilot

from comfy_reality.runtime import TaskStatus
from comfy_reality.tui.app import ComfyRealityApp
from tests.tui.chains import running_chain_spec
from tests.tui.scenes import ExecutionSpec, batch, scene_app

from .helpers import WORKFLOWS, count_layouts, screen_text, wait_for

BIG = 500
SMALL = 24  # more than the pane's height: its scrollbar is there before a branch opens


def finished(key: str, name: str, nodes: int, created: float) -> ExecutionSpec:
    return replace(
        running_chain_spec(key, name, nodes, nodes, 1), status=TaskStatus.COMPLETED, created=created
    )


async def listed(pilot: Pilot[None]) -> ComfyRealityApp:
    """Small executions, then a finished 500-node one on top; the tree focused on it."""
    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    await wait_for(pilot, lambda: bool(app.workflow_files))
    for index in reversed(range(SMALL)):
        app.post_message(batch([finished(f"s{index}", f"small-{index}", 6, -10.0 - index)]))
    app.post_message(batch([finished("big", "chain", BIG, 0.0)]))
    await wait_for(pilot, lambda: len(app.session.entries) == SMALL + 1, what="executions")
    tree = app.main_screen.task_tree
    tree.focus()
    tree.select_execution("exec_big")
    await pilot.pause()
    await wait_for(pilot, lambda: "/500 nodes" in screen_text(app), what="the big execution shown")
    await settled(pilot)
    assert tree.show_vertical_scrollbar
    return app


def tree_text(app: ComfyRealityApp) -> str:
    """What the Executions pane shows (the left column of the screen, from its top)."""
    region = app.main_screen.task_tree.region
    lines = screen_text(app).splitlines()[region.y : region.bottom]
    return "\n".join(line[region.x : region.right] for line in lines)


async def settled(pilot: Pilot[None]) -> None:
    """Every frame the key asked for (and any it led to) is drawn."""
    for _ in range(4):
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()


async def test_a_cursor_key_onto_another_execution_lays_the_screen_out_once() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        view = app.main_screen.execution_view
        rows = view.nodes
        assert rows.show_vertical_scrollbar and not view.show_vertical_scrollbar  # 500 rows scroll themselves
        counted = count_layouts(app.screen)
        await pilot.press("down")
        await settled(pilot)
        assert len(counted) == 1
        assert view.entry is not None and view.entry.id == "exec_s0"
        assert "/6 nodes" in screen_text(app)
        assert not rows.show_vertical_scrollbar and not rows.vertical_scrollbar.display
        assert not view.show_vertical_scrollbar
        await pilot.press("up")
        await settled(pilot)
        assert len(counted) == 2
        assert "/500 nodes" in screen_text(app)
        assert rows.show_vertical_scrollbar and rows.vertical_scrollbar.display
        # The scrollbar Textual would have chosen after laying the rows out.
        assert rows.virtual_size.height > rows.container_size.height


async def test_opening_a_big_branch_lays_nothing_out_and_its_rows_scroll() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        tree = app.main_screen.task_tree
        counted = count_layouts(app.screen)
        await pilot.press("right")
        await settled(pilot)
        assert not counted
        assert "RealityProgress #1 " in tree_text(app)
        assert tree.virtual_size.height == 1 + BIG + SMALL
        await pilot.press("G")  # the last row: the scroll extent followed the rows
        await settled(pilot)
        assert f"small-{SMALL - 1}" in tree_text(app)
        assert tree.scroll_y == tree.max_scroll_y > 0
        await pilot.press("g", "left")
        await settled(pilot)
        assert tree.virtual_size.height == 1 + SMALL
        assert "RealityProgress #1 " not in tree_text(app)


async def test_a_filter_keystroke_keeps_the_rows_that_still_match() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        tree = app.main_screen.task_tree
        branches = dict(tree._branches)
        await pilot.press("slash")
        await settled(pilot)
        counted = count_layouts(app.screen)
        await pilot.press("a")  # "chain" and every "small-N" match
        await settled(pilot)
        assert tree._branches == branches  # the same rows, not rebuilt
        assert not counted
        await pilot.press("l")  # "small-N" only (the letters in order)
        await settled(pilot)
        assert tree._branches.keys() == branches.keys() - {"exec_big"}
        assert all(tree._branches[key] is branches[key] for key in tree._branches)
        assert "chain" not in tree_text(app) and "small-0" in tree_text(app)
        await pilot.press("backspace", "backspace")  # all again, newest first
        await settled(pilot)
        assert [node.data.execution_id for node in tree.root.children if node.data] == [
            "exec_big",
            *(f"exec_s{index}" for index in range(SMALL)),
        ]
        assert tree.filter_query == ""


def frames_seen(app: ComfyRealityApp, state: Any) -> list[Any]:
    """``state()`` as each frame is composed, from now on."""
    seen: list[Any] = []
    display = app._display

    def recording(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            seen.append(state())
        display(screen, renderable)

    app._display = recording  # type: ignore[method-assign]
    return seen


async def test_the_detail_pane_changes_in_the_frame_that_moves_the_cursor() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        tree, view = app.main_screen.task_tree, app.main_screen.execution_view
        seen = frames_seen(app, lambda: (tree.selected_execution_id, view.entry.id if view.entry else None))
        await pilot.press("down")
        await settled(pilot)
        await pilot.press("up")
        await settled(pilot)
        assert ("exec_s0", "exec_s0") in seen and seen[-1] == ("exec_big", "exec_big")
        assert all(cursor == shown for cursor, shown in seen)  # never a frame with the pane behind


async def test_the_rows_follow_the_filter_value_before_its_next_frame() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        screen = app.main_screen
        await pilot.press("slash")
        await settled(pilot)
        seen = frames_seen(app, lambda: (screen.tasks_filter.value, screen.task_tree.filter_query))
        screen.tasks_filter.value = "l"  # as a keystroke sets it
        # No message handled yet, so no frame drawn: the rows already follow (not on Changed).
        assert screen.task_tree.filter_query == "l"
        assert "exec_big" not in screen.task_tree._branches
        await pilot.press("backspace")
        await settled(pilot)
        assert ("l", "l") in seen and seen[-1] == ("", "")
        assert all(value == query for value, query in seen)


async def test_a_layout_that_leaves_the_tree_as_it_was_does_not_redraw_its_scrollbar() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        tree = app.main_screen.task_tree
        scrollbar = tree.vertical_scrollbar
        redrawn: list[int] = []
        refresh = scrollbar.refresh

        def counting(*args: Any, **kwargs: Any) -> Any:
            redrawn.append(1)
            return refresh(*args, **kwargs)

        scrollbar.refresh = counting  # type: ignore[method-assign]
        counted = count_layouts(app.screen)
        await pilot.press("down")  # the detail pane shows a smaller execution: one layout
        await settled(pilot)
        assert len(counted) == 1 and not redrawn
        await pilot.resize_terminal(150, 46)  # a real change of size still updates it
        await settled(pilot)
        assert redrawn
        await pilot.press("G")
        await settled(pilot)
        assert tree.scroll_y == tree.max_scroll_y > 0
        assert f"small-{SMALL - 1}" in tree_text(app)


async def test_the_focused_filter_stays_one_readable_row() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        await pilot.press("slash", "s", "m")
        await settled(pilot)
        field = app.main_screen.tasks_filter
        assert field.has_focus
        assert field.size.height == 1  # Input's focus border would make it a box with no room for text
        assert "sm" in screen_text(app)
