"""The save-outputs dialog refuses a path that is a file, where the user can still fix it.

Found by hand: typing a file's path saved nothing and said only
"Saving ComfyUI_00001_.png failed: [Errno 17] File exists: '/…'" after the dialog had closed.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from comfy_reality.tui.screens.save_outputs import SaveOutputsScreen

from .pilot import screen_text, wait_for, wait_for_text


class Host(App[None]):
    def __init__(self, default_dir: Path) -> None:
        super().__init__()
        self.default_dir = default_dir
        self.chosen: list[Path | None] = []

    def compose(self) -> ComposeResult:
        yield Static("main")

    def on_mount(self) -> None:
        self.push_screen(SaveOutputsScreen(2, self.default_dir), self.chosen.append)


async def test_a_file_is_refused_in_the_dialog_and_a_folder_is_taken(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    app = Host(a_file)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SaveOutputsScreen), what="the dialog")
        await pilot.press("enter")
        await wait_for_text(pilot, "notes.txt is a file, not a folder")
        assert isinstance(app.screen, SaveOutputsScreen) and app.chosen == []
        app.screen.query_one(Input).value = str(tmp_path / "new")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chosen == [tmp_path / "new"], what="the folder chosen")
        assert "is a file" not in screen_text(app)
