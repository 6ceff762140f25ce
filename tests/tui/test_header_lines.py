"""The execution header redraws only the line that changed, draws it as Textual would, and its
deferred update does not keep a timer going once a batch has drawn it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip

from comfy_reality.runtime import TaskStatus
from comfy_reality.tui import format as fmt
from comfy_reality.tui.widgets import ExecutionView, TaskTree
from comfy_reality.tui.widgets import execution_view as execution_view_module
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


async def test_a_batch_that_draws_the_header_leaves_no_timer_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    fmt.freeze_clock(fmt.now())
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        await show_running(pilot, 2)
        view = app.query_one(ExecutionView)
        entry = view.entry
        assert entry is not None
        clock = [1000.0]
        monkeypatch.setattr(execution_view_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
        timers: list[float] = []
        monkeypatch.setattr(view, "set_timer", lambda delay, callback: timers.append(delay))
        view._header_key, view._header_due = None, False
        interval = execution_view_module.HEADER_INTERVAL

        view._update_header(entry)  # drawn
        clock[0] += interval / 4
        view._update_header(entry)  # too soon: a timer will draw it
        assert len(timers) == 1
        clock[0] += interval  # a batch draws it first
        view._update_header(entry)
        clock[0] += interval / 2
        view._header_timer()  # nothing left to draw: no new timer
        assert len(timers) == 1

        clock[0] += interval / 4
        view._update_header(entry)  # too soon again: the timer draws it
        assert len(timers) == 2
        done = entry.nodes["node_hdr_2"]
        monkeypatch.setattr(done, "status", TaskStatus.COMPLETED)
        clock[0] += interval
        view._header_timer()
        assert f"2/{NODES} nodes" in header_plain(app)
        assert len(timers) == 2


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
