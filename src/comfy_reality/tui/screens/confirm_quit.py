"""ctrl+q while prompts run: quitting leaves them running on the server, so say so first."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...safe_text import safe_text


class ConfirmQuitScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmQuitScreen {
        align: center middle;
        background: $background 60%;
    }
    #quit-dialog {
        width: 72;
        max-width: 95%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 0 0 1 0;
    }
    #quit-title {
        text-style: bold;
        background: $accent 30%;
        width: 100%;
        padding: 0 1;
    }
    #quit-message {
        padding: 1 2 0 2;
    }
    #quit-buttons {
        height: auto;
        align: center middle;
        padding-top: 1;
    }
    #quit-buttons Button {
        margin: 0 2;
    }
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Quit", id="quit.yes"),
        Binding("n,escape", "answer(False)", "Stay", id="quit.no"),
    ]

    def __init__(self, running: list[str]) -> None:
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        count = len(self.running)
        names = ", ".join(self.running[:5]) + (f" and {count - 5} more" if count > 5 else "")
        noun = "prompt is" if count == 1 else "prompts are"
        with Vertical(id="quit-dialog"):
            yield Static("Quit ComfyReality?", id="quit-title")
            # Names come from workflow files and the server: Text, never markup.
            yield Static(
                safe_text(
                    f"{count} {noun} still queued or running: {names}.\n\n"
                    "Quitting does not interrupt them: they keep running on the server "
                    "and their outputs stay there."
                ),
                id="quit-message",
            )
            with Horizontal(id="quit-buttons"):
                yield Button("Quit (y)", variant="error", id="quit-yes")
                yield Button("Stay (n)", variant="primary", id="quit-no")

    def on_mount(self) -> None:
        self.query_one("#quit-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
