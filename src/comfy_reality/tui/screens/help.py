"""F1 / ?: what the focused pane is for and every key that works right now, with its keymap id."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from ...safe_text import safe_line

GENERAL = """\
Quitting never interrupts prompts: they keep running on the server. Remap any key
in the config file's `[keymap]` table with the id shown above, e.g. `run = "ctrl+r"`.
"""

KeyRow = tuple[str, str, str]  # key, description, binding id


def keys_table(title: str, rows: list[KeyRow]) -> Group:
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0), expand=False)
    table.add_column(style="bold cyan", no_wrap=True, min_width=10)
    table.add_column(no_wrap=True, min_width=16)
    table.add_column(style="dim", no_wrap=True)
    for key, description, binding_id in rows:
        # Keys come from the config's [keymap]: text, never markup ("[" is a key).
        table.add_row(safe_line(key), safe_line(description), safe_line(binding_id))
    return Group(Text(title, style="bold underline"), table, Text(""))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
    }
    #help-dialog {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: thick $accent;
        background: $surface;
    }
    #help-title {
        text-style: bold;
        background: $accent 30%;
        width: 100%;
        padding: 0 1;
    }
    #help-body {
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("f1", "dismiss", "Close", show=False, id="help.close_f1"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_question"),
        Binding("q", "dismiss", "Close", show=False, id="help.close_q"),
    ]

    def __init__(
        self,
        pane_help: str | None,
        pane_keys: list[KeyRow],
        global_keys: list[KeyRow],
        other_panes: list[str] | None = None,
        *,
        sections: list[tuple[str, list[KeyRow]]] | None = None,
    ) -> None:
        super().__init__()
        self.sections = sections or []
        """(pane title, its keys), the focused pane first: one table per pane."""
        self.other_panes = other_panes or []
        """The other panes' help (their keys work once Tab moves there)."""
        self.pane_help = pane_help
        self.pane_keys = pane_keys
        self.global_keys = global_keys

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Static("Help · esc to close", id="help-title")
            with VerticalScroll(id="help-body"):
                if self.pane_help:
                    yield Markdown(self.pane_help, id="help-pane")
                # The focused pane's keys, then the keys that work everywhere, then the other panes'.
                parts = [keys_table(title, rows) for title, rows in self.sections[:1]]
                if not self.sections and self.pane_keys:
                    parts.append(keys_table("Keys in this pane", self.pane_keys))
                if self.global_keys:
                    parts.append(keys_table("Keys everywhere", self.global_keys))
                parts += [keys_table(title, rows) for title, rows in self.sections[1:]]
                yield Static(Group(*parts), id="help-keys")
                if self.other_panes:
                    yield Markdown(
                        "# Other panes (Tab moves between them)\n\n" + "\n".join(self.other_panes),
                        id="help-other-panes",
                    )
                yield Markdown(GENERAL, id="help-general")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
