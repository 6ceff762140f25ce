"""What the first frame costs: only what it shows is mounted, and nothing is styled or laid out twice.

Every widget mounted before the first frame is styled and composed before that frame. The execution
view (hidden until an execution is shown), the two filters (hidden until /) and the too-small notice
are mounted when they are first needed; the first resume does not restyle what mounting styled, and
the screen's own size sent again after its first layout lays nothing out again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.geometry import Size
from textual.widget import Widget

from comfy_reality import startup
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.main import MainScreen

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text
from .scenes import scene, scene_app


def _pending_app(tmp_path: Path) -> ComfyRealityApp:
    """Started as comfy-reality-tui starts in a terminal: the settings validated after the first frame."""
    pending = startup.read(tmp_path / "absent.toml", server_url="http://127.0.0.1:9")
    return ComfyRealityApp(pending, bundled_dir=WORKFLOWS, connect=False, log_settle=0.0)


def _ids_at_first_frame(app: ComfyRealityApp) -> tuple[asyncio.Event, list[set[str]]]:
    """An event set, and the ids of the screen's widgets kept, when the app hands the driver its first frame."""
    shown = asyncio.Event()
    ids: list[set[str]] = []
    display = app._display

    def first_frame(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None and not shown.is_set():
            ids.append({w.id for w in app.main_screen.walk_children() if w.id is not None})
            shown.set()

    app._display = first_frame  # type: ignore[method-assign]
    return shown, ids


async def test_in_a_terminal_the_first_frame_mounts_what_it_shows_and_the_execution_view_follows(
    tmp_path: Path,
) -> None:
    app = _pending_app(tmp_path)
    shown, ids = _ids_at_first_frame(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(shown.wait(), 10)
        first = ids[0]
        assert {"status-bar", "workflows", "workflow-list", "tasks", "preview", "log"} <= first
        assert (
            not {"execution", "exec-header", "exec-nodes", "workflow-filter", "tasks-filter", "too-small"}
            & first
        )
        await wait_for(pilot, lambda: bool(app.workflow_files) and app.main_screen.execution_view.is_mounted)
        batch, _, _ = scene("completed")
        assert batch is not None
        app.post_message(batch)
        await wait_for(pilot, lambda: "exec_main" in app.session.entries)
        app.task_tree.focus()
        app.task_tree.select_execution("exec_main")
        await wait_for(pilot, lambda: app.main_screen.execution_view.display, what="the execution view shown")
        entry = app.main_screen.execution_view.entry
        assert entry is not None and entry.id == "exec_main"
        await wait_for_text(pilot, "Outputs (")


async def test_an_execution_selected_before_the_view_is_mounted_is_shown_once_it_is(
    tmp_path: Path, monkeypatch: Any
) -> None:
    held, release = asyncio.Event(), asyncio.Event()
    mount_hidden_panes = MainScreen.mount_hidden_panes

    async def held_mount(self: MainScreen) -> None:
        held.set()
        await release.wait()
        await mount_hidden_panes(self)

    monkeypatch.setattr(MainScreen, "mount_hidden_panes", held_mount)
    app = _pending_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(held.wait(), 10)
        batch, _, _ = scene("completed")
        assert batch is not None
        app.post_message(batch)
        await wait_for(pilot, lambda: "exec_main" in app.session.entries)
        app.task_tree.focus()
        app.task_tree.select_execution("exec_main")
        await pilot.pause()
        view = app.main_screen.execution_view
        assert not view.is_mounted and view.entry is None  # remembered, not shown into a view not yet there
        release.set()
        await wait_for(pilot, lambda: view.display and view.entry is not None, what="the execution shown")
        assert view.entry is not None and view.entry.id == "exec_main"
        assert not app.main_screen.preview.display


async def test_the_filters_are_mounted_by_their_first_slash(tmp_path: Path) -> None:
    app = _pending_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        browser, screen = app.browser, app.main_screen
        assert browser.filter_input.parent is None and screen.tasks_filter.parent is None
        await pilot.press("slash")
        await wait_for(pilot, lambda: browser.filter_input.has_focus, what="the workflow filter")
        assert browser.children[0] is browser.filter_input  # above the list
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.focused is browser.option_list)
        await pilot.press("tab", "slash")
        await wait_for(pilot, lambda: app.focused is screen.tasks_filter, what="the executions filter")
        box = screen.query_one("#tasks-box")
        assert list(box.children) == [screen.tasks_filter, app.task_tree]


async def test_the_screens_size_sent_again_lays_nothing_out_and_a_new_size_does(tmp_path: Path) -> None:
    app = _pending_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        screen = app.main_screen
        await pilot.pause()
        resized: list[Size] = []
        screen_resized = screen._screen_resized

        def counted(size: Size) -> None:
            resized.append(size)
            screen_resized(size)

        screen._screen_resized = counted  # type: ignore[method-assign]
        for _ in range(3):
            screen.post_message(events.Resize(Size(120, 40), Size(120, 40)))
        await pilot.pause()
        assert resized == []
        await pilot.resize_terminal(100, 40)
        await wait_for(pilot, lambda: resized == [Size(100, 40)], what="the new size laid out")
        assert screen.has_class("-narrow") and not screen.has_class("-wide")


async def test_a_terminal_made_too_small_after_start_up_says_so_and_the_panes_come_back(
    tmp_path: Path,
) -> None:
    app = _pending_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        assert app.main_screen.too_small is None
        await pilot.resize_terminal(40, 12)
        await wait_for_text(pilot, "Terminal too small: 40x12")
        assert "Workflows" not in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "Workflows" in screen_text(app), what="the panes back")
        assert "too small" not in screen_text(app)
        await pilot.resize_terminal(50, 20)
        await wait_for_text(pilot, "Terminal too small: 50x20")


def _styles(screen: Widget) -> dict[str, dict[str, object]]:
    """Every widget's rules from the stylesheet, its component classes' and its scrollbars', by widget."""
    styles: dict[str, dict[str, object]] = {}
    for node in screen.walk_children(with_self=True):
        assert isinstance(node, Widget)
        rules: dict[str, object] = {
            "rules": node.styles.base.get_rules(),
            "flags": (node._has_focus_within, node._has_hover_style, node._has_order_style),
        }
        for name, component in node._component_styles.items():
            rules[name] = component.base.get_rules()
        for bar in (node._vertical_scrollbar, node._horizontal_scrollbar):
            if bar is not None:
                rules[type(bar).__name__ + str(bar.vertical)] = bar.styles.base.get_rules()
        styles[repr(node)] = rules
    return styles


@pytest.mark.parametrize("pending", [True, False], ids=["terminal", "validated"])
@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_the_first_frames_styles_are_those_a_full_restyle_gives(
    tmp_path: Path, pending: bool, size: tuple[int, int]
) -> None:
    """The first resume skips Textual's restyle of the whole screen: what mounting styled must be final."""
    app = _pending_app(tmp_path) if pending else scene_app(WORKFLOWS)
    shown = asyncio.Event()
    compared: list[tuple[dict[str, dict[str, object]], dict[str, dict[str, object]]]] = []
    display = app._display

    def first_frame(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None and not shown.is_set():
            drawn = _styles(app.main_screen)
            app.stylesheet.update(app.main_screen)
            compared.append((drawn, _styles(app.main_screen)))
            shown.set()

    app._display = first_frame  # type: ignore[method-assign]
    async with app.run_test(size=size):
        await asyncio.wait_for(shown.wait(), 10)
    drawn, restyled = compared[0]
    assert len(drawn) >= 14
    assert any(key.startswith("ScrollBar") for rules in drawn.values() for key in rules)
    assert drawn == restyled


# A fresh interpreter started as comfy-reality-tui starts in a terminal: which of the modules the first
# frame has no use for (the execution view's, the Executions filter's, the palette's, the toasts', the
# workflow formats', json) are loaded at that frame, which once the execution view is mounted, and
# whether the view's own module loaded on the loop's thread.
_LOADED_CHILD = r"""
import asyncio, sys, threading
from pathlib import Path
from comfy_reality import startup
from comfy_reality.tui.app import ComfyRealityApp

LATER = sys.argv[3].split(",")  # not json: it is one of them
loaded = lambda: sorted(name for name in LATER if name in sys.modules)
on_the_loop = []

class Watch:  # first on the import path: sees the view's module looked for, on whichever thread
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "comfy_reality.tui.widgets.execution_view":
            on_the_loop.append(threading.current_thread() is threading.main_thread())

sys.meta_path.insert(0, Watch)

async def main():
    pending = startup.read(Path(sys.argv[2]), server_url="http://127.0.0.1:9")
    app = ComfyRealityApp(pending, bundled_dir=Path(sys.argv[1]), connect=False, log_settle=0.0)
    at_first_frame = []
    display = app._display

    def first_frame(screen, renderable):
        display(screen, renderable)
        if renderable is not None and not at_first_frame:
            at_first_frame.append(loaded())

    app._display = first_frame
    async with app.run_test(size=(120, 40)) as pilot:
        while not (at_first_frame and app.main_screen._execution_view_mounted):  # the property would build it
            await pilot.pause(0.01)
    print(",".join(at_first_frame[0]), ",".join(loaded()), on_the_loop[0], sep="|")

asyncio.run(main())
"""

LOADED_AFTER_THE_FIRST_FRAME = [
    "json",
    "comfy_reality.tui.commands",
    "comfy_reality.tui.image_actions",
    "comfy_reality.tui.keymap",
    "comfy_reality.tui.notices",
    "comfy_reality.tui.widgets.execution_filter",
    "comfy_reality.tui.widgets.execution_view",
    "comfy_reality.tui.widgets.live_text",
    "comfy_reality.tui.widgets.node_progress",
    "comfy_reality.workflows.formats",
]


def test_modules_the_first_frame_does_not_use_load_after_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOADED_CHILD,
            str(WORKFLOWS),
            str(tmp_path / "absent.toml"),
            ",".join(LOADED_AFTER_THE_FIRST_FRAME),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    at_first_frame, once_mounted, on_the_loop = done.stdout.splitlines()[-1].split("|")
    assert at_first_frame == ""
    assert "comfy_reality.tui.widgets.execution_view" in once_mounted.split(",")
    assert on_the_loop == "False"  # on a thread: a key's frame still to be drawn is not held up by it


def test_the_task_tree_builds_no_lines_before_it_is_mounted(monkeypatch: Any) -> None:
    """Its settings are set as it is built, not through the watchers that rebuild a mounted tree's lines."""
    from comfy_reality.tui.widgets import TaskTree

    built: list[int] = []
    build = TaskTree._build

    def counted(self: TaskTree) -> None:
        built.append(1)
        build(self)

    monkeypatch.setattr(TaskTree, "_build", counted)
    tree = TaskTree(id="tasks")
    assert built == []
    assert tree.show_root is False and tree.guide_depth == 2
