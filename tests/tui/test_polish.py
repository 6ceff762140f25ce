"""Issue 12 (polish): keys, layout and rough edges a user meets, each seen through Pilot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from rich.text import Text
from textual.widgets import Input

from comfy_reality import paths
from comfy_reality.config import Settings
from comfy_reality.runtime.models import ConnectionState, TaskStatus
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.log_order import LogOrder
from comfy_reality.tui.messages import LogLine
from comfy_reality.tui.screens.error_view import ErrorScreen
from comfy_reality.tui.screens.help import HelpScreen
from comfy_reality.tui.screens.journal_screen import JournalScreen
from comfy_reality.tui.widgets import StatusBar, TaskTree, WorkflowBrowser
from comfy_reality.tui.widgets.execution_view import traceback_tail
from tests.tui.scenes import apply_scene, fill_history_journal, open_history, scene_app

from .helpers import WORKFLOWS
from .pilot import screen_text, wait_for, wait_for_text


async def test_left_right_collapse_and_expand_the_executions_tree() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "completed")
        tree = app.query_one(TaskTree)
        branch = tree.cursor_node
        assert branch is not None and branch.data is not None and branch.data.task_id is None
        assert not branch.is_expanded
        await pilot.press("right")
        await wait_for(pilot, lambda: branch.is_expanded, what="the branch expanded")
        assert "KSampler" in screen_text(app)
        await pilot.press("right")  # on an open branch: onto its first node
        await wait_for(pilot, lambda: tree.cursor_node is not branch, what="the first node")
        assert tree.cursor_node is not None and tree.cursor_node.parent is branch
        await pilot.press("left")  # on a node: back to its execution
        await wait_for(pilot, lambda: tree.cursor_node is branch, what="back on the execution")
        await pilot.press("left")
        await wait_for(pilot, lambda: not branch.is_expanded, what="the branch collapsed")


async def test_vim_keys_move_in_the_executions_tree() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "completed")
        tree = app.query_one(TaskTree)
        assert tree.cursor_line == 0
        await pilot.press("j")
        await wait_for(pilot, lambda: tree.cursor_line == 1, what="j moved down")
        await pilot.press("k")
        await wait_for(pilot, lambda: tree.cursor_line == 0, what="k moved up")
        await pilot.press("G")
        await wait_for(pilot, lambda: tree.cursor_line == tree.last_line, what="G went to the last")
        await pilot.press("g")
        await wait_for(pilot, lambda: tree.cursor_line == 0, what="g went to the first")


async def test_escape_in_the_workflow_filter_keeps_the_chosen_workflow() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "idle")
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        names = [wf.name for wf in app.workflow_files if wf.ok]
        target = names[-1]
        await pilot.press("slash")
        await wait_for(pilot, lambda: browser.filter_input.has_focus, what="the filter")
        await pilot.press(*target)
        await wait_for(
            pilot,
            lambda: browser.highlighted is not None and browser.highlighted.name == target,
            what=f"{target} highlighted",
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: not browser.filter_input.value, what="the filter cleared")
        await pilot.pause()
        assert browser.highlighted is not None and browser.highlighted.name == target
        assert isinstance(browser.filter_input, Input)


async def test_demo_never_shows_the_configured_url() -> None:
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:8188", images="off"),
        demo=True,
        bundled_dir=WORKFLOWS,
        use_journal=False,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        bar = app.query_one(StatusBar)
        seen: list[str] = []

        def connected() -> bool:
            seen.append(str(bar.render()))
            return bar.status is not None and bar.status.state is ConnectionState.CONNECTED

        await wait_for(pilot, connected, timeout=20, what="connected to the demo server")
        assert "starting the demo server" in seen[0]
        assert not any("127.0.0.1:8188" in line for line in seen), seen
        assert app.server_url in seen[-1]
        # F5 while connected says so (and refreshes), instead of pretending to reconnect. The toast
        # lives 3 s; on a loaded machine a poll can miss it, so what the app notified is recorded.
        notices: list[str] = []
        notify = app.notify

        def recording(message: str, **options: Any) -> None:
            notices.append(message)
            notify(message, **options)

        app.notify = recording  # type: ignore[method-assign]
        await pilot.press("f5")
        await wait_for(
            pilot,
            lambda: any(f"Already connected to {app.server_url}" in n for n in notices),
            what="the already-connected notice",
        )


async def test_empty_executions_pane_says_which_key_runs_a_workflow() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(80, 24)) as pilot:
        await apply_scene(pilot, "idle")
        text = " ".join(screen_text(app).replace("│", " ").split())
        assert "No runs yet: press r to run the selected workflow" in text


def test_the_error_box_traceback_starts_at_a_code_line_never_a_caret() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "/opt/ComfyUI/execution.py", line 496, in execute',
        "    output_data = get_output_data(obj, input_data_all)",
        '  File "/opt/ComfyUI/nodes.py", line 12, in sample',
        "    return common_ksampler(model, seed, steps)",
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "RuntimeError: boom",
    ]
    tail = traceback_tail(lines)
    assert tail[0].lstrip().startswith("File ")
    assert tail[-1] == "RuntimeError: boom"
    assert not set(tail[0].strip()) <= set("^~ ")
    only_carets = ["    x = f()", "        ^^^", "    y = g()", "        ~~^~~", "ValueError: no"]
    tail = traceback_tail(only_carets)
    assert tail[0] == "    y = g()"


async def test_output_sizes_say_not_saved_and_no_bare_queue_number() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "completed")
        text = screen_text(app)
        assert "not saved" in text and "—" not in text
        assert "· #3" not in text


async def test_footer_puts_the_focused_panes_keys_first_and_always_shows_help() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(80, 24)) as pilot:
        await apply_scene(pilot, "failed")
        footer = screen_text(app).splitlines()[-1]
        assert footer.lstrip().startswith("? Help"), footer
        assert "x Cancel" in footer and "h History" in footer
        assert footer.index("x Cancel") < footer.index("h History")
        assert "r Run" not in footer  # a Workflows key, not this pane's
        app.browser.option_list.focus()
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert footer.lstrip().startswith("? Help") and "r Run" in footer and "/ Filter" in footer
        app.log_pane.remove_class("hidden")
        app.log_pane.focus()
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "/ Filter" not in footer and "f Follow" in footer and "? Help" in footer


async def test_copy_keys_put_the_prompt_id_and_the_error_on_the_clipboard() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "failed")
        entry = app.session.entries["exec_main"]
        await pilot.press("y")
        await wait_for(pilot, lambda: app.clipboard == entry.execution.prompt_id, what="prompt id copied")
        await pilot.press("Y")
        await wait_for(pilot, lambda: app.clipboard.startswith("torch.OutOfMemoryError in node 3"))
        assert "samplers.py" in app.clipboard
        await pilot.press("p")
        await wait_for_text(pilot, "has no output files")


async def test_help_lists_this_apps_keys_not_textual_internals() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "completed")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        ids = {row[2] for row in [*screen.global_keys, *screen.pane_keys]}
        assert {"copy.prompt_id", "tree.expand", "history"} <= ids
        assert not any(i.startswith(("screen.", "app.")) for i in ids), ids
        descriptions = {row[1] for row in [*screen.global_keys, *screen.pane_keys]}
        assert "Cursor to next ancestor" not in descriptions
        other = screen.query_one("#help-other-panes")
        assert other is not None
        await wait_for(pilot, lambda: "Saved workflows, one section per source" in str(screen.other_panes))


async def test_the_palette_has_one_quit() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "idle")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Quit" not in titles and "Keys" not in titles
        from comfy_reality.tui.commands import APP_COMMANDS

        assert [t for t, _, _ in APP_COMMANDS if t == "Quit"] == ["Quit"]


async def test_executions_rows_cut_the_name_and_keep_status_time_and_node_id_at_80x24() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(80, 24)) as pilot:
        await apply_scene(pilot, "cancelled")
        entry = app.session.entries["exec_main"]
        entry.execution.name = "a-very-long-workflow-name-that-cannot-fit"
        app.task_tree.update_entries([entry])
        await pilot.press("right")
        await pilot.pause()
        tree_lines = [line.split("││")[0] for line in screen_text(app).splitlines()]
        branch = next(line for line in tree_lines if "a-very-long" in line)
        assert branch.rstrip("│ ").endswith("1.4s") and "…" in branch
        assert any("#6  cached" in line for line in tree_lines)  # the id of the second CLIPTextEncode
        assert any("#7" in line and "CLIPTextEncode" in line for line in tree_lines)
        assert any("#3  7/20 cancelled" in line for line in tree_lines)  # where it stopped


async def test_node_rows_keep_the_eta_whole_at_120x40() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "running")
        assert "13/20  6.2 it/s ETA 1.1s" in screen_text(app)
        assert "CheckpointLoaderSimple #4" in screen_text(app)


async def test_a_too_small_terminal_says_what_size_is_needed() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(40, 12)) as pilot:
        await apply_scene(pilot, "idle")
        text = screen_text(app)
        assert "Terminal too small: 40x12" in text and "Need at least 60x16" in text
        assert "Workflows" not in text
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "Workflows" in screen_text(app), what="the panes back")
        assert "too small" not in screen_text(app)


def test_log_order_releases_settled_lines_oldest_first() -> None:
    clock = [100.0]
    order = LogOrder(settle=0.3, clock=lambda: clock[0])
    t = datetime(2026, 1, 1, 1, 26, 0, tzinfo=UTC)
    order.add([LogLine(t + timedelta(seconds=2), "error", "node 3 failed")])
    clock[0] += 0.1
    order.add([LogLine(t + timedelta(seconds=1), "info", "prompt_queued")])
    assert order.due() == []  # neither has settled: an earlier line may still be on its way
    clock[0] += 0.3
    assert [line.text for line in order.due()] == ["prompt_queued", "node 3 failed"]
    assert not order.waiting


def test_log_order_holds_a_settled_line_stamped_after_one_still_settling() -> None:
    """Lines that arrive a moment apart straddle a release: the settled one, stamped later than one
    still settling, waits for it instead of going out above it."""
    clock = [100.0]
    order = LogOrder(settle=0.3, clock=lambda: clock[0])
    t = datetime(2026, 1, 1, 1, 26, 0, tzinfo=UTC)
    order.add([LogLine(t + timedelta(seconds=3), "info", "server connected")])
    clock[0] += 0.01
    order.add([LogLine(t + timedelta(seconds=1), "info", "embedded server started")])
    order.add([LogLine(t + timedelta(seconds=4), "error", "KSampler #3 failed")])
    clock[0] += 0.295  # the first line has settled, the others not yet
    assert order.due() == []
    clock[0] += 0.01
    assert [line.text for line in order.due()] == [
        "embedded server started",
        "server connected",
        "KSampler #3 failed",
    ]
    assert not order.waiting


async def test_the_log_pane_shows_lines_in_time_order_whatever_order_they_arrive_in() -> None:
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9", images="off"),
        connect=False,
        bundled_dir=WORKFLOWS,
        use_journal=False,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        t = datetime(2026, 1, 1, 1, 26, 0, tzinfo=UTC)
        app.write_log([LogLine(t + timedelta(seconds=3), "info", "server connected")])
        app.write_log([LogLine(t + timedelta(seconds=4), "error", "KSampler #3 failed")])
        app.write_log([LogLine(t + timedelta(seconds=1), "info", "embedded server started")])
        app.write_log([LogLine(t + timedelta(seconds=2), "info", "prompt_queued")])
        pane = app.log_pane

        def texts() -> list[str]:
            return ["".join(seg.text for seg in strip) for strip in pane.lines]

        await wait_for(pilot, lambda: any("KSampler" in line for line in texts()), what="the lines")
        order = [
            next(i for i, line in enumerate(texts()) if needle in line)
            for needle in (
                "embedded server started",
                "prompt_queued",
                "server connected",
                "KSampler #3 failed",
            )
        ]
        assert order == sorted(order), texts()


@pytest.mark.parametrize("name", ["txt2img-ui", "sample-and-decode-group"])
async def test_the_bundled_ui_workflows_run_in_the_demo(name: str) -> None:
    """The web UI's saved format, one with a group node: bundled, listed as UI, and they complete."""
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=200.0)) as server:
        app = ComfyRealityApp(
            Settings(server_url=server.url, images="off"),
            bundled_dir=paths.bundled_workflows_dir(),
            use_journal=False,
            frame_interval=0.005,
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.object_info is not None, timeout=20, what="the catalogue")
            await wait_for(pilot, lambda: any(wf.name == name for wf in app.workflow_files))
            workflow = next(wf for wf in app.workflow_files if wf.name == name)
            assert workflow.format.value == "ui" and not workflow.missing_node_types
            before = set(app.session.entries)
            app.browser.option_list.focus()
            app.browser.highlight(name)
            await pilot.press("r")
            await wait_for(pilot, lambda: set(app.session.entries) - before, what="queued")
            (new_id,) = set(app.session.entries) - before
            await wait_for(pilot, lambda: app.session.entries[new_id].status.is_final, timeout=30)
            entry = app.session.entries[new_id]
            assert entry.status is TaskStatus.COMPLETED, entry.execution.error


async def test_the_executions_list_has_a_fuzzy_filter_with_the_matched_letters_lit() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "completed")
        tree = app.query_one(TaskTree)
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.focused is app.main_screen.tasks_filter, what="the filter")
        await pilot.press(*"upsc")  # letters in order: "upscale-2x"
        await wait_for(pilot, lambda: len(tree.root.children) == 1, what="one execution left")
        only = tree.root.children[0].data
        assert only is not None and app.session.entries[only.execution_id].title == "upscale-2x"
        label = tree.render_label(tree.root.children[0], Style(), Style())
        lit = [span for span in label.spans if "underline" in str(span.style)]
        assert lit, label.spans
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(tree.root.children) == 3, what="all executions back")
        assert app.focused is tree


async def test_the_workflow_filter_matches_letters_in_order_and_lights_them() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "idle")
        browser = app.query_one(WorkflowBrowser)
        browser.option_list.focus()
        await pilot.press("slash", *"tui")
        await wait_for(
            pilot,
            lambda: browser.highlighted is not None and browser.highlighted.name == "txt2img-ui",
            what="txt2img-ui found by t…u…i",
        )
        option = browser.option_list.get_option("wf-0")
        prompt = option.prompt
        assert isinstance(prompt, Text)
        assert any("underline" in str(span.style) for span in prompt.spans)


async def test_history_opens_the_error_keeps_focus_on_enter_and_offers_retry(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    fill_history_journal(path)
    app = scene_app(WORKFLOWS, path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_history(pilot)
        screen = app.screen
        assert isinstance(screen, JournalScreen)
        table = screen.query_one("#history-table")
        assert app.focused is table
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is table  # details shown, focus kept
        await pilot.press("E")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), what="the error")
        await wait_for_text(pilot, "CUDA out of memory")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.clipboard.startswith("RuntimeError in node 2"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back in History")
        await pilot.press("t")  # the scene's journal keeps no prompt: it says so instead of failing later
        await wait_for_text(pilot, "has no prompt for upscale")


def test_a_run_removed_from_the_queue_says_so_once_not_under_every_node() -> None:
    from comfy_reality.runtime.models import Task, TaskType
    from comfy_reality.tui.widgets.node_progress import _extra_line

    removed = Task(
        id="n1",
        type=TaskType.NODE,
        name="KSampler #3",
        status=TaskStatus.CANCELLED,
        status_detail="not run: removed from the queue before it ran",
    )
    assert _extra_line(removed, "cancelled") is None
    interrupted = removed.model_copy(update={"status_detail": "interrupted"})
    assert _extra_line(interrupted, "cancelled") is not None
