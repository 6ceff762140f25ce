"""The whole-error dialog at 80x24: the message wraps, the traceback's code and carets do not.

Found by hand in History (E): wrapped at 80 columns, a code line's ``^^^^`` marker spilled over
three lines under the wrong text.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from comfy_reality.tui.screens.error_view import ErrorScreen

from .pilot import screen_text, wait_for

CALL = "output_data = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=cb)"
ERROR = "\n".join(
    [
        "IndexError in node 2 (ImageToMask): index 3 is out of bounds for dimension 3 with size 3 "
        "(the image has no alpha channel)",
        '  File "/opt/ComfyUI/execution.py", line 496, in execute',
        f"    {CALL}",
        "    " + " " * CALL.index("await") + "^" * len(CALL[CALL.index("await") :]),
    ]
)


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("main")

    def on_mount(self) -> None:
        self.push_screen(ErrorScreen("Error of failing-node", ERROR))


async def test_the_message_wraps_and_the_carets_stay_under_their_code() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), what="the dialog")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        text = "\n".join(lines)
        assert "(the image has no alpha channel)" in text  # the message is whole, wrapped
        carets = [i for i, line in enumerate(lines) if "^^^" in line]
        assert len(carets) == 1, text  # one marker line, right under its code line
        code = lines[carets[0] - 1]
        assert "output_data = await" in code
        assert code.index("await") == lines[carets[0]].index("^")
