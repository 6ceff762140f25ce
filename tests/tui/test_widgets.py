"""The panes, fed with task snapshots exactly as the runtime worker posts them (no server)."""

from __future__ import annotations

from datetime import timedelta

from comfy_reality.errors import PromptValidationError
from comfy_reality.runtime.models import ConnectionState, ServerStatus, Task
from comfy_reality.tui import format as fmt
from comfy_reality.tui.messages import LogLine, ServerStatusChanged
from comfy_reality.tui.widgets import LogPane, NodeProgressList, StatusBar, TaskTree, WorkflowBrowser
from comfy_reality.tui.widgets.node_progress import node_detail
from tests.tui import scenes
from tests.tui.scenes import apply_scene, scene_app

from .helpers import BROKEN, WORKFLOWS, screen_text, wait_for, wait_for_text


def _rows(app: object) -> dict[str, Task]:
    """The task each progress row of the execution view shows, by node id, in the order shown."""
    return app.query_one(NodeProgressList).snapshots  # type: ignore[attr-defined,no-any-return]


async def test_running_execution_shows_a_progress_row_per_node() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "running")
        rows = _rows(app)
        assert list(rows) == ["4", "6", "7", "5", "3", "8", "9"]
        sampler = rows["3"]
        detail = node_detail(sampler).plain
        assert "13/20" in detail and "6.2 it/s" in detail and "ETA 1.1s" in detail
        assert node_detail(rows["4"]).plain == "cached"
        assert node_detail(rows["9"]).plain == "pending"
        text = screen_text(app)
        assert "text-to-image  running for 11.0s" in text
        assert "queue 1" in text


async def test_failed_execution_shows_exception_node_and_skipped_nodes() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 40)) as pilot:
        await apply_scene(pilot, "failed")
        text = screen_text(app)
        assert app.query_one("#exec-error").display
        assert "torch.OutOfMemoryError in node 3 (KSampler)" in text
        assert "CUDA out of memory" in text
        assert "not run: node 3 failed" in text
        assert "failed after 0.7s" in text


async def test_completed_execution_lists_output_files() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "completed")
        await wait_for_text(pilot, "Outputs (2)")
        text = screen_text(app)
        assert "ComfyUI_00042_.png" in text and "ComfyUI_00043_.png" in text
        assert "completed in 4.1s" in text


async def test_tree_lists_newest_execution_first_with_status_and_duration() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "cancelled")
        tree = app.query_one(TaskTree)
        labels = [str(node.label) for node in tree.root.children]
        assert labels[0].startswith("⊘ text-to-image")
        assert labels[1].startswith("✓ reality-progress  1.5s")
        assert labels[2].startswith("✓ upscale-2x  3.3s")
        # Moving the cursor onto another branch drives the detail pane.
        await pilot.press("down")
        await wait_for_text(pilot, "reality-progress  completed in 1.5s")


async def test_rejected_submission_shows_every_node_error() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "idle")
        error = PromptValidationError(
            {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
            },
            {
                "2": {
                    "class_type": "RealityProgress",
                    "errors": [
                        {
                            "type": "value_smaller_than_min",
                            "message": "Value 0 smaller than min of 1",
                            "details": "steps",
                        }
                    ],
                }
            },
        )
        entry = app.session.add_rejected(
            "invalid-steps", "invalid-steps", {"2": {"class_type": "RealityProgress"}}, error
        )
        app.main_screen.show_rejected(entry)
        await wait_for_text(pilot, "node 2 (RealityProgress): Value 0 smaller than min of 1: steps")
        assert "rejected by the server" in screen_text(app)


async def test_status_bar_counts_down_to_the_next_retry() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(100, 30)) as pilot:
        fmt.freeze_clock(scenes.T0 + timedelta(seconds=2))
        app.post_message(
            ServerStatusChanged(
                ServerStatus(
                    url="http://10.0.0.9:8188",
                    state=ConnectionState.DOWN,
                    reason="connection refused",
                    retry_in=8.0,
                    changed_at=scenes.T0,
                )
            )
        )
        await wait_for_text(
            pilot, "not connected to http://10.0.0.9:8188: connection refused · retry in 6s · F5 now"
        )
        fmt.freeze_clock(scenes.T0 + timedelta(seconds=5))
        app.query_one(StatusBar).refresh()
        await wait_for_text(pilot, "retry in 3s")


async def test_invalid_files_are_listed_with_their_error() -> None:
    app = scene_app(WORKFLOWS)
    app.sources.append(("dir:broken", BROKEN))
    app.source_titles["dir:broken"] = "Folder broken"
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: any(wf.source == "dir:broken" for wf in app.workflow_files))
        broken = [wf for wf in app.workflow_files if wf.source == "dir:broken"]
        assert sorted(wf.name for wf in broken) == ["list", "truncated"]
        assert all(wf.error for wf in broken)
        text = screen_text(app)
        assert "Folder broken  2" in text and "✗ truncated" in text
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        await pilot.press("end")
        await wait_for_text(pilot, "This file cannot be run")
        assert browser.highlighted is not None and browser.highlighted.name == "truncated"
        await pilot.press("r")
        await wait_for_text(pilot, "truncated cannot be run")


async def test_filter_narrows_the_list_and_escape_restores_it() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        browser = app.query_one(WorkflowBrowser)
        await pilot.press("slash", *"raises")
        # Words match names, descriptions and node types: only fail.md says "raises".
        await wait_for(pilot, lambda: browser.highlighted is not None and browser.highlighted.name == "fail")
        text = screen_text(app)
        assert "progress  3 nodes" not in text and "Bundled  1" in text
        await pilot.press("space", *"nothing")
        await wait_for_text(pilot, "No workflow matches 'raises")
        await pilot.press("escape")
        await wait_for_text(pilot, "Bundled  6")
        assert browser.option_list.has_focus


async def test_log_pane_colours_by_level_and_follow_toggles() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 50)) as pilot:
        await apply_scene(pilot, "idle")
        pane = app.query_one(LogPane)
        assert pane.display  # tall terminal: log open by default
        pane.add_lines([LogLine(scenes.T0, "error", "boom happened"), LogLine(scenes.T0, "info", "all fine")])
        await wait_for_text(pilot, "boom happened")
        pane.focus()
        assert pane.follow
        await pilot.press("f")
        assert not pane.follow and "paused" in str(pane.border_subtitle)
        await pilot.press("l")
        await wait_for(pilot, lambda: not pane.display)
        assert "boom happened" not in screen_text(app)


async def test_a_long_session_forgets_the_oldest_finished_executions() -> None:
    app = scene_app(WORKFLOWS)
    app.session.max_finished = 2
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "completed")  # three finished executions, the limit is two
        await wait_for(pilot, lambda: len(app.session.entries) == 2)
        assert "exec_h1" not in app.session.entries  # the oldest went
        assert "exec_h1" not in [n.data.execution_id for n in app.query_one(TaskTree).root.children]
        assert len(app.query_one(TaskTree).root.children) == 2
