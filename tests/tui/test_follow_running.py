"""A long graph: the execution pane follows the running node down, until the user scrolls it."""

from __future__ import annotations

from textual.pilot import Pilot

from comfy_reality.runtime import TaskStatus
from comfy_reality.tui.widgets import ExecutionView, TaskTree
from tests.tui.chains import running_chain_spec
from tests.tui.scenes import ExecutionSpec, batch, scene_app

from .helpers import WORKFLOWS, screen_text, wait_for

NODES = 200


def long_run(running: int) -> ExecutionSpec:
    """A chain of NODES nodes: those before ``running`` done, it running, the rest waiting."""
    return running_chain_spec("long", "long-chain", NODES, running, 1)


async def show_running(pilot: Pilot[None], running: int) -> None:
    app = pilot.app
    app.post_message(batch([long_run(running)]))
    await wait_for(
        pilot,
        lambda: (
            "exec_long" in app.session.entries  # type: ignore[attr-defined]
            and app.session.entries["exec_long"].nodes[f"node_long_{running}"].status is TaskStatus.RUNNING
        ),  # type: ignore[attr-defined]
        what=f"node {running} running",
    )
    await pilot.pause()


def row_shown(app: object, node: int) -> bool:
    return f"RealityProgress #{node} " in screen_text(app)


async def test_the_running_node_stays_in_view_until_the_user_scrolls() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        await show_running(pilot, 2)
        tree = app.query_one(TaskTree)
        tree.focus()
        tree.select_execution("exec_long")
        await pilot.pause()
        assert row_shown(app, 2) and not row_shown(app, 150)

        await show_running(pilot, 150)
        await wait_for(pilot, lambda: row_shown(app, 150), what="the running node in view")
        assert "● long-chain" in screen_text(app)  # the header stays at the top of the pane
        assert not row_shown(app, 2)

        # The user scrolls the pane: it stays where they put it.
        view = app.query_one(ExecutionView)
        view.focus()
        await pilot.press("home")
        await wait_for(pilot, lambda: row_shown(app, 2), what="the top of the list")
        await show_running(pilot, 180)
        assert row_shown(app, 2) and not row_shown(app, 180)

        # End follows again.
        await pilot.press("end")
        await show_running(pilot, 190)
        await wait_for(pilot, lambda: row_shown(app, 190), what="following again")
