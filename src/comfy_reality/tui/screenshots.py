"""Export the main states of the app as SVGs (``python -m comfy_reality.tui.screenshots [DIR]``).

The same scenes the snapshot tests compare (``scenes.py``): fixed ids, times and numbers,
frozen clock, no cursor blink, fixed terminal size. The app runs offline; the scene's
server status and task snapshots are posted to it as messages, exactly as the runtime
worker would post them. Each app gets its own journal in a temporary folder (the History
scene's is filled first), so exporting never reads or writes the user's own.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from ..config import Settings
from ..server.catalogue import NodeCatalogue
from ..workflows import ObjectInfo
from . import format as fmt
from . import scenes
from .app import ComfyRealityApp
from .messages import ServerStatusChanged, SystemStatsUpdated
from .screens.input_form import InputFormScreen
from .testing import wait_for
from .widgets import TaskTree

STATES = [
    "idle",
    "running",
    "completed",
    "failed",
    "cancelled",
    "disconnected",
    "help",
    "input_form",
    "history",
]
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


def scene_app(workflows_dir: Path | None = None, journal_path: Path | None = None) -> ComfyRealityApp:
    """An offline app whose workflow list comes from ``workflows_dir`` only.

    Its journal is ``journal_path``; without one the journal is off, so a scene never opens
    the user's own.
    """
    app = ComfyRealityApp(
        Settings(server_url=scenes.SERVER_URL, images="off"),  # the same picture from a terminal or a pipe
        connect=False,
        bundled_dir=workflows_dir,
        journal_path=journal_path,
        use_journal=journal_path is not None,
    )
    app.sources = app.sources[:1]
    app.log_timezone = UTC  # the same picture in every time zone
    return app


async def apply_scene(pilot: Pilot[None], state: str) -> None:
    """Put a running app into one named state and wait until it has drawn it.

    ``history`` needs the app's journal filled by :func:`scenes.fill_history_journal`.
    """
    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    if state == "history":
        await scenes.open_history(pilot)
        return
    fmt.freeze_clock(scenes.NOW)
    await wait_for(pilot, lambda: bool(app.workflow_files))
    scene_state = "idle" if state in ("help", "input_form") else state
    batch, status, stats = scenes.scene(scene_state)
    app.post_message(ServerStatusChanged(status))
    if stats is not None:
        app.post_message(SystemStatsUpdated(stats))
    if batch is not None:
        app.post_message(batch)
        await wait_for(pilot, lambda: "exec_main" in app.session.entries)
        tree = app.query_one(TaskTree)
        tree.focus()
        tree.select_execution("exec_main")
        await pilot.pause()
        if state == "running":
            tree.select_execution("exec_main")
            tree.action_toggle_node()
    if state == "help":
        await pilot.press("f1")
    if state == "input_form":
        await open_form_scene(pilot, app)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def demo_object_info() -> ObjectInfo:
    """What ``--demo`` serves: the recorded catalogue plus its virtual model files (no input images)."""
    with tempfile.TemporaryDirectory() as empty:
        return ObjectInfo(NodeCatalogue(Path(empty)).object_info())


async def open_form_scene(pilot: Pilot[None], app: ComfyRealityApp) -> None:
    """The form of the first workflow with a sampler, against the demo server's node catalogue."""
    app.object_info = demo_object_info()
    candidates = [wf for wf in app.workflow_files if wf.ok and "KSampler" in wf.class_types] or [
        wf for wf in app.workflow_files if wf.ok
    ]
    workflow = candidates[0]
    app.browser.highlight(workflow.name)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen))
    for editor in app.screen.query(".field-editor"):
        if isinstance(editor, (Input, TextArea)):
            editor.cursor_blink = False
    await pilot.pause()


async def export(directory: Path, workflows_dir: Path | None = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for size_name, size in SIZES.items():
        for state in STATES:
            with tempfile.TemporaryDirectory(prefix="comfy-reality-scene-") as home:
                journal_path = Path(home) / "journal.sqlite3"
                if state == "history":
                    await asyncio.to_thread(scenes.fill_history_journal, journal_path)
                app = scene_app(workflows_dir, journal_path)
                try:
                    async with app.run_test(size=size) as pilot:
                        await apply_scene(pilot, state)
                        name = f"{state}-{size_name}.svg"
                        app.save_screenshot(filename=name, path=str(directory))
                        written.append(directory / name)
                finally:
                    fmt.freeze_clock(None)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m comfy_reality.tui.screenshots",
        description="Export the app's main states as SVG screenshots (the README's pictures).",
    )
    parser.add_argument("target", nargs="?", type=Path, default=Path("screenshots"), help="output folder")
    parser.add_argument("workflows", nargs="?", type=Path, default=None, help="workflows folder to list")
    args = parser.parse_args(argv)
    for path in asyncio.run(export(args.target, args.workflows)):
        print(path)


if __name__ == "__main__":
    main()
