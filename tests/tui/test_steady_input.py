"""SteadyInput: typing into it does not lay the screen out, and it shows what a plain Input shows."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Input

from comfy_reality.tui.widgets.steady_input import SteadyInput


class BothInputs(App[None]):
    CSS = "Input { width: 20; height: 1; border: none; padding: 0 1; }"

    def compose(self) -> ComposeResult:
        yield SteadyInput(id="steady")
        yield Input(id="plain")


async def test_typing_past_its_width_scrolls_as_a_plain_input_does_and_lays_nothing_out() -> None:
    app = BothInputs()
    async with app.run_test(size=(40, 6)) as pilot:
        steady, plain = app.query_one("#steady", Input), app.query_one("#plain", Input)
        await pilot.pause()
        layouts: list[Any] = []
        screen = app.screen
        refresh_layout = screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> None:
            if screen._layout_required:
                layouts.append(args)
            refresh_layout(*args, **kwargs)

        text = "a filter far longer than the box it is typed in"
        for widget in (plain, steady):
            widget.focus()
            await pilot.pause()
            if widget is steady:
                screen._refresh_layout = counted  # type: ignore[method-assign]
            for char in text:
                await pilot.press(char if char != " " else "space")
            await pilot.pause()
        assert steady.value == plain.value == text
        assert steady.scroll_x == plain.scroll_x > 0
        assert steady.virtual_size == plain.virtual_size
        app.set_focus(None)
        await pilot.pause()
        region = steady.size.region
        assert [list(s) for s in steady.render_lines(region)] == [list(s) for s in plain.render_lines(region)]
        assert layouts == []
