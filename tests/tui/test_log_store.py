"""The log pane's stored lines: compact in memory, drawn exactly as the lines RichLog rendered."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from comfy_reality.tui.messages import LogLine
from comfy_reality.tui.widgets.log_pane import StoredLine, render_line


def rendered(line: LogLine, width: int = 40) -> list[Strip]:
    console = Console(width=width + 2)
    segments = console.render(render_line(line, UTC), console.options.update_width(width))
    return Strip.from_lines(list(Segment.split_lines(segments)))


def test_a_stored_line_draws_as_the_strip_it_was_made_from() -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    lines = [
        LogLine(
            stamp, "error", "node 2 failed: [bold]not markup[/] and a long tail that wraps onto more lines"
        ),
        LogLine(stamp, "info", ""),
        LogLine(stamp, "warning", "ünïcödé 漢字 wide cells"),
    ]
    for line in lines:
        for strip in rendered(line):
            stored = StoredLine(strip)
            assert list(stored) == list(strip)
            assert stored.text == strip.text and stored.cell_length == strip.cell_length
            assert len(stored) == len(list(strip))
            for start, end in ((0, 40), (3, 25), (10, 60)):
                style = Style(bgcolor="black")
                assert stored.crop_extend(start, end, style) == strip.crop_extend(start, end, style)


def test_lines_of_the_same_look_share_one_style_sequence() -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first, second = (StoredLine(rendered(LogLine(stamp, "info", f"run {i} done"))[0]) for i in range(2))
    assert first._look is second._look


def test_a_stored_line_costs_its_text_and_about_a_hundred_bytes() -> None:
    """Up to 5,000 lines a session, three per run: with the run lengths and the width kept per
    line it was 157 bytes beside the text; the look (run lengths and styles) is now shared."""
    import gc
    import tracemalloc

    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    strips = [
        strip
        for i in range(1000)
        for strip in rendered(LogLine(stamp, "info", f"execution {i:08x} completed in 0.2s"), width=100)
    ]
    for strip in strips:
        strip.cell_length  # noqa: B018 - the strip's own cache, not the stored line's cost
    text = sum(len(strip.text) for strip in strips)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        stored = [StoredLine(strip) for strip in strips]
        gc.collect()
        beside_text = (tracemalloc.get_traced_memory()[0] - before - text) / len(stored)
    finally:
        tracemalloc.stop()
    assert stored[7].text == strips[7].text
    assert beside_text < 120, beside_text


async def test_a_long_log_keeps_rich_cell_width_cache_from_filling() -> None:
    from rich.cells import cached_cell_len
    from textual.app import App, ComposeResult

    from comfy_reality.tui.widgets import LogPane
    from comfy_reality.tui.widgets.log_pane import CELL_WIDTHS_KEPT_FOR

    class LogApp(App[None]):
        def compose(self) -> ComposeResult:
            yield LogPane(id="log")

    app = LogApp()
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(LogPane)
        stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        cached_cell_len.cache_clear()
        # Every line brings new words (ids), as a session's lines do: 3,000 lines, four at a time.
        for start in range(0, 3000, 4):
            log.add_lines(
                [
                    LogLine(stamp, "info", f"prompt {i:08x} done in task_{i:06d}")
                    for i in range(start, start + 4)
                ]
            )
        await pilot.pause()
        # Without the clears it held 4,096 widths (full); now what the last few hundred lines brought.
        assert cached_cell_len.cache_info().currsize < 4 * CELL_WIDTHS_KEPT_FOR + 200
        assert "prompt 00000bb7 done in task_002999" in "\n".join(line.text for line in log.lines[-5:])


def test_drawing_stored_lines_leaves_no_garbage_for_the_collector() -> None:
    """A line drawn whole (the pane as wide as the line) was a strip caching itself: a cycle of
    about 1.5 KB per line drawn, freed only by a full collection."""
    import gc

    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stored = [StoredLine(rendered(LogLine(stamp, "info", f"run {i} done"))[0]) for i in range(100)]
    expected = rendered(LogLine(stamp, "info", "run 7 done"))[0]
    gc.collect()
    gc.disable()
    try:
        drawn = [line.crop_extend(0, line.cell_length, None) for line in stored]
        assert drawn[7].text == expected.text and list(drawn[7]) == list(expected)
        del drawn
        left = gc.collect()
    finally:
        gc.enable()
    assert left == 0, left
