"""Ask for a name (saving a workflow locally or on the server)."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ...safe_text import safe_line, safe_text


class NamePromptScreen(ModalScreen[str | None]):
    """``check`` returns an error message for a bad name, or None; the dialog stays open until it passes."""

    DEFAULT_CSS = """
    NamePromptScreen {
        align: center middle;
        background: $background 60%;
    }
    #name-dialog {
        width: 72;
        max-width: 95%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 0 1 0;
    }
    .dialog-title {
        text-style: bold;
        background: $accent 30%;
        width: 100%;
        padding: 0 1;
    }
    .dialog-note {
        padding: 1 2 0 2;
    }
    #name-input {
        margin: 1 2 0 2;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="name.cancel")]

    def __init__(self, title: str, default: str, check: Callable[[str], str | None]) -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="name-dialog", classes="dialog"):
            yield Static(safe_line(self.title_text), classes="dialog-title")
            yield Input(self.default, id="name-input")
            yield Static("enter saves, esc cancels", id="name-note", classes="dialog-note")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        problem = self.check(value)
        if problem:
            self.query_one("#name-note", Static).update(safe_text(problem, "bold red"))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
