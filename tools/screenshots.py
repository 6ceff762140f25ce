"""Export the main states of the app as SVGs (``python -m tools.screenshots [DIR] [WORKFLOWS]``).

The same scenes the snapshot tests compare (``tests/tui/scenes.py``): fixed ids, times and numbers,
frozen clock, no cursor blink, fixed terminal size. The app runs offline; the scene's
server status and task snapshots are posted to it as messages, exactly as the runtime
worker would post them. Each app gets its own journal in a temporary folder (the History
scene's is filled first), so exporting never reads or writes the user's own.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from comfy_reality.tui import format as fmt
from tests.tui import scenes
from tests.tui.scenes import (
    SERVER_SIZES,
    SERVER_STATES,
    SIZES,
    STATES,
    apply_scene,
    apply_server_scene,
    scene_app,
)


async def export(directory: Path, workflows_dir: Path | None = None) -> list[Path]:
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
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
    for size_name, size in SERVER_SIZES.items():
        for state in SERVER_STATES:
            app = scene_app(workflows_dir)
            try:
                async with app.run_test(size=size) as pilot:
                    await apply_server_scene(pilot, state)
                    name = f"{state}-{size_name}.svg"
                    app.save_screenshot(filename=name, path=str(directory))
                    written.append(directory / name)
            finally:
                fmt.freeze_clock(None)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.screenshots",
        description="Export the app's main states as SVG screenshots (the README's pictures).",
    )
    parser.add_argument("target", nargs="?", type=Path, default=Path("screenshots"), help="output folder")
    parser.add_argument("workflows", nargs="?", type=Path, default=None, help="workflows folder to list")
    args = parser.parse_args(argv)
    for path in asyncio.run(export(args.target, args.workflows)):
        print(path)


if __name__ == "__main__":
    main()
