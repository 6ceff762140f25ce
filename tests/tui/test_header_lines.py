"""The execution header redraws only the line that changed, and draws it as Textual would."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip

from comfy_reality.tui import format as fmt
from comfy_reality.tui.widgets import ExecutionView, TaskTree
from comfy_reality.tui.widgets.live_text import LiveText
from tests.tui.chains import running_chain_spec
from tests.tui.scenes import batch, scene_app

from .helpers import WORKFLOWS, screen_text, wait_for

NODES = 20


async def show_running(pilot: Pilot[None], running: int) -> None:
    app: Any = pilot.app
    app.post_message(batch([running_chain_spec("hdr", "header-chain", NODES, running, 1)]))
    if running == 2:  # the first batch: select the run
        await wait_for(pilot, lambda: "exec_hdr" in app.session.entries, what="the run")
        app.query_one(TaskTree).select_execution("exec_hdr")
    await wait_for(
        pilot,
        lambda: f"{running - 1}/{NODES} nodes" in header_plain(app),
        what=f"{running - 1} nodes done in the header",
    )
    await pilot.pause()  # and drawn


def header_plain(app: Any) -> str:
    """The header's text, read without drawing the screen (as screen_text does)."""
    if not app.query(ExecutionView):
        return ""
    content = app.query_one(ExecutionView).header.render()
    return content.plain if isinstance(content, Text) else ""


def count_lines(widget: LiveText) -> list[int]:
    """Lines the screen takes from ``widget`` from now on."""
    counted: list[int] = []
    render_lines = widget.render_lines

    def counting(crop: Region) -> list[Strip]:
        lines = render_lines(crop)
        counted.append(len(lines))
        return lines

    widget.render_lines = counting  # type: ignore[method-assign]
    return counted


async def test_a_node_finishing_redraws_the_headers_count_line_alone() -> None:
    fmt.freeze_clock(fmt.now())  # the first line's clock stays put: only the count moves
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        await show_running(pilot, 2)
        header = app.query_one(ExecutionView).header
        assert "● header-chain  running for" in screen_text(app)
        drawn = count_lines(header)

        for running in (3, 4, 5):
            await show_running(pilot, running)
        # Textual redrew all three lines (two of text, the padding) for each: 9.
        assert sum(drawn) == 3
        assert f"4/{NODES} nodes" in screen_text(app)


TEXTS = [
    Text.assemble(("●", "bold yellow"), (" a-run", "bold"), ("  running", "yellow"), (" for 3s", "dim"))
    + Text("\nprompt 1234abcd · 3/500 nodes", style="dim"),
    Text("plain"),
    Text("a\n\nb\n"),
    Text("宽字符 wide\nnext", style="bold"),
    Text("tab\there"),
    Text.from_markup("[red]x[/][bold]y[/] z [italic]w"),
    Text.assemble(("styled", Style(color="red")), " object"),
    Text("x" * 200),
    Text(""),
]


class Block(App[None]):
    CSS = "LiveText { padding-bottom: 1; background: $panel; }"

    def compose(self) -> ComposeResult:
        yield LiveText(Text("start"))


def segments(strip: Strip) -> list[tuple[str, object, object]]:
    return [(segment.text, segment.style, segment.control) for segment in strip]


async def test_live_text_lines_equal_textuals_drawing() -> None:
    app = Block()
    async with app.run_test(size=(80, 20)) as pilot:
        block = app.query_one(LiveText)
        fast = 0
        for text in TEXTS:
            block.set(text)
            await pilot.pause()
            count = len(text.plain.split("\n"))
            drawn = [block.render_line(y) for y in range(count)]
            fast += block._plain_lines(block._lines or [])
            block._render_content()  # Textual's own drawing of the same content
            reference = block._render_cache.lines[:count]
            assert [segments(s) for s in drawn] == [segments(s) for s in reference], text.plain
        assert fast == len(TEXTS) - 1  # all but the line too long to fit took the fast way
