"""The whole error of a run (message, node, traceback) in a scrollable dialog: esc closes."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ...safe_text import safe_str


def split_traceback(error: str) -> tuple[str, str]:
    """(the message, wrapped to the dialog; the traceback from its first ``File "…"`` line on)."""
    lines = error.split("\n")
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith('File "')), len(lines))
    return "\n".join(lines[:start]), "\n".join(lines[start:])


class ErrorScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ErrorScreen {
        align: center middle;
        background: $background 60%;
    }
    #error-dialog {
        width: 90%;
        max-width: 120;
        height: 80%;
        border: thick $error;
        background: $surface;
    }
    #error-title {
        background: $error 30%;
        text-style: bold;
        padding: 0 1;
    }
    #error-body {
        padding: 0 1;
    }
    #error-message {
        width: 100%;
    }
    #error-traceback {
        width: auto;
    }
    """

    BINDINGS = [
        Binding("escape,q", "dismiss", "Close", id="error.close"),
        Binding("y", "copy", "Copy", id="error.copy"),
    ]

    def __init__(self, title: str, error: str) -> None:
        super().__init__()
        self.title_text = title
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog"):
            yield Static(
                Text(f"{safe_str(self.title_text, one_line=True)} · esc closes · y copies"), id="error-title"
            )
            message, traceback = split_traceback(safe_str(self.error))
            with ScrollableContainer(id="error-body"):
                yield Static(Text(message), id="error-message")
                # Code lines and the carets under them only read right unwrapped: they scroll sideways.
                yield Static(Text(traceback, no_wrap=True), id="error-traceback")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.error)
        self.notify("Copied the error", timeout=2)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
