"""Ask where to save an execution's outputs (prefilled with the configured output folder)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ...safe_text import safe_str


def _folder_of(value: str) -> tuple[Path, bool]:
    """The typed folder, and whether that path is a file (the file system is read off the loop)."""
    folder = Path(value).expanduser()
    return folder, folder.exists() and not folder.is_dir()


class SaveOutputsScreen(ModalScreen[Path | None]):
    DEFAULT_CSS = """
    SaveOutputsScreen {
        align: center middle;
        background: $background 60%;
    }
    #save-dialog {
        width: 72;
        max-width: 95%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 0 1 0;
    }
    #save-title {
        text-style: bold;
        background: $accent 30%;
        width: 100%;
        padding: 0 1;
    }
    #save-note {
        padding: 1 2 0 2;
    }
    #save-dir {
        margin: 1 2 0 2;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save.cancel")]

    def __init__(self, count: int, default_dir: Path) -> None:
        super().__init__()
        self.count = count
        self.default_dir = default_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="save-dialog"):
            yield Static(f"Save {self.count} output file(s) into folder:", id="save-title")
            yield Input(str(self.default_dir), id="save-dir")
            yield Static(
                "Server file names are checked: nothing is written outside this folder "
                "and existing files are never overwritten. enter saves, esc cancels.",
                id="save-note",
            )

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.query_one("#save-note", Static).update("Type a folder path first.")
            return
        folder, is_a_file = await asyncio.to_thread(_folder_of, value)
        if is_a_file:
            # Said here, where it can be fixed: past this dialog it was "[Errno 17] File exists".
            self.query_one("#save-note", Static).update(
                Text(
                    f"{safe_str(folder.name, one_line=True)} is a file, not a folder: type a folder (a new one is made)."
                )
            )
            return
        self.dismiss(folder)

    def action_cancel(self) -> None:
        self.dismiss(None)
