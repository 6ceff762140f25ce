"""The execution pane shows one vertical scrollbar at most, and every line is reachable.

A finished 500-node run with an error box or outputs showed the node rows' scrollbar (they scroll
themselves) beside the pane's. The rows now scroll themselves only when they are all the pane
shows below its header; otherwise the pane scrolls them with the rest.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual import events
from textual.widget import Widget

from comfy_reality.runtime import TaskStatus
from comfy_reality.runtime.models import ErrorReport, OutputFile
from comfy_reality.tui import format as fmt
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.messages import ServerStatusChanged
from tests.tui.scenes import NOW, ExecutionSpec, NodeSpec, batch, scene, scene_app

from .helpers import WORKFLOWS, screen_text, wait_for
from .test_tree_keys import settled

SIZES = [(80, 24), (120, 40), (160, 48)]


def chain(key: str, count: int, *, failed: bool, outputs: int) -> ExecutionSpec:
    """``count`` nodes: all done, or done up to a failing one in the middle and the rest cancelled."""
    failing = count // 2 if failed else 0
    nodes = []
    for index in range(1, count + 1):
        if failed and index == failing:
            nodes.append(
                NodeSpec(str(index), "Step", TaskStatus.FAILED, start=0.0, end=0.1, error="out of memory")
            )
        elif failed and index > failing:
            nodes.append(NodeSpec(str(index), "Step", TaskStatus.CANCELLED))
        else:
            nodes.append(NodeSpec(str(index), "Step", TaskStatus.COMPLETED, start=0.0, end=0.1))
    error = (
        ErrorReport(
            node_id=str(failing),
            node_type="Step",
            exception_type="torch.OutOfMemoryError",
            exception_message="CUDA out of memory. Tried to allocate 2.00 GiB",
            traceback=['  File "/opt/ComfyUI/execution.py", line 496, in execute', "OutOfMemoryError"],
        )
        if failed
        else None
    )
    files = [OutputFile(node_id=str(count), filename=f"out_{index:05d}_.png") for index in range(outputs)]
    return ExecutionSpec(
        key,
        f"chain-{count}",
        TaskStatus.FAILED if failed else TaskStatus.COMPLETED,
        created=0.0,
        start=0.0,
        end=5.0,
        nodes=nodes,
        error=error,
        outputs=files,
    )


CASES = {
    "500 failed": chain("big", 500, failed=True, outputs=0),
    "500 with outputs": chain("big", 500, failed=False, outputs=3),
    "500 alone": chain("big", 500, failed=False, outputs=0),
    "6 failed": chain("big", 6, failed=True, outputs=0),
    "6 with many outputs": chain("big", 6, failed=False, outputs=60),
}


def vertical_scrollbars(app: ComfyRealityApp) -> list[str]:
    """The execution pane's vertical scrollbars drawn on screen: the pane's own and its parts'."""
    view = app.main_screen.execution_view
    shown = app.screen._compositor.visible_widgets
    return [
        str(widget.id)
        for widget in view.walk_children(Widget, with_self=True)
        if widget.show_vertical_scrollbar
        and widget.vertical_scrollbar.display
        and widget.vertical_scrollbar in shown
        and widget.vertical_scrollbar.region.height > 0
    ]


async def shown(pilot: Any, spec: ExecutionSpec) -> ComfyRealityApp:
    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    await wait_for(pilot, lambda: bool(app.workflow_files))
    app.post_message(batch([spec]))
    await wait_for(pilot, lambda: "exec_big" in app.session.entries, what="listed")
    tree = app.main_screen.task_tree
    tree.focus()
    tree.select_execution("exec_big")
    await wait_for(pilot, lambda: f"/{len(spec.nodes)} nodes" in screen_text(app), what="its header")
    await settled(pilot)
    return app


def overflows(app: ComfyRealityApp) -> bool:
    """Whether the pane's parts (header aside) are taller than the room below the header."""
    view = app.main_screen.execution_view
    parts = [view.error_box, view.nodes, view.outputs]
    content = sum(
        part.get_content_height(view.container_size, view.size, view.nodes.size.width) + 1  # + their margins
        for part in parts
        if part.display
    )
    return content > view.container_size.height - view.header.outer_size.height


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("case", list(CASES))
async def test_the_pane_shows_one_scrollbar_at_most(case: str, size: tuple[int, int]) -> None:
    spec = CASES[case]
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=size) as pilot:
        await shown(pilot, spec)
        bars = vertical_scrollbars(app)
        assert len(bars) <= 1, bars
        if len(spec.nodes) == 500:
            assert len(bars) == 1, bars  # 500 rows never fit: one scrollbar says there is more
            # Alone, the rows scroll themselves (following costs no layout); else the pane does.
            assert bars == (["exec-nodes"] if case == "500 alone" else ["execution"])
        elif not overflows(app):
            assert bars == []


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_every_line_of_a_failed_run_with_outputs_is_reached_by_keys_and_the_wheel(
    size: tuple[int, int],
) -> None:
    spec = chain("big", 500, failed=True, outputs=4)
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=size) as pilot:
        await shown(pilot, spec)
        view = app.main_screen.execution_view
        assert vertical_scrollbars(app) == ["execution"]
        text = screen_text(app)
        assert "torch.OutOfMemoryError" in text and "Step #1 " in text  # the error box, then the rows
        view.focus()
        await pilot.press("end")
        await settled(pilot)
        text = screen_text(app)
        assert "out_00003_" in text and "Step #500" in text, text  # the last row, then the outputs
        assert "/500 nodes" in text  # the header stays
        await pilot.press("home")
        await settled(pilot)
        assert "torch.OutOfMemoryError" in screen_text(app)
        for _ in range(5):
            await pilot.press("pagedown")
        await settled(pilot)
        assert "Step #1 " not in screen_text(app) and view.scroll_y > 0
        await pilot.press("home")
        await settled(pilot)
        nodes = view.nodes
        for _ in range(3):  # the wheel over the rows scrolls the pane: the rows do not scroll
            nodes.post_message(events.MouseScrollDown(nodes, 2, 1, 0, 1, 0, False, False, False))
            await settled(pilot)
        assert view.scroll_y > 0 and view.nodes.scroll_y == 0
        assert "torch.OutOfMemoryError" not in screen_text(app)


async def test_outputs_arriving_while_a_long_run_runs_leave_one_scrollbar() -> None:
    spec = chain("big", 500, failed=False, outputs=0)
    running = ExecutionSpec(
        spec.key, spec.name, TaskStatus.RUNNING, created=0.0, start=0.0, nodes=spec.nodes[:250]
    )
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, running)
        assert vertical_scrollbars(app) == ["exec-nodes"]  # alone: the rows scroll themselves
        with_outputs = ExecutionSpec(
            spec.key,
            spec.name,
            TaskStatus.RUNNING,
            created=0.0,
            start=0.0,
            nodes=spec.nodes[:250],
            outputs=[OutputFile(node_id="3", filename="early_00001_.png")],
        )
        app.post_message(batch([with_outputs]))
        await wait_for(pilot, lambda: app.main_screen.execution_view.outputs.display, what="the outputs")
        await settled(pilot)
        assert vertical_scrollbars(app) == ["execution"]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_of_a_failed_500_node_run(snap_compare: Any, size: tuple[int, int]) -> None:
    """The error box, the first rows, and the pane's scrollbar alone at the right."""

    async def run_before(pilot: Any) -> None:
        fmt.freeze_clock(NOW)
        app = pilot.app
        app.post_message(ServerStatusChanged(scene("idle")[1]))
        await shown(pilot, CASES["500 failed"])
        assert vertical_scrollbars(app) == ["execution"]

    assert snap_compare(scene_app(WORKFLOWS), terminal_size=size, run_before=run_before)
