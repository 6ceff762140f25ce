"""The footer's keys as one line: cell for cell what Textual's Footer shows, and a Tab needs no layout for it."""

from __future__ import annotations

from typing import Any

import pytest
from rich.segment import Segment
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, OptionList

from comfy_reality.tui.widgets.steady_footer import KeyLine, SteadyFooter, footer_entries
from tests.tui.helpers import count_layouts
from tests.tui.scenes import apply_scene, scene_app

from .helpers import WORKFLOWS, screen_text

Cell = tuple[str, object, object, bool | None, bool | None, bool | None]


class _Pane(OptionList):
    def action_key(self, name: str) -> None:
        """Shown in the footer only."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if parameters == ("s",) else True  # None: shown, disabled (dimmed)


class _Workflows(_Pane):
    BINDINGS = [
        Binding("r", "key('r')", "Run"),
        Binding("e", "key('e')", "Edit"),
        Binding("slash", "key('/')", "Filter"),
    ]


class _Executions(_Pane):
    BINDINGS = [
        Binding("x", "key('x')", "Cancel"),
        Binding("X", "key('x')", "Cancel too"),  # a second key of the same action: not listed
        Binding("y", "key('y')", "Copy id"),
        Binding("s", "key('s')", "Save"),
        Binding("ctrl+o", "key('o')", "Open outputs"),
    ]


class _Keys(App[None]):
    BINDINGS = [Binding("question_mark", "key('?')", "Help"), Binding("ctrl+q", "quit", "Quit")]

    def __init__(self, footer: type[Footer]) -> None:
        super().__init__()
        self.footer_type = footer

    def compose(self) -> ComposeResult:
        yield _Workflows("a", "b")
        yield _Executions("c", "d")
        yield self.footer_type(show_command_palette=False)

    def action_key(self, name: str) -> None:
        """Shown in the footer only."""


def _cells(strip: list[Segment]) -> list[Cell]:
    """Each cell's character and look (colours, bold, dim, reverse), whatever the segments' cuts."""
    cells: list[Cell] = []
    for segment in strip:
        style = segment.style
        look = (
            (style.color, style.bgcolor, style.bold, style.dim, style.reverse)
            if style
            else (None, None, None, None, None)
        )
        cells.extend((char, *look) for char in segment.text)
    return cells


def _footer_cells(app: App[Any]) -> list[Cell]:
    return _cells(list(app.screen._compositor.render_strips()[-1]))


@pytest.mark.parametrize("width", [40, 80, 120])
async def test_the_key_line_looks_like_textuals_footer_cell_for_cell(width: int) -> None:
    stock, steady = _Keys(Footer), _Keys(SteadyFooter)
    async with stock.run_test(size=(width, 10)) as stock_pilot, steady.run_test(size=(width, 10)) as pilot:
        for _ in range(3):
            for driver in (stock_pilot, pilot):
                await driver.press("tab")
                await driver.pause()
                await driver.pause()  # Textual's Footer recomposes after the frame
            assert type(stock.focused) is type(steady.focused)
            # Up to the last key that fits whole; Textual's Footer then cuts the next one ("^o Op"),
            # where this line leaves blank cells.
            shown = steady.screen.query_one(KeyLine)._spans[-1][1]
            steady_cells = _footer_cells(steady)
            assert steady_cells[:shown] == _footer_cells(stock)[:shown]
            assert {cell[0] for cell in steady_cells[shown:]} <= {" "}
        assert (
            screen_text(steady)
            .splitlines()[-1]
            .startswith((" x Cancel  y Copy id  s Save ", " r Run  e Edit "))
        )


async def test_clicking_a_key_presses_it_and_a_disabled_key_rings() -> None:
    pressed: list[str] = []

    class Clicked(_Keys):
        def action_key(self, name: str) -> None:
            pressed.append(name)

    app = Clicked(SteadyFooter)
    async with app.run_test(size=(80, 10)) as pilot:
        line = app.screen.query_one(KeyLine)
        await pilot.click(KeyLine, offset=(screen_text(app).splitlines()[-1].index("Help"), 0))
        assert pressed == ["?"]
        app.query_one(_Executions).focus()
        await pilot.pause()
        assert " s Save " in screen_text(app).splitlines()[-1]
        rung: list[bool] = []
        app.bell = lambda: rung.append(True)  # type: ignore[method-assign]
        await pilot.click(KeyLine, offset=(screen_text(app).splitlines()[-1].index("Save"), 0))
        assert rung == [True]
        assert line.entries == footer_entries(app.screen)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_tab_lays_the_screen_out_at_most_once_and_shows_every_key_whole(
    size: tuple[int, int],
) -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=size) as pilot:
        await apply_scene(pilot, "running")
        screen = app.main_screen
        screen.browser.option_list.focus()
        await pilot.pause()
        layouts = count_layouts(app.screen)
        footers: set[str] = set()
        swaps = 0
        for _ in range(6):
            before, shown = len(layouts), screen.execution_view.display
            await pilot.press("tab")
            await pilot.pause()
            await pilot.pause()
            swapped = screen.execution_view.display != shown
            swaps += swapped
            # Only the detail pane's swap (preview <-> execution) lays out; the footer never does.
            assert len(layouts) - before == (1 if swapped else 0), type(app.focused).__name__
            footer = screen_text(app).splitlines()[-1]
            footers.add(footer)
            expected = ""
            for entry in footer_entries(app.screen):
                key = f" {entry.display} {entry.description} " if entry.description else entry.display
                if len(expected) + len(key) > size[0]:
                    break
                expected += key
            assert footer == expected.ljust(size[0])  # every key whole, none cut at the edge
        assert swaps >= 1 and len(footers) >= 3


async def test_keys_that_do_not_fit_are_left_off_whole_and_the_wheel_brings_them_in() -> None:
    app = _Keys(SteadyFooter)
    async with app.run_test(size=(40, 10)) as pilot:
        app.query_one(_Executions).focus()
        await pilot.pause()
        line = app.screen.query_one(KeyLine)
        assert screen_text(app).splitlines()[-1].rstrip() == " x Cancel  y Copy id  s Save"
        line.post_message(events.MouseScrollDown(line, 0, 0, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert screen_text(app).splitlines()[-1].rstrip() == " y Copy id  s Save  ^o Open outputs"
