"""F1 / ?: what the focused pane is for and every key that works right now."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

GENERAL = """\
## Everywhere

ComfyReality queues ComfyUI workflows and follows them node by node. Quitting
never interrupts prompts: they keep running on the server.

Keys can be remapped in the config file (`[keymap]` table: binding id = key),
for example `run = "ctrl+r"`.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("f1", "dismiss", "Close", show=False, id="help.close_f1"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_question"),
        Binding("q", "dismiss", "Close", show=False, id="help.close_q"),
    ]

    def __init__(self, pane_help: str | None, keys: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.pane_help = pane_help
        self.keys = keys

    def compose(self) -> ComposeResult:
        rows = "\n".join(f"| `{key}` | {description} | `{binding_id}` |" for key, description, binding_id in self.keys)
        table = "## Keys\n\n| key | action | id (for `[keymap]`) |\n|---|---|---|\n" + rows
        with Vertical(id="help-dialog"):
            yield Static("Help · esc to close", id="help-title")
            with VerticalScroll(id="help-body"):
                if self.pane_help:
                    yield Markdown(self.pane_help, id="help-pane")
                yield Markdown(table, id="help-keys")
                yield Markdown(GENERAL, id="help-general")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
