"""The first frame: what it shows, and that keys pressed the moment it is up already act.

The panes, the footer's keys and the workflow list (or its "reading" line) are on the very first
update the app hands the terminal; the folders are read, the journal opened and the server
connected after it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from comfy_reality.config import Settings
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.help import HelpScreen

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text


def _on_first_frame(app: ComfyRealityApp) -> tuple[asyncio.Event, list[str]]:
    """An event set, and the screen's text kept, when the app hands the driver its first frame."""
    shown = asyncio.Event()
    text: list[str] = []
    display = app._display

    def first_frame(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None and not shown.is_set():
            text.append(screen_text(app))
            shown.set()

    app._display = first_frame  # type: ignore[method-assign]
    return shown, text


async def test_the_first_frame_shows_the_panes_the_footer_keys_and_the_workflow_list_or_its_reading_line() -> (
    None
):
    app = ComfyRealityApp(Settings(server_url="http://127.0.0.1:9"), bundled_dir=WORKFLOWS, connect=False)
    shown, text = _on_first_frame(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(shown.wait(), 10)
        first = text[0]
        for title in ("ComfyReality", "Workflows", "Executions", "Workflow", "Log"):
            assert title in first, first
        # The footer's keys for the focused pane (the workflow list), not an empty bar filled in later.
        for key in ("? Help", "r Run", "e Edit", "/ Filter", "h History", "^q Quit"):
            assert key in first, first
        assert "Reading the workflow folders…" in first or "progress" in first, first
        await wait_for(pilot, lambda: bool(app.workflow_files))
        await wait_for_text(pilot, "progress")
        settled = screen_text(app)
        assert "Reading the workflow folders…" not in settled
        # No layout jump: every pane's frame is where the first frame drew it (120 columns: the wide layout).
        assert _pane_tops(first) == _pane_tops(settled)
        assert _pane_tops(first)["Log"] == 40 - 1 - 14


def _pane_tops(text: str) -> dict[str, int]:
    """The line each pane's top border is on, by its title."""
    tops: dict[str, int] = {}
    for number, line in enumerate(text.splitlines()):
        for title in ("Workflows", "Executions", "Workflow", "Log"):
            if f"╭─ {title} ─" in line:
                tops[title] = number
    return tops


async def test_keys_pressed_as_the_first_frame_appears_act() -> None:
    """Tab, ? and q typed before the folders are read and the journal is open still do their job."""
    app = ComfyRealityApp(Settings(server_url="http://127.0.0.1:9"), bundled_dir=WORKFLOWS, connect=False)
    shown, _ = _on_first_frame(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(shown.wait(), 10)
        await pilot.press("tab")
        assert app.screen.focused is app.task_tree
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        await pilot.press("q")  # the server's queue: offline, it says why
        await wait_for_text(pilot, "Not connected to http://127.0.0.1:9")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_the_runtime_libraries_load_on_a_thread(tmp_path: Any, monkeypatch: Any) -> None:
    """After the first frame the backend imports the HTTP/WebSocket stack off the loop (tens of ms)."""
    import sys
    import threading

    from comfy_reality.tui.backend import load_off_loop

    (tmp_path / "slow_stack_probe.py").write_text(
        "import threading\nLOADED_ON = threading.current_thread().name\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_stack_probe", raising=False)
    await load_off_loop("slow_stack_probe")
    assert threading.main_thread().name != sys.modules["slow_stack_probe"].LOADED_ON
    await load_off_loop("slow_stack_probe")  # loaded: nothing to do


async def test_last_sessions_node_catalogue_is_read_after_the_first_frame() -> None:
    """The cached catalogue (megabytes for a real server) is read off the loop once the frame is up,
    and the list is scanned with it."""
    from comfy_reality.workflows import ObjectInfoCache

    ObjectInfoCache().store(
        "http://127.0.0.1:9", {"EmptyImage": {"input": {"required": {}}, "output": ["IMAGE"]}}
    )
    app = ComfyRealityApp(Settings(server_url="http://127.0.0.1:9"), bundled_dir=WORKFLOWS, connect=False)
    shown, _ = _on_first_frame(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(shown.wait(), 10)
        await wait_for(pilot, lambda: app.object_info is not None and bool(app.workflow_files))
        assert app.object_info is not None and "EmptyImage" in app.object_info.class_types


async def test_the_start_up_freeze_comes_after_the_first_keys(monkeypatch: Any) -> None:
    """Freezing the start-up objects begins with a full collection (about 25 ms): it waits a moment
    after the first frame instead of standing between the first frame and the first key."""
    import gc
    import time

    from comfy_reality.tui import app as app_module
    from comfy_reality.tui.gc_tuning import freeze_long_lived

    frozen_at: list[float] = []

    def recorded_freeze() -> None:
        frozen_at.append(time.monotonic())
        freeze_long_lived()

    monkeypatch.setattr(app_module, "freeze_long_lived", recorded_freeze)
    monkeypatch.setattr(app_module, "FREEZE_AFTER", 2.0)
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9"),
        bundled_dir=WORKFLOWS,
        connect=False,
        freeze_long_lived=True,
    )
    shown, _ = _on_first_frame(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(shown.wait(), 10)
        await pilot.press("tab")
        assert app.screen.focused is app.task_tree
        acted = time.monotonic()
        assert frozen_at == []  # the key did not wait for a collection
        await wait_for(pilot, lambda: bool(frozen_at), timeout=15)
        assert frozen_at[0] > acted
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # thawed when the app ended


async def test_settings_read_for_the_first_frame_are_validated_right_after_it(tmp_path: Any) -> None:
    """As comfy-reality-tui starts in a terminal: the first frame draws from the sources (the URL as
    the model leaves it, never its password), the model validates them once it is up, and the
    config file's workflow folder is listed from the first scan."""
    import shutil

    from comfy_reality import startup

    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(WORKFLOWS / "progress.json", folder / "from-config.json")
    config = tmp_path / "config.toml"
    config.write_text(f'workflow_dirs = ["{folder.as_posix()}"]\n', encoding="utf-8")
    pending = startup.read(config, server_url="http://alice:pw-1234@127.0.0.1:9/")
    app = ComfyRealityApp(pending, bundled_dir=WORKFLOWS, connect=False)
    shown, text = _on_first_frame(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(shown.wait(), 10)
        assert "http://127.0.0.1:9" in text[0] and "pw-1234" not in text[0] and "alice" not in text[0]
        await wait_for(pilot, lambda: bool(app.workflow_files))
        assert app.settings.server_url == "http://127.0.0.1:9" and app.settings.username == "alice"
        assert "from-config" in [w.path.stem for w in app.workflow_files]
        await wait_for_text(pilot, "Folder mine")


async def test_settings_the_model_refuses_after_the_first_frame_stop_the_app_with_its_message(
    tmp_path: Any,
) -> None:
    from comfy_reality import startup
    from comfy_reality.config import load_settings
    from comfy_reality.errors import ConfigError

    config = tmp_path / "config.toml"
    config.write_text("timeout = -1\n", encoding="utf-8")
    pending = startup.read(config)
    assert pending.first_frame is not None
    app = ComfyRealityApp(pending, bundled_dir=WORKFLOWS, connect=False)
    shown, _ = _on_first_frame(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(shown.wait(), 10)
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 2
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert app.config_error == str(refused.value)
    assert app.journal is None  # nothing was opened or connected with settings the model refused


async def test_a_key_pressed_at_the_first_frame_is_answered_before_the_deferred_start_up_work(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """As comfy-reality-tui starts: the settings model loads off the loop after the first frame; a
    Tab typed meanwhile moves the focus (and the footer's keys) at once, and the settings, the folders'
    scan and the journal follow once that load is done."""
    from comfy_reality import startup
    from comfy_reality.tui import app as app_module

    loading, release = asyncio.Event(), asyncio.Event()
    load_off_loop = app_module.load_off_loop

    async def held_load(*modules: str) -> None:
        loading.set()
        await release.wait()
        await load_off_loop(*modules)

    monkeypatch.setattr(app_module, "load_off_loop", held_load)
    pending = startup.read(tmp_path / "absent.toml", server_url="http://127.0.0.1:9")
    app = ComfyRealityApp(pending, bundled_dir=WORKFLOWS, connect=False)
    shown, text = _on_first_frame(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(shown.wait(), 10)
        await asyncio.wait_for(loading.wait(), 10)
        assert "x Cancel" not in text[0]
        await pilot.press("tab")
        assert app.screen.focused is app.task_tree
        assert "x Cancel" in screen_text(app)
        # Still waiting: nothing validated, scanned or opened yet.
        assert app._settings is None and not app.workflow_files and app.journal is None
        release.set()
        await wait_for(pilot, lambda: bool(app.workflow_files) and app.journal is not None)
        assert app.settings.server_url == "http://127.0.0.1:9"
